//! Staff's hand on the outbox: a dead or disabled delivery sent again.

use std::collections::HashMap;

use serde_json::json;

use super::Services;
use crate::domain::audit::{self, NewAuditEntry};
use crate::domain::{Caller, DeliveryStatus};
use crate::store::{Alert, Change, DeliveryAttempt, DeliveryDetail, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("no such delivery")]
    NotFound,
    #[error("delivery is {}; only dead or disabled deliveries can be replayed", .0.as_str())]
    NotReplayable(DeliveryStatus),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Puts delivery `id` back in the queue with a fresh retry schedule, audited
/// as `caller`'s, and wakes the worker.
pub async fn replay(services: &Services, caller: &Caller, id: &str) -> Result<(), ReplayError> {
    let now = services.clock.now();
    let audit = NewAuditEntry::new(
        now,
        &audit::token_actor(caller),
        "delivery.replayed",
        id,
        json!({}),
    );
    if services.store.replay_delivery(id, now, &audit).await? {
        services.announce(Change::DeliveriesQueued).await;
        return Ok(());
    }
    match services.store.delivery(id).await? {
        None => Err(ReplayError::NotFound),
        Some(d) => Err(ReplayError::NotReplayable(d.status)),
    }
}

/// A delivery and every attempt made.
pub async fn get(services: &Services, id: &str) -> Result<Option<DeliveryDetail>, StoreError> {
    services.store.delivery(id).await
}

/// Every attempt at each of `ids`, in order, by delivery id: one store
/// query for a page's deliveries.
pub async fn attempts_of(
    services: &Services,
    ids: &[String],
) -> Result<HashMap<String, Vec<DeliveryAttempt>>, StoreError> {
    let mut attempts: HashMap<String, Vec<DeliveryAttempt>> = HashMap::new();
    for (delivery, attempt) in services.store.attempts_of(ids).await? {
        attempts.entry(delivery).or_default().push(attempt);
    }
    Ok(attempts)
}

/// What needs staff attention: dead letters, disabled endpoints.
pub async fn alerts(services: &Services) -> Result<Vec<Alert>, StoreError> {
    services.store.alerts().await
}
