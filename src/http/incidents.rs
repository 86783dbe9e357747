use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::ApiError;
use crate::app::App;
use crate::domain::IncidentId;
use crate::store::Role;

/// `GET /v1/incidents`
pub async fn list(State(app): State<Arc<App>>, caller: Caller) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Staff)?;
    let incidents = app.store.incidents().await?;
    Ok(Json(json!({ "incidents": incidents })))
}

/// `GET /v1/incidents/{id}`
pub async fn show(
    State(app): State<Arc<App>>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    caller.require(Role::Staff)?;
    let id = IncidentId::parse(&id).map_err(|_| ApiError::not_found("incident"))?;
    let incident = app
        .store
        .incident(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("incident"))?;
    Ok(Json(
        serde_json::to_value(incident).map_err(|e| ApiError::internal(&e))?,
    ))
}
