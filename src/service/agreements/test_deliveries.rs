//! Test deliveries: one signed `breach.test` message (no notice) queued for
//! an endpoint, which the delivery worker sends once, as it sends notices.

use serde_json::json;

use super::webhooks::endpoint;
use super::AdminError;
use crate::domain::audit::{self, NewAuditEntry};
use crate::domain::{Caller, ClientId, WebhookId};
use crate::service::Services;
use crate::store::{Change, NewWebhookTest, WebhookTest};

/// Queues a test message for the endpoint and wakes the worker; answers its
/// id, under which [`webhook_test`] shows how it went.
pub async fn queue_webhook_test(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
    webhook_id: &WebhookId,
) -> Result<String, AdminError> {
    endpoint(services, id, webhook_id)?;
    let now = services.clock.now();
    let test_id = format!("msg_test_{}", ulid::Ulid::new());
    let body = serde_json::to_vec(&json!({
        "type": "breach.test",
        "timestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "data": {
            "client_id": id,
            "webhook_id": webhook_id,
            "message": "A test delivery from breachgate; it notifies no breach.",
        },
    }))
    .expect("JSON serializes");
    services
        .store
        .queue_webhook_test(&NewWebhookTest {
            id: test_id.clone(),
            client_id: id.clone(),
            webhook_id: webhook_id.clone(),
            body,
            created_at: now,
            audit: NewAuditEntry::new(
                services.clock.now(),
                &audit::token_actor(caller),
                "webhook.test_queued",
                &format!("{id}/{webhook_id}"),
                json!({"test_id": test_id}),
            ),
        })
        .await?;
    services.announce(Change::WebhookTestQueued).await;
    Ok(test_id)
}

/// A test message of the endpoint and, once sent, its result.
pub async fn webhook_test(
    services: &Services,
    id: &ClientId,
    webhook_id: &WebhookId,
    test_id: &str,
) -> Result<WebhookTest, AdminError> {
    services
        .store
        .webhook_test(test_id)
        .await?
        .filter(|t| t.client_id == id.as_str() && t.webhook_id == webhook_id.as_str())
        .ok_or(AdminError::NotFound("test delivery"))
}
