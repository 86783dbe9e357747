//! Input the schema alone would let through: a repeated key or a NUL
//! character in any JSON body (400 `malformed_json`), a count range whose `min` exceeds its `max` and a
//! breach that ends before it began (422 `invalid_report`), each naming the
//! field and storing nothing, in a report as in a follow-up.

use breachgate::domain::Role;
use serde_json::{json, Value};

use crate::access::ACCESS;
use crate::support::{fixture, Gateway};

pub async fn send(
    gateway: &Gateway,
    method: &str,
    path: &str,
    token: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let response = gateway
        .http
        .request(method.parse().unwrap(), gateway.url(path))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

/// A report body as staff send it to `path` (`/v1/reports`, with or without a query).
async fn file(gateway: &Gateway, path: &str, body: impl Into<reqwest::Body>) -> (u16, Value) {
    send(gateway, "POST", path, &gateway.staff, body).await
}

fn paths(answer: &Value) -> Vec<&str> {
    answer["error"]["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| d["path"].as_str().expect("path"))
        .collect()
}

/// The report fixture as text with `min` written twice into
/// `data_subjects.count`, which a JSON value cannot hold.
fn report_repeating_a_key() -> String {
    let mut report = fixture("report-lms.json");
    report["data_subjects"]["count"] = json!({"min": 5, "max": 7, "precision": "approximate"});
    let text = serde_json::to_string_pretty(&report).unwrap();
    let repeated = text.replacen("\"min\": 5,", "\"min\": 5,\n\"min\": 9,", 1);
    assert_ne!(repeated, text);
    repeated
}

/// Every operation that takes a JSON body, as `(method, path, token)` with
/// the path's ids naming nothing and the token of the role it takes.
fn operations_with_a_json_body(gateway: &Gateway, client: &str) -> Vec<(String, String, String)> {
    let document = breachgate::http::openapi_document();
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if operation
                .pointer("/requestBody/content/application~1json")
                .is_none()
            {
                continue;
            }
            let method = method.to_uppercase();
            let (_, _, role) = ACCESS
                .iter()
                .find(|(m, p, _)| *m == method && p == path)
                .unwrap_or_else(|| panic!("{method} {path} is not in ACCESS"));
            let token = match role.expect("bodies are only taken with a token") {
                Role::Staff => &gateway.staff,
                Role::Admin => &gateway.admin,
                Role::Client => client,
            };
            let path = path
                .replace("{id}", "nosuch")
                .replace("{webhook_id}", "nosuch");
            operations.push((method, path, token.to_owned()));
        }
    }
    assert!(
        operations.len() >= 9,
        "only {} operations take a JSON body",
        operations.len()
    );
    operations
}

#[tokio::test]
async fn a_repeated_key_is_malformed_json_in_every_body_the_api_takes() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let client = gateway.client_token("formavenir").await;
    for (method, path, token) in operations_with_a_json_body(&gateway, &client) {
        // Refused as it is read, before any record is looked up.
        let body = "{\"url\": \"https://a.example/\",\n \"url\": \"https://b.example/\"}";
        let (status, answer) = send(&gateway, &method, &path, &token, body).await;
        assert_eq!(status, 400, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "malformed_json", "{method} {path}");
        assert_eq!(paths(&answer), ["/url"], "{method} {path}");
        let message = answer["error"]["details"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("duplicate key \"url\"") && message.contains("line 2"),
            "{method} {path}: {message}"
        );
    }

    // Deep inside a report, and in a dry run: named by its pointer, nothing kept.
    for path in ["/v1/reports", "/v1/reports?dry_run=true"] {
        let (status, answer) = file(&gateway, path, report_repeating_a_key()).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert_eq!(answer["error"]["code"], "malformed_json");
        assert_eq!(paths(&answer), ["/data_subjects/count/min"]);
    }
    assert_eq!(gateway.incident_count().await, 0);
    gateway.stop().await;
}

/// PostgreSQL stores no NUL in text, so one that reached the store would
/// fail the request there; on both backends it is refused as the body is
/// read, naming the field, and nothing is stored.
#[tokio::test]
async fn a_nul_character_is_refused_in_every_body_the_api_takes() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let client = gateway.client_token("formavenir").await;
    for (method, path, token) in operations_with_a_json_body(&gateway, &client) {
        let body = r#"{"name": "Desk", "url": "https://a.example/\u0000"}"#;
        let (status, answer) = send(&gateway, &method, &path, &token, body).await;
        assert_eq!(status, 400, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "malformed_json", "{method} {path}");
        assert_eq!(paths(&answer), ["/url"], "{method} {path}");
    }

    // In a report's free text, in a key, and in a dry run.
    let mut in_text = fixture("report-lms.json");
    in_text["measures"]["in_place"] = json!(["Exports are encrypted", "Access\u{0}logged"]);
    let mut in_key = fixture("report-lms.json");
    in_key["occurred"]["estimated\u{0}"] = json!(true);
    for (report, pointer) in [
        (in_text, "/measures/in_place/1"),
        (in_key, "/occurred/estimated\u{0}"),
    ] {
        for path in ["/v1/reports", "/v1/reports?dry_run=true"] {
            let (status, answer) = file(&gateway, path, serde_json::to_vec(&report).unwrap()).await;
            assert_eq!(status, 400, "{path}: {answer}");
            assert_eq!(answer["error"]["code"], "malformed_json", "{answer}");
            assert_eq!(paths(&answer), [pointer], "{answer}");
        }
    }
    assert_eq!(gateway.incident_count().await, 0);

    // An admin body: the client is not created.
    let mut client_body = crate::admin::acme("http://127.0.0.1:9");
    client_body["name"] = json!("Acme\u{0}Academy");
    let body = serde_json::to_vec(&client_body).unwrap();
    let (status, answer) = send(&gateway, "POST", "/v1/admin/clients", &gateway.admin, body).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(paths(&answer), ["/name"]);
    let (status, _) = gateway
        .get_json(
            &gateway.admin,
            &format!("/v1/admin/clients/{}", crate::admin::CLIENT),
        )
        .await;
    assert_eq!(status, 404);
    gateway.stop().await;
}

#[tokio::test]
async fn inverted_ranges_and_times_in_a_report_are_422_naming_the_field() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let report = fixture("report-lms.json");
    // The fixture with each pointer's value set, its parent object existing.
    let with = |changes: &[(&str, Value)]| {
        let mut r = report.clone();
        for (pointer, value) in changes {
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            r.pointer_mut(parent).unwrap()[key] = value.clone();
        }
        r
    };
    let range = |min: u64, max: u64| json!({"min": min, "max": max, "precision": "approximate"});
    let cases = [
        (
            with(&[("/data_subjects/count", range(1_000, 999))]),
            vec!["/data_subjects/count/max"],
        ),
        (
            with(&[("/personal_data/records", range(1, 0))]),
            vec!["/personal_data/records/max"],
        ),
        (
            with(&[("/occurred/to", json!("2026-11-19T16:04:59Z"))]),
            vec!["/occurred/to"],
        ),
        // Together, and in one list with what the schema finds.
        (
            with(&[
                ("/data_subjects/count", range(1_000, 999)),
                ("/personal_data/records", range(1, 0)),
                ("/occurred/to", json!("2026-11-18T00:00:00Z")),
                ("/category", json!("alien_abduction")),
            ]),
            vec![
                "/category",
                "/data_subjects/count/max",
                "/occurred/to",
                "/personal_data/records/max",
            ],
        ),
    ];
    for (body, expected) in cases {
        for path in ["/v1/reports", "/v1/reports?dry_run=true"] {
            let (status, answer) = file(&gateway, path, serde_json::to_vec(&body).unwrap()).await;
            assert_eq!(status, 422, "{path} {expected:?}: {answer}");
            assert_eq!(answer["error"]["code"], "invalid_report");
            let mut found = paths(&answer);
            found.sort();
            assert_eq!(found, expected, "{answer}");
        }
    }
    let inverted = with(&[("/data_subjects/count", range(1_000, 999))]);
    let (_, answer) = file(
        &gateway,
        "/v1/reports",
        serde_json::to_vec(&inverted).unwrap(),
    )
    .await;
    assert_eq!(
        answer["error"]["details"][0]["message"],
        "must not be lower than min (1000)"
    );
    assert_eq!(gateway.incident_count().await, 0, "nothing was stored");

    // Equal bounds and an instant breach are fine.
    let (status, answer) = gateway
        .post_report(
            &gateway.staff,
            &with(&[
                ("/data_subjects/count", range(40, 40)),
                ("/occurred/to", report["occurred"]["from"].clone()),
            ]),
        )
        .await;
    assert_eq!(status, 201, "{answer}");
    gateway.stop().await;
}

#[tokio::test]
async fn a_follow_up_that_inverts_a_range_or_the_times_changes_nothing() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let (status, answer) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    assert_eq!(status, 201, "{answer}");
    let incident = answer["incident_id"].as_str().unwrap().to_owned();

    let cases = [
        (
            "updates",
            json!({"personal_data": {"records": {"min": 10, "max": 1, "precision": "upper_bound"}}}),
            "/personal_data/records/max",
        ),
        (
            "updates",
            json!({"occurred": {"from": "2026-11-23T00:00:00Z"}}),
            "/occurred/to",
        ),
        (
            "close",
            json!({"data_subjects": {"count": {"min": 3, "max": 2, "precision": "exact"}}}),
            "/data_subjects/count/max",
        ),
    ];
    for (action, patch, pointer) in cases {
        let (status, answer) = send(
            &gateway,
            "POST",
            &format!("/v1/incidents/{incident}/{action}"),
            &gateway.staff,
            serde_json::to_vec(&patch).unwrap(),
        )
        .await;
        assert_eq!(status, 422, "{action} {patch}: {answer}");
        assert_eq!(answer["error"]["code"], "invalid_report");
        assert_eq!(paths(&answer), [pointer], "{answer}");
    }
    let (_, view) = gateway
        .get_json(&gateway.staff, &format!("/v1/incidents/{incident}"))
        .await;
    assert_eq!(
        (view["version"].as_u64(), view["status"].as_str()),
        (Some(1), Some("open"))
    );
    gateway.stop().await;
}
