//! Several gateway instances on one PostgreSQL database (PostgreSQL pass
//! only): a report filed on one wakes the workers of the others, admin
//! changes made on either reach both registries and none is lost when both
//! change the agreements at once, the audit chain stays one chain when both
//! append at once, and together they keep each endpoint within its
//! in-flight limit.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use breachgate::clock::SystemClock;
use serde_json::Value;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::admin::{acme, call, create_at_once, listed_clients, CLIENT};
use crate::support::receiver::Receiver;
use crate::support::{
    self, breachgate, client_ids, contracts_for, fixture, repo_path, test_config, Gateway,
};

/// A config file for a `breachgate` binary on the test directory `dir`,
/// whose idle worker looks for work only every `poll_ms`.
fn write_config(dir: &Path, contracts: &Path, poll_ms: u64) -> std::path::PathBuf {
    let path = dir.join("breachgate.toml");
    std::fs::write(
        &path,
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
poll_interval_ms = {poll_ms}
allow_private = ["127.0.0.1/32"]
"#,
            data = dir.join("data").display(),
            contracts = contracts.display(),
            schemas = repo_path("schemas").display(),
        ),
    )
    .unwrap();
    path
}

/// Waits until `done` holds, failing after `limit`: what another instance
/// changed shows only in this one's memory, so there is no event to await.
async fn eventually(what: &str, limit: Duration, done: impl Fn() -> bool) {
    tokio::time::timeout(limit, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: not within {limit:?}"));
}

fn knows(gateway: &Gateway, client: &str) -> bool {
    gateway
        .app
        .services
        .registry
        .current()
        .clients()
        .any(|c| c.id.as_str() == client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_filed_on_one_instance_wakes_the_worker_of_another() {
    if !support::postgres_pass() {
        return;
    }
    let dir = support::test_dir();
    let receiver = Receiver::start().await;
    let contracts = contracts_for(dir.path(), &receiver.base);
    // Instance A serves the API and runs no worker; instance B runs the
    // worker, whose next poll is ten minutes away.
    let a = Gateway::start_with(test_config(&dir.path().join("data"), &contracts)).await;
    let config = write_config(dir.path(), &contracts, 600_000);
    let (mut b, _) = support::spawn_serve(&config, &[], &dir.path().join("b.log"));

    let (status, answer) = a.post_report(&a.staff, &fixture("report-lms.json")).await;
    assert_eq!(status, 201, "{answer}");
    tokio::time::timeout(
        Duration::from_secs(60),
        receiver.wait_until(|requests| !requests.is_empty()),
    )
    .await
    .expect("instance B delivers at once, not at its next poll");

    b.kill().unwrap();
    b.wait().unwrap();
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_changes_on_either_instance_reach_both_and_the_audit_chain_stays_one() {
    if !support::postgres_pass() {
        return;
    }
    let dir = support::test_dir();
    let contracts = contracts_for(dir.path(), "http://127.0.0.1:9");
    // 100 actions at once per admin token, within its rate limit.
    let config = || {
        let mut config = test_config(&dir.path().join("data"), &contracts);
        config.server.rate_limit_burst = 200;
        config
    };
    let a = Gateway::start_with(config()).await;
    let b = Gateway::start_with(config()).await;

    // Created on A, deleted on B, created again on A: each change reaches
    // the other instance's registry.
    let (status, created) = call(
        &a,
        reqwest::Method::POST,
        "/v1/admin/clients",
        Some(&acme("http://127.0.0.1:9")),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    eventually(
        "B sees the client A created",
        Duration::from_secs(5),
        || knows(&b, CLIENT),
    )
    .await;
    let path = format!("/v1/admin/clients/{CLIENT}");
    let (status, _) = call(&b, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 204);
    eventually(
        "A sees the client B deleted",
        Duration::from_secs(5),
        || !knows(&a, CLIENT),
    )
    .await;
    let (status, created) = call(
        &a,
        reqwest::Method::POST,
        "/v1/admin/clients",
        Some(&acme("http://127.0.0.1:9")),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    eventually(
        "B sees the client A created again",
        Duration::from_secs(5),
        || knows(&b, CLIENT),
    )
    .await;

    // Both instances' next reports reach the client as it is now.
    for gateway in [&a, &b] {
        let (status, answer) = gateway
            .post_report(&gateway.staff, &fixture("report-lms.json"))
            .await;
        assert_eq!(status, 201, "{answer}");
        assert!(client_ids(&answer).contains(&CLIENT.to_owned()), "{answer}");
    }

    // 200 audited actions at once, half on each instance.
    let mut actions = JoinSet::new();
    for i in 0..200 {
        let (base, admin) = if i % 2 == 0 {
            (a.base.clone(), a.admin.clone())
        } else {
            (b.base.clone(), b.admin.clone())
        };
        let http = a.http.clone();
        actions.spawn(async move {
            // A busy pool may shed a request with 503; callers retry it.
            loop {
                let response = http
                    .post(format!("{base}/v1/admin/tokens"))
                    .bearer_auth(&admin)
                    .json(&serde_json::json!({"role": "staff", "name": format!("desk {i}")}))
                    .send()
                    .await
                    .unwrap();
                if response.status() != 503 {
                    return response.status().as_u16();
                }
            }
        });
    }
    while let Some(status) = actions.join_next().await {
        assert_eq!(status.unwrap(), 201);
    }
    let (status, tokens) = call(&a, reqwest::Method::GET, "/v1/admin/tokens", None).await;
    assert_eq!(status, 200);
    let desks = tokens_named_desk(&tokens);
    assert_eq!(desks, 200, "{tokens}");

    write_config(dir.path(), &contracts, 1_000);
    let (ok, output) = breachgate(
        &[
            "audit",
            "verify",
            "--config",
            dir.path().join("breachgate.toml").to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(ok && output.contains("chain intact"), "{output}");
    a.stop().await;
    b.stop().await;
}

/// Runs `gateway`'s delivery worker until `stop` is cancelled.
fn deliver(gateway: &Gateway, stop: &CancellationToken) -> JoinHandle<()> {
    let worker = gateway.app.worker(Arc::new(SystemClock)).unwrap();
    tokio::spawn(worker.run(stop.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_created_on_two_instances_at_once_are_all_kept_and_reached_from_both() {
    if !support::postgres_pass() {
        return;
    }
    let dir = support::test_dir();
    let receiver = Receiver::start().await;
    let contracts = contracts_for(dir.path(), &receiver.base);
    let config = || {
        let mut config = test_config(&dir.path().join("data"), &contracts);
        config.server.rate_limit_burst = 100;
        config.delivery.allow_private = vec!["127.0.0.1/32".parse().unwrap()];
        config
    };
    let a = Gateway::start_with(config()).await;
    let b = Gateway::start_with(config()).await;

    // Each change rewrites the agreements whole: one made from what another
    // instance has since changed is made again, so none drops another's client.
    let ids: Vec<String> = (0..30).map(|i| format!("school-{i:02}")).collect();
    create_at_once(&[&a, &b], &ids, &receiver.base).await;
    for gateway in [&a, &b] {
        eventually(
            "every client created reaches both registries",
            Duration::from_secs(5),
            || ids.iter().all(|id| knows(gateway, id)),
        )
        .await;
        let listed = listed_clients(gateway).await;
        for id in &ids {
            assert!(listed.contains(id), "{id} is listed on {}", gateway.base);
        }
    }

    // The next report on each instance reaches every one of them.
    let stop = CancellationToken::new();
    let workers = [deliver(&a, &stop), deliver(&b, &stop)];
    for gateway in [&a, &b] {
        let (status, answer) = gateway
            .post_report(&gateway.staff, &fixture("report-lms.json"))
            .await;
        assert_eq!(status, 201, "{answer}");
        let reached = client_ids(&answer);
        for id in &ids {
            assert!(
                reached.contains(id),
                "{id} is reached from {}",
                gateway.base
            );
        }
    }
    tokio::time::timeout(
        Duration::from_secs(60),
        receiver.wait_until(|requests| {
            ids.iter()
                .all(|id| requests.iter().filter(|r| &r.path == id).count() == 2)
        }),
    )
    .await
    .expect("both reports reach the endpoint of every client created");
    stop.cancel();
    for worker in workers {
        worker.await.unwrap();
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_together_keep_each_endpoint_within_its_in_flight_limit() {
    if !support::postgres_pass() {
        return;
    }
    const ENDPOINTS: usize = 3;
    const REPORTS: usize = 8;
    const PER_ENDPOINT: usize = 2;
    let dir = support::test_dir();
    let receiver = Receiver::start().await;
    // The first requests hang until both instances together hold every
    // endpoint at its limit; after that each is held open a while, so both
    // keep claiming while deliveries are in flight and more are due.
    for i in 0..ENDPOINTS {
        receiver.hang(&format!("hook/client-{i:06}"));
    }
    receiver.hold_open(Duration::from_millis(300));
    support::synthetic::write_contracts(
        &dir.path().join("contracts"),
        ENDPOINTS,
        Some(&receiver.url("hook")),
        0,
    );
    // Every test sets the same value, so tests running in parallel agree.
    std::env::set_var("BREACHGATE_BENCH_SECRET", support::TEST_SECRET);
    let config = |concurrency| {
        let mut config = test_config(&dir.path().join("data"), &dir.path().join("contracts"));
        config.delivery.per_endpoint = PER_ENDPOINT;
        config.delivery.concurrency = concurrency;
        config.delivery.poll_interval_ms = 50;
        config.delivery.timeout_ms = 30_000;
        config.delivery.allow_private = vec!["127.0.0.1/32".parse().unwrap()];
        config
    };
    // Neither instance alone can hold every endpoint at its limit: reaching
    // it takes both at once, each claiming on the same endpoints.
    let a = Gateway::start_with(config(ENDPOINTS * PER_ENDPOINT / 2)).await;
    let b = Gateway::start_with(config(ENDPOINTS * PER_ENDPOINT / 2)).await;
    let stop = CancellationToken::new();
    let workers = [deliver(&a, &stop), deliver(&b, &stop)];

    // Every endpoint gets one notice per report, filed on both instances at once.
    let mut filing = JoinSet::new();
    for i in 0..REPORTS {
        let gateway = if i % 2 == 0 { &a } else { &b };
        let request = gateway
            .http
            .post(gateway.url("/v1/reports"))
            .bearer_auth(&gateway.staff)
            .json(&support::synthetic::report());
        filing.spawn(async move { request.send().await.unwrap().status().as_u16() });
    }
    while let Some(status) = filing.join_next().await {
        assert_eq!(status.unwrap(), 201);
    }
    tokio::time::timeout(
        Duration::from_secs(60),
        receiver.wait_until(|requests| requests.len() >= ENDPOINTS * PER_ENDPOINT),
    )
    .await
    .expect("both instances together hold every endpoint at its limit");
    receiver.release();
    tokio::time::timeout(
        Duration::from_secs(60),
        receiver.wait_until(|requests| requests.len() >= ENDPOINTS * REPORTS),
    )
    .await
    .expect("every notice is delivered");

    let most = receiver.most_in_flight_by_path();
    assert_eq!(most.len(), ENDPOINTS, "{most:?}");
    assert!(
        most.values().all(|n| *n <= PER_ENDPOINT),
        "more than {PER_ENDPOINT} requests at once on an endpoint: {most:?}"
    );
    assert_eq!(
        most.values().max(),
        Some(&PER_ENDPOINT),
        "the limit is reached: {most:?}"
    );
    stop.cancel();
    for worker in workers {
        worker.await.unwrap();
    }
    a.stop().await;
    b.stop().await;
}

fn tokens_named_desk(listing: &Value) -> usize {
    listing["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["name"].as_str().is_some_and(|n| n.starts_with("desk ")))
        .count()
}

const CLIENTS: usize = 2_000;

/// A config file for a `breachgate` binary on `dir`'s synthetic agreements,
/// with short leases so a killed instance's claims are soon taken over.
fn write_fan_out_config(dir: &Path, name: &str, per_endpoint: usize) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
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
concurrency = 64
per_endpoint = {per_endpoint}
lease_seconds = 3
timeout_ms = 2000
poll_interval_ms = 200
allow_private = ["127.0.0.1/32"]
[delivery.retry]
schedule_seconds = [1, 1, 1, 1, 1, 1, 1, 1]
"#,
            data = dir.join("data").display(),
            contracts = dir.join("contracts").display(),
            schemas = repo_path("schemas").display(),
        ),
    )
    .unwrap();
    path
}

fn initial_staff_token(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("data/initial-tokens.txt"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("staff "))
        .unwrap()
        .to_owned()
}

/// The statuses of every delivery of incident `id`, as `base` reports them.
async fn delivery_statuses(base: &str, staff: &str, id: &str) -> Vec<String> {
    let incident: Value = reqwest::Client::new()
        .get(format!("{base}/v1/incidents/{id}"))
        .bearer_auth(staff)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    incident["notices"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| n["deliveries"].as_array().unwrap())
        .map(|d| d["status"].as_str().unwrap().to_owned())
        .collect()
}

/// Waits until every delivery of incident `id` is `delivered` (the recorder
/// writes batches, so the register trails the receiver a little).
async fn all_delivered(base: &str, staff: &str, id: &str, count: usize) {
    tokio::time::timeout(Duration::from_secs(120), async {
        loop {
            let statuses = delivery_statuses(base, staff, id).await;
            if statuses.len() == count && statuses.iter().all(|s| s == "delivered") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("every delivery ends delivered");
}

/// Every path got a request, and every request on a path carried one `webhook-id`.
fn every_endpoint_got_one_notice(receiver: &Receiver) {
    let mut ids: std::collections::HashMap<String, String> = Default::default();
    for request in receiver.all_requests() {
        let id = ids
            .entry(request.path.clone())
            .or_insert_with(|| request.header("webhook-id"));
        assert_eq!(id, &request.header("webhook-id"), "{}", request.path);
    }
    assert_eq!(ids.len(), CLIENTS);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_killed_mid_fan_out_leaves_the_rest_to_the_other() {
    if !support::postgres_pass() {
        return;
    }
    let dir = support::test_dir();
    let receiver = Receiver::start().await;
    support::synthetic::write_contracts(
        &dir.path().join("contracts"),
        CLIENTS,
        Some(&receiver.url("hook")),
        0,
    );
    let per_endpoint = 2;
    let secret = [("BREACHGATE_BENCH_SECRET", support::TEST_SECRET.to_owned())];
    let config_a = write_fan_out_config(dir.path(), "a.toml", per_endpoint);
    let config_b = write_fan_out_config(dir.path(), "b.toml", per_endpoint);
    let (mut a, base_a) = support::spawn_serve(&config_a, &secret, &dir.path().join("a.log"));
    let (mut b, base_b) = support::spawn_serve(&config_b, &secret, &dir.path().join("b.log"));
    let staff = initial_staff_token(dir.path());

    let answer: Value = reqwest::Client::new()
        .post(format!("{base_a}/v1/reports"))
        .bearer_auth(&staff)
        .json(&support::synthetic::report())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["queued"], CLIENTS, "{answer}");
    receiver
        .wait_until(|requests| requests.len() >= CLIENTS / 4)
        .await;
    a.kill().unwrap();
    a.wait().unwrap();
    let before = receiver.all_requests().len();
    assert!(
        before < CLIENTS,
        "killed mid fan-out ({before} of {CLIENTS} sent)"
    );

    let incident = answer["incident_id"].as_str().unwrap();
    all_delivered(&base_b, &staff, incident, CLIENTS).await;
    every_endpoint_got_one_notice(&receiver);
    assert!(
        receiver.most_in_flight() <= per_endpoint,
        "{} requests at once on one endpoint",
        receiver.most_in_flight()
    );
    b.kill().unwrap();
    b.wait().unwrap();
}

/// A TCP proxy to `target` that can be cut (every connection closed, and
/// the port closed, so new connections are refused as by a stopped server)
/// and restored.
struct Proxy {
    address: std::net::SocketAddr,
    cut: tokio::sync::watch::Sender<bool>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (cut, is_cut) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            let mut listener = Some(listener);
            let mut watching = is_cut.clone();
            loop {
                let open = listener.take();
                let Some(open) = open else {
                    // Cut: the port stays closed until restored.
                    let _ = watching.wait_for(|cut| !*cut).await;
                    listener = Some(tokio::net::TcpListener::bind(address).await.unwrap());
                    continue;
                };
                tokio::select! {
                    _ = watching.wait_for(|cut| *cut) => drop(open),
                    accepted = open.accept() => {
                        listener = Some(open);
                        let Ok((mut inbound, _)) = accepted else { continue };
                        let mut is_cut = is_cut.clone();
                        let target = target.clone();
                        tokio::spawn(async move {
                            let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                                return;
                            };
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                                _ = is_cut.wait_for(|cut| *cut) => {}
                            }
                        });
                    }
                }
            }
        });
        Self { address, cut }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_mid_fan_out_answers_503_and_loses_nothing() {
    if !support::postgres_pass() {
        return;
    }
    const CLIENTS_HERE: usize = 300;
    let dir = support::test_dir();
    let receiver = Receiver::start().await;
    support::synthetic::write_contracts(
        &dir.path().join("contracts"),
        CLIENTS_HERE,
        Some(&receiver.url("hook")),
        0,
    );
    let (_, database) = support::store_env(dir.path()).pop().expect("a database");
    let mut url = reqwest::Url::parse(&database).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::start(target).await;
    url.set_host(Some("127.0.0.1")).unwrap();
    url.set_port(Some(proxy.address.port())).unwrap();
    let config = write_fan_out_config(dir.path(), "gateway.toml", 4);
    let envs = [
        ("BREACHGATE_BENCH_SECRET", support::TEST_SECRET.to_owned()),
        ("BREACHGATE_STORE__URL", url.to_string()),
    ];
    let (mut gateway, base) = support::spawn_serve(&config, &envs, &dir.path().join("gateway.log"));
    let staff = initial_staff_token(dir.path());
    let http = reqwest::Client::new();

    // Every endpoint hangs, so the outage begins with deliveries in flight.
    for i in 0..CLIENTS_HERE {
        receiver.hang(&format!("hook/client-{i:06}"));
    }
    let answer: Value = http
        .post(format!("{base}/v1/reports"))
        .bearer_auth(&staff)
        .json(&support::synthetic::report())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["queued"], CLIENTS_HERE, "{answer}");
    receiver.wait_until(|requests| requests.len() >= 16).await;

    proxy.set_cut(true);
    let refused = http
        .post(format!("{base}/v1/reports"))
        .bearer_auth(&staff)
        .json(&support::synthetic::report())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    // The attempts in flight end while the database is away.
    receiver.release();
    proxy.set_cut(false);

    let incident = answer["incident_id"].as_str().unwrap();
    all_delivered(&base, &staff, incident, CLIENTS_HERE).await;
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let incidents: Value = http
        .get(format!("{base}/v1/incidents"))
        .bearer_auth(&staff)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        incidents["incidents"].as_array().unwrap().len(),
        1,
        "{incidents}"
    );
    gateway.kill().unwrap();
    gateway.wait().unwrap();
}
