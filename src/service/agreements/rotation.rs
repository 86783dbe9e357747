//! Rotating a stored webhook secret, with an overlap during which the ones
//! valid before still sign.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::secrets::new_secret;
use super::webhooks::endpoint;
use super::AdminError;
use crate::agreements::model::STORED_SECRET;
use crate::domain::audit::{self, NewAuditEntry};
use crate::domain::{Caller, ClientId, WebhookId};
use crate::secrets::RevealedSecret;
use crate::service::Services;
use crate::store::SecretRotation;

/// How long the old secret keeps signing after a rotation, unless asked otherwise.
const DEFAULT_OVERLAP_HOURS: u32 = 24;
/// The longest overlap: a receiver that has not switched within a week is
/// not helped by trusting a retired secret longer.
const MAX_OVERLAP_HOURS: u32 = 168;

/// How long the secrets valid at a rotation keep signing beside the new one.
#[derive(Debug, Clone, Copy)]
pub struct Overlap {
    hours: u32,
}

impl Overlap {
    /// At most a week; the error names `/overlap_hours`, the field the API reads it from.
    pub fn hours(hours: u32) -> Result<Self, AdminError> {
        if hours > MAX_OVERLAP_HOURS {
            return Err(AdminError::invalid(
                "/overlap_hours",
                format!("at most {MAX_OVERLAP_HOURS} hours"),
            ));
        }
        Ok(Self { hours })
    }
}

impl Default for Overlap {
    fn default() -> Self {
        Self {
            hours: DEFAULT_OVERLAP_HOURS,
        }
    }
}

/// A rotated secret: the new one (shown once) and until when the old still signs.
#[derive(Debug)]
pub struct Rotated {
    pub secret: RevealedSecret,
    pub version: u32,
    pub previous_valid_until: DateTime<Utc>,
}

/// Gives a stored-secret endpoint a new secret; the ones valid now keep
/// signing alongside it for `overlap`.
pub async fn rotate_secret(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
    webhook_id: &WebhookId,
    overlap: Overlap,
) -> Result<Rotated, AdminError> {
    // Held so the endpoint cannot be removed between the check and the write.
    let _changing = services.agreements_changing.lock().await;
    let endpoint = endpoint(services, id, webhook_id)?;
    if endpoint.secret != STORED_SECRET {
        return Err(AdminError::SecretNotStored {
            webhook: webhook_id.clone(),
            secret_from: endpoint.secret,
        });
    }
    let now = services.clock.now();
    let previous_valid_until = now + Duration::hours(overlap.hours.into());
    let (secret, sealed) = new_secret(services, id, webhook_id, now);
    let version = services
        .store
        .rotate_webhook_secret(&SecretRotation {
            audit: NewAuditEntry::new(
                services.clock.now(),
                &audit::token_actor(caller),
                "webhook.secret_rotated",
                &format!("{id}/{webhook_id}"),
                json!({
                    "key_id": sealed.key_id,
                    "overlap_hours": overlap.hours,
                    "previous_valid_until": previous_valid_until,
                }),
            ),
            secret: sealed,
            overlap_until: previous_valid_until,
        })
        .await?;
    Ok(Rotated {
        secret,
        version,
        previous_valid_until,
    })
}
