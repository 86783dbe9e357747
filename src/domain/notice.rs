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
    pub measures: Measures,
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
    pub count: Estimate,
    pub children: bool,
    pub vulnerable: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NoticePersonalData {
    pub categories: Vec<DataCategory>,
    pub special_categories: Vec<DataCategory>,
    pub records: Estimate,
    pub unintelligible: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NoticeDeadline {
    pub processor_notify_by: DateTime<Utc>,
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
