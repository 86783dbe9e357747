//! Fan-out through the served binary, as an operator runs it: `breachgate
//! serve` on N generated agreements (one loopback webhook each) and a
//! separate single-threaded receiver process; one staff report over HTTP,
//! timed from the request until the receiver has seen every client. In the
//! same run a bare hyper client posts N bodies of the notice's size to the
//! same receiver, for comparison; the gateway's peak RSS is read from
//! /proc at the end.
//!
//!     cargo bench --bench served -- --clients 100000 --concurrency 128

#[path = "support/bare_client.rs"]
mod bare_client;
#[path = "../tests/api/support/synthetic.rs"]
#[allow(dead_code)]
mod synthetic;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use bare_client::bare_client;
use serde_json::Value;
use synthetic::arg;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn main() {
    if std::env::args().any(|a| a == "--receiver") {
        return receiver(arg("--receiver", 0));
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(bench());
}

/// The receiver process: one thread, answers 200 to everything, and prints
/// `done <bytes>` (the last webhook body's size) once `expected` webhooks
/// (paths under `/hook/`) have arrived.
fn receiver(expected: usize) {
    #[derive(Clone)]
    struct Seen {
        webhooks: Arc<AtomicUsize>,
        expected: usize,
    }
    async fn receive(
        State(seen): State<Seen>,
        axum::extract::Path(path): axum::extract::Path<String>,
        body: Bytes,
    ) -> &'static str {
        if path.starts_with("hook/")
            && seen.webhooks.fetch_add(1, Ordering::Relaxed) + 1 == seen.expected
        {
            println!("done {}", body.len());
            std::io::stdout().flush().unwrap();
        }
        "ok"
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            println!("{}", listener.local_addr().unwrap());
            std::io::stdout().flush().unwrap();
            let seen = Seen {
                webhooks: Arc::default(),
                expected,
            };
            let router = axum::Router::new()
                .route("/{*path}", post(receive))
                .with_state(seen);
            axum::serve(listener, router).await.unwrap();
        });
}

/// A line of `out`, blocking.
fn line(out: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    line.trim().to_owned()
}

/// Starts `breachgate serve` and returns it with its address, read from its
/// JSON log once it serves.
fn serve(config: &std::path::Path) -> (Child, String) {
    // Another build (main's, say) for a before/after comparison.
    let binary = std::env::args()
        .skip_while(|a| a != "--gateway")
        .nth(1)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_breachgate").to_owned());
    let mut gateway = Command::new(binary)
        .args(["serve", "--config"])
        .arg(config)
        .env("BREACHGATE_BENCH_SECRET", SECRET)
        .env("BREACHGATE_LOG__FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(gateway.stderr.take().unwrap()).lines();
    let address = loop {
        let log: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
        if log["fields"]["message"] == "serving" {
            break log["fields"]["address"].as_str().unwrap().to_owned();
        }
    };
    // Keep draining the log, so the gateway never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (gateway, format!("http://{address}"))
}

/// The CPU time (user and system) process `pid` has used so far, in
/// seconds; `/proc` counts it in clock ticks, 100 a second on Linux.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name, which is in parentheses, start
    // with the third (state); utime and stime are the 14th and 15th.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

/// The peak resident set of process `pid` (VmHWM), in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

async fn bench() {
    let clients = arg("--clients", 100_000);
    let concurrency = arg("--concurrency", 128);

    let mut receiver = Command::new(std::env::current_exe().unwrap())
        .args(["--receiver", &clients.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut received = BufReader::new(receiver.stdout.take().unwrap());
    let receiver_base = format!("http://{}", line(&mut received));

    let dir = tempfile::tempdir().unwrap();
    let setup = Instant::now();
    synthetic::write_contracts(
        &dir.path().join("contracts"),
        clients,
        Some(&format!("{receiver_base}/hook")),
        0,
    );
    let config = dir.path().join("breachgate.toml");
    std::fs::write(
        &config,
        format!(
            r#"[server]
listen = "127.0.0.1:0"
[paths]
data_dir = "{data}"
contracts = "{contracts}"
schemas = "{schemas}"
[log]
filter = "breachgate=info"
[delivery]
concurrency = {concurrency}
allow_private = ["127.0.0.1/32"]
"#,
            data = dir.path().join("data").display(),
            contracts = dir.path().join("contracts").display(),
            schemas = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas"),
        ),
    )
    .unwrap();
    let (mut gateway, base) = serve(&config);
    let staff = std::fs::read_to_string(dir.path().join("data/initial-tokens.txt"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("staff ").map(str::to_owned))
        .unwrap();
    println!(
        "setup: {clients} agreements written and loaded by the gateway in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    let http = reqwest::Client::new();
    let gateway_cpu = cpu_seconds(gateway.id());
    let receiver_cpu = cpu_seconds(receiver.id());
    let start = Instant::now();
    let answer = http
        .post(format!("{base}/v1/reports"))
        .bearer_auth(&staff)
        .json(&synthetic::report())
        .send()
        .await
        .unwrap();
    let answered = Instant::now();
    let filing_cpu = cpu_seconds(gateway.id()) - gateway_cpu;
    assert_eq!(answer.status(), 201);
    let answer: Value = answer.json().await.unwrap();
    assert_eq!(answer["queued"], clients, "every notice queued");
    let waiting = tokio::task::spawn_blocking(move || (line(&mut received), Instant::now()));
    let (done, last_webhook) = waiting.await.unwrap();
    let notice_bytes: usize = done.strip_prefix("done ").unwrap().parse().unwrap();
    let rss = peak_rss_mib(gateway.id());
    let delivery_cpu = cpu_seconds(gateway.id()) - gateway_cpu - filing_cpu;
    let receiving_cpu = cpu_seconds(receiver.id()) - receiver_cpu;

    // A graceful stop folds SQLite's write-ahead log into the database file.
    Command::new("kill")
        .args(["-INT", &gateway.id().to_string()])
        .status()
        .unwrap();
    gateway.wait().unwrap();
    let database_mib = std::fs::metadata(dir.path().join("data/breachgate.db"))
        .map_or(f64::NAN, |m| m.len() as f64)
        / (1024.0 * 1024.0);

    // The bare client's body: the size of a notice.
    let notice = Bytes::from(vec![b' '; notice_bytes]);
    let (bare_cpu, bare_receiving_cpu) =
        (cpu_seconds(std::process::id()), cpu_seconds(receiver.id()));
    let bare = Instant::now();
    bare_client(
        &format!("{receiver_base}/bare"),
        notice.clone(),
        clients,
        concurrency,
    )
    .await;
    let bare_total = bare.elapsed().as_secs_f64();
    let bare_cpu = cpu_seconds(std::process::id()) - bare_cpu;
    let bare_receiving_cpu = cpu_seconds(receiver.id()) - bare_receiving_cpu;
    receiver.kill().unwrap();
    receiver.wait().unwrap();

    let filing = (answered - start).as_secs_f64();
    let delivery = (last_webhook - answered).as_secs_f64();
    let end_to_end = (last_webhook - start).as_secs_f64();
    let bare_rate = clients as f64 / bare_total;
    println!("filing answered after {filing:.2} s");
    println!("last webhook {delivery:.2} s after the answer");
    println!(
        "end to end {end_to_end:.2} s = {:.0} webhooks/s",
        clients as f64 / end_to_end
    );
    println!(
        "bare hyper client: {clients} posts of {} bytes in {bare_total:.2} s = {bare_rate:.0}/s",
        notice.len()
    );
    println!(
        "ratio end to end / bare: {:.2}; delivery phase / bare: {:.2}",
        clients as f64 / end_to_end / bare_rate,
        clients as f64 / delivery / bare_rate
    );
    println!(
        "CPU seconds: filing {filing_cpu:.1} (gateway); delivery {delivery_cpu:.1} (gateway) + \
         {receiving_cpu:.1} (receiver); bare {bare_cpu:.1} (client) + {bare_receiving_cpu:.1} (receiver)"
    );
    // What no scheduling can beat: every CPU second of the run spread
    // evenly over the machine's cores, filing and delivery overlapping.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let floor = (filing_cpu + delivery_cpu + receiving_cpu) / cores;
    println!(
        "end to end cannot beat {floor:.2} s on {cores} cores with this much CPU work \
         (ratio at most {:.2})",
        clients as f64 / floor / bare_rate
    );
    println!("gateway peak RSS (VmHWM): {rss:.0} MiB");
    println!("database file after delivery, stopped gracefully: {database_mib:.1} MiB");
    println!(
        "reproduce: cargo bench --bench served -- --clients {clients} --concurrency {concurrency}"
    );
}
