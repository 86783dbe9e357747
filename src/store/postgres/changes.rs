//! Changes announced across instances: `NOTIFY` on one channel, `LISTEN` on
//! a connection of its own, re-established with backoff when it is lost;
//! and, should an announcement of the agreements be lost (an instance that
//! committed a change but lost its connection before announcing it), a
//! look at their version every second.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::mpsc;

use crate::store::Change;

pub(super) const CHANNEL: &str = "breachgate_changes";

/// The payload `change` is announced with.
pub(super) fn payload(change: Change) -> &'static str {
    match change {
        Change::DeliveriesQueued => "deliveries",
        Change::WebhookTestQueued => "webhook_tests",
        Change::AgreementsChanged => "agreements",
    }
}

fn parse(payload: &str) -> Option<Change> {
    Change::ALL
        .into_iter()
        .find(|c| self::payload(*c) == payload)
}

/// Waits between attempts to listen again: doubling from 100 ms up to 5 s.
fn backoff(failures: u32) -> Duration {
    Duration::from_millis(100u64 << failures.min(6)).min(Duration::from_secs(5))
}

/// Sends what is announced on `pool`'s database to `changes` until the pool
/// is closed or nobody receives any more.
pub(super) async fn listen(pool: PgPool, changes: mpsc::Sender<Change>) {
    let mut failures = 0;
    while !pool.is_closed() && !changes.is_closed() {
        let mut listener = match subscribe(&pool).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other instances' changes; retrying");
                tokio::time::sleep(backoff(failures)).await;
                failures += 1;
                continue;
            }
        };
        failures = 0;
        // Whatever was announced while nobody listened (before this
        // instance's first look, or while the connection was lost) is
        // caught up on.
        if !send_all(&changes).await {
            return;
        }
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    let Some(change) = parse(notification.payload()) else {
                        continue;
                    };
                    if changes.send(change).await.is_err() {
                        return;
                    }
                }
                // Reconnected already; announcements may have been missed.
                Ok(None) => {
                    if !send_all(&changes).await {
                        return;
                    }
                }
                Err(sqlx::Error::PoolClosed) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "lost the connection listening for other instances' changes");
                    break;
                }
            }
        }
    }
}

/// Sends [`Change::AgreementsChanged`] when the stored agreements' version
/// moves, until the pool is closed or nobody receives any more.
pub(super) async fn poll_agreements(pool: PgPool, changes: mpsc::Sender<Change>) {
    let mut seen = None;
    let mut every = tokio::time::interval(AGREEMENTS_POLL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !pool.is_closed() && !changes.is_closed() {
        every.tick().await;
        // Rows and the sum of their change times: a change moves one, a
        // removal the other. Unreachable: next time.
        let Ok(version) = sqlx::query_as::<_, (i64, String)>(
            "SELECT count(*), coalesce(sum(updated_at), 0)::text FROM agreement_docs",
        )
        .fetch_one(&pool)
        .await
        else {
            continue;
        };
        if seen.as_ref().is_some_and(|seen| seen != &version)
            && changes.send(Change::AgreementsChanged).await.is_err()
        {
            return;
        }
        seen = Some(version);
    }
}

const AGREEMENTS_POLL: Duration = Duration::from_secs(1);

async fn subscribe(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn send_all(changes: &mpsc::Sender<Change>) -> bool {
    for change in Change::ALL {
        if changes.send(change).await.is_err() {
            return false;
        }
    }
    true
}
