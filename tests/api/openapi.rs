//! The OpenAPI document at `/openapi.json` describes exactly the routes the
//! server has, and schemathesis, an independent property-based tester, finds
//! no 5xx and no answer that contradicts the document.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support;
use crate::support::{contracts_for, fixture, repo_path, test_config, Gateway};

async fn served_document(gateway: &Gateway) -> Value {
    let response = gateway
        .http
        .get(gateway.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_document_and_the_router_have_the_same_operations() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let document = served_document(&gateway).await;
    assert_eq!(document["openapi"], "3.1.0");

    let served: BTreeSet<(String, String)> = breachgate::http::routes()
        .iter()
        .map(|r| (r.method.as_str().to_lowercase(), r.path.to_owned()))
        .collect();
    let described: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| !matches!(k.as_str(), "parameters" | "summary" | "description"))
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let undocumented: Vec<_> = served.difference(&described).collect();
    let unserved: Vec<_> = described.difference(&served).collect();
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "served but not in openapi/openapi.json: {undocumented:?}; \
         in the document but not served: {unserved:?}"
    );

    // Every operation that takes a token says what a bad one gets.
    for (method, path) in &described {
        let operation = &document["paths"][path][method];
        let public = operation["security"] == serde_json::json!([]);
        for status in ["401", "403", "429", "500"] {
            assert_eq!(
                operation["responses"].get(status).is_some(),
                !public,
                "{method} {path}: response {status}"
            );
        }
    }
    gateway.stop().await;
}

#[test]
fn the_report_and_notice_schemas_are_the_files_in_schemas() {
    let document = breachgate::http::openapi_document();
    for (name, file) in [
        ("Report", "schemas/report.v1.schema.json"),
        ("Notice", "schemas/notice.v1.schema.json"),
    ] {
        let original: Value =
            serde_json::from_str(&std::fs::read_to_string(repo_path(file)).unwrap()).unwrap();
        let embedded = &document["components"]["schemas"][name];
        assert_eq!(embedded["properties"].as_object().unwrap().len(), {
            original["properties"].as_object().unwrap().len()
        });
        assert_eq!(embedded["required"], original["required"], "{name}");
        // References now point into the document.
        let text = embedded.to_string();
        assert!(!text.contains("\"#/$defs/"), "{name}");
        assert!(text.contains(&format!("#/components/schemas/{name}/$defs/")));
    }
}

/// The checks that an answer is possible at all and agrees with the
/// document, plus that bad input is refused and that auth is enforced.
/// Left out: `positive_data_acceptance` (a schema-valid report naming systems
/// no agreement has is rightly refused with 422), `use_after_free` and the
/// like (no operation here deletes anything).
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
response_headers_conformance,response_schema_conformance,negative_data_rejection,ignored_auth,\
unsupported_method,allow_header_conformance,missing_required_header";

/// Runs schemathesis against `base` as `token`, on the operations whose
/// path matches `paths`; fails with its report. It keeps its cache and
/// reports in `work_dir`.
fn schemathesis(
    python: &std::path::Path,
    base: &str,
    token: &str,
    paths: &str,
    work_dir: &std::path::Path,
) {
    let output = std::process::Command::new(python)
        .current_dir(work_dir)
        .args(["-m", "schemathesis.cli", "run"])
        .arg(format!("{base}/openapi.json"))
        .args(["--checks", CHECKS])
        .args(["--include-path-regex", paths])
        .args(["--phases", "examples,coverage,fuzzing,stateful"])
        .args([
            "--max-examples",
            "25",
            "--seed",
            "20261122",
            "--workers",
            "2",
        ])
        .args(["--request-timeout", "10"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .env("NO_COLOR", "1")
        .output()
        .expect("the Python interpreter runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // Shown with --nocapture: what was tested, skipped, and warned about.
    eprintln!("schemathesis on {paths}:\n{text}");
    assert!(output.status.success(), "schemathesis on {paths} failed");
    // It must have tested something: a filter matching no operation passes vacuously.
    assert!(text.contains("Tested:"), "{text}");
    assert!(!text.contains("Tested: 0"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_answer_against_the_document() {
    let python = support::python::interpreter();
    let dir = crate::support::test_dir();
    // Every webhook on a loopback address that is not allow-listed: refused
    // at once, so one worker step dead-letters them.
    let contracts = contracts_for(dir.path(), "http://127.0.0.1:9");
    let mut config = test_config(&dir.path().join("data"), &contracts);
    // Thousands of requests from one token: the limit has its own test.
    config.server.rate_limit_per_minute = 1_000_000;
    config.server.rate_limit_burst = 1_000_000;
    let gateway = Gateway::start_with(config).await;
    // Real data behind the lists the run reads and the links it follows: an
    // incident with queued and held notices, and dead deliveries with their
    // alerts, which replayDelivery can send again.
    let (status, answer) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    assert_eq!(status, 201, "{answer}");
    let worker = gateway
        .app
        .worker(std::sync::Arc::new(breachgate::clock::SystemClock))
        .unwrap();
    assert!(worker.run_once().await.unwrap() > 0);
    let (_, alerts) = gateway.get_json(&gateway.staff, "/v1/alerts").await;
    assert!(!alerts["alerts"].as_array().unwrap().is_empty(), "{alerts}");
    // And during the run, as in production: what the run files or replays is
    // dead-lettered again at once, and webhook tests get their results.
    let stop_delivering = tokio_util::sync::CancellationToken::new();
    let delivering = tokio::spawn(worker.run(stop_delivering.clone()));
    let client = gateway.client_token("formavenir").await;

    let (base, staff, admin, work_dir) = (
        gateway.base.clone(),
        gateway.staff.clone(),
        gateway.admin.clone(),
        dir.path().to_owned(),
    );
    tokio::task::spawn_blocking(move || {
        // Staff's operations and the public ones as staff; the client's as a client.
        schemathesis(python, &base, &staff, "^/(v1/(reports|incidents|register|deliveries|alerts)|healthz|readyz|metrics|openapi|\\.well-known)", &work_dir);
        schemathesis(python, &base, &client, "^/v1/client/", &work_dir);
        schemathesis(python, &base, &admin, "^/v1/admin/", &work_dir);
    })
    .await
    .unwrap();
    stop_delivering.cancel();
    delivering.await.unwrap();
    gateway.stop().await;
}
