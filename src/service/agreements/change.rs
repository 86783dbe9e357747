//! The one way an admin change reaches the store: read the stored
//! agreements, edit one client, check the result as `contracts check` would,
//! generate secrets for endpoints newly on a stored secret, and store it all
//! with the audit entry, then rebuild the registry. Should another instance
//! change the agreements between the read and the write, the store refuses
//! the write and the change is made again from what is stored now.

use std::collections::HashSet;

use serde_json::{json, Map, Value};

use super::secrets::new_secret;
use super::{AdminError, ClientChanged, GeneratedSecret};
use crate::agreements::model::STORED_SECRET;
use crate::agreements::{check_client, Snapshot};
use crate::domain::audit::{self, NewAuditEntry};
use crate::domain::{Caller, ClientId, WebhookId};
use crate::service::Services;
use crate::store::{AgreementChange, AgreementsVersion, Change, NewWebhookSecret, StoreError};
use crate::validation::FieldError;

/// How many times a change is made from the stored agreements before it
/// gives up on other instances changing them first. Each refusal means
/// another change was stored, so this bounds only how long one waits.
const ATTEMPTS: usize = 20;

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

/// The agreements a change made from the stored ones, ready to store, and
/// what the change answers once stored.
struct Changed<T> {
    agreements: Snapshot,
    /// First secrets of endpoints newly on a stored secret.
    new_secrets: Vec<NewWebhookSecret>,
    generated: Vec<WebhookId>,
    answer: T,
}

/// Lets `edit` change client `id` (given as JSON, `None` if absent) and
/// stores the checked result with an `action` audit entry. `edit` is called
/// again when the change has to be made again.
pub(super) async fn change_client(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
    action: &str,
    edit: impl Fn(Option<Value>) -> Result<Edit, AdminError>,
) -> Result<ClientChanged, AdminError> {
    change_stored(services, caller, id, action, |snapshot| {
        edited(services, id, snapshot, &edit)
    })
    .await
}

/// `snapshot` with client `id` as `edit` leaves it, checked, and the secrets
/// of its endpoints newly on a stored secret.
fn edited(
    services: &Services,
    id: &ClientId,
    snapshot: Snapshot,
    edit: impl Fn(Option<Value>) -> Result<Edit, AdminError>,
) -> Result<Changed<ClientChanged>, AdminError> {
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
    Ok(Changed {
        agreements: checked,
        new_secrets,
        generated: secrets.iter().map(|s| s.webhook_id.clone()).collect(),
        answer: ClientChanged { client, secrets },
    })
}

/// Removes client `id` from the stored agreements, with a `client.deleted`
/// audit entry.
pub async fn delete_client(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
) -> Result<(), AdminError> {
    change_stored(services, caller, id, "client.deleted", |mut snapshot| {
        if !snapshot.clients.iter().any(|c| &c.id == id) {
            return Err(AdminError::NotFound("client"));
        }
        snapshot.clients.retain(|c| &c.id != id);
        Ok(Changed {
            agreements: snapshot,
            new_secrets: Vec::new(),
            generated: Vec::new(),
            answer: (),
        })
    })
    .await
}

/// Makes a change of client `id` with `change` from the stored agreements
/// and stores it with an `action` audit entry, then rebuilds the registry.
/// While other instances change the agreements first, the change is made
/// again from what they stored, up to [`ATTEMPTS`] times.
async fn change_stored<T>(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
    action: &str,
    change: impl Fn(Snapshot) -> Result<Changed<T>, AdminError>,
) -> Result<T, AdminError> {
    // Changes on this instance take turns, so only those stored elsewhere
    // (on another instance, or by `contracts apply`) make one start again.
    let _changing = services.agreements_changing.lock().await;
    let mut attempt = 1;
    loop {
        let (snapshot, version) = stored_snapshot(services).await?;
        let changed = change(snapshot)?;
        match store_change(services, caller, id, action, version, changed).await {
            Err(AdminError::Store(StoreError::AgreementsChanged)) if attempt < ATTEMPTS => {
                tracing::debug!(client = %id, action, attempt, "the agreements changed meanwhile; making the change again");
                attempt += 1;
            }
            stored => return stored,
        }
    }
}

/// The stored agreements and the version they are.
async fn stored_snapshot(services: &Services) -> Result<(Snapshot, AgreementsVersion), AdminError> {
    let docs = services.store.agreements().await?;
    let version = AgreementsVersion::of(&docs);
    let snapshot = Snapshot::from_docs(docs)
        .map_err(|e| StoreError::Corrupt(format!("stored agreements: {e}")))?;
    Ok((snapshot, version))
}

/// Stores `changed`, made from the stored agreements at `version`, and
/// rebuilds the registry; answers what the change answers.
async fn store_change<T>(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
    action: &str,
    version: AgreementsVersion,
    changed: Changed<T>,
) -> Result<T, AdminError> {
    let Changed {
        agreements: mut snapshot,
        new_secrets,
        generated,
        answer,
    } = changed;
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
            made_from: version,
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
    Ok(answer)
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
