//! Clients as wholes: read, exported, created, replaced and removed; and
//! their email recipients, a part of the agreement without an id of its own.

use std::sync::Arc;

use serde_json::Value;

use super::change::{change_client, delivery_of, Edit};
use super::{AdminError, ClientChanged};
use crate::agreements::model::ClientAgreement;
use crate::agreements::{check_client, Snapshot};
use crate::domain::{Caller, ClientId};
use crate::service::Services;
use crate::store::{ClientListing, StoreError};
use crate::validation::FieldError;

pub fn clients(services: &Services) -> Vec<Arc<ClientAgreement>> {
    let mut clients: Vec<_> = services.registry.current().clients().cloned().collect();
    clients.sort_by(|a, b| a.id.cmp(&b.id));
    clients
}

/// How many clients a page of the admin clients list shows.
pub const CLIENTS_PER_PAGE: u32 = 50;

/// One page of the clients list, and the id the next page starts after.
pub struct ClientsPage {
    pub clients: Vec<ClientListing>,
    pub next_after: Option<String>,
}

/// The clients after `after` whose id or name contains `search`: one store
/// query, however many clients there are.
pub async fn clients_page(
    services: &Services,
    search: &str,
    after: Option<&ClientId>,
) -> Result<ClientsPage, AdminError> {
    let mut clients = services
        .store
        .clients_page(search.trim(), after, CLIENTS_PER_PAGE + 1)
        .await?;
    let more = clients.len() > CLIENTS_PER_PAGE as usize;
    clients.truncate(CLIENTS_PER_PAGE as usize);
    let next_after = more.then(|| clients.last().map(|c| c.id.clone())).flatten();
    Ok(ClientsPage {
        clients,
        next_after,
    })
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

/// Adds a client; `agreement` is its file as JSON.
pub async fn create_client(
    services: &Services,
    caller: &Caller,
    agreement: Value,
) -> Result<ClientChanged, AdminError> {
    let id = match agreement
        .get("id")
        .and_then(Value::as_str)
        .map(ClientId::parse)
    {
        Some(Ok(id)) => id,
        // The checks name what is wrong with the id, as they would in a file.
        _ => {
            let errors = check_client(agreement, Snapshot::default(), &services.schemas)
                .err()
                .unwrap_or_else(|| vec![FieldError::new("/id", "a client id is required")]);
            return Err(AdminError::Invalid(errors));
        }
    };
    change_client(services, caller, &id, "client.created", |current| {
        if current.is_some() {
            return Err(AdminError::ClientExists(id.clone()));
        }
        Ok(Edit::whole(agreement.clone()))
    })
    .await
}

/// Replaces client `id`'s agreement, whose id must stay `id`.
pub async fn replace_client(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
    agreement: Value,
) -> Result<ClientChanged, AdminError> {
    change_client(services, caller, id, "client.replaced", |current| {
        current.ok_or(AdminError::NotFound("client"))?;
        Ok(Edit::whole(agreement.clone()))
    })
    .await
}

/// Sets the email recipients, given as the agreement file has them
/// (`{"to": [...], "cc": [...]}`); answers the agreement after the change.
pub async fn set_email(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
    recipients: Value,
) -> Result<ClientAgreement, AdminError> {
    let changed = change_client(services, caller, id, "email.set", |current| {
        let mut client = current.ok_or(AdminError::NotFound("client"))?;
        delivery_of(&mut client).insert("email".into(), recipients.clone());
        Ok(Edit {
            client,
            part: "/delivery/email".into(),
        })
    })
    .await?;
    Ok(changed.client)
}

pub async fn delete_email(
    services: &Services,
    caller: &Caller,
    id: &ClientId,
) -> Result<(), AdminError> {
    change_client(services, caller, id, "email.removed", |current| {
        let mut client = current.ok_or(AdminError::NotFound("client"))?;
        delivery_of(&mut client)
            .remove("email")
            .ok_or(AdminError::NotFound("email recipients"))?;
        Ok(Edit::whole(client))
    })
    .await
    .map(|_| ())
}
