//! Checks breachgate's signatures with implementations that share no code with
//! it (Python's jwcrypto, and for webhooks the official standardwebhooks
//! package). `.ci/run` installs them from tests/e2e/requirements.txt.

use std::collections::HashMap;
use std::sync::Arc;

use crate::support;
use crate::support::receiver::Receiver;
use crate::support::smtp_sink::SmtpSink;
use crate::support::{client_outcome, delivery_config, fixture, repo_path, Gateway, TEST_SECRET};
use breachgate::clock::SystemClock;

/// Runs a Python check from tests/e2e and fails the test with its output.
pub(crate) fn python(script: &str, args: &[&str]) {
    let output = std::process::Command::new(support::python::interpreter())
        .arg(repo_path(&format!("tests/e2e/{script}")))
        .args(args)
        .output()
        .expect("the Python interpreter runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{script} failed:\n{text}");
}

#[tokio::test]
async fn jwcrypto_verifies_a_notice_against_the_served_jwks() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let (_, answer) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    let outcome = client_outcome(&answer, "kinderopvang-de-vlinder");
    let (bytes, jws) = gateway
        .notice_bytes(
            answer["incident_id"].as_str().unwrap(),
            outcome["notice_id"].as_str().unwrap(),
        )
        .await;
    let notice_file = dir.path().join("notice.json");
    let jws_file = dir.path().join("notice.jws");
    std::fs::write(&notice_file, bytes).unwrap();
    std::fs::write(&jws_file, jws.unwrap()).unwrap();

    // The server answers on this runtime while the check runs on another thread.
    let jwks_url = gateway.url("/.well-known/jwks.json");
    let (notice, jws) = (
        notice_file.display().to_string(),
        jws_file.display().to_string(),
    );
    tokio::task::spawn_blocking(move || python("verify_jws.py", &[&jwks_url, &notice, &jws]))
        .await
        .unwrap();
    gateway.stop().await;
}

#[test]
fn python_jsonschema_accepts_the_schemas_contracts_and_fixtures() {
    python("check_schemas.py", &[]);
}

#[tokio::test]
async fn standardwebhooks_ed25519_and_python_email_accept_a_delivered_notice() {
    let (smtp, sink) = SmtpSink::start().await;
    let receiver = Receiver::start().await;
    let dir = crate::support::test_dir();
    let gateway = Gateway::start_with(delivery_config(dir.path(), &receiver.base, smtp)).await;
    let worker = gateway.app.worker(Arc::new(SystemClock)).unwrap();
    let (_, answer) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    worker.run_once().await.unwrap();

    // formavenir's SIEM endpoint asks for both v1 and v1a signatures.
    let request = receiver
        .requests("formavenir/siem")
        .pop()
        .expect("delivered");
    let headers: HashMap<&str, String> = [
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "breachgate-notice-jws",
    ]
    .into_iter()
    .map(|name| (name, request.header(name)))
    .collect();
    let recipient = "formavenir";
    let mail = sink
        .received()
        .into_iter()
        .find(|m| m.rcpt_to.iter().any(|r| r.contains(recipient)))
        .expect("formavenir's email arrived");
    assert!(client_outcome(&answer, "formavenir")["status"] == "queued");

    let body_file = dir.path().join("body.json");
    let headers_file = dir.path().join("headers.json");
    let eml_file = dir.path().join("notice.eml");
    std::fs::write(&body_file, &request.body).unwrap();
    std::fs::write(&headers_file, serde_json::to_vec(&headers).unwrap()).unwrap();
    std::fs::write(&eml_file, &mail.data).unwrap();
    let jwks_url = gateway.url("/.well-known/jwks.json");
    let files: Vec<String> = [&body_file, &headers_file, &eml_file]
        .iter()
        .map(|f| f.display().to_string())
        .collect();
    tokio::task::spawn_blocking(move || {
        python(
            "verify_delivery.py",
            &[&jwks_url, TEST_SECRET, &files[0], &files[1], &files[2]],
        )
    })
    .await
    .unwrap();
    gateway.stop().await;
}

#[tokio::test]
async fn python_jsonschema_accepts_follow_up_notices() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let notice_file = |answer: &serde_json::Value, incident: &str, client: &str, name: &str| {
        let (gateway, dir) = (&gateway, dir.path().to_owned());
        let notice_id = client_outcome(answer, client)["notice_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let incident = incident.to_owned();
        let file = dir.join(name);
        async move {
            let (bytes, _) = gateway.notice_bytes(&incident, &notice_id).await;
            std::fs::write(&file, bytes).unwrap();
            file.display().to_string()
        }
    };
    let follow_up = |incident: &str, action: &str, body: Option<serde_json::Value>| {
        let mut request = gateway
            .http
            .post(gateway.url(&format!("/v1/incidents/{incident}/{action}")))
            .bearer_auth(&gateway.staff);
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status().as_u16(), 201);
            response.json::<serde_json::Value>().await.unwrap()
        }
    };
    let mut files = Vec::new();
    // A final notice with facts pending, and a retraction with its reason.
    let (_, filed) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    let closing = filed["incident_id"].as_str().unwrap().to_owned();
    let closed = follow_up(&closing, "close", None).await;
    files.push(notice_file(&closed, &closing, "harbourview-housing", "final.json").await);
    let (_, filed) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    let retracting = filed["incident_id"].as_str().unwrap().to_owned();
    let reason = serde_json::json!({"reason": "Filed in error: a test environment."});
    let retracted = follow_up(&retracting, "retract", Some(reason)).await;
    files.push(notice_file(&retracted, &retracting, "formavenir", "retraction.json").await);
    let body: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files[1]).unwrap()).unwrap();
    assert_eq!(
        body["data"]["retraction_reason"],
        "Filed in error: a test environment."
    );
    // A notice whose severity rests on assumed inputs lists them.
    let report = support::report_with_assumed_severity();
    let (_, filed) = gateway.post_report(&gateway.staff, &report).await;
    let assuming = filed["incident_id"].as_str().unwrap().to_owned();
    files.push(notice_file(&filed, &assuming, "kinderopvang-de-vlinder", "assumed.json").await);
    let body: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&files[2]).unwrap()).unwrap();
    assert_eq!(
        body["data"]["severity"]["assumed"],
        serde_json::json!(["personal_data.categories", "ease_of_identification"])
    );
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = files.iter().map(String::as_str).collect();
        python("validate_notices.py", &args)
    })
    .await
    .unwrap();
    gateway.stop().await;
}
