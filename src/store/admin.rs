//! What the store keeps for the admin API: agreement changes with their
//! audit entry, and sealed webhook secrets.

use chrono::{DateTime, Utc};

use crate::agreements::AgreementDoc;
use crate::audit::NewAuditEntry;
use crate::domain::{ClientId, WebhookId};

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
