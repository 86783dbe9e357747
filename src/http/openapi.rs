//! The API's OpenAPI 3.1 description, served at `/openapi.json`.
//!
//! `openapi/openapi.json` is written by hand, so it reads as documentation;
//! the report and notice bodies are not repeated there but taken from
//! `schemas/` (JSON Schema 2020-12, which OpenAPI 3.1 speaks) when the
//! document is assembled. The drift test keeps it and [`super::routes`] equal.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use serde_json::Value;

use crate::validation::{CONTRACT_SCHEMA, NOTICE_SCHEMA, REPORT_SCHEMA};

const DOCUMENT: &str = include_str!("../../openapi/openapi.json");

static ASSEMBLED: LazyLock<String> = LazyLock::new(|| document().to_string());

/// The document as served: `openapi/openapi.json` with the report, notice
/// and client agreement schemas as the components `Report`, `Notice` and
/// `Agreement`.
pub fn document() -> Value {
    let mut document: Value = serde_json::from_str(DOCUMENT).expect("openapi.json is JSON");
    for (name, text) in [
        ("Report", REPORT_SCHEMA),
        ("Notice", NOTICE_SCHEMA),
        ("Agreement", CONTRACT_SCHEMA),
    ] {
        let mut schema: Value = serde_json::from_str(text).expect("the schemas are JSON");
        let root = format!("#/components/schemas/{name}");
        // Inside the OpenAPI document, `#` is the document, not the schema,
        // so the schema's own references must be re-rooted, and its `$id`
        // dropped so nothing resolves against the original file.
        rebase_refs(&mut schema, &root);
        if let Some(object) = schema.as_object_mut() {
            object.remove("$id");
            object.remove("$schema");
        }
        document["components"]["schemas"][name] = schema;
    }
    document
}

/// Builds the document once at start, so a broken file fails loudly there.
pub(super) fn check() {
    LazyLock::force(&ASSEMBLED);
}

fn rebase_refs(schema: &mut Value, root: &str) {
    match schema {
        Value::Object(object) => {
            for (key, value) in object.iter_mut() {
                match value {
                    Value::String(reference) if key == "$ref" && reference.starts_with("#/") => {
                        *reference = format!("{root}{}", &reference[1..]);
                    }
                    _ => rebase_refs(value, root),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| rebase_refs(item, root)),
        _ => {}
    }
}

/// `GET /openapi.json`
pub async fn serve() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        ASSEMBLED.as_str(),
    )
}
