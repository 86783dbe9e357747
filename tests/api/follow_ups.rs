//! An incident carried from its first report through updates to closure or
//! retraction: which clients get which notice, in which order, with which
//! changes, and how their emails thread.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use breachgate::config::Config;
use breachgate::worker::Worker;
use serde_json::{json, Value};

use crate::support;
use crate::support::mime::Part;
use crate::support::receiver::Receiver;
use crate::support::smtp_sink::SmtpSink;
use crate::support::{client_ids, client_outcome, delivery_config, fixture, Gateway};

const VLINDER: &str = "kinderopvang-de-vlinder";
const FORMAVENIR: &str = "formavenir";
const CONSORZIO: &str = "consorzio-formazione-emilia";
const NORRSKEN: &str = "idrottsforeningen-norrsken";
const HANSE: &str = "hanse-spedition-nord";
const HARBOURVIEW: &str = "harbourview-housing";

/// A gateway delivering to an in-process receiver and SMTP sink, with its
/// worker driven one step at a time.
struct Desk {
    gateway: Gateway,
    worker: Arc<Worker>,
    receiver: Receiver,
    sink: SmtpSink,
    clock: Arc<breachgate::clock::ManualClock>,
    _dir: crate::support::TestDir,
}

impl Desk {
    async fn new() -> Self {
        Self::with(|_, _| {}).await
    }

    /// A desk whose configuration `adjust` may change first; it gets the
    /// temporary directory that holds the copied contracts.
    async fn with(adjust: impl FnOnce(&mut Config, &Path)) -> Self {
        let (smtp, sink) = SmtpSink::start().await;
        let receiver = Receiver::start().await;
        let dir = crate::support::test_dir();
        // Deadlines are judged on the fixture's timeline, whatever the date.
        let clock = support::fixture_clock();
        let mut config = delivery_config(dir.path(), &receiver.base, smtp);
        adjust(&mut config, dir.path());
        let gateway = Gateway::start_with_clock(config, clock.clone()).await;
        let worker = gateway.app.worker(clock.clone()).unwrap();
        Self {
            gateway,
            worker,
            receiver,
            sink,
            clock,
            _dir: dir,
        }
    }

    async fn file(&self) -> String {
        let (status, answer) = self
            .gateway
            .post_report(&self.gateway.staff, &fixture("report-lms.json"))
            .await;
        assert_eq!(status, 201, "{answer}");
        self.deliver().await;
        answer["incident_id"].as_str().unwrap().to_owned()
    }

    /// `POST /v1/incidents/{id}/{action}` as staff.
    async fn follow_up(&self, incident: &str, action: &str, body: Option<Value>) -> (u16, Value) {
        self.follow_up_keyed(incident, action, body, None).await
    }

    async fn follow_up_keyed(
        &self,
        incident: &str,
        action: &str,
        body: Option<Value>,
        idempotency_key: Option<&str>,
    ) -> (u16, Value) {
        let url = self
            .gateway
            .url(&format!("/v1/incidents/{incident}/{action}"));
        let mut request = self.gateway.http.post(url).bearer_auth(&self.gateway.staff);
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// Runs the worker until the outbox is empty.
    async fn deliver(&self) {
        while self.worker.run_once().await.unwrap() > 0 {}
    }

    async fn notice(&self, incident: &str, answer: &Value, client: &str) -> Value {
        let notice_id = client_outcome(answer, client)["notice_id"]
            .as_str()
            .unwrap();
        let (bytes, _) = self.gateway.notice_bytes(incident, notice_id).await;
        serde_json::from_slice(&bytes).unwrap()
    }

    /// Per client, the (type, sequence) of every webhook it received, in order.
    fn webhooks(&self) -> BTreeMap<String, Vec<(String, u64)>> {
        let mut seen: BTreeMap<String, Vec<(String, u64)>> = BTreeMap::new();
        for request in self.receiver.all_requests() {
            let client = request
                .path
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap();
            let notice: Value = serde_json::from_slice(&request.body).unwrap();
            let entry = (
                notice["type"].as_str().unwrap().to_owned(),
                notice["data"]["sequence"].as_u64().unwrap(),
            );
            let list = seen.entry(client.to_owned()).or_default();
            // The formavenir agreement has two endpoints; one list per client is enough.
            if !list.contains(&entry) {
                list.push(entry);
            }
        }
        seen
    }

    /// Every email as (Message-ID, In-Reply-To, References, notice id of its
    /// `notice.json`).
    fn emails(&self) -> Vec<Email> {
        self.sink
            .received()
            .iter()
            .map(|mail| {
                let message = Part::parse(&mail.data);
                let notice: Value = message.notice();
                Email {
                    message_id: message.header("Message-ID").unwrap().to_owned(),
                    in_reply_to: message.header("In-Reply-To").map(str::to_owned),
                    references: message.header("References").map(str::to_owned),
                    notice_id: notice["data"]["notice_id"].as_str().unwrap().to_owned(),
                }
            })
            .collect()
    }

    /// The plain-text body of the email that carries `notice_id`.
    fn email_text(&self, notice_id: &str) -> String {
        self.sink
            .received()
            .iter()
            .map(|mail| Part::parse(&mail.data))
            .find(|message| {
                let attached = message.find_file("notice.json").expect("notice.json");
                let notice: Value = serde_json::from_slice(&attached.decoded()).unwrap();
                notice["data"]["notice_id"] == notice_id
            })
            .unwrap_or_else(|| panic!("an email carries {notice_id}"))
            .find_type("text/plain")
            .expect("a text part")
            .decoded_text()
    }

    /// The last webhook body `client` received.
    fn last_webhook(&self, client: &str) -> Value {
        let request = self
            .receiver
            .all_requests()
            .into_iter()
            .filter(|r| {
                r.path
                    .trim_start_matches('/')
                    .starts_with(&format!("{client}/"))
            })
            .last()
            .unwrap_or_else(|| panic!("{client} received a webhook"));
        serde_json::from_slice(&request.body).unwrap()
    }

    fn email_for(&self, notice_id: &str) -> Email {
        self.emails()
            .into_iter()
            .find(|e| e.notice_id == notice_id)
            .unwrap_or_else(|| panic!("an email carries {notice_id}"))
    }
}

#[derive(Debug)]
struct Email {
    message_id: String,
    in_reply_to: Option<String>,
    references: Option<String>,
    notice_id: String,
}

/// Per client in an answer, its notice's (type, sequence, status).
fn notices(answer: &Value) -> BTreeMap<String, (String, u64, String)> {
    answer["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["client_id"].as_str().unwrap().to_owned(),
                (
                    c["type"].as_str().unwrap().to_owned(),
                    c["sequence"].as_u64().unwrap(),
                    c["status"].as_str().unwrap().to_owned(),
                ),
            )
        })
        .collect()
}

fn expected(rows: &[(&str, &str, u64, &str)]) -> BTreeMap<String, (String, u64, String)> {
    rows.iter()
        .map(|(client, kind, sequence, status)| {
            (
                client.to_string(),
                (
                    format!("breach.notice.{kind}"),
                    *sequence,
                    status.to_string(),
                ),
            )
        })
        .collect()
}

fn paths(notice: &Value) -> Vec<&str> {
    notice["data"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn an_incident_from_report_through_two_updates_to_closure() {
    let desk = Desk::new().await;
    let (status, filed) = desk
        .gateway
        .post_report(&desk.gateway.staff, &fixture("report-lms.json"))
        .await;
    assert_eq!(status, 201, "{filed}");
    let incident = filed["incident_id"].as_str().unwrap();
    desk.deliver().await;
    let initial_id = |client: &str| {
        client_outcome(&filed, client)["notice_id"]
            .as_str()
            .unwrap()
    };

    // Online identifiers turn up in the exports of two clients (de Vlinder,
    // Formavenir): only their notices change.
    let with_online_identifiers = json!({"personal_data": {"categories": [
        "identification", "contact", "education", "online_identifiers"
    ]}});
    let (status, first) = desk
        .follow_up(
            incident,
            "updates",
            Some(json!({"affected": {"per_client": {
                VLINDER: with_online_identifiers,
                FORMAVENIR: with_online_identifiers,
            }}})),
        )
        .await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["version"], 2);
    assert_eq!(
        notices(&first),
        expected(&[
            (FORMAVENIR, "update", 2, "queued"),
            (VLINDER, "update", 2, "queued"),
        ])
    );
    let update = desk.notice(incident, &first, FORMAVENIR).await;
    assert_eq!(update["data"]["supersedes"], initial_id(FORMAVENIR));
    assert_eq!(paths(&update), ["personal_data.categories"]);
    let change = &update["data"]["changes"][0];
    assert_eq!(
        change["old"],
        json!(["identification", "contact", "education"])
    );
    assert_eq!(
        change["new"],
        json!([
            "identification",
            "contact",
            "education",
            "online_identifiers"
        ])
    );
    desk.deliver().await;

    // Payroll turns out to be affected too: Hanse Spedition, which has no
    // LMS data, is newly affected; Harbourview, in both systems, gets an
    // update; everyone else's notice stays as it was.
    let (status, second) = desk
        .follow_up(
            incident,
            "updates",
            Some(json!({"affected": {"systems": ["lms", "payroll"]}})),
        )
        .await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(
        notices(&second),
        expected(&[
            (HANSE, "initial", 1, "queued"),
            (HARBOURVIEW, "update", 2, "queued"),
        ])
    );
    let newly = desk.notice(incident, &second, HANSE).await;
    assert_eq!(newly["data"]["supersedes"], Value::Null);
    assert_eq!(newly["data"]["changes"], json!([]));
    let harbourview = desk.notice(incident, &second, HARBOURVIEW).await;
    assert!(paths(&harbourview).contains(&"systems"), "{harbourview}");
    desk.deliver().await;

    // Closing with the number of data subjects now known: every affected
    // client gets its final notice, and the count is no longer pending.
    let before = desk.notice(incident, &first, FORMAVENIR).await;
    assert!(before["data"]["pending"]
        .as_array()
        .unwrap()
        .contains(&json!("data_subjects.count")));
    let (status, closed) = desk
        .follow_up(
            incident,
            "close",
            Some(json!({"data_subjects": {"count": {"min": 800, "max": 1200, "precision": "approximate"}}})),
        )
        .await;
    assert_eq!(status, 201, "{closed}");
    assert_eq!(closed["status"], "closed");
    assert_eq!(
        notices(&closed),
        expected(&[
            // Never sent anything, so its first notice would be its initial.
            (CONSORZIO, "initial", 1, "held"),
            (FORMAVENIR, "final", 3, "queued"),
            (HANSE, "final", 2, "queued"),
            (HARBOURVIEW, "final", 3, "queued"),
            (NORRSKEN, "final", 2, "queued"),
            (VLINDER, "final", 3, "queued"),
        ])
    );
    let last = desk.notice(incident, &closed, FORMAVENIR).await;
    assert_eq!(
        last["data"]["supersedes"],
        client_outcome(&first, FORMAVENIR)["notice_id"]
    );
    assert!(paths(&last).contains(&"data_subjects.count"), "{last}");
    assert!(!last["data"]["pending"]
        .as_array()
        .unwrap()
        .contains(&json!("data_subjects.count")));
    desk.deliver().await;

    // What each client's endpoint received, in order. The Italian agreement's
    // profile holds every notice, so that client has received nothing.
    let received = desk.webhooks();
    let series = |rows: &[(&str, u64)]| -> Vec<(String, u64)> {
        rows.iter()
            .map(|(kind, n)| (format!("breach.notice.{kind}"), *n))
            .collect()
    };
    assert_eq!(
        received[VLINDER],
        series(&[("initial", 1), ("update", 2), ("final", 3)])
    );
    assert_eq!(
        received[FORMAVENIR],
        series(&[("initial", 1), ("update", 2), ("final", 3)])
    );
    assert_eq!(received[NORRSKEN], series(&[("initial", 1), ("final", 2)]));
    assert_eq!(
        received[HARBOURVIEW],
        series(&[("initial", 1), ("update", 2), ("final", 3)])
    );
    assert_eq!(received[HANSE], series(&[("initial", 1), ("final", 2)]));
    assert!(!received.contains_key(CONSORZIO));

    // Emails: every follow-up answers the client's first notice.
    for client in [VLINDER, FORMAVENIR, NORRSKEN, HARBOURVIEW] {
        let first_mail = desk.email_for(initial_id(client));
        assert_eq!(first_mail.in_reply_to, None);
        assert_eq!(first_mail.references, None);
        assert_eq!(
            first_mail.message_id,
            format!("<{}@processor.example>", initial_id(client))
        );
        let follow_ups: Vec<&Value> = [&first, &second, &closed]
            .into_iter()
            .filter(|answer| client_ids(answer).contains(&client.to_owned()))
            .collect();
        for answer in follow_ups {
            let mail = desk.email_for(
                client_outcome(answer, client)["notice_id"]
                    .as_str()
                    .unwrap(),
            );
            assert_eq!(
                mail.in_reply_to.as_deref(),
                Some(first_mail.message_id.as_str())
            );
            assert_eq!(
                mail.references.as_deref(),
                Some(first_mail.message_id.as_str())
            );
        }
    }
    let hanse_first = client_outcome(&second, HANSE)["notice_id"]
        .as_str()
        .unwrap();
    assert_eq!(desk.email_for(hanse_first).in_reply_to, None);
    let hanse_final = desk.email_for(
        client_outcome(&closed, HANSE)["notice_id"]
            .as_str()
            .unwrap(),
    );
    assert_eq!(
        hanse_final.in_reply_to,
        Some(format!("<{hanse_first}@processor.example>"))
    );

    // A closed incident takes nothing more.
    let (status, refused) = desk
        .follow_up(incident, "updates", Some(json!({"summary": "Too late."})))
        .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["error"]["code"], "incident_not_open");
    let (_, view) = desk
        .gateway
        .get_json(&desk.gateway.staff, &format!("/v1/incidents/{incident}"))
        .await;
    assert_eq!(view["status"], "closed");
    assert_eq!(view["version"], 4);
    let actions = |versions: &Value| -> Vec<String> {
        versions
            .as_array()
            .unwrap()
            .iter()
            .map(|v| format!("{} {}", v["version"], v["action"].as_str().unwrap()))
            .collect()
    };
    let history = ["1 report", "2 update", "3 update", "4 close"];
    assert_eq!(actions(&view["versions"]), history);
    assert_eq!(
        view["versions"][2]["submitted"],
        json!({"affected": {"systems": ["lms", "payroll"]}})
    );
    let (_, register) = desk
        .gateway
        .get_json(&desk.gateway.staff, "/v1/register")
        .await;
    assert_eq!(actions(&register["incidents"][0]["versions"]), history);
}

#[tokio::test]
async fn a_retraction_goes_to_every_client_that_was_notified() {
    let desk = Desk::new().await;
    let incident = desk.file().await;
    let (status, retracted) = desk
        .follow_up(
            &incident,
            "retract",
            Some(json!({"reason": "The bucket was a test environment without personal data."})),
        )
        .await;
    assert_eq!(status, 201, "{retracted}");
    // The Italian client's only notice was held, so there is nothing to withdraw.
    assert_eq!(
        notices(&retracted),
        expected(&[
            (FORMAVENIR, "retraction", 2, "queued"),
            (HARBOURVIEW, "retraction", 2, "queued"),
            (NORRSKEN, "retraction", 2, "queued"),
            (VLINDER, "retraction", 2, "queued"),
        ])
    );
    let notice = desk.notice(&incident, &retracted, NORRSKEN).await;
    assert_eq!(notice["data"]["changes"], json!([]));
    desk.deliver().await;
    // The client hears why, by webhook and in the email's own language.
    let reason = "The bucket was a test environment without personal data.";
    assert_eq!(
        desk.last_webhook(HARBOURVIEW)["data"]["retraction_reason"],
        reason
    );
    let text = desk.email_text(
        client_outcome(&retracted, HARBOURVIEW)["notice_id"]
            .as_str()
            .unwrap(),
    );
    assert!(text.contains("Reason for the retraction"), "{text}");
    assert!(text.contains(reason), "{text}");
    assert_eq!(
        desk.webhooks()[NORRSKEN],
        [
            ("breach.notice.initial".to_owned(), 1),
            ("breach.notice.retraction".to_owned(), 2)
        ]
    );
    let (status, _) = desk.follow_up(&incident, "close", None).await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn a_correction_that_unaffects_a_client_withdraws_its_notice() {
    let desk = Desk::new().await;
    let incident = desk.file().await;
    // The exports came from the HR portal, not the LMS: the LMS-only clients
    // are told to disregard their notice, Hanse Spedition is newly affected,
    // and de Vlinder (in both) gets the corrected facts.
    let (status, corrected) = desk
        .follow_up(
            &incident,
            "updates",
            Some(json!({"affected": {"systems": ["hr-portal"]}})),
        )
        .await;
    assert_eq!(status, 201, "{corrected}");
    assert_eq!(
        notices(&corrected),
        expected(&[
            (CONSORZIO, "initial", 1, "held"),
            (FORMAVENIR, "retraction", 2, "queued"),
            (HANSE, "initial", 1, "queued"),
            (HARBOURVIEW, "retraction", 2, "queued"),
            (NORRSKEN, "retraction", 2, "queued"),
            (VLINDER, "update", 2, "queued"),
        ])
    );
}

#[tokio::test]
async fn bad_follow_ups_are_refused_and_change_nothing() {
    let desk = Desk::new().await;
    let incident = desk.file().await;
    let cases = [
        (
            "updates",
            json!({"became_aware_at": "yesterday"}),
            422,
            "invalid_report",
            "/became_aware_at",
        ),
        (
            "updates",
            json!({"affected": {"systems": ["warehouse"]}}),
            422,
            "unknown_reference",
            "/affected/systems/0",
        ),
        (
            "updates",
            json!({"nature": null}),
            422,
            "invalid_report",
            "",
        ),
        ("updates", json!({}), 422, "nothing_changed", ""),
        ("updates", json!([1, 2]), 422, "invalid_body", ""),
        (
            "retract",
            json!({"reason": "  "}),
            422,
            "invalid_body",
            "/reason",
        ),
        ("retract", json!({"why": "typo"}), 422, "invalid_body", ""),
    ];
    for (action, body, status, code, path) in cases {
        let (got, answer) = desk.follow_up(&incident, action, Some(body.clone())).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{action} {body}: {answer}"
        );
        if !path.is_empty() {
            let details = answer["error"]["details"].as_array().unwrap();
            assert!(
                details.iter().any(|d| d["path"] == path),
                "{body}: {answer}"
            );
        }
    }
    // An update that repeats the facts as they are changes nothing either.
    let same = fixture("report-lms.json")["summary"].clone();
    let (status, answer) = desk
        .follow_up(&incident, "updates", Some(json!({"summary": same})))
        .await;
    assert_eq!(
        (status, answer["error"]["code"].as_str()),
        (422, Some("nothing_changed"))
    );

    let (status, _) = desk
        .follow_up(
            "inc_01JD0000000000000000000000",
            "updates",
            Some(json!({"summary": "x"})),
        )
        .await;
    assert_eq!(status, 404);
    let (_, view) = desk
        .gateway
        .get_json(&desk.gateway.staff, &format!("/v1/incidents/{incident}"))
        .await;
    assert_eq!(
        (view["version"].as_u64(), view["status"].as_str()),
        (Some(1), Some("open"))
    );
    assert_eq!(view["notices"].as_array().unwrap().len(), 5);
}

#[tokio::test]
async fn closing_with_an_empty_patch_closes_with_the_facts_as_they_are() {
    let desk = Desk::new().await;
    let incident = desk.file().await;
    let (status, closed) = desk.follow_up(&incident, "close", Some(json!({}))).await;
    assert_eq!(status, 201, "{closed}");
    assert_eq!(closed["status"], "closed");
    assert_eq!(
        notices(&closed),
        expected(&[
            // Never sent anything, so its first notice would be its initial.
            (CONSORZIO, "initial", 1, "held"),
            (FORMAVENIR, "final", 2, "queued"),
            (HARBOURVIEW, "final", 2, "queued"),
            (NORRSKEN, "final", 2, "queued"),
            (VLINDER, "final", 2, "queued"),
        ])
    );
    let (_, view) = desk
        .gateway
        .get_json(&desk.gateway.staff, &format!("/v1/incidents/{incident}"))
        .await;
    assert_eq!(view["status"], "closed");
}

#[tokio::test]
async fn a_retried_follow_up_is_answered_once() {
    let desk = Desk::new().await;
    let incident = desk.file().await;
    let update = json!({"summary": "The bucket was readable for 63 hours."});
    let (status, first) = desk
        .follow_up_keyed(&incident, "updates", Some(update.clone()), Some("upd-1"))
        .await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = desk
        .follow_up_keyed(&incident, "updates", Some(update), Some("upd-1"))
        .await;
    assert_eq!((status, &again), (201, &first));
    let (status, reused) = desk
        .follow_up_keyed(
            &incident,
            "updates",
            Some(json!({"summary": "Other."})),
            Some("upd-1"),
        )
        .await;
    assert_eq!(status, 422, "{reused}");
    assert_eq!(reused["error"]["code"], "idempotency_key_reused");
    // The same key for another action is another request too.
    let (status, _) = desk
        .follow_up_keyed(&incident, "close", None, Some("upd-1"))
        .await;
    assert_eq!(status, 422);
    let (_, view) = desk
        .gateway
        .get_json(&desk.gateway.staff, &format!("/v1/incidents/{incident}"))
        .await;
    assert_eq!(view["version"], 2);
}

#[tokio::test]
async fn a_held_notice_fixed_by_an_update_meets_the_deadline_in_the_register() {
    let desk = Desk::new().await;
    let incident = desk.file().await;
    let (status, fixed) = desk
        .follow_up(
            &incident,
            "updates",
            Some(json!({"measures": {"in_place": ["Bucket policies are reviewed before deployment."]}})),
        )
        .await;
    assert_eq!(status, 201, "{fixed}");
    assert_eq!(
        notices(&fixed)[CONSORZIO],
        ("breach.notice.initial".to_owned(), 1, "queued".to_owned())
    );
    desk.deliver().await;
    let (_, register) = desk
        .gateway
        .get_json(&desk.gateway.staff, "/v1/register")
        .await;
    let client = register["incidents"][0]["clients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["client_id"] == CONSORZIO)
        .unwrap();
    assert!(client["first_delivered_at"].is_string(), "{client}");
    assert_eq!(client["deadline_met"], true, "{client}");
}

/// Points `client`'s agreement, in the desk's copy of the contracts, at a
/// profile that holds its notices while the categories of its data subjects
/// are pending; the other profiles stay as they are.
fn hold_while_categories_pending(config: &mut Config, dir: &Path, client: &str) {
    let schemas = dir.join("schemas");
    std::fs::create_dir_all(schemas.join("profiles")).unwrap();
    for entry in std::fs::read_dir(config.paths.schemas.join("profiles")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            schemas.join("profiles").join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    let profile = json!({
        "properties": {"data": {"properties": {"pending": {
            "not": {"contains": {"const": "data_subjects.categories"}}
        }}}}
    });
    std::fs::write(
        schemas.join("profiles/categories-known.v1.schema.json"),
        profile.to_string(),
    )
    .unwrap();
    config.paths.schemas = schemas;
    let file = config
        .paths
        .contracts
        .join(format!("clients/{client}.toml"));
    let mut agreement: toml::Table =
        toml::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    agreement["agreement"].as_table_mut().unwrap().insert(
        "notice_schema".into(),
        "profiles/categories-known.v1.schema.json".into(),
    );
    std::fs::write(&file, toml::to_string(&agreement).unwrap()).unwrap();
}

/// Every category of data subjects the LMS clients' agreements list, so an
/// update naming them reports nothing unexpected for any client.
const EVERY_LMS_SUBJECT: [&str; 6] = [
    "students",
    "employees",
    "other",
    "members",
    "children",
    "parents",
];

#[tokio::test]
async fn a_notice_held_for_pending_facts_goes_out_as_the_initial_once_they_are_known() {
    let desk = Desk::with(|config, dir| hold_while_categories_pending(config, dir, NORRSKEN)).await;
    let (status, filed) = desk
        .gateway
        .post_report(&desk.gateway.staff, &fixture("report-lms.json"))
        .await;
    assert_eq!(status, 201, "{filed}");
    let incident = filed["incident_id"].as_str().unwrap();
    assert_eq!(
        notices(&filed)[NORRSKEN],
        ("breach.notice.initial".to_owned(), 1, "held".to_owned())
    );
    desk.deliver().await;

    // The categories become known: every client now lists the reported ones
    // instead of assuming its agreement's, and is told so (`categories`,
    // their basis, `pending`). The held client gets its first notice,
    // numbered 1.
    let (status, known) = desk
        .follow_up(
            incident,
            "updates",
            Some(json!({"data_subjects": {"categories": EVERY_LMS_SUBJECT}})),
        )
        .await;
    assert_eq!(status, 201, "{known}");
    assert_eq!(
        notices(&known),
        expected(&[
            // Still held by its own profile, which the update does not satisfy.
            (CONSORZIO, "initial", 1, "held"),
            (FORMAVENIR, "update", 2, "queued"),
            (HARBOURVIEW, "update", 2, "queued"),
            (NORRSKEN, "initial", 1, "queued"),
            (VLINDER, "update", 2, "queued"),
        ])
    );
    let initial = desk.notice(incident, &known, NORRSKEN).await;
    assert_eq!(initial["data"]["supersedes"], Value::Null);
    assert_eq!(initial["data"]["changes"], json!([]));
    let update = desk.notice(incident, &known, FORMAVENIR).await;
    assert_eq!(
        paths(&update),
        [
            "data_subjects.categories",
            "data_subjects.categories_basis",
            "pending"
        ]
    );
    assert_eq!(
        update["data"]["changes"][1],
        json!({"path": "data_subjects.categories_basis",
               "old": "assumed_from_agreement", "new": "reported"})
    );
    let change = &update["data"]["changes"][2];
    assert!(change["old"]
        .as_array()
        .unwrap()
        .contains(&json!("data_subjects.categories")));
    assert!(!change["new"]
        .as_array()
        .unwrap()
        .contains(&json!("data_subjects.categories")));
    desk.deliver().await;

    // Later notices count on from the initial that was sent.
    let (status, closed) = desk.follow_up(incident, "close", None).await;
    assert_eq!(status, 201, "{closed}");
    assert_eq!(
        notices(&closed)[NORRSKEN],
        ("breach.notice.final".to_owned(), 2, "queued".to_owned())
    );
    let last = desk.notice(incident, &closed, NORRSKEN).await;
    assert_eq!(
        last["data"]["supersedes"],
        client_outcome(&known, NORRSKEN)["notice_id"]
    );
    desk.deliver().await;
    assert_eq!(
        desk.webhooks()[NORRSKEN],
        [
            ("breach.notice.initial".to_owned(), 1),
            ("breach.notice.final".to_owned(), 2)
        ]
    );
    // The register and the incident show the numbers the client was sent.
    let (_, view) = desk
        .gateway
        .get_json(&desk.gateway.staff, &format!("/v1/incidents/{incident}"))
        .await;
    let sequences: Vec<(String, u64)> = view["notices"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["client_id"] == NORRSKEN)
        .map(|n| {
            (
                n["status"].as_str().unwrap().to_owned(),
                n["sequence"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sequences,
        [
            ("held".to_owned(), 1),
            ("queued".to_owned(), 1),
            ("queued".to_owned(), 2)
        ]
    );
}

#[tokio::test]
async fn closing_with_facts_pending_says_so_instead_of_claiming_completeness() {
    let desk = Desk::new().await;
    let incident = desk.file().await;
    let (status, closed) = desk.follow_up(&incident, "close", None).await;
    assert_eq!(status, 201, "{closed}");
    let last = desk.notice(&incident, &closed, HARBOURVIEW).await;
    assert_eq!(last["type"], "breach.notice.final");
    let pending = last["data"]["pending"].as_array().unwrap();
    assert!(pending.contains(&json!("data_subjects.count")), "{last}");
    desk.deliver().await;
    let text = desk.email_text(last["data"]["notice_id"].as_str().unwrap());
    assert!(!text.contains("investigation is complete"), "{text}");
    assert!(text.contains("could not establish every fact"), "{text}");
    assert!(!text.contains("will follow in an update"), "{text}");
    assert!(text.contains("(data_subjects.count)"), "{text}");

    // With every fact known, the final notice may say the work is done.
    let desk = Desk::new().await;
    let incident = desk.file().await;
    let (status, closed) = desk
        .follow_up(
            &incident,
            "close",
            Some(json!({
                "data_subjects": {
                    "categories": EVERY_LMS_SUBJECT,
                    "count": {"min": 800, "max": 1200, "precision": "approximate"}
                },
                "personal_data": {"records": {"min": 900, "max": 1500, "precision": "approximate"}}
            })),
        )
        .await;
    assert_eq!(status, 201, "{closed}");
    let last = desk.notice(&incident, &closed, HARBOURVIEW).await;
    assert_eq!(last["data"]["pending"], json!([]), "{last}");
    desk.deliver().await;
    let text = desk.email_text(last["data"]["notice_id"].as_str().unwrap());
    assert!(text.contains("investigation is complete"), "{text}");
}

/// A held notice that an update releases after the client's deadline is a
/// late initial notice: the update needs the report's `delay_reason`, and the
/// released notice says it was late and why.
#[tokio::test]
async fn a_held_notice_released_late_by_an_update_needs_the_delay_reason() {
    let desk = Desk::with(|config, dir| hold_while_categories_pending(config, dir, NORRSKEN)).await;
    let mut report = fixture("report-lms.json");
    report.as_object_mut().unwrap().remove("delay_reason");
    let (status, filed) = desk.gateway.post_report(&desk.gateway.staff, &report).await;
    assert_eq!(status, 201, "{filed}");
    let incident = filed["incident_id"].as_str().unwrap();
    assert_eq!(notices(&filed)[NORRSKEN].2, "held");
    desk.deliver().await;

    // The categories become known days later, past every client's deadline.
    desk.clock.advance(chrono::Duration::days(5));
    let known = json!({"data_subjects": {"categories": EVERY_LMS_SUBJECT}});
    let (status, refused) = desk
        .follow_up(incident, "updates", Some(known.clone()))
        .await;
    assert_eq!(status, 422, "{refused}");
    let detail = &refused["error"]["details"][0];
    assert_eq!(detail["path"], "/delay_reason", "{refused}");
    assert!(
        detail["message"].as_str().unwrap().contains(NORRSKEN),
        "{refused}"
    );

    let reason = "The club's export could only be told apart after the storage log was restored.";
    let mut with_reason = known;
    with_reason["delay_reason"] = json!(reason);
    let (status, released) = desk.follow_up(incident, "updates", Some(with_reason)).await;
    assert_eq!(status, 201, "{released}");
    assert_eq!(
        notices(&released)[NORRSKEN],
        ("breach.notice.initial".to_owned(), 1, "queued".to_owned())
    );
    let initial = desk.notice(incident, &released, NORRSKEN).await;
    assert_eq!(initial["data"]["deadline"]["processor_on_time"], false);
    assert_eq!(
        initial["data"]["deadline"]["processor_delay_reason"],
        reason
    );
    // Clients notified in time keep their first notice's timeliness.
    let update = desk.notice(incident, &released, FORMAVENIR).await;
    assert_eq!(update["data"]["deadline"]["processor_on_time"], true);
    assert!(update["data"]["deadline"]
        .get("processor_delay_reason")
        .is_none());

    desk.deliver().await;
    let notice_id = client_outcome(&released, NORRSKEN)["notice_id"]
        .as_str()
        .unwrap();
    assert!(desk.email_text(notice_id).contains(reason));

    let dir = crate::support::test_dir();
    let files: Vec<String> = [("initial", &initial), ("update", &update)]
        .iter()
        .map(|(name, notice)| {
            let file = dir.path().join(format!("{name}.json"));
            std::fs::write(&file, serde_json::to_vec(notice).unwrap()).unwrap();
            file.display().to_string()
        })
        .collect();
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    crate::independent_verifiers::python("validate_notices.py", &args);
}
