//! The HTTP interface. Handlers parse, call the domain, and map the result.

mod admin;
mod auth;
mod client;
mod deliveries;
mod error;
mod incidents;
mod register;
mod reports;

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::Value;

pub use error::ApiError;

use crate::app::App;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(|| async { "ready" }))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/v1/reports", post(reports::file))
        .route("/v1/incidents", get(incidents::list))
        .route("/v1/incidents/{id}", get(incidents::show))
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
        .route("/v1/admin/clients", get(admin::list).post(admin::create))
        .route(
            "/v1/admin/clients/{id}",
            get(admin::show).put(admin::replace).delete(admin::delete),
        )
        .route("/v1/admin/clients/{id}/agreement.toml", get(admin::export))
        .route(
            "/v1/admin/clients/{id}/webhooks",
            get(admin::webhooks).post(admin::add_webhook),
        )
        .route(
            "/v1/admin/clients/{id}/webhooks/{webhook_id}",
            axum::routing::patch(admin::update_webhook).delete(admin::delete_webhook),
        )
        .route(
            "/v1/admin/clients/{id}/webhooks/{webhook_id}/rotate-secret",
            post(admin::rotate_secret),
        )
        .route(
            "/v1/admin/clients/{id}/webhooks/{webhook_id}/test",
            post(admin::test_webhook),
        )
        .route(
            "/v1/admin/clients/{id}/webhooks/{webhook_id}/tests/{test_id}",
            get(admin::webhook_test),
        )
        .route(
            "/v1/admin/clients/{id}/email",
            put(admin::set_email).delete(admin::delete_email),
        )
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
