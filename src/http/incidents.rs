use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::auth::Staff;
use super::body::JsonBody;
use super::error::ApiError;
use super::request;
use super::views::{self, IncidentOut, IncidentSummaryOut};
use crate::app::App;
use crate::domain::Caller;
use crate::domain::{IncidentId, NoticeId};
use crate::reporting::{follow_up, FollowUp};
use crate::store::StoredNotice;

/// `GET /v1/incidents`
pub async fn list(State(app): State<Arc<App>>, _: Staff) -> Result<Json<Value>, ApiError> {
    let incidents: Vec<IncidentSummaryOut> = views::list(app.store.incidents().await?);
    Ok(Json(json!({ "incidents": incidents })))
}

/// `GET /v1/incidents/{id}`
pub async fn show(
    State(app): State<Arc<App>>,
    _: Staff,
    Path(id): Path<String>,
) -> Result<Json<IncidentOut>, ApiError> {
    let id = IncidentId::parse(&id).map_err(|_| ApiError::not_found("incident"))?;
    let incident = app
        .store
        .incident(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("incident"))?;
    Ok(Json(incident.into()))
}

/// `GET /v1/incidents/{id}/notices/{notice_id}`: the exact bytes the client
/// receives, with their detached JWS in `breachgate-notice-jws` (absent while held).
pub async fn notice(
    State(app): State<Arc<App>>,
    _: Staff,
    Path((incident_id, notice_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = NoticeId::parse(&notice_id).map_err(|_| ApiError::not_found("notice"))?;
    let notice = app
        .store
        .notice(&id)
        .await?
        .filter(|n| n.incident_id == incident_id)
        .ok_or_else(|| ApiError::not_found("notice"))?;
    Ok(signed_notice(notice))
}

/// A notice's exact stored bytes as `application/json`, with their detached
/// JWS in `breachgate-notice-jws` when it has one.
pub(super) fn signed_notice(notice: StoredNotice) -> Response {
    let mut response = ([(header::CONTENT_TYPE, "application/json")], notice.body).into_response();
    if let Some(jws) = notice
        .jws
        .and_then(|j| header::HeaderValue::from_str(&j).ok())
    {
        response.headers_mut().insert("breachgate-notice-jws", jws);
    }
    response
}

/// `POST /v1/incidents/{id}/updates`: a JSON merge patch of the facts.
pub async fn update(
    State(app): State<Arc<App>>,
    Staff(caller): Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    follow_up_request(&app, caller, &id, FollowUp::Update, &headers, body).await
}

/// `POST /v1/incidents/{id}/close`: optionally with the last facts.
pub async fn close(
    State(app): State<Arc<App>>,
    Staff(caller): Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    follow_up_request(&app, caller, &id, FollowUp::Close, &headers, body).await
}

/// `POST /v1/incidents/{id}/retract`: `{"reason": "…"}`.
pub async fn retract(
    State(app): State<Arc<App>>,
    Staff(caller): Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    follow_up_request(&app, caller, &id, FollowUp::Retract, &headers, body).await
}

async fn follow_up_request(
    app: &App,
    caller: Caller,
    id: &str,
    request: FollowUp,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = IncidentId::parse(id).map_err(|_| ApiError::not_found("incident"))?;
    let idempotency_key = request::idempotency_key(headers)?;
    let filed = follow_up(app, &caller, &id, request, &body, idempotency_key).await?;
    let status = StatusCode::from_u16(filed.status).unwrap_or(StatusCode::CREATED);
    Ok((status, Json(filed.body)).into_response())
}
