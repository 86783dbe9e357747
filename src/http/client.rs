//! The client API: a client sees and acknowledges only the notices sent to it.
//! Another client's notice, a held one and an unknown one all answer the same
//! 404, so a client cannot learn that a notice id exists.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::ClientCaller;
use super::body::JsonBody;
use super::error::ApiError;
use super::incidents::signed_notice;
use super::views::{self, AcknowledgementOut, ClientNoticeOut};
use crate::app::App;
use crate::domain::{AcknowledgementNote, NoticeId};
use crate::service::client_notices;
use crate::validation::{self, FieldError};

/// `GET /v1/client/notices`
pub async fn notices(
    State(app): State<Arc<App>>,
    caller: ClientCaller,
) -> Result<Json<Value>, ApiError> {
    let notices: Vec<ClientNoticeOut> =
        views::list(client_notices::list(&app.services, &caller.client_id).await?);
    Ok(Json(json!({ "notices": notices })))
}

/// `GET /v1/client/notices/{id}`: the exact bytes delivered, with their JWS.
pub async fn notice(
    State(app): State<Arc<App>>,
    caller: ClientCaller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = NoticeId::parse(&id).map_err(|_| ApiError::not_found("notice"))?;
    let notice = client_notices::get(&app.services, &caller.client_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("notice"))?;
    Ok(signed_notice(notice))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AcknowledgementRequest {
    note: Option<String>,
}

/// `POST /v1/client/notices/{id}/ack`, with an optional `{"note": "…"}` body.
pub async fn acknowledge(
    State(app): State<Arc<App>>,
    caller: ClientCaller,
    Path(id): Path<String>,
    body: JsonBody,
) -> Result<Json<AcknowledgementOut>, ApiError> {
    let id = NoticeId::parse(&id).map_err(|_| ApiError::not_found("notice"))?;
    let note = parse_note(&body)?;
    let acknowledgement =
        client_notices::acknowledge(&app.services, &caller.token, &caller.client_id, id, note)
            .await?
            .ok_or_else(|| ApiError::not_found("notice"))?;
    Ok(Json(acknowledgement.into()))
}

/// The note of an acknowledgement body; an empty body has none.
fn parse_note(body: &JsonBody) -> Result<Option<AcknowledgementNote>, ApiError> {
    if body.is_blank() {
        return Ok(None);
    }
    let body = &mut serde_json::Deserializer::from_slice(&body.0);
    let request: AcknowledgementRequest = validation::deserialize(body).map_err(|e| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_acknowledgement",
            "the body is not a valid acknowledgement",
        )
        .with_details(vec![e])
    })?;
    request
        .note
        .as_deref()
        .map(AcknowledgementNote::parse)
        .transpose()
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_acknowledgement",
                "the acknowledgement is invalid",
            )
            .with_details(vec![FieldError::new("/note", e.to_string())])
        })
}
