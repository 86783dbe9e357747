//! Fan-out: one report affecting N clients, each with its own webhook endpoint
//! on one loopback sink (and every tenth with email to a local SMTP sink),
//! timed from report accepted to the last delivery answered. In the same run,
//! a bare hyper client posts the same bodies to the same sink at the same
//! concurrency, for comparison.
//!
//!     cargo bench --bench fanout -- --clients 100000 --concurrency 128 --email-every 10
//!
//! On SQLite by default. `--store postgres://…` (a server, or a database on
//! it) runs it on a fresh database created there and dropped at the end,
//! and `--instances N` runs N gateway instances in this process on that
//! database: the report is filed on the first, and every instance's worker
//! delivers (each with `--concurrency`).

#[path = "support/bare_client.rs"]
mod bare_client;
#[path = "../tests/shared/pg_database.rs"]
#[allow(dead_code)]
mod pg_database;
#[path = "../tests/api/support/smtp_sink.rs"]
#[allow(dead_code)]
mod smtp_sink;
#[path = "../tests/api/support/synthetic.rs"]
#[allow(dead_code)]
mod synthetic;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use bare_client::bare_client;
use synthetic::{arg, text_arg};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The loopback sink: answers 200 and notes when each request arrived.
#[derive(Clone, Default)]
struct Sink {
    arrivals: Arc<Mutex<Vec<Instant>>>,
    count: Arc<AtomicUsize>,
    sample: Arc<Mutex<Option<Bytes>>>,
    done: Arc<Notify>,
    expected: Arc<AtomicUsize>,
}

async fn receive(State(sink): State<Sink>, body: Bytes) -> &'static str {
    sink.arrivals.lock().unwrap().push(Instant::now());
    sink.sample.lock().unwrap().get_or_insert(body);
    if sink.count.fetch_add(1, Ordering::SeqCst) + 1 == sink.expected.load(Ordering::SeqCst) {
        sink.done.notify_one();
    }
    "ok"
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn peak_memory_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// How many webhooks an instance delivered, from its `/metrics` text.
fn webhooks_delivered(app: &breachgate::App) -> u64 {
    app.services
        .metrics
        .render()
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                "breachgate_delivery_attempts_total{channel=\"webhook\",outcome=\"delivered\"} ",
            )?
            .parse()
            .ok()
        })
        .unwrap_or(0)
}

/// `url` with its password, if any, masked, to be printed.
fn without_password(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[tokio::main]
async fn main() {
    let clients = arg("--clients", 100_000);
    let concurrency = arg("--concurrency", 128);
    let email_every = arg("--email-every", 10);
    let store = text_arg("--store");
    let instances = arg("--instances", 1);
    assert!(instances >= 1, "--instances is at least 1");
    assert!(
        instances == 1 || store.is_some(),
        "instances share a database: give --store postgres://…"
    );
    std::env::set_var("BREACHGATE_BENCH_SECRET", SECRET);

    let sink = Sink::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink_url = format!("http://{}/hook", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .route("/hook/{client}", post(receive))
        .with_state(sink.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let (smtp, mail) = smtp_sink::SmtpSink::start().await;

    let dir = tempfile::tempdir().unwrap();
    let database = store.as_deref().map(pg_database::FreshDatabase::create);
    let configure = |config: &mut breachgate::Config| {
        config.delivery.concurrency = concurrency;
        config.delivery.allow_private = vec!["127.0.0.1/32".parse().unwrap()];
        config.email.transport = breachgate::delivery::email::TransportKind::Smtp;
        config.email.host = smtp.ip().to_string();
        config.email.port = smtp.port();
        config.email.tls = breachgate::delivery::email::TlsMode::None;
        if let Some(database) = &database {
            config.store.url = database.url.clone();
        }
    };
    let setup = Instant::now();
    let (app, caller) = synthetic::start_gateway(
        dir.path(),
        clients,
        Some(&sink_url),
        email_every,
        &configure,
    )
    .await;
    let mut apps = vec![app.clone()];
    for _ in 1..instances {
        apps.push(synthetic::start_instance(dir.path(), &configure).await);
    }
    println!(
        "setup: {clients} agreements checked and loaded in {:.1} s ({})",
        setup.elapsed().as_secs_f64(),
        match &database {
            Some(_) => format!("a fresh PostgreSQL database, {instances} instance(s)"),
            None => "SQLite".to_owned(),
        }
    );

    let shutdown = CancellationToken::new();
    let delivering: Vec<_> = apps
        .iter()
        .map(|app| {
            let worker = app
                .worker(Arc::new(breachgate::clock::SystemClock))
                .unwrap();
            tokio::spawn(worker.run(shutdown.clone()))
        })
        .collect();

    sink.expected.store(clients, Ordering::SeqCst);
    let filing = Instant::now();
    synthetic::file_report(&app, &caller, clients).await;
    let accepted = Instant::now();
    println!(
        "filing: {clients} notices validated, signed and stored in {:.2} s",
        (accepted - filing).as_secs_f64()
    );

    sink.done.notified().await;
    let delivered = Instant::now();
    let emails = if email_every == 0 {
        0
    } else {
        clients.div_ceil(email_every)
    };
    while mail.count() < emails {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let mails_done = Instant::now();
    shutdown.cancel();
    for worker in delivering {
        worker.await.unwrap();
    }
    for app in &apps {
        app.services.store.close().await;
    }

    let total = (delivered - accepted).as_secs_f64();
    let mut latencies: Vec<f64> = sink
        .arrivals
        .lock()
        .unwrap()
        .iter()
        .map(|t| (*t - accepted).as_secs_f64())
        .collect();
    latencies.sort_by(f64::total_cmp);
    let gateway_rate = clients as f64 / total;
    println!(
        "breachgate: {clients} webhooks in {total:.2} s = {gateway_rate:.0}/s; accept-to-delivery p50 {:.2} s, p99 {:.2} s; {emails} emails done after {:.2} s",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        (mails_done - accepted).as_secs_f64(),
    );

    if apps.len() > 1 {
        let shares: Vec<String> = apps
            .iter()
            .map(|app| webhooks_delivered(app).to_string())
            .collect();
        println!("webhooks delivered by instance: {}", shares.join(", "));
    }

    let sample = sink.sample.lock().unwrap().clone().unwrap();
    let bare = Instant::now();
    bare_client(
        &format!("{sink_url}/bare"),
        sample.clone(),
        clients,
        concurrency,
    )
    .await;
    let bare_total = bare.elapsed().as_secs_f64();
    let bare_rate = clients as f64 / bare_total;
    println!(
        "bare hyper client: {clients} posts of {} bytes in {bare_total:.2} s = {bare_rate:.0}/s",
        sample.len()
    );
    println!(
        "ratio breachgate / bare client: {:.2}",
        gateway_rate / bare_rate
    );
    println!("peak memory (VmHWM): {:.0} MiB", peak_memory_mib());
    let on_database = store.map_or_else(String::new, |url| {
        format!(
            " --store {} --instances {instances}",
            without_password(&url)
        )
    });
    println!("reproduce: cargo bench --bench fanout -- --clients {clients} --concurrency {concurrency} --email-every {email_every}{on_database}");
    // The database goes once every instance has closed its connections.
    drop(database);
}
