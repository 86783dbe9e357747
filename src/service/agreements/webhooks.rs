//! Webhook endpoints: parts of their client's agreement (added, changed and
//! removed through it) with a delivery state of their own (enabled or not)
//! and stored secret versions.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::change::{change_client, webhooks_of, Edit};
use super::clients::client;
use super::{AdminError, GeneratedSecret};
use crate::agreements::model::{WebhookEndpoint, STORED_SECRET};
use crate::domain::audit::{self, NewAuditEntry};
use crate::domain::{Caller, ClientId, WebhookId};
use crate::service::Services;
use crate::store::Change;

/// The fields of a webhook endpoint a change may set; `enabled` is the
/// endpoint's delivery state, the others are its agreement.
const WEBHOOK_FIELDS: [&str; 5] = ["url", "signatures", "local_testing", "secret", "enabled"];

/// A change to one endpoint, as read by [`WebhookChange::from_json`].
#[derive(Debug)]
pub struct WebhookChange {
    /// New values of agreement fields, as the agreement file spells them;
    /// they are checked with the whole agreement when applied.
    agreement: Map<String, Value>,
    enabled: Option<bool>,
}

impl WebhookChange {
    /// A JSON object of any of `url`, `signatures`, `local_testing`,
    /// `secret` (a reference, never a secret) and `enabled`.
    pub fn from_json(change: Value) -> Result<Self, AdminError> {
        let mut agreement = object(change)?;
        if let Some(key) = agreement
            .keys()
            .find(|k| !WEBHOOK_FIELDS.contains(&k.as_str()))
        {
            return Err(AdminError::invalid(
                &format!("/{key}"),
                format!(
                    "not a field a change may set ({})",
                    WEBHOOK_FIELDS.join(", ")
                ),
            ));
        }
        let enabled = match agreement.remove("enabled") {
            None => None,
            Some(Value::Bool(enabled)) => Some(enabled),
            Some(_) => return Err(AdminError::invalid("/enabled", "must be true or false")),
        };
        Ok(Self { agreement, enabled })
    }
}

/// A webhook endpoint: its agreement, whether deliveries to it are enabled,
/// and its stored secret versions (never the secrets).
#[derive(Debug)]
pub struct WebhookState {
    pub endpoint: WebhookEndpoint,
    pub enabled: bool,
    pub secret_versions: Vec<SecretVersion>,
}

#[derive(Debug)]
pub struct SecretVersion {
    pub version: u32,
    pub key_id: String,
    pub created_at: DateTime<Utc>,
    /// None for the current secret; set once it was rotated away.
    pub expires_at: Option<DateTime<Utc>>,
}

/// An endpoint after a change, and the secrets the change generated.
#[derive(Debug)]
pub struct WebhookChanged {
    pub webhook: WebhookState,
    pub secrets: Vec<GeneratedSecret>,
}

pub async fn webhooks(services: &Services, id: &ClientId) -> Result<Vec<WebhookState>, AdminError> {
    let client = client(services, id)?;
    let disabled = disabled_targets(services, id).await?;
    let mut states = Vec::new();
    for endpoint in &client.delivery.webhooks {
        states.push(webhook_state(services, id, endpoint.clone(), &disabled).await?);
    }
    Ok(states)
}

/// Adds an endpoint, given as the agreement file has it; without a `secret`
/// reference it gets a generated, stored one.
pub async fn add_webhook(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
    endpoint: Value,
) -> Result<WebhookChanged, AdminError> {
    let mut endpoint = object(endpoint)?;
    endpoint
        .entry("secret")
        .or_insert_with(|| STORED_SECRET.into());
    let webhook_id = endpoint
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let changed = change_client(services, caller, id, "webhook.added", |current| {
        let mut client = current.ok_or(AdminError::NotFound("client"))?;
        let webhooks = webhooks_of(&mut client);
        if webhooks.iter().any(|w| w["id"] == webhook_id.as_str()) {
            return Err(AdminError::WebhookExists {
                client: id.clone(),
                webhook: webhook_id.clone(),
            });
        }
        let part = format!("/delivery/webhooks/{}", webhooks.len());
        webhooks.push(Value::Object(endpoint.clone()));
        Ok(Edit { client, part })
    })
    .await?;
    let endpoint = changed
        .client
        .webhook(&webhook_id)
        .cloned()
        .ok_or(AdminError::NotFound("webhook"))?;
    let disabled = disabled_targets(services, id).await?;
    Ok(WebhookChanged {
        webhook: webhook_state(services, id, endpoint, &disabled).await?,
        secrets: changed.secrets,
    })
}

/// Changes an endpoint's agreement (checked with the whole agreement), then
/// enables or disables it.
pub async fn update_webhook(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
    webhook_id: &WebhookId,
    change: WebhookChange,
) -> Result<WebhookChanged, AdminError> {
    let WebhookChange { agreement, enabled } = change;
    let mut endpoint = endpoint(services, id, webhook_id)?;
    let mut secrets = Vec::new();
    if !agreement.is_empty() {
        let changed = change_client(services, caller, id, "webhook.changed", |current| {
            let mut client = current.ok_or(AdminError::NotFound("client"))?;
            let webhooks = webhooks_of(&mut client);
            let index = webhooks
                .iter()
                .position(|w| w["id"] == webhook_id.as_str())
                .ok_or(AdminError::NotFound("webhook"))?;
            for (key, value) in &agreement {
                webhooks[index][key] = value.clone();
            }
            let part = format!("/delivery/webhooks/{index}");
            Ok(Edit { client, part })
        })
        .await?;
        endpoint = changed
            .client
            .webhook(webhook_id.as_str())
            .cloned()
            .ok_or(AdminError::NotFound("webhook"))?;
        secrets = changed.secrets;
    }
    if let Some(enabled) = enabled {
        let action = if enabled {
            "webhook.enabled"
        } else {
            "webhook.disabled"
        };
        let audit = NewAuditEntry::new(
            services.clock.now(),
            &audit::token_actor(caller),
            action,
            &format!("{id}/{webhook_id}"),
            json!({}),
        );
        services
            .store
            .set_target_enabled(
                id,
                webhook_id.as_str(),
                enabled,
                services.clock.now(),
                &audit,
            )
            .await?;
        if enabled {
            services.announce(Change::DeliveriesQueued).await;
        }
    }
    let disabled = disabled_targets(services, id).await?;
    Ok(WebhookChanged {
        webhook: webhook_state(services, id, endpoint, &disabled).await?,
        secrets,
    })
}

pub async fn delete_webhook(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
    webhook_id: &WebhookId,
) -> Result<(), AdminError> {
    change_client(services, caller, id, "webhook.removed", |current| {
        let mut client = current.ok_or(AdminError::NotFound("client"))?;
        let webhooks = webhooks_of(&mut client);
        let before = webhooks.len();
        webhooks.retain(|w| w["id"] != webhook_id.as_str());
        if webhooks.len() == before {
            return Err(AdminError::NotFound("webhook"));
        }
        if webhooks.is_empty() {
            // The schema wants a present webhooks list to have an entry.
            client["delivery"]
                .as_object_mut()
                .map(|d| d.remove("webhooks"));
        }
        Ok(Edit::whole(client))
    })
    .await
    .map(|_| ())
}

/// Endpoint `webhook_id` of client `id` as the registry has it now.
pub(super) fn endpoint(
    services: &Services,
    id: &ClientId,
    webhook_id: &WebhookId,
) -> Result<WebhookEndpoint, AdminError> {
    client(services, id)?
        .webhook(webhook_id.as_str())
        .cloned()
        .ok_or(AdminError::NotFound("webhook"))
}

async fn disabled_targets(
    services: &Services,
    id: &ClientId,
) -> Result<HashSet<String>, AdminError> {
    Ok(services
        .store
        .disabled_targets(id)
        .await?
        .into_iter()
        .collect())
}

async fn webhook_state(
    services: &Services,
    client_id: &ClientId,
    endpoint: WebhookEndpoint,
    disabled: &HashSet<String>,
) -> Result<WebhookState, AdminError> {
    let secret_versions = services
        .store
        .webhook_secrets(client_id, &endpoint.id, services.clock.now())
        .await?
        .into_iter()
        .map(|s| SecretVersion {
            version: s.version,
            key_id: s.key_id,
            created_at: s.created_at,
            expires_at: s.expires_at,
        })
        .collect();
    Ok(WebhookState {
        enabled: !disabled.contains(endpoint.id.as_str()),
        endpoint,
        secret_versions,
    })
}

fn object(value: Value) -> Result<Map<String, Value>, AdminError> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(AdminError::invalid("", "must be a JSON object")),
    }
}
