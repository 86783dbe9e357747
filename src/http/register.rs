use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::auth::Staff;
use super::error::ApiError;
use super::views::{self, RegisterIncidentOut};
use crate::app::App;
use crate::service::register;

/// `GET /v1/register`: JSON, or CSV when the `Accept` header asks for `text/csv`.
pub async fn show(
    State(app): State<Arc<App>>,
    _: Staff,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let incidents = register::register(&app.services, &register::RegisterFilter::default()).await?;
    let mut response = if accepts_csv(&headers) {
        let body = register::to_csv(&incidents).map_err(|e| ApiError::internal(&e))?;
        ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response()
    } else {
        let incidents: Vec<RegisterIncidentOut> = views::list(incidents);
        Json(json!({ "incidents": incidents })).into_response()
    };
    response
        .headers_mut()
        .insert(header::VARY, header::HeaderValue::from_static("accept"));
    Ok(response)
}

/// Whether any media range of `Accept` is `text/csv` (parameters ignored).
fn accepts_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|range| range.split(';').next())
        .any(|media_type| media_type.trim().eq_ignore_ascii_case("text/csv"))
}
