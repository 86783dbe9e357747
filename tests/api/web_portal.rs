//! The client portal in a real browser against a real gateway: a client's
//! DPO signs in, sees only its own client's notices, reads one in its
//! client's language, downloads `notice.json` and `notice.jws` (the exact
//! stored bytes, verified here with jwcrypto) and acknowledges receipt, which
//! the register then shows. Another client's notice is as unknown as one
//! that does not exist. The link in a notice email leads, through sign-in,
//! to that notice's page. Every page passes axe-core.

use std::sync::Arc;

use breachgate::clock::SystemClock;
use breachgate::domain::{Notice, NoticeId, Role};
use serde_json::{json, Value};

use crate::independent_verifiers::python;
use crate::support::browser::Browser;
use crate::support::mime::Part;
use crate::support::receiver::Receiver;
use crate::support::smtp_sink::SmtpSink;
use crate::support::{client_outcome, delivery_config, fixture, Gateway};

const CLIENT: &str = "kinderopvang-de-vlinder";
const OTHER: &str = "formavenir";

/// A download of the page's session, as the browser fetches it.
async fn fetch_text(browser: &Browser, path: &str) -> String {
    let text = browser
        .client
        .execute_async(
            "const [path, done] = arguments;
             fetch(path).then(r => r.text()).then(done);",
            vec![json!(path)],
        )
        .await
        .expect("the download runs");
    text.as_str().expect("text").to_owned()
}

/// `path` fetched with the browser's session: its status and body.
async fn signed_get(gateway: &Gateway, browser: &Browser, path: &str) -> (u16, String) {
    let cookie = format!("bg_session={}", browser.cookie("bg_session").await.value());
    let response = gateway
        .http
        .get(gateway.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// A gateway whose public URL is its own address, delivering to a loopback
/// receiver and SMTP sink, once the LMS report is filed and its notices sent.
struct Filed {
    gateway: Gateway,
    answer: Value,
    sink: SmtpSink,
    dir: tempfile::TempDir,
    _receiver: Receiver,
}

impl Filed {
    async fn new() -> Self {
        let receiver = Receiver::start().await;
        let (smtp, sink) = SmtpSink::start().await;
        let dir = tempfile::tempdir().unwrap();
        let config = delivery_config(dir.path(), &receiver.base, smtp);
        let gateway = Gateway::start_linked(config).await;
        let worker = gateway.app.worker(Arc::new(SystemClock)).unwrap();
        let (status, answer) = gateway
            .post_report(&gateway.staff, &fixture("report-lms.json"))
            .await;
        assert_eq!(status, 201, "{answer}");
        worker.run_once().await.unwrap();
        Self {
            gateway,
            answer,
            sink,
            dir,
            _receiver: receiver,
        }
    }

    /// The id of `client_id`'s notice.
    fn notice_of(&self, client_id: &str) -> String {
        client_outcome(&self.answer, client_id)["notice_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

#[tokio::test]
async fn a_dpo_reads_downloads_verifies_and_acknowledges_only_its_own_notice() {
    let filed = Filed::new().await;
    let (gateway, answer, dir) = (&filed.gateway, &filed.answer, &filed.dir);
    let incident_id = answer["incident_id"].as_str().unwrap();
    let reference = answer["reference"].as_str().unwrap();
    let own = filed.notice_of(CLIENT);
    let other = filed.notice_of(OTHER);

    let (email, password) = gateway.account(Role::Client, Some(CLIENT)).await;
    let browser = Browser::start(&gateway.base).await;
    browser.sign_in(&email, &password).await;
    assert_eq!(browser.path().await, "/portal");
    assert!(browser.has(&format!("tr[data-notice='{own}']")).await);
    assert!(!browser.has(&format!("tr[data-notice='{other}']")).await);
    assert!(!browser.text("main").await.contains(OTHER));
    browser.check_accessibility().await;

    browser
        .click(&format!("a[href='/portal/notices/{own}']"))
        .await;
    assert_eq!(browser.path().await, format!("/portal/notices/{own}"));
    // In the client's language, with the email's subject as the title.
    let article = browser.find("article.notice-body").await;
    assert_eq!(article.attr("lang").await.unwrap().as_deref(), Some("nl"));
    let title = browser.text("h1").await;
    assert!(title.contains(reference), "{title}");
    browser.check_accessibility().await;
    browser.screenshot("portal-notice").await;

    // The downloads are the stored bytes, and jwcrypto verifies them.
    let (bytes, jws) = gateway.notice_bytes(incident_id, &own).await;
    let json_text = fetch_text(&browser, &format!("/portal/notices/{own}/notice.json")).await;
    let jws_text = fetch_text(&browser, &format!("/portal/notices/{own}/notice.jws")).await;
    assert_eq!(json_text.as_bytes(), bytes.as_slice());
    assert_eq!(Some(&jws_text), jws.as_ref());
    let notice_file = dir.path().join("notice.json");
    let jws_file = dir.path().join("notice.jws");
    std::fs::write(&notice_file, json_text).unwrap();
    std::fs::write(&jws_file, jws_text).unwrap();
    let jwks_url = gateway.url("/.well-known/jwks.json");
    let (notice, jws) = (
        notice_file.display().to_string(),
        jws_file.display().to_string(),
    );
    tokio::task::spawn_blocking(move || python("verify_jws.py", &[&jwks_url, &notice, &jws]))
        .await
        .unwrap();

    browser
        .fill("#note", "Received by our DPO; forwarded to the board.")
        .await;
    browser.click("form[action$='/acknowledge'] button").await;
    assert!(browser.has("#acknowledged").await);
    browser.check_accessibility().await;
    let (status, register) = gateway.get_json(&gateway.staff, "/v1/register").await;
    assert_eq!(status, 200);
    let notices: Vec<&Value> = register["incidents"][0]["clients"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["notices"].as_array().unwrap())
        .filter(|n| n["acknowledged_at"].is_string())
        .collect();
    assert_eq!(notices.len(), 1, "{register}");
    assert_eq!(notices[0]["notice_id"], own.as_str());
    browser.open("/portal").await;
    assert!(browser
        .text(&format!("tr[data-notice='{own}']"))
        .await
        .contains("acknowledged"));

    // Another client's notice answers as an unknown one does.
    let unknown = NoticeId::generate();
    let unknown = unknown.as_str();
    for suffix in ["", "/notice.json", "/notice.jws"] {
        let theirs = signed_get(
            gateway,
            &browser,
            &format!("/portal/notices/{other}{suffix}"),
        )
        .await;
        let nobody = signed_get(
            gateway,
            &browser,
            &format!("/portal/notices/{unknown}{suffix}"),
        )
        .await;
        assert_eq!(theirs.0, 404, "{suffix}");
        assert_eq!(theirs, nobody, "{suffix}");
    }
    browser.open(&format!("/portal/notices/{other}")).await;
    browser.check_accessibility().await;

    browser.stop().await;
    filed.gateway.stop().await;
}

/// The link in `client_id`'s email about the notice it carries, and that
/// notice's id.
fn portal_link(sink: &SmtpSink, base: &str, client_id: &str) -> (String, String) {
    sink.received()
        .iter()
        .map(|mail| Part::parse(&mail.data))
        .find_map(|message| {
            let notice: Notice = message.notice();
            (notice.data.controller.client_id.as_str() == client_id).then(|| {
                let text = message
                    .find_type("text/plain")
                    .expect("text")
                    .decoded_text();
                let link = text
                    .lines()
                    .find(|line| line.starts_with(&format!("{base}/portal/")))
                    .unwrap_or_else(|| panic!("a portal link in\n{text}"))
                    .to_owned();
                (link, notice.data.notice_id.to_string())
            })
        })
        .unwrap_or_else(|| panic!("an email to {client_id}"))
}

#[tokio::test]
async fn a_dpo_follows_the_email_s_link_signs_in_and_lands_on_the_notice() {
    let filed = Filed::new().await;
    let gateway = &filed.gateway;
    let own = filed.notice_of(CLIENT);
    let (link, carried) = portal_link(&filed.sink, &gateway.base, CLIENT);
    assert_eq!(carried, own);
    assert_eq!(link, format!("{}/portal/notices/{own}", gateway.base));

    // Signed out, the link leads to sign-in, and from there to the notice.
    let (email, password) = gateway.account(Role::Client, Some(CLIENT)).await;
    let browser = Browser::start(&gateway.base).await;
    browser.client.goto(&link).await.unwrap();
    assert!(
        browser.path().await.starts_with("/sign-in?next="),
        "{}",
        browser.path().await
    );
    browser.check_accessibility().await;
    browser.fill("#email", &email).await;
    browser.fill("#password", &password).await;
    browser.click("form button[type=submit]").await;
    assert_eq!(browser.path().await, format!("/portal/notices/{own}"));
    let article = browser.find("article.notice-body").await;
    assert_eq!(article.attr("lang").await.unwrap().as_deref(), Some("nl"));
    browser.check_accessibility().await;

    // Another client's DPO following the same link gets what an unknown
    // notice gets.
    browser.click("form.sign-out button").await;
    let (other_email, other_password) = gateway.account(Role::Client, Some(OTHER)).await;
    browser.client.goto(&link).await.unwrap();
    browser.fill("#email", &other_email).await;
    browser.fill("#password", &other_password).await;
    browser.click("form button[type=submit]").await;
    assert_eq!(browser.path().await, format!("/portal/notices/{own}"));
    assert_eq!(browser.text("h1").await, "Not found");
    assert!(!browser.text("main").await.contains(CLIENT));
    let theirs = signed_get(gateway, &browser, &format!("/portal/notices/{own}")).await;
    let unknown = NoticeId::generate();
    let unknown = signed_get(gateway, &browser, &format!("/portal/notices/{unknown}")).await;
    assert_eq!(theirs.0, 404);
    assert_eq!(theirs, unknown);

    browser.stop().await;
    filed.gateway.stop().await;
}
