//! The storage contract, told as one story through `Arc<dyn Store>` only:
//! whatever backend `store::open` picks must pass it unchanged. It runs on
//! a fresh SQLite file always, and on PostgreSQL when
//! `BREACHGATE_TEST_PG_URL` names a server (each test creates a database of
//! its own there and drops it afterwards).

mod large_incidents;
#[path = "../shared/pg_database.rs"]
mod pg_database;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use breachgate::agreements::{check_dir, ClientAgreement};
use breachgate::domain::audit::{self, NewAuditEntry};
use breachgate::domain::{
    endpoint_key, AttemptOutcome, Channel, ClientId, DeliveryStatus, IncidentId, IncidentStatus,
    NextState, NoticeId, NoticeStatus, NoticeType, Role, VersionAction,
};
use breachgate::store::{
    self, AgreementChange, AgreementsVersion, AlertKind, AttemptRecord, ChannelBacklog,
    ClaimedDelivery, FilingClose, IdempotencyRecord, NewDelivery, NewEscalation, NewIncident,
    NewNotice, NewStaffMail, NewToken, NewVersion, RaisedAlert, Store, StoreError, StoreOptions,
};
use chrono::{DateTime, Duration, Utc};
use pg_database::FreshDatabase;
use serde_json::json;

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// An hour after the report fixtures' `became_aware_at`.
fn start() -> DateTime<Utc> {
    "2026-11-22T08:30:00Z".parse().expect("a timestamp")
}

fn lease() -> Duration {
    Duration::seconds(60)
}

/// A fresh SQLite store in its own directory (kept alive with the store).
async fn sqlite_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let store = store::open(&url, &StoreOptions::default()).await;
    (store.expect("the store opens"), dir)
}

/// A store on a fresh PostgreSQL database (dropped with the guard), when
/// `BREACHGATE_TEST_PG_URL` names a server.
async fn postgres_store() -> Option<(Arc<dyn Store>, FreshDatabase)> {
    let Some(server) = pg_database::server_url() else {
        eprintln!("skipped: BREACHGATE_TEST_PG_URL is not set");
        return None;
    };
    let database = FreshDatabase::create(&server);
    let store = store::open(&database.url, &StoreOptions::default()).await;
    Some((store.expect("the PostgreSQL store opens"), database))
}

/// The repository's example agreements, as `contracts check` reads them.
fn contracts() -> breachgate::agreements::Snapshot {
    check_dir(&repo_path("contracts"), &repo_path("schemas")).expect("the contracts are valid")
}

/// A client of the example agreements with a webhook endpoint, and that endpoint.
fn webhook_client(clients: &[ClientAgreement]) -> (ClientId, String) {
    clients
        .iter()
        .find_map(|c| {
            let webhook = c.delivery.webhooks.first()?;
            Some((c.id.clone(), webhook.id.as_str().to_owned()))
        })
        .expect("an example client has a webhook")
}

/// The actions of the audit log, oldest first.
async fn audit_actions(store: &dyn Store) -> Vec<String> {
    store
        .audit_log()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

fn audit_entry(at: DateTime<Utc>, action: &str, subject: &str) -> NewAuditEntry {
    NewAuditEntry::new(at, "conformance story", action, subject, json!({}))
}

/// An incident as filed: its first version, its notices and what closes it.
struct Reported {
    incident: NewIncident,
    notices: Vec<NewNotice>,
    close: FilingClose,
}

impl Reported {
    async fn record(&self, store: &dyn Store) -> Result<(), StoreError> {
        store
            .record_incident(&self.incident, self.notices.clone(), self.close.clone())
            .await
    }
}

/// A notice of `client` whose `body` goes to `target`.
fn notice(client: &ClientId, target: &str, at: DateTime<Utc>, body: Vec<u8>) -> NewNotice {
    NewNotice {
        id: NoticeId::generate(),
        client_id: client.clone(),
        position: 1,
        sequence: 1,
        kind: NoticeType::Initial,
        status: NoticeStatus::Queued,
        body,
        jws: Some("header..signature".into()),
        errors: Vec::new(),
        notify_by: at + Duration::hours(71),
        deliveries: vec![NewDelivery {
            id: format!("dlv_{}", ulid::Ulid::new()),
            channel: Channel::Webhook,
            target: target.to_owned(),
        }],
    }
}

/// A report about `client` whose one notice goes to `target`.
async fn report(
    store: &dyn Store,
    client: &ClientId,
    target: &str,
    at: DateTime<Utc>,
    idempotency: Option<IdempotencyRecord>,
) -> Reported {
    let incident = incident_head(store, at).await;
    let body = br#"{"type":"breach.notice.initial","data":{"sequence":1}}"#.to_vec();
    Reported {
        notices: vec![notice(client, target, at, body)],
        close: FilingClose {
            idempotency,
            audit: audit_entry(at, "report.filed", incident.id.as_str()),
        },
        incident,
    }
}

/// A new incident's first version, without notices.
async fn incident_head(store: &dyn Store, at: DateTime<Utc>) -> NewIncident {
    let id = IncidentId::generate();
    let number = store.next_reference(2026).await.unwrap();
    let facts = json!({"summary": "a lost laptop", "became_aware_at": "2026-11-22T07:30:00Z"});
    NewIncident {
        reference: format!("BG-2026-{number:04}"),
        became_aware_at: at - Duration::hours(1),
        summary: "a lost laptop".into(),
        report: facts,
        reported_by: "story staff".into(),
        created_at: at,
        id,
    }
}

fn gone(delivery: &ClaimedDelivery, at: DateTime<Utc>) -> AttemptRecord {
    AttemptRecord {
        delivery_id: delivery.id.clone(),
        channel: delivery.channel,
        client_id: delivery.client_id.clone(),
        target: delivery.target.clone(),
        attempt: delivery.attempts + 1,
        started_at: at,
        duration_ms: 120,
        outcome: AttemptOutcome::Gone,
        status_code: Some(410),
        detail: "410 Gone".into(),
        next: NextState::EndpointDisabled,
        failures: delivery.failures + 1,
        alert: Some(RaisedAlert {
            message: format!("{} answered 410 and was disabled", delivery.endpoint()),
            mail: NewStaffMail::new(
                "privacy@example.com",
                "endpoint disabled".into(),
                "…".into(),
            ),
        }),
    }
}

/// The story every backend tells the same way, on a fresh store.
async fn story(store: Arc<dyn Store>) {
    let now = start();

    // An id from a URL may hold anything, a NUL included: it names nothing.
    let odd = "dlv_\0";
    assert!(store.delivery(odd).await.unwrap().is_none());
    assert!(store.webhook_test(odd).await.unwrap().is_none());
    assert!(store.token(odd).await.unwrap().is_none());
    assert!(store.token_by_id(odd).await.unwrap().is_none());

    // Agreements: the first apply adds every document, the second changes nothing.
    let snapshot = contracts();
    let applied = store
        .apply_agreements(&snapshot.clone().into_docs())
        .await
        .unwrap();
    assert!(!applied.added.is_empty() && applied.changed.is_empty());
    assert!(store
        .apply_agreements(&snapshot.clone().into_docs())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.agreements().await.unwrap().len(), applied.added.len());
    let (client, target) = webhook_client(&snapshot.clients);

    // The agreements read back are the version written; a change made from
    // another version is refused and writes nothing, not even its audit entry.
    let stored = AgreementsVersion::of(&store.agreements().await.unwrap());
    assert_eq!(stored, AgreementsVersion::of(&snapshot.clone().into_docs()));
    let audited = audit_actions(store.as_ref()).await;
    let refused = store
        .change_agreements(&AgreementChange {
            made_from: AgreementsVersion::of(&[]),
            docs: Vec::new(),
            new_secrets: Vec::new(),
            audit: audit_entry(now, "client.deleted", "everyone"),
        })
        .await;
    assert!(
        matches!(refused, Err(StoreError::AgreementsChanged)),
        "{refused:?}"
    );
    assert_eq!(
        AgreementsVersion::of(&store.agreements().await.unwrap()),
        stored
    );
    assert_eq!(audit_actions(store.as_ref()).await, audited);

    // An incident filed under an idempotency key, and the key reused.
    let key = |response| IdempotencyRecord {
        token_id: "tok_story".into(),
        key: "report-1".into(),
        request_digest: "digest-1".into(),
        status: 201,
        response,
    };
    let first = report(
        store.as_ref(),
        &client,
        &target,
        now,
        Some(key(json!({"n": 1}))),
    )
    .await;
    first.record(store.as_ref()).await.unwrap();
    let again = report(
        store.as_ref(),
        &client,
        &target,
        now,
        Some(key(json!({"n": 2}))),
    )
    .await;
    assert!(matches!(
        again.record(store.as_ref()).await,
        Err(StoreError::IdempotencyConflict)
    ));
    let stored = store
        .idempotent_response("tok_story", "report-1")
        .await
        .unwrap()
        .expect("the first answer is stored");
    assert_eq!(
        (
            stored.request_digest.as_str(),
            stored.status,
            stored.response
        ),
        ("digest-1", 201, json!({"n": 1}))
    );
    let incidents = store.incidents().await.unwrap();
    assert_eq!(incidents.len(), 1, "the conflicting report wrote nothing");
    assert_eq!(incidents[0].status, IncidentStatus::Open);

    // Claimed, then answered 410: the endpoint and its other pending
    // deliveries are disabled, and staff are alerted and mailed.
    let claimed = store
        .claim_deliveries(now, lease(), 10, 10, &[], 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let delivery = &claimed[0];
    assert_eq!(delivery.notice_id, first.notices[0].id.as_str());
    assert_eq!(delivery.body, first.notices[0].body);
    let later = report(store.as_ref(), &client, &target, now, None).await;
    later.record(store.as_ref()).await.unwrap();
    store
        .record_attempts(&[gone(delivery, now + Duration::seconds(1))])
        .await
        .unwrap();
    assert_eq!(
        store.disabled_targets(&client).await.unwrap(),
        [target.as_str()]
    );
    let detail = store.delivery(&delivery.id).await.unwrap().unwrap();
    assert_eq!(detail.status, DeliveryStatus::Disabled);
    assert_eq!(detail.attempts.len(), 1);
    assert_eq!(detail.attempts[0].status_code, Some(410));
    let waiting = &later.notices[0].deliveries[0].id;
    assert_eq!(
        store.delivery(waiting).await.unwrap().unwrap().status,
        DeliveryStatus::Disabled
    );
    let alerts = store.alerts().await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, AlertKind::EndpointDisabled);
    assert_eq!(alerts[0].delivery_id.as_deref(), Some(delivery.id.as_str()));
    let mail = store.claim_staff_mail(now, lease(), 10).await.unwrap();
    assert_eq!(mail.len(), 1);
    assert_eq!(mail[0].subject, "endpoint disabled");
    store.staff_mail_sent(&mail[0].id, now).await.unwrap();

    // The replay re-enables the endpoint and queues the delivery again, once.
    let replayed_at = now + Duration::minutes(5);
    let replay = audit_entry(replayed_at, "delivery.replayed", &delivery.id);
    assert!(store
        .replay_delivery(&delivery.id, replayed_at, &replay)
        .await
        .unwrap());
    assert!(store.disabled_targets(&client).await.unwrap().is_empty());
    let detail = store.delivery(&delivery.id).await.unwrap().unwrap();
    assert_eq!(detail.status, DeliveryStatus::Pending);
    assert_eq!(detail.next_attempt_at, Some(replayed_at));
    assert!(!store
        .replay_delivery(&delivery.id, replayed_at, &replay)
        .await
        .unwrap());

    // A follow-up that starts from a version another one already followed
    // is refused.
    let state = store
        .incident_state(&first.incident.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.version, 1);
    assert_eq!(state.clients, [first.notices[0].client_id.clone()]);
    let series = store
        .client_series(&first.incident.id, &state.clients)
        .await
        .unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].last.id, first.notices[0].id);
    assert_eq!(series[0].last.body, first.notices[0].body);
    let update = |follows| NewVersion {
        incident_id: first.incident.id.clone(),
        follows,
        action: VersionAction::Update,
        status: IncidentStatus::Open,
        facts: json!({"summary": "a lost laptop, encrypted"}),
        submitted: json!({"summary": "a lost laptop, encrypted"}),
        became_aware_at: first.incident.became_aware_at,
        summary: "a lost laptop, encrypted".into(),
        created_by: "story staff".into(),
        created_at: now + Duration::hours(1),
    };
    let close = || FilingClose {
        idempotency: None,
        audit: audit_entry(now, "incident.updated", first.incident.id.as_str()),
    };
    store
        .record_version(&update(1), Vec::new(), close())
        .await
        .unwrap();
    assert!(matches!(
        store.record_version(&update(1), Vec::new(), close()).await,
        Err(StoreError::VersionConflict)
    ));
    let incident = store.incident(&first.incident.id).await.unwrap().unwrap();
    assert_eq!(incident.summary.version, 2);
    assert_eq!(incident.versions.len(), 2);
    assert_eq!(incident.notices[0].deliveries.len(), 1);

    // The same escalation recorded twice is on record once, with one mail.
    let undelivered = store.undelivered_initial_notices().await.unwrap();
    let notice = undelivered
        .iter()
        .find(|n| n.notice_id == first.notices[0].id.as_str())
        .expect("nothing reached the client yet");
    assert!(notice.escalated.is_empty());
    let escalation = NewEscalation {
        notice_id: notice.notice_id.clone(),
        threshold: "50%".into(),
        at: now,
        mail: Some(NewStaffMail::new(
            "privacy@example.com",
            "deadline half gone".into(),
            "…".into(),
        )),
    };
    assert_eq!(
        store
            .record_escalations(std::slice::from_ref(&escalation))
            .await
            .unwrap(),
        [true]
    );
    assert_eq!(
        store.record_escalations(&[escalation]).await.unwrap(),
        [false]
    );
    let mail = store.claim_staff_mail(now, lease(), 10).await.unwrap();
    assert_eq!(mail.len(), 1, "one mail for one escalation");
    let undelivered = store.undelivered_initial_notices().await.unwrap();
    let notice = undelivered
        .iter()
        .find(|n| n.notice_id == first.notices[0].id.as_str())
        .unwrap();
    assert_eq!(notice.escalated, ["50%"]);

    // Every write above that is audited is chained, and the chain holds.
    let log = store.audit_log().await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "report.filed",
            "report.filed",
            "delivery.replayed",
            "incident.updated"
        ]
    );
    assert_eq!(audit::verify(&log).unwrap(), log.len());
    store.close().await;
}

/// Deliveries to a busy endpoint, named by [`endpoint_key`], stay unclaimed.
async fn busy_endpoints_are_skipped(store: Arc<dyn Store>) {
    let now = start();
    let snapshot = contracts();
    store
        .apply_agreements(&snapshot.clone().into_docs())
        .await
        .unwrap();
    let (client, target) = webhook_client(&snapshot.clients);
    let incident = report(store.as_ref(), &client, &target, now, None).await;
    incident.record(store.as_ref()).await.unwrap();

    let busy = [endpoint_key(&client, &target)];
    let claimed = store
        .claim_deliveries(now, lease(), 10, 10, &busy, 10)
        .await
        .unwrap();
    assert!(claimed.is_empty(), "the busy endpoint is skipped");
    let claimed = store
        .claim_deliveries(now, lease(), 10, 10, &[], 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].endpoint(), busy[0]);
    store.close().await;
}

/// What `/metrics` and `/readyz` read: readiness, each channel's pending
/// deliveries and the oldest due one (not counting a disabled endpoint's),
/// and the staff mail not yet sent.
async fn queues_are_measured(store: Arc<dyn Store>) {
    let now = start();
    store.readiness().await.expect("a fresh store is ready");
    let backlog = |pending: [u64; 2], oldest_due: Option<DateTime<Utc>>| {
        vec![
            ChannelBacklog {
                channel: Channel::Webhook,
                pending: pending[0],
                oldest_due,
            },
            ChannelBacklog {
                channel: Channel::Email,
                pending: pending[1],
                oldest_due: None,
            },
        ]
    };
    assert_eq!(
        store.delivery_backlog(now).await.unwrap(),
        backlog([0, 0], None)
    );
    let snapshot = contracts();
    store
        .apply_agreements(&snapshot.clone().into_docs())
        .await
        .unwrap();
    let (client, target) = webhook_client(&snapshot.clients);
    let incident = report(store.as_ref(), &client, &target, now, None).await;
    incident.record(store.as_ref()).await.unwrap();

    let before_due = now - Duration::seconds(1);
    assert_eq!(
        store.delivery_backlog(before_due).await.unwrap(),
        backlog([1, 0], None)
    );
    let later = now + Duration::minutes(2);
    assert_eq!(
        store.delivery_backlog(later).await.unwrap(),
        backlog([1, 0], Some(now))
    );
    let paused = audit_entry(now, "webhook.updated", &target);
    store
        .set_target_enabled(&client, &target, false, now, &paused)
        .await
        .unwrap();
    assert_eq!(
        store.delivery_backlog(later).await.unwrap(),
        backlog([1, 0], None),
        "a paused endpoint's delivery is pending but waits on no worker"
    );
    store
        .set_target_enabled(&client, &target, true, now, &paused)
        .await
        .unwrap();

    assert_eq!(store.staff_mail_backlog().await.unwrap(), 0);
    let claimed = store
        .claim_deliveries(later, lease(), 10, 10, &[], 10)
        .await
        .unwrap();
    store
        .record_attempts(&[gone(&claimed[0], later)])
        .await
        .unwrap();
    assert_eq!(
        store.delivery_backlog(later).await.unwrap(),
        backlog([0, 0], None)
    );
    assert_eq!(store.staff_mail_backlog().await.unwrap(), 1);
    store.close().await;
}

/// Tokens: a client token only for a stored client, revoked once (and
/// audited once), and revoked with its client; every token counts.
async fn tokens_are_revoked_by_id_and_with_their_client(store: Arc<dyn Store>) {
    let now = start();
    let snapshot = contracts();
    store
        .apply_agreements(&snapshot.clone().into_docs())
        .await
        .unwrap();
    let client = snapshot.clients[0].id.clone();
    let token = |id: &str, client_id: Option<ClientId>| NewToken {
        id: id.into(),
        name: format!("{id} desk"),
        role: if client_id.is_some() {
            Role::Client
        } else {
            Role::Staff
        },
        client_id,
        hash: breachgate::service::tokens::hash(id),
        created_at: now,
        expires_at: Some(now + Duration::days(1)),
    };
    let unknown = ClientId::parse("no-such-client").unwrap();
    assert!(matches!(
        store.create_token(&token("tok_nobody", Some(unknown)), None).await,
        Err(StoreError::UnknownClient(c)) if c.as_str() == "no-such-client"
    ));
    let created = audit_entry(now, "token.created", "tok_desk");
    store
        .create_token(&token("tok_desk", Some(client.clone())), Some(&created))
        .await
        .unwrap();
    store
        .create_token(&token("tok_staff", None), None)
        .await
        .unwrap();
    let stored = store.token_by_id("tok_desk").await.unwrap().unwrap();
    assert_eq!(stored.record.client_id.as_ref(), Some(&client));
    assert_eq!(stored.expires_at, Some(now + Duration::days(1)));

    let revoked = audit_entry(now, "token.revoked", "tok_staff");
    for _ in 0..2 {
        let listing = store
            .revoke_token("tok_staff", now, &revoked)
            .await
            .unwrap();
        assert_eq!(listing.unwrap().revoked_at, Some(now));
    }
    assert!(store.token_by_id("tok_staff").await.unwrap().is_none());
    assert!(store
        .revoke_token("tok_none", now, &revoked)
        .await
        .unwrap()
        .is_none());

    let mut without = snapshot.clone();
    without.clients.retain(|c| c.id != client);
    store
        .apply_agreements(&without.clone().into_docs())
        .await
        .unwrap();
    assert!(store.token_by_id("tok_desk").await.unwrap().is_none());
    let listed: Vec<(String, bool)> = store
        .tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.token.id, t.revoked_at.is_some()))
        .collect();
    assert_eq!(
        listed,
        [
            ("tok_desk".to_owned(), true),
            ("tok_staff".to_owned(), true)
        ]
    );
    assert_eq!(store.token_count().await.unwrap(), 2);
    let actions = audit_actions(store.as_ref()).await;
    assert_eq!(actions, ["token.created", "token.revoked"]);
    store.close().await;
}

/// A filing fed chunk by chunk: nothing of it exists until it commits, a
/// filing dropped unfinished leaves nothing, the notices come back as the
/// exact bytes filed (stored compressed), and the clients page by key.
async fn filings_are_all_or_nothing_and_read_back_exactly(store: Arc<dyn Store>) {
    let now = start();
    let snapshot = contracts();
    store
        .apply_agreements(&snapshot.clone().into_docs())
        .await
        .unwrap();
    let (_, target) = webhook_client(&snapshot.clients);
    let clients: Vec<ClientId> = (0..5)
        .map(|i| ClientId::parse(&format!("client-{i}")).unwrap())
        .collect();
    let notices = |incident: &NewIncident| -> Vec<NewNotice> {
        clients
            .iter()
            .map(|c| {
                let body = json!({"type": "breach.notice.initial", "incident": incident.id.as_str(),
                                  "data": {"sequence": 1, "client": c.as_str(), "facts": "shared ".repeat(200)}});
                notice(c, &target, now, serde_json::to_vec(&body).unwrap())
            })
            .collect()
    };
    let close = |incident: &NewIncident| FilingClose {
        idempotency: None,
        audit: audit_entry(now, "report.filed", incident.id.as_str()),
    };

    let abandoned = incident_head(store.as_ref(), now).await;
    let mut filing = store.begin_incident(&abandoned).await.unwrap();
    filing.add_notices(notices(&abandoned)).await.unwrap();
    drop(filing);
    assert!(store.incident(&abandoned.id).await.unwrap().is_none());
    assert!(store
        .claim_deliveries(now, lease(), 10, 10, &[], 10)
        .await
        .unwrap()
        .is_empty());

    let filed = incident_head(store.as_ref(), now).await;
    let written = notices(&filed);
    let mut filing = store.begin_incident(&filed).await.unwrap();
    filing.add_notices(written[..2].to_vec()).await.unwrap();
    filing.add_notices(written[2..].to_vec()).await.unwrap();
    filing.commit(close(&filed)).await.unwrap();
    for n in &written {
        let stored = store.notice(&n.id).await.unwrap().unwrap();
        assert_eq!(stored.body, n.body, "the exact bytes filed");
        assert_eq!(stored.jws, n.jws);
    }
    let claimed = store
        .claim_deliveries(now, lease(), 10, 10, &[], 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), written.len());
    for delivery in &claimed {
        let n = written
            .iter()
            .find(|n| n.id.as_str() == delivery.notice_id)
            .unwrap();
        assert_eq!(delivery.body, n.body);
    }

    let mut paged = Vec::new();
    let mut after: Option<ClientId> = None;
    loop {
        let page = store
            .incident_clients(&filed.id, after.as_ref(), 2)
            .await
            .unwrap()
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(ClientId::parse(&last.client_id).unwrap());
        paged.extend(
            page.into_iter()
                .map(|n| (n.client_id, n.sequence, n.deliveries.len())),
        );
    }
    let expected: Vec<(String, u32, usize)> = clients
        .iter()
        .map(|c| (c.as_str().to_owned(), 1, 1))
        .collect();
    assert_eq!(paged, expected);
    assert!(store
        .incident_clients(&abandoned.id, None, 2)
        .await
        .unwrap()
        .is_none());
    store.close().await;
}

/// Accounts: a user with a one-time setup link, its session, and failed
/// sign-ins counted per email and per address.
async fn accounts_keep_users_links_sessions_and_failures(store: Arc<dyn Store>) {
    use breachgate::store::{NewPasswordSetup, NewSession, NewUser, User};
    let now = start();
    let snapshot = contracts();
    store
        .apply_agreements(&snapshot.clone().into_docs())
        .await
        .unwrap();
    let hash = breachgate::service::tokens::hash;
    let user = |id: &str, email: &str, client_id: Option<ClientId>| NewUser {
        user: User {
            id: id.into(),
            email: email.into(),
            role: if client_id.is_some() {
                Role::Client
            } else {
                Role::Staff
            },
            client_id,
        },
        created_at: now,
    };
    let setup = |secret: &str| NewPasswordSetup {
        token_hash: hash(secret),
        created_at: now,
        expires_at: now + Duration::hours(1),
    };
    let created = audit_entry(now, "user.created", "usr_ana");
    store
        .create_user(
            &user("usr_ana", "ana@example.org", None),
            &setup("link-ana"),
            &created,
        )
        .await
        .unwrap();
    assert!(matches!(
        store.create_user(&user("usr_ana2", "ana@example.org", None), &setup("link-2"), &created).await,
        Err(StoreError::AccountExists(e)) if e == "ana@example.org"
    ));
    let unknown = ClientId::parse("no-such-client").unwrap();
    assert!(matches!(
        store
            .create_user(
                &user("usr_x", "x@example.org", Some(unknown)),
                &setup("link-x"),
                &created
            )
            .await,
        Err(StoreError::UnknownClient(_))
    ));
    let client = snapshot.clients[0].id.clone();
    store
        .create_user(
            &user("usr_dpo", "dpo@example.org", Some(client.clone())),
            &setup("link-dpo"),
            &created,
        )
        .await
        .unwrap();
    let dpo = store
        .user_by_email("dpo@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(dpo.user.client_id, Some(client));
    assert_eq!(dpo.password_hash, None);

    // A link works until it expires or is used, once.
    let link = hash("link-ana");
    assert_eq!(
        store.password_setup(&link, now).await.unwrap().unwrap().id,
        "usr_ana"
    );
    assert!(store
        .password_setup(&link, now + Duration::hours(1))
        .await
        .unwrap()
        .is_none());
    let session = NewSession {
        id: "ses_1".into(),
        token_hash: hash("session-1"),
        user_id: "usr_ana".into(),
        csrf_token: "csrf-1".into(),
        created_at: now,
    };
    store
        .create_session(&session, &audit_entry(now, "user.signed_in", "ses_1"))
        .await
        .unwrap();
    let set = audit_entry(now, "user.password_set", "usr_ana");
    assert!(store
        .set_password(&link, "$argon2id$stored", now, &set)
        .await
        .unwrap());
    assert!(!store
        .set_password(&link, "$argon2id$again", now, &set)
        .await
        .unwrap());
    let ana = store
        .user_by_email("ana@example.org")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ana.password_hash.as_deref(), Some("$argon2id$stored"));
    assert!(
        store.session(&hash("session-1")).await.unwrap().is_none(),
        "setting a password ends the user's sessions"
    );

    let session = NewSession {
        id: "ses_2".into(),
        token_hash: hash("session-2"),
        ..session
    };
    store
        .create_session(&session, &audit_entry(now, "user.signed_in", "ses_2"))
        .await
        .unwrap();
    let later = now + Duration::minutes(5);
    store.touch_session("ses_2", later).await.unwrap();
    let stored = store.session(&hash("session-2")).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.id.as_str(),
            stored.user.email.as_str(),
            stored.csrf_token.as_str()
        ),
        ("ses_2", "ana@example.org", "csrf-1")
    );
    assert_eq!((stored.created_at, stored.last_seen_at), (now, later));
    store
        .revoke_session(
            "ses_2",
            later,
            &audit_entry(later, "user.signed_out", "ses_2"),
        )
        .await
        .unwrap();
    assert!(store.session(&hash("session-2")).await.unwrap().is_none());

    // Each failure forgets those before the window it is counted in.
    let window = Duration::minutes(15);
    for (at, email, address) in [
        (now, "ana@example.org", "192.0.2.1"),
        (later, "ana@example.org", "192.0.2.2"),
        (later, "bob@example.org", "192.0.2.1"),
    ] {
        store
            .record_failed_sign_in(email, address, at, at - window)
            .await
            .unwrap();
    }
    let failed = store
        .failed_sign_ins("ana@example.org", "192.0.2.1", now)
        .await
        .unwrap();
    assert_eq!((failed.for_email, failed.from_address), (2, 2));
    let recent = store
        .failed_sign_ins("ana@example.org", "192.0.2.1", later)
        .await
        .unwrap();
    assert_eq!((recent.for_email, recent.from_address), (1, 1));
    let much_later = now + Duration::minutes(17);
    store
        .record_failed_sign_in(
            "ana@example.org",
            "192.0.2.9",
            much_later,
            much_later - window,
        )
        .await
        .unwrap();
    let ever = store
        .failed_sign_ins("ana@example.org", "192.0.2.1", now - Duration::days(1))
        .await
        .unwrap();
    assert_eq!(
        (ever.for_email, ever.from_address),
        (2, 1),
        "the failure at the start left the table; those at +5 minutes stay"
    );
    let actions = audit_actions(store.as_ref()).await;
    assert_eq!(
        actions,
        [
            "user.created",
            "user.created",
            "user.signed_in",
            "user.password_set",
            "user.signed_in",
            "user.signed_out"
        ]
    );
    store.close().await;
}

/// Report drafts: kept as posted, listed last saved first with who saved
/// them, replaced and deleted only at the revision the caller loaded.
async fn drafts_are_saved_over_and_deleted_at_their_revision(store: Arc<dyn Store>) {
    use breachgate::store::{DraftFields, NewDraft, NewPasswordSetup, NewUser, User};
    let now = start();
    for (id, email) in [("usr_ana", "ana@example.org"), ("usr_bo", "bo@example.org")] {
        let user = NewUser {
            user: User {
                id: id.into(),
                email: email.into(),
                role: Role::Staff,
                client_id: None,
            },
            created_at: now,
        };
        let setup = NewPasswordSetup {
            token_hash: breachgate::service::tokens::hash(id),
            created_at: now,
            expires_at: now + Duration::hours(1),
        };
        store
            .create_user(&user, &setup, &audit_entry(now, "user.created", id))
            .await
            .unwrap();
    }
    let fields = |pairs: &[(&str, &[&str])]| -> DraftFields {
        pairs
            .iter()
            .map(|(name, values)| {
                let values = values.iter().map(|v| (*v).to_owned()).collect();
                ((*name).to_owned(), values)
            })
            .collect()
    };
    // Unchecked input is kept as typed, odd characters and all.
    let typed = fields(&[
        (
            "/summary",
            &["A bucket was \"public\" \u{1F4A5}\n\tsince Monday"],
        ),
        ("/became_aware_at", &["yesterday-ish"]),
        ("/affected/systems", &["lms", "crm"]),
        ("/personal_data/records/min", &["-3"]),
    ]);
    let draft = |id: &str, fields: DraftFields, by: &str, at| NewDraft {
        id: id.into(),
        fields,
        filing_key: "01JDRAFTFILINGKEY0000000000".into(),
        saved_by: by.into(),
        saved_at: at,
    };
    store
        .create_draft(&draft("drf_1", typed.clone(), "usr_ana", now))
        .await
        .unwrap();
    let later = now + Duration::minutes(10);
    store
        .create_draft(&draft("drf_2", DraftFields::new(), "usr_bo", later))
        .await
        .unwrap();
    let listed = store.drafts().await.unwrap();
    assert_eq!(
        listed.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        ["drf_2", "drf_1"]
    );
    let first = store.draft("drf_1").await.unwrap().unwrap();
    assert_eq!(
        (
            first.revision,
            &first.fields,
            first.saved_by.as_str(),
            first.saved_at
        ),
        (1, &typed, "ana@example.org", now)
    );
    assert_eq!(first.filing_key, "01JDRAFTFILINGKEY0000000000");
    assert!(store.draft("drf_none").await.unwrap().is_none());
    assert!(store.draft("drf_\0").await.unwrap().is_none());

    // Bo saves over Ana's draft at revision 1; Ana's later save from
    // revision 1 is refused and changes nothing.
    let edited = fields(&[("/summary", &["Bo's version"])]);
    let latest = now + Duration::minutes(20);
    assert!(store
        .replace_draft(&draft("drf_1", edited.clone(), "usr_bo", latest), 1)
        .await
        .unwrap());
    assert!(!store
        .replace_draft(&draft("drf_1", typed.clone(), "usr_ana", latest), 1)
        .await
        .unwrap());
    let replaced = store.draft("drf_1").await.unwrap().unwrap();
    assert_eq!(
        (
            replaced.revision,
            &replaced.fields,
            replaced.saved_by.as_str()
        ),
        (2, &edited, "bo@example.org")
    );
    assert_eq!(store.drafts().await.unwrap()[0].id, "drf_1");

    assert!(!store.delete_draft("drf_1", 1).await.unwrap());
    assert!(store.delete_draft("drf_1", 2).await.unwrap());
    assert!(!store.delete_draft("drf_1", 2).await.unwrap());
    assert!(store.draft("drf_1").await.unwrap().is_none());
    assert_eq!(store.drafts().await.unwrap().len(), 1);
    store.close().await;
}

#[tokio::test]
async fn sqlite_keeps_drafts() {
    let (store, _dir) = sqlite_store().await;
    drafts_are_saved_over_and_deleted_at_their_revision(store).await;
}

#[tokio::test]
async fn postgres_keeps_drafts() {
    if let Some((store, _database)) = postgres_store().await {
        drafts_are_saved_over_and_deleted_at_their_revision(store).await;
    }
}

#[tokio::test]
async fn sqlite_files_all_or_nothing_and_reads_back_exactly() {
    let (store, _dir) = sqlite_store().await;
    filings_are_all_or_nothing_and_read_back_exactly(store).await;
}

#[tokio::test]
async fn postgres_files_all_or_nothing_and_reads_back_exactly() {
    if let Some((store, _database)) = postgres_store().await {
        filings_are_all_or_nothing_and_read_back_exactly(store).await;
    }
}

/// The `dialect`'s migrations from before notices were compressed, copied
/// into `dir`.
fn migrations_before_compression(dialect: &str, dir: &Path) -> PathBuf {
    let older = dir.join("migrations");
    std::fs::create_dir(&older).unwrap();
    for entry in std::fs::read_dir(repo_path(&format!("migrations/{dialect}"))).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if name.as_str() < "0011" {
            std::fs::copy(&path, older.join(name)).unwrap();
        }
    }
    older
}

const PLAIN_INCIDENT: &str = "inc_01JD0000000000000000000000";
const PLAIN_NOTICE: &str = "ntc_01JD0000000000000000000000";
const PLAIN_BODY: &[u8] = br#"{"type":"breach.notice.update","data":{"sequence":2}}"#;

/// The plain notice stored before compression reads back as it was, with
/// the `sequence` its body gave it.
async fn plain_notice_is_kept(url: &str) {
    let store = store::open(url, &StoreOptions::default()).await.unwrap();
    let id = NoticeId::parse(PLAIN_NOTICE).unwrap();
    assert_eq!(store.notice(&id).await.unwrap().unwrap().body, PLAIN_BODY);
    let incident = IncidentId::parse(PLAIN_INCIDENT).unwrap();
    let detail = store.incident(&incident).await.unwrap().unwrap();
    assert_eq!(detail.notices[0].sequence, 2);
    store.close().await;
}

/// As on SQLite: PostgreSQL's generated `sequence` becomes a plain column,
/// backfilled from the bodies.
#[tokio::test]
async fn postgres_migrates_plain_notices_and_their_sequence() {
    let Some(server) = pg_database::server_url() else {
        return;
    };
    let database = FreshDatabase::create(&server);
    let dir = tempfile::tempdir().unwrap();
    let older = migrations_before_compression("postgres", dir.path());
    {
        use sqlx::ConnectOptions;
        let mut db = sqlx::postgres::PgConnectOptions::from_str(&database.url)
            .unwrap()
            .connect()
            .await
            .unwrap();
        sqlx::migrate::Migrator::new(older.as_path())
            .await
            .unwrap()
            .run(&mut db)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO incidents (id, reference, status, became_aware_at, summary, report, reported_by, created_at)
             VALUES ($1, 'BG-2026-0001', 'open', 0, 's', '{}', 'staff', 0)",
        )
        .bind(PLAIN_INCIDENT)
        .execute(&mut db)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO notices (id, incident_id, client_id, position, kind, status, body, errors, notify_by, created_at, version)
             VALUES ($1, $2, 'acme', 2, 'breach.notice.update', 'queued', $3, '[]', 0, 0, 1)",
        )
        .bind(PLAIN_NOTICE)
        .bind(PLAIN_INCIDENT)
        .bind(PLAIN_BODY)
        .execute(&mut db)
        .await
        .unwrap();
    }
    plain_notice_is_kept(&database.url).await;
}

/// A database from before notices were compressed keeps its notices as they
/// were, and their `sequence` (read from the body until then) is kept.
#[tokio::test]
async fn sqlite_migrates_plain_notices_and_their_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let older = migrations_before_compression("sqlite", dir.path());
    {
        use sqlx::ConnectOptions;
        let mut db = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true)
            .connect()
            .await
            .unwrap();
        sqlx::migrate::Migrator::new(older.as_path())
            .await
            .unwrap()
            .run(&mut db)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO incidents (id, reference, status, became_aware_at, summary, report, reported_by, created_at)
             VALUES (?, 'BG-2026-0001', 'open', 0, 's', '{}', 'staff', 0)",
        )
        .bind(PLAIN_INCIDENT)
        .execute(&mut db)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO notices (id, incident_id, client_id, position, kind, status, body, errors, notify_by, created_at, version)
             VALUES (?, ?, 'acme', 2, 'breach.notice.update', 'queued', ?, '[]', 0, 0, 1)",
        )
        .bind(PLAIN_NOTICE)
        .bind(PLAIN_INCIDENT)
        .bind(PLAIN_BODY)
        .execute(&mut db)
        .await
        .unwrap();
    }
    plain_notice_is_kept(&url).await;
}

#[tokio::test]
async fn sqlite_keeps_accounts() {
    let (store, _dir) = sqlite_store().await;
    accounts_keep_users_links_sessions_and_failures(store).await;
}

#[tokio::test]
async fn sqlite_revokes_tokens_by_id_and_with_their_client() {
    let (store, _dir) = sqlite_store().await;
    tokens_are_revoked_by_id_and_with_their_client(store).await;
}

#[tokio::test]
async fn the_story_on_sqlite() {
    let (store, _dir) = sqlite_store().await;
    story(store).await;
}

#[tokio::test]
async fn sqlite_measures_its_queues() {
    let (store, _dir) = sqlite_store().await;
    queues_are_measured(store).await;
}

#[tokio::test]
async fn sqlite_skips_busy_endpoints_by_their_rust_key() {
    let (store, _dir) = sqlite_store().await;
    busy_endpoints_are_skipped(store).await;
}

#[tokio::test]
async fn the_story_on_postgres() {
    if let Some((store, _database)) = postgres_store().await {
        story(store).await;
    }
}

#[tokio::test]
async fn postgres_revokes_tokens_by_id_and_with_their_client() {
    if let Some((store, _database)) = postgres_store().await {
        tokens_are_revoked_by_id_and_with_their_client(store).await;
    }
}

#[tokio::test]
async fn postgres_measures_its_queues() {
    if let Some((store, _database)) = postgres_store().await {
        queues_are_measured(store).await;
    }
}

#[tokio::test]
async fn postgres_keeps_accounts() {
    if let Some((store, _database)) = postgres_store().await {
        accounts_keep_users_links_sessions_and_failures(store).await;
    }
}

#[tokio::test]
async fn postgres_skips_busy_endpoints_by_their_rust_key() {
    if let Some((store, _database)) = postgres_store().await {
        busy_endpoints_are_skipped(store).await;
    }
}

/// Two instances starting together on a fresh database: sqlx's migrator
/// takes an advisory lock, so one migrates and the other finds it done.
#[tokio::test]
async fn postgres_stores_opened_together_migrate_once() {
    let Some(server) = pg_database::server_url() else {
        return;
    };
    let database = FreshDatabase::create(&server);
    let options = StoreOptions::default();
    let (a, b) = tokio::join!(
        store::open(&database.url, &options),
        store::open(&database.url, &options)
    );
    let (a, b) = (a.expect("the first opens"), b.expect("the second opens"));
    let admin = sqlx::PgPool::connect(&database.url).await.unwrap();
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&admin)
            .await
            .unwrap();
    let mut expected: Vec<(i64, bool)> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
            .unwrap()
            .map(|file| {
                let name = file.unwrap().file_name().into_string().unwrap();
                (name[..4].parse().unwrap(), true)
            })
            .collect();
    expected.sort();
    assert_eq!(applied, expected, "each migration applied once");
    a.close().await;
    b.close().await;
    admin.close().await;
}

/// Two instances claiming one endpoint's deliveries at once never lease
/// more than `per_endpoint` of them together, and the audit chain they
/// append to at once stays one chain.
#[tokio::test]
async fn postgres_instances_share_the_endpoint_limit_and_the_audit_chain() {
    let Some((a, database)) = postgres_store().await else {
        return;
    };
    let b = store::open(&database.url, &StoreOptions::default())
        .await
        .unwrap();
    let now = start();
    let snapshot = contracts();
    a.apply_agreements(&snapshot.clone().into_docs())
        .await
        .unwrap();
    let (client, target) = webhook_client(&snapshot.clients);
    for _ in 0..12 {
        let incident = report(a.as_ref(), &client, &target, now, None).await;
        incident.record(a.as_ref()).await.unwrap();
    }
    let per_endpoint = 3;
    let claims = (0..8).map(|i| {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move {
            store
                .claim_deliveries(now, lease(), 10, 0, &[], per_endpoint)
                .await
                .unwrap()
                .len()
        }
    });
    let claimed: usize = claimed_at_once(claims).await;
    assert_eq!(claimed, per_endpoint, "one endpoint, {per_endpoint} slots");

    let appends = (0..40).map(|i| {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        async move {
            let entry = audit_entry(now, "story.concurrent", &format!("n{i}"));
            store.append_audit(&entry).await.unwrap();
        }
    });
    let handles: Vec<_> = appends.map(tokio::spawn).collect();
    for handle in handles {
        handle.await.unwrap();
    }
    let log = b.audit_log().await.unwrap();
    assert_eq!(audit::verify(&log).unwrap(), log.len());
    assert_eq!(log.len(), 12 + 40);
    a.close().await;
    b.close().await;
}

/// Runs the claims at once (each on its own task) and adds up their sizes.
async fn claimed_at_once(
    claims: impl Iterator<Item = impl std::future::Future<Output = usize> + Send + 'static>,
) -> usize {
    let handles: Vec<_> = claims.map(tokio::spawn).collect();
    let mut total = 0;
    for handle in handles {
        total += handle.await.unwrap();
    }
    total
}

#[tokio::test]
async fn an_unknown_url_scheme_is_refused_by_name() {
    let error = store::open("mysql://localhost/breachgate", &StoreOptions::default())
        .await
        .err()
        .expect("no MySQL backend");
    assert!(matches!(&error, StoreError::UnsupportedScheme(s) if s == "mysql"));
    assert!(error.to_string().contains("\"mysql\""), "{error}");
}

/// The admin clients list: pages in id order after a cursor, and a search
/// by id or name, ASCII case-insensitive.
async fn clients_are_paged_and_searched(store: Arc<dyn Store>) {
    store
        .apply_agreements(&contracts().into_docs())
        .await
        .expect("agreements stored");
    let ids = |page: &[store::ClientListing]| page.iter().map(|c| c.id.clone()).collect::<Vec<_>>();
    let first = store.clients_page("", None, 2).await.unwrap();
    assert_eq!(ids(&first), ["consorzio-formazione-emilia", "formavenir"]);
    let after = ClientId::parse(&first[1].id).unwrap();
    let second = store.clients_page("", Some(&after), 2).await.unwrap();
    assert_eq!(
        ids(&second),
        ["hanse-spedition-nord", "harbourview-housing"]
    );
    assert_eq!(second[1].language, "en");
    assert_eq!(second[1].country, "GB");
    let by_name = store.clients_page("HOUSING ASSOC", None, 10).await.unwrap();
    assert_eq!(ids(&by_name), ["harbourview-housing"]);
    assert_eq!(by_name[0].name, "Harbourview Housing Association");
    let by_id = store.clients_page("vlinder", None, 10).await.unwrap();
    assert_eq!(ids(&by_id), ["kinderopvang-de-vlinder"]);
    let none_after = store
        .clients_page(
            "vlinder",
            Some(&ClientId::parse("kinderopvang-de-vlinder").unwrap()),
            10,
        )
        .await
        .unwrap();
    assert!(none_after.is_empty());
}

#[tokio::test]
async fn sqlite_pages_and_searches_clients() {
    let (store, _dir) = sqlite_store().await;
    clients_are_paged_and_searched(store).await;
}

#[tokio::test]
async fn postgres_pages_and_searches_clients() {
    if let Some((store, _database)) = postgres_store().await {
        clients_are_paged_and_searched(store).await;
    }
}
