//! Synthetic agreements for many clients, for the crash test and the benchmarks.
//! A user of only part of it includes it under `allow(dead_code)`.

use std::fmt::Write;
use std::path::Path;

/// Writes an agreements directory with the example systems and sub-processors
/// and `clients` synthetic clients, all using the `lms` system. `webhook`
/// gives each client one endpoint at `<base>/<client id>`, and every
/// `email_every`-th client (or every client without webhooks) gets email.
pub fn write_contracts(dir: &Path, clients: usize, webhook: Option<&str>, email_every: usize) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::create_dir_all(dir.join("clients")).unwrap();
    for file in ["systems.toml", "subprocessors.toml"] {
        std::fs::copy(repo.join("contracts").join(file), dir.join(file)).unwrap();
    }
    for i in 0..clients {
        let id = format!("client-{i:06}");
        let mut text = String::new();
        write!(
            text,
            r#"id = "{id}"
name = "Synthetic Client {i}"
country = "NL"
language = "{language}"
time_zone = "Europe/Amsterdam"

[agreement]
id = "DPA-2026-{i:06}"
notify_within_hours = 24
update_every_hours = 24

[[contacts]]
role = "dpo"
name = "DPO {i}"
email = "dpo@{id}.example"

[[systems]]
id = "lms"
data_subjects = ["pupils", "parents"]
data_categories = ["identification", "contact", "education"]
subjects = {subjects}
records = {records}
children = true
vulnerable = false
subprocessors = ["polderstack"]
"#,
            language = ["en", "nl", "fr", "it", "sv", "de"][i % 6],
            subjects = 100 + i % 900,
            records = 1000 + i % 9000,
        )
        .unwrap();
        if let Some(base) = webhook {
            write!(
                text,
                "\n[[delivery.webhooks]]\nid = \"primary\"\nurl = \"{base}/{id}\"\nsecret = \"env:BREACHGATE_BENCH_SECRET\"\nsignatures = [\"v1\"]\nlocal_testing = true\n"
            )
            .unwrap();
        }
        if webhook.is_none() || (email_every > 0 && i % email_every == 0) {
            write!(
                text,
                "\n[delivery.email]\nto = [\"privacy@{id}.example\"]\n"
            )
            .unwrap();
        }
        std::fs::write(dir.join("clients").join(format!("{id}.toml")), text).unwrap();
    }
}

/// A report affecting every client on `lms`.
pub fn report() -> serde_json::Value {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo.join("tests/fixtures/report-lms.json")).unwrap(),
    )
    .unwrap();
    report["measures"]["in_place"] = serde_json::json!(["Exports are encrypted at rest"]);
    report
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The number after `name` on the command line, or `default`.
pub fn arg(name: &str, default: usize) -> usize {
    text_arg(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What follows `name` on the command line, if it is there.
pub fn text_arg(name: &str) -> Option<String> {
    let mut args = std::env::args().skip_while(|a| a != name);
    args.next()?;
    args.next()
}

/// Starts a gateway in `dir` on `clients` synthetic agreements (see
/// [`write_contracts`]) with `adjust` applied to its configuration, and
/// returns it with a staff caller.
pub async fn start_gateway(
    dir: &Path,
    clients: usize,
    webhook: Option<&str>,
    email_every: usize,
    adjust: impl FnOnce(&mut breachgate::Config),
) -> (std::sync::Arc<breachgate::App>, breachgate::domain::Caller) {
    write_contracts(&dir.join("contracts"), clients, webhook, email_every);
    let app = start_instance(dir, adjust).await;
    let store = app.services.store.as_ref();
    let token =
        breachgate::service::tokens::issue(store, breachgate::domain::Role::Staff, "bench", None)
            .await
            .unwrap();
    let caller = store
        .token_by_hash(&breachgate::service::tokens::hash(&token))
        .await
        .unwrap()
        .unwrap()
        .record;
    (app, caller)
}

/// Starts a gateway in `dir` with `adjust` applied to its configuration: the
/// first on agreements [`start_gateway`] wrote, or another instance beside
/// it when its store is a database they share.
pub async fn start_instance(
    dir: &Path,
    adjust: impl FnOnce(&mut breachgate::Config),
) -> std::sync::Arc<breachgate::App> {
    let mut config = breachgate::Config::load(None).unwrap();
    config.paths.data_dir = dir.join("data");
    config.paths.contracts = dir.join("contracts");
    config.paths.schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    adjust(&mut config);
    breachgate::App::start(config).await.unwrap()
}

/// Files the synthetic report once and checks every client's notice was queued.
pub async fn file_report(
    app: &breachgate::App,
    caller: &breachgate::domain::Caller,
    clients: usize,
) {
    use breachgate::service::reporting::{self, Outcome};
    let facts = report();
    let parsed = breachgate::intake::check_report(&facts).unwrap();
    let outcome = reporting::file_report(&app.services, caller, parsed, facts, false, None)
        .await
        .unwrap();
    let Outcome::Done(filed) = outcome else {
        panic!("a report without an Idempotency-Key is filed now")
    };
    assert_eq!(filed.clients.queued(), clients);
}
