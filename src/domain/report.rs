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
    pub measures: Measures,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity_inputs: Option<SeverityInputs>,
    pub reporter: Reporter,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Occurred {
    pub from: DateTime<Utc>,
    #[serde(default)]
    pub to: Option<DateTime<Utc>>,
    pub ongoing: bool,
    #[serde(default)]
    pub estimated: bool,
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
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ReportedData {
    pub categories: Known<DataCategory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<Estimate>,
    pub unintelligible: bool,
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
