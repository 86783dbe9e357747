//! Test harness: a real gateway on 127.0.0.1:0 with its own data directory,
//! the repository's example contracts, and tokens for each role.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use breachgate::store::Role;
use breachgate::{App, Config};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

pub fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(repo_path(&format!("tests/fixtures/{name}"))).expect("fixture exists");
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// The configuration a test gateway runs with: defaults, pointed at `data_dir`.
pub fn test_config(data_dir: &Path, contracts: &Path) -> Config {
    let mut config = Config::load(None).expect("defaults load");
    config.paths.data_dir = data_dir.to_owned();
    config.paths.contracts = contracts.to_owned();
    config.paths.schemas = repo_path("schemas");
    config
}

pub struct Gateway {
    pub base: String,
    pub http: reqwest::Client,
    pub staff: String,
    pub admin: String,
    pub app: Arc<App>,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Gateway {
    /// Starts a gateway on the example contracts with a fresh data directory.
    pub async fn start(data_dir: &Path) -> Self {
        Self::start_with(test_config(data_dir, &repo_path("contracts"))).await
    }

    pub async fn start_with(config: Config) -> Self {
        let app = App::start(config).await.expect("gateway starts");
        let staff = breachgate::tokens::issue(app.store.as_ref(), Role::Staff, "test staff", None)
            .await
            .expect("token");
        let admin = breachgate::tokens::issue(app.store.as_ref(), Role::Admin, "test admin", None)
            .await
            .expect("token");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(breachgate::serve(app.clone(), listener, shutdown.clone()));
        let http = reqwest::Client::new();
        let ready = http.get(format!("{base}/readyz")).send().await.expect("gateway answers");
        assert!(ready.status().is_success());
        Self { base, http, staff, admin, app, shutdown, server }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.server.await.expect("server task").expect("server ends cleanly");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post_report(&self, token: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(self.url("/v1/reports"))
            .bearer_auth(token)
            .json(body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON answer"))
    }

    pub async fn get_json(&self, token: &str, path: &str) -> (u16, Value) {
        let response = self.http.get(self.url(path)).bearer_auth(token).send().await.expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON answer"))
    }

    /// A notice's exact bytes and its detached JWS.
    pub async fn notice_bytes(&self, incident_id: &str, notice_id: &str) -> (Vec<u8>, Option<String>) {
        let response = self
            .http
            .get(self.url(&format!("/v1/incidents/{incident_id}/notices/{notice_id}")))
            .bearer_auth(&self.staff)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        let jws = response
            .headers()
            .get("breachgate-notice-jws")
            .map(|v| v.to_str().expect("ASCII").to_owned());
        (response.bytes().await.expect("body").to_vec(), jws)
    }

    pub async fn incident_count(&self) -> usize {
        let (status, body) = self.get_json(&self.staff, "/v1/incidents").await;
        assert_eq!(status, 200);
        body["incidents"].as_array().expect("list").len()
    }
}

/// The client ids of a report answer, sorted.
pub fn client_ids(answer: &Value) -> Vec<String> {
    let mut ids: Vec<String> = answer["clients"]
        .as_array()
        .expect("clients")
        .iter()
        .map(|c| c["client_id"].as_str().expect("id").to_owned())
        .collect();
    ids.sort();
    ids
}

pub fn client_outcome<'a>(answer: &'a Value, client_id: &str) -> &'a Value {
    answer["clients"]
        .as_array()
        .expect("clients")
        .iter()
        .find(|c| c["client_id"] == client_id)
        .unwrap_or_else(|| panic!("{client_id} is in the answer"))
}
