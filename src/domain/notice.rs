//! The canonical v1 notice: what every client receives, signed, by webhook
//! and as the email attachment. `schemas/notice.v1.schema.json` describes it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::{
    BreachCategory, Cause, ClientId, Consequence, DataCategory, Estimate, IncidentId, Measures,
    Nature, NoticeId, NoticeType, Occurred, SubjectCategory, SubprocessorId, SystemId,
    TransferSafeguard,
};
use crate::domain::{NotifiedParty, Protection, ServiceImpact, SubjectsContacted};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Notice {
    #[serde(rename = "type")]
    pub kind: NoticeType,
    pub timestamp: DateTime<Utc>,
    pub data: NoticeData,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NoticeData {
    pub notice_id: NoticeId,
    pub incident_id: IncidentId,
    pub reference: String,
    pub sequence: u32,
    pub supersedes: Option<NoticeId>,
    pub processor: ProcessorIdentity,
    pub controller: Controller,
    pub became_aware_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected_at: Option<DateTime<Utc>>,
    pub occurred: Occurred,
    pub discovery: String,
    pub location: String,
    pub summary: String,
    pub nature: Nature,
    pub category: BreachCategory,
    pub cause: Cause,
    pub systems: Vec<SystemRef>,
    pub subprocessor: Option<SubprocessorDetails>,
    pub data_subjects: NoticeSubjects,
    pub personal_data: NoticePersonalData,
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
    pub incident: Option<IncidentFacts>,
    pub severity: Severity,
    pub deadline: NoticeDeadline,
    pub pending: Vec<String>,
    pub changes: Vec<Change>,
    /// Why staff withdrew the report; only on a `retraction` that answers one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retraction_reason: Option<String>,
}

/// Who the processor is and whom the client should call.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProcessorIdentity {
    pub name: String,
    pub contact: ProcessorContact,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ProcessorContact {
    pub name: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Controller {
    pub client_id: ClientId,
    pub name: String,
    pub agreement_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SystemRef {
    pub id: SystemId,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubprocessorDetails {
    pub id: SubprocessorId,
    pub name: String,
    pub legal_entity: String,
    pub country: String,
    pub role: String,
    pub transfer_safeguard: TransferSafeguard,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NoticeSubjects {
    pub categories: Vec<SubjectCategory>,
    pub count: NoticeCount,
    pub children: bool,
    pub vulnerable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories_basis: Option<CategoriesBasis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub countries: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub countries_basis: Option<CountriesBasis>,
}

/// Where `data_subjects.countries` comes from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CountriesBasis {
    ClientSpecific,
    Reported,
    Unknown,
}

/// Facts about the incident as a whole rather than this client's part of it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IncidentFacts {
    /// How many clients (controllers) this version of the incident reaches.
    pub affected_controllers: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NoticePersonalData {
    pub categories: Vec<DataCategory>,
    pub special_categories: Vec<DataCategory>,
    pub records: NoticeCount,
    pub unintelligible: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection: Option<Protection>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories_basis: Option<CategoriesBasis>,
    /// Reported categories the client's agreement does not list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unexpected_categories: Vec<DataCategory>,
}

/// A number of data subjects or records for one client, with where it comes
/// from (absent only in notices made before `basis` existed).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct NoticeCount {
    #[serde(flatten)]
    pub estimate: Estimate,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<CountBasis>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CountBasis {
    /// Established for this client (`affected.per_client`, or the incident's
    /// figure when the incident affects this client alone).
    ClientSpecific,
    /// The incident's total, of which this client has an unknown share.
    ShareOfIncidentTotal,
    /// Nothing reported: what the agreement expects in the affected systems.
    AgreementEstimate,
    Unknown,
}

impl CountBasis {
    pub const ALL: &'static [Self] = &[
        Self::ClientSpecific,
        Self::ShareOfIncidentTotal,
        Self::AgreementEstimate,
        Self::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSpecific => "client_specific",
            Self::ShareOfIncidentTotal => "share_of_incident_total",
            Self::AgreementEstimate => "agreement_estimate",
            Self::Unknown => "unknown",
        }
    }
}

/// Whether categories were reported or, while not yet known, taken from the agreement.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CategoriesBasis {
    Reported,
    AssumedFromAgreement,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NoticeDeadline {
    pub processor_notify_by: DateTime<Utc>,
    /// Whether the client's first notice went out by `processor_notify_by`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processor_on_time: Option<bool>,
    /// Staff's reason for a late first notice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processor_delay_reason: Option<String>,
}

/// One field that changed since the client's previous notice.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Change {
    pub path: String,
    pub old: Value,
    pub new: Value,
}

/// The ENISA 2013 severity assessment (`SE = DPC × EI + CB`), offered to the
/// controller as advice; `enrichment` scores it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Severity {
    pub method: String,
    pub dpc: u8,
    pub ei: f64,
    pub cb: f64,
    pub score: f64,
    pub level: SeverityLevel,
    pub advisory: bool,
    /// The inputs taken by default rather than established, so the
    /// controller can tell how much of the score is ours to stand by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assumed: Vec<AssumedInput>,
}

/// An input of the severity score that was assumed (`severity.assumed`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum AssumedInput {
    /// Not given by staff, so `significant`.
    #[serde(rename = "ease_of_identification")]
    EaseOfIdentification,
    /// Not yet known, so the agreement's categories set the DPC.
    #[serde(rename = "personal_data.categories")]
    PersonalDataCategories,
}

impl AssumedInput {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EaseOfIdentification => "ease_of_identification",
            Self::PersonalDataCategories => "personal_data.categories",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SeverityLevel {
    Low,
    Medium,
    High,
    VeryHigh,
}
