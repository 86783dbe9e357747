//! The pages' security rules over plain HTTP against a real gateway: CSRF
//! tokens on every form, the failed sign-in limits, the session cookie's
//! flags, session timeouts on the gateway's clock, roles, the
//! Content-Security-Policy, and `breachgate users create`.

use std::sync::Arc;

use breachgate::clock::ManualClock;
use breachgate::domain::Role;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;

use crate::support::{breachgate, repo_path, test_config, Gateway};

/// A browser without a browser: keeps the pages' cookies, follows no redirects.
struct Visitor {
    http: reqwest::Client,
    base: String,
    cookies: Vec<(String, String)>,
}

impl Visitor {
    fn new(gateway: &Gateway) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            base: gateway.base.clone(),
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, response: &reqwest::Response) {
        for set in response.headers().get_all(SET_COOKIE) {
            let cookie = cookie::Cookie::parse(set.to_str().unwrap().to_owned()).unwrap();
            self.cookies.retain(|(n, _)| n != cookie.name());
            if !cookie.value().is_empty() {
                self.cookies
                    .push((cookie.name().to_owned(), cookie.value().to_owned()));
            }
        }
    }

    async fn get(&mut self, path: &str) -> (u16, String) {
        let response = self.fetch(path).await;
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// `GET path`, the whole response.
    async fn fetch(&mut self, path: &str) -> reqwest::Response {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&response);
        response
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(&response);
        response
    }

    /// The CSRF token of the first form on `path`.
    async fn csrf(&mut self, path: &str) -> String {
        let (status, html) = self.get(path).await;
        assert_eq!(status, 200, "{path}: {html}");
        let start = html.find("name=\"csrf\" value=\"").expect("a CSRF field") + 19;
        html[start..start + html[start..].find('"').unwrap()].to_owned()
    }

    async fn sign_in(&mut self, email: &str, password: &str) -> reqwest::Response {
        let csrf = self.csrf("/sign-in").await;
        self.post(
            "/sign-in",
            &[("csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
    }
}

#[tokio::test]
async fn a_form_posted_without_its_csrf_token_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(dir.path()).await;
    let (email, password) = gateway.account(Role::Staff, None).await;
    let mut visitor = Visitor::new(&gateway);

    // Sign-in itself: the visitor's cookie is set, but the form lacks the token.
    visitor.get("/sign-in").await;
    let refused = visitor
        .post("/sign-in", &[("email", &email), ("password", &password)])
        .await;
    assert_eq!(refused.status(), 403);

    let signed_in = visitor.sign_in(&email, &password).await;
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()[LOCATION], "/");

    for form in [vec![], vec![("csrf", "not-the-token")]] {
        let mut fields = form.clone();
        fields.push(("action", "preview"));
        let refused = visitor.post("/reports/new", &fields).await;
        assert_eq!(refused.status(), 403, "{fields:?}");
        assert_eq!(visitor.post("/sign-out", &form).await.status(), 403);
    }
    // Still signed in: the refused sign-out did nothing.
    assert_eq!(visitor.get("/").await.0, 200);

    let csrf = visitor.csrf("/").await;
    let out = visitor.post("/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status(), 303);
    assert_eq!(visitor.get("/").await.0, 303, "signed out");
    gateway.stop().await;
}

#[tokio::test]
async fn sign_ins_beyond_the_limit_are_refused_per_account_and_per_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), &repo_path("contracts"));
    config.accounts.max_failed_per_account = 3;
    config.accounts.max_failed_per_address = 5;
    let gateway = Gateway::start_with(config).await;
    let (email, password) = gateway.account(Role::Staff, None).await;
    let (other, other_password) = gateway.account(Role::Staff, None).await;
    let mut visitor = Visitor::new(&gateway);

    for _ in 0..3 {
        assert_eq!(
            visitor.sign_in(&email, "wrong password!").await.status(),
            401
        );
    }
    // The right password no longer helps this account...
    let limited = visitor.sign_in(&email, &password).await;
    assert_eq!(limited.status(), 429);
    assert!(limited
        .text()
        .await
        .unwrap()
        .contains("too many failed sign-ins"));
    // ...while another account still signs in, until the address's limit.
    assert_eq!(visitor.sign_in(&other, &other_password).await.status(), 303);
    for _ in 0..2 {
        assert_eq!(
            visitor
                .sign_in("nobody@processor.example", "guess guess guess")
                .await
                .status(),
            401
        );
    }
    assert_eq!(visitor.sign_in(&other, &other_password).await.status(), 429);
    gateway.stop().await;
}

#[tokio::test]
async fn failed_sign_ins_count_for_their_window_and_are_then_forgotten() {
    let dir = crate::support::test_dir();
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let mut config = test_config(dir.path(), &repo_path("contracts"));
    config.accounts.max_failed_per_account = 3;
    let window = chrono::Duration::minutes(config.accounts.sign_in_window_minutes.into());
    let gateway = Gateway::start_with_clock(config, clock.clone()).await;
    let (email, password) = gateway.account(Role::Staff, None).await;
    let store = gateway.app.services.store.clone();
    let recorded = || {
        let store = store.clone();
        let email = email.clone();
        async move {
            let ever = chrono::DateTime::UNIX_EPOCH;
            store
                .failed_sign_ins(&email, "127.0.0.1", ever)
                .await
                .unwrap()
        }
    };
    let mut visitor = Visitor::new(&gateway);

    for _ in 0..3 {
        assert_eq!(
            visitor.sign_in(&email, "wrong password!").await.status(),
            401
        );
        clock.advance(chrono::Duration::minutes(1));
    }
    assert_eq!(visitor.sign_in(&email, &password).await.status(), 429);
    assert_eq!(recorded().await.for_email, 3);

    // Once the first failure is out of the window, the limit lets one
    // attempt through; a failed one is counted, and forgets the failures
    // no window counts any more.
    clock.advance(window - chrono::Duration::minutes(2));
    assert_eq!(visitor.sign_in(&email, "wrong again!!").await.status(), 401);
    assert_eq!(
        (recorded().await.for_email, recorded().await.from_address),
        (3, 3),
        "the first failure went, the new one came"
    );
    assert_eq!(visitor.sign_in(&email, &password).await.status(), 429);
    clock.advance(window + chrono::Duration::minutes(1));
    assert_eq!(visitor.sign_in(&email, "wrong again!!").await.status(), 401);
    assert_eq!(
        recorded().await.for_email,
        1,
        "only the failure of this window is kept"
    );
    assert_eq!(visitor.sign_in(&email, &password).await.status(), 303);
    gateway.stop().await;
}

#[tokio::test]
async fn unknown_pages_get_an_html_404_and_unknown_api_paths_the_json_one() {
    for page in breachgate::web::routes() {
        assert!(
            !breachgate::http::owns(page.path),
            "{} is under the API's paths, so the API would answer it",
            page.path
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(dir.path()).await;
    let (email, password) = gateway.account(Role::Staff, None).await;
    let mut visitor = Visitor::new(&gateway);
    let pages = [
        "/no-such-page",
        "/reports/old",
        "/incidents/x/y/z",
        "/static",
    ];
    for signed_in in [false, true] {
        if signed_in {
            visitor.sign_in(&email, &password).await;
        }
        for path in pages {
            let response = visitor.fetch(path).await;
            assert_eq!(response.status(), 404, "{path}");
            let headers = response.headers();
            assert!(
                headers["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html"),
                "{path}"
            );
            assert!(headers.contains_key("content-security-policy"), "{path}");
            let html = response.text().await.unwrap();
            assert!(html.contains("<html lang=\"en\">"), "{path}: {html}");
            assert!(html.contains("there is no such page"), "{path}: {html}");
        }
    }
    for (method, path) in [
        (reqwest::Method::GET, "/v1/no-such-thing"),
        (reqwest::Method::POST, "/v1/reports/drafts"),
        (reqwest::Method::GET, "/v1"),
        (reqwest::Method::GET, "/healthz/deep"),
        (reqwest::Method::GET, "/metrics/x"),
        (reqwest::Method::GET, "/.well-known/nothing"),
    ] {
        let response = gateway
            .http
            .request(method, gateway.url(path))
            .bearer_auth(&gateway.staff)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
    }
    gateway.stop().await;
}

#[tokio::test]
async fn the_session_cookie_is_http_only_same_site_strict_and_secure_behind_tls() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path(), &repo_path("contracts"));
    config.server.public_url = "https://breach.processor.example".into();
    let gateway = Gateway::start_with(config).await;
    let (email, password) = gateway.account(Role::Staff, None).await;
    let mut visitor = Visitor::new(&gateway);
    let signed_in = visitor.sign_in(&email, &password).await;
    let set_cookie = signed_in.headers()[SET_COOKIE].to_str().unwrap();
    let cookie = cookie::Cookie::parse(set_cookie.to_owned()).unwrap();
    assert_eq!(cookie.name(), "bg_session");
    assert_eq!(cookie.http_only(), Some(true), "{set_cookie}");
    assert_eq!(
        cookie.same_site(),
        Some(cookie::SameSite::Strict),
        "{set_cookie}"
    );
    assert_eq!(cookie.secure(), Some(true), "{set_cookie}");

    // Every page carries the strict policy: no inline script or style.
    let response = visitor
        .http
        .get(format!("{}/sign-in", gateway.base))
        .send()
        .await
        .unwrap();
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(policy.contains("script-src 'self'") && policy.contains("style-src 'self'"));
    assert!(!policy.contains("unsafe-inline"));
    gateway.stop().await;
}

#[tokio::test]
async fn each_role_opens_only_its_own_pages() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(dir.path()).await;
    let mut anonymous = Visitor::new(&gateway);
    for path in ["/", "/reports/new", "/admin", "/portal"] {
        assert_eq!(anonymous.get(path).await.0, 303, "{path} needs a session");
    }

    let (email, password) = gateway.account(Role::Staff, None).await;
    let mut staff = Visitor::new(&gateway);
    staff.sign_in(&email, &password).await;
    assert_eq!(staff.get("/").await.0, 200);
    assert_eq!(staff.get("/admin").await.0, 403);
    assert_eq!(staff.get("/portal").await.0, 403);

    let (email, password) = gateway.account(Role::Admin, None).await;
    let mut admin = Visitor::new(&gateway);
    let signed_in = admin.sign_in(&email, &password).await;
    assert_eq!(signed_in.headers()[LOCATION], "/admin");
    assert_eq!(admin.get("/admin").await.0, 200);
    assert_eq!(admin.get("/").await.0, 403);
    assert_eq!(admin.get("/reports/new").await.0, 403);

    let (email, password) = gateway.account(Role::Client, Some("formavenir")).await;
    let mut client = Visitor::new(&gateway);
    client.sign_in(&email, &password).await;
    let (status, portal) = client.get("/portal").await;
    assert_eq!(status, 200);
    assert!(portal.contains("formavenir"));
    assert_eq!(client.get("/").await.0, 403);
    gateway.stop().await;
}

#[tokio::test]
async fn a_session_ends_after_its_idle_and_its_absolute_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let config = test_config(dir.path(), &repo_path("contracts"));
    let (idle, absolute) = (
        config.accounts.session_idle_minutes,
        config.accounts.session_absolute_hours,
    );
    let gateway = Gateway::start_with_clock(config, clock.clone()).await;
    let (email, password) = gateway.account(Role::Staff, None).await;

    let mut visitor = Visitor::new(&gateway);
    visitor.sign_in(&email, &password).await;
    clock.advance(chrono::Duration::minutes(i64::from(idle) - 1));
    assert_eq!(
        visitor.get("/").await.0,
        200,
        "used within the idle timeout"
    );
    clock.advance(chrono::Duration::minutes(i64::from(idle)));
    assert_eq!(visitor.get("/").await.0, 303, "idle too long");

    let mut busy = Visitor::new(&gateway);
    busy.sign_in(&email, &password).await;
    let step = chrono::Duration::minutes(i64::from(idle) - 1);
    let mut elapsed = chrono::Duration::zero();
    while elapsed + step < chrono::Duration::hours(i64::from(absolute)) {
        clock.advance(step);
        elapsed += step;
        assert_eq!(busy.get("/").await.0, 200);
    }
    clock.advance(step);
    assert_eq!(busy.get("/").await.0, 303, "past the absolute timeout");
    gateway.stop().await;
}

#[tokio::test]
async fn users_create_prints_a_one_time_link_that_sets_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let config = test_config(&dir.path().join("data"), &repo_path("contracts"));
    let gateway = Gateway::start_with(config).await;
    let file = dir.path().join("breachgate.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\npublic_url = \"{}\"\n[paths]\ndata_dir = \"{}\"\nschemas = \"{}\"\n",
            gateway.base,
            dir.path().join("data").display(),
            repo_path("schemas").display()
        ),
    )
    .unwrap();
    let config = file.to_str().unwrap();
    let (ok, out) = breachgate(
        &[
            "users",
            "create",
            "--role",
            "staff",
            "--email",
            "Ana@Processor.example",
            "--config",
            config,
        ],
        dir.path(),
    );
    assert!(ok, "{out}");
    let link = out.trim();
    let path = link
        .strip_prefix(&gateway.base)
        .expect("the link starts with server.public_url");
    assert!(path.starts_with("/account/setup/"), "{link}");

    let mut visitor = Visitor::new(&gateway);
    let csrf = visitor.csrf(path).await;
    let password = "a new and long passphrase";
    let set = visitor
        .post(
            path,
            &[
                ("csrf", &csrf),
                ("password", password),
                ("confirm", password),
            ],
        )
        .await;
    assert_eq!(set.status(), 303);
    assert_eq!(visitor.get(path).await.0, 404, "the link is spent");
    assert_eq!(
        visitor
            .sign_in("ana@processor.example", password)
            .await
            .status(),
        303
    );

    let (ok, out) = breachgate(
        &[
            "users",
            "create",
            "--role",
            "staff",
            "--email",
            "ana@processor.example",
            "--config",
            config,
        ],
        dir.path(),
    );
    assert!(!ok && out.contains("exists"), "{out}");
    let audit = gateway.app.services.store.audit_log().await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    for action in ["user.created", "user.password_set", "user.signed_in"] {
        assert!(actions.contains(&action), "{actions:?}");
    }
    gateway.stop().await;
}

/// PostgreSQL stores no NUL in text, so a form field holding one would
/// fail in the store: every form refuses it first, naming the field, and
/// stores nothing (neither an incident nor a draft).
#[tokio::test]
async fn a_form_field_holding_a_nul_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(dir.path()).await;
    let (email, password) = gateway.account(Role::Staff, None).await;
    let mut visitor = Visitor::new(&gateway);
    assert_eq!(visitor.sign_in(&email, &password).await.status(), 303);

    for action in ["file", "save", "preview"] {
        let csrf = visitor.csrf("/reports/new").await;
        let refused = visitor
            .post(
                "/reports/new",
                &[
                    ("csrf", &csrf),
                    ("action", action),
                    ("summary", "Mailbox exposed\u{0} to the internet"),
                ],
            )
            .await;
        assert_eq!(refused.status(), 400, "{action}");
        let page = refused.text().await.unwrap();
        assert!(page.contains("summary") && page.contains("NUL"), "{page}");
    }
    assert_eq!(gateway.incident_count().await, 0);
    let (_, new_report) = visitor.get("/reports/new").await;
    assert!(
        !new_report.contains("?draft="),
        "no draft was saved: {new_report}"
    );
    gateway.stop().await;
}
