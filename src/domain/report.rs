//! The staff member's finding, as accepted by `POST /v1/reports`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{
    BreachCategory, ClientId, Consequence, CountPrecision, DataCategory, EaseOfIdentification,
    SubjectCategory, SubprocessorId, SystemId,
};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub became_aware_at: DateTime<Utc>,
    /// The first signal, before the breach was confirmed (`became_aware_at`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected_at: Option<DateTime<Utc>>,
    /// Why the processor notifies after the agreement's deadline; required
    /// when an initial notice is filed late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_reason: Option<String>,
    pub occurred: Occurred,
    pub discovery: String,
    pub location: String,
    pub summary: String,
    pub nature: Nature,
    pub category: BreachCategory,
    pub cause: Cause,
    pub affected: Affected,
    pub data_subjects: ReportedSubjects,
    pub personal_data: ReportedData,
    pub likely_consequences: Vec<Consequence>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub likely_consequences_description: Option<String>,
    pub measures: Measures,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_impact: Option<ServiceImpact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified_parties: Option<Vec<NotifiedParty>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_subjects_contacted: Option<SubjectsContacted>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_inputs: Option<SeverityInputs>,
    pub reporter: Reporter,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Occurred {
    /// `None` when the start is not known.
    #[serde(default)]
    pub from: Option<DateTime<Utc>>,
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
    pub ongoing: bool,
    #[serde(default)]
    pub estimated: bool,
    #[serde(default)]
    pub from_precision: TimePrecision,
    #[serde(default)]
    pub to_precision: TimePrecision,
}

/// How precisely a time is known. Omitted means `undetermined`: a time is
/// never taken as exact because nobody said otherwise.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TimePrecision {
    Exact,
    Estimated,
    Day,
    #[default]
    Undetermined,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct Nature {
    pub confidentiality: bool,
    pub integrity: bool,
    pub availability: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Cause {
    pub origin: CauseOrigin,
    pub malicious: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cyber_incident: Option<YesNoUnknown>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum YesNoUnknown {
    Yes,
    No,
    Unknown,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CauseOrigin {
    Internal,
    External,
    Unknown,
}

/// Who is affected: through the processor's systems, through a sub-processor,
/// or named explicitly. At least one is present (the report schema says so).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Affected {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub systems: Vec<SystemId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subprocessor: Option<SubprocessorId>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<ClientId>,
    /// Figures established for single clients; they name no client as
    /// affected, they only replace the incident-wide figures for that client.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_client: BTreeMap<ClientId, ClientFacts>,
}

/// What the processor established for one client (`affected.per_client`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ClientFacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_subjects: Option<ClientSubjects>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_data: Option<ClientData>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub countries: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ClientSubjects {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<Estimate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<SubjectCategory>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ClientData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<Estimate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<DataCategory>>,
}

/// A list of categories, or the explicit statement that they are not yet known.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum Known<T> {
    Known(Vec<T>),
    NotYetKnown(NotYetKnown),
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NotYetKnown {
    NotYetKnown,
}

impl<T> Known<T> {
    pub fn known(&self) -> Option<&[T]> {
        match self {
            Known::Known(items) => Some(items),
            Known::NotYetKnown(_) => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Estimate {
    pub min: u64,
    pub max: u64,
    pub precision: CountPrecision,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReportedSubjects {
    pub categories: Known<SubjectCategory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<Estimate>,
    #[serde(default)]
    pub children: bool,
    #[serde(default)]
    pub vulnerable: bool,
    /// Who the data subjects are, in words: the group, and what `other` means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Countries (ISO 3166-1 alpha-2) where the data subjects live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub countries: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReportedData {
    pub categories: Known<DataCategory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<Estimate>,
    /// Optional once `protection` is given, from which it then follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unintelligible: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection: Option<Protection>,
}

impl ReportedData {
    /// Art. 34(3)(a): unintelligible as the protection state says, else as
    /// staff said; unknown counts as intelligible.
    pub fn unintelligible(&self) -> bool {
        match &self.protection {
            Some(p) => p.state.unintelligible(),
            None => self.unintelligible.unwrap_or(false),
        }
    }
}

/// How the data was protected when the breach happened.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Protection {
    pub state: ProtectionState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ProtectionState {
    EncryptedKeySafe,
    EncryptedKeyCompromised,
    EncryptedKeyStatusUnknown,
    Hashed,
    Pseudonymised,
    None,
    Unknown,
}

impl ProtectionState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EncryptedKeySafe => "encrypted_key_safe",
            Self::EncryptedKeyCompromised => "encrypted_key_compromised",
            Self::EncryptedKeyStatusUnknown => "encrypted_key_status_unknown",
            Self::Hashed => "hashed",
            Self::Pseudonymised => "pseudonymised",
            Self::None => "none",
            Self::Unknown => "unknown",
        }
    }

    /// Only encryption whose key is known to be safe makes data
    /// unintelligible for certain; a hash or a pseudonym may be reversed.
    pub fn unintelligible(self) -> bool {
        self == Self::EncryptedKeySafe
    }
}

/// What the breach did to the service and whether data came back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceImpact {
    pub availability: Availability,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_restored: Option<DataRestored>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_recovery_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    NotAffected,
    Degraded,
    Unavailable,
    Restored,
}

impl Availability {
    pub const ALL: &'static [Self] = &[
        Self::NotAffected,
        Self::Degraded,
        Self::Unavailable,
        Self::Restored,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAffected => "not_affected",
            Self::Degraded => "degraded",
            Self::Unavailable => "unavailable",
            Self::Restored => "restored",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum DataRestored {
    Yes,
    Partially,
    No,
    NotApplicable,
    Unknown,
}

impl DataRestored {
    pub const ALL: &'static [Self] = &[
        Self::Yes,
        Self::Partially,
        Self::No,
        Self::NotApplicable,
        Self::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::Partially => "partially",
            Self::No => "no",
            Self::NotApplicable => "not_applicable",
            Self::Unknown => "unknown",
        }
    }
}

/// A third party the processor has told about the breach.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NotifiedParty {
    #[serde(rename = "type")]
    pub kind: NotifiedPartyType,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum NotifiedPartyType {
    Police,
    Csirt,
    SupervisoryAuthority,
    OtherRegulator,
    Other,
}

impl NotifiedPartyType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Police => "police",
            Self::Csirt => "csirt",
            Self::SupervisoryAuthority => "supervisory_authority",
            Self::OtherRegulator => "other_regulator",
            Self::Other => "other",
        }
    }
}

/// Whether the processor (on the controller's behalf) contacted data subjects.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubjectsContacted {
    pub status: ContactStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacted_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ContactStatus {
    Contacted,
    Planned,
    NotContacted,
    NotYetDecided,
}

impl ContactStatus {
    pub const ALL: &'static [Self] = &[
        Self::Contacted,
        Self::Planned,
        Self::NotContacted,
        Self::NotYetDecided,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Contacted => "contacted",
            Self::Planned => "planned",
            Self::NotContacted => "not_contacted",
            Self::NotYetDecided => "not_yet_decided",
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Measures {
    pub taken: Vec<String>,
    pub proposed: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub in_place: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct SeverityInputs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ease_of_identification: Option<EaseOfIdentification>,
    #[serde(default)]
    pub dpc_adjustment: i8,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Reporter {
    pub name: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}
