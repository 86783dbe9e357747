//! What the admin API does with the agreements: clients created, replaced
//! and removed under exactly the checks `contracts check` applies to a file
//! ([`check_client`]); webhook endpoints and email recipients edited as parts
//! of their client's agreement and checked the same way; webhook secrets
//! generated, sealed and rotated; test deliveries queued; an agreement exported as
//! its TOML file. Every change is stored with its audit entry in one
//! transaction, then the registry is rebuilt so the next report sees it.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::Services;
use crate::agreements::model::{ClientAgreement, WebhookEndpoint, STORED_SECRET};
use crate::agreements::{check_client, check_dir, AppliedChanges, Snapshot};
use crate::domain::audit::{self, NewAuditEntry};
use crate::domain::Caller;
use crate::domain::{ClientId, WebhookId};
use crate::secrets::{webhook_context, RevealedSecret};
use crate::store::{
    AgreementChange, NewWebhookSecret, NewWebhookTest, SecretRotation, Store, StoreError,
    WebhookTest,
};
use crate::validation::FieldError;

/// How long the old secret keeps signing after a rotation, unless asked otherwise.
pub const DEFAULT_OVERLAP_HOURS: u32 = 24;
/// The longest overlap: a receiver that has not switched within a week is
/// not helped by trusting a retired secret longer.
pub const MAX_OVERLAP_HOURS: u32 = 168;

/// The fields of a webhook endpoint a change may set; `enabled` is the
/// endpoint's delivery state, the others are its agreement.
const WEBHOOK_FIELDS: [&str; 5] = ["url", "signatures", "local_testing", "secret", "enabled"];

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the body is not valid JSON: {0}")]
    Malformed(String),
    #[error("the agreement does not pass the contract checks")]
    Invalid(Vec<FieldError>),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the change cannot be carried out")]
    Internal(#[source] anyhow::Error),
}

fn invalid(path: &str, message: impl Into<String>) -> AdminError {
    AdminError::Invalid(vec![FieldError::new(path, message)])
}

/// A client after a change, and the secrets generated for it, each shown
/// only in the answer to this change.
#[derive(Debug)]
pub struct Changed {
    pub client: Option<ClientAgreement>,
    pub secrets: Vec<(WebhookId, RevealedSecret)>,
}

/// A webhook endpoint as the admin API shows it: its agreement, whether it
/// is enabled, and its stored secret versions (never the secrets).
#[derive(Debug, Serialize)]
pub struct WebhookView {
    #[serde(flatten)]
    pub endpoint: WebhookEndpoint,
    pub enabled: bool,
    pub secret_versions: Vec<SecretVersion>,
}

#[derive(Debug, Serialize)]
pub struct SecretVersion {
    pub version: u32,
    pub key_id: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A rotated secret: the new one (shown once) and until when the old still signs.
#[derive(Debug)]
pub struct Rotated {
    pub secret: RevealedSecret,
    pub version: u32,
    pub previous_valid_until: DateTime<Utc>,
}

pub fn parse_json(body: &[u8]) -> Result<Value, AdminError> {
    serde_json::from_slice(body).map_err(|e| AdminError::Malformed(e.to_string()))
}

pub fn clients(services: &Services) -> Vec<Arc<ClientAgreement>> {
    let mut clients: Vec<_> = services.registry.current().clients().cloned().collect();
    clients.sort_by(|a, b| a.id.cmp(&b.id));
    clients
}

pub fn client(services: &Services, id: &ClientId) -> Result<Arc<ClientAgreement>, AdminError> {
    services
        .registry
        .current()
        .client(id)
        .cloned()
        .ok_or(AdminError::NotFound("client"))
}

/// The agreement as its `contracts/clients/<id>.toml` file: applying it
/// with `contracts apply` changes nothing.
pub fn export_toml(services: &Services, id: &ClientId) -> Result<String, AdminError> {
    let client = client(services, id)?;
    let body = toml::to_string(client.as_ref()).map_err(|e| {
        AdminError::Store(StoreError::Corrupt(format!("agreement {id} as TOML: {e}")))
    })?;
    Ok(format!(
        "# Processing agreement of client {id}, exported by breachgate.\n# Shape: schemas/contract.v1.schema.json\n\n{body}"
    ))
}

pub async fn create_client(
    services: &Services,
    caller: &Caller,
    body: &[u8],
) -> Result<Changed, AdminError> {
    let json = parse_json(body)?;
    let id = match json.get("id").and_then(Value::as_str).map(ClientId::parse) {
        Some(Ok(id)) => id,
        // The checks name what is wrong with the id, as they would in a file.
        _ => {
            let errors = check_client(json, Snapshot::default(), &services.schemas)
                .err()
                .unwrap_or_else(|| vec![FieldError::new("/id", "a client id is required")]);
            return Err(AdminError::Invalid(errors));
        }
    };
    change_client(services, caller, &id, "client.created", keep, |current| {
        if current.is_some() {
            return Err(AdminError::Conflict {
                code: "client_exists",
                message: format!("client {id} already exists; PUT replaces it"),
            });
        }
        Ok(Some(json))
    })
    .await
}

pub async fn replace_client(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
    body: &[u8],
) -> Result<Changed, AdminError> {
    let json = parse_json(body)?;
    change_client(services, caller, id, "client.replaced", keep, |current| {
        current.ok_or(AdminError::NotFound("client"))?;
        Ok(Some(json))
    })
    .await
}

pub async fn delete_client(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
) -> Result<(), AdminError> {
    change_client(services, caller, id, "client.deleted", keep, |current| {
        current.ok_or(AdminError::NotFound("client"))?;
        Ok(None)
    })
    .await
    .map(|_| ())
}

pub async fn webhooks(services: &Services, id: &ClientId) -> Result<Vec<WebhookView>, AdminError> {
    let client = client(services, id)?;
    let disabled: HashSet<String> = services
        .store
        .disabled_targets(id)
        .await?
        .into_iter()
        .collect();
    let mut views = Vec::new();
    for endpoint in &client.delivery.webhooks {
        views.push(webhook_view(services, id, endpoint, &disabled).await?);
    }
    Ok(views)
}

async fn webhook_view(
    services: &Services,
    client_id: &ClientId,
    endpoint: &WebhookEndpoint,
    disabled: &HashSet<String>,
) -> Result<WebhookView, AdminError> {
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
    Ok(WebhookView {
        endpoint: endpoint.clone(),
        enabled: !disabled.contains(endpoint.id.as_str()),
        secret_versions,
    })
}

/// Adds an endpoint; without a `secret` reference it gets a generated, stored one.
pub async fn add_webhook(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
    body: &[u8],
) -> Result<Changed, AdminError> {
    let mut endpoint = object(parse_json(body)?)?;
    endpoint
        .entry("secret")
        .or_insert_with(|| STORED_SECRET.into());
    let webhook_id = endpoint
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    // Set by the edit, read by the error mapping after it.
    let index = AtomicUsize::new(0);
    change_client(
        services,
        caller,
        id,
        "webhook.added",
        |e| {
            rebase(
                e,
                &format!("/delivery/webhooks/{}", index.load(Ordering::Relaxed)),
            )
        },
        |current| {
            let mut client = current.ok_or(AdminError::NotFound("client"))?;
            let webhooks = webhooks_of(&mut client);
            if webhooks.iter().any(|w| w["id"] == webhook_id.as_str()) {
                return Err(AdminError::Conflict {
                    code: "webhook_exists",
                    message: format!("client {id} already has a webhook {webhook_id:?}"),
                });
            }
            index.store(webhooks.len(), Ordering::Relaxed);
            webhooks.push(Value::Object(endpoint));
            Ok(Some(client))
        },
    )
    .await
}

/// Changes an endpoint's `url`, `signatures`, `local_testing` or `secret`
/// reference (checked as its agreement), and enables or disables it.
pub async fn update_webhook(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
    webhook_id: &WebhookId,
    body: &[u8],
) -> Result<(Changed, WebhookView), AdminError> {
    let mut changes = object(parse_json(body)?)?;
    if let Some(key) = changes
        .keys()
        .find(|k| !WEBHOOK_FIELDS.contains(&k.as_str()))
    {
        return Err(invalid(
            &format!("/{key}"),
            format!(
                "not a field a change may set ({})",
                WEBHOOK_FIELDS.join(", ")
            ),
        ));
    }
    let enabled = match changes.remove("enabled") {
        None => None,
        Some(Value::Bool(enabled)) => Some(enabled),
        Some(_) => return Err(invalid("/enabled", "must be true or false")),
    };
    let client_now = client(services, id)?;
    let index = client_now
        .delivery
        .webhooks
        .iter()
        .position(|w| &w.id == webhook_id)
        .ok_or(AdminError::NotFound("webhook"))?;
    let changed = if changes.is_empty() {
        Changed {
            client: Some(client_now.as_ref().clone()),
            secrets: Vec::new(),
        }
    } else {
        let prefix = format!("/delivery/webhooks/{index}");
        change_client(
            services,
            caller,
            id,
            "webhook.changed",
            |e| rebase(e, &prefix),
            |current| {
                let mut client = current.ok_or(AdminError::NotFound("client"))?;
                let endpoint = webhooks_of(&mut client)
                    .iter_mut()
                    .find(|w| w["id"] == webhook_id.as_str())
                    .ok_or(AdminError::NotFound("webhook"))?;
                for (key, value) in changes {
                    endpoint[key] = value;
                }
                Ok(Some(client))
            },
        )
        .await?
    };
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
            services.wake.deliveries_queued();
        }
    }
    let disabled = services
        .store
        .disabled_targets(id)
        .await?
        .into_iter()
        .collect();
    let endpoint = changed
        .client
        .as_ref()
        .and_then(|c| c.delivery.webhooks.iter().find(|w| &w.id == webhook_id))
        .ok_or(AdminError::NotFound("webhook"))?;
    let view = webhook_view(services, id, endpoint, &disabled).await?;
    Ok((changed, view))
}

pub async fn delete_webhook(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
    webhook_id: &WebhookId,
) -> Result<(), AdminError> {
    change_client(services, caller, id, "webhook.removed", keep, |current| {
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
        Ok(Some(client))
    })
    .await
    .map(|_| ())
}

/// Sets the email recipients (`{"to": [...], "cc": [...]}`).
pub async fn set_email(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
    body: &[u8],
) -> Result<Changed, AdminError> {
    let email = parse_json(body)?;
    change_client(
        services,
        caller,
        id,
        "email.set",
        |e| rebase(e, "/delivery/email"),
        |current| {
            let mut client = current.ok_or(AdminError::NotFound("client"))?;
            delivery_of(&mut client).insert("email".into(), email);
            Ok(Some(client))
        },
    )
    .await
}

pub async fn delete_email(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
) -> Result<Changed, AdminError> {
    change_client(services, caller, id, "email.removed", keep, |current| {
        let mut client = current.ok_or(AdminError::NotFound("client"))?;
        delivery_of(&mut client)
            .remove("email")
            .ok_or(AdminError::NotFound("email recipients"))?;
        Ok(Some(client))
    })
    .await
}

/// Gives a stored-secret endpoint a new secret; the ones valid now keep
/// signing alongside it for `overlap_hours`.
pub async fn rotate_secret(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
    webhook_id: &WebhookId,
    overlap_hours: Option<u32>,
) -> Result<Rotated, AdminError> {
    let overlap_hours = overlap_hours.unwrap_or(DEFAULT_OVERLAP_HOURS);
    if overlap_hours > MAX_OVERLAP_HOURS {
        return Err(invalid(
            "/overlap_hours",
            format!("at most {MAX_OVERLAP_HOURS} hours"),
        ));
    }
    // Held so the endpoint cannot be removed between the check and the write.
    let _changing = services.agreements_changing.lock().await;
    let endpoint = endpoint(services, id, webhook_id)?;
    if endpoint.secret != STORED_SECRET {
        return Err(AdminError::Conflict {
            code: "secret_not_stored",
            message: format!(
                "endpoint {webhook_id} takes its secret from {}; rotate it there, or set its secret to {STORED_SECRET:?} to have one generated",
                endpoint.secret
            ),
        });
    }
    let now = services.clock.now();
    let previous_valid_until = now + Duration::hours(overlap_hours.into());
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
                    "overlap_hours": overlap_hours,
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

/// Queues a signed test message (type `breach.test`, no notice) for the
/// endpoint; the delivery worker sends it once, as it sends notices, and
/// [`webhook_test`] shows how it went. Answers its id.
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
    services.wake.webhook_test_queued();
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

fn endpoint(
    services: &Services,
    id: &ClientId,
    webhook_id: &WebhookId,
) -> Result<WebhookEndpoint, AdminError> {
    client(services, id)?
        .delivery
        .webhooks
        .iter()
        .find(|w| &w.id == webhook_id)
        .cloned()
        .ok_or(AdminError::NotFound("webhook"))
}

/// Reads the stored agreements, lets `edit` change client `id` (given as
/// JSON, `None` if absent; answering `None` removes it), checks the result
/// as `contracts check` would, generates secrets for endpoints newly on a
/// stored secret, and stores it all with the audit entry. `rebase` maps
/// error pointers into the request's own body.
async fn change_client(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
    action: &str,
    rebase: impl Fn(FieldError) -> FieldError,
    edit: impl FnOnce(Option<Value>) -> Result<Option<Value>, AdminError>,
) -> Result<Changed, AdminError> {
    let _changing = services.agreements_changing.lock().await;
    let mut snapshot = Snapshot::from_docs(services.store.agreements().await?)
        .map_err(|e| StoreError::Corrupt(format!("stored agreements: {e}")))?;
    let before = snapshot.clients.iter().find(|c| &c.id == id).cloned();
    let current = before
        .as_ref()
        .map(|c| serde_json::to_value(c).expect("agreements serialize"));
    let after = match edit(current)? {
        Some(json) => {
            let (client, checked) = check_client(json, snapshot, &services.schemas)
                .map_err(|errors| AdminError::Invalid(errors.into_iter().map(&rebase).collect()))?;
            if &client.id != id {
                return Err(invalid(
                    "/id",
                    format!("must be {id}, the client of the path"),
                ));
            }
            snapshot = checked;
            Some(client)
        }
        None => {
            snapshot.clients.retain(|c| &c.id != id);
            None
        }
    };
    // As in files, only the profiles some agreement names are kept.
    let named: HashSet<&String> = snapshot
        .clients
        .iter()
        .filter_map(|c| c.agreement.notice_schema.as_ref())
        .collect();
    let unnamed: Vec<String> = snapshot
        .profiles
        .keys()
        .filter(|name| !named.contains(name))
        .cloned()
        .collect();
    for name in unnamed {
        snapshot.profiles.remove(&name);
    }

    let now = services.clock.now();
    let had_stored = |webhook: &WebhookId| {
        before.as_ref().is_some_and(|c| {
            c.delivery
                .webhooks
                .iter()
                .any(|w| &w.id == webhook && w.secret == STORED_SECRET)
        })
    };
    let (secrets, new_secrets): (Vec<_>, Vec<_>) = after
        .iter()
        .flat_map(|c| &c.delivery.webhooks)
        .filter(|w| w.secret == STORED_SECRET && !had_stored(&w.id))
        .map(|w| {
            let (secret, sealed) = new_secret(services, id, &w.id, now);
            ((w.id.clone(), secret), sealed)
        })
        .unzip();
    let generated: Vec<&WebhookId> = secrets.iter().map(|(w, _)| w).collect();
    let changes = services
        .store
        .change_agreements(&AgreementChange {
            docs: snapshot.to_docs(),
            new_secrets,
            audit: NewAuditEntry::new(
                services.clock.now(),
                &audit::token_actor(caller),
                action,
                id.as_str(),
                json!({"secrets_generated_for": generated}),
            ),
        })
        .await?;
    tracing::info!(client = %id, action, changed = !changes.is_empty(), "agreements changed through the admin API");
    services
        .reload_registry()
        .await
        .map_err(AdminError::Internal)?;
    Ok(Changed {
        client: after,
        secrets,
    })
}

fn new_secret(
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

fn keep(error: FieldError) -> FieldError {
    error
}

/// An error under `prefix` of the client document, as a pointer into the
/// part the request sent; others stay pointers into the client document.
fn rebase(error: FieldError, prefix: &str) -> FieldError {
    match error.path.strip_prefix(prefix) {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            FieldError::new(rest, error.message)
        }
        _ => error,
    }
}

fn object(value: Value) -> Result<Map<String, Value>, AdminError> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(invalid("", "must be a JSON object")),
    }
}

fn delivery_of(client: &mut Value) -> &mut Map<String, Value> {
    let delivery = client
        .as_object_mut()
        .expect("a client agreement is an object")
        .entry("delivery")
        .or_insert_with(|| json!({}));
    if !delivery.is_object() {
        *delivery = json!({});
    }
    delivery.as_object_mut().expect("just made an object")
}

fn webhooks_of(client: &mut Value) -> &mut Vec<Value> {
    let webhooks = delivery_of(client)
        .entry("webhooks")
        .or_insert_with(|| json!([]));
    if !webhooks.is_array() {
        *webhooks = json!([]);
    }
    webhooks.as_array_mut().expect("just made an array")
}

/// Checks `dir` and stores its agreements, replacing what was stored; a
/// change is audited as `actor`'s (an unchanged apply records nothing).
pub async fn apply_contracts(
    store: &dyn Store,
    dir: &std::path::Path,
    schemas: &std::path::Path,
    actor: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<AppliedChanges> {
    let snapshot = check_dir(dir, schemas).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "agreements in {} have {} problem(s):\n{}",
            dir.display(),
            list.len(),
            list.join("\n")
        )
    })?;
    let changes = store.apply_agreements(&snapshot.to_docs()).await?;
    if !changes.is_empty() {
        store
            .append_audit(&NewAuditEntry::new(
                now,
                actor,
                "agreements.applied",
                &dir.display().to_string(),
                serde_json::json!({
                    "added": changes.added,
                    "changed": changes.changed,
                    "removed": changes.removed,
                }),
            ))
            .await?;
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_inside_the_part_sent_point_into_it_and_others_stay_as_they_are() {
        let rebased = |path: &str| rebase(FieldError::new(path, "m"), "/delivery/webhooks/1").path;
        assert_eq!(rebased("/delivery/webhooks/1/url"), "/url");
        assert_eq!(rebased("/delivery/webhooks/1"), "");
        assert_eq!(
            rebased("/delivery/webhooks/10/url"),
            "/delivery/webhooks/10/url"
        );
        assert_eq!(rebased("/delivery"), "/delivery");
    }
}
