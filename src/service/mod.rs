//! Use cases: filing and following up reports, admin changes to the
//! agreements, replays, acknowledgements, the register and tokens. Each takes
//! parsed input and answers a typed outcome or a typed error; `http/` (and
//! later pages) map them to what their callers see. Audit entries and worker
//! wake-ups happen here, never in a handler.

pub mod accounts;
pub mod agreements;
pub mod client_notices;
pub mod deliveries;
pub mod drafts;
pub mod incidents;
pub mod monitoring;
pub mod register;
pub mod reporting;
pub mod tokens;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::agreements::{LiveRegistry, Registry, Snapshot};
use crate::clock::Clock;
use crate::domain::ProcessorIdentity;
use crate::metrics::Metrics;
use crate::secrets::SecretsKey;
use crate::signing::Signer;
use crate::store::{Change, Store};
use crate::worker::Wake;

/// The handles every use case works with.
pub struct Services {
    pub store: Arc<dyn Store>,
    pub registry: Arc<LiveRegistry>,
    pub signer: Arc<Signer>,
    /// Seals and opens webhook secrets at rest.
    pub secrets: Arc<SecretsKey>,
    /// What "now" is for everything the gateway stamps or schedules.
    pub clock: Arc<dyn Clock>,
    pub wake: Arc<Wake>,
    /// What the gateway counts for `/metrics`.
    pub metrics: Arc<Metrics>,
    pub processor: ProcessorIdentity,
    /// The schemas directory, against which agreements are checked.
    pub schemas: PathBuf,
    /// Held while an admin change reads, changes and stores the agreements,
    /// so two changes never start from the same version.
    agreements_changing: tokio::sync::Mutex<()>,
    /// Held while the registry is rebuilt, see [`Services::reload_registry`].
    registry_reloading: tokio::sync::Mutex<()>,
}

impl Services {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: Arc<dyn Store>,
        registry: Arc<LiveRegistry>,
        signer: Arc<Signer>,
        secrets: Arc<SecretsKey>,
        clock: Arc<dyn Clock>,
        wake: Arc<Wake>,
        metrics: Arc<Metrics>,
        processor: ProcessorIdentity,
        schemas: PathBuf,
    ) -> Self {
        Self {
            store,
            registry,
            signer,
            secrets,
            clock,
            wake,
            metrics,
            processor,
            schemas,
            agreements_changing: tokio::sync::Mutex::new(()),
            registry_reloading: tokio::sync::Mutex::new(()),
        }
    }

    /// Rebuilds the registry from the stored agreements, so the next report
    /// sees a change; reports already running keep the view they started with.
    /// Rebuilds take turns: changes made at once on several instances start
    /// several here (each change's own, and one per announcement), and one
    /// that read the agreements before another must not replace its registry
    /// after it, leaving a change out until the next one.
    pub async fn reload_registry(&self) -> anyhow::Result<()> {
        let _reloading = self.registry_reloading.lock().await;
        self.registry
            .replace(load_registry(self.store.as_ref()).await?);
        Ok(())
    }

    /// Wakes this instance's workers for a committed `change` and tells the
    /// other instances on the database; if that fails, they see it at their
    /// next poll.
    pub async fn announce(&self, change: Change) {
        match change {
            Change::DeliveriesQueued => self.wake.deliveries_queued(),
            Change::WebhookTestQueued => self.wake.webhook_test_queued(),
            // The caller reloaded the registry already.
            Change::AgreementsChanged => {}
        }
        if let Err(e) = self.store.announce(change).await {
            tracing::warn!(error = %e, ?change, "cannot tell the other instances; they see it at their next poll");
        }
    }

    /// Follows what the instances on the database announce, until the store
    /// is closed: wakes this instance's workers and reloads its registry.
    /// Announcements that are lost are covered by the workers' polls and
    /// the store's own look at the agreements.
    pub async fn follow_changes(self: Arc<Self>) {
        let mut changes = self.store.changes();
        while let Some(change) = changes.recv().await {
            match change {
                Change::DeliveriesQueued => self.wake.deliveries_queued(),
                Change::WebhookTestQueued => self.wake.webhook_test_queued(),
                Change::AgreementsChanged => {
                    if let Err(e) = self.reload_registry().await {
                        tracing::error!(error = %e, "cannot reload the agreements another instance changed");
                    }
                }
            }
        }
    }
}

/// The registry of the agreements in `store`.
pub async fn load_registry(store: &dyn Store) -> anyhow::Result<Registry> {
    let snapshot = Snapshot::from_docs(store.agreements().await?)
        .context("stored agreements are unreadable")?;
    Registry::build(snapshot).map_err(|e| anyhow::anyhow!(e))
}
