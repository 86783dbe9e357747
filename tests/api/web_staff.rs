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

    let aware = (chrono::Utc::now() - chrono::Duration::hours(1))
        .format("%Y-%m-%d %H:%M")
        .to_string();
    let summary =
        "The export bucket of the learning platform allowed anonymous reads for about 63 hours.";
    let what = [
        "unauthorised_disclosure",
        "identification",
        "contact",
        "education",
    ];
    fill_what_happened(&browser, summary, &aware, what).await;
    browser.click("#f-likely_consequences-phishing").await;
    browser
        .fill(
            "#f-measures-taken",
            "Anonymous access was revoked.\nDownload links were invalidated.",
        )
        .await;
    fill_how_and_who(
        &browser,
        [
            "A security researcher reported it through security.txt.",
            "Object-storage bucket lms-exports-prod.",
            "A refactoring dropped the bucket policy.",
            "Block public buckets in the deployment pipeline.",
        ],
    )
    .await;

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

#[tokio::test]
async fn a_draft_saved_part_way_is_resumed_after_signing_in_again_and_goes_once_filed() {
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let (email, password) = gateway.account(Role::Staff, None).await;
    let browser = Browser::start(&gateway.base).await;
    browser.sign_in(&email, &password).await;
    let aware = (chrono::Utc::now() - chrono::Duration::hours(1))
        .format("%Y-%m-%d %H:%M")
        .to_string();

    // Part-way, and with a count that is no number: saved unchecked.
    browser.open("/reports/new").await;
    assert!(!browser.has("#draft-list").await, "no drafts yet");
    let summary = "Payroll exports were mailed to the wrong school.";
    let what = ["misdelivery", "identification", "employment"];
    fill_what_happened(&browser, summary, &aware, what).await;
    browser
        .fill("#f-personal_data-records-min", "about forty")
        .await;
    browser
        .fill(
            "#f-measures-taken",
            "Asked the school to delete them.\nRecalled the mail.",
        )
        .await;
    browser.click("#save-draft").await;
    assert!(
        browser.path().await.contains("done=saved"),
        "{}",
        browser.path().await
    );
    assert!(browser.text("[role=status]").await.contains("Draft saved"));
    assert!(
        !browser.has(".error-summary").await,
        "a save checks nothing"
    );
    assert_eq!(gateway.incident_count().await, 0);
    let draft = browser
        .find("input[name=draft_id]")
        .await
        .prop("value")
        .await
        .unwrap()
        .expect("the form names its draft");
    browser.check_accessibility().await;

    // A second, empty draft, discarded from the list.
    browser.open("/reports/new").await;
    browser.click("#save-draft").await;
    let discard = "tr:not([data-draft='DRAFT']) button.discard".replace("DRAFT", &draft);
    assert!(browser
        .text("#draft-list")
        .await
        .contains("(no summary yet)"));
    browser.click(&discard).await;
    assert!(browser
        .text("[role=status]")
        .await
        .contains("Draft discarded"));
    assert_eq!(
        browser
            .client
            .find_all(fantoccini::Locator::Css("#draft-list tbody tr"))
            .await
            .unwrap()
            .len(),
        1
    );

    // Signed out and in again, the draft is on the board and on the New
    // report page, and fills the form as typed.
    browser.click("form.sign-out button").await;
    browser.sign_in(&email, &password).await;
    assert!(browser.text("#board-drafts").await.contains(summary));
    browser.check_accessibility().await;
    browser.click("header nav a[href='/reports/new']").await;
    let row = format!("#draft-list tr[data-draft='{draft}']");
    assert!(browser.text(&row).await.contains(summary));
    assert!(browser.text(&row).await.contains(&email));
    browser.check_accessibility().await;
    browser.screenshot("report-drafts").await;
    browser.click(&format!("{row} a")).await;
    let b = &browser;
    let value = move |css: &'static str| async move {
        b.find(css)
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
    };
    let checked =
        move |css: &'static str| async move { b.find(css).await.is_selected().await.unwrap() };
    assert_eq!(value("#f-summary").await, summary);
    assert_eq!(value("#f-category").await, "misdelivery");
    assert_eq!(value("#f-became_aware_at").await, aware);
    assert_eq!(value("#f-personal_data-records-min").await, "about forty");
    assert_eq!(
        value("#f-measures-taken").await,
        "Asked the school to delete them.\nRecalled the mail."
    );
    assert_eq!(value("#f-reporter-email").await, email);
    assert!(checked("#f-nature-confidentiality").await);
    assert!(checked("#f-affected-systems-lms").await);
    assert!(checked("#f-personal_data-categories-employment").await);
    assert!(!checked("#f-personal_data-categories-contact").await);

    // Completed, previewed and filed: the draft is gone.
    browser.fill("#f-personal_data-records-min", "").await;
    fill_how_and_who(
        &browser,
        [
            "The school called us.",
            "The payroll mail run.",
            "A stale mailing list.",
            "Check recipients twice.",
        ],
    )
    .await;
    browser.click("button[value=preview]").await;
    assert!(
        !browser.has(".error-summary").await,
        "{}",
        browser.text(".error-summary").await
    );
    assert_eq!(
        value("input[name=draft_id]").await,
        draft,
        "the preview keeps the draft"
    );
    browser.click("#file").await;
    assert!(
        browser.path().await.starts_with("/?filed=BG-"),
        "{}",
        browser.path().await
    );
    assert_eq!(gateway.incident_count().await, 1);
    assert!(
        !browser.has("#board-drafts").await,
        "the filed draft is gone"
    );
    browser.open("/reports/new").await;
    assert!(!browser.has("#draft-list").await);
    browser.open(&format!("/reports/new?draft={draft}")).await;
    assert!(browser.text("main").await.contains("there is no such page"));

    browser.stop().await;
    gateway.stop().await;
}

/// Fills what happened: the `summary`, the kind of breach and the
/// categories of personal data (`what`: the kind first), a breach of
/// confidentiality, on the LMS, of which staff became `aware`.
async fn fill_what_happened(
    browser: &Browser,
    summary: &str,
    aware: &str,
    what: impl IntoIterator<Item = &str>,
) {
    let mut what = what.into_iter();
    browser.fill("#f-summary", summary).await;
    browser
        .select("#f-category", what.next().expect("a kind of breach"))
        .await;
    browser.click("#f-nature-confidentiality").await;
    browser.fill("#f-became_aware_at", aware).await;
    browser.click("#f-affected-systems-lms").await;
    for category in what {
        browser
            .click(&format!("#f-personal_data-categories-{category}"))
            .await;
    }
}

/// Fills how it was discovered, where it happened, its (internal) cause
/// and the measure proposed, from `texts` in that order; the data was
/// unprotected, the people are not yet known, and Sanne de Wit reports.
async fn fill_how_and_who(browser: &Browser, texts: [&str; 4]) {
    let [discovery, location, cause, proposed] = texts;
    browser.fill("#f-discovery", discovery).await;
    browser.fill("#f-location", location).await;
    browser.select("#f-cause-origin", "internal").await;
    browser.fill("#f-cause-description", cause).await;
    browser
        .select("#f-personal_data-protection-state", "none")
        .await;
    browser
        .click("#f-data_subjects-categories-not_yet_known")
        .await;
    browser.fill("#f-measures-proposed", proposed).await;
    browser.fill("#f-reporter-name", "Sanne de Wit").await;
}

/// Two members of staff on one draft: the second save from the same
/// revision keeps both versions, and a stale discard does nothing.
#[tokio::test]
async fn a_draft_saved_over_by_a_colleague_meanwhile_is_kept_beside_theirs() {
    use breachgate::service::{accounts, drafts};
    let dir = crate::support::test_dir();
    let gateway = Gateway::start(dir.path()).await;
    let services = &gateway.app.services;
    let mut callers = Vec::new();
    for _ in 0..2 {
        let (email, password) = gateway.account(Role::Staff, None).await;
        let settings = &gateway.app.config.accounts;
        let signed_in = accounts::sign_in(services, settings, &email, &password, "::1")
            .await
            .unwrap();
        callers.push(signed_in.session.caller);
    }
    let typed = |summary: &str| [("/summary".to_owned(), vec![summary.to_owned()])].into();
    let key = ulid::Ulid::new().to_string();
    let first = drafts::save(services, &callers[0], None, typed("Ana's start"), &key)
        .await
        .unwrap();
    assert!(!first.separate);
    let opened = drafts::DraftRevision {
        id: first.id.clone(),
        revision: 1,
    };
    let bo = drafts::save(
        services,
        &callers[1],
        Some(&opened),
        typed("Bo's take"),
        &key,
    )
    .await
    .unwrap();
    assert_eq!((bo.id.as_str(), bo.separate), (first.id.as_str(), false));
    let ana = drafts::save(
        services,
        &callers[0],
        Some(&opened),
        typed("Ana's end"),
        &key,
    )
    .await
    .unwrap();
    assert!(ana.separate);
    assert_ne!(ana.id, first.id);
    let listed = drafts::list(services).await.unwrap();
    let summaries: Vec<&str> = listed
        .iter()
        .map(|d| d.fields["/summary"][0].as_str())
        .collect();
    assert_eq!(summaries, ["Ana's end", "Bo's take"]);
    assert!(
        !drafts::delete(services, &opened).await.unwrap(),
        "Bo saved it since"
    );
    assert_eq!(drafts::list(services).await.unwrap().len(), 2);
    gateway.stop().await;
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
    let aware = (chrono::Utc::now() - chrono::Duration::hours(1))
        .format("%Y-%m-%d %H:%M")
        .to_string();
    let what = [
        "unauthorised_disclosure",
        "identification",
        "contact",
        "education",
    ];
    fill_what_happened(
        &browser,
        "The export bucket was readable by anyone.",
        &aware,
        what,
    )
    .await;
    fill_how_and_who(
        &browser,
        [
            "A security researcher reported it through security.txt.",
            "Object-storage bucket lms-exports-prod.",
            "A refactoring dropped the bucket policy.",
            "Block public buckets in the deployment pipeline.",
        ],
    )
    .await;
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
