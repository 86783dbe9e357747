//! Issue 12, items 3 and 4: the timeline, the delay of a late first notice,
//! and the facts a controller needs for Art. 33(3)(c)-(d) and Art. 34, each
//! from the report into the notice; every notice checked by Python's
//! jsonschema against the canonical schema.

use chrono::Duration;
use serde_json::{json, Value};

use crate::support::{client_outcome, fixture, fixture_clock, repo_path, test_config, Gateway};

const DUTCH: &str = "kinderopvang-de-vlinder";
const ITALIAN: &str = "consorzio-formazione-emilia";

async fn notice(gateway: &Gateway, answer: &Value, client: &str) -> Value {
    let notice_id = client_outcome(answer, client)["notice_id"]
        .as_str()
        .unwrap();
    let incident = answer["incident_id"].as_str().unwrap();
    let (bytes, _) = gateway.notice_bytes(incident, notice_id).await;
    serde_json::from_slice(&bytes).unwrap()
}

/// Writes the notices to files and validates them with Python's jsonschema.
async fn validate(dir: &std::path::Path, notices: &[Value]) {
    let files: Vec<String> = notices
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let file = dir.join(format!("facts-{i}.json"));
            std::fs::write(&file, serde_json::to_vec(n).unwrap()).unwrap();
            file.display().to_string()
        })
        .collect();
    tokio::task::spawn_blocking(move || {
        let output = std::process::Command::new(crate::support::python::interpreter())
            .arg(repo_path("tests/e2e/validate_notices.py"))
            .args(&files)
            .output()
            .expect("the Python interpreter runs");
        assert!(
            output.status.success(),
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    })
    .await
    .unwrap();
}

async fn gateway_at_fixture_time(
    dir: &std::path::Path,
) -> (Gateway, std::sync::Arc<breachgate::clock::ManualClock>) {
    let clock = fixture_clock();
    let config = test_config(dir, &repo_path("contracts"));
    (
        Gateway::start_with_clock(config, clock.clone()).await,
        clock,
    )
}

#[tokio::test]
async fn every_new_input_of_the_report_reaches_the_notice() {
    let dir = crate::support::test_dir();
    let (gateway, _) = gateway_at_fixture_time(dir.path()).await;
    let report = fixture("report-subprocessor.json");
    let (status, answer) = gateway.post_report(&gateway.staff, &report).await;
    assert_eq!(status, 201, "{answer}");
    let clients = answer["clients"].as_array().unwrap().len();
    let body = notice(&gateway, &answer, ITALIAN).await;
    let data = &body["data"];

    assert_eq!(data["detected_at"], report["detected_at"]);
    assert_eq!(data["occurred"]["from_precision"], "estimated");
    assert_eq!(data["occurred"]["to_precision"], "estimated");
    assert_eq!(data["cause"]["cyber_incident"], "yes");
    assert_eq!(
        data["personal_data"]["protection"],
        report["personal_data"]["protection"]
    );
    assert_eq!(data["personal_data"]["unintelligible"], false);
    assert_eq!(data["measures"]["in_place"], report["measures"]["in_place"]);
    assert_eq!(
        data["likely_consequences_description"],
        report["likely_consequences_description"]
    );
    assert_eq!(data["service_impact"], report["service_impact"]);
    assert_eq!(data["notified_parties"], report["notified_parties"]);
    assert_eq!(
        data["data_subjects_contacted"],
        report["data_subjects_contacted"]
    );
    assert_eq!(
        data["data_subjects"]["countries"],
        json!(["NL", "IT", "FR"])
    );
    assert_eq!(data["data_subjects"]["countries_basis"], "reported");
    assert_eq!(data["incident"]["affected_controllers"], json!(clients));
    assert_eq!(data["deadline"]["processor_on_time"], true);
    assert!(data["deadline"].get("processor_delay_reason").is_none());
    // The Italian profile is satisfied: the notice went out.
    assert_eq!(client_outcome(&answer, ITALIAN)["status"], "queued");

    // Facts stated as unknown are pending; an absent start is not invented.
    let mut unknown = fixture("report-lms.json");
    unknown["occurred"]["from"] = Value::Null;
    unknown["occurred"]["from_precision"] = "undetermined".into();
    unknown["cause"]["cyber_incident"] = "unknown".into();
    unknown["personal_data"]["protection"] = json!({"state": "encrypted_key_status_unknown"});
    unknown["measures"]
        .as_object_mut()
        .unwrap()
        .remove("in_place");
    unknown.as_object_mut().unwrap().remove("detected_at");
    let (status, answer) = gateway.post_report(&gateway.staff, &unknown).await;
    assert_eq!(status, 201, "{answer}");
    let vague = notice(&gateway, &answer, DUTCH).await;
    let data = &vague["data"];
    assert_eq!(data["occurred"]["from"], Value::Null);
    assert_eq!(data["measures"]["in_place"], json!([]));
    for path in [
        "occurred.from",
        "cause.cyber_incident",
        "personal_data.protection",
    ] {
        assert!(
            data["pending"].as_array().unwrap().contains(&path.into()),
            "{path}: {data}"
        );
    }

    // Precision defaults to undetermined, never to exact.
    let mut bare = fixture("report-lms.json");
    for field in ["from_precision", "to_precision"] {
        bare["occurred"].as_object_mut().unwrap().remove(field);
    }
    let (status, answer) = gateway.post_report(&gateway.staff, &bare).await;
    assert_eq!(status, 201, "{answer}");
    let undetermined = notice(&gateway, &answer, DUTCH).await;
    assert_eq!(
        undetermined["data"]["occurred"]["from_precision"],
        "undetermined"
    );
    assert_eq!(
        undetermined["data"]["occurred"]["to_precision"],
        "undetermined"
    );

    validate(dir.path(), &[body, vague, undetermined]).await;
    gateway.stop().await;
}

#[tokio::test]
async fn a_late_first_notice_needs_a_delay_reason_and_carries_it() {
    let dir = crate::support::test_dir();
    let (gateway, clock) = gateway_at_fixture_time(dir.path()).await;
    clock.advance(Duration::days(5));
    let mut report = fixture("report-lms.json");
    let reason = report["delay_reason"].clone();
    report.as_object_mut().unwrap().remove("delay_reason");
    let (status, refused) = gateway.post_report(&gateway.staff, &report).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["details"][0]["path"], "/delay_reason");
    assert_eq!(gateway.incident_count().await, 0);

    report["delay_reason"] = reason.clone();
    let (status, answer) = gateway.post_report(&gateway.staff, &report).await;
    assert_eq!(status, 201, "{answer}");
    let late = notice(&gateway, &answer, DUTCH).await;
    assert_eq!(late["data"]["deadline"]["processor_on_time"], false);
    assert_eq!(late["data"]["deadline"]["processor_delay_reason"], reason);

    // An update does not re-judge the first notice's timeliness.
    let incident = answer["incident_id"].as_str().unwrap();
    let response = gateway
        .http
        .post(gateway.url(&format!("/v1/incidents/{incident}/updates")))
        .bearer_auth(&gateway.staff)
        .json(&json!({"data_subjects": {"categories": ["children", "parents"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let updated: Value = response.json().await.unwrap();
    let update = notice(&gateway, &updated, DUTCH).await;
    assert_eq!(update["data"]["deadline"], late["data"]["deadline"]);
    validate(dir.path(), &[late, update]).await;
    gateway.stop().await;
}

#[tokio::test]
async fn other_consequences_need_their_description() {
    let dir = crate::support::test_dir();
    let (gateway, _) = gateway_at_fixture_time(dir.path()).await;
    let mut report = fixture("report-lms.json");
    report["likely_consequences"] = json!(["phishing", "other"]);
    let (status, refused) = gateway.post_report(&gateway.staff, &report).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(
        refused["error"]["details"][0]["path"],
        "/likely_consequences_description"
    );
    report["likely_consequences_description"] = "Pupils may be singled out in class.".into();
    let (status, answer) = gateway.post_report(&gateway.staff, &report).await;
    assert_eq!(status, 201, "{answer}");
    let body = notice(&gateway, &answer, DUTCH).await;
    assert_eq!(
        body["data"]["likely_consequences_description"],
        "Pupils may be singled out in class."
    );
    gateway.stop().await;
}

#[tokio::test]
async fn the_italian_profile_holds_a_notice_without_protection() {
    let dir = crate::support::test_dir();
    let (gateway, _) = gateway_at_fixture_time(dir.path()).await;
    let mut report = fixture("report-subprocessor.json");
    let data = report["personal_data"].as_object_mut().unwrap();
    data.remove("protection");
    let (status, answer) = gateway.post_report(&gateway.staff, &report).await;
    assert_eq!(status, 201, "{answer}");
    let held = client_outcome(&answer, ITALIAN);
    assert_eq!(held["status"], "held", "{held}");
    assert!(
        held["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["path"] == "/data/personal_data"
                && e["message"].as_str().unwrap().contains("protection")),
        "{held}"
    );
    // The canonical schema does not require it: the held notice is valid v1.
    let body = notice(&gateway, &answer, ITALIAN).await;
    validate(dir.path(), &[body]).await;
    gateway.stop().await;
}
