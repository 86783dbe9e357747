//! What changed between two notices to the same client: the `changes` list
//! of an update, final or retraction notice.

use serde_json::{Map, Value};

use crate::domain::{Change, NoticeData};

/// Fields that identify a notice or place it in the series rather than
/// describe the breach; they differ between any two notices and are not news.
/// `pending` is not among them: a fact that became known (or turned out not
/// to be) is news to the client, as is a changed `*_basis` of a figure.
const BOOKKEEPING: [&str; 4] = ["notice_id", "sequence", "supersedes", "changes"];

/// How deep paths go: `data_subjects.count` is reported as one value, not as
/// `data_subjects.count.max`, so a client sees an estimate change as a whole.
const DEPTH: usize = 2;

/// The fields of `new` that differ from `old`, as dotted paths into `data`
/// in a stable order, with the old and new values (`null` where absent).
pub fn between(old: &NoticeData, new: &NoticeData) -> Vec<Change> {
    let old = serde_json::to_value(old).expect("notices serialize");
    let new = serde_json::to_value(new).expect("notices serialize");
    let (Value::Object(old), Value::Object(new)) = (old, new) else {
        unreachable!("notice data serializes as an object");
    };
    let mut changes = Vec::new();
    diff(&old, &new, "", 1, &mut changes);
    changes
}

fn diff(
    old: &Map<String, Value>,
    new: &Map<String, Value>,
    prefix: &str,
    depth: usize,
    out: &mut Vec<Change>,
) {
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        if depth == 1 && BOOKKEEPING.contains(&key.as_str()) {
            continue;
        }
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match (old.get(key), new.get(key)) {
            (Some(Value::Object(a)), Some(Value::Object(b))) if depth < DEPTH => {
                diff(a, b, &path, depth + 1, out)
            }
            (a, b) if a != b => out.push(Change {
                path,
                old: a.cloned().unwrap_or(Value::Null),
                new: b.cloned().unwrap_or(Value::Null),
            }),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn data(patch: Value) -> NoticeData {
        let mut value: Value =
            serde_json::from_str(include_str!("../../../tests/fixtures/notice-example.json"))
                .expect("fixture parses");
        json_patch::merge(&mut value["data"], &patch);
        serde_json::from_value(value["data"].take()).expect("fixture is a notice")
    }

    #[test]
    fn equal_content_has_no_changes_whatever_the_bookkeeping() {
        let old = data(json!({}));
        let new = data(json!({
            "notice_id": "ntc_01JD0000000000000000000001",
            "sequence": 7,
        }));
        assert_eq!(between(&old, &new), vec![]);
    }

    #[test]
    fn a_fact_that_became_known_is_a_change_of_pending() {
        let old = data(json!({"pending": ["data_subjects.count"]}));
        let new = data(json!({"pending": []}));
        let changes = between(&old, &new);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].path, "pending");
        assert_eq!(changes[0].old, json!(["data_subjects.count"]));
        assert_eq!(changes[0].new, json!([]));
    }

    #[test]
    fn nested_values_are_reported_two_levels_deep() {
        let old = data(json!({}));
        let new = data(json!({
            "summary": "Corrected summary.",
            "data_subjects": {"count": {"min": 1, "max": 2, "precision": "exact"}},
        }));
        let changes = between(&old, &new);
        let paths: Vec<&str> = changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["data_subjects.count", "summary"]);
        assert_eq!(
            changes[0].old,
            serde_json::to_value(old.data_subjects.count).unwrap()
        );
        assert_eq!(
            changes[0].new,
            json!({"min": 1, "max": 2, "precision": "exact"})
        );
        assert_eq!(changes[1].new, json!("Corrected summary."));
    }

    #[test]
    fn a_field_that_appears_is_a_change_from_null() {
        let old = data(json!({"subprocessor": null}));
        let new = data(json!({}));
        let changes = between(&old, &new);
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(changes[0].path, "subprocessor");
        assert_eq!(changes[0].old, Value::Null);
    }
}
