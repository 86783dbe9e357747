//! An endpoint's secret reference, resolved to the secrets it signs with.

use chrono::{DateTime, Utc};

use crate::agreements::model::{WebhookEndpoint, STORED_SECRET};
use crate::delivery::webhook::WebhookSecret;
use crate::domain::ClientId;
use crate::secrets::{webhook_context, SecretsKey};
use crate::store::AgreementStore;

/// The secrets `endpoint` signs with at `now`: the one its `env:NAME` names,
/// or its stored ones still valid (old and new during a rotation's overlap),
/// oldest first. The error never contains a secret.
pub async fn endpoint_secrets(
    store: &dyn AgreementStore,
    secrets: &SecretsKey,
    client_id: &ClientId,
    endpoint: &WebhookEndpoint,
    now: DateTime<Utc>,
) -> Result<Vec<WebhookSecret>, String> {
    if endpoint.secret != STORED_SECRET {
        return from_env(endpoint).map(|secret| vec![secret]);
    }
    let stored = store
        .webhook_secrets(client_id, &endpoint.id, now)
        .await
        .map_err(|e| {
            format!(
                "cannot read the secrets of endpoint {}: {}",
                endpoint.id,
                crate::errors::chain(&e)
            )
        })?;
    if stored.is_empty() {
        return Err(format!(
            "endpoint {} has no stored secret; rotating its secret creates one",
            endpoint.id
        ));
    }
    let context = webhook_context(client_id.as_str(), endpoint.id.as_str());
    stored
        .iter()
        .map(|secret| {
            let problem = |e: &dyn std::fmt::Display| {
                format!(
                    "stored secret version {} of endpoint {}: {e}",
                    secret.version, endpoint.id
                )
            };
            let plain = secrets
                .open(&secret.sealed, &context)
                .map_err(|e| problem(&e))?;
            let text = String::from_utf8(plain).map_err(|e| problem(&e))?;
            WebhookSecret::parse(&text).map_err(|e| problem(&e))
        })
        .collect()
}

fn from_env(endpoint: &WebhookEndpoint) -> Result<WebhookSecret, String> {
    let name = endpoint.secret.strip_prefix("env:").ok_or_else(|| {
        format!(
            "secret reference of endpoint {} is neither env:NAME nor {STORED_SECRET}",
            endpoint.id
        )
    })?;
    let value = std::env::var(name)
        .map_err(|_| format!("secret env:{name} of endpoint {} is not set", endpoint.id))?;
    WebhookSecret::parse(&value).map_err(|e| {
        format!(
            "secret env:{name} of endpoint {} is not a whsec_ secret: {e}",
            endpoint.id
        )
    })
}
