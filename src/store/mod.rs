//! Durable state behind one trait, with one implementation per backend.
//! Everything the API accepts is committed here before it answers.

mod admin;
mod records;
mod scheduling;
mod sqlite;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

pub use admin::*;
pub use records::*;
pub use scheduling::*;
pub use sqlite::SqliteStore;

use crate::agreements::{AgreementDoc, AppliedChanges};
use crate::domain::audit::{AuditEntry, NewAuditEntry};
use crate::domain::{Caller, ClientId, IncidentId, NoticeId, WebhookId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the idempotency key was already used")]
    IdempotencyConflict,
    #[error("the incident changed since it was read")]
    VersionConflict,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Replaces the stored agreements with `docs`, reporting what changed.
    async fn apply_agreements(&self, docs: &[AgreementDoc]) -> Result<AppliedChanges, StoreError>;
    async fn agreements(&self) -> Result<Vec<AgreementDoc>, StoreError>;

    async fn create_token(&self, token: &NewToken) -> Result<(), StoreError>;
    /// The live token with id `id`, with its stored hash for the caller to compare.
    async fn token_by_id(&self, id: &str) -> Result<Option<StoredToken>, StoreError>;
    /// The live token whose SHA-256 is `hash` (tokens without an embedded id).
    async fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<Caller>, StoreError>;
    async fn token_count(&self) -> Result<u64, StoreError>;

    /// The next incident reference number for `year` (BG-YYYY-NNNN).
    async fn next_reference(&self, year: i32) -> Result<u32, StoreError>;
    async fn idempotent_response(
        &self,
        token_id: &str,
        key: &str,
    ) -> Result<Option<StoredResponse>, StoreError>;
    /// Writes the incident, its notices, their deliveries, the idempotency
    /// record and the incident's audit entry in one transaction. A concurrent
    /// use of the same idempotency key fails with
    /// [`StoreError::IdempotencyConflict`] and writes nothing.
    async fn record_incident(&self, incident: &NewIncident) -> Result<(), StoreError>;

    /// The incident's latest facts and each client's series of notices.
    async fn incident_state(&self, id: &IncidentId) -> Result<Option<IncidentState>, StoreError>;
    /// Writes the new version, the incident's new facts and status, its
    /// notices and their deliveries, the idempotency record and the audit
    /// entry in one transaction.
    async fn record_version(&self, version: &NewVersion) -> Result<(), StoreError>;

    async fn incidents(&self) -> Result<Vec<IncidentSummary>, StoreError>;
    async fn incident(&self, id: &IncidentId) -> Result<Option<IncidentView>, StoreError>;
    /// A notice's exact signed bytes and its JWS (none while held).
    async fn notice(&self, id: &NoticeId) -> Result<Option<StoredNotice>, StoreError>;

    /// The breach register: every incident in the order reported, its
    /// clients by id, each with its notices, deliveries and acknowledgements,
    /// deadlines judged as of `now`.
    async fn register(&self, now: DateTime<Utc>) -> Result<Vec<RegisterIncident>, StoreError>;

    /// The notices sent to `client_id`, newest first. Held notices were never
    /// sent, so they are not the client's to see.
    async fn client_notices(
        &self,
        client_id: &ClientId,
    ) -> Result<Vec<ClientNoticeView>, StoreError>;
    /// Notice `id` if it was sent to `client_id`; none for another client's,
    /// a held or an unknown notice alike.
    async fn client_notice(
        &self,
        client_id: &ClientId,
        id: &NoticeId,
    ) -> Result<Option<StoredNotice>, StoreError>;
    /// Records the acknowledgement, with its audit entry, unless the notice
    /// already has one, and answers the one on record. None if the notice is
    /// not visible to the acknowledging client (see [`Store::client_notice`]).
    async fn acknowledge_notice(
        &self,
        ack: &NewAcknowledgement,
    ) -> Result<Option<Acknowledgement>, StoreError>;

    /// Leases up to `limit` pending deliveries due at `now`, of which at most
    /// `emails` emails (claimed first), skipping disabled endpoints and the
    /// `busy` ones (`client/target` keys).
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
        emails: usize,
        busy: &[String],
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;
    /// Gives claimed deliveries back untouched, to be claimed again when due.
    async fn release_deliveries(&self, ids: &[String]) -> Result<(), StoreError>;

    /// Replaces the stored agreements with `change.docs` as
    /// [`Store::apply_agreements`] does, stores the new secrets and appends
    /// the audit entry, in one transaction.
    async fn change_agreements(
        &self,
        change: &AgreementChange,
    ) -> Result<AppliedChanges, StoreError>;
    /// The stored secrets of an endpoint still valid at `now`, oldest first.
    async fn webhook_secrets(
        &self,
        client_id: &ClientId,
        webhook_id: &WebhookId,
        now: DateTime<Utc>,
    ) -> Result<Vec<StoredSecret>, StoreError>;
    /// Stores an endpoint's next secret, lets the ones valid now expire at
    /// `overlap_until`, and appends the audit entry, in one transaction;
    /// answers the new version.
    async fn rotate_webhook_secret(&self, rotation: &SecretRotation) -> Result<u32, StoreError>;
    /// Disables or re-enables a client's delivery target with its audit
    /// entry. While disabled its deliveries wait; re-enabling puts the ones
    /// a disabled endpoint set aside back in the queue, due at `now`.
    async fn set_target_enabled(
        &self,
        client_id: &ClientId,
        target: &str,
        enabled: bool,
        now: DateTime<Utc>,
        audit: &NewAuditEntry,
    ) -> Result<(), StoreError>;
    /// The disabled delivery targets of `client_id`.
    async fn disabled_targets(&self, client_id: &ClientId) -> Result<Vec<String>, StoreError>;
    /// Queues a test message with its audit entry, in one transaction.
    async fn queue_webhook_test(&self, test: &NewWebhookTest) -> Result<(), StoreError>;
    /// Leases up to `limit` pending test messages (a crashed worker's are
    /// sent again once their lease has passed).
    async fn claim_webhook_tests(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedWebhookTest>, StoreError>;
    async fn record_webhook_test(&self, result: &WebhookTestResult) -> Result<(), StoreError>;
    async fn webhook_test(&self, id: &str) -> Result<Option<WebhookTestView>, StoreError>;
    /// Writes finished attempts and the deliveries' next states in one transaction.
    async fn record_attempts(&self, records: &[AttemptRecord]) -> Result<(), StoreError>;
    async fn delivery(&self, id: &str) -> Result<Option<DeliveryDetail>, StoreError>;
    /// Puts a dead or disabled delivery back in the queue with a fresh retry
    /// schedule (re-enabling its endpoint), with its audit entry, in one
    /// transaction. False, writing nothing, if there is no such delivery or it
    /// is still pending or already delivered.
    async fn replay_delivery(
        &self,
        id: &str,
        now: DateTime<Utc>,
        audit: &NewAuditEntry,
    ) -> Result<bool, StoreError>;
    async fn alerts(&self) -> Result<Vec<Alert>, StoreError>;

    /// Appends `entry` to the audit log, chained to the last entry.
    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry, StoreError>;
    /// Every audit entry as stored, in `seq` order.
    async fn audit_log(&self) -> Result<Vec<AuditEntry>, StoreError>;

    /// Per client of an open incident that nothing about it has reached yet
    /// (its notices held or undelivered), the client's first initial notice,
    /// unless already escalated at [`DEADLINE_PASSED`].
    async fn undelivered_initial_notices(&self) -> Result<Vec<UndeliveredNotice>, StoreError>;
    /// Records the escalations not yet on record, each with its staff mail,
    /// in one transaction; answers, for each, whether it was new.
    async fn record_escalations(
        &self,
        escalations: &[NewEscalation],
    ) -> Result<Vec<bool>, StoreError>;
    /// Per open incident and client, the latest notice that was not held,
    /// unless it is a retraction or an update reminder is on record for it.
    async fn latest_notices_unreminded(&self) -> Result<Vec<LatestNotice>, StoreError>;
    /// Records the reminders not yet on record, each with its staff mail, in
    /// one transaction; answers, for each, whether it was new.
    async fn record_update_reminders(
        &self,
        reminders: &[NewUpdateReminder],
    ) -> Result<Vec<bool>, StoreError>;
    /// Leases up to `limit` unsent staff emails that no one else holds at `now`.
    async fn claim_staff_mail(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<StaffMail>, StoreError>;
    async fn staff_mail_sent(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Records a failed send; the mail is tried again from `retry_at`.
    async fn staff_mail_failed(
        &self,
        id: &str,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// Opens the store `url` names: `sqlite:` (a file, created if missing).
pub async fn open(url: &str) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    Ok(std::sync::Arc::new(SqliteStore::open(url).await?))
}
