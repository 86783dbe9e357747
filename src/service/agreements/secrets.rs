//! New webhook secrets: generated from the operating system's random
//! source, shown once, and sealed under the secrets key for the store.

use chrono::{DateTime, Utc};

use crate::domain::{ClientId, WebhookId};
use crate::secrets::{webhook_context, RevealedSecret};
use crate::service::Services;
use crate::store::NewWebhookSecret;

/// A new secret for the endpoint, and the same sealed for the store.
pub(super) fn new_secret(
    services: &Services,
    id: &ClientId,
    webhook_id: &WebhookId,
    now: DateTime<Utc>,
) -> (RevealedSecret, NewWebhookSecret) {
    let secret = RevealedSecret::new_webhook_secret();
    let sealed = services.secrets.seal(
        secret.expose().as_bytes(),
        &webhook_context(id.as_str(), webhook_id.as_str()),
    );
    let stored = NewWebhookSecret {
        client_id: id.clone(),
        webhook_id: webhook_id.clone(),
        sealed,
        key_id: services.secrets.id().to_owned(),
        created_at: now,
    };
    (secret, stored)
}
