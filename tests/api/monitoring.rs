//! What operators watch: the metrics move as a fan-out with failures and
//! retries runs, `/readyz` follows the database file and its migrations,
//! and the Grafana dashboard and the README name only metrics that
//! `/metrics` exposes.

use std::collections::BTreeSet;
use std::path::Path;

use chrono::Duration;
use serde_json::{json, Value};

use crate::support::receiver::Receiver;
use crate::support::smtp_sink::SmtpSink;
use crate::support::{
    delivery_config, fixture, fixture_clock, repo_path, sample, spawn_serve, write_serve_config,
    Gateway,
};

/// The series of a metric with one `channel` label.
fn by_channel(name: &str, channel: &str) -> String {
    format!("{name}{{channel=\"{channel}\"}}")
}

fn attempts(channel: &str, outcome: &str) -> String {
    format!("breachgate_delivery_attempts_total{{channel=\"{channel}\",outcome=\"{outcome}\"}}")
}

fn by_action(name: &str, action: &str) -> String {
    format!("{name}{{action=\"{action}\"}}")
}

/// How many deliveries of `channel` a report answer queued.
fn queued(answer: &Value, channel: &str) -> f64 {
    answer["clients"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["deliveries"].as_array().unwrap())
        .filter(|d| d["channel"] == channel)
        .count() as f64
}

#[tokio::test]
async fn the_metrics_follow_a_fan_out_through_a_failure_a_retry_and_a_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start().await;
    let (smtp, _sink) = SmtpSink::start().await;
    // One endpoint fails twice: retried once after 5 s, then dead-lettered.
    receiver.respond("formavenir/siem", &[503, 503]);
    let mut config = delivery_config(dir.path(), &receiver.base, smtp);
    config.delivery.retry.schedule_seconds = vec![5];
    config.delivery.retry.jitter = 0.0;
    let clock = fixture_clock();
    let gateway = Gateway::start_with_clock(config, clock.clone()).await;
    let worker = gateway.app.worker(clock.clone()).unwrap();

    let before = gateway.metrics().await;
    for channel in ["webhook", "email"] {
        for outcome in ["delivered", "rejected", "failed", "gone", "refused"] {
            assert_eq!(sample(&before, &attempts(channel, outcome)), 0.0);
        }
        let pending = by_channel("breachgate_deliveries_pending", channel);
        assert_eq!(sample(&before, &pending), 0.0);
    }
    assert_eq!(sample(&before, "breachgate_store_up"), 1.0);
    assert_eq!(
        sample(&before, "breachgate_clients_waiting_on_held_notice"),
        0.0
    );

    let (status, answer) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    assert_eq!(status, 201);
    let (webhooks, emails) = (queued(&answer, "webhook"), queued(&answer, "email"));
    let held = answer["held"].as_f64().unwrap();
    assert!(webhooks > 1.0 && emails > 0.0 && held > 0.0, "{answer}");

    let filed = gateway.metrics().await;
    let report = |name| by_action(name, "report");
    assert_eq!(
        sample(&filed, &report("breachgate_filing_duration_seconds_count")),
        1.0
    );
    assert!(sample(&filed, &report("breachgate_filing_duration_seconds_sum")) > 0.0);
    assert_eq!(
        sample(&filed, &report("breachgate_notices_per_filing_sum")),
        answer["affected_clients"].as_f64().unwrap()
    );
    assert_eq!(
        sample(&filed, &report("breachgate_notices_held_total")),
        held
    );
    assert_eq!(
        sample(&filed, "breachgate_clients_waiting_on_held_notice"),
        held,
        "each held notice is a client's latest"
    );
    let pending =
        |text: &str, channel| sample(text, &by_channel("breachgate_deliveries_pending", channel));
    let oldest_due = |text: &str, channel| {
        sample(
            text,
            &by_channel("breachgate_deliveries_oldest_due_age_seconds", channel),
        )
    };
    assert_eq!(
        (pending(&filed, "webhook"), pending(&filed, "email")),
        (webhooks, emails)
    );
    assert_eq!(oldest_due(&filed, "webhook"), 0.0, "due since now");

    // The worker falls behind by a minute.
    clock.advance(Duration::seconds(60));
    let behind = gateway.metrics().await;
    assert_eq!(
        (oldest_due(&behind, "webhook"), oldest_due(&behind, "email")),
        (60.0, 60.0)
    );

    worker.run_once().await.unwrap();
    let first = gateway.metrics().await;
    assert_eq!(
        sample(&first, &attempts("webhook", "delivered")),
        webhooks - 1.0
    );
    assert_eq!(sample(&first, &attempts("webhook", "rejected")), 1.0);
    assert_eq!(sample(&first, &attempts("email", "delivered")), emails);
    let durations = |text: &str, channel| {
        sample(
            text,
            &by_channel(
                "breachgate_delivery_attempt_duration_seconds_count",
                channel,
            ),
        )
    };
    assert_eq!(
        (durations(&first, "webhook"), durations(&first, "email")),
        (webhooks, emails)
    );
    assert_eq!(
        (pending(&first, "webhook"), pending(&first, "email")),
        (1.0, 0.0)
    );
    assert_eq!(
        oldest_due(&first, "webhook"),
        0.0,
        "the retry is not due yet"
    );
    let dead = |text: &str| {
        sample(
            text,
            &by_channel("breachgate_dead_letters_total", "webhook"),
        )
    };
    assert_eq!(dead(&first), 0.0);

    // The retry has been due for 5 s when the worker gets to it; it fails
    // again and is dead-lettered, with a staff alert in the mail outbox.
    clock.advance(Duration::seconds(10));
    assert_eq!(oldest_due(&gateway.metrics().await, "webhook"), 5.0);
    assert_eq!(worker.run_once().await.unwrap(), 1);
    let last = gateway.metrics().await;
    assert_eq!(sample(&last, &attempts("webhook", "rejected")), 2.0);
    assert_eq!(durations(&last, "webhook"), webhooks + 1.0);
    assert_eq!(dead(&last), 1.0);
    assert_eq!(
        (pending(&last, "webhook"), oldest_due(&last, "webhook")),
        (0.0, 0.0)
    );
    assert_eq!(sample(&last, "breachgate_staff_mail_pending"), 1.0);

    // A follow-up counts under its own action.
    let incident = answer["incident_id"].as_str().unwrap();
    let response = gateway
        .http
        .post(gateway.url(&format!("/v1/incidents/{incident}/updates")))
        .bearer_auth(&gateway.staff)
        .json(&json!({"measures": {"in_place": ["Exports are encrypted at rest"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    let updated = gateway.metrics().await;
    let update = |name| by_action(name, "update");
    assert_eq!(
        sample(
            &updated,
            &update("breachgate_filing_duration_seconds_count")
        ),
        1.0
    );
    assert!(sample(&updated, &update("breachgate_notices_per_filing_sum")) > 0.0);

    // Labels name channels, outcomes and actions, never a client.
    for client in crate::support::client_ids(&answer) {
        assert!(!updated.contains(&client), "{client} in /metrics");
    }
    gateway.stop().await;
}

/// `/readyz` once: its status and what it says (`ready`, or the error's
/// message).
async fn readiness(gateway: &Gateway) -> (u16, String) {
    let response = gateway
        .http
        .get(gateway.url("/readyz"))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    let said = match serde_json::from_str::<Value>(&body) {
        Ok(error) => error["error"]["message"].as_str().unwrap().to_owned(),
        Err(_) => body,
    };
    (status, said)
}

#[tokio::test]
async fn readiness_fails_while_the_database_file_is_gone_replaced_unreadable_or_behind_on_migrations(
) {
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::start(dir.path()).await;
    let database = dir.path().join("breachgate.db");
    let aside = dir.path().join("aside.db");
    let ready = (200, "ready".to_owned());
    let not_ready = (503, "the store cannot be reached".to_owned());
    assert_eq!(readiness(&gateway).await, ready);

    // Moved away: the open connections still work, a restart would not.
    std::fs::rename(&database, &aside).unwrap();
    assert_eq!(readiness(&gateway).await, not_ready);
    std::fs::rename(&aside, &database).unwrap();
    assert_eq!(readiness(&gateway).await, ready);

    // Replaced by a file that is not a database.
    std::fs::rename(&database, &aside).unwrap();
    std::fs::write(&database, vec![0x5a; 4096]).unwrap();
    assert_eq!(readiness(&gateway).await, not_ready);
    std::fs::rename(&aside, &database).unwrap();
    assert_eq!(readiness(&gateway).await, ready);

    // Unreadable (mode 000). The gateway runs in this process, with its
    // privileges: a user without CAP_DAC_OVERRIDE (not root) cannot open
    // the file, and the gateway must say it is not ready; root still can,
    // and then the store is in fact reachable. (Asked with access(2): this
    // process must not open and close the file, which would drop SQLite's
    // locks on it.)
    set_mode(&database, 0o000);
    let readable = rustix::fs::access(&database, rustix::fs::Access::READ_OK).is_ok();
    let expected = if readable { &ready } else { &not_ready };
    assert_eq!(&readiness(&gateway).await, expected, "readable: {readable}");
    set_mode(&database, 0o600);
    assert_eq!(readiness(&gateway).await, ready);

    // A migration this build embeds is not recorded as applied.
    let url = format!("sqlite://{}", database.display());
    let mut db = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::query("UPDATE _sqlx_migrations SET success = 0 WHERE version = (SELECT max(version) FROM _sqlx_migrations)")
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(
        readiness(&gateway).await,
        (503, "1 database migration(s) not applied".to_owned())
    );
    sqlx::query("UPDATE _sqlx_migrations SET success = 1")
        .execute(&mut db)
        .await
        .unwrap();
    assert_eq!(readiness(&gateway).await, ready);
    gateway.stop().await;
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The metric names a PromQL expression reads.
fn metric_names(expression: &str) -> Vec<String> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    expression
        .split(|c: char| !is_name(c))
        .filter(|word| word.starts_with("breachgate_"))
        .map(str::to_owned)
        .collect()
}

/// Every `expr` in a dashboard, at any depth (panels, rows, templating).
fn expressions(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                match (key.as_str(), field) {
                    ("expr" | "query", Value::String(expr)) => found.push(expr.clone()),
                    _ => expressions(field, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| expressions(item, found)),
        _ => {}
    }
}

/// The names of the series in a text exposition (`_bucket`, `_sum`,
/// `_count` and `_total` included, as PromQL names them).
fn exposed(metrics: &str) -> BTreeSet<String> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_dashboard_and_the_readme_name_only_metrics_the_served_gateway_exposes() {
    let dir = tempfile::tempdir().unwrap();
    write_serve_config(
        &dir.path().join("breachgate.toml"),
        &dir.path().join("data"),
        &repo_path("contracts"),
        "",
    );
    let (mut served, base) = spawn_serve(
        &dir.path().join("breachgate.toml"),
        &[],
        &dir.path().join("gateway.log"),
    );
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    served.kill().unwrap();
    served.wait().unwrap();
    let exposed = exposed(&metrics);

    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("deploy/grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
    let mut queries = Vec::new();
    expressions(&dashboard, &mut queries);
    let queried: BTreeSet<String> = queries.iter().flat_map(|q| metric_names(q)).collect();
    let missing: Vec<&String> = queried.difference(&exposed).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries {missing:?}, not in\n{metrics}"
    );

    // Every metric family is on the dashboard and in the README's list.
    let families: BTreeSet<String> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    let monitoring = readme
        .split("\n## Monitoring\n")
        .nth(1)
        .expect("README has a Monitoring section")
        .split("\n## ")
        .next()
        .unwrap();
    for family in &families {
        assert!(
            monitoring.contains(&format!("`{family}")),
            "README Monitoring does not list {family}"
        );
        assert!(
            queried.iter().any(|q| q.starts_with(family.as_str())),
            "the dashboard does not show {family}"
        );
    }
}
