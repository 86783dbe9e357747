//! Enrichment: which clients a report affects, and for each one the draft
//! notice built from that client's agreement.

mod severity;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};

pub use severity::assess;

use crate::agreements::{ClientAgreement, Registry};
use crate::domain::{Affected, Estimate, Known, Report};
use crate::domain::{ClientId, CountPrecision, IncidentId, NoticeId, NoticeType, SystemId};
use crate::domain::{
    Controller, Notice, NoticeData, NoticeDeadline, NoticePersonalData, NoticeSubjects,
    ProcessorIdentity, SubprocessorDetails, SystemRef,
};
use crate::validation::FieldError;

/// The affected clients, each with the systems through which it is affected.
pub type AffectedClients = BTreeMap<ClientId, BTreeSet<SystemId>>;

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
    if !unknown.is_empty() {
        return Err(unknown);
    }

    let named_systems: BTreeSet<&SystemId> = affected.systems.iter().collect();
    let mut result = AffectedClients::new();
    if let Some(sub) = &affected.subprocessor {
        for (client, system) in registry.clients_of_subprocessor(sub) {
            if named_systems.is_empty() || named_systems.contains(system) {
                result
                    .entry(client.clone())
                    .or_default()
                    .insert(system.clone());
            }
        }
    } else {
        for system in &affected.systems {
            for client in registry.clients_in_system(system) {
                result
                    .entry(client.clone())
                    .or_default()
                    .insert(system.clone());
            }
        }
    }
    for id in &affected.clients {
        let Some(client) = registry.client(id) else {
            continue;
        };
        let all: BTreeSet<SystemId> = client.systems.iter().map(|s| s.id.clone()).collect();
        let named: BTreeSet<SystemId> = all
            .iter()
            .filter(|s| named_systems.contains(s))
            .cloned()
            .collect();
        result
            .entry(id.clone())
            .or_default()
            .extend(if named.is_empty() { all } else { named });
    }
    Ok(result)
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
    systems: &BTreeSet<SystemId>,
    registry: &Registry,
    ctx: &NoticeContext<'_>,
) -> Notice {
    let in_scope: Vec<_> = client
        .systems
        .iter()
        .filter(|s| systems.contains(&s.id))
        .collect();
    let mut pending = Vec::new();

    let subject_categories = narrow(
        in_scope
            .iter()
            .flat_map(|s| s.data_subjects.iter().copied()),
        &report.data_subjects.categories,
        "data_subjects.categories",
        &mut pending,
    );
    let data_categories = narrow(
        in_scope
            .iter()
            .flat_map(|s| s.data_categories.iter().copied()),
        &report.personal_data.categories,
        "personal_data.categories",
        &mut pending,
    );
    let subjects = estimate(
        in_scope.iter().map(|s| s.subjects).sum(),
        report.data_subjects.count,
        ctx.affected_clients > 1,
        "data_subjects.count",
        &mut pending,
    );
    let records = estimate(
        in_scope.iter().map(|s| s.records).sum(),
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

    let severity = assess(&data_categories, report);
    let special_categories = data_categories
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
                categories: subject_categories,
                count: subjects,
                children: report.data_subjects.children || in_scope.iter().any(|s| s.children),
                vulnerable: report.data_subjects.vulnerable
                    || in_scope.iter().any(|s| s.vulnerable),
            },
            personal_data: NoticePersonalData {
                categories: data_categories,
                special_categories,
                records,
                unintelligible: report.personal_data.unintelligible,
            },
            likely_consequences: report.likely_consequences.clone(),
            measures: report.measures.clone(),
            severity,
            deadline: NoticeDeadline {
                processor_notify_by: notify_by(
                    report.became_aware_at,
                    client.agreement.notify_within_hours,
                ),
            },
            pending,
            changes: Vec::new(),
            retraction_reason: None,
        },
    }
}

/// The processor's deadline: awareness plus the agreement's window.
pub fn notify_by(became_aware_at: DateTime<Utc>, notify_within_hours: u32) -> DateTime<Utc> {
    became_aware_at + Duration::hours(i64::from(notify_within_hours))
}

/// The client's own categories in the affected systems, narrowed to what the
/// report names. When the report says they are not yet known, all of the
/// client's categories are listed and the field is marked pending. When the
/// report names only categories the agreement does not list, the report's
/// categories are kept: the processor holds data the agreement did not foresee,
/// and the client must hear of it.
fn narrow<T: Copy + Ord>(
    from_agreement: impl Iterator<Item = T>,
    reported: &Known<T>,
    path: &str,
    pending: &mut Vec<String>,
) -> Vec<T> {
    let agreed: BTreeSet<T> = from_agreement.collect();
    match reported.known() {
        None => {
            pending.push(path.to_owned());
            agreed.into_iter().collect()
        }
        Some(named) => {
            let both: Vec<T> = named
                .iter()
                .copied()
                .filter(|c| agreed.contains(c))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            if both.is_empty() {
                named
                    .iter()
                    .copied()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect()
            } else {
                both
            }
        }
    }
}

/// The client's share of a reported number, never more than the client has
/// in the affected systems. A number reported for an incident that affects
/// several clients is their total, so for each one it is only an upper bound.
/// Without a reported number, the client's own total is the upper bound and
/// the field is pending.
fn estimate(
    client_total: u64,
    reported: Option<Estimate>,
    shared: bool,
    path: &str,
    pending: &mut Vec<String>,
) -> Estimate {
    let Some(r) = reported else {
        pending.push(path.to_owned());
        return Estimate {
            min: 0,
            max: client_total,
            precision: CountPrecision::UpperBound,
        };
    };
    if !shared && r.max <= client_total {
        return r;
    }
    let max = r.max.min(client_total);
    Estimate {
        min: if shared { max.min(1) } else { r.min.min(max) },
        max,
        precision: CountPrecision::UpperBound,
    }
}
