//! `/v1/admin/...` (admin token): clients and their agreements, webhook
//! endpoints, email recipients, webhook secrets and test deliveries. The
//! work is in [`crate::agreements::admin`]; a generated secret appears only
//! in the answer that created it.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use super::auth::Admin;
use super::body::JsonBody;
use super::error::ApiError;
use crate::app::App;
use crate::domain::{ClientId, WebhookId};
use crate::secrets::RevealedSecret;
use crate::service::agreements::{self as admin, AdminError};

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
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let changed = admin::create_client(&app.services, &caller, &body).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"client": changed.client, "secrets": secrets(&changed.secrets)})),
    )
        .into_response())
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
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let changed = admin::replace_client(&app.services, &caller, &client_id(&id)?, &body).await?;
    Ok(Json(
        json!({"client": changed.client, "secrets": secrets(&changed.secrets)}),
    ))
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
    Ok(Json(json!({ "webhooks": webhooks })))
}

/// `POST /v1/admin/clients/{id}/webhooks`: `{id, url, signatures,
/// local_testing?, secret?}`; without `secret` one is generated and shown once.
pub async fn add_webhook(
    State(app): State<Arc<App>>,
    Admin(caller): Admin,
    Path(id): ClientPath,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let id = client_id(&id)?;
    let changed = admin::add_webhook(&app.services, &caller, &id, &body).await?;
    let added = changed
        .client
        .iter()
        .flat_map(|c| &c.delivery.webhooks)
        .last()
        .map(|w| w.id.clone())
        .ok_or(AdminError::NotFound("webhook"))?;
    let view = admin::webhooks(&app.services, &id)
        .await?
        .into_iter()
        .find(|w| w.endpoint.id == added);
    Ok((
        StatusCode::CREATED,
        Json(json!({"webhook": view, "secrets": secrets(&changed.secrets)})),
    )
        .into_response())
}

/// `PATCH /v1/admin/clients/{id}/webhooks/{webhook_id}`: any of `url`,
/// `signatures`, `local_testing`, `secret`, `enabled`.
pub async fn update_webhook(
    State(app): State<Arc<App>>,
    Admin(caller): Admin,
    Path((id, webhook)): WebhookPath,
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let (id, webhook) = (client_id(&id)?, webhook_id(&webhook)?);
    let (changed, view) =
        admin::update_webhook(&app.services, &caller, &id, &webhook, &body).await?;
    Ok(Json(
        json!({"webhook": view, "secrets": secrets(&changed.secrets)}),
    ))
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
    let overlap_hours = if body.is_blank() {
        None
    } else {
        overlap_hours(admin::parse_json(&body.0)?)?
    };
    let rotated = admin::rotate_secret(
        &app.services,
        &caller,
        &client_id(&id)?,
        &webhook_id(&webhook)?,
        overlap_hours,
    )
    .await?;
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
) -> Result<Json<super::views::WebhookTestOut>, ApiError> {
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
    JsonBody(body): JsonBody,
) -> Result<Json<Value>, ApiError> {
    let changed = admin::set_email(&app.services, &caller, &client_id(&id)?, &body).await?;
    let email = changed.client.and_then(|c| c.delivery.email);
    Ok(Json(json!({ "email": email })))
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

fn overlap_hours(body: Value) -> Result<Option<u32>, AdminError> {
    let invalid = |path: &str, message: &str| {
        AdminError::Invalid(vec![crate::validation::FieldError::new(path, message)])
    };
    let Value::Object(mut fields) = body else {
        return Err(invalid("", "must be a JSON object"));
    };
    let hours = fields.remove("overlap_hours");
    if let Some(key) = fields.keys().next() {
        return Err(invalid(&format!("/{key}"), "unknown field"));
    }
    hours
        .map(|h| {
            h.as_u64()
                .and_then(|h| u32::try_from(h).ok())
                .ok_or_else(|| invalid("/overlap_hours", "must be a whole number of hours"))
        })
        .transpose()
}

/// Secrets generated by a change, by endpoint: the only place they are shown.
fn secrets(generated: &[(WebhookId, RevealedSecret)]) -> Value {
    let map: Map<String, Value> = generated
        .iter()
        .map(|(id, secret)| (id.to_string(), secret.expose().into()))
        .collect();
    Value::Object(map)
}
