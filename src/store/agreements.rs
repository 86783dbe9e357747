//! The agreements as stored documents, the sealed secrets of webhook
//! endpoints that keep one, and the delivery targets staff disabled.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::agreements::{AgreementDoc, AppliedChanges};
use crate::domain::audit::NewAuditEntry;
use crate::domain::{ClientId, WebhookId};

#[async_trait]
pub trait AgreementStore: Send + Sync + 'static {
    /// Replaces the stored agreements with `docs`, reporting what changed.
    async fn apply_agreements(&self, docs: &[AgreementDoc]) -> Result<AppliedChanges, StoreError>;
    async fn agreements(&self) -> Result<Vec<AgreementDoc>, StoreError>;
    /// Whether any agreement document is stored, without reading them.
    async fn has_agreements(&self) -> Result<bool, StoreError>;
    /// Replaces the stored agreements with `change.docs` as
    /// [`AgreementStore::apply_agreements`] does, stores the new secrets and
    /// appends the audit entry, in one transaction.
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
    /// One page of the stored clients in id order: at most `limit` of those
    /// with an id after `after` whose id or name contains `search` (ASCII
    /// case-insensitive; empty for all). One query, walking the primary key
    /// from `after`, so a page costs the same at any depth.
    async fn clients_page(
        &self,
        search: &str,
        after: Option<&ClientId>,
        limit: u32,
    ) -> Result<Vec<ClientListing>, StoreError>;
}

/// A client as the clients list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientListing {
    pub id: String,
    pub name: String,
    pub country: String,
    pub language: String,
}

/// A change of the agreements made through the admin API.
pub struct AgreementChange {
    /// Every agreement document after the change.
    pub docs: Vec<AgreementDoc>,
    /// First secrets of endpoints that now keep a stored secret.
    pub new_secrets: Vec<NewWebhookSecret>,
    pub audit: NewAuditEntry,
}

/// A webhook secret sealed with the secrets key, ready to store.
pub struct NewWebhookSecret {
    pub client_id: ClientId,
    pub webhook_id: WebhookId,
    /// `enc:v1:…`, see [`crate::secrets`].
    pub sealed: String,
    pub key_id: String,
    pub created_at: DateTime<Utc>,
}

/// The next secret of an endpoint; those valid now expire at `overlap_until`.
pub struct SecretRotation {
    pub secret: NewWebhookSecret,
    pub overlap_until: DateTime<Utc>,
    pub audit: NewAuditEntry,
}

/// One stored version of an endpoint's secret.
#[derive(Debug, Clone)]
pub struct StoredSecret {
    pub version: u32,
    pub sealed: String,
    pub key_id: String,
    pub created_at: DateTime<Utc>,
    /// None for the current secret; set once it was rotated away.
    pub expires_at: Option<DateTime<Utc>>,
}
