//! `breachgate backup` copies the database of a running gateway in the
//! middle of a fan-out; the copy, restored beside the same keys into a new
//! data directory, finishes the deliveries, and its notices verify.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command};

use serde_json::Value;

use crate::support::receiver::Receiver;
use crate::support::{
    breachgate, file_report, initial_staff_token, spawn_serve, synthetic, write_serve_config,
    TEST_SECRET,
};

const CLIENTS: usize = 40;

/// Writes a configuration serving from `data`, retrying every second.
fn write_config(dir: &Path, name: &str, data: &Path) -> std::path::PathBuf {
    let path = dir.join(name);
    let schedule = ["1"; 60].join(", ");
    write_serve_config(
        &path,
        data,
        &dir.join("contracts"),
        &format!("[delivery]\npoll_interval_ms = 100\nallow_private = [\"127.0.0.1/32\"]\n[delivery.retry]\nschedule_seconds = [{schedule}]\njitter = 0.0\n"),
    );
    path
}

fn serve(config: &Path, log: &Path) -> (Child, String) {
    spawn_serve(
        config,
        &[("BREACHGATE_BENCH_SECRET", TEST_SECRET.to_owned())],
        log,
    )
}

/// Stops a served gateway as a service manager does, and waits for it.
fn stop(mut gateway: Child) {
    Command::new("kill")
        .args(["-TERM", &gateway.id().to_string()])
        .status()
        .unwrap();
    assert!(gateway.wait().unwrap().success());
}

fn path_of(i: usize) -> String {
    format!("hook/client-{i:06}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_mid_fan_out_restores_into_a_new_data_dir_and_finishes_the_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    synthetic::write_contracts(
        &dir.path().join("contracts"),
        CLIENTS,
        Some(&receiver.url("hook")),
        0,
    );
    // Even clients take their notice at once; odd ones answer 503 until the
    // restore, so their deliveries are retried (every second) throughout.
    let failing: Vec<usize> = (1..CLIENTS).step_by(2).collect();
    for &i in &failing {
        receiver.respond(&path_of(i), &[503; 10_000]);
    }
    let original = dir.path().join("data");
    let config = write_config(dir.path(), "breachgate.toml", &original);
    let (gateway, base) = serve(&config, &dir.path().join("gateway.log"));
    let staff = initial_staff_token(&original);
    let http = reqwest::Client::new();
    let answer = file_report(&base, &staff, &synthetic::report()).await;
    assert_eq!(answer["queued"], CLIENTS, "{answer}");
    let incident = answer["incident_id"].as_str().unwrap().to_owned();

    // Mid fan-out: every even client served, every odd one failed and
    // retried at least once.
    receiver
        .wait_until(|requests| {
            let mut seen: HashMap<&str, usize> = HashMap::new();
            for r in requests {
                *seen.entry(r.path.as_str()).or_default() += 1;
            }
            (0..CLIENTS).all(|i| seen.get(path_of(i).as_str()) >= Some(&(1 + i % 2)))
        })
        .await;

    let backup = dir.path().join("backup.db");
    let to = backup.to_str().unwrap();
    let (ok, printed) = breachgate(
        &["backup", "--to", to, "--config", config.to_str().unwrap()],
        dir.path(),
    );
    assert!(ok, "{printed}");
    assert_eq!(mode(&backup), 0o600);
    let (ok, printed) = breachgate(
        &["backup", "--to", to, "--config", config.to_str().unwrap()],
        dir.path(),
    );
    assert!(!ok && printed.contains("File exists"), "{printed}");
    let (ok, help) = breachgate(&["backup", "--help"], dir.path());
    assert!(
        ok && help.contains("--to <FILE>") && help.contains("0600"),
        "{help}"
    );
    assert!(
        receiver.requests(&path_of(1)).len() >= 2,
        "the gateway kept retrying"
    );
    stop(gateway);
    let before_restore = receiver.all_requests().len();
    assert_spans_name_incident_and_notice(&dir.path().join("gateway.log"), &incident);

    // Restore: the backup and the same keys, in a new data directory.
    let restored = dir.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    std::fs::copy(&backup, restored.join("breachgate.db")).unwrap();
    for key in ["signing-key.pem", "secrets.key"] {
        std::fs::copy(original.join(key), restored.join(key)).unwrap();
    }
    for &i in &failing {
        receiver.respond(&path_of(i), &[]);
    }
    let config = write_config(dir.path(), "restored.toml", &restored);
    let (gateway, base) = serve(&config, &dir.path().join("restored.log"));

    receiver
        .wait_until(|requests| {
            let reached: HashSet<&str> = requests[before_restore..]
                .iter()
                .map(|r| r.path.as_str())
                .collect();
            failing
                .iter()
                .all(|&i| reached.contains(path_of(i).as_str()))
        })
        .await;

    // Every delivery is done, under the webhook-id it always had.
    let ids = receiver.webhook_ids();
    assert!(ids.values().all(|seen| seen.len() == 1), "{ids:?}");
    // The receiver answers before the worker records the attempt: wait for
    // the record.
    let mut waited = 0;
    let view = loop {
        let view = get_json(&http, &format!("{base}/v1/incidents/{incident}"), &staff).await;
        let statuses: Vec<String> = view["notices"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|n| n["deliveries"].as_array().unwrap())
            .map(|d| d["status"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(statuses.len(), CLIENTS);
        if statuses.iter().all(|s| s == "delivered") {
            break view;
        }
        waited += 1;
        assert!(waited < 300, "not all delivered: {statuses:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let notices = view["notices"].as_array().unwrap();
    assert_eq!(notices.len(), CLIENTS);

    // The restored notices are the signed bytes, under the same key.
    let jwks = get_json(&http, &format!("{base}/.well-known/jwks.json"), &staff).await;
    for notice in notices {
        let id = notice["notice_id"].as_str().unwrap();
        let response = http
            .get(format!("{base}/v1/incidents/{incident}/notices/{id}"))
            .bearer_auth(&staff)
            .send()
            .await
            .unwrap();
        let jws = response.headers()["breachgate-notice-jws"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = response.bytes().await.unwrap();
        ::breachgate::signing::verify_detached(&jwks, &body, &jws)
            .unwrap_or_else(|e| panic!("{id}: {e}"));
    }
    for request in &receiver.all_requests()[before_restore..] {
        let jws = request.header("breachgate-notice-jws");
        ::breachgate::signing::verify_detached(&jwks, &request.body, &jws).unwrap();
    }
    stop(gateway);
}

async fn get_json(http: &reqwest::Client, url: &str, token: &str) -> Value {
    let response = http.get(url).bearer_auth(token).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    response.json().await.unwrap()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The failed attempts were logged inside their delivery's span, which
/// names the incident and the notice.
fn assert_spans_name_incident_and_notice(log: &Path, incident: &str) {
    let text = std::fs::read_to_string(log).unwrap();
    let failed: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "delivery attempt failed; will retry")
        .collect();
    assert!(!failed.is_empty(), "{text}");
    for line in failed {
        assert_eq!(line["span"]["incident"], incident, "{line}");
        let notice = line["span"]["notice"].as_str().unwrap_or_default();
        assert!(notice.starts_with("ntc_"), "{line}");
    }
}
