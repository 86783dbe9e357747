//! Delivery through the outbox, driven step by step with a manual clock:
//! retries, disabled endpoints, slow endpoints and a mail server outage.

use std::sync::Arc;

use breachgate::clock::{ManualClock, SystemClock};
use breachgate::worker::Worker;
use chrono::{Duration, Utc};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::support;
use crate::support::mime::Part;
use crate::support::receiver::Receiver;
use crate::support::smtp_sink::SmtpSink;
use crate::support::{client_outcome, delivery_config, fixture, Gateway};

struct Setup {
    receiver: Receiver,
    gateway: Gateway,
    clock: Arc<ManualClock>,
    worker: Arc<Worker>,
    answer: Value,
    _dir: crate::support::TestDir,
}

/// A gateway with the example contracts delivering to an in-process receiver
/// and `smtp`, and one report on file affecting five clients.
async fn setup(receiver: Receiver, smtp: std::net::SocketAddr) -> Setup {
    setup_with(receiver, smtp, |_| {}).await
}

/// As [`setup`], with the configuration changed by `change` first.
async fn setup_with(
    receiver: Receiver,
    smtp: std::net::SocketAddr,
    change: impl FnOnce(&mut breachgate::config::Config),
) -> Setup {
    let dir = crate::support::test_dir();
    let mut config = delivery_config(dir.path(), &receiver.base, smtp);
    change(&mut config);
    let gateway = Gateway::start_with(config).await;
    let (status, answer) = gateway
        .post_report(&gateway.staff, &fixture("report-lms.json"))
        .await;
    assert_eq!(status, 201);
    // The clock starts once the report is on file, so its deliveries are due.
    let clock = Arc::new(ManualClock::new(Utc::now()));
    let worker = gateway.app.worker(clock.clone()).unwrap();
    Setup {
        receiver,
        gateway,
        clock,
        worker,
        answer,
        _dir: dir,
    }
}

fn delivery_id(answer: &Value, client: &str, target: &str) -> String {
    let deliveries = client_outcome(answer, client)["deliveries"]
        .as_array()
        .unwrap();
    deliveries.iter().find(|d| d["target"] == target).unwrap()["delivery_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Every webhook endpoint of the queued notices, as receiver paths.
fn webhook_paths(answer: &Value) -> Vec<String> {
    answer["clients"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| {
            let client = c["client_id"].as_str().unwrap().to_owned();
            c["deliveries"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["channel"] == "webhook")
                .map(move |d| format!("{client}/{}", d["target"].as_str().unwrap()))
        })
        .collect()
}

fn email_count(answer: &Value) -> usize {
    answer["clients"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["deliveries"].as_array().unwrap())
        .filter(|d| d["channel"] == "email")
        .count()
}

#[tokio::test]
async fn an_endpoint_failing_twice_gets_the_notice_three_times_under_one_webhook_id() {
    let (smtp, sink) = SmtpSink::start().await;
    let receiver = Receiver::start().await;
    receiver.respond("formavenir/siem", &[500, 503]);
    let s = setup(receiver, smtp).await;

    let all = webhook_paths(&s.answer).len() + email_count(&s.answer);
    assert_eq!(s.worker.run_once().await.unwrap(), all);
    // Not due yet: nothing is attempted before the schedule says so.
    assert_eq!(s.worker.run_once().await.unwrap(), 0);
    s.clock.advance(Duration::minutes(1));
    assert_eq!(s.worker.run_once().await.unwrap(), 1);
    s.clock.advance(Duration::minutes(10));
    assert_eq!(s.worker.run_once().await.unwrap(), 1);
    s.clock.advance(Duration::days(1));
    assert_eq!(
        s.worker.run_once().await.unwrap(),
        0,
        "delivered deliveries are done"
    );

    let siem = s.receiver.requests("formavenir/siem");
    assert_eq!(siem.len(), 3);
    let id = delivery_id(&s.answer, "formavenir", "siem");
    assert!(siem.iter().all(|r| r.header("webhook-id") == id));
    assert!(siem.iter().all(|r| r.body == siem[0].body));
    for path in webhook_paths(&s.answer)
        .iter()
        .filter(|p| *p != "formavenir/siem")
    {
        assert_eq!(s.receiver.requests(path).len(), 1, "{path}");
    }
    assert_eq!(sink.count(), email_count(&s.answer));

    let (status, detail) = s
        .gateway
        .get_json(&s.gateway.staff, &format!("/v1/deliveries/{id}"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(detail["status"], "delivered");
    let attempts: Vec<(String, u64)> = detail["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["outcome"].as_str().unwrap().to_owned(),
                a["status_code"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        attempts,
        [
            ("rejected".into(), 500),
            ("rejected".into(), 503),
            ("delivered".into(), 200)
        ]
    );
    s.gateway.stop().await;
}

#[tokio::test]
async fn an_endpoint_answering_410_is_disabled_and_staff_are_alerted() {
    let (smtp, sink) = SmtpSink::start().await;
    let receiver = Receiver::start().await;
    receiver.respond("harbourview-housing/grc", &[410]);
    let s = setup(receiver, smtp).await;
    s.worker.run_once().await.unwrap();

    let id = delivery_id(&s.answer, "harbourview-housing", "grc");
    let (_, detail) = s
        .gateway
        .get_json(&s.gateway.staff, &format!("/v1/deliveries/{id}"))
        .await;
    assert_eq!(detail["status"], "disabled");
    let (_, alerts) = s.gateway.get_json(&s.gateway.staff, "/v1/alerts").await;
    let alert = &alerts["alerts"][0];
    assert_eq!(alert["kind"], "endpoint_disabled");
    assert_eq!(alert["delivery_id"], id.as_str());

    // The privacy contact gets it by email too, through the staff outbox.
    let mailer = s.gateway.app.staff_mailer().unwrap();
    assert_eq!(mailer.send_due(Utc::now()).await.unwrap(), 1);
    let contact = s.gateway.app.config.processor.contact_email.clone();
    let mail = sink
        .received()
        .into_iter()
        .find(|m| m.rcpt_to == [contact.clone()])
        .expect("an alert mail to the privacy contact");
    let message = support::mime::Part::parse(&mail.data);
    assert_eq!(
        message.header("Subject"),
        Some("Delivery needs attention: webhook to harbourview-housing")
    );
    let text = message.decoded_text();
    assert!(text.contains("410 Gone"), "{text}");
    assert!(
        text.contains(&format!("POST /v1/deliveries/{id}/replay")),
        "{text}"
    );
    assert_eq!(mailer.send_due(Utc::now()).await.unwrap(), 0);

    // Nothing more goes to a disabled endpoint, whatever the clock says.
    s.clock.advance(Duration::days(2));
    assert_eq!(s.worker.run_once().await.unwrap(), 0);
    assert_eq!(s.receiver.requests("harbourview-housing/grc").len(), 1);

    // Replay re-enables it and sends again.
    let replay = s
        .gateway
        .http
        .post(s.gateway.url(&format!("/v1/deliveries/{id}/replay")))
        .bearer_auth(&s.gateway.staff)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 200);
    let audit = s.gateway.app.services.store.audit_log().await.unwrap();
    let replayed = audit.last().unwrap();
    assert_eq!(replayed.action, "delivery.replayed");
    assert_eq!(replayed.subject, id.as_str());
    assert!(
        replayed.actor.starts_with("test staff (tok_"),
        "{replayed:?}"
    );
    s.clock.set(Utc::now() + Duration::days(3));
    assert_eq!(s.worker.run_once().await.unwrap(), 1);
    assert_eq!(s.receiver.requests("harbourview-housing/grc").len(), 2);
    let (_, detail) = s
        .gateway
        .get_json(&s.gateway.staff, &format!("/v1/deliveries/{id}"))
        .await;
    assert_eq!(detail["status"], "delivered");
    s.gateway.stop().await;
}

#[tokio::test]
async fn a_hanging_endpoint_does_not_delay_the_others() {
    let (smtp, sink) = SmtpSink::start().await;
    let receiver = Receiver::start().await;
    receiver.hang("formavenir/siem");
    let s = setup(receiver, smtp).await;
    let worker = s.gateway.app.worker(Arc::new(SystemClock)).unwrap();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(worker.run(shutdown.clone()));

    let paths = webhook_paths(&s.answer);
    let others: Vec<String> = paths
        .iter()
        .filter(|p| *p != "formavenir/siem")
        .cloned()
        .collect();
    s.receiver
        .wait_until(|requests| {
            others.iter().all(|p| requests.iter().any(|r| &r.path == p))
                && requests.iter().any(|r| r.path == "formavenir/siem")
        })
        .await;
    // Every other endpoint has its notice while the hanging one still holds its request.
    let id = delivery_id(&s.answer, "formavenir", "siem");
    let (_, detail) = s
        .gateway
        .get_json(&s.gateway.staff, &format!("/v1/deliveries/{id}"))
        .await;
    assert_eq!(detail["status"], "pending");
    assert_eq!(
        detail["attempts"].as_array().unwrap().len(),
        0,
        "its attempt is still in flight"
    );

    s.receiver.release();
    shutdown.cancel();
    running.await.unwrap();
    let (_, detail) = s
        .gateway
        .get_json(&s.gateway.staff, &format!("/v1/deliveries/{id}"))
        .await;
    assert_eq!(detail["status"], "delivered");
    assert_eq!(sink.count(), email_count(&s.answer));
    s.gateway.stop().await;
}

#[tokio::test]
async fn a_stopping_worker_gives_back_what_it_claimed_and_did_not_start() {
    let (smtp, sink) = SmtpSink::start().await;
    let receiver = Receiver::start().await;
    // One slot: the worker claims one delivery ahead of it, which waits
    // while the webhook in the slot hangs until it times out.
    let s = setup_with(receiver, smtp, |config| {
        config.delivery.concurrency = 1;
        config.delivery.timeout_ms = 1_000;
    })
    .await;
    let paths = webhook_paths(&s.answer);
    assert!(paths.len() >= 3, "{paths:?}");
    for path in &paths {
        s.receiver.hang(path);
    }
    let worker = s.gateway.app.worker(Arc::new(SystemClock)).unwrap();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(worker.run(shutdown.clone()));
    s.receiver
        .wait_until(|requests| requests.iter().any(|r| paths.contains(&r.path)))
        .await;
    shutdown.cancel();
    running.await.unwrap();
    let sent = s.receiver.all_requests().len();
    assert_eq!(sent, 1, "only the webhook in the slot was attempted");
    s.receiver.release();

    // Nothing stays leased to the stopped worker: another one, at the same
    // moment (before the timed-out webhook is due again), sends the rest.
    while s.worker.run_once().await.unwrap() > 0 {}
    for path in &paths {
        assert_eq!(s.receiver.requests(path).len(), 1, "{path}");
    }
    assert_eq!(sink.count(), email_count(&s.answer));
    s.gateway.stop().await;
}

#[tokio::test]
async fn email_queued_while_the_mail_server_is_down_is_delivered_when_it_returns() {
    // A port with nothing listening: the mail server is down.
    let down = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let receiver = Receiver::start().await;
    let s = setup(receiver, down).await;
    let emails = email_count(&s.answer);
    assert!(emails >= 4);

    s.worker.run_once().await.unwrap();
    let id = delivery_id(&s.answer, "kinderopvang-de-vlinder", "email");
    let (_, detail) = s
        .gateway
        .get_json(&s.gateway.staff, &format!("/v1/deliveries/{id}"))
        .await;
    assert_eq!(detail["status"], "pending");
    assert_eq!(detail["attempts"][0]["outcome"], "rejected");

    let (_, sink) = SmtpSink::start_on(&down.to_string()).await;
    s.clock.advance(Duration::minutes(1));
    assert_eq!(s.worker.run_once().await.unwrap(), emails);
    assert_eq!(sink.count(), emails);
    let (_, detail) = s
        .gateway
        .get_json(&s.gateway.staff, &format!("/v1/deliveries/{id}"))
        .await;
    assert_eq!(detail["status"], "delivered");
    assert!(detail["message_id"].as_str().is_some_and(|m| !m.is_empty()));
    s.gateway.stop().await;
}

/// The email as the client's mail server receives it: the Dutch client in
/// Europe/Amsterdam, for a report whose data categories are not yet known
/// and whose ease of identification staff did not give.
#[tokio::test]
async fn a_delivered_email_shows_local_times_the_checklist_and_the_assumed_severity_inputs() {
    let (smtp, sink) = SmtpSink::start().await;
    let receiver = Receiver::start().await;
    let dir = crate::support::test_dir();
    let gateway = Gateway::start_with(delivery_config(dir.path(), &receiver.base, smtp)).await;
    let report = support::report_with_assumed_severity();
    let (status, _) = gateway.post_report(&gateway.staff, &report).await;
    assert_eq!(status, 201);
    let worker = gateway.app.worker(Arc::new(SystemClock)).unwrap();
    worker.run_once().await.unwrap();

    let mail = sink
        .received()
        .into_iter()
        .find(|m| {
            m.rcpt_to
                .iter()
                .any(|r| r.contains("kinderopvang-devlinder"))
        })
        .expect("the client's email arrived");
    let mail = Part::parse(&mail.data);
    let notice: Value =
        serde_json::from_slice(&mail.find_file("notice.json").unwrap().decoded()).unwrap();
    assert_eq!(
        notice["data"]["severity"]["assumed"],
        serde_json::json!(["personal_data.categories", "ease_of_identification"])
    );
    let text = mail.find_type("text/plain").unwrap().decoded_text();
    for expected in [
        // 07:30 UTC in November is 08:30 in Amsterdam.
        "2026-11-22 08:30 Europe/Amsterdam (2026-11-22 07:30 UTC)",
        "Tijden staan in uw tijdzone (Europe/Amsterdam) en in UTC.",
        "uiterlijk vanaf de ontvangst van deze melding",
        "CONTROLELIJST ARTIKEL 33, LID 3",
        "nog open: Categorieën betrokkenen (data_subjects.categories); Soorten persoonsgegevens (personal_data.categories)",
        "ENISA-niveau: nog open, want de soorten persoonsgegevens zijn nog niet bekend",
        "  - soorten persoonsgegevens: nog niet bekend, ontleend aan de overeenkomst",
        "  - identificeerbaarheid: niet opgegeven, aangenomen als aanzienlijk",
    ] {
        assert!(text.contains(expected), "lacks {expected:?}\n{text}");
    }
    gateway.stop().await;
}
