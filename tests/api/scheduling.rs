//! The deadline watchdog and the update reminders, driven step by step with
//! a manual clock against a real gateway, its SQLite file and an SMTP sink:
//! each escalation and reminder reaches the privacy contact exactly once,
//! also across a restart on the same data directory.

use std::sync::Arc;

use breachgate::clock::{Clock, ManualClock};
use breachgate::Config;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::support;
use crate::support::receiver::Receiver;
use crate::support::smtp_sink::SmtpSink;
use crate::support::{client_outcome, delivery_config, fixture, Gateway};

const CONTACT: &str = "privacy-lead@processor.example";
const HELD_CLIENT: &str = "consorzio-formazione-emilia";
/// Its webhook fails, so its notice (24 h deadline) stays undelivered.
const FAILING_CLIENT: &str = "kinderopvang-de-vlinder";

struct Setup {
    config: Config,
    gateway: Gateway,
    sink: SmtpSink,
    answer: Value,
    receiver: Receiver,
    _dir: crate::support::TestDir,
}

/// A gateway mailing its staff at [`CONTACT`] through an SMTP sink, with
/// the fixture report on file (five clients, the Italian one held).
async fn setup() -> Setup {
    setup_in(crate::support::test_dir()).await
}

async fn setup_in(dir: crate::support::TestDir) -> Setup {
    let receiver = Receiver::start().await;
    let (smtp, sink) = SmtpSink::start().await;
    let mut config = delivery_config(dir.path(), &receiver.base, smtp);
    config.processor.contact_email = CONTACT.to_owned();
    let gateway = Gateway::start_with(config.clone()).await;
    let (status, answer) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    assert_eq!(status, 201, "{answer}");
    assert_eq!(client_outcome(&answer, HELD_CLIENT)["status"], "held");
    Setup {
        config,
        gateway,
        sink,
        answer,
        receiver,
        _dir: dir,
    }
}

/// The mails the privacy contact received, as (subject, text).
fn staff_mails(sink: &SmtpSink) -> Vec<(String, String)> {
    sink.received()
        .iter()
        .filter(|m| m.rcpt_to == [CONTACT])
        .map(|m| {
            let message = support::mime::Part::parse(&m.data);
            (
                message.header("Subject").unwrap().to_owned(),
                message.decoded_text(),
            )
        })
        .collect()
}

/// What a run escalated, as (client, threshold), sorted.
fn escalated(run: Vec<breachgate::scheduling::Escalated>) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = run
        .into_iter()
        .map(|e| (e.client_id.to_string(), e.threshold))
        .collect();
    pairs.sort();
    pairs
}

fn pair(client: &str, threshold: &str) -> (String, String) {
    (client.to_owned(), threshold.to_owned())
}

async fn metrics(gateway: &Gateway) -> String {
    let response = gateway
        .http
        .get(gateway.url("/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

#[tokio::test]
async fn the_watchdog_escalates_each_threshold_once_across_a_restart_and_a_held_notice_at_once() {
    let s = setup().await;
    let aware: DateTime<Utc> = s.answer["became_aware_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();

    // Deliver everything once, except the failing client's webhook and every
    // email (the mail server greylists): three clients have their notice.
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let worker = s.gateway.app.worker(clock.clone()).unwrap();
    s.receiver
        .respond(&format!("{FAILING_CLIENT}/privacy-desk"), &[500]);
    s.sink
        .set_rcpt_reply(451, "4.7.1 greylisted, try again later");
    assert!(worker.run_once().await.unwrap() > 0);
    s.sink.set_rcpt_reply(250, "2.1.5 ok");
    assert_eq!(s.sink.count(), 0);

    let watchdog = s.gateway.app.watchdog().unwrap();
    clock.set(aware + Duration::hours(1));
    assert_eq!(
        escalated(watchdog.run_once(clock.now()).await.unwrap()),
        [pair(HELD_CLIENT, "held")],
        "a held notice escalates at once"
    );
    assert!(watchdog.run_once(clock.now()).await.unwrap().is_empty());
    // 50 % of the failing client's 24 h window, seen by two watchdogs at
    // once (overlapping ticks, or two gateways on one database): one of them
    // escalates, one mail goes out.
    clock.set(aware + Duration::hours(12));
    let second = s.gateway.app.watchdog().unwrap();
    let (a, b) = tokio::join!(watchdog.run_once(clock.now()), second.run_once(clock.now()));
    let mut both = a.unwrap();
    both.extend(b.unwrap());
    assert_eq!(escalated(both), [pair(FAILING_CLIENT, "50%")]);
    assert_eq!(staff_mails(&s.sink).len(), 2);

    // 50 % of the held client's 36 h window, while the mail server refuses:
    // the escalation is on record and its mail waits in the outbox.
    clock.set(aware + Duration::hours(18));
    s.sink
        .set_rcpt_reply(451, "4.7.1 greylisted, try again later");
    assert_eq!(
        escalated(watchdog.run_once(clock.now()).await.unwrap()),
        [pair(HELD_CLIENT, "50%")]
    );
    assert_eq!(staff_mails(&s.sink).len(), 2);
    let counted = metrics(&s.gateway).await;
    assert!(
        counted.contains(r#"breachgate_deadline_escalations_total{threshold="50%"} 2"#),
        "{counted}"
    );
    assert!(
        counted.contains(r#"breachgate_deadline_escalations_total{threshold="held"} 1"#),
        "{counted}"
    );

    // Restart on the same data directory.
    drop((watchdog, second, worker));
    s.gateway.stop().await;
    s.sink.set_rcpt_reply(250, "2.1.5 ok");
    let gateway = Gateway::start_with(s.config.clone()).await;
    let watchdog = gateway.app.watchdog().unwrap();
    assert!(watchdog.run_once(clock.now()).await.unwrap().is_empty());
    assert_eq!(
        staff_mails(&s.sink).len(),
        2,
        "the failed send waits a minute"
    );
    clock.advance(Duration::minutes(2));
    assert!(watchdog.run_once(clock.now()).await.unwrap().is_empty());
    assert_eq!(
        staff_mails(&s.sink).len(),
        3,
        "the waiting mail goes out once"
    );

    clock.set(aware + Duration::hours(20));
    assert_eq!(
        escalated(watchdog.run_once(clock.now()).await.unwrap()),
        [pair(FAILING_CLIENT, "80%")]
    );
    // Long after both deadlines: the held client's 80 % (28.8 h) and its
    // deadline are due at once, and it gets one escalation, the later one.
    clock.set(aware + Duration::hours(100));
    assert_eq!(
        escalated(watchdog.run_once(clock.now()).await.unwrap()),
        [pair(HELD_CLIENT, "passed"), pair(FAILING_CLIENT, "passed")]
    );
    clock.advance(Duration::days(10));
    assert!(watchdog.run_once(clock.now()).await.unwrap().is_empty());

    let mails = staff_mails(&s.sink);
    let subjects: Vec<&str> = mails.iter().map(|(subject, _)| subject.as_str()).collect();
    let reference = s.answer["reference"].as_str().unwrap();
    assert_eq!(
        subjects,
        [
            format!("{reference}: the initial notice to {HELD_CLIENT} is held"),
            format!("{reference}: 50% of the deadline window passed, the initial notice to {FAILING_CLIENT} is not delivered"),
            format!("{reference}: 50% of the deadline window passed, the initial notice to {HELD_CLIENT} is not delivered"),
            format!("{reference}: 80% of the deadline window passed, the initial notice to {FAILING_CLIENT} is not delivered"),
            // Oldest deadline first.
            format!("{reference}: deadline passed, the initial notice to {FAILING_CLIENT} was not delivered"),
            format!("{reference}: deadline passed, the initial notice to {HELD_CLIENT} was not delivered"),
        ]
    );
    let held_notice = client_outcome(&s.answer, HELD_CLIENT)["notice_id"]
        .as_str()
        .unwrap();
    assert!(mails[0].1.contains(held_notice), "{}", mails[0].1);
    assert!(mails[0]
        .1
        .contains("fails the client's agreed notice schema"));
    let failing_notice = client_outcome(&s.answer, FAILING_CLIENT)["notice_id"]
        .as_str()
        .unwrap();
    assert!(mails[1].1.contains(failing_notice), "{}", mails[1].1);
    assert!(
        mails[1].1.contains("2026-11-23T07:30:00+00:00"),
        "the deadline: {}",
        mails[1].1
    );

    // Counters start again with the process; these are the restarted gateway's.
    let counted = metrics(&gateway).await;
    assert!(
        counted.contains(r#"breachgate_deadline_escalations_total{threshold="80%"} 1"#),
        "{counted}"
    );
    assert!(
        counted.contains(r#"breachgate_deadline_escalations_total{threshold="passed"} 2"#),
        "{counted}"
    );
    assert!(!counted.contains(r#"threshold="50%""#), "{counted}");
    gateway.stop().await;
}

/// Adds an update notice for `client` to the incident, written at `at`, with
/// the columns the store writes.
async fn add_notice(
    config: &Config,
    incident: &str,
    client: &str,
    status: &str,
    at: DateTime<Utc>,
) -> String {
    let db = sqlx::SqlitePool::connect(&config.store_url())
        .await
        .unwrap();
    let id = format!("ntc_{}", ulid::Ulid::new());
    sqlx::query(
        "INSERT INTO notices (id, incident_id, client_id, position, kind, status, body, jws, errors, notify_by, created_at)
         SELECT ?, incident_id, client_id, MAX(position) + 1, 'breach.notice.update', ?,
                CAST(json_object('data', json_object('sequence', MAX(position) + 1)) AS BLOB),
                NULL, '[]', notify_by, ?
         FROM notices WHERE incident_id = ? AND client_id = ?",
    )
    .bind(&id)
    .bind(status)
    .bind(at.timestamp_millis())
    .bind(incident)
    .bind(client)
    .execute(&db)
    .await
    .unwrap();
    db.close().await;
    id
}

#[tokio::test]
async fn update_reminders_come_once_per_interval_from_the_latest_sent_notice_across_a_restart() {
    // SQLite only: `add_notice` writes into the SQLite file.
    let s = setup_in(crate::support::TestDir::sqlite_only()).await;
    let incident = s.answer["incident_id"].as_str().unwrap();
    // Notices are stamped when the report is filed, just before this.
    let filed = Utc::now();
    let cadence = s.gateway.app.cadence().unwrap();
    let reminded = |run: Vec<breachgate::scheduling::Reminded>| {
        let mut clients: Vec<String> = run.into_iter().map(|r| r.client_id.to_string()).collect();
        clients.sort();
        clients
    };

    // Every 24 h for harbourview-housing and kinderopvang-de-vlinder, 48 h for
    // formavenir, 72 h for idrottsforeningen-norrsken; the held client has
    // been sent nothing, so it is owed no update.
    assert!(cadence
        .run_once(filed + Duration::minutes(23 * 60 + 59))
        .await
        .unwrap()
        .is_empty());
    let day = filed + Duration::hours(24) + Duration::minutes(1);
    assert_eq!(
        reminded(cadence.run_once(day).await.unwrap()),
        ["harbourview-housing", "kinderopvang-de-vlinder"]
    );
    assert!(cadence.run_once(day).await.unwrap().is_empty());
    assert_eq!(staff_mails(&s.sink).len(), 2);

    drop(cadence);
    s.gateway.stop().await;
    let gateway = Gateway::start_with(s.config.clone()).await;
    let cadence = gateway.app.cadence().unwrap();
    assert!(cadence.run_once(day).await.unwrap().is_empty());

    // harbourview-housing was sent an update at 30 h: its next is due at 54 h.
    // kinderopvang-de-vlinder's update is held, so it still owes the one it
    // was reminded of, and is not reminded again.
    let update = add_notice(
        &s.config,
        incident,
        "harbourview-housing",
        "queued",
        filed + Duration::hours(30),
    )
    .await;
    add_notice(
        &s.config,
        incident,
        "kinderopvang-de-vlinder",
        "held",
        filed + Duration::hours(30),
    )
    .await;
    assert_eq!(
        reminded(
            cadence
                .run_once(filed + Duration::hours(48) + Duration::minutes(1))
                .await
                .unwrap()
        ),
        ["formavenir"]
    );
    let run = cadence
        .run_once(filed + Duration::hours(54) + Duration::minutes(1))
        .await
        .unwrap();
    assert_eq!(run.len(), 1);
    assert_eq!(run[0].client_id.as_str(), "harbourview-housing");
    assert_eq!(run[0].notice_id, update);
    assert_eq!(
        reminded(
            cadence
                .run_once(filed + Duration::hours(72) + Duration::minutes(1))
                .await
                .unwrap()
        ),
        ["idrottsforeningen-norrsken"]
    );
    assert!(cadence
        .run_once(filed + Duration::days(30))
        .await
        .unwrap()
        .is_empty());

    let mails = staff_mails(&s.sink);
    assert_eq!(mails.len(), 5);
    let reference = s.answer["reference"].as_str().unwrap();
    let (_, first) = mails
        .iter()
        .find(|(subject, _)| {
            *subject == format!("{reference}: an update to harbourview-housing is due")
        })
        .unwrap();
    assert!(first.contains("every 24 hours"), "{first}");
    assert!(mails[3].1.contains(&update), "{}", mails[3].1);
    let counted = metrics(&gateway).await;
    assert!(
        counted.contains("breachgate_update_reminders_total 3"),
        "{counted}"
    );
    gateway.stop().await;
}

#[tokio::test]
async fn the_gateway_runs_the_watchdog_on_its_cron_schedule_until_shutdown() {
    let dir = crate::support::test_dir();
    let receiver = Receiver::start().await;
    let (smtp, sink) = SmtpSink::start().await;
    let mut config = delivery_config(dir.path(), &receiver.base, smtp);
    config.processor.contact_email = CONTACT.to_owned();
    config.schedule.watchdog_cron = "* * * * * *".to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(breachgate::run(config, listener, shutdown.clone()));

    let http = reqwest::Client::new();
    assert!(http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        .is_success());
    let tokens = std::fs::read_to_string(dir.path().join("data/initial-tokens.txt")).unwrap();
    let staff = tokens
        .lines()
        .find_map(|l| l.strip_prefix("staff "))
        .unwrap();
    // Aware just now, whatever the date: the held notice's only due
    // escalation is `held`, not a deadline already passed.
    let mut report = fixture("report-lms.json");
    report["became_aware_at"] = Utc::now()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        .into();
    let answer: Value = http
        .post(format!("{base}/v1/reports"))
        .bearer_auth(staff)
        .json(&report)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reference = answer["reference"].as_str().unwrap().to_owned();

    // The first tick after filing escalates the held notice (the guard only
    // bounds a broken scheduler; the wait ends at the mail's arrival).
    let held = format!("{reference}: the initial notice to {HELD_CLIENT} is held");
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        sink.wait_until(|mails| {
            mails.iter().any(|m| {
                m.rcpt_to == [CONTACT]
                    && support::mime::Part::parse(&m.data).header("Subject") == Some(held.as_str())
            })
        }),
    )
    .await
    .expect("the watchdog ran on its schedule");

    shutdown.cancel();
    running.await.unwrap().expect("the gateway stops cleanly");
}

#[tokio::test]
async fn a_held_notice_fixed_by_an_update_and_delivered_escalates_no_further() {
    let s = setup().await;
    let incident = s.answer["incident_id"].as_str().unwrap();
    let watchdog = s.gateway.app.watchdog().unwrap();
    let aware = s.answer["became_aware_at"]
        .as_str()
        .unwrap()
        .parse::<DateTime<Utc>>()
        .unwrap();
    // An hour in: only the held escalation is due, so the run after the
    // deadline below would escalate the client if the fix did not count.
    let now = aware + Duration::hours(1);
    assert_eq!(
        escalated(watchdog.run_once(now).await.unwrap()),
        [pair(HELD_CLIENT, "held")]
    );

    // The measures in place were what the Italian profile required: the
    // update gives the client its initial notice, which is then delivered.
    let response = s
        .gateway
        .http
        .post(s.gateway.url(&format!("/v1/incidents/{incident}/updates")))
        .bearer_auth(&s.gateway.staff)
        .json(&serde_json::json!({"measures": {"in_place": ["Bucket policies are reviewed before deployment."]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let update: Value = response.json().await.unwrap();
    let fixed = client_outcome(&update, HELD_CLIENT);
    assert_eq!(
        (fixed["type"].as_str(), fixed["status"].as_str()),
        (Some("breach.notice.initial"), Some("queued"))
    );
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let worker = s.gateway.app.worker(clock.clone()).unwrap();
    while worker.run_once().await.unwrap() > 0 {}

    // Its deadline is 36 h after awareness: at any later point nothing more is owed.
    let after = aware + Duration::hours(40);
    let late: Vec<_> = escalated(watchdog.run_once(after).await.unwrap())
        .into_iter()
        .filter(|(client, _)| client == HELD_CLIENT)
        .collect();
    assert_eq!(late, vec![]);
}

#[tokio::test]
async fn a_client_sent_a_retraction_is_owed_no_update() {
    let s = setup().await;
    let incident = s.answer["incident_id"].as_str().unwrap();
    // The exports came from the HR portal, not the LMS: the LMS-only clients
    // are told to disregard their notice.
    let response = s
        .gateway
        .http
        .post(s.gateway.url(&format!("/v1/incidents/{incident}/updates")))
        .bearer_auth(&s.gateway.staff)
        .json(&serde_json::json!({"affected": {"systems": ["hr-portal"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let cadence = s.gateway.app.cadence().unwrap();
    let mut reminded: Vec<String> = cadence
        .run_once(Utc::now() + Duration::days(30))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.client_id.to_string())
        .collect();
    reminded.sort();
    // Still affected: de Vlinder (updated) and Hanse Spedition (newly
    // affected); the Italian client's notices are all held.
    assert_eq!(
        reminded,
        ["hanse-spedition-nord", "kinderopvang-de-vlinder"]
    );
}
