//! A large fan-out through the served binary: the filing is streamed in
//! chunks into one transaction, so a SIGKILL while it is written leaves the
//! whole incident or nothing; the report's answer counts instead of listing;
//! the stored (compressed) notices read back as the very bytes the clients
//! were sent; and the paged list of outcomes names every client once.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Child;

use serde_json::Value;

use crate::support;
use crate::support::receiver::Receiver;
use crate::support::{repo_path, TEST_SECRET};

/// Above the answer's listing threshold (1,000) and two chunks of notices:
/// the gateway is killed once the first is written.
const CLIENTS: usize = 1_500;

fn start_gateway(dir: &Path) -> (Child, String) {
    support::spawn_serve(
        &dir.join("breachgate.toml"),
        &[("BREACHGATE_BENCH_SECRET", TEST_SECRET.to_owned())],
        &dir.join("gateway.log"),
    )
}

fn write_config(dir: &Path) {
    std::fs::write(
        dir.join("breachgate.toml"),
        format!(
            r#"[server]
listen = "127.0.0.1:0"
rate_limit_per_minute = 1000000
rate_limit_burst = 100000
[paths]
data_dir = "{data}"
contracts = "{contracts}"
schemas = "{schemas}"
[log]
format = "json"
filter = "breachgate=info"
[delivery]
concurrency = 64
poll_interval_ms = 100
allow_private = ["127.0.0.1/32"]
"#,
            data = dir.join("data").display(),
            contracts = dir.join("contracts").display(),
            schemas = repo_path("schemas").display(),
        ),
    )
    .unwrap();
}

/// Blocks until the gateway's log has a line with `message`, and returns it.
/// The log is the gateway's own account of its progress, copied to the
/// file as it is written; nothing else tells a test how far a filing got.
fn wait_for_log(dir: &Path, message: &str) -> Value {
    loop {
        let log = std::fs::read_to_string(dir.join("gateway.log")).unwrap_or_default();
        if let Some(line) = log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|l| l["fields"]["message"] == message)
        {
            return line;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

struct Staff {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Staff {
    async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    async fn json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.unwrap()
    }

    async fn file(&self) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(format!("{}/v1/reports", self.base))
            .bearer_auth(&self.token)
            .json(&support::synthetic::report())
            .send()
            .await
    }

    /// Every page of the incident's clients, following `next`.
    async fn every_client_page(&self, incident_id: &str, limit: usize) -> Vec<Value> {
        let mut notices = Vec::new();
        let mut next = Some(format!("/v1/incidents/{incident_id}/clients?limit={limit}"));
        while let Some(path) = next {
            let page = self.json(&path).await;
            notices.extend(page["notices"].as_array().unwrap().iter().cloned());
            next = page["next"].as_str().map(str::to_owned);
        }
        notices
    }
}

fn staff_token(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("data/initial-tokens.txt"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("staff "))
        .unwrap()
        .to_owned()
}

/// The distinct client paths the receiver was sent a notice on.
fn reached(requests: &[support::receiver::Received]) -> BTreeSet<String> {
    requests.iter().map(|r| r.path.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_while_filing_leaves_the_whole_incident_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    support::synthetic::write_contracts(
        &dir.path().join("contracts"),
        CLIENTS,
        Some(&receiver.url("hook")),
        0,
    );
    write_config(dir.path());

    let (mut gateway, base) = start_gateway(dir.path());
    let staff = Staff {
        http: reqwest::Client::new(),
        base,
        token: staff_token(dir.path()),
    };
    let filing = tokio::spawn(async move { staff.file().await.map(|r| r.status()) });
    // The first chunk is written into the filing's transaction, the rest
    // are still to come: kill the gateway now.
    let progress = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || wait_for_log(&dir, "filing: notices written, not yet committed")
    })
    .await
    .unwrap();
    gateway.kill().unwrap();
    gateway.wait().unwrap();
    assert!(
        progress["fields"]["notices"].as_u64().unwrap() < CLIENTS as u64,
        "killed mid-filing: {progress}"
    );
    let answered = filing.await.unwrap();

    let (mut gateway, base) = start_gateway(dir.path());
    let staff = Staff {
        http: reqwest::Client::new(),
        base,
        token: staff_token(dir.path()),
    };
    let incidents = staff.json("/v1/incidents").await;
    let incidents = incidents["incidents"].as_array().unwrap();
    match incidents.as_slice() {
        // Nothing of the interrupted filing: it was never answered.
        [] => assert!(answered.is_err(), "answered {answered:?}, stored nothing"),
        // The whole incident (the commit beat the kill): every notice of it
        // is then delivered.
        [incident] => {
            assert_eq!(incident["clients"], CLIENTS, "{incident}");
            receiver
                .wait_until(|requests| reached(requests).len() == CLIENTS)
                .await;
        }
        more => panic!("one filing made {} incidents", more.len()),
    }

    // Filed again, uninterrupted: the answer counts and links instead of
    // listing every client.
    let before = receiver.all_requests().len();
    let answer: Value = staff.file().await.unwrap().json().await.unwrap();
    assert_eq!(answer["affected_clients"], CLIENTS, "{answer}");
    assert_eq!(answer["queued"], CLIENTS);
    assert_eq!(answer["held"], 0);
    assert_eq!(answer["held_notices"], serde_json::json!([]));
    assert!(answer.get("clients").is_none(), "no full listing");
    let incident_id = answer["incident_id"].as_str().unwrap();
    assert_eq!(
        answer["clients_url"],
        format!("/v1/incidents/{incident_id}/clients")
    );
    receiver
        .wait_until(|requests| reached(&requests[before..]).len() == CLIENTS)
        .await;

    // Every client's notice reads back from the store as the bytes its
    // webhook received, and its JWS verifies.
    let jwks = staff.json("/.well-known/jwks.json").await;
    let received: Vec<_> = receiver.all_requests().split_off(before);
    let mut by_notice: HashMap<String, (Vec<u8>, String)> = HashMap::new();
    for request in &received {
        let notice: Value = serde_json::from_slice(&request.body).unwrap();
        let jws = request.header("breachgate-notice-jws");
        breachgate::signing::verify_detached(&jwks, &request.body, &jws)
            .expect("the delivered notice's JWS verifies");
        by_notice.insert(
            notice["data"]["notice_id"].as_str().unwrap().to_owned(),
            (request.body.to_vec(), jws),
        );
    }
    assert_eq!(by_notice.len(), CLIENTS);
    for (notice_id, (body, jws)) in &by_notice {
        let response = staff
            .get(&format!("/v1/incidents/{incident_id}/notices/{notice_id}"))
            .await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["breachgate-notice-jws"], jws.as_str());
        assert_eq!(
            &response.bytes().await.unwrap().to_vec(),
            body,
            "{notice_id}"
        );
    }

    // The paged list covers every client exactly once, with the notice
    // each was sent.
    let listed = staff.every_client_page(incident_id, 700).await;
    let clients: Vec<&str> = listed
        .iter()
        .map(|n| n["client_id"].as_str().unwrap())
        .collect();
    let distinct: BTreeSet<&str> = clients.iter().copied().collect();
    assert_eq!(clients.len(), CLIENTS, "one notice per client, none twice");
    assert_eq!(distinct.len(), CLIENTS);
    assert!(clients.windows(2).all(|w| w[0] < w[1]), "in client order");
    for notice in &listed {
        assert!(by_notice.contains_key(notice["notice_id"].as_str().unwrap()));
        assert_eq!(notice["sequence"], 1);
    }

    gateway.kill().unwrap();
    gateway.wait().unwrap();
}

#[tokio::test]
async fn the_paged_client_list_checks_its_query_and_the_incident() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = support::Gateway::start(dir.path()).await;
    let (status, answer) = gateway
        .post_report(&gateway.staff, &support::fixture("report-lms.json"))
        .await;
    assert_eq!(status, 201, "{answer}");
    let incident_id = answer["incident_id"].as_str().unwrap();
    // A small fan-out keeps the full answer, without a link.
    assert!(answer["clients"].is_array() && answer.get("clients_url").is_none());

    let all = support::client_ids(&answer);
    let (status, first) = gateway
        .get_json(
            &gateway.staff,
            &format!("/v1/incidents/{incident_id}/clients?limit=1"),
        )
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["notices"][0]["client_id"], all[0].as_str());
    assert_eq!(
        first["next"],
        format!(
            "/v1/incidents/{incident_id}/clients?after={}&limit=1",
            all[0]
        )
    );
    let (_, rest) = gateway
        .get_json(
            &gateway.staff,
            &format!("/v1/incidents/{incident_id}/clients?after={}", all[0]),
        )
        .await;
    let rest: Vec<&str> = rest["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(rest, all[1..]);

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=5001", "limit"),
        ("limit=many", "limit"),
        ("after=Not%20A%20Client", "after"),
    ] {
        let (status, error) = gateway
            .get_json(
                &gateway.staff,
                &format!("/v1/incidents/{incident_id}/clients?{query}"),
            )
            .await;
        assert_eq!(status, 400, "{query}: {error}");
        assert_eq!(error["error"]["details"][0]["path"], field, "{query}");
    }
    let (status, _) = gateway
        .get_json(&gateway.staff, "/v1/incidents/inc_nothing/clients")
        .await;
    assert_eq!(status, 404);
    gateway.stop().await;
}
