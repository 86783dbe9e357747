//! The staff pages in a real browser against a real gateway: setting a
//! password through the one-time link, signing in, the report form with its
//! errors and preview, filing, the board's countdowns, and the notices
//! reaching the loopback webhook receiver and the SMTP sink; the form's
//! repeating rows (figures per client, parties informed) without
//! JavaScript. Every page on the way passes axe-core.

use std::sync::Arc;

use breachgate::domain::Role;

use crate::support::browser::Browser;
use crate::support::receiver::Receiver;
use crate::support::smtp_sink::SmtpSink;
use crate::support::{delivery_config, Gateway};

const PASSWORD: &str = "correct horse battery staple";
/// The client whose agreed profile requires `measures.in_place`.
const STRICT: &str = "consorzio-formazione-emilia";

#[tokio::test]
async fn staff_files_a_report_from_the_form_and_watches_the_countdowns_on_the_board() {
    let receiver = Receiver::start().await;
    let (smtp, sink) = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start_with(delivery_config(dir.path(), &receiver.base, smtp)).await;
    let email = "sanne@processor.example";
    let link = gateway.setup_link(Role::Staff, None, email).await;
    let browser = Browser::start(&gateway.base).await;

    browser.open(&link).await;
    browser.check_accessibility().await;
    browser.fill("#password", PASSWORD).await;
    browser.fill("#confirm", PASSWORD).await;
    browser.click("main form button[type=submit]").await;
    assert_eq!(browser.path().await, "/sign-in?password_set=true");
    browser.check_accessibility().await;

    browser.sign_in(email, PASSWORD).await;
    assert_eq!(browser.path().await, "/");
    let session = browser.cookie("bg_session").await;
    assert_eq!(session.http_only(), Some(true));
    assert_eq!(
        session.same_site().map(|s| s.to_string()).as_deref(),
        Some("Strict")
    );
    assert!(browser.text("main").await.contains("No open incidents."));
    browser.check_accessibility().await;

    // An empty form: the errors sit next to their fields.
    browser.click("header nav a[href='/reports/new']").await;
    assert_eq!(
        browser
            .find("#f-reporter-email")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some(email)
    );
    browser.click("button[value=preview]").await;
    assert!(browser
        .text(".error-summary")
        .await
        .contains("Please correct"));
    assert!(
        browser.has("#f-summary-error").await,
        "{}",
        browser.text(".error-summary").await
    );
    browser.check_accessibility().await;
    browser.screenshot("report-form-errors").await;

    fill_the_lms_report(&browser).await;

    // Preview: every affected client, the strict one's notice held with its field.
    browser.click("button[value=preview]").await;
    assert!(
        !browser.has(".error-summary").await,
        "{}",
        browser.text("main").await
    );
    assert!(browser.has(&format!("#preview-{STRICT} .badge.held")).await);
    assert!(browser
        .text(&format!("#preview-{STRICT} .held-fields"))
        .await
        .contains("/data/measures/in_place"));
    let previewed = browser
        .client
        .find_all(fantoccini::Locator::Css(".preview-client"))
        .await
        .unwrap()
        .len();
    assert!(previewed > 2, "the LMS affects several clients");
    assert!(browser.has("#preview-formavenir summary").await);
    assert!(
        browser
            .text("#preview-formavenir summary")
            .await
            .contains(" fr:"),
        "formavenir reads French"
    );
    assert_eq!(gateway.incident_count().await, 0, "a preview files nothing");
    browser.check_accessibility().await;
    browser.screenshot("report-preview").await;

    browser.click("#file").await;
    assert!(
        browser.path().await.starts_with("/?filed=BG-"),
        "{}",
        browser.path().await
    );
    assert_eq!(gateway.incident_count().await, 1);
    let (_, incidents) = gateway.get_json(&gateway.staff, "/v1/incidents").await;
    let id = incidents["incidents"][0]["id"].as_str().unwrap().to_owned();
    let (_, incident) = gateway
        .get_json(&gateway.staff, &format!("/v1/incidents/{id}"))
        .await;
    let notices = incident["notices"].as_array().unwrap();
    assert_eq!(notices.len(), previewed);
    for notice in notices {
        let client = notice["client_id"].as_str().unwrap();
        let row = format!("tr[data-client='{client}']");
        if client == STRICT {
            assert!(browser.has(&format!("{row} .badge.held")).await);
        }
        assert!(
            browser.text(&row).await.contains(" left"),
            "{client} has its countdown"
        );
        assert!(
            browser.has(&format!("{row} .badge.ok")).await,
            "an hour into the window is early"
        );
    }
    browser.check_accessibility().await;
    browser.screenshot("board").await;

    // The worker sends the queued notices: every webhook and every email.
    let channel_count = |channel: &str| {
        notices
            .iter()
            .flat_map(|n| n["deliveries"].as_array().unwrap())
            .filter(|d| d["channel"] == channel)
            .count()
    };
    let worker = gateway
        .app
        .worker(Arc::new(breachgate::clock::SystemClock))
        .unwrap();
    worker.run_once().await.unwrap();
    assert_eq!(receiver.all_requests().len(), channel_count("webhook"));
    assert_eq!(sink.count(), channel_count("email"));
    assert!(channel_count("webhook") > 0 && channel_count("email") > 0);

    browser.open("/").await;
    for notice in notices.iter().filter(|n| n["client_id"] != STRICT) {
        let row = format!(
            "tr[data-client='{}']",
            notice["client_id"].as_str().unwrap()
        );
        assert!(browser.text(&row).await.contains("notified"));
    }

    browser.stop().await;
    gateway.stop().await;
}

/// Fills the report form with a breach of the LMS an hour ago: what every
/// report needs, and nothing per client.
async fn fill_the_lms_report(browser: &Browser) {
    let aware = (chrono::Utc::now() - chrono::Duration::hours(1))
        .format("%Y-%m-%d %H:%M")
        .to_string();
    browser.fill("#f-summary", "The export bucket of the learning platform allowed anonymous reads for about 63 hours.").await;
    browser
        .select("#f-category", "unauthorised_disclosure")
        .await;
    browser.click("#f-nature-confidentiality").await;
    browser
        .fill(
            "#f-discovery",
            "A security researcher reported it through security.txt.",
        )
        .await;
    browser
        .fill("#f-location", "Object-storage bucket lms-exports-prod.")
        .await;
    browser.select("#f-cause-origin", "internal").await;
    browser
        .fill(
            "#f-cause-description",
            "A refactoring dropped the bucket policy.",
        )
        .await;
    browser.fill("#f-became_aware_at", &aware).await;
    browser.click("#f-affected-systems-lms").await;
    for category in ["identification", "contact", "education"] {
        browser
            .click(&format!("#f-personal_data-categories-{category}"))
            .await;
    }
    browser
        .select("#f-personal_data-protection-state", "none")
        .await;
    browser
        .click("#f-data_subjects-categories-not_yet_known")
        .await;
    browser.click("#f-likely_consequences-phishing").await;
    browser
        .fill(
            "#f-measures-taken",
            "Anonymous access was revoked.\nDownload links were invalidated.",
        )
        .await;
    browser
        .fill(
            "#f-measures-proposed",
            "Block public buckets in the deployment pipeline.",
        )
        .await;
    browser.fill("#f-reporter-name", "Sanne de Wit").await;
}

/// Two clients' own figures and three parties informed, each row added with
/// the form's button (a plain submit: no JavaScript), reach the notices.
/// A row's error sits beside its field with the input kept.
#[tokio::test]
async fn staff_adds_rows_for_per_client_figures_and_notified_parties() {
    let receiver = Receiver::start().await;
    let (smtp, _sink) = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start_with(delivery_config(dir.path(), &receiver.base, smtp)).await;
    let email = "sanne@processor.example";
    let link = gateway.setup_link(Role::Staff, None, email).await;
    let browser = Browser::start(&gateway.base).await;
    browser.open(&link).await;
    browser.fill("#password", PASSWORD).await;
    browser.fill("#confirm", PASSWORD).await;
    browser.click("main form button[type=submit]").await;
    browser.sign_in(email, PASSWORD).await;

    browser.open("/reports/new").await;
    fill_the_lms_report(&browser).await;
    let add_client = "button[name=add_row][value='/affected/per_client']";
    let add_party = "button[name=add_row][value='/notified_parties']";
    let row = |pointer: &str| format!("#f{}", pointer.replace('/', "-"));

    browser
        .fill(&row("/affected/per_client/0/client_id"), "formavenir")
        .await;
    browser
        .fill(
            &row("/affected/per_client/0/data_subjects/count/min"),
            "120",
        )
        .await;
    browser
        .fill(
            &row("/affected/per_client/0/data_subjects/count/max"),
            "120",
        )
        .await;
    browser
        .select(
            &row("/affected/per_client/0/data_subjects/count/precision"),
            "exact",
        )
        .await;
    browser
        .click(&row(
            "/affected/per_client/0/data_subjects/categories/students",
        ))
        .await;
    browser
        .fill(&row("/affected/per_client/0/countries"), "FR")
        .await;
    assert!(!browser.has(&row("/affected/per_client/1/client_id")).await);
    browser.click(add_client).await;
    assert_eq!(browser.path().await, "/reports/new");
    assert!(
        !browser.has(".error-summary").await,
        "{}",
        browser.text("main").await
    );
    assert_eq!(
        value(
            &browser,
            &row("/affected/per_client/0/data_subjects/count/min")
        )
        .await,
        "120"
    );
    assert!(
        !value(&browser, &row("/summary")).await.is_empty(),
        "the report is kept"
    );
    assert!(browser
        .find(&row(
            "/affected/per_client/0/data_subjects/categories/students"
        ))
        .await
        .prop("checked")
        .await
        .unwrap()
        .is_some_and(|c| c == "true"));
    browser.check_accessibility().await;

    // The second client's count is not a number: the error is beside it.
    browser
        .fill(
            &row("/affected/per_client/1/client_id"),
            "harbourview-housing",
        )
        .await;
    browser
        .fill(
            &row("/affected/per_client/1/data_subjects/count/min"),
            "about 50",
        )
        .await;
    browser
        .fill(&row("/affected/per_client/1/data_subjects/count/max"), "51")
        .await;

    for (i, (kind, name)) in [
        ("police", "Politie Eenheid Amsterdam"),
        ("csirt", "NCSC"),
        ("supervisory_authority", "Autoriteit Persoonsgegevens"),
    ]
    .into_iter()
    .enumerate()
    {
        if i > 0 {
            browser.click(add_party).await;
            assert_eq!(
                value(&browser, &row(&format!("/notified_parties/{}/name", i - 1))).await,
                if i == 1 {
                    "Politie Eenheid Amsterdam"
                } else {
                    "NCSC"
                }
            );
        }
        let focused = browser
            .client
            .execute("return document.activeElement.id;", vec![])
            .await
            .unwrap();
        if i > 0 {
            assert_eq!(
                focused,
                row(&format!("/notified_parties/{i}/type"))[1..],
                "the row added has the focus"
            );
        }
        browser
            .select(&row(&format!("/notified_parties/{i}/type")), kind)
            .await;
        browser
            .fill(&row(&format!("/notified_parties/{i}/name")), name)
            .await;
    }
    browser
        .fill(&row("/notified_parties/2/country"), "NL")
        .await;

    browser.click("button[value=preview]").await;
    let min = row("/affected/per_client/1/data_subjects/count/min");
    assert!(
        browser.has(&format!("{min}-error")).await,
        "{}",
        browser.text(".error-summary").await
    );
    assert_eq!(value(&browser, &min).await, "about 50", "the input is kept");
    assert!(
        browser
            .has(&format!(".error-summary a[href='{min}']"))
            .await
    );
    assert_eq!(
        value(&browser, &row("/notified_parties/2/name")).await,
        "Autoriteit Persoonsgegevens"
    );
    assert_eq!(gateway.incident_count().await, 0);
    browser.check_accessibility().await;
    browser.screenshot("report-form-row-error").await;

    browser.fill(&min, "51").await;
    browser
        .select(
            &row("/affected/per_client/1/data_subjects/count/precision"),
            "exact",
        )
        .await;
    browser.click("button[value=preview]").await;
    assert!(
        !browser.has(".error-summary").await,
        "{}",
        browser.text("main").await
    );
    browser.check_accessibility().await;
    browser.click("#file").await;
    assert!(browser.path().await.starts_with("/?filed=BG-"));

    let (_, incidents) = gateway.get_json(&gateway.staff, "/v1/incidents").await;
    let id = incidents["incidents"][0]["id"].as_str().unwrap().to_owned();
    let (_, incident) = gateway
        .get_json(&gateway.staff, &format!("/v1/incidents/{id}"))
        .await;
    let parties = serde_json::json!([
        {"type": "police", "name": "Politie Eenheid Amsterdam"},
        {"type": "csirt", "name": "NCSC"},
        {"type": "supervisory_authority", "name": "Autoriteit Persoonsgegevens", "country": "NL"}
    ]);
    for (client, people) in [("formavenir", 120), ("harbourview-housing", 51)] {
        let notice = incident["notices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["client_id"] == client)
            .unwrap_or_else(|| panic!("{client} is affected: {incident}"));
        let (bytes, _) = gateway
            .notice_bytes(&id, notice["notice_id"].as_str().unwrap())
            .await;
        let notice: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let data = &notice["data"];
        assert_eq!(
            data["data_subjects"]["count"],
            serde_json::json!({"min": people, "max": people, "precision": "exact", "basis": "client_specific"}),
            "{client}"
        );
        assert_eq!(data["notified_parties"], parties, "{client}");
    }

    // The update form shows them as rows again.
    browser.open(&format!("/incidents/{id}/update")).await;
    assert_eq!(
        value(&browser, &row("/notified_parties/2/name")).await,
        "Autoriteit Persoonsgegevens"
    );
    let clients = [
        value(&browser, &row("/affected/per_client/0/client_id")).await,
        value(&browser, &row("/affected/per_client/1/client_id")).await,
    ];
    assert!(
        clients.contains(&"harbourview-housing".to_owned()),
        "{clients:?}"
    );
    browser.check_accessibility().await;

    // The webhooks carry them too.
    let worker = gateway
        .app
        .worker(Arc::new(breachgate::clock::SystemClock))
        .unwrap();
    worker.run_once().await.unwrap();
    let sent = receiver.all_requests();
    assert!(!sent.is_empty());
    for request in sent {
        let body = String::from_utf8_lossy(&request.body);
        assert!(
            body.contains("Autoriteit Persoonsgegevens"),
            "{}",
            request.path
        );
    }

    browser.stop().await;
    gateway.stop().await;
}

/// The value of the input `css`.
async fn value(browser: &Browser, css: &str) -> String {
    browser
        .find(css)
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default()
}
