//! The HTTP interface. Handlers parse, call the domain, and map the result.

mod auth;
mod client;
mod deliveries;
mod error;
mod incidents;
mod register;
mod reports;
mod request;

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::Value;

pub use error::ApiError;

use crate::app::App;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ready" }))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/metrics", get(metrics))
        .route("/v1/reports", post(reports::file))
        .route("/v1/incidents", get(incidents::list))
        .route("/v1/incidents/{id}", get(incidents::show))
        .route("/v1/incidents/{id}/updates", post(incidents::update))
        .route("/v1/incidents/{id}/close", post(incidents::close))
        .route("/v1/incidents/{id}/retract", post(incidents::retract))
        .route(
            "/v1/incidents/{id}/notices/{notice_id}",
            get(incidents::notice),
        )
        .route("/v1/register", get(register::show))
        .route("/v1/client/notices", get(client::notices))
        .route("/v1/client/notices/{id}", get(client::notice))
        .route("/v1/client/notices/{id}/ack", post(client::acknowledge))
        .route("/v1/deliveries/{id}", get(deliveries::show))
        .route("/v1/deliveries/{id}/replay", post(deliveries::replay))
        .route("/v1/alerts", get(deliveries::alerts))
        .layer(axum::extract::DefaultBodyLimit::max(
            app.config.server.max_body_bytes,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(app)
}

/// The JWKS, with the same Ed25519 key also in the Standard Webhooks
/// `whpk_` form that `v1a` verifiers take.
async fn jwks(State(app): State<Arc<App>>) -> Json<Value> {
    let mut jwks = app.signer.jwks();
    jwks["webhook_public_key"] = crate::delivery::webhook::public_key_whpk(&app.signer).into();
    Json(jwks)
}

async fn metrics(State(app): State<Arc<App>>) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        app.metrics.render(),
    )
}
