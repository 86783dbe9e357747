//! What the store keeps for the admin API: agreement changes with their
//! audit entry, sealed webhook secrets, and test deliveries.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::agreements::AgreementDoc;
use crate::domain::audit::NewAuditEntry;
use crate::domain::{AttemptOutcome, ClientId, WebhookId};

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

/// A test message for a webhook endpoint, queued with its audit entry.
pub struct NewWebhookTest {
    pub id: String,
    pub client_id: ClientId,
    pub webhook_id: WebhookId,
    pub body: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub audit: NewAuditEntry,
}

/// A test message a worker has leased to send.
#[derive(Debug, Clone)]
pub struct ClaimedWebhookTest {
    pub id: String,
    pub client_id: ClientId,
    pub webhook_id: String,
    pub body: Vec<u8>,
}

/// How the one attempt of a test message ended.
#[derive(Debug, Clone)]
pub struct WebhookTestResult {
    pub id: String,
    pub outcome: AttemptOutcome,
    pub status_code: Option<u16>,
    pub duration_ms: u64,
    pub detail: String,
    pub finished_at: DateTime<Utc>,
}

/// A test message and, once sent, its result.
#[derive(Debug, Clone, Serialize)]
pub struct WebhookTestView {
    pub test_id: String,
    pub client_id: String,
    pub webhook_id: String,
    /// `pending` until the worker has sent it, then `done`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
    pub status_code: Option<u16>,
    pub duration_ms: Option<u64>,
    /// The start of the receiver's answer, or why nothing was sent.
    pub detail: Option<String>,
}
