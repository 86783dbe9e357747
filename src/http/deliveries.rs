use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::auth::Staff;
use super::error::ApiError;
use super::views::{self, AlertOut, DeliveryDetailOut};
use crate::app::App;
use crate::service::deliveries::{self, ReplayError};

/// `GET /v1/deliveries/{id}`: a delivery and every attempt made.
pub async fn show(
    State(app): State<Arc<App>>,
    _: Staff,
    Path(id): Path<String>,
) -> Result<Json<DeliveryDetailOut>, ApiError> {
    let delivery = deliveries::get(&app.services, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    Ok(Json(delivery.into()))
}

/// `POST /v1/deliveries/{id}/replay`: sends a dead-lettered or disabled
/// delivery again, with a fresh retry schedule.
pub async fn replay(
    State(app): State<Arc<App>>,
    Staff(caller): Staff,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    match deliveries::replay(&app.services, &caller, &id).await {
        Ok(()) => Ok(Json(json!({"delivery_id": id, "status": "pending"}))),
        Err(ReplayError::NotFound) => Err(ApiError::not_found("delivery")),
        Err(e @ ReplayError::NotReplayable(_)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_replayable",
            e.to_string(),
        )),
        Err(ReplayError::Store(e)) => Err(e.into()),
    }
}

/// `GET /v1/alerts`: what needs staff attention (dead letters, disabled endpoints).
pub async fn alerts(State(app): State<Arc<App>>, _: Staff) -> Result<Json<Value>, ApiError> {
    let alerts: Vec<AlertOut> = views::list(deliveries::alerts(&app.services).await?);
    Ok(Json(json!({ "alerts": alerts })))
}
