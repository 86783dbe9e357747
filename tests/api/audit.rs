//! The audit log: what the gateway records, and `breachgate audit verify`
//! naming the first broken link once a stored row is altered or deleted.

use std::path::Path;

use breachgate::domain::ClientId;
use breachgate::domain::Role;

use crate::support::{breachgate, client_outcome, fixture, repo_path, Gateway};

const FORMAVENIR: &str = "formavenir";

/// Runs `breachgate audit verify` against the config in `dir`.
fn verify(dir: &Path) -> (bool, String) {
    let config = dir.join("breachgate.toml");
    breachgate(
        &["audit", "verify", "--config", config.to_str().unwrap()],
        dir,
    )
}

fn write_config(dir: &Path) {
    std::fs::write(
        dir.join("breachgate.toml"),
        format!(
            r#"[paths]
data_dir = "{data}"
contracts = "{contracts}"
schemas = "{schemas}"
[log]
filter = "warn"
"#,
            data = dir.join("data").display(),
            contracts = repo_path("contracts").display(),
            schemas = repo_path("schemas").display(),
        ),
    )
    .unwrap();
}

async fn database(dir: &Path) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        dir.join("data/breachgate.db").display()
    ))
    .await
    .unwrap()
}

async fn execute(db: &sqlx::SqlitePool, statement: &str) {
    let done = sqlx::query(statement).execute(db).await.unwrap();
    assert_eq!(done.rows_affected(), 1, "{statement}");
}

#[tokio::test]
async fn the_gateway_records_who_did_what_and_verify_names_an_altered_or_deleted_entry() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(&dir.path().join("data")).await;
    let (status, answer) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    assert_eq!(status, 201, "{answer}");
    let client_token = breachgate::service::tokens::issue(
        gateway.app.services.store.as_ref(),
        Role::Client,
        "formavenir incident desk",
        Some(ClientId::parse(FORMAVENIR).unwrap()),
    )
    .await
    .unwrap();
    let notice_id = client_outcome(&answer, FORMAVENIR)["notice_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..2 {
        let response = gateway
            .http
            .post(gateway.url(&format!("/v1/client/notices/{notice_id}/ack")))
            .bearer_auth(&client_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    let log = gateway.app.services.store.audit_log().await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    // Acknowledging twice records the acknowledgement once.
    assert_eq!(
        actions,
        ["agreements.applied", "report.filed", "notice.acknowledged"]
    );
    assert_eq!(log[0].actor, "system");
    let filed = &log[1];
    assert!(filed.actor.starts_with("test staff (tok_"), "{filed:?}");
    assert_eq!(filed.subject, answer["incident_id"].as_str().unwrap());
    let details: serde_json::Value = serde_json::from_str(&filed.details).unwrap();
    assert_eq!(details["reference"], answer["reference"]);
    assert_eq!(details["affected_clients"], answer["affected_clients"]);
    assert_eq!(details["held"], answer["held"]);
    assert_eq!(details["held"], 1);
    assert!(log[2].actor.starts_with("formavenir incident desk (tok_"));
    assert_eq!(log[2].subject, notice_id);
    gateway.stop().await;

    write_config(dir.path());
    let (ok, out) = verify(dir.path());
    assert!(ok, "{out}");
    assert!(out.contains("ok: 3 entries, chain intact"), "{out}");

    let db = database(dir.path()).await;
    execute(&db, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2").await;
    let (ok, out) = verify(dir.path());
    assert!(!ok, "{out}");
    assert!(out.contains("BROKEN at entry 2: hash mismatch"), "{out}");

    let original = format!(
        "UPDATE audit_log SET actor = '{}' WHERE seq = 2",
        filed.actor
    );
    execute(&db, &original).await;
    let (ok, out) = verify(dir.path());
    assert!(ok, "restoring the row mends the chain: {out}");

    execute(&db, "DELETE FROM audit_log WHERE seq = 2").await;
    let (ok, out) = verify(dir.path());
    assert!(!ok, "{out}");
    assert!(out.contains("BROKEN at entry 3: gap in sequence"), "{out}");
    db.close().await;
}

#[test]
fn verify_refuses_a_data_directory_without_a_database() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path());
    let (ok, out) = verify(dir.path());
    assert!(!ok, "{out}");
    assert!(out.contains("no database"), "{out}");
    assert!(!dir.path().join("data/breachgate.db").exists());
}
