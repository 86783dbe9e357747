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
    for range in RANGES {
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
    errors
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
