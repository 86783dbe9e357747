//! Layered configuration: built-in defaults, then the TOML file, then
//! `BREACHGATE_SECTION__KEY` environment variables. Checked at start.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;

use crate::delivery::email::EmailConfig;
use crate::domain::{ProcessorContact, ProcessorIdentity};
use crate::scheduling::ScheduleConfig;
use crate::service::accounts::AccountsConfig;
use crate::store::StoreOptions;
use crate::worker::DeliveryConfig;

/// The embedded defaults: what `breachgate serve` runs with no config file.
pub const DEFAULTS: &str = r#"
[server]
listen = "127.0.0.1:8080"
max_body_bytes = 1048576
# JSON bodies nesting arrays and objects deeper than this get 400 too_deep.
max_json_depth = 32
# Requests per minute for each token (or, without a valid token, each client
# address), with bursts of up to rate_limit_burst; beyond that 429 with Retry-After.
rate_limit_per_minute = 600
rate_limit_burst = 60
# A request's head (request line and headers) must be complete within this of
# its first byte, or of the connection opening for its first request; a
# connection that sends nothing is closed after it.
header_timeout_ms = 10000
# A kept-alive connection with no request for this long is closed. A reverse
# proxy in front should close its idle upstream connections sooner.
idle_timeout_ms = 75000
# A request body must arrive in full within this of the handler starting to
# read it; beyond that 408 body_timeout and the connection is closed.
body_timeout_ms = 30000
# Connections open at once, in total and from one client address; more are
# accepted and closed at once. The total is lowered at start to fit the
# process's file descriptor limit (raised to its hard limit where allowed).
max_connections = 4096
max_connections_per_address = 256
# Where people reach the gateway, e.g. "https://breach.processor.example":
# the base of the links it prints (password setup) and of the link to the
# client portal every notice email carries. Starting with https:// marks
# session cookies Secure. Empty: printed links use http://LISTEN, which only
# the gateway's own host can be relied on to reach, and notice emails carry
# no portal link.
public_url = ""

[accounts]
# A signed-in session ends after this long without a request, and this long
# after sign-in however busy.
session_idle_minutes = 30
session_absolute_hours = 12
# How long a one-time password-setup link stays valid.
setup_link_hours = 72
# Beyond this many failed sign-ins within the window, sign-in to that account,
# or from that address, is refused until the window has passed.
sign_in_window_minutes = 15
max_failed_per_account = 5
max_failed_per_address = 20

[store]
# Empty: a SQLite file `breachgate.db` in the data directory. Or
# `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (the database must exist;
# the gateway migrates it), which several instances may share.
url = ""
# PostgreSQL only: connections this instance keeps open at most.
max_connections = 10

[paths]
data_dir = "data"
contracts = "contracts"
# When the contracts directory is applied at start: "if_empty" (only to a
# store holding no agreements yet, so changes made through the admin API
# survive a restart) or "always" (the files win at every start).
apply_contracts = "if_empty"
schemas = "schemas"

[processor]
name = "Example Processor B.V."
contact_name = "Privacy Office"
contact_email = "privacy@processor.example"
contact_phone = ""

[signing]
# Empty: `signing-key.pem` in the data directory, generated on first start.
key_file = ""

[secrets]
# Base64 of 32 bytes sealing webhook secrets and sealed config values; set
# BREACHGATE_SECRETS__KEY rather than writing it here. Empty: `secrets.key`
# in the data directory, generated on first start.
key = ""

[log]
format = "human"
filter = "info"

[delivery]
# Deliveries in flight at once, across all endpoints.
concurrency = 128
# In flight at once for one webhook endpoint or one client's email, so a slow
# endpoint never takes the capacity the others need.
per_endpoint = 4
# Emails in flight at once: mail is slower than webhooks and must not take
# their slots.
email_concurrency = 16
# How long a claimed delivery stays with its worker before another may take
# it over (a crashed worker's rows are retried after this).
lease_seconds = 120
# How often idle workers look for due deliveries.
poll_interval_ms = 1000
connect_timeout_ms = 5000
timeout_ms = 15000
# Webhook targets in private, loopback or link-local ranges are refused unless
# listed here, e.g. ["127.0.0.1/32"]. Cloud metadata addresses are always refused.
allow_private = []

[delivery.retry]
schedule_seconds = [5, 300, 1800, 7200, 18000, 36000, 36000]
jitter = 0.1
retry_after_min_seconds = 1
retry_after_max_seconds = 3600

[email]
# "file": one .eml file per message in file_dir. "smtp": through host:port.
transport = "file"
from = "Breach notices <breach-notices@processor.example>"
message_id_domain = "processor.example"
# Empty: `mail` in the data directory.
file_dir = ""
host = "localhost"
port = 587
# "starttls" (usually port 587), "tls" (implicit TLS, usually 465), or "none"
# for a relay on the same host or network only; "none" refuses a password.
tls = "starttls"
username = ""
# password: set BREACHGATE_EMAIL__PASSWORD rather than writing it here.
pool_size = 4
timeout_seconds = 30

[schedule]
# An initial notice that has not reached its client (held, or no delivery
# succeeded) is escalated to processor.contact_email when these fractions of
# its window (from becoming aware to the deadline) have passed, and again when
# the deadline passes; a held notice also at once.
deadline_fractions = [0.5, 0.8]
# Cron expressions with seconds (sec min hour day month weekday), in UTC.
watchdog_cron = "0 * * * * *"
update_reminder_cron = "30 * * * * *"
"#;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub accounts: AccountsConfig,
    pub store: StoreConfig,
    pub paths: PathsConfig,
    pub processor: ProcessorConfig,
    pub signing: SigningConfig,
    pub secrets: SecretsConfig,
    pub log: LogConfig,
    pub delivery: DeliveryConfig,
    pub email: EmailConfig,
    pub schedule: ScheduleConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub max_json_depth: usize,
    pub rate_limit_per_minute: u32,
    pub rate_limit_burst: u32,
    pub header_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub body_timeout_ms: u64,
    pub max_connections: u32,
    pub max_connections_per_address: u32,
    /// The base URL of links to pages, without a trailing slash; empty when
    /// not configured.
    pub public_url: String,
}

impl ServerConfig {
    /// Where people reach the gateway, if configured: what links sent to
    /// clients (the portal link in notice emails) are based on.
    pub fn public_url(&self) -> Option<&str> {
        Some(self.public_url.as_str()).filter(|url| !url.is_empty())
    }

    /// The base of links shown to people: [`Self::public_url`] or, when not
    /// configured, the listen address.
    pub fn link_base(&self) -> String {
        self.public_url()
            .map_or_else(|| format!("http://{}", self.listen), str::to_owned)
    }

    /// Whether people reach the gateway over TLS, so cookies must be `Secure`.
    pub fn behind_tls(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://PATH` or `postgres://…`; may carry credentials, so it is
    /// never printed.
    pub url: String,
    /// The PostgreSQL pool's size; SQLite ignores it.
    pub max_connections: u32,
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("url", &"***")
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathsConfig {
    pub data_dir: PathBuf,
    /// Agreements applied at start as `apply_contracts` says; empty to
    /// manage them only through `contracts apply` and the admin API.
    pub contracts: PathBuf,
    pub apply_contracts: ApplyContracts,
    pub schemas: PathBuf,
}

/// When `paths.contracts` is applied at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyContracts {
    /// Only to a store that holds no agreements yet.
    IfEmpty,
    /// At every start, undoing changes made through the admin API.
    Always,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    /// Base64 of the 32-byte key; empty for the generated key file.
    pub key: String,
}

impl std::fmt::Debug for SecretsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsConfig")
            .field("key", &"***")
            .finish()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessorConfig {
    pub name: String,
    pub contact_name: String,
    pub contact_email: String,
    pub contact_phone: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningConfig {
    pub key_file: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    pub filter: String,
}

impl Config {
    /// Defaults, then `file` if given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, String> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        if let Some(file) = file {
            if !file.exists() {
                return Err(format!("config file {} does not exist", file.display()));
            }
            figment = figment.merge(Toml::file(file));
        }
        // Only SECTION__KEY variables: BREACHGATE_SECRET_* and the like are
        // secret references for agreements, not configuration.
        let env = Env::prefixed("BREACHGATE_")
            .filter(|key| key.as_str().contains("__"))
            .split("__");
        let config: Config = figment.merge(env).extract().map_err(|e| {
            e.into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        if self.server.max_body_bytes < 1024 {
            problems.push("server.max_body_bytes must be at least 1024".to_owned());
        }
        if self.server.max_json_depth == 0 {
            problems.push("server.max_json_depth must be at least 1".to_owned());
        }
        if self.server.rate_limit_per_minute == 0 || self.server.rate_limit_burst == 0 {
            problems.push(
                "server.rate_limit_per_minute and .rate_limit_burst must be at least 1".to_owned(),
            );
        }
        let server = &self.server;
        if [
            server.header_timeout_ms,
            server.idle_timeout_ms,
            server.body_timeout_ms,
        ]
        .contains(&0)
        {
            problems.push(
                "server.header_timeout_ms, .idle_timeout_ms and .body_timeout_ms must be at least 1"
                    .to_owned(),
            );
        }
        if server.max_connections == 0 || server.max_connections_per_address == 0 {
            problems.push(
                "server.max_connections and .max_connections_per_address must be at least 1"
                    .to_owned(),
            );
        }
        if server.max_connections_per_address > server.max_connections {
            problems.push(
                "server.max_connections_per_address must not exceed server.max_connections"
                    .to_owned(),
            );
        }
        let bad_url = |url: &str| {
            !(url.starts_with("http://") || url.starts_with("https://"))
                || url.ends_with('/')
                || url::Url::parse(url).is_err()
        };
        if server.public_url().is_some_and(bad_url) {
            problems.push(
                "server.public_url must be an http(s) URL without a trailing slash".to_owned(),
            );
        }
        if let Err(e) = self.accounts.check() {
            problems.push(e);
        }
        if self.processor.name.trim().is_empty() {
            problems.push("processor.name must not be empty".to_owned());
        }
        if !self.processor.contact_email.contains('@') {
            problems.push("processor.contact_email must be an email address".to_owned());
        }
        if self.paths.data_dir.as_os_str().is_empty() {
            problems.push("paths.data_dir must not be empty".to_owned());
        }
        let scheme = self.store.url.split_once(':').map(|(scheme, _)| scheme);
        if !self.store.url.is_empty()
            && !matches!(scheme, Some("sqlite" | "postgres" | "postgresql"))
        {
            problems.push(
                "store.url must be a sqlite: or postgres: URL (or empty for the default SQLite file)"
                    .to_owned(),
            );
        }
        if self.store.max_connections == 0 {
            problems.push("store.max_connections must be at least 1".to_owned());
        }
        let delivery = &self.delivery;
        if [
            delivery.concurrency,
            delivery.per_endpoint,
            delivery.email_concurrency,
        ]
        .contains(&0)
        {
            problems.push(
                "delivery.concurrency, .per_endpoint and .email_concurrency must be at least 1"
                    .to_owned(),
            );
        }
        // A lease that could end mid-attempt would let another worker send
        // the same delivery again, on either channel.
        if delivery.lease_seconds * 1000 <= delivery.timeout_ms {
            problems
                .push("delivery.lease_seconds must be longer than delivery.timeout_ms".to_owned());
        }
        let email = self.email_config();
        if email
            .attempt_timeout()
            .is_some_and(|timeout| delivery.lease_seconds <= timeout.as_secs())
        {
            problems.push(
                "delivery.lease_seconds must be longer than email.timeout_seconds".to_owned(),
            );
        }
        if let Err(e) = delivery.retry.check() {
            problems.push(e);
        }
        if let Err(e) = email.check() {
            problems.push(e.to_string());
        }
        if let Err(e) = self.schedule.check() {
            problems.push(e);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            max_connections: self.store.max_connections,
        }
    }

    pub fn store_url(&self) -> String {
        if self.store.url.is_empty() {
            format!(
                "sqlite://{}",
                self.paths.data_dir.join("breachgate.db").display()
            )
        } else {
            self.store.url.clone()
        }
    }

    /// The email settings with the file transport's directory resolved.
    pub fn email_config(&self) -> EmailConfig {
        let mut email = self.email.clone();
        if email.file_dir.as_os_str().is_empty() {
            email.file_dir = self.paths.data_dir.join("mail");
        }
        email
    }

    pub fn key_file(&self) -> PathBuf {
        if self.signing.key_file.as_os_str().is_empty() {
            self.paths.data_dir.join("signing-key.pem")
        } else {
            self.signing.key_file.clone()
        }
    }

    /// Where the generated secrets key lives when `secrets.key` is empty.
    pub fn secrets_key_file(&self) -> PathBuf {
        self.paths.data_dir.join("secrets.key")
    }

    /// The webhook client's settings: timeouts and allow-listed networks.
    pub fn webhook_client(&self) -> crate::delivery::webhook::WebhookClientConfig {
        crate::delivery::webhook::WebhookClientConfig {
            connect_timeout: std::time::Duration::from_millis(self.delivery.connect_timeout_ms),
            total_timeout: std::time::Duration::from_millis(self.delivery.timeout_ms),
            allowed_private: self.delivery.allow_private.clone(),
        }
    }

    pub fn processor_identity(&self) -> ProcessorIdentity {
        let p = &self.processor;
        ProcessorIdentity {
            name: p.name.clone(),
            contact: ProcessorContact {
                name: p.contact_name.clone(),
                email: p.contact_email.clone(),
                phone: Some(p.contact_phone.clone()).filter(|phone| !phone.is_empty()),
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment's own large error
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_environment_overrides_them() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BREACHGATE_SERVER__LISTEN", "127.0.0.1:9999");
            jail.set_env("BREACHGATE_SECRET_ACME", "whsec_ignored");
            let config = Config::load(None).expect("loads");
            assert_eq!(config.server.listen.port(), 9999);
            assert_eq!(config.paths.contracts, PathBuf::from("contracts"));
            Ok(())
        });
    }

    #[test]
    fn a_bad_value_is_named() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bg.toml", "[processor]\ncontact_email = \"nobody\"\n")?;
            let err = Config::load(Some(Path::new("bg.toml"))).unwrap_err();
            assert!(err.contains("processor.contact_email"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn request_limits_must_allow_something() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BREACHGATE_SERVER__MAX_JSON_DEPTH", "0");
            jail.set_env("BREACHGATE_SERVER__RATE_LIMIT_BURST", "0");
            let err = Config::load(None).unwrap_err();
            assert!(err.contains("server.max_json_depth"), "{err}");
            assert!(err.contains(".rate_limit_burst"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn connection_limits_must_allow_something_and_fit_together() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BREACHGATE_SERVER__IDLE_TIMEOUT_MS", "0");
            jail.set_env("BREACHGATE_SERVER__MAX_CONNECTIONS", "10");
            jail.set_env("BREACHGATE_SERVER__MAX_CONNECTIONS_PER_ADDRESS", "11");
            let err = Config::load(None).unwrap_err();
            assert!(err.contains(".idle_timeout_ms"), "{err}");
            assert!(
                err.contains("server.max_connections_per_address must not exceed"),
                "{err}"
            );
            Ok(())
        });
    }

    #[test]
    fn the_lease_must_outlast_a_webhook_attempt_and_an_smtp_one() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("BREACHGATE_DELIVERY__LEASE_SECONDS", "30");
            jail.set_env("BREACHGATE_EMAIL__TIMEOUT_SECONDS", "30");
            // Writing mail to files has no timeout to outlast.
            Config::load(None).expect("the file transport has no timeout");
            jail.set_env("BREACHGATE_EMAIL__TRANSPORT", "smtp");
            let err = Config::load(None).unwrap_err();
            assert!(err.contains("longer than email.timeout_seconds"), "{err}");
            assert!(!err.contains("delivery.timeout_ms"), "{err}");
            jail.set_env("BREACHGATE_EMAIL__TIMEOUT_SECONDS", "29");
            jail.set_env("BREACHGATE_DELIVERY__TIMEOUT_MS", "30000");
            let err = Config::load(None).unwrap_err();
            assert!(err.contains("longer than delivery.timeout_ms"), "{err}");
            assert!(!err.contains("email.timeout_seconds"), "{err}");
            jail.set_env("BREACHGATE_DELIVERY__TIMEOUT_MS", "29999");
            Config::load(None).expect("both attempts end within the lease");
            Ok(())
        });
    }

    #[test]
    fn the_public_url_is_optional_but_checked_when_given() {
        figment::Jail::expect_with(|jail| {
            let config = Config::load(None).expect("loads");
            assert_eq!(config.server.public_url(), None);
            assert_eq!(config.server.link_base(), "http://127.0.0.1:8080");
            jail.set_env("BREACHGATE_SERVER__PUBLIC_URL", "https://breach.example");
            let config = Config::load(None).expect("loads");
            assert_eq!(config.server.public_url(), Some("https://breach.example"));
            assert_eq!(config.server.link_base(), "https://breach.example");
            jail.set_env("BREACHGATE_SERVER__PUBLIC_URL", "https://breach.example/");
            let err = Config::load(None).unwrap_err();
            assert!(err.contains("server.public_url"), "{err}");
            Ok(())
        });
    }
}
