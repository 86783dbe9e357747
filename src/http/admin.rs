//! `/v1/admin/...` (admin token): clients and their agreements, webhook
//! endpoints, email recipients, webhook secrets and test deliveries. The
//! work is in [`crate::service::agreements`]; this reads the bodies and
//! shapes the answers. A generated secret appears only in the answer to the
//! change that made it.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::auth::Admin;
use super::body::JsonBody;
use super::error::ApiError;
use super::views::WebhookTestOut;
use crate::agreements::model::WebhookEndpoint;
use crate::app::App;
use crate::domain::{ClientId, WebhookId};
use crate::service::agreements::{
    self as admin, AdminError, ClientChanged, GeneratedSecret, Overlap, SecretVersion,
    WebhookChange, WebhookChanged, WebhookState,
};
use crate::validation::FieldError;

type ClientPath = Path<String>;
type WebhookPath = Path<(String, String)>;

/// `GET /v1/admin/clients`
pub async fn list(State(app): State<Arc<App>>, _: Admin) -> Result<Json<Value>, ApiError> {
    let clients: Vec<Value> = admin::clients(&app.services)
        .iter()
        .map(|c| {
            json!({"id": c.id, "name": c.name, "country": c.country, "language": c.language,
                   "agreement_id": c.agreement.id})
        })
        .collect();
    Ok(Json(json!({ "clients": clients })))
}

/// `POST /v1/admin/clients`: a client agreement as JSON, shaped as its TOML file.
pub async fn create(
    State(app): State<Arc<App>>,
    Admin(caller): Admin,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let changed = admin::create_client(&app.services, &caller, json(&body)?).await?;
    Ok((StatusCode::CREATED, Json(client_changed(&changed))).into_response())
}

/// `GET /v1/admin/clients/{id}`: the agreement as JSON, shaped as its TOML file.
pub async fn show(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): ClientPath,
) -> Result<Response, ApiError> {
    let client = admin::client(&app.services, &client_id(&id)?)?;
    Ok(Json(client.as_ref()).into_response())
}

/// `PUT /v1/admin/clients/{id}`: replaces the agreement.
pub async fn replace(
    State(app): State<Arc<App>>,
    Admin(caller): Admin,
    Path(id): ClientPath,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let id = client_id(&id)?;
    let changed = admin::replace_client(&app.services, &caller, &id, json(&body)?).await?;
    Ok(Json(client_changed(&changed)))
}

/// `DELETE /v1/admin/clients/{id}`
pub async fn delete(
    State(app): State<Arc<App>>,
    Admin(caller): Admin,
    Path(id): ClientPath,
) -> Result<StatusCode, ApiError> {
    admin::delete_client(&app.services, &caller, &client_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/admin/clients/{id}/agreement.toml`: the agreement as the file
/// `contracts/clients/{id}.toml`.
pub async fn export(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): ClientPath,
) -> Result<Response, ApiError> {
    let text = admin::export_toml(&app.services, &client_id(&id)?)?;
    Ok(([(header::CONTENT_TYPE, "application/toml")], text).into_response())
}

/// `GET /v1/admin/clients/{id}/webhooks`
pub async fn webhooks(
    State(app): State<Arc<App>>,
    _: Admin,
    Path(id): ClientPath,
) -> Result<Json<Value>, ApiError> {
    let webhooks = admin::webhooks(&app.services, &client_id(&id)?).await?;
    let webhooks: Vec<_> = webhooks.iter().map(WebhookOut::from).collect();
    Ok(Json(json!({ "webhooks": webhooks })))
}

/// `POST /v1/admin/clients/{id}/webhooks`: `{id, url, signatures,
/// local_testing?, secret?}`; without `secret` one is generated and shown once.
pub async fn add_webhook(
    State(app): State<Arc<App>>,
    Admin(caller): Admin,
    Path(id): ClientPath,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let id = client_id(&id)?;
    let changed = admin::add_webhook(&app.services, &caller, &id, json(&body)?).await?;
    Ok((StatusCode::CREATED, Json(webhook_changed(&changed))).into_response())
}

/// `PATCH /v1/admin/clients/{id}/webhooks/{webhook_id}`: any of `url`,
/// `signatures`, `local_testing`, `secret`, `enabled`.
pub async fn update_webhook(
    State(app): State<Arc<App>>,
    Admin(caller): Admin,
    Path((id, webhook)): WebhookPath,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let (id, webhook) = (client_id(&id)?, webhook_id(&webhook)?);
    let change = WebhookChange::from_json(json(&body)?)?;
    let changed = admin::update_webhook(&app.services, &caller, &id, &webhook, change).await?;
    Ok(Json(webhook_changed(&changed)))
}

/// `DELETE /v1/admin/clients/{id}/webhooks/{webhook_id}`
pub async fn delete_webhook(
    State(app): State<Arc<App>>,
    Admin(caller): Admin,
    Path((id, webhook)): WebhookPath,
) -> Result<StatusCode, ApiError> {
    admin::delete_webhook(
        &app.services,
        &caller,
        &client_id(&id)?,
        &webhook_id(&webhook)?,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/admin/clients/{id}/webhooks/{webhook_id}/rotate-secret`:
/// optional `{"overlap_hours": n}`; answers the new secret, once.
pub async fn rotate_secret(
    State(app): State<Arc<App>>,
    Admin(caller): Admin,
    Path((id, webhook)): WebhookPath,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    // The body's shape is judged before the path and its bound after, in
    // the order this route has always answered.
    let hours = overlap_hours(&body)?;
    let (id, webhook) = (client_id(&id)?, webhook_id(&webhook)?);
    let overlap = hours.map(Overlap::hours).transpose()?.unwrap_or_default();
    let rotated = admin::rotate_secret(&app.services, &caller, &id, &webhook, overlap).await?;
    Ok(Json(json!({
        "secret": rotated.secret.expose(),
        "version": rotated.version,
        "previous_valid_until": rotated.previous_valid_until,
    })))
}

/// `POST /v1/admin/clients/{id}/webhooks/{webhook_id}/test`: queues one
/// signed test message; 202 with its id, whose result `GET …/tests/{test_id}` shows.
pub async fn test_webhook(
    State(app): State<Arc<App>>,
    Admin(caller): Admin,
    Path((id, webhook)): WebhookPath,
) -> Result<Response, ApiError> {
    let (id, webhook) = (client_id(&id)?, webhook_id(&webhook)?);
    let test_id = admin::queue_webhook_test(&app.services, &caller, &id, &webhook).await?;
    let location = format!("/v1/admin/clients/{id}/webhooks/{webhook}/tests/{test_id}");
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(json!({"test_id": test_id, "status": "pending"})),
    )
        .into_response())
}

/// `GET /v1/admin/clients/{id}/webhooks/{webhook_id}/tests/{test_id}`
pub async fn webhook_test(
    State(app): State<Arc<App>>,
    _: Admin,
    Path((id, webhook, test_id)): Path<(String, String, String)>,
) -> Result<Json<WebhookTestOut>, ApiError> {
    let test = admin::webhook_test(
        &app.services,
        &client_id(&id)?,
        &webhook_id(&webhook)?,
        &test_id,
    )
    .await?;
    Ok(Json(test.into()))
}

/// `PUT /v1/admin/clients/{id}/email`: `{"to": [...], "cc": [...]}`.
pub async fn set_email(
    State(app): State<Arc<App>>,
    Admin(caller): Admin,
    Path(id): ClientPath,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let id = client_id(&id)?;
    let client = admin::set_email(&app.services, &caller, &id, json(&body)?).await?;
    Ok(Json(json!({ "email": client.delivery.email })))
}

/// `DELETE /v1/admin/clients/{id}/email`
pub async fn delete_email(
    State(app): State<Arc<App>>,
    Admin(caller): Admin,
    Path(id): ClientPath,
) -> Result<StatusCode, ApiError> {
    admin::delete_email(&app.services, &caller, &client_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An id that cannot exist is as unknown as any other.
fn client_id(raw: &str) -> Result<ClientId, ApiError> {
    ClientId::parse(raw).map_err(|_| ApiError::not_found("client"))
}

fn webhook_id(raw: &str) -> Result<WebhookId, ApiError> {
    WebhookId::parse(raw).map_err(|_| ApiError::not_found("webhook"))
}

/// The body as one JSON value. [`JsonBody`] has checked its syntax, so what
/// fails here is a blank body where one is required, or a number beyond `f64`.
pub(super) fn json(body: &JsonBody) -> Result<Value, ApiError> {
    serde_json::from_slice(&body.0).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("the body is not valid JSON: {e}"),
        )
        .with_details(vec![FieldError::new("", e.to_string())])
    })
}

/// `{"overlap_hours": n}`, if the body is not blank.
fn overlap_hours(body: &JsonBody) -> Result<Option<u32>, ApiError> {
    if body.is_blank() {
        return Ok(None);
    }
    let Value::Object(mut fields) = json(body)? else {
        return Err(AdminError::invalid("", "must be a JSON object").into());
    };
    let hours = fields.remove("overlap_hours");
    if let Some(key) = fields.keys().next() {
        return Err(AdminError::invalid(&format!("/{key}"), "unknown field").into());
    }
    let whole_hours = |h: Value| {
        h.as_u64()
            .and_then(|h| u32::try_from(h).ok())
            .ok_or_else(|| AdminError::invalid("/overlap_hours", "must be a whole number of hours"))
    };
    Ok(hours.map(whole_hours).transpose()?)
}

fn client_changed(changed: &ClientChanged) -> Value {
    json!({"client": changed.client, "secrets": secrets(&changed.secrets)})
}

fn webhook_changed(changed: &WebhookChanged) -> Value {
    json!({"webhook": WebhookOut::from(&changed.webhook), "secrets": secrets(&changed.secrets)})
}

/// Secrets generated by a change, by endpoint: the only place they are shown.
fn secrets(generated: &[GeneratedSecret]) -> Value {
    let map: Map<String, Value> = generated
        .iter()
        .map(|g| (g.webhook_id.to_string(), g.secret.expose().into()))
        .collect();
    Value::Object(map)
}

/// A webhook endpoint: its agreement's fields, whether it is enabled, and
/// its stored secret versions (never the secrets).
#[derive(Serialize)]
struct WebhookOut<'a> {
    #[serde(flatten)]
    endpoint: &'a WebhookEndpoint,
    enabled: bool,
    secret_versions: Vec<SecretVersionOut<'a>>,
}

impl<'a> From<&'a WebhookState> for WebhookOut<'a> {
    fn from(state: &'a WebhookState) -> Self {
        Self {
            endpoint: &state.endpoint,
            enabled: state.enabled,
            secret_versions: state.secret_versions.iter().map(Into::into).collect(),
        }
    }
}

#[derive(Serialize)]
struct SecretVersionOut<'a> {
    version: u32,
    key_id: &'a str,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
}

impl<'a> From<&'a SecretVersion> for SecretVersionOut<'a> {
    fn from(version: &'a SecretVersion) -> Self {
        Self {
            version: version.version,
            key_id: &version.key_id,
            created_at: version.created_at,
            expires_at: version.expires_at,
        }
    }
}
