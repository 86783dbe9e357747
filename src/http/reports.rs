use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::auth::Caller;
use super::error::ApiError;
use crate::app::App;
use crate::reporting::{file_report, FileOptions};
use crate::store::Role;
use crate::validation::FieldError;

#[derive(Deserialize)]
pub struct FileQuery {
    #[serde(default)]
    dry_run: bool,
}

const MAX_IDEMPOTENCY_KEY: usize = 255;

/// `POST /v1/reports`
pub async fn file(
    State(app): State<Arc<App>>,
    caller: Caller,
    query: Result<Query<FileQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let caller = caller.require(Role::Staff)?;
    let Query(query) = query.map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_query", "invalid query string")
            .with_details(vec![FieldError::new("dry_run", e.body_text())])
    })?;
    let body = body?;
    let idempotency_key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= MAX_IDEMPOTENCY_KEY)
                .map(str::to_owned)
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "bad_idempotency_key",
                        "invalid Idempotency-Key",
                    )
                    .with_details(vec![FieldError::new(
                        "Idempotency-Key",
                        format!("must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
                    )])
                })?,
        ),
    };
    let filed = file_report(
        &app,
        &caller,
        &body,
        FileOptions {
            dry_run: query.dry_run,
            idempotency_key,
        },
    )
    .await?;
    let status = StatusCode::from_u16(filed.status).unwrap_or(StatusCode::CREATED);
    Ok((status, Json(filed.body)).into_response())
}
