//! The composition root: opens the store, loads keys and agreements, and
//! wires the services, the delivery worker and the scheduled jobs together.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;

use crate::agreements::LiveRegistry;
use crate::clock::{Clock, SystemClock};
use crate::config::{ApplyContracts, Config};
use crate::delivery::email::{Portal, Secret};
use crate::domain::audit;
use crate::domain::Role;
use crate::metrics::Metrics;
use crate::scheduling::{Cadence, Jobs, StaffMailer, Watchdog};
use crate::secrets::SecretsKey;
use crate::service::agreements::apply_contracts;
use crate::service::{load_registry, tokens, Services};
use crate::signing::Signer;
use crate::store::{self, Store};
use crate::worker::{Wake, Worker, WorkerHandles, WorkerSettings};

pub struct App {
    pub config: Config,
    pub services: Arc<Services>,
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
        create_data_dir(&config)?;
        let store = store::open(&config.store_url(), &config.store_options())
            .await
            .context("cannot open the store")?;

        let apply = match config.paths.apply_contracts {
            ApplyContracts::Always => true,
            ApplyContracts::IfEmpty => !store.has_agreements().await?,
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
                clock.now(),
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

        let services = Services::new(
            store,
            Arc::new(LiveRegistry::new(registry)),
            Arc::new(signer),
            Arc::new(secrets),
            clock,
            Arc::new(Wake::default()),
            Arc::new(Metrics::new()),
            config.processor_identity(),
            config.paths.schemas.clone(),
        );
        let services = Arc::new(services);
        tokio::spawn(services.clone().follow_changes());
        Ok(Arc::new(Self { config, services }))
    }

    /// The delivery worker, reading the time from `clock`. Must be called
    /// inside the Tokio runtime (the SMTP pool needs it).
    pub fn worker(&self, clock: Arc<dyn Clock>) -> anyhow::Result<Arc<Worker>> {
        let s = &self.services;
        Worker::new(
            WorkerHandles {
                outbox: s.store.clone(),
                agreements: s.store.clone(),
                registry: s.registry.clone(),
                signer: s.signer.clone(),
                secrets: s.secrets.clone(),
                clock,
                wake: s.wake.clone(),
                metrics: s.metrics.clone(),
            },
            WorkerSettings {
                delivery: self.config.delivery.clone(),
                webhooks: self.config.webhook_client(),
                email: self.config.email_config(),
                portal: self
                    .config
                    .server
                    .public_url()
                    .map(Portal::new)
                    .transpose()?,
                alerts_to: self.config.processor.contact_email.clone(),
            },
        )
    }

    /// The sender of the staff mail outbox (inside the Tokio runtime).
    pub fn staff_mailer(&self) -> anyhow::Result<StaffMailer> {
        StaffMailer::new(
            self.services.store.clone(),
            &self.config.email_config(),
            self.config.processor.contact_email.clone(),
        )
    }

    /// The deadline watchdog (inside the Tokio runtime).
    pub fn watchdog(&self) -> anyhow::Result<Watchdog> {
        Ok(Watchdog::new(
            self.services.store.clone(),
            self.services.metrics.clone(),
            self.config.schedule.deadline_thresholds(),
            self.staff_mailer()?,
        ))
    }

    /// The update-reminder job (inside the Tokio runtime).
    pub fn cadence(&self) -> anyhow::Result<Cadence> {
        Ok(Cadence::new(
            self.services.store.clone(),
            self.services.registry.clone(),
            self.services.metrics.clone(),
            self.staff_mailer()?,
        ))
    }

    /// Starts the watchdog and the reminders on their cron schedules.
    pub async fn start_jobs(&self) -> anyhow::Result<Jobs> {
        Jobs::start(
            self.watchdog()?,
            self.cadence()?,
            &self.config.schedule,
            self.services.clock.clone(),
        )
        .await
    }
}

/// Creates the data directory readable by the gateway's user only, or
/// tightens it to that: it holds the database and the keys.
pub fn create_data_dir(config: &Config) -> anyhow::Result<()> {
    let dir = &config.paths.data_dir;
    store::create_private_dir(dir)
        .with_context(|| format!("cannot create data directory {}", dir.display()))
}

/// On a store with no tokens, creates a staff and an admin token and writes
/// them to a file only the owner can read: tokens never go to the log.
async fn write_initial_tokens(store: &dyn Store, data_dir: &Path) -> anyhow::Result<()> {
    let path = data_dir.join("initial-tokens.txt");
    let staff = tokens::issue(store, Role::Staff, "initial staff token", None).await?;
    let admin = tokens::issue(store, Role::Admin, "initial admin token", None).await?;
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
