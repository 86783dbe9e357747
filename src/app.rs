//! The running gateway's shared state, assembled once at start.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, RwLock};

use anyhow::Context;

use crate::agreements::{check_dir, Registry, Snapshot};
use crate::clock::{Clock, SystemClock};
use crate::config::{ApplyContracts, Config};
use crate::delivery::email::Secret;
use crate::domain::audit::{self, NewAuditEntry};
use crate::domain::ProcessorIdentity;
use crate::domain::Role;
use crate::http::RateLimits;
use crate::metrics::Metrics;
use crate::secrets::SecretsKey;
use crate::signing::Signer;
use crate::store::{self, Store};

pub struct App {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub signer: Arc<Signer>,
    pub processor: ProcessorIdentity,
    /// Seals and opens webhook secrets at rest.
    pub secrets: SecretsKey,
    /// Signalled when new deliveries are queued, so idle workers start at once.
    pub outbox_ready: tokio::sync::Notify,
    /// What "now" is for everything the gateway stamps or schedules.
    pub clock: Arc<dyn Clock>,
    pub metrics: Metrics,
    pub rate_limits: RateLimits,
    /// Signalled when an admin queues a test delivery.
    pub webhook_tests_ready: tokio::sync::Notify,
    registry: RwLock<Arc<Registry>>,
    /// Held while the admin API reads, changes and stores the agreements, so
    /// two changes never start from the same version.
    pub agreements_changing: tokio::sync::Mutex<()>,
}

impl App {
    /// Opens the store, applies the configured agreements directory, loads the
    /// signing key (generating it on first start) and builds the registry.
    pub async fn start(config: Config) -> anyhow::Result<Arc<Self>> {
        Self::start_with_clock(config, Arc::new(SystemClock)).await
    }

    /// [`App::start`] with time read from `clock`, so tests can move it.
    pub async fn start_with_clock(
        mut config: Config,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Arc<Self>> {
        std::fs::create_dir_all(&config.paths.data_dir).with_context(|| {
            format!(
                "cannot create data directory {}",
                config.paths.data_dir.display()
            )
        })?;
        let store = store::open(&config.store_url())
            .await
            .context("cannot open the store")?;

        let apply = match config.paths.apply_contracts {
            ApplyContracts::Always => true,
            ApplyContracts::IfEmpty => store.agreements().await?.is_empty(),
        };
        if !config.paths.contracts.as_os_str().is_empty() && !apply {
            tracing::info!(
                dir = %config.paths.contracts.display(),
                "agreements already stored; the contracts directory is not applied (see paths.apply_contracts)"
            );
        } else if !config.paths.contracts.as_os_str().is_empty() {
            let changes = apply_contracts(
                store.as_ref(),
                &config.paths.contracts,
                &config.paths.schemas,
                audit::SYSTEM,
            )
            .await?;
            tracing::info!(
                added = changes.added.len(),
                changed = changes.changed.len(),
                removed = changes.removed.len(),
                dir = %config.paths.contracts.display(),
                "agreements applied"
            );
        }
        let registry = load_registry(store.as_ref()).await?;

        let key_file = config.key_file();
        let (signer, generated) = Signer::load_or_generate(&key_file)?;
        if generated {
            tracing::info!(kid = signer.kid(), path = %key_file.display(), "generated a new signing key");
        }

        let (secrets, generated) =
            SecretsKey::load_or_generate(&config.secrets.key, &config.secrets_key_file())?;
        if generated {
            tracing::info!(key_id = secrets.id(), path = %config.secrets_key_file().display(), "generated a new secrets key");
        }
        if let Some(password) = &config.email.password {
            let opened = secrets
                .open_config_value(password.expose())
                .context("email.password")?;
            config.email.password = Some(Secret::new(opened));
        }

        if store.token_count().await? == 0 {
            write_initial_tokens(store.as_ref(), &config.paths.data_dir).await?;
        }

        Ok(Arc::new(Self {
            processor: config.processor_identity(),
            rate_limits: RateLimits::new(&config.server),
            config,
            store,
            signer: Arc::new(signer),
            secrets,
            outbox_ready: tokio::sync::Notify::new(),
            clock,
            metrics: Metrics::new(),
            webhook_tests_ready: tokio::sync::Notify::new(),
            registry: RwLock::new(Arc::new(registry)),
            agreements_changing: tokio::sync::Mutex::new(()),
        }))
    }

    /// The agreements as they are now; a report works on one consistent view.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry
            .read()
            .expect("registry lock poisoned")
            .clone()
    }

    /// Rebuilds the registry from the stored agreements, so the next report
    /// sees a change; reports already running keep the view they started with.
    pub async fn reload_registry(&self) -> anyhow::Result<()> {
        let registry = Arc::new(load_registry(self.store.as_ref()).await?);
        *self.registry.write().expect("registry lock poisoned") = registry;
        Ok(())
    }
}

/// Checks `dir` and stores its agreements, replacing what was stored; a
/// change is audited as `actor`'s (an unchanged apply records nothing).
pub async fn apply_contracts(
    store: &dyn Store,
    dir: &Path,
    schemas: &Path,
    actor: &str,
) -> anyhow::Result<crate::agreements::AppliedChanges> {
    let snapshot = check_dir(dir, schemas).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "agreements in {} have {} problem(s):\n{}",
            dir.display(),
            list.len(),
            list.join("\n")
        )
    })?;
    let changes = store.apply_agreements(&snapshot.to_docs()).await?;
    if !changes.is_empty() {
        store
            .append_audit(&NewAuditEntry::new(
                chrono::Utc::now(),
                actor,
                "agreements.applied",
                &dir.display().to_string(),
                serde_json::json!({
                    "added": changes.added,
                    "changed": changes.changed,
                    "removed": changes.removed,
                }),
            ))
            .await?;
    }
    Ok(changes)
}

async fn load_registry(store: &dyn Store) -> anyhow::Result<Registry> {
    let snapshot = Snapshot::from_docs(store.agreements().await?)
        .context("stored agreements are unreadable")?;
    Registry::build(snapshot).map_err(|e| anyhow::anyhow!(e))
}

/// On a store with no tokens, creates a staff and an admin token and writes
/// them to a file only the owner can read: tokens never go to the log.
async fn write_initial_tokens(store: &dyn Store, data_dir: &Path) -> anyhow::Result<()> {
    let path = data_dir.join("initial-tokens.txt");
    let staff = crate::tokens::issue(store, Role::Staff, "initial staff token", None).await?;
    let admin = crate::tokens::issue(store, Role::Admin, "initial admin token", None).await?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(file, "staff {staff}\nadmin {admin}")?;
    tracing::info!(path = %path.display(), "created initial staff and admin tokens");
    Ok(())
}
