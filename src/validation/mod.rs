//! JSON Schema validation: reports at intake, agreements when they load, and
//! every notice against the canonical schema plus its client's agreed profile.
//! Schemas are compiled once and reused.

mod notice;

pub use notice::NoticeSchemas;

use jsonschema::error::ValidationErrorKind;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// One failing field: where (a JSON pointer into the document) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Deserializes a document that has passed its schema. What the schema
/// cannot rule out (an integer written `1.0` or `-0`, a number beyond the
/// field's type) fails with the field's JSON pointer.
pub fn deserialize<'de, T: Deserialize<'de>>(
    document: impl Deserializer<'de>,
) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(document)
        .map_err(|e| FieldError::new(pointer(e.path()), e.inner().to_string()))
}

/// The JSON pointer (RFC 6901) of a path `serde_path_to_error` tracked; a
/// segment it could not name ends the pointer there.
fn pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut pointer = String::new();
    for segment in path.iter() {
        let token = match segment {
            Segment::Seq { index } => index.to_string(),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                key.replace('~', "~0").replace('/', "~1")
            }
            Segment::Unknown => break,
        };
        pointer.push('/');
        pointer.push_str(&token);
    }
    pointer
}

/// A compiled JSON Schema (draft 2020-12, formats asserted).
pub struct CompiledSchema {
    validator: jsonschema::Validator,
}

impl CompiledSchema {
    pub fn compile(schema: &Value) -> Result<Self, String> {
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(schema)
            .map(|validator| Self { validator })
            .map_err(|e| format!("not a valid JSON Schema: {e} (at {})", e.schema_path()))
    }

    /// Compiles one of the schemas built into the binary; they are tested, so
    /// a failure here is a build defect.
    pub fn embedded(text: &str) -> Self {
        let schema: Value = serde_json::from_str(text).expect("embedded schema is JSON");
        Self::compile(&schema).expect("embedded schema compiles")
    }

    pub fn errors(&self, instance: &Value) -> Vec<FieldError> {
        self.validator
            .iter_errors(instance)
            .map(|e| FieldError::new(e.instance_path().as_str(), e.to_string()))
            .collect()
    }

    /// As [`errors`](Self::errors), but a missing required property is
    /// named at its own pointer (`/signatures`) rather than at the object
    /// that lacks it, so the caller sees which field to add.
    pub fn errors_at_fields(&self, instance: &Value) -> Vec<FieldError> {
        self.validator
            .iter_errors(instance)
            .map(|e| {
                let mut path = e.instance_path().as_str().to_owned();
                if let ValidationErrorKind::Required {
                    property: Value::String(name),
                } = e.kind()
                {
                    path = format!("{path}/{}", name.replace('~', "~0").replace('/', "~1"));
                }
                FieldError::new(path, e.to_string())
            })
            .collect()
    }

    pub fn is_valid(&self, instance: &Value) -> bool {
        self.validator.is_valid(instance)
    }
}

pub const REPORT_SCHEMA: &str = include_str!("../../schemas/report.v1.schema.json");
pub const NOTICE_SCHEMA: &str = include_str!("../../schemas/notice.v1.schema.json");
pub const CONTRACT_SCHEMA: &str = include_str!("../../schemas/contract.v1.schema.json");
