//! Per-client figures uploaded as CSV (`POST /v1/incidents/{id}/per-client`):
//! one row per client, turned into the `affected.per_client` merge patch an
//! update with the same figures as JSON would carry. The report schema then
//! judges the values, as for any update.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use crate::validation::FieldError;

/// The columns a CSV may have, in any order; only `client_id` is required.
pub const COLUMNS: [&str; 10] = [
    "client_id",
    "data_subjects_min",
    "data_subjects_max",
    "data_subjects_precision",
    "records_min",
    "records_max",
    "records_precision",
    "data_subject_categories",
    "data_categories",
    "countries",
];

/// Separates the items of a list cell (`pupils;parents`).
const LIST_SEPARATOR: char = ';';

/// The merge patch `{"affected": {"per_client": {client: facts}}}` of a CSV
/// with a header row. An empty cell leaves that figure as it was. Errors
/// name the line (the header is line 1) and the column.
pub fn per_client_patch(csv_text: &[u8]) -> Result<Value, Vec<FieldError>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(csv_text);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| vec![FieldError::new("/1", e.to_string())])?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut errors: Vec<FieldError> = header
        .iter()
        .filter(|name| !COLUMNS.contains(&name.as_str()))
        .map(|name| {
            FieldError::new(
                format!("/1/{name}"),
                format!("unknown column; the columns are {}", COLUMNS.join(", ")),
            )
        })
        .collect();
    if !header.iter().any(|name| name == "client_id") {
        errors.push(FieldError::new(
            "/1",
            "the header must name a client_id column",
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let mut clients = Map::new();
    let mut seen = BTreeSet::new();
    for (index, row) in reader.records().enumerate() {
        let line = index + 2;
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                errors.push(FieldError::new(format!("/{line}"), e.to_string()));
                continue;
            }
        };
        let cell = |name: &str| {
            header
                .iter()
                .position(|h| h == name)
                .and_then(|i| row.get(i))
                .filter(|text| !text.is_empty())
        };
        let at = |name: &str| format!("/{line}/{name}");
        let Some(client) = cell("client_id") else {
            errors.push(FieldError::new(at("client_id"), "must name the client"));
            continue;
        };
        if !seen.insert(client.to_owned()) {
            errors.push(FieldError::new(
                at("client_id"),
                format!("client {client:?} has more than one row"),
            ));
            continue;
        }
        let mut facts = Map::new();
        let mut count = |prefix: &str| -> Option<Value> {
            let bound = |name: String| -> Result<Option<u64>, FieldError> {
                cell(&name)
                    .map(|text| {
                        text.parse::<u64>().map_err(|_| {
                            FieldError::new(at(&name), "must be a whole number of 0 or more")
                        })
                    })
                    .transpose()
            };
            let (min, max) = match (
                bound(format!("{prefix}_min")),
                bound(format!("{prefix}_max")),
            ) {
                (Ok(min), Ok(max)) => (min, max),
                (min, max) => {
                    errors.extend(min.err().into_iter().chain(max.err()));
                    return None;
                }
            };
            let precision = cell(&format!("{prefix}_precision"));
            match (min, max) {
                (None, None) if precision.is_none() => None,
                (Some(min), Some(max)) => Some(json!({
                    "min": min,
                    "max": max,
                    "precision": precision.unwrap_or(if min == max { "exact" } else { "approximate" }),
                })),
                _ => {
                    errors.push(FieldError::new(
                        at(&format!("{prefix}_max")),
                        format!("{prefix}_min and {prefix}_max go together"),
                    ));
                    None
                }
            }
        };
        let subjects = object([
            ("count", count("data_subjects")),
            ("categories", cell("data_subject_categories").map(list)),
        ]);
        let data = object([
            ("records", count("records")),
            ("categories", cell("data_categories").map(list)),
        ]);
        if let Some(subjects) = subjects {
            facts.insert("data_subjects".into(), subjects);
        }
        if let Some(data) = data {
            facts.insert("personal_data".into(), data);
        }
        if let Some(countries) = cell("countries") {
            facts.insert("countries".into(), list(countries));
        }
        clients.insert(client.to_owned(), Value::Object(facts));
    }
    if clients.is_empty() && errors.is_empty() {
        errors.push(FieldError::new("/2", "the CSV has no rows"));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(json!({"affected": {"per_client": clients}}))
}

/// The fields that are present, as an object; `None` when none is.
fn object<const N: usize>(fields: [(&str, Option<Value>); N]) -> Option<Value> {
    let present: Map<String, Value> = fields
        .into_iter()
        .filter_map(|(name, value)| Some((name.to_owned(), value?)))
        .collect();
    (!present.is_empty()).then_some(Value::Object(present))
}

fn list(cell: &str) -> Value {
    cell.split(LIST_SEPARATOR)
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::per_client_patch;

    #[test]
    fn turns_each_row_into_that_clients_facts() {
        let csv = "client_id,data_subjects_min,data_subjects_max,records_min,records_max,records_precision,data_categories,countries\n\
                   acme,10,10,20,25,,contact;health,NL;BE\n\
                   beta,,,,,,,\n";
        let patch = per_client_patch(csv.as_bytes()).unwrap();
        assert_eq!(
            patch,
            json!({"affected": {"per_client": {
                "acme": {
                    "data_subjects": {"count": {"min": 10, "max": 10, "precision": "exact"}},
                    "personal_data": {
                        "records": {"min": 20, "max": 25, "precision": "approximate"},
                        "categories": ["contact", "health"],
                    },
                    "countries": ["NL", "BE"],
                },
                "beta": {},
            }}})
        );
    }

    #[test]
    fn names_line_and_column_of_each_problem() {
        let csv = "client_id,records_min,records_max\nacme,x,3\nacme,1,2\n,1,1\nbeta,1,\n";
        let paths: Vec<String> = per_client_patch(csv.as_bytes())
            .unwrap_err()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(
            paths,
            [
                "/2/records_min",
                "/3/client_id",
                "/4/client_id",
                "/5/records_max"
            ]
        );
        let paths: Vec<String> = per_client_patch(b"client,records\n")
            .unwrap_err()
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, ["/1/client", "/1/records", "/1"]);
    }
}
