//! Filing one report that affects N clients: enrichment, validation against
//! the canonical schema, signing, and storage of notices and outbox rows.
//!
//!     cargo bench --bench pipeline -- --clients 10000 --runs 5

#[path = "../tests/api/support/synthetic.rs"]
mod synthetic;

use std::time::Instant;

use synthetic::arg;

#[tokio::main]
async fn main() {
    let clients = arg("--clients", 10_000);
    let runs = arg("--runs", 5);
    let dir = tempfile::tempdir().unwrap();
    let (app, caller) = synthetic::start_gateway(dir.path(), clients, None, 0, |_| {}).await;

    let mut seconds = Vec::new();
    for run in 1..=runs {
        let started = Instant::now();
        synthetic::file_report(&app, &caller, clients).await;
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "run {run}: {clients} notices in {elapsed:.3} s ({:.0} notices/s)",
            clients as f64 / elapsed
        );
        seconds.push(elapsed);
    }
    let median = synthetic::median(seconds);
    println!(
        "pipeline: one report affecting {clients} clients: median {median:.3} s over {runs} runs ({:.0} notices/s)",
        clients as f64 / median
    );
    println!("reproduce: cargo bench --bench pipeline -- --clients {clients} --runs {runs}");
}
