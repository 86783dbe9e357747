//! A headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`), for tests of the pages against a real gateway. Each
//! [`Browser`] runs its own `chromedriver` on a free port and its own
//! browser profile, so tests run in parallel.
//!
//! Pages are found by CSS selectors; [`Browser::check_accessibility`] runs
//! axe-core (vendored in `tests/vendor/`) and fails on any serious or
//! critical violation; [`Browser::screenshot`] writes under
//! `screenshots/` in the cargo target directory.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

const AXE: &str = include_str!("../../vendor/axe.min.js");

pub struct Browser {
    pub client: Client,
    base: String,
    driver: Child,
}

impl Browser {
    /// Starts chromedriver and a headless browser for the gateway at `base`.
    pub async fn start(base: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (apt-get install chromium-driver)");
        let webdriver = format!("http://127.0.0.1:{port}");
        wait_until_listening(port).await;
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1024"],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&webdriver)
            .await
            .expect("a browser session");
        Self {
            client,
            base: base.to_owned(),
            driver,
        }
    }

    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .expect("the page loads");
    }

    /// The path (and query) of the page shown.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("a URL");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} is on the page: {e}"))
    }

    /// Types `text` into the empty field `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("cleared");
        field.send_keys(text).await.expect("typed");
    }

    /// Clicks `css`. A click on anything but a checkbox or radio button
    /// (a link, a form's button) leads to another page: it returns once
    /// that page has loaded, so what follows reads the new page.
    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        let kind = element.attr("type").await.expect("an attribute");
        if matches!(kind.as_deref(), Some("checkbox" | "radio")) {
            element.click().await.expect("clicked");
            return;
        }
        self.client
            .execute("window.__left = false;", vec![])
            .await
            .expect("a script");
        element.click().await.expect("clicked");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let loaded = self
                .client
                .execute(
                    "return window.__left === undefined && document.readyState === 'complete';",
                    vec![],
                )
                .await
                .map(|v| v.as_bool() == Some(true))
                .unwrap_or(false);
            if loaded {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "clicking {css} led to no new page"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    pub async fn select(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .expect("selected");
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    /// Whether something matches `css`.
    pub async fn has(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("a query")
            .is_empty()
    }

    /// The text `path` answers, fetched by the page shown (with its session).
    pub async fn fetch_text(&self, path: &str) -> String {
        let text = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 fetch(arguments[0]).then(r => r.text()).then(done);",
                vec![Value::from(path)],
            )
            .await
            .expect("a script");
        text.as_str().expect("text").to_owned()
    }

    /// Signs in through the sign-in page.
    pub async fn sign_in(&self, email: &str, password: &str) {
        self.open("/sign-in").await;
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.click("form button[type=submit]").await;
    }

    /// Runs axe-core on the page shown; fails listing every serious or
    /// critical violation.
    pub async fn check_accessibility(&self) {
        self.client.execute(AXE, vec![]).await.expect("axe loads");
        let violations = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] }).then(r => done(
                   r.violations
                     .filter(v => v.impact === 'serious' || v.impact === 'critical')
                     .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                                  nodes: v.nodes.map(n => n.target.join(' ')) }))));",
                vec![],
            )
            .await
            .expect("axe runs");
        assert_eq!(
            violations,
            Value::Array(Vec::new()),
            "accessibility violations on {}",
            self.path().await
        );
    }

    /// Saves a screenshot of the page as `screenshots/<name>.png` in the
    /// cargo target directory.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let target = option_env!("CARGO_TARGET_DIR")
            .map_or_else(|| super::repo_path("target"), std::path::PathBuf::from);
        let dir = target.join("screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot directory");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
    }

    /// The browser's cookie `name`, with its flags.
    pub async fn cookie(&self, name: &str) -> fantoccini::cookies::Cookie<'static> {
        self.client
            .get_named_cookie(name)
            .await
            .unwrap_or_else(|e| panic!("cookie {name}: {e}"))
    }

    pub async fn stop(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A failed test must not leave chromedriver running.
        let _ = self.driver.kill();
    }
}

/// Waits until chromedriver accepts connections on `port`.
async fn wait_until_listening(port: u16) {
    let started = Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not start listening on {port}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
