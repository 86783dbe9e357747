//! Filing one report that affects N clients: enrichment, validation against
//! the canonical schema, signing, and storage of notices and outbox rows.
//!
//!     cargo bench --bench pipeline -- --clients 10000 --runs 5

#[path = "../tests/support/synthetic.rs"]
mod support;

use std::time::Instant;

use breachgate::reporting::{file_report, FileOptions};
use breachgate::store::Role;
use breachgate::{App, Config};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let clients = arg("--clients", 10_000);
    let runs = arg("--runs", 5);
    let dir = tempfile::tempdir().unwrap();
    support::write_contracts(&dir.path().join("contracts"), clients, None, 0);

    let mut config = Config::load(None).unwrap();
    config.paths.data_dir = dir.path().join("data");
    config.paths.contracts = dir.path().join("contracts");
    config.paths.schemas = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let app = App::start(config).await.unwrap();
    let token = breachgate::tokens::issue(app.store.as_ref(), Role::Staff, "bench", None)
        .await
        .unwrap();
    let caller = app
        .store
        .token_by_hash(&breachgate::tokens::hash(&token))
        .await
        .unwrap()
        .unwrap();
    let body = serde_json::to_vec(&support::report()).unwrap();

    let mut seconds = Vec::new();
    for run in 1..=runs {
        let started = Instant::now();
        let filed = file_report(
            &app,
            &caller,
            &body,
            FileOptions {
                dry_run: false,
                idempotency_key: None,
            },
        )
        .await
        .unwrap();
        let elapsed = started.elapsed().as_secs_f64();
        assert_eq!(filed.body["queued"].as_u64(), Some(clients as u64));
        println!(
            "run {run}: {clients} notices in {elapsed:.3} s ({:.0} notices/s)",
            clients as f64 / elapsed
        );
        seconds.push(elapsed);
    }
    let median = support::median(seconds);
    println!(
        "pipeline: one report affecting {clients} clients: median {median:.3} s over {runs} runs ({:.0} notices/s)",
        clients as f64 / median
    );
    println!("reproduce: cargo bench --bench pipeline -- --clients {clients} --runs {runs}");
}
