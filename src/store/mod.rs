//! Durable state behind one small trait per concern, with one
//! implementation per backend. Everything the API accepts is committed here
//! before it answers.
//!
//! [`open`] picks the backend from the URL scheme; nothing outside this
//! module names one. A backend implements each sub-trait in its own file and
//! leaves to `shared` the rules that are not SQL and the statements that
//! are the same on every backend.

mod accounts;
mod agreements;
mod audit;
mod clients;
mod copy;
mod drafts;
mod files;
mod incidents;
mod outbox;
mod postgres;
mod schedule;
mod shared;
mod sqlite;
mod tokens;

use std::sync::Arc;

use async_trait::async_trait;

pub use accounts::{
    AccountStore, FailedSignIns, NewPasswordSetup, NewSession, NewUser, StoredSession, StoredUser,
    User,
};
pub use agreements::{
    AgreementChange, AgreementStore, AgreementsVersion, ClientListing, NewWebhookSecret,
    SecretRotation, StoredSecret,
};
pub use audit::AuditStore;
pub use clients::{Acknowledgement, ClientNotice, ClientStore, NewAcknowledgement};
pub use copy::{copy, CopyError, CopyReport};
pub use drafts::{Draft, DraftFields, DraftStore, NewDraft};
pub use files::create_private_dir;
pub use incidents::{
    BoardIncident, ClientSeries, ClientStanding, FilingClose, IdempotencyRecord, IncidentDetail,
    IncidentFiling, IncidentNotice, IncidentOverview, IncidentState, IncidentStore,
    IncidentSummary, IncidentVersion, NewDelivery, NewIncident, NewNotice, NewVersion, NoticeBody,
    NoticeDelivery, RegisterClient, RegisterDelivery, RegisterFilter, RegisterIncident,
    RegisterNotice, StoredNotice, StoredResponse, BOARD_CLIENTS, HELD_LISTED,
};
pub use outbox::{
    Alert, AlertKind, AttemptRecord, ChannelBacklog, ClaimedDelivery, ClaimedWebhookTest,
    DeliveryAttempt, DeliveryDetail, NewWebhookTest, OutboxStore, RaisedAlert, WebhookTest,
    WebhookTestResult, WebhookTestStatus,
};
pub use schedule::{
    LatestNotice, NewEscalation, NewStaffMail, NewUpdateReminder, ScheduleStore, StaffMail,
    UndeliveredNotice, DEADLINE_PASSED,
};
pub use tokens::{NewToken, StoredToken, TokenListing, TokenStore};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot make the database file {0} private")]
    File(std::path::PathBuf, #[source] std::io::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the idempotency key was already used")]
    IdempotencyConflict,
    #[error("the incident changed since it was read")]
    VersionConflict,
    #[error("the stored agreements changed since the change was made from them")]
    AgreementsChanged,
    #[error("no client {0} in the stored agreements")]
    UnknownClient(crate::domain::ClientId),
    #[error("an account with the email {0} exists")]
    AccountExists(String),
    #[error("no store backend for the URL scheme {0:?} (supported: sqlite, postgres)")]
    UnsupportedScheme(String),
    #[error("cannot read the database file {0}")]
    Unreadable(std::path::PathBuf, #[source] std::io::Error),
    #[error("{0} is no longer the database the store opened: {1}")]
    NotTheDatabase(std::path::PathBuf, &'static str),
    #[error("{0} database migration(s) not applied")]
    MigrationsPending(usize),
    #[error("cannot write the backup to {0}")]
    Backup(std::path::PathBuf, #[source] std::io::Error),
    #[error("backups are taken of SQLite stores only; use the database's own tools for {0:?}")]
    BackupUnsupported(String),
}

/// Everything the gateway stores. Consumers that need only part of it take
/// that sub-trait (`&dyn OutboxStore`, …); an `Arc<dyn Store>` upcasts to any.
pub trait Store:
    Backend
    + TokenStore
    + AgreementStore
    + IncidentStore
    + ClientStore
    + OutboxStore
    + AuditStore
    + ScheduleStore
    + AccountStore
    + DraftStore
{
}

impl<T> Store for T where
    T: Backend
        + TokenStore
        + AgreementStore
        + IncidentStore
        + ClientStore
        + OutboxStore
        + AuditStore
        + ScheduleStore
        + AccountStore
        + DraftStore
        + ?Sized
{
}

/// What one instance tells every instance sharing its database, once the
/// change is committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// New deliveries are in the outbox.
    DeliveriesQueued,
    /// An admin queued a test delivery.
    WebhookTestQueued,
    /// The stored agreements changed.
    AgreementsChanged,
}

impl Change {
    pub const ALL: [Change; 3] = [
        Change::DeliveriesQueued,
        Change::WebhookTestQueued,
        Change::AgreementsChanged,
    ];
}

/// What a backend does whatever the concern.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Closes every connection and waits until they are (SQLite then folds
    /// its write-ahead log back into the database file).
    async fn close(&self);
    /// Whether the store can serve: the database answers a query, would
    /// still open after a restart (a connection already open may go on
    /// working on a database file that no longer can be opened), and has
    /// every migration this build embeds applied
    /// ([`StoreError::MigrationsPending`] otherwise). Behind `/readyz`, so
    /// it must stay cheap.
    async fn readiness(&self) -> Result<(), StoreError>;

    /// Tells every instance on this database, this one included, about a
    /// committed `change`. A backend only one process uses does nothing.
    async fn announce(&self, change: Change) -> Result<(), StoreError>;

    /// The changes announced on this database until the store is closed.
    /// After a lost connection every kind comes once, as announcements may
    /// have been missed meanwhile. A backend only one process uses (SQLite)
    /// ends it at once.
    fn changes(&self) -> tokio::sync::mpsc::Receiver<Change>;
}

/// Copies the store that `url` names to a new file at `to` (mode 0600),
/// consistently, while a gateway may be using it: SQLite's `VACUUM INTO`.
/// Refuses a `to` that exists.
pub async fn backup(url: &str, to: &std::path::Path) -> Result<(), StoreError> {
    match scheme(url) {
        "sqlite" => sqlite::backup(url, to).await,
        other => Err(StoreError::BackupUnsupported(other.to_owned())),
    }
}

fn scheme(url: &str) -> &str {
    url.split_once(':').map_or("", |(scheme, _)| scheme)
}

/// Whether `error` says the database cannot be reached now (a lost or
/// refused connection, a pool that found none in time), rather than that
/// the request or the data is wrong: the caller may try again later.
pub fn is_unavailable(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(e) = error.downcast_ref::<sqlx::Error>() {
            return matches!(
                e,
                sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
            );
        }
        next = error.source();
    }
    false
}

/// How a backend that keeps a connection pool sizes it.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Connections a PostgreSQL store opens at most (per instance). SQLite
    /// keeps its own small pools: one file has one writer.
    pub max_connections: u32,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
        }
    }
}

/// Opens the store that `url` names, migrated to the current schema:
/// `sqlite:` (`sqlite://path`, created if missing, or `sqlite::memory:`) or
/// `postgres:`/`postgresql:` (a database that must exist).
pub async fn open(url: &str, options: &StoreOptions) -> Result<Arc<dyn Store>, StoreError> {
    match scheme(url) {
        "sqlite" => Ok(Arc::new(sqlite::SqliteStore::open(url).await?)),
        "postgres" | "postgresql" => {
            Ok(Arc::new(postgres::PostgresStore::open(url, options).await?))
        }
        other => Err(StoreError::UnsupportedScheme(other.to_owned())),
    }
}
