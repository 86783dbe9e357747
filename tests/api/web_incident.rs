//! The incident page and the register in a real browser, continuing the
//! staff flow after filing: a dead delivery (an endpoint answering 500 until
//! the attempts run out) is replayed from the page and then delivered; the
//! staff member supplies the fact the strict client's agreement requires,
//! previews, sends, and the held client's notice reaches its webhook signed
//! (checked by jwcrypto); closing is previewed and sent from the page; the
//! register shows the incident, filters by client
//! and downloads the same CSV as the API. Staff update the facts from the
//! incident's update form (an error next to its field, the preview, then
//! the update reaching the webhook and the mailbox). A client session
//! cannot open these pages. Every page on the way passes axe-core.

use std::sync::Arc;

use breachgate::clock::{ManualClock, SystemClock};
use breachgate::domain::Role;
use chrono::{Duration, Utc};
use serde_json::Value;

use crate::independent_verifiers::python;
use crate::support::browser::Browser;
use crate::support::mime::Part;
use crate::support::receiver::Receiver;
use crate::support::smtp_sink::SmtpSink;
use crate::support::{delivery_config, fixture, Gateway};

/// The client whose agreed profile requires `measures.in_place`.
const STRICT: &str = "consorzio-formazione-emilia";
const STRICT_WEBHOOK: &str = "consorzio-formazione-emilia/protocollo";
/// The endpoint that answers 500 until its delivery is dead.
const FAILING: &str = "formavenir/siem";

/// The delivery of `client`'s notices to webhook `target` and its status.
async fn delivery(
    gateway: &Gateway,
    incident: &str,
    client: &str,
    target: &str,
) -> (String, String) {
    let (_, detail) = gateway
        .get_json(&gateway.staff, &format!("/v1/incidents/{incident}"))
        .await;
    let found = detail["notices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["client_id"] == client)
        .flat_map(|n| n["deliveries"].as_array().unwrap())
        .find(|d| d["target"] == target)
        .unwrap_or_else(|| panic!("{client} has a delivery to {target}: {detail}"));
    (
        found["delivery_id"].as_str().unwrap().to_owned(),
        found["status"].as_str().unwrap().to_owned(),
    )
}

/// The latest notice of `client`.
async fn latest_notice(gateway: &Gateway, incident: &str, client: &str) -> Value {
    let (_, detail) = gateway
        .get_json(&gateway.staff, &format!("/v1/incidents/{incident}"))
        .await;
    detail["notices"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|n| n["client_id"] == client)
        .cloned()
        .unwrap()
}

/// Waits for the incident page's confirmation after a form was sent (the
/// browser follows the redirect after the click returns).
async fn confirmed(browser: &Browser, incident: &str, done: &str) {
    let shown = browser
        .client
        .wait()
        .for_element(fantoccini::Locator::Css("main p.notice[role=status]"))
        .await;
    assert!(shown.is_ok(), "{}", browser.text("main").await);
    assert_eq!(
        browser.path().await,
        format!("/incidents/{incident}?done={done}")
    );
}

#[tokio::test]
async fn staff_replay_a_dead_delivery_supply_a_held_notice_s_fact_and_read_the_register() {
    let receiver = Receiver::start().await;
    let (smtp, _sink) = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start_with(delivery_config(dir.path(), &receiver.base, smtp)).await;
    let (status, filed) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    assert_eq!(status, 201, "{filed}");
    let incident = filed["incident_id"].as_str().unwrap().to_owned();
    let reference = filed["reference"].as_str().unwrap().to_owned();

    // formavenir's SIEM answers 500 until its delivery gives up; the worker
    // runs step by step on a clock moved a day at a time.
    receiver.respond(FAILING, &[500; 40]);
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let worker = gateway.app.worker(clock.clone()).unwrap();
    let (dead_id, mut status) = delivery(&gateway, &incident, "formavenir", "siem").await;
    for _ in 0..20 {
        worker.run_once().await.unwrap();
        status = delivery(&gateway, &incident, "formavenir", "siem").await.1;
        if status == "dead" {
            break;
        }
        clock.advance(Duration::days(1));
    }
    assert_eq!(status, "dead");
    receiver.respond(FAILING, &[]);
    let failed_attempts = receiver.requests(FAILING).len();

    let (email, password) = gateway.account(Role::Staff, None).await;
    let browser = Browser::start(&gateway.base).await;
    browser.sign_in(&email, &password).await;
    browser
        .click(&format!("a[href='/incidents/{incident}']"))
        .await;
    assert_eq!(browser.path().await, format!("/incidents/{incident}"));
    assert!(browser.text("h1").await.contains(&reference));
    browser.check_accessibility().await;

    // The dead delivery with its attempts, and the held notice with its field.
    let row = format!("#delivery-{dead_id}");
    assert_eq!(
        browser
            .find(&row)
            .await
            .attr("data-status")
            .await
            .unwrap()
            .as_deref(),
        Some("dead")
    );
    assert!(browser
        .text(&format!("{row} .attempts"))
        .await
        .contains("(500)"));
    assert!(browser
        .text(&format!("#held-{STRICT}"))
        .await
        .contains("/data/measures/in_place"));
    assert!(browser.has("#facts-form #f-measures-in_place").await);

    // Replayed from the page, the delivery goes out on the worker's next step.
    browser.click(&format!("{row} button.replay")).await;
    confirmed(&browser, &incident, "replayed").await;
    worker.run_once().await.unwrap();
    assert_eq!(receiver.requests(FAILING).len(), failed_attempts + 1);
    assert_eq!(
        delivery(&gateway, &incident, "formavenir", "siem").await.1,
        "delivered"
    );
    browser.open(&format!("/incidents/{incident}")).await;
    assert_eq!(
        browser
            .find(&row)
            .await
            .attr("data-status")
            .await
            .unwrap()
            .as_deref(),
        Some("delivered")
    );

    // The missing fact: previewed (the strict client's notice would now be
    // sent), then sent; its notice reaches its webhook, signed.
    assert!(receiver.requests(STRICT_WEBHOOK).is_empty());
    browser
        .fill(
            "#f-measures-in_place",
            "Bucket policies are reviewed before deployment.",
        )
        .await;
    browser.click("#facts-form button[value=preview]").await;
    assert!(
        browser.has(&format!("#preview-{STRICT} .badge.ok")).await,
        "{}",
        browser.text("main").await
    );
    assert_eq!(
        latest_notice(&gateway, &incident, STRICT).await["status"],
        "held",
        "a preview sends nothing"
    );
    browser.check_accessibility().await;
    browser.screenshot("incident-preview").await;
    browser.click("#file").await;
    confirmed(&browser, &incident, "sent").await;
    let released = latest_notice(&gateway, &incident, STRICT).await;
    assert_eq!(released["status"], "queued", "{released}");
    assert_eq!(released["type"], "breach.notice.initial", "{released}");
    assert!(
        !browser.has("#facts-form").await,
        "nothing is held any more"
    );
    browser.check_accessibility().await;
    browser.screenshot("incident").await;

    clock.advance(Duration::minutes(1));
    worker.run_once().await.unwrap();
    let received = receiver
        .requests(STRICT_WEBHOOK)
        .pop()
        .expect("the held client's notice arrived");
    let notice_file = dir.path().join("released.json");
    let jws_file = dir.path().join("released.jws");
    std::fs::write(&notice_file, &received.body).unwrap();
    std::fs::write(&jws_file, received.header("breachgate-notice-jws")).unwrap();
    let jwks_url = gateway.url("/.well-known/jwks.json");
    let (notice, jws) = (
        notice_file.display().to_string(),
        jws_file.display().to_string(),
    );
    tokio::task::spawn_blocking(move || python("verify_jws.py", &[&jwks_url, &notice, &jws]))
        .await
        .unwrap();

    // The register: the incident's clients, a filter, and the API's CSV.
    browser.click("header nav a[href='/register']").await;
    browser.check_accessibility().await;
    let rows =
        |client: &'static str| format!("tr[data-incident='{reference}'][data-client='{client}']");
    assert!(browser.has(&rows(STRICT)).await);
    assert!(browser.has(&rows("formavenir")).await);
    let csv_link = browser
        .find("#register-csv")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let downloaded = browser.fetch_text(&csv_link).await;
    let api_csv = gateway.register_csv().await;
    assert_eq!(downloaded, api_csv);
    assert!(api_csv.contains(&reference));

    browser.fill("#filter-client", STRICT).await;
    browser.click("form.filters button[type=submit]").await;
    assert!(browser.has(&rows(STRICT)).await);
    assert!(!browser.has(&rows("formavenir")).await);
    browser.check_accessibility().await;

    // Retracting needs a reason, named next to the form; closing is
    // previewed, then sends every client its final notice.
    browser.open(&format!("/incidents/{incident}")).await;
    browser.click("#retract-form button[value=preview]").await;
    assert!(browser
        .text(".error-summary")
        .await
        .contains("Retraction reason"));
    browser.check_accessibility().await;
    browser.click("#close-form button[value=preview]").await;
    assert!(browser.has(&format!("#preview-{STRICT}")).await);
    assert_eq!(
        latest_notice(&gateway, &incident, STRICT).await["type"],
        "breach.notice.initial",
        "a preview sends nothing"
    );
    browser.click("#file").await;
    confirmed(&browser, &incident, "closed").await;
    assert!(
        !browser.has("#close-form").await,
        "a closed incident has no forms"
    );
    let closed = latest_notice(&gateway, &incident, STRICT).await;
    assert_eq!(closed["type"], "breach.notice.final", "{closed}");

    browser.stop().await;
    gateway.stop().await;
}

#[tokio::test]
async fn a_client_session_cannot_open_the_staff_pages() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(dir.path()).await;
    let (_, filed) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    let incident = filed["incident_id"].as_str().unwrap();
    let (email, password) = gateway.account(Role::Client, Some("formavenir")).await;
    let browser = Browser::start(&gateway.base).await;
    browser.sign_in(&email, &password).await;
    for page in [
        format!("/incidents/{incident}"),
        "/register".to_owned(),
        "/register.csv".to_owned(),
        "/".to_owned(),
    ] {
        browser.open(&page).await;
        assert_eq!(browser.text("h1").await, "Not allowed", "{page}");
        assert!(!browser.text("main").await.contains(incident), "{page}");
    }
    browser.stop().await;
    gateway.stop().await;
}

#[tokio::test]
async fn staff_update_the_facts_from_the_incident_page_previewed_before_sending() {
    let receiver = Receiver::start().await;
    let (smtp, sink) = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start_with(delivery_config(dir.path(), &receiver.base, smtp)).await;
    let worker = gateway.app.worker(Arc::new(SystemClock)).unwrap();
    let (status, filed) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    assert_eq!(status, 201, "{filed}");
    let incident = filed["incident_id"].as_str().unwrap().to_owned();
    worker.run_once().await.unwrap();
    let (webhooks, emails) = (receiver.all_requests().len(), sink.count());

    let (email, password) = gateway.account(Role::Staff, None).await;
    let browser = Browser::start(&gateway.base).await;
    browser.sign_in(&email, &password).await;
    browser.open(&format!("/incidents/{incident}")).await;
    browser.click("#update-link").await;
    assert_eq!(
        browser.path().await,
        format!("/incidents/{incident}/update")
    );
    // The form starts from the facts as they stand.
    let summary = browser
        .find("#f-summary")
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        summary.as_deref(),
        fixture("report-lms.json")["summary"].as_str()
    );
    browser.check_accessibility().await;

    // A count that is no number is refused next to its field, input kept.
    browser.fill("#f-data_subjects-count-min", "many").await;
    browser.click("#update-form button[value=preview]").await;
    assert!(
        browser.has("#f-data_subjects-count-min-error").await,
        "{}",
        browser.text("main").await
    );
    let kept = browser
        .find("#f-data_subjects-count-min")
        .await
        .prop("value")
        .await
        .unwrap();
    assert_eq!(kept.as_deref(), Some("many"));
    browser.check_accessibility().await;

    // Revised counts and a measure taken: previewed, nothing sent yet.
    browser.fill("#f-data_subjects-count-min", "40").await;
    browser.fill("#f-data_subjects-count-max", "60").await;
    browser
        .select("#f-data_subjects-count-precision", "approximate")
        .await;
    let taken = browser
        .find("#f-measures-taken")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    browser
        .fill(
            "#f-measures-taken",
            &format!("{taken}\nEvery affected user was asked to reset their password."),
        )
        .await;
    browser.click("#update-form button[value=preview]").await;
    assert!(
        browser.has("#preview-formavenir .badge.ok").await,
        "{}",
        browser.text("main").await
    );
    assert!(browser.has(&format!("#preview-{STRICT} .badge.held")).await);
    assert!(browser
        .text("#preview-formavenir")
        .await
        .contains("Update."));
    assert_eq!(
        latest_notice(&gateway, &incident, "formavenir").await["type"],
        "breach.notice.initial",
        "a preview sends nothing"
    );
    browser.check_accessibility().await;
    browser.screenshot("incident-update-preview").await;

    browser.click("#file").await;
    confirmed(&browser, &incident, "updated").await;
    browser.check_accessibility().await;
    let update = latest_notice(&gateway, &incident, "formavenir").await;
    assert_eq!(update["type"], "breach.notice.update", "{update}");

    // The follow-up reaches the webhook and the mailbox.
    worker.run_once().await.unwrap();
    let updates = receiver
        .requests("formavenir/siem")
        .into_iter()
        .filter(|r| {
            let notice: Value = serde_json::from_slice(&r.body).unwrap();
            notice["type"] == "breach.notice.update"
        })
        .count();
    assert_eq!(updates, 1);
    assert!(receiver.all_requests().len() > webhooks);
    let mailed_updates = sink.received()[emails..]
        .iter()
        .map(|mail| {
            let notice: Value = Part::parse(&mail.data).notice();
            (
                notice["type"].as_str().unwrap().to_owned(),
                notice["data"]["controller"]["client_id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .filter(|(kind, client)| kind == "breach.notice.update" && client == "formavenir")
        .count();
    assert_eq!(mailed_updates, 1);

    browser.stop().await;
    gateway.stop().await;
}
