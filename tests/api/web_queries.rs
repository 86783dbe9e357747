//! The staff pages over a large incident, in a real browser: an incident of
//! 1,200 clients shows its counts per status and its clients 100 a page,
//! every client on exactly one page; the board shows 100 of them and links
//! to the rest;
//! closing it (a follow-up above the answer's listing threshold, prepared a
//! chunk of clients at a time) answers with counts and `clients_url`, and
//! the pages then show each client's two notices. And the register page,
//! filtered in SQL, and its CSV choose the rows that filtering the whole
//! register (the API's CSV) would.

use std::collections::BTreeSet;

use breachgate::domain::Role;
use serde_json::Value;

use crate::support::browser::Browser;
use crate::support::{fixture, synthetic, test_config, Gateway};

/// Above the answer's listing threshold (1,000) and twelve pages of clients.
const CLIENTS: usize = 1_200;

/// The ids of the clients the incident page shows.
async fn clients_on_page(browser: &Browser) -> Vec<String> {
    let ids = browser
        .client
        .execute(
            "return Array.from(document.querySelectorAll('article.incident-client'))
                 .map(a => [a.id.slice('client-'.length), a.querySelectorAll('.notice-entry').length]);",
            vec![],
        )
        .await
        .unwrap();
    ids.as_array()
        .unwrap()
        .iter()
        .map(|pair| format!("{} {}", pair[0].as_str().unwrap(), pair[1]))
        .collect()
}

/// Every client the incident page shows, page after page, each with how
/// many notices it has; and how many pages there were.
async fn every_client_shown(browser: &Browser, incident: &str) -> (Vec<String>, usize) {
    browser.open(&format!("/incidents/{incident}")).await;
    let mut shown = Vec::new();
    let mut pages = 0;
    loop {
        let page = clients_on_page(browser).await;
        assert!(page.len() <= 100, "a page shows at most 100 clients");
        shown.extend(page);
        pages += 1;
        if !browser.has("#next-clients").await {
            return (shown, pages);
        }
        browser.click("#next-clients").await;
    }
}

#[tokio::test]
async fn a_large_incident_is_shown_a_page_of_clients_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let contracts = dir.path().join("contracts");
    synthetic::write_contracts(&contracts, CLIENTS, None, 1);
    let gateway = Gateway::start_with(test_config(&dir.path().join("data"), &contracts)).await;
    let (status, filed) = gateway
        .post_report(&gateway.staff, &synthetic::report())
        .await;
    assert_eq!(status, 201, "{filed}");
    let incident = filed["incident_id"].as_str().unwrap().to_owned();
    let expected: Vec<String> = (0..CLIENTS).map(|i| format!("client-{i:06}")).collect();

    let (email, password) = gateway.account(Role::Staff, None).await;
    let browser = Browser::start(&gateway.base).await;
    browser.sign_in(&email, &password).await;
    let on_board = browser
        .client
        .execute(
            "return document.querySelectorAll('tr[data-client]').length;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(on_board, Value::from(100), "the board shows 100 clients");
    assert!(browser
        .text("#more-clients-1")
        .await
        .starts_with("100 of 1200 clients shown"));

    browser.open(&format!("/incidents/{incident}")).await;
    assert!(
        browser.text("#counts").await.contains("1200 clients"),
        "{}",
        browser.text("#counts").await
    );
    assert_eq!(browser.text("[data-notices=queued]").await, "1200 queued");
    assert!(!browser.has("[data-notices=held]").await);
    browser.check_accessibility().await;
    let (shown, pages) = every_client_shown(&browser, &incident).await;
    assert_eq!(pages, 12);
    let once: Vec<String> = expected.iter().map(|c| format!("{c} 1")).collect();
    assert_eq!(shown, once, "every client once, in id order");

    // Closing: a follow-up of 1,200 clients answers with counts.
    let (status, closed) = gateway.close_incident(&incident).await;
    assert_eq!(status, 201, "{closed}");
    assert_eq!(closed["notices"], CLIENTS);
    assert_eq!(closed["queued"], CLIENTS);
    assert_eq!(closed["held_notices"], Value::Array(Vec::new()));
    assert!(closed.get("clients").is_none());
    assert_eq!(
        closed["clients_url"],
        format!("/v1/incidents/{incident}/clients")
    );
    let (shown, _) = every_client_shown(&browser, &incident).await;
    let twice: Vec<String> = expected.iter().map(|c| format!("{c} 2")).collect();
    assert_eq!(shown, twice, "every client's initial and final notice");
    assert_eq!(browser.text("[data-notices=queued]").await, "2400 queued");

    browser.stop().await;
    gateway.stop().await;
}

/// The register CSV's rows (after its header) whose cells pass `keep`.
fn rows(csv: &str, keep: impl Fn(&[String]) -> bool) -> Vec<Vec<String>> {
    csv::Reader::from_reader(csv.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect::<Vec<_>>())
        .filter(|r| keep(r))
        .collect()
}

#[tokio::test]
async fn the_register_page_chooses_the_rows_the_whole_register_has() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(dir.path()).await;
    let (_, open) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    let mut later = fixture("report-subprocessor.json");
    later["became_aware_at"] = "2026-11-25T07:30:00Z".into();
    let (status, closed) = gateway.post_report(&gateway.staff, &later).await;
    assert_eq!(status, 201, "{closed}");
    let (status, _) = gateway
        .close_incident(closed["incident_id"].as_str().unwrap())
        .await;
    assert_eq!(status, 201);
    let whole = gateway.register_csv().await;
    let open_ref = open["reference"].as_str().unwrap().to_owned();
    let closed_ref = closed["reference"].as_str().unwrap().to_owned();
    // Columns: reference, incident_id, became_aware_at, client_id, …
    type Keep = Box<dyn Fn(&[String]) -> bool>;
    let client = |id: &'static str| -> Keep { Box::new(move |r: &[String]| r[3] == id) };
    let reference = |rf: String| -> Keep { Box::new(move |r: &[String]| r[0] == rf) };
    let cases: Vec<(&str, Keep)> = vec![
        ("", Box::new(|_: &[String]| true)),
        ("client=formavenir", client("formavenir")),
        ("client=nobody", Box::new(|_: &[String]| false)),
        ("status=closed", reference(closed_ref.clone())),
        ("status=open", reference(open_ref.clone())),
        ("from=2026-11-23", reference(closed_ref.clone())),
        ("to=2026-11-22", reference(open_ref.clone())),
        (
            "status=closed&from=2026-11-25&to=2026-11-25",
            reference(closed_ref.clone()),
        ),
    ];
    assert!(!rows(&whole, |r| r[0] == closed_ref).is_empty());
    assert!(!rows(&whole, |r| r[0] == open_ref).is_empty());

    let (email, password) = gateway.account(Role::Staff, None).await;
    let browser = Browser::start(&gateway.base).await;
    browser.sign_in(&email, &password).await;
    for (query, keep) in cases {
        let expected = rows(&whole, keep);
        let downloaded = browser.fetch_text(&format!("/register.csv?{query}")).await;
        assert_eq!(rows(&downloaded, |_| true), expected, "{query}");
        // The page: one row per incident and client of those rows.
        browser.open(&format!("/register?{query}")).await;
        let shown = browser
            .client
            .execute(
                "return Array.from(document.querySelectorAll('tr[data-incident]'))
                     .map(r => r.dataset.incident + ' ' + r.dataset.client);",
                vec![],
            )
            .await
            .unwrap();
        let shown: BTreeSet<String> = shown
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        let pairs: BTreeSet<String> = expected
            .iter()
            .map(|r| format!("{} {}", r[0], r[3]))
            .collect();
        assert_eq!(shown, pairs, "{query}");
    }
    browser.stop().await;
    gateway.stop().await;
}
