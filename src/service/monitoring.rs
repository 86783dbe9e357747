//! What operators watch: whether the gateway can serve, and the gauges of
//! `/metrics` that are read from the store when it is scraped (the queues
//! are shared with whatever else writes to the store, so no in-memory count
//! could keep them).

use std::time::Duration;

use super::Services;
use crate::store::StoreError;

/// Why the gateway is not ready, in words fit for an open endpoint.
#[derive(Debug, thiserror::Error)]
pub enum NotReady {
    #[error("the store cannot be reached")]
    Unreachable(#[source] StoreError),
    #[error("the store did not answer within {} s", .0.as_secs())]
    TimedOut(Duration),
    #[error("{0} database migration(s) not applied")]
    MigrationsPending(usize),
}

/// Whether the store can serve, within `timeout`.
pub async fn readiness(services: &Services, timeout: Duration) -> Result<(), NotReady> {
    match tokio::time::timeout(timeout, services.store.readiness()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(StoreError::MigrationsPending(n))) => Err(NotReady::MigrationsPending(n)),
        Ok(Err(e)) => Err(NotReady::Unreachable(e)),
        Err(_) => Err(NotReady::TimedOut(timeout)),
    }
}

/// Sets the outbox, held-notice and staff-mail gauges from the store, and whether the
/// store answered.
pub async fn refresh_gauges(services: &Services) {
    let metrics = &services.metrics;
    match read_backlogs(services).await {
        Ok(()) => metrics.set_store_up(true),
        Err(e) => {
            let error = crate::errors::chain(&e);
            tracing::warn!(%error, "cannot read the queue gauges for /metrics");
            metrics.set_store_up(false);
        }
    }
}

async fn read_backlogs(services: &Services) -> Result<(), StoreError> {
    let now = services.clock.now();
    for backlog in services.store.delivery_backlog(now).await? {
        let waited = backlog
            .oldest_due
            .and_then(|due| (now - due).to_std().ok())
            .unwrap_or_default();
        services
            .metrics
            .set_delivery_backlog(backlog.channel, backlog.pending, waited);
    }
    let held = services.store.held_backlog().await?;
    services.metrics.set_clients_held(held);
    let unsent = services.store.staff_mail_backlog().await?;
    services.metrics.set_staff_mail_pending(unsent);
    Ok(())
}
