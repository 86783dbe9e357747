//! What the admin API does with the agreements: clients created, replaced
//! and removed under exactly the checks `contracts check` applies to a file
//! ([`check_client`](crate::agreements::check_client)); webhook endpoints and
//! email recipients edited as parts of their client's agreement and checked
//! the same way; webhook secrets generated, sealed and rotated; test
//! deliveries queued; an agreement exported as its TOML file. Every change
//! is stored with its audit entry in one transaction, then the registry is
//! rebuilt so the next report sees it.
//!
//! Agreements, endpoints and email recipients come as JSON values in the
//! shape of the agreement file: the contract checks are their validation, so
//! a caller learns what is wrong in the words `contracts check` uses.

mod apply;
mod change;
mod clients;
mod rotation;
mod secrets;
mod test_deliveries;
mod webhooks;

pub use apply::apply_contracts;
pub use change::delete_client;
pub use clients::{
    client, clients, clients_page, create_client, delete_email, export_toml, replace_client,
    set_email, ClientsPage, CLIENTS_PER_PAGE,
};
pub use rotation::{rotate_secret, Overlap, Rotated};
pub use test_deliveries::{queue_webhook_test, webhook_test};
pub use webhooks::{
    add_webhook, delete_webhook, update_webhook, webhooks, SecretVersion, WebhookChange,
    WebhookChanged, WebhookState,
};

use crate::agreements::model::{ClientAgreement, STORED_SECRET};
use crate::domain::{ClientId, WebhookId};
use crate::secrets::RevealedSecret;
use crate::store::StoreError;
use crate::validation::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the agreement does not pass the contract checks")]
    Invalid(Vec<FieldError>),
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("client {0} already exists; PUT replaces it")]
    ClientExists(ClientId),
    /// The id comes from the request, before the checks have read it.
    #[error("client {client} already has a webhook {webhook:?}")]
    WebhookExists { client: ClientId, webhook: String },
    /// `secret_from` is the endpoint's secret reference, such as `env:NAME`.
    #[error(
        "endpoint {webhook} takes its secret from {secret_from}; rotate it there, or set its secret to {stored:?} to have one generated",
        stored = STORED_SECRET
    )]
    SecretNotStored {
        webhook: WebhookId,
        secret_from: String,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the change cannot be carried out")]
    Internal(#[source] anyhow::Error),
}

impl AdminError {
    /// One field of the input is wrong; `path` points into what the caller sent.
    pub fn invalid(path: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(path, message)])
    }
}

/// A secret generated for an endpoint newly on a stored secret: the answer
/// to the change that made it is the only place it is shown.
#[derive(Debug)]
pub struct GeneratedSecret {
    pub webhook_id: WebhookId,
    pub secret: RevealedSecret,
}

/// A client's agreement after a change, and the secrets the change generated.
#[derive(Debug)]
pub struct ClientChanged {
    pub client: ClientAgreement,
    pub secrets: Vec<GeneratedSecret>,
}
