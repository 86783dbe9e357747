//! The contract admin pages in a real browser against a real gateway:
//! finding a client in the list, adding a webhook endpoint (its secret shown
//! once), a change refused in the words of `contracts check`, rotating the
//! secret, a test delivery the loopback receiver gets signed with the new
//! secret, and an account created with its one-time link. Every page passes
//! axe-core; a staff session cannot open the admin pages.

use std::sync::Arc;

use breachgate::clock::SystemClock;
use breachgate::domain::Role;
use serde_json::Value;

use crate::admin::{expected_v1, v1_signatures};
use crate::support::browser::Browser;
use crate::support::receiver::Receiver;
use crate::support::smtp_sink::SmtpSink;
use crate::support::{delivery_config, Gateway};

const CLIENT: &str = "harbourview-housing";

/// The text of `css` once the page the last click led to shows it.
async fn shown(browser: &Browser, css: &str) -> String {
    let found = browser
        .client
        .wait()
        .for_element(fantoccini::Locator::Css(css))
        .await;
    if let Err(e) = found {
        panic!(
            "{css} appears: {e} on {}: {}",
            browser.path().await,
            browser.text("main").await
        );
    }
    found.unwrap().text().await.expect("text")
}

#[tokio::test]
async fn an_admin_adds_an_endpoint_rotates_its_secret_and_sends_a_test_delivery() {
    let receiver = Receiver::start().await;
    let (smtp, _sink) = SmtpSink::start().await;
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start_with(delivery_config(dir.path(), &receiver.base, smtp)).await;
    let worker = gateway.app.worker(Arc::new(SystemClock)).unwrap();
    let (email, password) = gateway.account(Role::Admin, None).await;
    let browser = Browser::start(&gateway.base).await;

    browser.sign_in(&email, &password).await;
    assert_eq!(browser.path().await, "/admin");
    assert!(browser.has("a[href='/admin/clients/formavenir']").await);
    browser.check_accessibility().await;

    // Server-side search.
    browser.fill("#q", "harbour").await;
    browser.click("form[role=search] button").await;
    assert_eq!(browser.path().await, "/admin?q=harbour");
    assert!(!browser.has("a[href='/admin/clients/formavenir']").await);
    browser
        .click(&format!("a[href='/admin/clients/{CLIENT}']"))
        .await;
    assert_eq!(browser.path().await, format!("/admin/clients/{CLIENT}"));
    browser.check_accessibility().await;
    assert!(
        browser
            .has(&format!("a[href='/admin/clients/{CLIENT}/agreement.toml']"))
            .await
    );

    // A URL the contract checks refuse: the form comes back with the message and the input.
    browser.fill("#webhook_id", "dpo-inbox").await;
    browser.fill("#url", "ftp://example.org/hook").await;
    browser
        .click("form[action$='/webhooks'] button[type=submit]")
        .await;
    let refused = browser.text(".error-summary").await;
    assert!(refused.contains("/url"), "{refused}");
    assert_eq!(
        browser
            .find("#url")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("ftp://example.org/hook")
    );
    browser.check_accessibility().await;

    let path = "harbourview-housing/dpo-inbox";
    browser.fill("#url", &receiver.url(path)).await;
    browser.click("#local_testing").await;
    browser
        .click("form[action$='/webhooks'] button[type=submit]")
        .await;
    assert!(
        browser.has("#new-secret").await,
        "{}",
        browser.text("main").await
    );
    let first = shown(&browser, "#new-secret").await;
    assert!(first.starts_with("whsec_"), "{first}");
    assert!(browser.has("tr[data-webhook='dpo-inbox']").await);
    browser.check_accessibility().await;
    // Shown once: the page without the form's answer no longer has it.
    browser.open(&format!("/admin/clients/{CLIENT}")).await;
    assert!(!browser.has("#new-secret").await);
    assert!(!browser.text("main").await.contains(&first));

    browser
        .click("tr[data-webhook='dpo-inbox'] button[value=rotate]")
        .await;
    assert!(
        browser.has("#new-secret").await,
        "{}",
        browser.text("main").await
    );
    let rotated = shown(&browser, "#new-secret").await;
    assert!(rotated.starts_with("whsec_") && rotated != first);
    assert!(browser
        .text(".secret")
        .await
        .contains("keeps signing until"));
    browser.screenshot("admin-client").await;

    browser
        .click("tr[data-webhook='dpo-inbox'] button[value=test]")
        .await;
    assert!(shown(&browser, "#test-result")
        .await
        .contains("not sent yet"));
    browser.check_accessibility().await;
    worker.run_once().await.unwrap();
    let request = receiver.requests(path).pop().expect("the test delivery");
    let body: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(body["type"], "breach.test");
    assert!(
        v1_signatures(&request).contains(&expected_v1(&rotated, &request)),
        "signed with the rotated secret"
    );
    browser.client.refresh().await.unwrap();
    let result = browser.text("#test-result").await;
    assert!(
        result.contains("delivered") && result.contains("HTTP 200"),
        "{result}"
    );

    // Disabling the endpoint shows in its row.
    browser
        .click("tr[data-webhook='dpo-inbox'] button[value=disable]")
        .await;
    assert!(shown(&browser, "p.notice").await.contains("disabled"));
    assert!(browser
        .text("tr[data-webhook='dpo-inbox']")
        .await
        .contains("disabled"));

    // An account for the client's DPO, with its one-time link.
    browser.open("/admin/accounts").await;
    browser.check_accessibility().await;
    browser.select("#role", "client").await;
    browser.fill("#email", "dpo@harbourview.example").await;
    browser.fill("#client_id", CLIENT).await;
    browser.click("main form button[type=submit]").await;
    let link = shown(&browser, "#setup-link").await;
    assert!(
        link.starts_with(&format!(
            "{}/account/setup/",
            gateway.app.config.server.link_base()
        )),
        "{link}"
    );
    browser.check_accessibility().await;
    browser
        .open(
            link.split_once("/account/")
                .map(|(_, rest)| format!("/account/{rest}"))
                .unwrap()
                .as_str(),
        )
        .await;
    assert!(browser.has("#password").await, "the link sets a password");

    browser.stop().await;
    gateway.stop().await;
}

#[tokio::test]
async fn a_staff_session_cannot_open_the_admin_pages() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(dir.path()).await;
    let (email, password) = gateway.account(Role::Staff, None).await;
    let browser = Browser::start(&gateway.base).await;
    browser.sign_in(&email, &password).await;
    assert_eq!(browser.path().await, "/");
    let session = browser.cookie("bg_session").await;
    let cookie = format!("bg_session={}", session.value());
    for path in [
        "/admin".to_owned(),
        "/admin/accounts".to_owned(),
        format!("/admin/clients/{CLIENT}"),
        format!("/admin/clients/{CLIENT}/agreement.toml"),
    ] {
        let response = gateway
            .http
            .get(gateway.url(&path))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{path}");
    }
    let posted = gateway
        .http
        .post(gateway.url(&format!("/admin/clients/{CLIENT}/webhooks")))
        .header("cookie", &cookie)
        .form(&[("webhook_id", "intruder"), ("url", "https://example.org/")])
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 403);
    browser.open(&format!("/admin/clients/{CLIENT}")).await;
    assert!(browser.text("h1").await.contains("Not allowed"));
    browser.check_accessibility().await;
    browser.stop().await;
    gateway.stop().await;
}
