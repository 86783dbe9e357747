//! The HTTP interface. Handlers parse, call the domain, and map the result.

mod admin;
mod auth;
mod body;
mod client;
mod deliveries;
mod error;
mod head;
mod incidents;
mod json;
mod openapi;
mod rate_limit;
mod register;
mod reports;
mod request;
mod server;
mod tokens;
mod views;

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use axum::extract::{FromRef, State};
use axum::handler::Handler;
use axum::http::{Method, StatusCode};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Json, Router};
use serde_json::Value;

pub use error::ApiError;
pub use openapi::document as openapi_document;
pub use rate_limit::RateLimits;
pub use server::{raise_descriptor_limit, serve};

use crate::app::App;
use crate::service::monitoring;

/// What every handler and extractor can reach: the gateway, and the rate
/// limits, which are the API's own.
#[derive(Clone)]
pub struct ApiState {
    pub app: Arc<App>,
    pub rate_limits: Arc<RateLimits>,
}

impl FromRef<ApiState> for Arc<App> {
    fn from_ref(state: &ApiState) -> Self {
        state.app.clone()
    }
}

/// One operation of the API: the router is built from [`routes`], and the
/// OpenAPI drift test compares the same table with `openapi/openapi.json`,
/// so a route cannot be served without being described, or the reverse.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    handler: MethodRouter<ApiState>,
}

fn route<H, T>(method: Method, path: &'static str, handler: H) -> Route
where
    H: Handler<T, ApiState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("routes use standard methods");
    Route {
        method,
        path,
        handler: on(filter, handler),
    }
}

/// Every operation the API serves.
pub fn routes() -> Vec<Route> {
    vec![
        route(Method::GET, "/healthz", || async { "ok" }),
        route(Method::GET, "/readyz", ready),
        route(Method::GET, "/openapi.json", openapi::serve),
        route(Method::GET, "/.well-known/jwks.json", jwks),
        route(Method::GET, "/metrics", metrics),
        route(Method::POST, "/v1/reports", reports::file),
        route(Method::GET, "/v1/incidents", incidents::list),
        route(Method::GET, "/v1/incidents/{id}", incidents::show),
        route(
            Method::GET,
            "/v1/incidents/{id}/clients",
            incidents::clients,
        ),
        route(
            Method::POST,
            "/v1/incidents/{id}/updates",
            incidents::update,
        ),
        route(Method::POST, "/v1/incidents/{id}/close", incidents::close),
        route(
            Method::POST,
            "/v1/incidents/{id}/per-client",
            incidents::per_client,
        ),
        route(
            Method::POST,
            "/v1/incidents/{id}/retract",
            incidents::retract,
        ),
        route(
            Method::GET,
            "/v1/incidents/{id}/notices/{notice_id}",
            incidents::notice,
        ),
        route(Method::GET, "/v1/register", register::show),
        route(Method::GET, "/v1/client/notices", client::notices),
        route(Method::GET, "/v1/client/notices/{id}", client::notice),
        route(
            Method::POST,
            "/v1/client/notices/{id}/ack",
            client::acknowledge,
        ),
        route(Method::GET, "/v1/deliveries/{id}", deliveries::show),
        route(
            Method::POST,
            "/v1/deliveries/{id}/replay",
            deliveries::replay,
        ),
        route(Method::GET, "/v1/alerts", deliveries::alerts),
        route(Method::GET, "/v1/admin/clients", admin::list),
        route(Method::POST, "/v1/admin/clients", admin::create),
        route(Method::GET, "/v1/admin/clients/{id}", admin::show),
        route(Method::PUT, "/v1/admin/clients/{id}", admin::replace),
        route(Method::DELETE, "/v1/admin/clients/{id}", admin::delete),
        route(
            Method::GET,
            "/v1/admin/clients/{id}/agreement.toml",
            admin::export,
        ),
        route(
            Method::GET,
            "/v1/admin/clients/{id}/webhooks",
            admin::webhooks,
        ),
        route(
            Method::POST,
            "/v1/admin/clients/{id}/webhooks",
            admin::add_webhook,
        ),
        route(
            Method::PATCH,
            "/v1/admin/clients/{id}/webhooks/{webhook_id}",
            admin::update_webhook,
        ),
        route(
            Method::DELETE,
            "/v1/admin/clients/{id}/webhooks/{webhook_id}",
            admin::delete_webhook,
        ),
        route(
            Method::POST,
            "/v1/admin/clients/{id}/webhooks/{webhook_id}/rotate-secret",
            admin::rotate_secret,
        ),
        route(
            Method::POST,
            "/v1/admin/clients/{id}/webhooks/{webhook_id}/test",
            admin::test_webhook,
        ),
        route(
            Method::GET,
            "/v1/admin/clients/{id}/webhooks/{webhook_id}/tests/{test_id}",
            admin::webhook_test,
        ),
        route(
            Method::PUT,
            "/v1/admin/clients/{id}/email",
            admin::set_email,
        ),
        route(
            Method::DELETE,
            "/v1/admin/clients/{id}/email",
            admin::delete_email,
        ),
        route(Method::GET, "/v1/admin/tokens", tokens::list),
        route(Method::POST, "/v1/admin/tokens", tokens::create),
        route(Method::DELETE, "/v1/admin/tokens/{id}", tokens::revoke),
    ]
}

/// Whether the API answers `path`: it lies under the first segment of one
/// of the API's routes (`/v1/…`, `/healthz`, `/.well-known/…`), so an
/// unknown one gets the API's JSON 404, not the pages' HTML one.
pub fn owns(path: &str) -> bool {
    static SEGMENTS: OnceLock<BTreeSet<&'static str>> = OnceLock::new();
    SEGMENTS
        .get_or_init(|| routes().iter().map(|r| first_segment(r.path)).collect())
        .contains(first_segment(path))
}

fn first_segment(path: &str) -> &str {
    let path = path.strip_prefix('/').unwrap_or(path);
    path.split('/').next().unwrap_or_default()
}

pub fn router(app: Arc<App>) -> Router {
    openapi::check();
    let state = ApiState {
        rate_limits: Arc::new(RateLimits::new(&app.config.server)),
        app,
    };
    routes()
        .into_iter()
        // Routes on the same path with other methods merge into one.
        .fold(Router::new(), |router, r| router.route(r.path, r.handler))
        .fallback(|| async { ApiError::not_found("route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this path does not take that method",
            )
        })
        .layer(axum::middleware::map_response(error::in_error_shape))
        .layer(axum::extract::DefaultBodyLimit::max(
            state.app.config.server.max_body_bytes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            body::refuse_declared_oversize,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// The JWKS, with the same Ed25519 key also in the Standard Webhooks
/// `whpk_` form that `v1a` verifiers take.
async fn jwks(State(app): State<Arc<App>>) -> Json<Value> {
    let signer = &app.services.signer;
    let mut jwks = signer.jwks();
    jwks["webhook_public_key"] = crate::delivery::webhook::public_key_whpk(signer).into();
    Json(jwks)
}

/// Longest `/readyz` waits for the store before answering not ready.
const READINESS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// `/readyz`: 200 `ready`, or 503 `not_ready` saying why in a few words (the
/// cause is logged).
async fn ready(State(app): State<Arc<App>>) -> Result<&'static str, ApiError> {
    monitoring::readiness(&app.services, READINESS_TIMEOUT)
        .await
        .map(|()| "ready")
        .map_err(|e| {
            let error = crate::errors::chain(&e);
            tracing::warn!(%error, "not ready");
            if crate::store::is_unavailable(&e) {
                ApiError::store_unavailable()
            } else {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", e.to_string())
            }
        })
}

async fn metrics(State(app): State<Arc<App>>) -> impl axum::response::IntoResponse {
    monitoring::refresh_gauges(&app.services).await;
    (
        [(axum::http::header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
        app.services.metrics.render(),
    )
}
