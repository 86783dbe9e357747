//! What the report schema cannot say, because JSON Schema compares a value
//! only with constants: a range whose `min` exceeds its `max`, and a breach
//! that ends before it began. Judged on the document, so these errors join
//! the schema's in one list, and skipped where the schema already fails.

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::validation::FieldError;

/// The count ranges of a report (`count_range` in the schema).
const RANGES: [&str; 2] = ["/data_subjects/count", "/personal_data/records"];

pub(super) fn errors(report: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let per_client = report
        .pointer("/affected/per_client")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|clients| clients.keys())
        .flat_map(|client| {
            RANGES.map(|range| format!("/affected/per_client/{}{range}", pointer_token(client)))
        });
    for range in RANGES.map(str::to_owned).into_iter().chain(per_client) {
        let bound = |name: &str| report.pointer(&format!("{range}/{name}"))?.as_u64();
        if let (Some(min), Some(max)) = (bound("min"), bound("max")) {
            if min > max {
                errors.push(FieldError::new(
                    format!("{range}/max"),
                    format!("must not be lower than min ({min})"),
                ));
            }
        }
    }
    let time = |pointer: &str| {
        let text = report.pointer(pointer)?.as_str()?;
        Some((text.parse::<DateTime<Utc>>().ok()?, text))
    };
    if let (Some((from, from_text)), Some((to, _))) = (time("/occurred/from"), time("/occurred/to"))
    {
        if to < from {
            errors.push(FieldError::new(
                "/occurred/to",
                format!("must not be before occurred.from ({from_text})"),
            ));
        }
    }
    if let (Some((detected, _)), Some((aware, aware_text))) =
        (time("/detected_at"), time("/became_aware_at"))
    {
        if detected > aware {
            errors.push(FieldError::new(
                "/detected_at",
                format!("the first signal must not be after became_aware_at ({aware_text})"),
            ));
        }
    }
    errors.extend(stated_facts(report));
    errors
}

/// Facts that another field makes necessary or contradicts.
fn stated_facts(report: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let other_consequence = report
        .pointer("/likely_consequences")
        .and_then(Value::as_array)
        .is_some_and(|list| list.iter().any(|c| c == "other"));
    if other_consequence && report.pointer("/likely_consequences_description").is_none() {
        errors.push(FieldError::new(
            "/likely_consequences_description",
            "required when likely_consequences include \"other\"",
        ));
    }
    let state = report
        .pointer("/personal_data/protection/state")
        .and_then(Value::as_str);
    let said = report
        .pointer("/personal_data/unintelligible")
        .and_then(Value::as_bool);
    if let (Some(state), Some(said)) = (state, said) {
        if said != (state == "encrypted_key_safe") {
            errors.push(FieldError::new(
                "/personal_data/unintelligible",
                format!("contradicts personal_data.protection.state ({state}); leave it out, it follows from the state"),
            ));
        }
    }
    if report.pointer("/occurred").is_some_and(Value::is_object)
        && report.pointer("/occurred/from").is_none_or(Value::is_null)
    {
        let precision = report
            .pointer("/occurred/from_precision")
            .and_then(Value::as_str);
        if precision.is_some_and(|p| p != "undetermined") {
            errors.push(FieldError::new(
                "/occurred/from_precision",
                "must be undetermined while occurred.from is not known",
            ));
        }
    }
    errors
}

/// `key` as one reference token of a JSON Pointer (RFC 6901).
fn pointer_token(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::errors;

    #[test]
    fn names_each_range_that_ends_below_its_start() {
        let report = json!({
            "occurred": {"from": "2026-11-19T16:05:00Z", "to": "2026-11-19T16:05:00Z"},
            "data_subjects": {"count": {"min": 10, "max": 9}},
            "personal_data": {"records": {"min": 0, "max": 0}},
        });
        let found: Vec<String> = errors(&report).into_iter().map(|e| e.path).collect();
        assert_eq!(found, ["/data_subjects/count/max"]);

        let report = json!({
            "occurred": {"from": "2026-11-19T16:05:00Z", "to": "2026-11-19T16:04:59.5Z"},
            "personal_data": {"records": {"min": 2, "max": 1}},
        });
        let found: Vec<String> = errors(&report).into_iter().map(|e| e.path).collect();
        assert_eq!(found, ["/personal_data/records/max", "/occurred/to"]);

        let report = json!({
            "affected": {"per_client": {"acme": {"personal_data": {"records": {"min": 3, "max": 2}}}}},
        });
        let found: Vec<String> = errors(&report).into_iter().map(|e| e.path).collect();
        assert_eq!(
            found,
            ["/affected/per_client/acme/personal_data/records/max"]
        );
    }

    #[test]
    fn leaves_missing_and_mistyped_values_to_the_schema() {
        for report in [
            json!({}),
            json!({"occurred": {"from": "2026-11-19T16:05:00Z", "to": null}}),
            json!({"occurred": {"from": "yesterday", "to": "2026-11-19T16:05:00Z"}}),
            json!({"data_subjects": {"count": {"min": -1, "max": -2}}}),
            json!({"data_subjects": {"count": {"min": "10", "max": 9}}}),
            json!({"personal_data": {"records": [10, 9]}}),
        ] {
            assert!(errors(&report).is_empty(), "{report}");
        }
    }
}
