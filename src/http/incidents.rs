use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Staff;
use super::body::{CsvBody, JsonBody};
use super::error::ApiError;
use super::reports::{answer, clients_json};
use super::request;
use super::views::{self, IncidentOut, IncidentSummaryOut, NoticeOut};
use crate::app::App;
use crate::domain::Caller;
use crate::domain::{ClientId, IncidentId, NoticeId};
use crate::service::incidents;
use crate::service::reporting::{
    follow_up, Answer, FileError, FollowUp, FollowUpRequest, FollowedUp, Idempotency,
};
use crate::store::StoredNotice;
use crate::validation::FieldError;
use sha2::{Digest, Sha256};

/// `GET /v1/incidents`
pub async fn list(State(app): State<Arc<App>>, _: Staff) -> Result<Json<Value>, ApiError> {
    let incidents: Vec<IncidentSummaryOut> = views::list(incidents::list(&app.services).await?);
    Ok(Json(json!({ "incidents": incidents })))
}

/// `GET /v1/incidents/{id}`
pub async fn show(
    State(app): State<Arc<App>>,
    _: Staff,
    Path(id): Path<String>,
) -> Result<Json<IncidentOut>, ApiError> {
    let id = IncidentId::parse(&id).map_err(|_| ApiError::not_found("incident"))?;
    let incident = incidents::get(&app.services, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("incident"))?;
    Ok(Json(incident.into()))
}

/// How many clients a page of `GET /v1/incidents/{id}/clients` holds,
/// unless the caller asks for fewer (or, up to the maximum, more).
const CLIENTS_PER_PAGE: u32 = 500;
const MAX_CLIENTS_PER_PAGE: u32 = 5_000;

#[derive(Deserialize)]
pub struct ClientsQuery {
    after: Option<String>,
    limit: Option<u32>,
}

/// `GET /v1/incidents/{id}/clients?after=…&limit=…`: the clients' outcomes,
/// a page at a time in client id order (keyset paging on the client id),
/// each page with every notice of its clients; `next` links the next page
/// until the last.
pub async fn clients(
    State(app): State<Arc<App>>,
    _: Staff,
    Path(id): Path<String>,
    query: Result<Query<ClientsQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = IncidentId::parse(&id).map_err(|_| ApiError::not_found("incident"))?;
    let Query(query) = query.map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_query", "invalid query string")
            .with_details(vec![FieldError::new("limit", e.body_text())])
    })?;
    let limit = query.limit.unwrap_or(CLIENTS_PER_PAGE);
    if !(1..=MAX_CLIENTS_PER_PAGE).contains(&limit) {
        return Err(
            ApiError::new(StatusCode::BAD_REQUEST, "bad_query", "invalid query string")
                .with_details(vec![FieldError::new(
                    "limit",
                    format!("must be between 1 and {MAX_CLIENTS_PER_PAGE}"),
                )]),
        );
    }
    let after = query
        .after
        .as_deref()
        .map(ClientId::parse)
        .transpose()
        .map_err(|e| {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_query", "invalid query string")
                .with_details(vec![FieldError::new("after", e.to_string())])
        })?;
    let notices = incidents::clients(&app.services, &id, after.as_ref(), limit)
        .await?
        .ok_or_else(|| ApiError::not_found("incident"))?;
    let mut clients: Vec<&str> = notices.iter().map(|n| n.client_id.as_str()).collect();
    clients.dedup();
    // A full page may be followed by more; a short one is the last.
    let next = (clients.len() == limit as usize).then(|| {
        format!(
            "/v1/incidents/{id}/clients?after={}&limit={limit}",
            clients.last().copied().unwrap_or_default()
        )
    });
    let notices: Vec<NoticeOut> = views::list(notices);
    Ok(Json(json!({ "notices": notices, "next": next })))
}

/// `GET /v1/incidents/{id}/notices/{notice_id}`: the exact bytes the client
/// receives, with their detached JWS in `breachgate-notice-jws` (absent while held).
pub async fn notice(
    State(app): State<Arc<App>>,
    _: Staff,
    Path((incident_id, notice_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = NoticeId::parse(&notice_id).map_err(|_| ApiError::not_found("notice"))?;
    let notice = incidents::notice(&app.services, &incident_id, &id)
        .await?
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
    follow_up_kind(&app, caller, &id, FollowUp::Update, &headers, body).await
}

/// `POST /v1/incidents/{id}/close`: optionally with the last facts.
pub async fn close(
    State(app): State<Arc<App>>,
    Staff(caller): Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    follow_up_kind(&app, caller, &id, FollowUp::Close, &headers, body).await
}

/// `POST /v1/incidents/{id}/retract`: `{"reason": "…"}`.
pub async fn retract(
    State(app): State<Arc<App>>,
    Staff(caller): Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    follow_up_kind(&app, caller, &id, FollowUp::Retract, &headers, body).await
}

/// `POST /v1/incidents/{id}/per-client`: per-client figures as CSV, made
/// into the same update as the `affected.per_client` patch carrying them.
pub async fn per_client(
    State(app): State<Arc<App>>,
    Staff(caller): Staff,
    Path(id): Path<String>,
    headers: HeaderMap,
    CsvBody(body): CsvBody,
) -> Result<Response, ApiError> {
    let parse = |body: &[u8]| FollowUpRequest::per_client_csv(body);
    follow_up_request(&app, caller, &id, ("per-client", parse), &headers, body).await
}

async fn follow_up_kind(
    app: &App,
    caller: Caller,
    id: &str,
    kind: FollowUp,
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let parse = |body: &[u8]| FollowUpRequest::parse(kind, body);
    follow_up_request(
        app,
        caller,
        id,
        (kind.action().as_str(), parse),
        headers,
        body,
    )
    .await
}

/// `route` names the request for its idempotency digest, and parses its body.
async fn follow_up_request(
    app: &App,
    caller: Caller,
    id: &str,
    (route, parse): (
        &str,
        impl FnOnce(&[u8]) -> Result<FollowUpRequest, FileError>,
    ),
    headers: &HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = IncidentId::parse(id).map_err(|_| ApiError::not_found("incident"))?;
    let key = request::idempotency_key(headers)?;
    // The same key and body sent for another incident or action is another request.
    let idempotency = key.as_deref().map(|key| Idempotency {
        key,
        digest: {
            let mut hash = Sha256::new();
            hash.update(format!("{route}:{id}:"));
            hash.update(&body);
            hex::encode(hash.finalize())
        },
        render: &followed_answer,
    });
    let request = parse(&body)?;
    let outcome = follow_up(&app.services, &caller, &id, request, false, idempotency).await?;
    Ok(answer(outcome, followed_answer))
}

fn followed_answer(followed: &FollowedUp) -> Answer {
    let mut body = json!({
        "incident_id": followed.incident_id,
        "reference": followed.reference,
        "version": followed.version,
        "status": followed.status,
        "notices": followed.clients.affected,
    });
    json_patch::merge(&mut body, &clients_json(&followed.clients));
    if !followed.clients.every_client {
        body["clients_url"] = json!(format!("/v1/incidents/{}/clients", followed.incident_id));
    }
    Answer { status: 201, body }
}
