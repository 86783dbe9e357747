//! Test harness: a real gateway on 127.0.0.1:0 with its own data directory,
//! the repository's example contracts, and tokens for each role.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use breachgate::domain::Role;
use breachgate::{App, Config};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

#[path = "../../shared/pg_database.rs"]
mod pg_database;

/// A test's own directory and, in the PostgreSQL pass (when
/// `BREACHGATE_TEST_PG_URL` names a server), a database of its own that
/// every gateway and command run under the directory uses instead of the
/// SQLite file: in-process through [`test_config`], spawned binaries
/// through `BREACHGATE_STORE__URL`. Both go when this is dropped, also when
/// the test fails. A restart on the same directory finds the same database.
///
/// Tests about the SQLite file itself keep a plain `tempfile::tempdir()`
/// (or [`TestDir::sqlite_only`]) and so run on SQLite in both passes:
/// `audit.rs` (edits the file to break the chain), `private_files.rs` (the
/// file's mode), and the update reminders test in `scheduling.rs` (writes a
/// notice into the file).
pub struct TestDir {
    dir: tempfile::TempDir,
    _database: Option<pg_database::FreshDatabase>,
}

/// The databases of the live test directories, by directory.
static DATABASES: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());

pub fn test_dir() -> TestDir {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let database = pg_database::server_url().map(|server| {
        let database = pg_database::FreshDatabase::create(&server);
        DATABASES
            .lock()
            .expect("databases lock")
            .push((dir.path().to_owned(), database.url.clone()));
        database
    });
    TestDir {
        dir,
        _database: database,
    }
}

/// Whether this is the PostgreSQL pass: tests about several instances on
/// one database run only then.
pub fn postgres_pass() -> bool {
    pg_database::server_url().is_some()
}

impl TestDir {
    /// A directory whose gateways use the SQLite file in both passes.
    pub fn sqlite_only() -> Self {
        TestDir {
            dir: tempfile::tempdir().expect("a temporary directory"),
            _database: None,
        }
    }
}

impl std::ops::Deref for TestDir {
    type Target = tempfile::TempDir;
    fn deref(&self) -> &Self::Target {
        &self.dir
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let mut databases = DATABASES.lock().unwrap_or_else(|e| e.into_inner());
        databases.retain(|(dir, _)| dir != self.dir.path());
    }
}

/// The database of the test directory `path` is in, if it has one.
fn database_under(path: &Path) -> Option<String> {
    let databases = DATABASES.lock().expect("databases lock");
    databases
        .iter()
        .find(|(dir, _)| path.starts_with(dir))
        .map(|(_, url)| url.clone())
}

/// `BREACHGATE_STORE__URL` for a binary run on `path`, in the PostgreSQL pass.
pub fn store_env(path: &Path) -> Vec<(&'static str, String)> {
    database_under(path)
        .map(|url| ("BREACHGATE_STORE__URL", url))
        .into_iter()
        .collect()
}

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A clock pinned an hour after the report fixtures' `became_aware_at`
/// (2026-11-22T07:30Z), for tests whose deadlines must be judged on the
/// fixture's timeline whatever day they run.
pub fn fixture_clock() -> Arc<breachgate::clock::ManualClock> {
    let start = "2026-11-22T08:30:00Z".parse().expect("a timestamp");
    Arc::new(breachgate::clock::ManualClock::new(start))
}

/// The LMS report with its data categories not yet known and no severity
/// inputs, so the severity rests on assumed inputs.
pub fn report_with_assumed_severity() -> Value {
    let mut report = fixture("report-lms.json");
    report["personal_data"]["categories"] = "not_yet_known".into();
    if let Some(fields) = report.as_object_mut() {
        fields.remove("severity_inputs");
    }
    report
}

pub fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(repo_path(&format!("tests/fixtures/{name}")))
        .expect("fixture exists");
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// The configuration a test gateway runs with: defaults, pointed at `data_dir`.
pub fn test_config(data_dir: &Path, contracts: &Path) -> Config {
    let mut config = Config::load(None).expect("defaults load");
    config.paths.data_dir = data_dir.to_owned();
    config.paths.contracts = contracts.to_owned();
    config.paths.schemas = repo_path("schemas");
    if let Some(url) = database_under(data_dir) {
        config.store.url = url;
    }
    config
}

/// Runs the `breachgate` binary in `cwd`; returns whether it succeeded and
/// everything it printed.
pub fn breachgate(args: &[&str], cwd: &Path) -> (bool, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_breachgate"))
        .args(args)
        .current_dir(cwd)
        .envs(store_env(cwd))
        .env("BREACHGATE_LOG__FILTER", "warn")
        .output()
        .expect("the breachgate binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Writes the configuration of a served test gateway to `path`: any free
/// loopback port, `data_dir`, the agreements in `contracts`, the
/// repository's schemas, JSON logs at `info`, then `more` (TOML sections).
pub fn write_serve_config(path: &Path, data_dir: &Path, contracts: &Path, more: &str) {
    std::fs::write(
        path,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[paths]\ndata_dir = \"{}\"\ncontracts = \"{}\"\nschemas = \"{}\"\n[log]\nformat = \"json\"\nfilter = \"breachgate=info\"\n{more}",
            data_dir.display(),
            contracts.display(),
            repo_path("schemas").display(),
        ),
    )
    .unwrap();
}

/// The staff token a first start wrote to `data_dir`.
pub fn initial_staff_token(data_dir: &Path) -> String {
    std::fs::read_to_string(data_dir.join("initial-tokens.txt"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("staff "))
        .unwrap()
        .to_owned()
}

/// Files `report` with a served gateway at `base`, answering its JSON.
pub async fn file_report(base: &str, staff: &str, report: &Value) -> Value {
    reqwest::Client::new()
        .post(format!("{base}/v1/reports"))
        .bearer_auth(staff)
        .json(report)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Runs `breachgate serve --config config` with `envs` and JSON logs on
/// stderr; waits for its `serving` line and answers the process and its base
/// URL. Its log, the start included, goes to `log_file`.
pub fn spawn_serve(
    config: &Path,
    envs: &[(&str, String)],
    log_file: &Path,
) -> (std::process::Child, String) {
    let gateway = std::process::Command::new(env!("CARGO_BIN_EXE_breachgate"));
    spawn_serving(gateway, config, envs, log_file)
}

/// [`spawn_serve`] with the gateway's file descriptor limit, soft and hard,
/// set to `limit` (by util-linux's `prlimit`), so it cannot raise it.
pub fn spawn_serve_with_descriptor_limit(
    limit: u64,
    config: &Path,
    envs: &[(&str, String)],
    log_file: &Path,
) -> (std::process::Child, String) {
    let mut gateway = std::process::Command::new("prlimit");
    gateway
        .arg(format!("--nofile={limit}:{limit}"))
        .arg("--")
        .arg(env!("CARGO_BIN_EXE_breachgate"));
    spawn_serving(gateway, config, envs, log_file)
}

fn spawn_serving(
    mut gateway: std::process::Command,
    config: &Path,
    envs: &[(&str, String)],
    log_file: &Path,
) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader, Write};
    let mut child = gateway
        .args(["serve", "--config"])
        .arg(config)
        .envs(store_env(config))
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .env("BREACHGATE_LOG__FORMAT", "json")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the breachgate binary runs");
    let stderr = child.stderr.take().expect("piped stderr");
    let mut lines = BufReader::new(stderr).lines();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_file)
        .expect("log file");
    let address = loop {
        let line = lines
            .next()
            .expect("the gateway logs until it serves")
            .expect("log line");
        writeln!(file, "{line}").expect("log written");
        let log: Value = serde_json::from_str(&line).expect("JSON log line");
        if log["fields"]["message"] == "serving" {
            break log["fields"]["address"]
                .as_str()
                .expect("address")
                .to_owned();
        }
    };
    std::thread::spawn(move || {
        lines.for_each(|l| writeln!(file, "{}", l.expect("log line")).expect("log written"))
    });
    (child, format!("http://{address}"))
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
        Self::start_with_clock(config, Arc::new(breachgate::clock::SystemClock)).await
    }

    /// A gateway that stamps reports, follow-ups and acknowledgements with `clock`.
    pub async fn start_with_clock(
        config: Config,
        clock: Arc<dyn breachgate::clock::Clock>,
    ) -> Self {
        Self::start_on(bind().await, config, clock).await
    }

    /// A gateway whose `server.public_url` is its own address, so the links
    /// it sends (a notice email's portal link) lead to it.
    pub async fn start_linked(mut config: Config) -> Self {
        let listener = bind().await;
        config.server.public_url = format!("http://{}", listener.local_addr().expect("address"));
        Self::start_on(listener, config, Arc::new(breachgate::clock::SystemClock)).await
    }

    async fn start_on(
        listener: tokio::net::TcpListener,
        config: Config,
        clock: Arc<dyn breachgate::clock::Clock>,
    ) -> Self {
        let app = App::start_with_clock(config, clock)
            .await
            .expect("gateway starts");
        let staff = breachgate::service::tokens::issue(
            app.services.store.as_ref(),
            Role::Staff,
            "test staff",
            None,
        )
        .await
        .expect("token");
        let admin = breachgate::service::tokens::issue(
            app.services.store.as_ref(),
            Role::Admin,
            "test admin",
            None,
        )
        .await
        .expect("token");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(breachgate::serve(app.clone(), listener, shutdown.clone()));
        let http = reqwest::Client::new();
        let ready = http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("gateway answers");
        assert!(ready.status().is_success());
        Self {
            base,
            http,
            staff,
            admin,
            app,
            shutdown,
            server,
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.server
            .await
            .expect("server task")
            .expect("server ends cleanly");
    }

    /// A new token for `client_id`'s privacy desk.
    pub async fn client_token(&self, client_id: &str) -> String {
        breachgate::service::tokens::issue(
            self.app.services.store.as_ref(),
            Role::Client,
            &format!("{client_id} desk"),
            Some(breachgate::domain::ClientId::parse(client_id).expect("client id")),
        )
        .await
        .expect("token")
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
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON answer"))
    }

    /// Closes incident `incident_id` as staff, without last facts.
    pub async fn close_incident(&self, incident_id: &str) -> (u16, Value) {
        let response = self
            .http
            .post(self.url(&format!("/v1/incidents/{incident_id}/close")))
            .bearer_auth(&self.staff)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.json().await.expect("JSON answer"))
    }

    /// The whole breach register as the API's CSV.
    pub async fn register_csv(&self) -> String {
        let response = self
            .http
            .get(self.url("/v1/register"))
            .bearer_auth(&self.staff)
            .header("accept", "text/csv")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
        response.text().await.expect("CSV")
    }

    /// A notice's exact bytes and its detached JWS.
    pub async fn notice_bytes(
        &self,
        incident_id: &str,
        notice_id: &str,
    ) -> (Vec<u8>, Option<String>) {
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

    /// `/metrics` as text.
    pub async fn metrics(&self) -> String {
        let response = self.http.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }

    /// A new account's one-time password-setup path.
    pub async fn setup_link(&self, role: Role, client: Option<&str>, email: &str) -> String {
        let app = &self.app;
        let created = breachgate::service::accounts::create_user(
            app.services.store.as_ref(),
            "test",
            role,
            client.map(|c| breachgate::domain::ClientId::parse(c).expect("client id")),
            email,
            &app.config.accounts,
            chrono::Utc::now(),
        )
        .await
        .expect("account created");
        breachgate::service::accounts::setup_path(&created.setup_secret)
    }

    /// A new account with its password set: its email and password.
    pub async fn account(&self, role: Role, client: Option<&str>) -> (String, String) {
        let email =
            format!("{}-{}@processor.example", role.as_str(), ulid::Ulid::new()).to_lowercase();
        let link = self.setup_link(role, client, &email).await;
        let secret = link.rsplit('/').next().expect("a secret");
        let password = "a long enough passphrase".to_owned();
        breachgate::service::accounts::set_password(&self.app.services, secret, &password)
            .await
            .expect("password set");
        (email, password)
    }

    pub async fn incident_count(&self) -> usize {
        let (status, body) = self.get_json(&self.staff, "/v1/incidents").await;
        assert_eq!(status, 200);
        body["incidents"].as_array().expect("list").len()
    }
}

/// A listener on a free loopback port.
async fn bind() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind")
}

/// The value of one series (`name` or `name{labels}`, labels as the
/// exposition orders them) in a Prometheus text exposition.
pub fn sample(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
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

pub mod browser;
pub mod mime;
pub mod python;
pub mod receiver;
pub mod smtp_sink;
// Shared with the benchmarks, which use the rest of it.
#[allow(dead_code)]
pub mod synthetic;

/// The `whsec_` secret every test endpoint uses (the Standard Webhooks test vector's).
pub const TEST_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Copies the example contracts into `dir`, pointing every webhook at
/// `receiver` (path `<client>/<webhook>`) and setting each secret reference.
pub fn contracts_for(dir: &Path, receiver_base: &str) -> PathBuf {
    let target = dir.join("contracts");
    std::fs::create_dir_all(target.join("clients")).unwrap();
    for file in ["systems.toml", "subprocessors.toml"] {
        std::fs::copy(repo_path("contracts").join(file), target.join(file)).unwrap();
    }
    for entry in std::fs::read_dir(repo_path("contracts/clients")).unwrap() {
        let path = entry.unwrap().path();
        let mut client: toml::Table =
            toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let id = client["id"].as_str().unwrap().to_owned();
        if let Some(webhooks) = client
            .get_mut("delivery")
            .and_then(|d| d.get_mut("webhooks"))
            .and_then(|w| w.as_array_mut())
        {
            for webhook in webhooks {
                let table = webhook.as_table_mut().unwrap();
                let webhook_id = table["id"].as_str().unwrap().to_owned();
                table.insert(
                    "url".into(),
                    format!("{receiver_base}/{id}/{webhook_id}").into(),
                );
                table.insert("local_testing".into(), true.into());
                let secret = table["secret"]
                    .as_str()
                    .unwrap()
                    .strip_prefix("env:")
                    .unwrap()
                    .to_owned();
                // Every test sets the same value, so tests running in parallel agree.
                std::env::set_var(secret, TEST_SECRET);
            }
        }
        std::fs::write(
            target.join("clients").join(path.file_name().unwrap()),
            toml::to_string(&client).unwrap(),
        )
        .unwrap();
    }
    target
}

/// A gateway whose webhooks go to `receiver_base` and whose email goes over
/// SMTP to `smtp`, with loopback targets allowed.
pub fn delivery_config(dir: &Path, receiver_base: &str, smtp: std::net::SocketAddr) -> Config {
    let mut config = test_config(&dir.join("data"), &contracts_for(dir, receiver_base));
    config.delivery.allow_private = vec!["127.0.0.1/32".parse().unwrap()];
    config.delivery.timeout_ms = 5_000;
    config.email.transport = breachgate::delivery::email::TransportKind::Smtp;
    config.email.host = smtp.ip().to_string();
    config.email.port = smtp.port();
    config.email.tls = breachgate::delivery::email::TlsMode::None;
    config.email.timeout_seconds = 5;
    config
}
