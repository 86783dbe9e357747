//! Enrichment: which clients a report affects, and for each one the draft
//! notice built from that client's agreement.

mod severity;

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

pub use severity::assess;

use crate::agreements::{ClientAgreement, Registry};
use crate::domain::{Affected, Estimate, Measures, Report};
use crate::domain::{AssumedInput, CategoriesBasis, CountBasis, NoticeCount};
use crate::domain::{ClientId, CountPrecision, IncidentId, NoticeId, NoticeType, SystemId};
use crate::domain::{
    Controller, Notice, NoticeData, NoticeDeadline, NoticePersonalData, NoticeSubjects,
    ProcessorIdentity, SubprocessorDetails, SystemRef,
};
use crate::domain::{CountriesBasis, IncidentFacts, ProtectionState, YesNoUnknown};
use crate::validation::FieldError;

/// The affected clients, each with the systems through which it is
/// affected, by client id. A filing keeps it whole while it drafts, so each
/// client costs its shared id and a short list, not a sorted set of its own.
#[derive(Debug, Default)]
pub struct AffectedClients(Vec<(ClientId, Box<[SystemId]>)>);

impl AffectedClients {
    /// The clients of `reached` (client, system) pairs, in any order and
    /// with repeats.
    fn from_pairs(mut reached: Vec<(ClientId, SystemId)>) -> Self {
        reached.sort_unstable();
        reached.dedup();
        let mut clients: Vec<(ClientId, Box<[SystemId]>)> = Vec::new();
        let mut pairs = reached.into_iter().peekable();
        while let Some((client, system)) = pairs.next() {
            let mut systems = vec![system];
            while let Some((_, system)) = pairs.next_if(|(next, _)| *next == client) {
                systems.push(system);
            }
            clients.push((client, systems.into_boxed_slice()));
        }
        Self(clients)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The systems through which `client` is affected, if it is.
    pub fn get(&self, client: &ClientId) -> Option<&[SystemId]> {
        self.0
            .binary_search_by(|(id, _)| id.cmp(client))
            .ok()
            .map(|i| &*self.0[i].1)
    }

    pub fn contains(&self, client: &ClientId) -> bool {
        self.get(client).is_some()
    }

    /// The affected clients' ids, in order.
    pub fn clients(&self) -> impl Iterator<Item = &ClientId> {
        self.0.iter().map(|(id, _)| id)
    }
}

impl IntoIterator for AffectedClients {
    type Item = (ClientId, Box<[SystemId]>);
    type IntoIter = std::vec::IntoIter<Self::Item>;

    /// Each client with its systems, in client id order.
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// Finds the affected clients through the registry's indexes, so the cost
/// follows the number of affected clients, not the number of all clients.
///
/// - a sub-processor: the clients that authorised it, for the named systems if any;
/// - systems without a sub-processor: every client with data in them;
/// - explicit clients: those clients, through the named systems they have
///   (all their systems when they have none of the named ones).
pub fn affected_clients(
    affected: &Affected,
    registry: &Registry,
) -> Result<AffectedClients, Vec<FieldError>> {
    let mut unknown = Vec::new();
    for (i, system) in affected.systems.iter().enumerate() {
        if registry.system(system).is_none() {
            unknown.push(FieldError::new(
                format!("/affected/systems/{i}"),
                format!("unknown system {:?}", system.as_str()),
            ));
        }
    }
    if let Some(sub) = &affected.subprocessor {
        if registry.subprocessor(sub).is_none() {
            unknown.push(FieldError::new(
                "/affected/subprocessor",
                format!("unknown sub-processor {:?}", sub.as_str()),
            ));
        }
    }
    for (i, client) in affected.clients.iter().enumerate() {
        if registry.client(client).is_none() {
            unknown.push(FieldError::new(
                format!("/affected/clients/{i}"),
                format!("unknown client {:?}", client.as_str()),
            ));
        }
    }
    for client in affected.per_client.keys() {
        if registry.client(client).is_none() {
            unknown.push(per_client_error(client, "unknown client"));
        }
    }
    if !unknown.is_empty() {
        return Err(unknown);
    }

    let named_systems: BTreeSet<&SystemId> = affected.systems.iter().collect();
    let mut reached: Vec<(ClientId, SystemId)> = Vec::new();
    if let Some(sub) = &affected.subprocessor {
        reached.extend(
            registry
                .clients_of_subprocessor(sub)
                .iter()
                .filter(|(_, system)| named_systems.is_empty() || named_systems.contains(system))
                .cloned(),
        );
    } else {
        for system in &affected.systems {
            reached.extend(
                registry
                    .clients_in_system(system)
                    .iter()
                    .map(|client| (client.clone(), system.clone())),
            );
        }
    }
    for id in &affected.clients {
        let Some(client) = registry.client(id) else {
            continue;
        };
        let has_named = client.systems.iter().any(|s| named_systems.contains(&s.id));
        reached.extend(
            client
                .systems
                .iter()
                .filter(|s| !has_named || named_systems.contains(&s.id))
                .map(|s| (id.clone(), s.id.clone())),
        );
    }
    let result = AffectedClients::from_pairs(reached);
    // Figures for a client the incident does not reach would go nowhere.
    let unreached: Vec<FieldError> = affected
        .per_client
        .keys()
        .filter(|c| !result.contains(c))
        .map(|c| per_client_error(c, "not affected by this incident"))
        .collect();
    if !unreached.is_empty() {
        return Err(unreached);
    }
    Ok(result)
}

fn per_client_error(client: &ClientId, problem: &str) -> FieldError {
    FieldError::new(
        format!("/affected/per_client/{}", client.as_str()),
        format!("{problem} {:?}", client.as_str()),
    )
}

/// What every notice of one incident version shares.
pub struct NoticeContext<'a> {
    pub incident_id: &'a IncidentId,
    pub reference: &'a str,
    pub processor: &'a ProcessorIdentity,
    pub now: DateTime<Utc>,
    /// How many clients this version affects: a reported number is the
    /// incident's total, so with several clients it only bounds each one's share.
    pub affected_clients: usize,
}

/// The initial notice for one client, from the report and the client's agreement.
pub fn draft_notice(
    report: &Report,
    client: &ClientAgreement,
    systems: &[SystemId],
    registry: &Registry,
    ctx: &NoticeContext<'_>,
) -> Notice {
    let in_scope: Vec<_> = client
        .systems
        .iter()
        .filter(|s| systems.contains(&s.id))
        .collect();
    let mut pending = Vec::new();

    let own = report.affected.per_client.get(&client.id);
    let own_subjects = own.and_then(|f| f.data_subjects.as_ref());
    let own_data = own.and_then(|f| f.personal_data.as_ref());
    let subject_categories = categories(
        in_scope
            .iter()
            .flat_map(|s| s.data_subjects.iter().copied()),
        own_subjects
            .and_then(|s| s.categories.as_deref())
            .or(report.data_subjects.categories.known()),
        "data_subjects.categories",
        &mut pending,
    );
    let data_categories = categories(
        in_scope
            .iter()
            .flat_map(|s| s.data_categories.iter().copied()),
        own_data
            .and_then(|d| d.categories.as_deref())
            .or(report.personal_data.categories.known()),
        "personal_data.categories",
        &mut pending,
    );
    let (countries, countries_basis) = match own.and_then(|f| f.countries.as_ref()) {
        Some(own) => (Some(own), CountriesBasis::ClientSpecific),
        None => match &report.data_subjects.countries {
            Some(all) => (Some(all), CountriesBasis::Reported),
            None => (None, CountriesBasis::Unknown),
        },
    };
    let subjects = estimate(
        in_scope.iter().map(|s| s.subjects).sum(),
        own_subjects.and_then(|s| s.count),
        report.data_subjects.count,
        ctx.affected_clients > 1,
        "data_subjects.count",
        &mut pending,
    );
    let records = estimate(
        in_scope.iter().map(|s| s.records).sum(),
        own_data.and_then(|d| d.records),
        report.personal_data.records,
        ctx.affected_clients > 1,
        "personal_data.records",
        &mut pending,
    );

    let subprocessor = report
        .affected
        .subprocessor
        .as_ref()
        .and_then(|id| registry.subprocessor(id))
        .map(|s| SubprocessorDetails {
            id: s.id.clone(),
            name: s.name.clone(),
            legal_entity: s.legal_entity.clone(),
            country: s.country.clone(),
            role: s.role.clone(),
            transfer_safeguard: s.transfer_safeguard,
        });

    timeline_and_protection_pending(report, &mut pending);
    let mut severity = assess(&data_categories.listed, report);
    // Categories established for this client are not assumed, even while
    // the incident's are not yet known.
    if data_categories.basis == CategoriesBasis::Reported {
        severity
            .assumed
            .retain(|input| *input != AssumedInput::PersonalDataCategories);
    }
    let processor_notify_by =
        notify_by(report.became_aware_at, client.agreement.notify_within_hours);
    let processor_on_time = ctx.now <= processor_notify_by;
    let special_categories = data_categories
        .listed
        .iter()
        .copied()
        .filter(|c| c.is_special())
        .collect();
    Notice {
        kind: NoticeType::Initial,
        timestamp: ctx.now,
        data: NoticeData {
            notice_id: NoticeId::generate(),
            incident_id: ctx.incident_id.clone(),
            reference: ctx.reference.to_owned(),
            sequence: 1,
            supersedes: None,
            processor: ctx.processor.clone(),
            controller: Controller {
                client_id: client.id.clone(),
                name: client.name.clone(),
                agreement_id: client.agreement.id.clone(),
                reference: client.agreement.reference.clone(),
            },
            became_aware_at: report.became_aware_at,
            detected_at: report.detected_at,
            occurred: report.occurred.clone(),
            discovery: report.discovery.clone(),
            location: report.location.clone(),
            summary: report.summary.clone(),
            nature: report.nature,
            category: report.category,
            cause: report.cause.clone(),
            systems: in_scope
                .iter()
                .map(|s| SystemRef {
                    id: s.id.clone(),
                    name: registry
                        .system(&s.id)
                        .map(|sys| sys.name.clone())
                        .unwrap_or_default(),
                })
                .collect(),
            subprocessor,
            data_subjects: NoticeSubjects {
                categories: subject_categories.listed,
                categories_basis: Some(subject_categories.basis),
                description: report.data_subjects.description.clone(),
                count: subjects,
                children: report.data_subjects.children || in_scope.iter().any(|s| s.children),
                vulnerable: report.data_subjects.vulnerable
                    || in_scope.iter().any(|s| s.vulnerable),
                countries: Some(countries.cloned().unwrap_or_default()),
                countries_basis: Some(countries_basis),
            },
            personal_data: NoticePersonalData {
                categories: data_categories.listed,
                categories_basis: Some(data_categories.basis),
                unexpected_categories: data_categories.unexpected,
                special_categories,
                records,
                unintelligible: report.personal_data.unintelligible(),
                protection: report.personal_data.protection.clone(),
            },
            likely_consequences: report.likely_consequences.clone(),
            likely_consequences_description: report.likely_consequences_description.clone(),
            measures: Measures {
                in_place: Some(report.measures.in_place.clone().unwrap_or_default()),
                ..report.measures.clone()
            },
            service_impact: report.service_impact.clone(),
            notified_parties: report.notified_parties.clone(),
            data_subjects_contacted: report.data_subjects_contacted.clone(),
            incident: Some(IncidentFacts {
                affected_controllers: u32::try_from(ctx.affected_clients).unwrap_or(u32::MAX),
            }),
            severity,
            deadline: NoticeDeadline {
                processor_notify_by,
                processor_on_time: Some(processor_on_time),
                processor_delay_reason: report.delay_reason.clone().filter(|_| !processor_on_time),
            },
            pending,
            changes: Vec::new(),
            retraction_reason: None,
        },
    }
}

/// The facts of the timeline and the data's protection that the report
/// states as not (yet) known.
fn timeline_and_protection_pending(report: &Report, pending: &mut Vec<String>) {
    if report.occurred.from.is_none() {
        pending.push("occurred.from".to_owned());
    }
    if report.cause.cyber_incident == Some(YesNoUnknown::Unknown) {
        pending.push("cause.cyber_incident".to_owned());
    }
    let protection = report.personal_data.protection.as_ref().map(|p| p.state);
    if matches!(
        protection,
        Some(ProtectionState::Unknown | ProtectionState::EncryptedKeyStatusUnknown)
    ) {
        pending.push("personal_data.protection".to_owned());
    }
}

/// The processor's deadline: awareness plus the agreement's window.
pub fn notify_by(became_aware_at: DateTime<Utc>, notify_within_hours: u32) -> DateTime<Utc> {
    became_aware_at + Duration::hours(i64::from(notify_within_hours))
}

/// The categories of one client's notice.
struct Categories<T> {
    listed: Vec<T>,
    basis: CategoriesBasis,
    /// Listed, but not in the client's agreement for the affected systems.
    unexpected: Vec<T>,
}

/// Every reported category (the client's own figures first, else the
/// incident's), with those the agreement does not list also named as
/// unexpected: the processor holds data the agreement did not foresee, and
/// the client must hear of it. While nothing is reported, the agreement's
/// categories stand in, marked as assumed, and the field is pending.
fn categories<T: Copy + Ord>(
    from_agreement: impl Iterator<Item = T>,
    reported: Option<&[T]>,
    path: &str,
    pending: &mut Vec<String>,
) -> Categories<T> {
    let agreed: BTreeSet<T> = from_agreement.collect();
    let Some(reported) = reported else {
        pending.push(path.to_owned());
        return Categories {
            listed: agreed.into_iter().collect(),
            basis: CategoriesBasis::AssumedFromAgreement,
            unexpected: Vec::new(),
        };
    };
    let listed: Vec<T> = reported
        .iter()
        .copied()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Categories {
        unexpected: listed
            .iter()
            .copied()
            .filter(|c| !agreed.contains(c))
            .collect(),
        listed,
        basis: CategoriesBasis::Reported,
    }
}

/// One client's number of data subjects or records, never made up:
/// - a figure established for this client (or the incident's, when it
///   affects this client alone) is the client's, as reported, even above
///   what the agreement expects;
/// - the incident's figure when several clients share it only bounds this
///   client's share from above, and nothing bounds it from below;
/// - without a figure, what the agreement expects in the affected systems is
///   the upper bound and the field is pending.
fn estimate(
    agreement_total: u64,
    own: Option<Estimate>,
    incident: Option<Estimate>,
    shared: bool,
    path: &str,
    pending: &mut Vec<String>,
) -> NoticeCount {
    let count = |estimate, basis| NoticeCount {
        estimate,
        basis: Some(basis),
    };
    match (own, incident) {
        (Some(own), _) => count(own, CountBasis::ClientSpecific),
        (None, Some(incident)) if !shared => count(incident, CountBasis::ClientSpecific),
        (None, Some(incident)) => count(
            Estimate {
                min: 0,
                max: incident.max,
                precision: CountPrecision::UpperBound,
            },
            CountBasis::ShareOfIncidentTotal,
        ),
        (None, None) => {
            pending.push(path.to_owned());
            let basis = if agreement_total == 0 {
                CountBasis::Unknown
            } else {
                CountBasis::AgreementEstimate
            };
            count(
                Estimate {
                    min: 0,
                    max: agreement_total,
                    precision: CountPrecision::UpperBound,
                },
                basis,
            )
        }
    }
}
