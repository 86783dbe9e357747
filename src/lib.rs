//! breachgate: a processor-side gateway for GDPR personal-data-breach notices.
//!
//! Layers, each importing only those below it:
//! - [`domain`]: the vocabulary (ids, taxonomies, the report, the canonical
//!   notice, statuses, callers, audit entries); no I/O.
//! - Pipeline stages: [`intake`] checks a staff report, [`enrichment`] finds
//!   the affected clients in the [`agreements`] registry and drafts each
//!   notice, [`validation`] checks it against the canonical and agreed
//!   schemas, [`signing`] signs it, [`secrets`] seals secrets at rest, and
//!   [`delivery`] holds the webhook and email transports.
//! - [`store`]: durable state behind one trait per concern.
//! - [`service`]: the use cases (filing, follow-ups, admin changes, replays,
//!   acknowledgements, the register, tokens); [`worker`] delivers the outbox
//!   and [`scheduling`] escalates deadlines and reminds of updates.
//! - [`app`] wires them together, [`http`] serves the API and [`web`] the
//!   pages people use.
#![forbid(unsafe_code)]

// Declared bottom-up, in layer order.
pub mod clock;
pub mod domain;
pub mod errors;
pub mod metrics;

pub mod agreements;
pub mod delivery;
pub mod enrichment;
pub mod intake;
pub mod secrets;
pub mod signing;
pub mod validation;

pub mod store;

pub mod scheduling;
pub mod service;
pub mod worker;

pub mod app;
pub mod config;
pub mod http;
pub mod web;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use app::App;
pub use config::Config;

/// Starts the gateway from `config`: serves the API on `listener` and runs the
/// delivery worker and the scheduled jobs until `shutdown`, then lets
/// in-flight deliveries finish.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let app = App::start(config).await?;
    let worker = app.worker(app.services.clock.clone())?;
    let jobs = app.start_jobs().await?;
    let delivering = tokio::spawn(worker.run(shutdown.clone()));
    let served = serve(app, listener, shutdown).await;
    jobs.stop().await?;
    delivering.await?;
    served
}

/// Serves the API of an already started gateway, without delivery workers;
/// tests use this and drive a [`worker::Worker`] themselves.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    tracing::info!(address = %listener.local_addr()?, "serving");
    http::serve(
        by_path(http::router(app.clone()), web::router(app.clone())),
        listener,
        &app.config.server,
        app.services.metrics.clone(),
        shutdown,
    )
    .await?;
    Ok(())
}

/// The pages and the API share the server: the API answers every path under
/// its own ([`http::owns`]), unknown ones with its JSON 404, and the pages
/// every other path, unknown ones with an HTML page saying so.
fn by_path(api: axum::Router, pages: axum::Router) -> axum::Router {
    use tower::ServiceExt;
    axum::Router::new().fallback(move |request: axum::extract::Request| {
        let router = if http::owns(request.uri().path()) {
            api.clone()
        } else {
            pages.clone()
        };
        router.oneshot(request)
    })
}
