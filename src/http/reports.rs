use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::auth::Staff;
use super::body::JsonBody;
use super::error::ApiError;
use super::request;
use crate::app::App;
use crate::reporting::{file_report, FileOptions};
use crate::validation::FieldError;

#[derive(Deserialize)]
pub struct FileQuery {
    #[serde(default)]
    dry_run: bool,
}

/// `POST /v1/reports`
pub async fn file(
    State(app): State<Arc<App>>,
    Staff(caller): Staff,
    query: Result<Query<FileQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_query", "invalid query string")
            .with_details(vec![FieldError::new("dry_run", e.body_text())])
    })?;
    let idempotency_key = request::idempotency_key(&headers)?;
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
