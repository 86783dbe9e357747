//! The breach register: every incident, per client each notice, how it was
//! delivered and acknowledged, and whether the deadline was met, as JSON and
//! as CSV.

use std::collections::{BTreeSet, HashMap};

use breachgate::domain::ClientId;
use breachgate::domain::Role;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::support;
use crate::support::receiver::Receiver;
use crate::support::smtp_sink::SmtpSink;
use crate::support::{client_ids, client_outcome, delivery_config, fixture, Gateway};

const FORMAVENIR: &str = "formavenir";
/// Its agreement's schema holds this report's notice.
const HELD: &str = "consorzio-formazione-emilia";
/// Starts like a spreadsheet formula, so the CSV must make it inert.
const FORMAVENIR_DESK: &str = "@formavenir incident desk";

const CSV_HEADER: &str = "reference,incident_id,became_aware_at,client_id,notice_id,notice_type,sequence,notice_status,notify_by,channel,target,delivery_status,attempts,delivered_at,deadline_met,acknowledged_at,acknowledged_by";

/// The LMS report filed, every delivery made once, and formavenir's notice
/// acknowledged.
struct Registered {
    gateway: Gateway,
    answer: Value,
    acknowledgement: Value,
    _receiver: Receiver,
    _sink: SmtpSink,
    _dir: crate::support::TestDir,
}

impl Registered {
    async fn new() -> Self {
        let (smtp, sink) = SmtpSink::start().await;
        let receiver = Receiver::start().await;
        let dir = crate::support::test_dir();
        // Delivered and judged on the fixture's timeline, whatever the date.
        let clock = support::fixture_clock();
        let gateway = Gateway::start_with_clock(
            delivery_config(dir.path(), &receiver.base, smtp),
            clock.clone(),
        )
        .await;
        let worker = gateway.app.worker(clock).unwrap();
        let (status, answer) = gateway
            .post_report(&gateway.staff, &fixture("report-lms.json"))
            .await;
        assert_eq!(status, 201, "{answer}");
        assert_eq!(worker.run_once().await.unwrap(), delivery_count(&answer));

        let token = breachgate::service::tokens::issue(
            gateway.app.services.store.as_ref(),
            Role::Client,
            FORMAVENIR_DESK,
            Some(ClientId::parse(FORMAVENIR).unwrap()),
        )
        .await
        .unwrap();
        let notice_id = client_outcome(&answer, FORMAVENIR)["notice_id"]
            .as_str()
            .unwrap();
        let response = gateway
            .http
            .post(gateway.url(&format!("/v1/client/notices/{notice_id}/ack")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let acknowledgement = response.json().await.unwrap();
        Self {
            gateway,
            answer,
            acknowledgement,
            _receiver: receiver,
            _sink: sink,
            _dir: dir,
        }
    }

    async fn register(&self, token: Option<&str>, accept: Option<&str>) -> reqwest::Response {
        let mut request = self.gateway.http.get(self.gateway.url("/v1/register"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(accept) = accept {
            request = request.header("accept", accept);
        }
        request.send().await.unwrap()
    }
}

fn delivery_count(answer: &Value) -> usize {
    answer["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["deliveries"].as_array().unwrap().len())
        .sum()
}

/// Every (client, channel, target) the report answer queued.
fn queued_deliveries(answer: &Value) -> BTreeSet<(String, String, String)> {
    answer["clients"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| {
            c["deliveries"].as_array().unwrap().iter().map(|d| {
                (
                    c["client_id"].as_str().unwrap().to_owned(),
                    d["channel"].as_str().unwrap().to_owned(),
                    d["target"].as_str().unwrap().to_owned(),
                )
            })
        })
        .collect()
}

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap().parse().unwrap()
}

#[tokio::test]
async fn the_register_shows_each_clients_deliveries_deadline_and_acknowledgement() {
    let r = Registered::new().await;
    let response = r.register(Some(&r.gateway.staff), None).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let body: Value = response.json().await.unwrap();

    let incidents = body["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1);
    let incident = &incidents[0];
    assert_eq!(incident["incident_id"], r.answer["incident_id"]);
    assert_eq!(incident["reference"], r.answer["reference"]);
    assert_eq!(incident["became_aware_at"], "2026-11-22T07:30:00Z");
    assert!(incident["reported_at"].is_string());
    assert!(incident["summary"]
        .as_str()
        .unwrap()
        .contains("export bucket"));

    let clients = incident["clients"].as_array().unwrap();
    let listed: Vec<String> = clients
        .iter()
        .map(|c| c["client_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, client_ids(&r.answer), "every client, by id");

    let mut registered_deliveries = BTreeSet::new();
    for client in clients {
        let client_id = client["client_id"].as_str().unwrap();
        let notices = client["notices"].as_array().unwrap();
        assert_eq!(notices.len(), 1, "{client_id}");
        let notice = &notices[0];
        assert_eq!(
            notice["notice_id"],
            client_outcome(&r.answer, client_id)["notice_id"]
        );
        assert_eq!(notice["type"], "breach.notice.initial");
        assert_eq!(notice["sequence"], 1);
        let notify_by = time(&notice["notify_by"]);

        if client_id == HELD {
            assert_eq!(notice["status"], "held");
            assert_eq!(notice["deliveries"], Value::Array(vec![]));
            assert_eq!(client["first_delivered_at"], Value::Null);
            assert!(
                notify_by > r.gateway.app.services.clock.now(),
                "the deadline is still ahead"
            );
            assert_eq!(client["deadline_met"], Value::Null, "not decided yet");
            continue;
        }
        assert_eq!(notice["status"], "queued");
        let deliveries = notice["deliveries"].as_array().unwrap();
        assert!(!deliveries.is_empty(), "{client_id}");
        for delivery in deliveries {
            assert_eq!(delivery["status"], "delivered", "{client_id}: {delivery}");
            assert_eq!(delivery["attempts"], 1);
            assert!(delivery["delivery_id"].is_string());
            registered_deliveries.insert((
                client_id.to_owned(),
                delivery["channel"].as_str().unwrap().to_owned(),
                delivery["target"].as_str().unwrap().to_owned(),
            ));
        }
        let first = deliveries
            .iter()
            .map(|d| time(&d["delivered_at"]))
            .min()
            .unwrap();
        assert_eq!(time(&client["first_delivered_at"]), first, "{client_id}");
        assert!(first <= notify_by);
        assert_eq!(client["deadline_met"], true, "{client_id}");

        if client_id == FORMAVENIR {
            assert_eq!(
                notice["acknowledged_at"],
                r.acknowledgement["acknowledged_at"]
            );
            assert_eq!(notice["acknowledged_by"], FORMAVENIR_DESK);
        } else {
            assert_eq!(notice["acknowledged_at"], Value::Null, "{client_id}");
            assert_eq!(notice["acknowledged_by"], Value::Null, "{client_id}");
        }
    }
    assert_eq!(registered_deliveries, queued_deliveries(&r.answer));
    r.gateway.stop().await;
}

#[tokio::test]
async fn the_register_as_csv_has_a_row_per_delivery_and_one_for_the_held_notice() {
    let r = Registered::new().await;
    let response = r.register(Some(&r.gateway.staff), Some("text/csv")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    assert_eq!(text.lines().next(), Some(CSV_HEADER));

    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    let rows: Vec<HashMap<String, String>> = reader
        .records()
        .map(|record| {
            header
                .iter()
                .cloned()
                .zip(record.unwrap().iter().map(str::to_owned))
                .collect()
        })
        .collect();
    assert_eq!(rows.len(), delivery_count(&r.answer) + 1);

    let mut registered_deliveries = BTreeSet::new();
    let mut held_rows = 0;
    for row in &rows {
        let client_id = row["client_id"].as_str();
        assert_eq!(row["reference"], r.answer["reference"].as_str().unwrap());
        assert_eq!(
            row["incident_id"],
            r.answer["incident_id"].as_str().unwrap()
        );
        assert_eq!(row["became_aware_at"], "2026-11-22T07:30:00Z");
        assert_eq!(
            row["notice_id"],
            client_outcome(&r.answer, client_id)["notice_id"]
                .as_str()
                .unwrap()
        );
        assert_eq!(row["notice_type"], "breach.notice.initial");
        assert_eq!(row["sequence"], "1");
        assert!(row["notify_by"].parse::<DateTime<Utc>>().is_ok());

        if client_id == HELD {
            held_rows += 1;
            assert_eq!(row["notice_status"], "held");
            for column in [
                "channel",
                "target",
                "delivery_status",
                "attempts",
                "delivered_at",
                "deadline_met",
            ] {
                assert_eq!(row[column], "", "{column} of the held notice");
            }
            continue;
        }
        assert_eq!(row["notice_status"], "queued");
        assert_eq!(row["delivery_status"], "delivered", "{row:?}");
        assert_eq!(row["attempts"], "1");
        assert!(row["delivered_at"].parse::<DateTime<Utc>>().is_ok());
        assert_eq!(row["deadline_met"], "true", "{row:?}");
        registered_deliveries.insert((
            client_id.to_owned(),
            row["channel"].clone(),
            row["target"].clone(),
        ));

        if client_id == FORMAVENIR {
            assert_eq!(
                row["acknowledged_at"],
                r.acknowledgement["acknowledged_at"].as_str().unwrap()
            );
            // The token's name starts like a formula; the cell must not be one.
            assert_eq!(row["acknowledged_by"], format!("'{FORMAVENIR_DESK}"));
        } else {
            assert_eq!(row["acknowledged_at"], "", "{client_id}");
            assert_eq!(row["acknowledged_by"], "", "{client_id}");
        }
    }
    assert_eq!(held_rows, 1);
    assert_eq!(registered_deliveries, queued_deliveries(&r.answer));
    r.gateway.stop().await;
}

#[tokio::test]
async fn the_register_is_for_staff_only() {
    let r = Registered::new().await;
    let response = r.register(None, None).await;
    assert_eq!(response.status(), 401);
    let response = r.register(None, Some("text/csv")).await;
    assert_eq!(response.status(), 401);

    let response = r.register(Some(&r.gateway.admin), None).await;
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden");
    let response = r.register(Some(&r.gateway.admin), Some("text/csv")).await;
    assert_eq!(response.status(), 403);
    r.gateway.stop().await;
}
