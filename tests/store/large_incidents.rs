//! What the staff pages read and follow-ups read and write, each in a
//! bounded number of queries whatever the number of clients: the board's
//! standings, an incident's overview, a page of clients with the attempts
//! of its deliveries, the register filtered in SQL (which must choose the
//! same rows as filtering the whole register would), clients' series a
//! chunk at a time, and a version written chunk by chunk.

use std::collections::BTreeMap;
use std::sync::Arc;

use breachgate::domain::{
    AttemptOutcome, ClientId, DeliveryStatus, IncidentId, IncidentStatus, NextState, NoticeStatus,
    NoticeType, VersionAction,
};
use breachgate::store::{
    AttemptRecord, ClientStanding, FilingClose, NewNotice, NewVersion, RegisterFilter,
    RegisterIncident, Store, BOARD_CLIENTS, HELD_LISTED,
};
use breachgate::validation::FieldError;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::{audit_entry, incident_head, lease, notice, start};

fn client(i: usize) -> ClientId {
    ClientId::parse(&format!("client-{i}")).unwrap()
}

fn body(client: &ClientId, sequence: u32) -> Vec<u8> {
    serde_json::to_vec(&json!({"type": "breach.notice.initial",
        "data": {"sequence": sequence, "client": client.as_str(), "facts": "shared ".repeat(50)}}))
    .unwrap()
}

/// A notice held for a missing field, with no deliveries.
fn held(mut notice: NewNotice) -> NewNotice {
    notice.status = NoticeStatus::Held;
    notice.jws = None;
    notice.deliveries = Vec::new();
    notice.errors = vec![FieldError::new("/data/measures", "is required")];
    notice
}

/// The next notice of a client's series.
fn next(client: &ClientId, position: u32, at: DateTime<Utc>) -> NewNotice {
    NewNotice {
        position,
        sequence: position,
        kind: NoticeType::Update,
        ..notice(client, "primary", at, body(client, position))
    }
}

/// Files an incident about `clients` (each with one notice, made by
/// `make`) and returns its id.
async fn file(
    store: &dyn Store,
    at: DateTime<Utc>,
    clients: &[ClientId],
    make: impl Fn(&ClientId) -> NewNotice,
) -> IncidentId {
    let incident = incident_head(store, at).await;
    let notices = clients.iter().map(make).collect();
    let close = FilingClose {
        idempotency: None,
        audit: audit_entry(at, "report.filed", incident.id.as_str()),
    };
    store
        .record_incident(&incident, notices, close)
        .await
        .unwrap();
    incident.id
}

/// Records the incident's next version, `status`, with `notices`.
async fn follow(
    store: &dyn Store,
    incident: &IncidentId,
    follows: u32,
    status: IncidentStatus,
    notices: Vec<NewNotice>,
    at: DateTime<Utc>,
) {
    let version = NewVersion {
        incident_id: incident.clone(),
        follows,
        action: VersionAction::Update,
        status,
        facts: json!({"summary": "a lost laptop"}),
        submitted: json!({}),
        became_aware_at: at - Duration::hours(1),
        summary: "a lost laptop".into(),
        created_by: "story staff".into(),
        created_at: at,
    };
    let close = FilingClose {
        idempotency: None,
        audit: audit_entry(at, "incident.updated", incident.as_str()),
    };
    store
        .record_version(&version, notices, close)
        .await
        .unwrap();
}

/// Makes one attempt at every due delivery: `client-0`'s arrive, the
/// others' are dead-lettered.
async fn attempt_all(store: &dyn Store, at: DateTime<Utc>) {
    let claimed = store
        .claim_deliveries(at, lease(), 100, 100, &[], 100)
        .await
        .unwrap();
    let records: Vec<AttemptRecord> = claimed
        .iter()
        .map(|d| {
            let delivered = d.client_id == client(0);
            AttemptRecord {
                delivery_id: d.id.clone(),
                channel: d.channel,
                client_id: d.client_id.clone(),
                target: d.target.clone(),
                attempt: d.attempts + 1,
                started_at: at,
                duration_ms: 5,
                outcome: if delivered {
                    AttemptOutcome::Delivered
                } else {
                    AttemptOutcome::Failed
                },
                status_code: Some(if delivered { 200 } else { 500 }),
                detail: format!("attempt at {}", d.client_id),
                next: if delivered {
                    NextState::Delivered { message_id: None }
                } else {
                    NextState::Dead
                },
                failures: u32::from(!delivered),
                alert: None,
            }
        })
        .collect();
    store.record_attempts(&records).await.unwrap();
}

pub async fn staff_pages_read_in_bounded_queries(store: Arc<dyn Store>) {
    let now = start();
    let clients: Vec<ClientId> = (0..5).map(client).collect();

    // An open incident: client-0 reached, client-1's held notice followed
    // by one sent, client-2 waiting on a held notice, client-3 and
    // client-4 dead-lettered.
    let open = file(store.as_ref(), now, &clients, |c| {
        let n = notice(c, "primary", now, body(c, 1));
        if *c == client(1) {
            held(n)
        } else {
            n
        }
    })
    .await;
    attempt_all(store.as_ref(), now).await;
    let later = now + Duration::hours(1);
    follow(
        store.as_ref(),
        &open,
        1,
        IncidentStatus::Open,
        vec![next(&client(1), 2, later), held(next(&client(2), 2, later))],
        later,
    )
    .await;
    // A closed incident about client-1 and client-2, filed later: not on
    // the board.
    let closed_at = now + Duration::days(2);
    let closed = file(store.as_ref(), closed_at, &clients[1..3], |c| {
        notice(c, "primary", closed_at, body(c, 1))
    })
    .await;
    follow(
        store.as_ref(),
        &closed,
        1,
        IncidentStatus::Closed,
        Vec::new(),
        closed_at,
    )
    .await;

    let board = store.board().await.unwrap();
    assert_eq!(board.len(), 1, "only the open incident");
    assert_eq!(board[0].summary.id, open.as_str());
    assert_eq!(board[0].summary.clients, 5);
    let standing = |id: usize, notified, held, dead| ClientStanding {
        client_id: client(id).as_str().to_owned(),
        notify_by: now + Duration::hours(71),
        notified,
        held,
        dead_deliveries: dead,
    };
    assert_eq!(
        board[0].clients,
        [
            standing(0, true, false, 0),
            // Its held first notice had no deliveries; the one sent after
            // it is still pending.
            standing(1, false, false, 0),
            standing(2, false, true, 1),
            standing(3, false, false, 1),
            standing(4, false, false, 1),
        ]
    );

    // Of a large incident, the board shows the clients not yet notified
    // with the nearest deadlines, by id.
    let many: Vec<ClientId> = (0..BOARD_CLIENTS as usize + 2).map(client).collect();
    let large_at = now + Duration::days(1);
    let large = file(store.as_ref(), large_at, &many, |c| {
        let mut n = notice(c, "primary", large_at, body(c, 1));
        if [client(0), client(1)].contains(c) {
            n.notify_by += Duration::hours(1);
        }
        held(n)
    })
    .await;
    let board = store.board().await.unwrap();
    assert_eq!(board.len(), 2);
    assert_eq!(board[0].summary.id, large.as_str(), "newest first");
    assert_eq!(board[0].summary.clients, many.len() as u64);
    let shown: Vec<&str> = board[0]
        .clients
        .iter()
        .map(|c| c.client_id.as_str())
        .collect();
    let mut expected: Vec<&str> = many[2..].iter().map(ClientId::as_str).collect();
    expected.sort();
    assert_eq!(shown, expected);

    // Its overview lists the first of its held notices, counts them all,
    // and gives each way they fail once.
    let overview = store.incident_overview(&large).await.unwrap().unwrap();
    assert_eq!(overview.held.len(), HELD_LISTED as usize);
    assert_eq!(overview.held[0].client_id, "client-0");
    assert_eq!(overview.held_clients, many.len() as u64);
    assert_eq!(
        overview.held_errors,
        [FieldError::new("/data/measures", "is required")]
    );

    let overview = store.incident_overview(&open).await.unwrap().unwrap();
    assert_eq!(overview.versions.len(), 2);
    assert_eq!(
        overview.notices,
        [(NoticeStatus::Held, 2), (NoticeStatus::Queued, 5)]
    );
    assert_eq!(
        overview.deliveries,
        [
            (DeliveryStatus::Dead, 3),
            (DeliveryStatus::Delivered, 1),
            (DeliveryStatus::Pending, 1),
        ]
    );
    let waiting: Vec<(&str, u32)> = overview
        .held
        .iter()
        .map(|n| (n.client_id.as_str(), n.sequence))
        .collect();
    assert_eq!(waiting, [("client-2", 2)], "only a latest notice held");
    assert_eq!(overview.held_clients, 1);
    assert_eq!(overview.held[0].errors[0].path, "/data/measures");
    assert!(store
        .incident_overview(&IncidentId::generate())
        .await
        .unwrap()
        .is_none());

    // Pages of two clients cover every notice once, in client and series
    // order; their deliveries' attempts come in one read.
    let mut paged: Vec<(String, u32)> = Vec::new();
    let mut delivery_ids = Vec::new();
    let mut after: Option<ClientId> = None;
    loop {
        let page = store
            .incident_clients(&open, after.as_ref(), 2)
            .await
            .unwrap()
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(ClientId::parse(&last.client_id).unwrap());
        for n in page {
            delivery_ids.extend(n.deliveries.iter().map(|d| d.delivery_id.clone()));
            paged.push((n.client_id, n.sequence));
        }
    }
    let expected: Vec<(String, u32)> = [(0, 1), (1, 1), (1, 2), (2, 1), (2, 2), (3, 1), (4, 1)]
        .iter()
        .map(|(c, s)| (client(*c).as_str().to_owned(), *s))
        .collect();
    assert_eq!(paged, expected);
    let attempts = store.attempts_of(&delivery_ids).await.unwrap();
    let attempted: Vec<(&str, u32, &str)> = attempts
        .iter()
        .map(|(id, a)| (id.as_str(), a.attempt, a.outcome.as_str()))
        .collect();
    assert_eq!(attempted.len(), 4, "the four first notices' deliveries");
    assert!(attempted.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(attempts
        .iter()
        .any(|(_, a)| a.outcome == AttemptOutcome::Delivered && a.detail == "attempt at client-0"));
    assert!(store.attempts_of(&[]).await.unwrap().is_empty());

    // The register, filtered in SQL, chooses what filtering all of it
    // would.
    let judged_at = now + Duration::days(5);
    let whole = store
        .register(judged_at, &RegisterFilter::default())
        .await
        .unwrap();
    assert_eq!(whole.len(), 3);
    let day = |days: i64| Some(now - Duration::hours(1) + Duration::days(days));
    let filters = [
        RegisterFilter {
            client_id: Some("client-1".into()),
            ..RegisterFilter::default()
        },
        RegisterFilter {
            client_id: Some("client-4".into()),
            ..RegisterFilter::default()
        },
        RegisterFilter {
            client_id: Some("nobody".into()),
            ..RegisterFilter::default()
        },
        RegisterFilter {
            status: Some(IncidentStatus::Closed),
            ..RegisterFilter::default()
        },
        RegisterFilter {
            status: Some(IncidentStatus::Open),
            client_id: Some("client-2".into()),
            ..RegisterFilter::default()
        },
        RegisterFilter {
            aware_from: day(1),
            ..RegisterFilter::default()
        },
        RegisterFilter {
            aware_before: day(1),
            ..RegisterFilter::default()
        },
        RegisterFilter {
            aware_from: day(0),
            aware_before: day(2),
            ..RegisterFilter::default()
        },
    ];
    for filter in filters {
        let chosen = store.register(judged_at, &filter).await.unwrap();
        assert_eq!(
            summary(&chosen),
            summary(&filtered(whole.clone(), &filter)),
            "{filter:?}"
        );
    }
    store.close().await;
}

pub async fn follow_ups_read_and_write_a_chunk_at_a_time(store: Arc<dyn Store>) {
    let now = start();
    let clients: Vec<ClientId> = (0..4).map(client).collect();
    let incident = file(store.as_ref(), now, &clients, |c| {
        let n = notice(c, "primary", now, body(c, 1));
        if *c == client(2) {
            held(n)
        } else {
            n
        }
    })
    .await;
    let later = now + Duration::hours(1);
    let second = next(&client(1), 2, later);
    follow(
        store.as_ref(),
        &incident,
        1,
        IncidentStatus::Open,
        vec![second.clone()],
        later,
    )
    .await;

    let state = store.incident_state(&incident).await.unwrap().unwrap();
    assert_eq!(state.version, 2);
    assert_eq!(state.clients, clients);
    // A chunk of clients: those without a series are left out.
    let chunk = [client(1), client(2), client(9)];
    let series = store.client_series(&incident, &chunk).await.unwrap();
    let read: Vec<(&str, u32, bool)> = series
        .iter()
        .map(|s| (s.client_id.as_str(), s.last_position, s.last_sent.is_some()))
        .collect();
    assert_eq!(read, [("client-1", 2, true), ("client-2", 1, false)]);
    assert_eq!(series[0].last.id, second.id);
    assert_eq!(series[0].last.body, second.body, "the exact bytes");
    assert_eq!(
        series[0].last_sent.as_ref().map(|s| &s.id),
        Some(&second.id)
    );

    // A version written chunk by chunk is all or nothing, and one that
    // another got to first is refused before anything is written.
    let version = |follows| NewVersion {
        incident_id: incident.clone(),
        follows,
        action: VersionAction::Close,
        status: IncidentStatus::Closed,
        facts: json!({"summary": "a lost laptop"}),
        submitted: json!({}),
        became_aware_at: now - Duration::hours(1),
        summary: "a lost laptop".into(),
        created_by: "story staff".into(),
        created_at: later,
    };
    let finals = |position| -> Vec<NewNotice> {
        clients
            .iter()
            .map(|c| NewNotice {
                kind: NoticeType::Final,
                ..next(c, position, later)
            })
            .collect()
    };
    let mut abandoned = store.begin_version(&version(2)).await.unwrap();
    abandoned.add_notices(finals(3)).await.unwrap();
    drop(abandoned);
    let state = store.incident_state(&incident).await.unwrap().unwrap();
    assert_eq!(
        (state.version, state.status),
        (2, IncidentStatus::Open),
        "nothing of a dropped version"
    );
    let written = finals(3);
    let mut filing = store.begin_version(&version(2)).await.unwrap();
    // The version's own transaction reads the series with what it wrote
    // (a follow-up reads each chunk's series before writing the chunk).
    filing.add_notices(written[..2].to_vec()).await.unwrap();
    let inside = filing.client_series(&chunk).await.unwrap();
    let read_inside: Vec<(&str, u32)> = inside
        .iter()
        .map(|s| (s.client_id.as_str(), s.last_position))
        .collect();
    assert_eq!(read_inside, [("client-1", 3), ("client-2", 1)]);
    filing.add_notices(written[2..].to_vec()).await.unwrap();
    filing
        .commit(FilingClose {
            idempotency: None,
            audit: audit_entry(later, "incident.closed", incident.as_str()),
        })
        .await
        .unwrap();
    assert!(matches!(
        store.begin_version(&version(2)).await,
        Err(breachgate::store::StoreError::VersionConflict)
    ));
    let state = store.incident_state(&incident).await.unwrap().unwrap();
    assert_eq!((state.version, state.status), (3, IncidentStatus::Closed));
    for n in &written {
        let stored = store.notice(&n.id).await.unwrap().unwrap();
        assert_eq!(stored.body, n.body, "the exact bytes written");
    }
    let series = store.client_series(&incident, &clients).await.unwrap();
    assert!(series.iter().all(|s| s.last_position == 3));
    store.close().await;
}

/// The register as filtering it whole chooses: the incidents that pass
/// `filter`, each with only the filtered client.
fn filtered(register: Vec<RegisterIncident>, filter: &RegisterFilter) -> Vec<RegisterIncident> {
    register
        .into_iter()
        .filter(|i| filter.status.is_none_or(|s| i.status == s))
        .filter(|i| filter.aware_from.is_none_or(|t| i.became_aware_at >= t))
        .filter(|i| filter.aware_before.is_none_or(|t| i.became_aware_at < t))
        .filter_map(|mut incident| {
            if let Some(client) = &filter.client_id {
                incident.clients.retain(|c| &c.client_id == client);
            }
            (!incident.clients.is_empty()).then_some(incident)
        })
        .collect()
}

/// Everything a register row says, to compare two registers by.
fn summary(register: &[RegisterIncident]) -> BTreeMap<String, Vec<String>> {
    register
        .iter()
        .map(|i| {
            let mut rows = vec![format!("{:?} {} versions", i.status, i.versions.len())];
            for c in &i.clients {
                for n in &c.notices {
                    for d in &n.deliveries {
                        rows.push(format!(
                            "{} {:?} {} {:?} {:?} {}",
                            c.client_id,
                            c.deadline_met,
                            n.notice_id,
                            n.status,
                            d.status,
                            d.attempts
                        ));
                    }
                    if n.deliveries.is_empty() {
                        rows.push(format!("{} {} held", c.client_id, n.notice_id));
                    }
                }
            }
            (i.reference.clone(), rows)
        })
        .collect()
}

#[tokio::test]
async fn sqlite_reads_the_staff_pages_in_bounded_queries() {
    let (store, _dir) = super::sqlite_store().await;
    staff_pages_read_in_bounded_queries(store).await;
}

#[tokio::test]
async fn postgres_reads_the_staff_pages_in_bounded_queries() {
    if let Some((store, _database)) = super::postgres_store().await {
        staff_pages_read_in_bounded_queries(store).await;
    }
}

#[tokio::test]
async fn sqlite_follows_up_a_chunk_at_a_time() {
    let (store, _dir) = super::sqlite_store().await;
    follow_ups_read_and_write_a_chunk_at_a_time(store).await;
}

#[tokio::test]
async fn postgres_follows_up_a_chunk_at_a_time() {
    if let Some((store, _database)) = super::postgres_store().await {
        follow_ups_read_and_write_a_chunk_at_a_time(store).await;
    }
}
