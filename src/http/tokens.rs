//! `/v1/admin/tokens` (admin token): API tokens listed, created and
//! revoked. The work is in [`crate::service::tokens`]; a token's secret
//! appears only in the answer that created it.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use super::admin::json;
use super::auth::Admin;
use super::body::JsonBody;
use super::error::ApiError;
use crate::app::App;
use crate::domain::audit;
use crate::domain::{ClientId, Role};
use crate::service::tokens::{self, TokenError, TokenRequest, TokenStatus};
use crate::store::TokenListing;
use crate::validation::FieldError;

/// `GET /v1/admin/tokens`: every token ever issued, never a secret.
pub async fn list(State(app): State<Arc<App>>, _: Admin) -> Result<Json<Value>, ApiError> {
    let now = app.services.clock.now();
    let listed = tokens::list(app.services.store.as_ref()).await?;
    let tokens: Vec<TokenOut> = listed.iter().map(|t| TokenOut::new(t, now)).collect();
    Ok(Json(json!({ "tokens": tokens })))
}

/// `POST /v1/admin/tokens`: `{role, name, client_id?, expires_at?}`;
/// answers the token and, this once, its secret.
pub async fn create(
    State(app): State<Arc<App>>,
    Admin(caller): Admin,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let now = app.services.clock.now();
    let request = token_request(json(&body)?, now)?;
    let actor = audit::token_actor(&caller);
    let issued = tokens::create(app.services.store.as_ref(), &actor, request, now).await?;
    let answer = json!({"token": TokenOut::new(&issued.token, now), "secret": issued.secret});
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `DELETE /v1/admin/tokens/{id}`: the next request with the token gets 401.
pub async fn revoke(
    State(app): State<Arc<App>>,
    Admin(caller): Admin,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let now = app.services.clock.now();
    let actor = audit::token_actor(&caller);
    tokens::revoke(app.services.store.as_ref(), &actor, &id, now).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A creation request's fields, each refused at its own pointer.
fn token_request(body: Value, now: DateTime<Utc>) -> Result<TokenRequest, ApiError> {
    let invalid = |path: &str, message: &str| invalid_body(vec![FieldError::new(path, message)]);
    let Value::Object(mut fields) = body else {
        return Err(invalid("", "must be a JSON object"));
    };
    let mut text = |name: &str| -> Result<Option<String>, ApiError> {
        match fields.remove(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(invalid(&format!("/{name}"), "must be a string")),
        }
    };
    let role = text("role")?;
    let name = text("name")?;
    let client_id = text("client_id")?;
    let expires_at = text("expires_at")?;
    if let Some(key) = fields.keys().next() {
        return Err(invalid(&format!("/{key}"), "unknown field"));
    }
    let role = role
        .as_deref()
        .and_then(Role::parse)
        .ok_or_else(|| invalid("/role", "must be staff, admin or client"))?;
    let name = name.ok_or_else(|| invalid("/name", "is required"))?;
    let client_id = client_id
        .map(|id| ClientId::parse(&id))
        .transpose()
        .map_err(|e| invalid("/client_id", &e.to_string()))?;
    let expires_at = expires_at
        .map(|at| DateTime::parse_from_rfc3339(&at).map(|at| at.with_timezone(&Utc)))
        .transpose()
        .map_err(|_| invalid("/expires_at", "must be an RFC 3339 date-time"))?;
    Ok(TokenRequest::new(role, &name, client_id, expires_at, now)?)
}

fn invalid_body(details: Vec<FieldError>) -> ApiError {
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_body",
        "the token request is not valid",
    )
    .with_details(details)
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        let field = e.field().map(|f| format!("/{f}")).unwrap_or_default();
        let details = vec![FieldError::new(field, e.to_string())];
        match e {
            TokenError::NotFound => ApiError::not_found("token"),
            TokenError::Store(e) => ApiError::internal(&e),
            TokenError::UnknownClient(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_reference",
                "the token names a client the stored agreements do not have",
            )
            .with_details(details),
            _ => invalid_body(details),
        }
    }
}

/// A token as listed: who it is for and whether it is accepted now.
#[derive(Serialize)]
struct TokenOut<'a> {
    id: &'a str,
    name: &'a str,
    role: Role,
    client_id: Option<&'a ClientId>,
    status: &'static str,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl<'a> TokenOut<'a> {
    fn new(listing: &'a TokenListing, now: DateTime<Utc>) -> Self {
        let token = &listing.token;
        Self {
            id: &token.id,
            name: &token.name,
            role: token.role,
            client_id: token.client_id.as_ref(),
            status: TokenStatus::of(listing, now).as_str(),
            created_at: listing.created_at,
            expires_at: listing.expires_at,
            revoked_at: listing.revoked_at,
        }
    }
}
