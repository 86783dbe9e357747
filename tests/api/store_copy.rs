//! Moving an installation from SQLite to PostgreSQL: `breachgate store copy`
//! of a store built through the API (and a report draft a staff account
//! saved), then a gateway on the copy serves the same register, the same
//! notices, byte for byte, and the same drafts. PostgreSQL pass only.

use breachgate::domain::Role;
use breachgate::service::{accounts, drafts};
use serde_json::{json, Value};

use crate::support::receiver::Receiver;
use crate::support::smtp_sink::SmtpSink;
use crate::support::{
    breachgate, client_outcome, delivery_config, fixture, fixture_clock, store_env, test_dir,
    Gateway, TestDir,
};

/// `GET path` as `token`, which must answer 200.
async fn read(gateway: &Gateway, token: &str, path: &str) -> Value {
    let (status, body) = gateway.get_json(token, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// Every notice in the register, with its exact bytes and JWS as served.
async fn notices(gateway: &Gateway, register: &Value) -> Vec<(String, Vec<u8>, Option<String>)> {
    let mut notices = Vec::new();
    for incident in register["incidents"].as_array().unwrap() {
        let incident_id = incident["incident_id"].as_str().unwrap();
        for client in incident["clients"].as_array().unwrap() {
            for notice in client["notices"].as_array().unwrap() {
                let notice_id = notice["notice_id"].as_str().unwrap();
                let (bytes, jws) = gateway.notice_bytes(incident_id, notice_id).await;
                notices.push((notice_id.to_owned(), bytes, jws));
            }
        }
    }
    notices
}

#[tokio::test]
async fn a_sqlite_store_copied_to_postgresql_serves_the_same_register_and_notices() {
    let target = test_dir();
    let Some((_, target_url)) = store_env(target.path()).pop() else {
        return; // The SQLite pass has no PostgreSQL to copy to.
    };
    let (smtp, _sink) = SmtpSink::start().await;
    let receiver = Receiver::start().await;
    let source = TestDir::sqlite_only();
    let config = delivery_config(source.path(), &receiver.base, smtp);
    let database = config.paths.data_dir.join("breachgate.db");

    // Two incidents: one updated and closed, one retracted; notices
    // delivered and acknowledged along the way.
    let gateway = Gateway::start_with_clock(config.clone(), fixture_clock()).await;
    let worker = gateway.app.worker(fixture_clock()).unwrap();
    let staff = gateway.staff.clone();
    let desk = gateway.client_token("formavenir").await;
    let follow_up = |incident: String, action: &'static str, body: Value| {
        let request = gateway
            .http
            .post(gateway.url(&format!("/v1/incidents/{incident}/{action}")))
            .bearer_auth(&staff)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), 201, "{action}");
            response.json::<Value>().await.unwrap()
        }
    };
    let acknowledge = |answer: &Value| {
        let notice = client_outcome(answer, "formavenir")["notice_id"]
            .as_str()
            .unwrap();
        let request = gateway
            .http
            .post(gateway.url(&format!("/v1/client/notices/{notice}/ack")))
            .bearer_auth(&desk)
            .json(&json!({"note": "forwarded to our DPO"}));
        async move { assert_eq!(request.send().await.unwrap().status(), 200) }
    };
    let mut incidents = Vec::new();
    for report in ["report-lms.json", "report-subprocessor.json"] {
        let (status, filed) = gateway.post_report(&staff, &fixture(report)).await;
        assert_eq!(status, 201, "{filed}");
        incidents.push(filed["incident_id"].as_str().unwrap().to_owned());
        if report == "report-lms.json" {
            acknowledge(&filed).await;
        }
    }
    while worker.run_once().await.unwrap() > 0 {}
    let categories = json!({"personal_data": {"categories": [
        "identification", "contact", "education", "online_identifiers"
    ]}});
    let updated = follow_up(
        incidents[0].clone(),
        "updates",
        json!({"affected": {"per_client": {"formavenir": categories}}}),
    )
    .await;
    acknowledge(&updated).await;
    follow_up(incidents[0].clone(), "close", json!({})).await;
    follow_up(
        incidents[1].clone(),
        "retract",
        json!({"reason": "The bucket held no personal data."}),
    )
    .await;
    while worker.run_once().await.unwrap() > 0 {}

    // A report half written on the pages, saved as a draft.
    let (email, password) = gateway.account(Role::Staff, None).await;
    let services = &gateway.app.services;
    let signed_in = accounts::sign_in(services, &config.accounts, &email, &password, "::1")
        .await
        .unwrap();
    let typed = [("/summary".to_owned(), vec!["Half written.".to_owned()])];
    drafts::save(
        services,
        &signed_in.session.caller,
        None,
        typed.into_iter().collect(),
        &ulid::Ulid::new().to_string(),
    )
    .await
    .unwrap();
    let saved_drafts = drafts::list(services).await.unwrap();

    let register = read(&gateway, &staff, "/v1/register").await;
    let originals = notices(&gateway, &register).await;
    let mut details = Vec::new();
    for incident in &incidents {
        details.push(read(&gateway, &staff, &format!("/v1/incidents/{incident}")).await);
    }
    assert!(originals.len() > 10, "{}", originals.len());
    gateway.stop().await;

    let from = format!("sqlite://{}", database.display());
    let copy = ["store", "copy", "--from", &from, "--to", &target_url];
    let (ok, output) = breachgate(&copy, source.path());
    assert!(ok, "{output}");
    assert!(output.contains("audit chain intact"), "{output}");
    assert!(output.contains("acknowledgements: 2 rows"), "{output}");
    assert!(output.contains("report_drafts: 1 rows"), "{output}");

    // The same data directory (keys) on the copy: the register, each
    // incident with its versions and every notice are the SQLite originals,
    // read with the staff token copied.
    let mut on_postgres = config.clone();
    on_postgres.store.url = target_url.clone();
    let gateway = Gateway::start_with_clock(on_postgres, fixture_clock()).await;
    assert_eq!(read(&gateway, &staff, "/v1/register").await, register);
    assert_eq!(notices(&gateway, &register).await, originals);
    for (incident, detail) in incidents.iter().zip(&details) {
        let path = format!("/v1/incidents/{incident}");
        assert_eq!(&read(&gateway, &staff, &path).await, detail);
    }
    let copied_drafts = drafts::list(&gateway.app.services).await.unwrap();
    assert_eq!(copied_drafts, saved_drafts);
    gateway.stop().await;

    // The target now holds data: a second copy changes nothing and says why.
    let (ok, output) = breachgate(&copy, source.path());
    assert!(!ok, "{output}");
    assert!(
        output.contains("the target database is not empty"),
        "{output}"
    );
    assert!(output.contains("incidents: 2 rows"), "{output}");
}

#[test]
fn a_copy_needs_an_existing_sqlite_source() {
    let dir = TestDir::sqlite_only();
    let missing = format!("sqlite://{}", dir.path().join("none.db").display());
    let to = "postgres://nobody@127.0.0.1:1/none";
    let (ok, output) = breachgate(
        &["store", "copy", "--from", &missing, "--to", to],
        dir.path(),
    );
    assert!(!ok, "{output}");
    assert!(output.contains("no SQLite database at"), "{output}");
    assert!(!dir.path().join("none.db").exists(), "nothing was created");
    let (ok, output) = breachgate(&["store", "copy", "--from", to, "--to", to], dir.path());
    assert!(!ok, "{output}");
    assert!(
        output.contains("the source must be a sqlite: URL"),
        "{output}"
    );
}
