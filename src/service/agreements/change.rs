//! The one way an admin change reaches the store: read the stored
//! agreements, edit one client, check the result as `contracts check` would,
//! generate secrets for endpoints newly on a stored secret, and store it all
//! with the audit entry, then rebuild the registry.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::secrets::new_secret;
use super::{AdminError, ClientChanged, GeneratedSecret};
use crate::agreements::model::STORED_SECRET;
use crate::agreements::{check_client, Snapshot};
use crate::domain::audit::{self, NewAuditEntry};
use crate::domain::{Caller, ClientId, WebhookId};
use crate::service::Services;
use crate::store::{AgreementChange, Change, NewWebhookSecret, StoreError};
use crate::validation::FieldError;

/// A client's agreement as an edit left it, and where in it the part the
/// request sent is: check errors inside that part point into the request's
/// own body, as the caller knows no other.
pub(super) struct Edit {
    pub client: Value,
    /// A JSON pointer into `client`; empty when the request was about all of it.
    pub part: String,
}

impl Edit {
    pub fn whole(client: Value) -> Self {
        Self {
            client,
            part: String::new(),
        }
    }
}

/// Lets `edit` change client `id` (given as JSON, `None` if absent) and
/// stores the checked result with an `action` audit entry.
pub(super) async fn change_client(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
    action: &str,
    edit: impl FnOnce(Option<Value>) -> Result<Edit, AdminError>,
) -> Result<ClientChanged, AdminError> {
    let _changing = services.agreements_changing.lock().await;
    let snapshot = stored_snapshot(services).await?;
    let before = snapshot.clients.iter().find(|c| &c.id == id).cloned();
    let Edit { client, part } = edit(
        before
            .as_ref()
            .map(|c| serde_json::to_value(c).expect("agreements serialize")),
    )?;
    let (client, checked) =
        check_client(client, snapshot, &services.schemas).map_err(|errors| {
            AdminError::Invalid(errors.into_iter().map(|e| rebase(e, &part)).collect())
        })?;
    if &client.id != id {
        return Err(AdminError::invalid(
            "/id",
            format!("must be {id}, the client of the path"),
        ));
    }

    let had_stored = |webhook: &WebhookId| {
        before.as_ref().is_some_and(|c| {
            c.delivery
                .webhooks
                .iter()
                .any(|w| &w.id == webhook && w.secret == STORED_SECRET)
        })
    };
    let now = services.clock.now();
    let (secrets, new_secrets): (Vec<_>, Vec<_>) = client
        .delivery
        .webhooks
        .iter()
        .filter(|w| w.secret == STORED_SECRET && !had_stored(&w.id))
        .map(|w| {
            let (secret, sealed) = new_secret(services, id, &w.id, now);
            let generated = GeneratedSecret {
                webhook_id: w.id.clone(),
                secret,
            };
            (generated, sealed)
        })
        .unzip();
    let generated: Vec<&WebhookId> = secrets.iter().map(|s| &s.webhook_id).collect();
    store_change(
        services,
        caller,
        id,
        action,
        checked,
        new_secrets,
        &generated,
    )
    .await?;
    Ok(ClientChanged { client, secrets })
}

/// Removes client `id` from the stored agreements, with a `client.deleted`
/// audit entry.
pub async fn delete_client(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
) -> Result<(), AdminError> {
    let _changing = services.agreements_changing.lock().await;
    let mut snapshot = stored_snapshot(services).await?;
    if !snapshot.clients.iter().any(|c| &c.id == id) {
        return Err(AdminError::NotFound("client"));
    }
    snapshot.clients.retain(|c| &c.id != id);
    store_change(
        services,
        caller,
        id,
        "client.deleted",
        snapshot,
        Vec::new(),
        &[],
    )
    .await
}

async fn stored_snapshot(services: &Services) -> Result<Snapshot, AdminError> {
    Snapshot::from_docs(services.store.agreements().await?)
        .map_err(|e| StoreError::Corrupt(format!("stored agreements: {e}")).into())
}

/// Stores `snapshot` as the agreements, with the first secrets of endpoints
/// newly on a stored secret, and rebuilds the registry. Callers hold
/// `agreements_changing`.
async fn store_change(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
    action: &str,
    mut snapshot: Snapshot,
    new_secrets: Vec<NewWebhookSecret>,
    generated: &[&WebhookId],
) -> Result<(), AdminError> {
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

    let changes = services
        .store
        .change_agreements(&AgreementChange {
            docs: snapshot.into_docs(),
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
    services.announce(Change::AgreementsChanged).await;
    Ok(())
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

pub(super) fn delivery_of(client: &mut Value) -> &mut Map<String, Value> {
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

pub(super) fn webhooks_of(client: &mut Value) -> &mut Vec<Value> {
    let webhooks = delivery_of(client)
        .entry("webhooks")
        .or_insert_with(|| json!([]));
    if !webhooks.is_array() {
        *webhooks = json!([]);
    }
    webhooks.as_array_mut().expect("just made an array")
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
        // A request about the whole agreement keeps every pointer.
        assert_eq!(rebase(FieldError::new("/id", "m"), "").path, "/id", "whole");
    }
}
