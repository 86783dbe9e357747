//! Nothing accepted is lost: the gateway is killed with SIGKILL in the middle
//! of a fan-out, restarted, and every notice still reaches every endpoint.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command};

use crate::support;
use crate::support::receiver::Receiver;
use crate::support::{repo_path, TEST_SECRET};

const CLIENTS: usize = 300;

/// Starts the gateway binary and returns it with the address it listens on.
fn start_gateway(dir: &Path) -> (Child, String) {
    support::spawn_serve(
        &dir.join("breachgate.toml"),
        &[("BREACHGATE_BENCH_SECRET", TEST_SECRET.to_owned())],
        &dir.join("gateway.log"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_killed_mid_fan_out_delivers_everything_after_restart() {
    let dir = crate::support::test_dir();
    let receiver = Receiver::start().await;
    support::synthetic::write_contracts(
        &dir.path().join("contracts"),
        CLIENTS,
        Some(&receiver.url("hook")),
        0,
    );
    std::fs::write(
        dir.path().join("breachgate.toml"),
        format!(
            r#"[server]
listen = "127.0.0.1:0"
[paths]
data_dir = "{data}"
contracts = "{contracts}"
schemas = "{schemas}"
[log]
format = "json"
filter = "breachgate=info"
[delivery]
concurrency = 32
lease_seconds = 3
timeout_ms = 2000
poll_interval_ms = 100
allow_private = ["127.0.0.1/32"]
"#,
            data = dir.path().join("data").display(),
            contracts = dir.path().join("contracts").display(),
            schemas = repo_path("schemas").display(),
        ),
    )
    .unwrap();

    // Every endpoint hangs, so the gateway is killed with deliveries in flight
    // and most still queued.
    for i in 0..CLIENTS {
        receiver.hang(&format!("hook/client-{i:06}"));
    }
    let (mut gateway, base) = start_gateway(dir.path());
    let staff = std::fs::read_to_string(dir.path().join("data/initial-tokens.txt")).unwrap();
    let staff = staff
        .lines()
        .find_map(|l| l.strip_prefix("staff "))
        .unwrap()
        .to_owned();
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/v1/reports"))
        .bearer_auth(&staff)
        .json(&support::synthetic::report())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["queued"], CLIENTS);
    receiver.wait_until(|requests| requests.len() >= 10).await;
    gateway.kill().unwrap();
    gateway.wait().unwrap();
    let before_restart = receiver.all_requests().len();
    assert!(
        before_restart < CLIENTS,
        "killed mid fan-out ({before_restart} of {CLIENTS} sent)"
    );

    receiver.release();
    let (mut gateway, _) = start_gateway(dir.path());
    // Requests the killed gateway left hanging do not count: every endpoint
    // must be reached by the restarted one.
    receiver
        .wait_until(|requests| {
            let reached: std::collections::HashSet<&str> = requests[before_restart..]
                .iter()
                .map(|r| r.path.as_str())
                .collect();
            reached.len() == CLIENTS
        })
        .await;

    // Any duplicate of a notice carries the same webhook-id.
    let mut ids: HashMap<String, Vec<String>> = HashMap::new();
    for request in receiver.all_requests() {
        ids.entry(request.path.clone())
            .or_default()
            .push(request.header("webhook-id"));
    }
    for (path, seen) in &ids {
        assert!(seen.iter().all(|id| id == &seen[0]), "{path}: {seen:?}");
    }

    // A graceful stop records what is in flight; then every delivery is delivered.
    Command::new("kill")
        .args(["-INT", &gateway.id().to_string()])
        .status()
        .unwrap();
    assert!(gateway.wait().unwrap().success());
    let (mut gateway, base_after) = start_gateway(dir.path());
    let incident: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{base_after}/v1/incidents/{}",
            answer["incident_id"].as_str().unwrap()
        ))
        .bearer_auth(&staff)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let statuses: Vec<&str> = incident["notices"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|n| n["deliveries"].as_array().unwrap())
        .map(|d| d["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.len(), CLIENTS);
    assert!(statuses.iter().all(|s| *s == "delivered"), "{statuses:?}");
    gateway.kill().unwrap();
    gateway.wait().unwrap();
}
