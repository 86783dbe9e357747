//! What the email body says, in the client's language: headed sections of
//! labelled rows. All wording and translation happens here, so the text and
//! HTML templates only lay the same content out, and cannot drift apart.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use serde_json::Value;

use crate::agreements::ClientAgreement;
use crate::domain::YesNoUnknown;
use crate::domain::{AssumedInput, SeverityLevel};
use crate::domain::{CauseOrigin, CountBasis, Estimate, NoticeCount};
use crate::domain::{Change, Notice, NoticeData};
use crate::domain::{EaseOfIdentification, NoticeType};

use super::i18n::Texts;

#[derive(Debug, Serialize)]
pub(super) struct Body {
    pub lang: &'static str,
    pub title: String,
    pub intro: Vec<String>,
    /// Where the client reads, downloads and acknowledges this notice.
    pub portal: Option<PortalLink>,
    pub sections: Vec<Section>,
    pub closing: Vec<String>,
}

/// The notice's page in the client portal, with the sentence introducing it.
#[derive(Debug, Serialize)]
pub(super) struct PortalLink {
    pub text: String,
    pub url: String,
}

#[derive(Debug, Serialize)]
pub(super) struct Section {
    pub heading: String,
    /// Shown before the rows; used to mark the severity as advice.
    pub note: Option<String>,
    pub rows: Vec<Row>,
    /// A plain list after the rows (the facts still being established).
    pub items: Vec<String>,
}

/// One labelled value; `items` replaces `value` for lists of free text.
#[derive(Debug, Serialize)]
pub(super) struct Row {
    pub label: String,
    pub value: String,
    pub items: Vec<String>,
}

/// Every severity level, for the translation coverage test; `severity_key`
/// has an exhaustive match, so a new level fails the build there first.
#[cfg(test)]
pub(super) const SEVERITY_LEVELS: [SeverityLevel; 4] = [
    SeverityLevel::Low,
    SeverityLevel::Medium,
    SeverityLevel::High,
    SeverityLevel::VeryHigh,
];

#[cfg(test)]
pub(super) const CAUSE_ORIGINS: [CauseOrigin; 3] = [
    CauseOrigin::Internal,
    CauseOrigin::External,
    CauseOrigin::Unknown,
];

/// The schema spelling of a severity level (the enum is outside the closed
/// taxonomy, so it has no `as_str`).
pub(super) fn severity_key(level: SeverityLevel) -> &'static str {
    match level {
        SeverityLevel::Low => "low",
        SeverityLevel::Medium => "medium",
        SeverityLevel::High => "high",
        SeverityLevel::VeryHigh => "very_high",
    }
}

pub(super) fn cause_origin_key(origin: CauseOrigin) -> &'static str {
    match origin {
        CauseOrigin::Internal => "internal",
        CauseOrigin::External => "external",
        CauseOrigin::Unknown => "unknown",
    }
}

/// The key of the per-type sentences (subject, title, intro).
pub(super) fn kind_key(kind: NoticeType) -> &'static str {
    match kind {
        NoticeType::Initial => "initial",
        NoticeType::Update => "update",
        NoticeType::Final => "final",
        NoticeType::Retraction => "retraction",
    }
}

/// Update numbers count the updates: the notice with sequence 2 is update 1.
pub(super) fn update_number(notice: &Notice) -> String {
    notice.data.sequence.saturating_sub(1).max(1).to_string()
}

/// Every assumed severity input, for the translation coverage test.
#[cfg(test)]
pub(super) const ASSUMED_INPUTS: [AssumedInput; 2] = [
    AssumedInput::EaseOfIdentification,
    AssumedInput::PersonalDataCategories,
];

/// The client's IANA zone, when it names one other than UTC. An agreement
/// whose zone does not parse still gets its email, in UTC only.
fn local_zone(client: &ClientAgreement) -> Option<Tz> {
    client
        .time_zone
        .parse::<Tz>()
        .ok()
        .filter(|zone| !matches!(zone, Tz::UTC | Tz::Etc__UTC | Tz::Etc__Universal))
}

/// An Art. 33(3) item of the checklist: its label, the paths whose pending
/// facts hold it back, and the paths the notice leaves open even when not
/// marked pending (an empty list, or a count whose basis is `unknown`).
type ChecklistItem = (
    &'static str,
    &'static [&'static str],
    fn(&NoticeData) -> Vec<&'static str>,
);

const CHECKLIST: &[ChecklistItem] = &[
    (
        "art33_3_a",
        &["nature", "category", "data_subjects", "personal_data"],
        |data| {
            let unknown = |count: &NoticeCount| count.basis == Some(CountBasis::Unknown);
            [
                (&data.data_subjects.count, "data_subjects.count"),
                (&data.personal_data.records, "personal_data.records"),
            ]
            .into_iter()
            .filter(|(count, _)| unknown(count))
            .map(|(_, path)| path)
            .collect()
        },
    ),
    ("art33_3_c", &["likely_consequences"], |data| {
        match data.likely_consequences.is_empty() {
            true => vec!["likely_consequences"],
            false => Vec::new(),
        }
    }),
    // What the processor did about the breach, or what it did to the service
    // and whether data came back, answers (d); measures in place before the
    // breach do not.
    ("art33_3_d", &["measures"], |data| {
        let measures = &data.measures;
        match measures.taken.is_empty()
            && measures.proposed.is_empty()
            && data.service_impact.is_none()
        {
            true => vec!["measures"],
            false => Vec::new(),
        }
    }),
];

/// Where a changed or pending field (a dotted path into `data`) is labelled.
/// The longest listed prefix wins, so `cause.description` falls back to the
/// cause; unlisted paths are shown as written.
const FIELD_LABELS: &[(&str, &str)] = &[
    ("reference", "reference"),
    ("sequence", "sequence"),
    ("supersedes", "supersedes"),
    ("became_aware_at", "became_aware"),
    ("occurred", "occurred_from"),
    ("occurred.to", "occurred_to"),
    ("occurred.ongoing", "occurred_to"),
    ("discovery", "discovery"),
    ("location", "location"),
    ("summary", "summary"),
    ("nature", "nature"),
    ("category", "category"),
    ("cause", "cause_description"),
    ("cause.origin", "cause_origin"),
    ("cause.malicious", "malicious"),
    ("systems", "systems"),
    ("subprocessor", "subprocessor"),
    ("subprocessor.name", "sp_name"),
    ("subprocessor.legal_entity", "sp_legal_entity"),
    ("subprocessor.country", "sp_country"),
    ("subprocessor.role", "sp_role"),
    ("subprocessor.transfer_safeguard", "sp_transfer_safeguard"),
    ("data_subjects", "subject_categories"),
    ("data_subjects.count", "subject_count"),
    ("data_subjects.children", "children"),
    ("data_subjects.vulnerable", "vulnerable"),
    ("data_subjects.description", "subject_description"),
    ("data_subjects_contacted", "subjects_contacted"),
    ("personal_data", "data_categories"),
    ("personal_data.special_categories", "special_categories"),
    ("personal_data.records", "records"),
    ("personal_data.unintelligible", "unintelligible"),
    (
        "personal_data.unexpected_categories",
        "unexpected_categories",
    ),
    ("service_impact", "service_impact"),
    ("service_impact.availability", "availability"),
    ("service_impact.data_restored", "data_restored"),
    (
        "service_impact.expected_recovery_at",
        "expected_recovery_at",
    ),
    ("likely_consequences", "likely_consequences"),
    ("measures", "measures_taken"),
    ("measures.proposed", "measures_proposed"),
    ("measures.in_place", "measures_in_place"),
    ("severity", "severity_score"),
    ("severity.level", "severity_level"),
    ("severity.assumed", "severity_assumed"),
    ("deadline", "notify_by"),
    ("pending", "pending"),
];

/// Which translation section the values at a path come from, so a changed
/// category reads "data concerning health", not `health`.
const VALUE_SECTIONS: &[(&str, &str)] = &[
    ("category", "breach_category"),
    ("cause.origin", "cause_origin"),
    ("data_subjects.categories", "subject_category"),
    ("personal_data.categories", "data_category"),
    ("personal_data.special_categories", "data_category"),
    ("personal_data.unexpected_categories", "data_category"),
    ("data_subjects.count.basis", "count_basis"),
    ("personal_data.records.basis", "count_basis"),
    ("service_impact.availability", "availability"),
    ("service_impact.data_restored", "data_restored"),
    ("data_subjects_contacted.status", "contact_status"),
    ("likely_consequences", "consequence"),
    ("severity.level", "severity_level"),
    ("severity.assumed", "assumed_input"),
    ("subprocessor.transfer_safeguard", "transfer_safeguard"),
];

/// The entry for `path` or its nearest listed parent.
fn lookup(table: &[(&str, &'static str)], path: &str) -> Option<&'static str> {
    let mut candidate = path;
    loop {
        if let Some((_, found)) = table.iter().find(|(p, _)| *p == candidate) {
            return Some(found);
        }
        candidate = &candidate[..candidate.rfind('.')?];
    }
}

/// Builds the body of one client's email.
/// What `notice`'s email to `client` says; `portal` is the notice's page in
/// the client portal, if the email links to it, and `jwks` where the
/// processor's public keys are published.
pub(super) fn body(
    notice: &Notice,
    client: &ClientAgreement,
    t: Texts,
    portal: Option<String>,
    jwks: &str,
) -> Body {
    let w = Writer {
        t,
        zone: local_zone(client),
    };
    let data = &notice.data;
    let kind = kind_key(notice.kind);
    let n = update_number(notice);
    let args = [
        ("processor", data.processor.name.as_str()),
        ("client", client.name.as_str()),
        ("reference", data.reference.as_str()),
        ("n", n.as_str()),
    ];

    // A final notice with facts still pending must not claim a complete
    // investigation, nor promise an update that will not come.
    let closed_with_pending = notice.kind == NoticeType::Final && !data.pending.is_empty();
    let intro_key = if closed_with_pending {
        "final_pending"
    } else {
        kind
    };
    let mut intro = vec![t.fill("intro", intro_key, &args)];
    let retraction = notice.kind == NoticeType::Retraction;
    if !retraction {
        intro.push(t.get("intro", "assess").to_owned());
        if !data.pending.is_empty() && !closed_with_pending {
            intro.push(t.get("intro", "pending").to_owned());
        }
    }

    let mut sections = vec![w.notice_section(notice)];
    // Readers of an update look for what changed first, so it comes right
    // after the notice's identity rather than at the end.
    if notice.kind == NoticeType::Update || !data.changes.is_empty() {
        sections.push(w.changes_section(&data.changes));
    }
    if !retraction {
        sections.push(w.checklist_section(data));
    }
    if retraction {
        let mut rows = vec![w.row("summary", data.summary.clone())];
        if let Some(reason) = &data.retraction_reason {
            rows.insert(0, w.row("retraction_reason", reason.clone()));
        }
        sections.push(w.section("what_happened", rows));
    } else {
        sections.push(w.timeline_section(data));
        sections.push(w.what_happened_section(data));
        sections.push(w.systems_section(data));
        if let Some(section) = w.subprocessor_section(data) {
            sections.push(section);
        }
        sections.push(w.data_subjects_section(data));
        sections.push(w.personal_data_section(data));
        let mut consequences = vec![w.row(
            "likely_consequences",
            w.join(
                "consequence",
                data.likely_consequences.iter().map(|c| c.as_str()),
            ),
        )];
        if let Some(description) = &data.likely_consequences_description {
            consequences.push(w.row("consequences_description", description.clone()));
        }
        sections.push(w.section("consequences", consequences));
        if let Some(section) = w.service_impact_section(data) {
            sections.push(section);
        }
        sections.push(w.measures_section(data));
        sections.push(w.severity_section(data));
        if !data.pending.is_empty() {
            let mut pending = w.section("pending", Vec::new());
            pending.items = data.pending.iter().map(|p| w.field(p)).collect();
            sections.push(pending);
        }
    }
    sections.push(w.contact_section(data));

    let language = t.get("language", t.language().as_str());
    let closing = vec![
        t.fill("closing", "quote", &args),
        t.fill("closing", "signed", &[("jwks", jwks)]),
        t.fill("closing", "authoritative", &[("language", language)]),
    ];

    Body {
        lang: t.language().as_str(),
        title: t.fill("title", kind, &args),
        intro,
        portal: portal.map(|url| PortalLink {
            text: t.get("intro", "portal").to_owned(),
            url,
        }),
        sections,
        closing,
    }
}

/// Small helpers that turn notice values into translated strings.
struct Writer {
    t: Texts,
    /// The client's zone; times are shown in it beside UTC.
    zone: Option<Tz>,
}

impl Writer {
    fn section(&self, key: &str, rows: Vec<Row>) -> Section {
        Section {
            heading: self.t.get("section", key).to_owned(),
            note: None,
            rows,
            items: Vec::new(),
        }
    }

    fn row(&self, label: &str, value: String) -> Row {
        Row {
            label: self.t.get("label", label).to_owned(),
            value,
            items: Vec::new(),
        }
    }

    /// A list of free text; "none" when empty.
    fn list_row(&self, label: &str, items: &[String]) -> Row {
        let mut row = self.row(label, self.none());
        row.items = items.to_vec();
        row
    }

    /// A time in the client's zone and in UTC, written the same way in
    /// every language.
    fn time(&self, at: &DateTime<Utc>) -> String {
        let utc = at.format("%Y-%m-%d %H:%M UTC");
        match self.zone {
            Some(zone) => format!(
                "{} {zone} ({utc})",
                at.with_timezone(&zone).format("%Y-%m-%d %H:%M")
            ),
            None => utc.to_string(),
        }
    }

    fn none(&self) -> String {
        self.t.get("value", "none").to_owned()
    }

    fn yes_no(&self, value: bool) -> String {
        self.t
            .get("value", if value { "yes" } else { "no" })
            .to_owned()
    }

    fn yes_no_unknown(&self, value: YesNoUnknown) -> String {
        match value {
            YesNoUnknown::Yes => self.yes_no(true),
            YesNoUnknown::No => self.yes_no(false),
            YesNoUnknown::Unknown => self.t.get("value", "unknown").to_owned(),
        }
    }

    /// Translated taxonomy values, comma separated; "none" when empty.
    fn join<'v>(&self, section: &str, keys: impl Iterator<Item = &'v str>) -> String {
        let joined = keys
            .map(|key| self.t.get(section, key))
            .collect::<Vec<_>>()
            .join(", ");
        if joined.is_empty() {
            self.none()
        } else {
            joined
        }
    }

    fn estimate(&self, estimate: &Estimate) -> String {
        let range = if estimate.min == estimate.max {
            estimate.min.to_string()
        } else {
            format!("{}–{}", estimate.min, estimate.max)
        };
        let precision = self.t.get("precision", estimate.precision.as_str());
        format!("{range} ({precision})")
    }

    /// A count and, where the notice says, where its number comes from.
    fn count(&self, count: &NoticeCount) -> String {
        let estimate = self.estimate(&count.estimate);
        match count.basis {
            Some(basis) => format!("{estimate}; {}", self.t.get("count_basis", basis.as_str())),
            None => estimate,
        }
    }

    /// A changed or pending field: its label, and the path for tooling users.
    fn field(&self, path: &str) -> String {
        match lookup(FIELD_LABELS, path) {
            Some(label) => format!("{} ({path})", self.t.get("label", label)),
            None => path.to_owned(),
        }
    }

    /// A JSON value from a change, translated where the path has a taxonomy.
    fn json(&self, path: &str, value: &Value) -> String {
        match value {
            Value::Null => self.none(),
            Value::Bool(b) => self.yes_no(*b),
            Value::Number(n) => n.to_string(),
            Value::String(s) => match lookup(VALUE_SECTIONS, path) {
                Some(section) => self.t.get(section, s).to_owned(),
                None => match DateTime::parse_from_rfc3339(s) {
                    Ok(at) => self.time(&at.with_timezone(&Utc)),
                    Err(_) => s.clone(),
                },
            },
            Value::Array(items) if items.is_empty() => self.none(),
            Value::Array(items) => items
                .iter()
                .map(|item| self.json(path, item))
                .collect::<Vec<_>>()
                .join(", "),
            Value::Object(map) => match serde_json::from_value::<NoticeCount>(value.clone()) {
                Ok(count) => self.count(&count),
                Err(_) => map
                    .iter()
                    .map(|(key, inner)| {
                        format!("{key}: {}", self.json(&format!("{path}.{key}"), inner))
                    })
                    .collect::<Vec<_>>()
                    .join("; "),
            },
        }
    }

    fn notice_section(&self, notice: &Notice) -> Section {
        let data = &notice.data;
        let mut rows = vec![self.row("reference", data.reference.clone())];
        if let Some(reference) = &data.controller.reference {
            rows.push(self.row("client_reference", reference.clone()));
        }
        rows.push(self.row("agreement", data.controller.agreement_id.clone()));
        rows.push(self.row(
            "notice_type",
            self.t.get("notice_type", notice.kind.as_str()).to_owned(),
        ));
        rows.push(self.row("sequence", data.sequence.to_string()));
        if let Some(previous) = &data.supersedes {
            rows.push(self.row("supersedes", previous.to_string()));
        }
        rows.push(self.row("incident_id", data.incident_id.to_string()));
        rows.push(self.row("notice_id", data.notice_id.to_string()));
        self.section("notice", rows)
    }

    fn changes_section(&self, changes: &[Change]) -> Section {
        let rows = changes
            .iter()
            .map(|change| Row {
                label: self.field(&change.path),
                value: format!(
                    "{} → {}",
                    self.json(&change.path, &change.old),
                    self.json(&change.path, &change.new)
                ),
                items: Vec::new(),
            })
            .collect();
        let mut section = self.section("changes", rows);
        if changes.is_empty() {
            section.note = Some(self.t.get("value", "no_changes").to_owned());
        }
        section
    }

    fn timeline_section(&self, data: &NoticeData) -> Section {
        let occurred = &data.occurred;
        let estimated = |text: String| {
            if occurred.estimated {
                format!("{text} {}", self.t.get("value", "estimated"))
            } else {
                text
            }
        };
        let until = match (occurred.ongoing, &occurred.to) {
            (true, _) => self.t.get("value", "ongoing").to_owned(),
            (false, Some(to)) => estimated(self.time(to)),
            (false, None) => self.t.get("value", "not_established").to_owned(),
        };
        let mut section = self.section(
            "timeline",
            vec![
                self.row("became_aware", self.time(&data.became_aware_at)),
                self.row(
                    "occurred_from",
                    match &occurred.from {
                        Some(from) => estimated(self.time(from)),
                        None => self.t.get("value", "not_established").to_owned(),
                    },
                ),
                self.row("occurred_to", until),
                self.row("notify_by", self.time(&data.deadline.processor_notify_by)),
            ],
        );
        if let Some(detected) = &data.detected_at {
            section
                .rows
                .insert(0, self.row("detected_at", self.time(detected)));
        }
        if data.deadline.processor_on_time == Some(false) {
            let reason = data.deadline.processor_delay_reason.clone();
            section.rows.push(self.row(
                "processor_delay_reason",
                reason.unwrap_or_else(|| self.t.get("value", "not_established").to_owned()),
            ));
        }
        let zone = self.zone.map(|zone| zone.name()).unwrap_or("UTC");
        let times = match self.zone {
            Some(_) => self.t.fill("value", "times_local", &[("zone", zone)]),
            None => self.t.get("value", "times_utc").to_owned(),
        };
        section.note = Some(format!("{times} {}", self.t.get("value", "controller_72h")));
        section
    }

    /// Art. 33(3)(a) to (d): known, or pending with the fields still open.
    /// (b) is the controller's own contact point, never ours to give.
    fn checklist_section(&self, data: &NoticeData) -> Section {
        let mut rows: Vec<Row> = CHECKLIST
            .iter()
            .map(|(item, prefixes, missing)| {
                let under = |path: &str| {
                    prefixes
                        .iter()
                        .any(|prefix| path == *prefix || path.starts_with(&format!("{prefix}.")))
                };
                let mut open: Vec<String> = Vec::new();
                let pending = data.pending.iter().map(String::as_str).filter(|p| under(p));
                for path in pending.chain(missing(data)) {
                    let field = self.field(path);
                    if !open.contains(&field) {
                        open.push(field);
                    }
                }
                let value = if open.is_empty() {
                    self.t.get("value", "known").to_owned()
                } else {
                    self.t
                        .fill("value", "pending_fields", &[("fields", &open.join("; "))])
                };
                self.row(item, value)
            })
            .collect();
        rows.insert(
            1,
            self.row(
                "art33_3_b",
                self.t.get("value", "controller_own").to_owned(),
            ),
        );
        let mut section = self.section("checklist", rows);
        section.note = Some(self.t.get("value", "checklist_note").to_owned());
        section
    }

    fn what_happened_section(&self, data: &NoticeData) -> Section {
        let nature = &data.nature;
        let aspects = [
            (nature.confidentiality, "confidentiality"),
            (nature.integrity, "integrity"),
            (nature.availability, "availability"),
        ];
        let mut rows = vec![
            self.row("summary", data.summary.clone()),
            self.row("location", data.location.clone()),
            self.row("discovery", data.discovery.clone()),
            self.row(
                "nature",
                self.join(
                    "nature",
                    aspects.iter().filter(|(on, _)| *on).map(|(_, key)| *key),
                ),
            ),
            self.row(
                "category",
                self.t
                    .get("breach_category", data.category.as_str())
                    .to_owned(),
            ),
            self.row(
                "cause_origin",
                self.t
                    .get("cause_origin", cause_origin_key(data.cause.origin))
                    .to_owned(),
            ),
            self.row("malicious", self.yes_no(data.cause.malicious)),
        ];
        if let Some(description) = &data.cause.description {
            rows.push(self.row("cause_description", description.clone()));
        }
        if let Some(cyber) = data.cause.cyber_incident {
            rows.push(self.row("cyber_incident", self.yes_no_unknown(cyber)));
        }
        if let Some(parties) = &data.notified_parties {
            let parties: Vec<String> = parties
                .iter()
                .map(|p| {
                    let kind = self.t.get("notified_party", p.kind.as_str());
                    let extra: Vec<&str> = [p.country.as_deref(), p.reference.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect();
                    match extra.is_empty() {
                        true => format!("{kind}: {}", p.name),
                        false => format!("{kind}: {} ({})", p.name, extra.join(", ")),
                    }
                })
                .collect();
            rows.push(self.list_row("notified_parties", &parties));
        }
        self.section("what_happened", rows)
    }

    fn systems_section(&self, data: &NoticeData) -> Section {
        let systems: Vec<String> = data
            .systems
            .iter()
            .map(|s| format!("{} ({})", s.name, s.id))
            .collect();
        self.section("systems", vec![self.list_row("systems", &systems)])
    }

    fn subprocessor_section(&self, data: &NoticeData) -> Option<Section> {
        let sp = data.subprocessor.as_ref()?;
        Some(self.section(
            "subprocessor",
            vec![
                self.row("sp_name", sp.name.clone()),
                self.row("sp_legal_entity", sp.legal_entity.clone()),
                self.row("sp_country", sp.country.clone()),
                self.row("sp_role", sp.role.clone()),
                self.row(
                    "sp_transfer_safeguard",
                    self.t
                        .get("transfer_safeguard", sp.transfer_safeguard.as_str())
                        .to_owned(),
                ),
            ],
        ))
    }

    fn data_subjects_section(&self, data: &NoticeData) -> Section {
        let subjects = &data.data_subjects;
        let mut rows = vec![self.row(
            "subject_categories",
            self.join(
                "subject_category",
                subjects.categories.iter().map(|c| c.as_str()),
            ),
        )];
        if let Some(description) = &subjects.description {
            rows.push(self.row("subject_description", description.clone()));
        }
        rows.extend([
            self.row("subject_count", self.count(&subjects.count)),
            self.row("children", self.yes_no(subjects.children)),
            self.row("vulnerable", self.yes_no(subjects.vulnerable)),
        ]);
        if let Some(contacted) = &data.data_subjects_contacted {
            let mut value = self
                .t
                .get("contact_status", contacted.status.as_str())
                .to_owned();
            let details = [
                contacted.contacted_at.as_ref().map(|at| self.time(at)),
                contacted.channel.clone(),
                contacted.count.map(|count| {
                    self.t
                        .fill("value", "persons", &[("count", &count.to_string())])
                }),
            ];
            let details: Vec<String> = details.into_iter().flatten().collect();
            if !details.is_empty() {
                value = format!("{value} ({})", details.join(", "));
            }
            rows.push(self.row("subjects_contacted", value));
        }
        self.section("data_subjects", rows)
    }

    fn service_impact_section(&self, data: &NoticeData) -> Option<Section> {
        let impact = data.service_impact.as_ref()?;
        let mut rows = vec![self.row(
            "availability",
            self.t
                .get("availability", impact.availability.as_str())
                .to_owned(),
        )];
        if let Some(restored) = impact.data_restored {
            rows.push(self.row(
                "data_restored",
                self.t.get("data_restored", restored.as_str()).to_owned(),
            ));
        }
        if let Some(at) = &impact.expected_recovery_at {
            rows.push(self.row("expected_recovery_at", self.time(at)));
        }
        Some(self.section("service_impact", rows))
    }

    fn personal_data_section(&self, data: &NoticeData) -> Section {
        let personal = &data.personal_data;
        let mut section = self.section(
            "personal_data",
            vec![
                self.row(
                    "data_categories",
                    self.join(
                        "data_category",
                        personal.categories.iter().map(|c| c.as_str()),
                    ),
                ),
                self.row(
                    "special_categories",
                    self.join(
                        "data_category",
                        personal.special_categories.iter().map(|c| c.as_str()),
                    ),
                ),
                self.row("records", self.count(&personal.records)),
                self.row("unintelligible", self.yes_no(personal.unintelligible)),
            ],
        );
        if !personal.unexpected_categories.is_empty() {
            let unexpected = personal.unexpected_categories.iter().map(|c| c.as_str());
            let row = self.row(
                "unexpected_categories",
                self.join("data_category", unexpected),
            );
            section.rows.insert(1, row);
        }
        if let Some(protection) = &personal.protection {
            let state = self.t.get("protection_state", protection.state.as_str());
            let value = match &protection.description {
                Some(description) => format!("{state}: {description}"),
                None => state.to_owned(),
            };
            section.rows.push(self.row("protection", value));
        }
        section
    }

    fn measures_section(&self, data: &NoticeData) -> Section {
        let measures = &data.measures;
        let mut rows = vec![
            self.list_row("measures_taken", &measures.taken),
            self.list_row("measures_proposed", &measures.proposed),
        ];
        if let Some(in_place) = measures.in_place.as_ref().filter(|m| !m.is_empty()) {
            rows.push(self.list_row("measures_in_place", in_place));
        }
        self.section("measures", rows)
    }

    fn severity_section(&self, data: &NoticeData) -> Section {
        let severity = &data.severity;
        let ease = EaseOfIdentification::ALL
            .iter()
            .find(|e| (e.score() - severity.ei).abs() < 1e-9)
            .map(|e| {
                format!(
                    "{} ({})",
                    self.t.get("ease_of_identification", e.as_str()),
                    severity.ei
                )
            })
            .unwrap_or_else(|| severity.ei.to_string());
        let level = self.t.get("severity_level", severity_key(severity.level));
        // Scored on the agreement's categories, the level is only provisional.
        let level = if severity
            .assumed
            .contains(&AssumedInput::PersonalDataCategories)
        {
            self.t
                .fill("value", "severity_pending", &[("level", level)])
        } else {
            level.to_owned()
        };
        let assumed: Vec<String> = severity
            .assumed
            .iter()
            .map(|input| self.t.get("assumed_input", input.as_str()).to_owned())
            .collect();
        let mut section = self.section(
            "severity",
            vec![
                self.row("severity_level", level),
                self.row(
                    "severity_score",
                    format!(
                        "{} ({}: DPC {} × EI {} + CB {})",
                        severity.score, severity.method, severity.dpc, severity.ei, severity.cb
                    ),
                ),
                self.row("ease_of_identification", ease),
                self.list_row("severity_assumed", &assumed),
            ],
        );
        section.note = Some(self.t.get("value", "severity_note").to_owned());
        section
    }

    fn contact_section(&self, data: &NoticeData) -> Section {
        let contact = &data.processor.contact;
        let mut rows = vec![
            self.row("contact_name", contact.name.clone()),
            self.row("contact_email", contact.email.clone()),
        ];
        if let Some(phone) = &contact.phone {
            rows.push(self.row("contact_phone", phone.clone()));
        }
        self.section("contact", rows)
    }
}
