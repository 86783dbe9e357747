//! The files in `deploy/` work as shipped: the production configurations
//! start a real gateway (with only paths and addresses overridden, the way
//! the environment overrides them; the PostgreSQL one in the PostgreSQL pass,
//! on a database of its own), the unit's pre-start check is a valid command,
//! and SIGTERM from the service manager stops the gateway cleanly.

use std::path::Path;
use std::process::Command;

use crate::support::{breachgate, repo_path, spawn_serve, store_env};

#[test]
fn the_production_configuration_loads_as_written() {
    let config = breachgate::Config::load(Some(&repo_path("deploy/breachgate.toml")))
        .expect("deploy/breachgate.toml is valid");
    assert_eq!(config.paths.data_dir.to_str(), Some("/var/lib/breachgate"));
    assert_eq!(
        config.email.transport,
        breachgate::delivery::email::TransportKind::Smtp
    );
    assert_eq!(
        config.email.tls,
        breachgate::delivery::email::TlsMode::StartTls
    );
    assert!(
        config.email.password.is_none(),
        "secrets come from the environment file"
    );
}

#[test]
fn the_units_pre_start_check_is_a_valid_command() {
    let unit = std::fs::read_to_string(repo_path("deploy/breachgate.service")).unwrap();
    let check = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStartPre=/usr/local/bin/breachgate "))
        .expect("the unit checks the agreements before starting");
    let args: Vec<String> = check
        .replace(
            "/etc/breachgate/contracts",
            repo_path("contracts").to_str().unwrap(),
        )
        .replace(
            "/usr/share/breachgate/schemas",
            repo_path("schemas").to_str().unwrap(),
        )
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, output) = breachgate(&args, &repo_path(""));
    assert!(ok, "{output}");
    assert!(unit.contains(
        "ExecStart=/usr/local/bin/breachgate serve --config /etc/breachgate/breachgate.toml"
    ));
    assert!(unit.contains("KillSignal=SIGTERM"));
    // Room for server.max_connections beside the quarter of the descriptors
    // kept for the rest, so it is not lowered at start.
    let descriptors: u32 = unit_setting(&unit, "LimitNOFILE");
    let server = breachgate::Config::load(Some(&repo_path("deploy/breachgate.toml")))
        .unwrap()
        .server;
    assert!(
        descriptors - descriptors / 4 >= server.max_connections,
        "{descriptors}"
    );
}

#[test]
fn the_unit_waits_for_the_longest_attempt_before_killing() {
    let unit = std::fs::read_to_string(repo_path("deploy/breachgate.service")).unwrap();
    let stop_seconds: u64 = unit_setting(&unit, "TimeoutStopSec");
    let config = breachgate::Config::load(Some(&repo_path("deploy/breachgate.toml"))).unwrap();
    let grace = breachgate::worker::stop_grace(&config.delivery, &config.email_config());
    assert!(
        grace < std::time::Duration::from_secs(stop_seconds),
        "TimeoutStopSec={stop_seconds} kills the gateway within its {grace:?} for in-flight attempts"
    );
}

/// The value the unit gives `key`, parsed.
fn unit_setting<T: std::str::FromStr>(unit: &str, key: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    unit.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("the unit sets {key}"))
        .parse()
        .unwrap()
}

#[test]
fn the_postgresql_production_configuration_loads_as_written() {
    let config = breachgate::Config::load(Some(&repo_path("deploy/breachgate-postgres.toml")))
        .expect("deploy/breachgate-postgres.toml is valid");
    assert_eq!(
        config.store.url, "",
        "the URL, password included, is in the environment"
    );
    assert_eq!(config.store_options().max_connections, 20);
    assert_eq!(
        config.signing.key_file.to_str(),
        Some("/etc/breachgate/signing-key.pem"),
        "one key for every instance"
    );
    assert_eq!(
        config.email.tls,
        breachgate::delivery::email::TlsMode::StartTls
    );
    assert!(config.email.password.is_none());
}

#[tokio::test]
async fn sigterm_stops_the_production_gateway_cleanly() {
    let dir = crate::support::test_dir();
    serve_then_stop(&repo_path("deploy/breachgate.toml"), dir.path(), Vec::new()).await;
    // The secrets key came from the environment, so none was written to disk.
    assert!(!dir.path().join("data/secrets.key").exists());
}

#[tokio::test]
async fn the_postgresql_production_gateway_serves_and_stops_cleanly() {
    let dir = crate::support::test_dir();
    let database = store_env(dir.path());
    if database.is_empty() {
        return; // The SQLite pass has no PostgreSQL to start it on.
    }
    let mut envs = database;
    envs.push((
        "BREACHGATE_SIGNING__KEY_FILE",
        dir.path().join("signing-key.pem").display().to_string(),
    ));
    serve_then_stop(
        &repo_path("deploy/breachgate-postgres.toml"),
        dir.path(),
        envs,
    )
    .await;
    assert!(dir.path().join("signing-key.pem").exists());
    assert!(
        !dir.path().join("data/breachgate.db").exists(),
        "the state is in PostgreSQL"
    );
}

/// Starts `breachgate serve` on `config` with its paths and addresses in
/// `dir` and `envs` added, waits until it is ready, then stops it with
/// SIGTERM, which must end it cleanly.
async fn serve_then_stop(config: &Path, dir: &Path, mut envs: Vec<(&'static str, String)>) {
    envs.extend([
        ("BREACHGATE_SERVER__LISTEN", "127.0.0.1:0".to_owned()),
        (
            "BREACHGATE_PATHS__DATA_DIR",
            dir.join("data").display().to_string(),
        ),
        (
            "BREACHGATE_PATHS__CONTRACTS",
            repo_path("contracts").display().to_string(),
        ),
        (
            "BREACHGATE_PATHS__SCHEMAS",
            repo_path("schemas").display().to_string(),
        ),
        (
            "BREACHGATE_SECRETS__KEY",
            "3q2+7wABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGho=".to_owned(),
        ),
    ]);
    let (mut gateway, base) = spawn_serve(config, &envs, &dir.join("gateway.log"));
    let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
    assert_eq!(ready.status(), 200);

    let killed = Command::new("kill")
        .args(["-TERM", &gateway.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::task::spawn_blocking(move || gateway.wait().unwrap())
        .await
        .unwrap();
    // Killed by the signal it would have no exit code; a clean stop exits 0.
    assert_eq!(status.code(), Some(0), "{status:?}");
}
