//! Intake: a staff report arrives as bytes and leaves as a checked [`Report`],
//! or as the list of fields that are wrong.

mod consistency;
mod per_client;

pub use per_client::per_client_patch;

use std::sync::LazyLock;

use serde_json::Value;

use crate::domain::Report;
use crate::validation::{self, CompiledSchema, FieldError, REPORT_SCHEMA};

static REPORT: LazyLock<CompiledSchema> = LazyLock::new(|| CompiledSchema::embedded(REPORT_SCHEMA));

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the report does not match the report schema")]
    Invalid(Vec<FieldError>),
}

/// Parses and validates a report body against `schemas/report.v1.schema.json`.
pub fn parse_report(body: &[u8]) -> Result<(Report, Value), IntakeError> {
    let value = parse_json(body)?;
    Ok((check_report(&value)?, value))
}

pub fn parse_json(body: &[u8]) -> Result<Value, IntakeError> {
    serde_json::from_slice(body).map_err(|e| IntakeError::MalformedJson(e.to_string()))
}

/// Validates a report document, such as an incident's facts after an update:
/// the report schema, then the rules between fields it cannot express. A
/// missing field is named at its own pointer, so a form can show the error
/// next to it.
pub fn check_report(value: &Value) -> Result<Report, IntakeError> {
    let mut errors = REPORT.errors_at_fields(value);
    errors.extend(consistency::errors(value));
    if !errors.is_empty() {
        return Err(IntakeError::Invalid(errors));
    }
    validation::deserialize(value).map_err(|e| IntakeError::Invalid(vec![e]))
}
