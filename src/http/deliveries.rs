use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::auth::Staff;
use super::error::ApiError;
use super::views::{self, AlertOut, DeliveryDetailOut};
use crate::app::App;
use crate::domain::audit::{self, NewAuditEntry};

/// `GET /v1/deliveries/{id}`: a delivery and every attempt made.
pub async fn show(
    State(app): State<Arc<App>>,
    _: Staff,
    Path(id): Path<String>,
) -> Result<Json<DeliveryDetailOut>, ApiError> {
    let delivery = app
        .store
        .delivery(&id)
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
    let now = app.clock.now();
    let audit = NewAuditEntry::new(
        now,
        &audit::token_actor(&caller),
        "delivery.replayed",
        &id,
        json!({}),
    );
    if app.store.replay_delivery(&id, now, &audit).await? {
        app.outbox_ready.notify_one();
        return Ok(Json(json!({"delivery_id": id, "status": "pending"})));
    }
    match app.store.delivery(&id).await? {
        None => Err(ApiError::not_found("delivery")),
        Some(d) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_replayable",
            format!(
                "delivery is {}; only dead or disabled deliveries can be replayed",
                d.status.as_str()
            ),
        )),
    }
}

/// `GET /v1/alerts`: what needs staff attention (dead letters, disabled endpoints).
pub async fn alerts(State(app): State<Arc<App>>, _: Staff) -> Result<Json<Value>, ApiError> {
    let alerts: Vec<AlertOut> = views::list(app.store.alerts().await?);
    Ok(Json(json!({ "alerts": alerts })))
}
