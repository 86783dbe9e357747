//! The agreements as stored documents, the sealed secrets of webhook
//! endpoints that keep one, and the delivery targets staff disabled.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::shared::{agreement_digest, doc_key, DocKey};
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
    /// appends the audit entry, in one transaction; fails with
    /// [`StoreError::AgreementsChanged`] and writes nothing when the stored
    /// agreements are no longer `change.made_from`.
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
    /// The stored agreements the change was made from.
    pub made_from: AgreementsVersion,
    /// Every agreement document after the change.
    pub docs: Vec<AgreementDoc>,
    /// First secrets of endpoints that now keep a stored secret.
    pub new_secrets: Vec<NewWebhookSecret>,
    pub audit: NewAuditEntry,
}

/// What the stored agreements were when a change read them: each
/// document's digest. A change writes every document, so one made from
/// agreements another request or instance has changed since would undo that
/// change; the store refuses it instead, and it is made again from what is
/// stored now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementsVersion(HashMap<DocKey, String>);

impl AgreementsVersion {
    /// The version of `docs`, the stored agreements as
    /// [`AgreementStore::agreements`] answered them.
    pub fn of(docs: &[AgreementDoc]) -> Self {
        Self(
            docs.iter()
                .map(|doc| (doc_key(doc), agreement_digest(doc.body.get())))
                .collect(),
        )
    }

    /// Whether the stored documents (`(kind, id)` → digest) are this version.
    pub(in crate::store) fn is(&self, stored: &HashMap<DocKey, String>) -> bool {
        self.0 == *stored
    }
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
