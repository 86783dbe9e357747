//! breachgate: a processor-side gateway for GDPR personal-data-breach notices.
//!
//! The pipeline, one module per stage: [`intake`] checks a staff report,
//! [`enrichment`] finds the affected clients in the [`agreements`] registry
//! and drafts each notice, [`validation`] checks it against the canonical and
//! agreed schemas, [`signing`] signs it, and [`store`] keeps it with its outbox
//! rows. [`http`] is the API; [`reporting`] ties the stages together;
//! [`register`] writes the breach register as CSV; [`audit`] keeps the
//! hash-chained log of who did what; [`scheduling`] escalates notices that
//! near their deadline undelivered and reminds staff of updates due.
#![forbid(unsafe_code)]

pub mod agreements;
pub mod app;
pub mod clock;
pub mod config;
pub mod delivery;
pub mod domain;
pub mod enrichment;
pub mod errors;
pub mod http;
pub mod intake;
pub mod metrics;
pub mod register;
pub mod reporting;
pub mod scheduling;
pub mod secrets;
pub mod signing;
pub mod store;
pub mod tokens;
pub mod validation;

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
    let worker = delivery::Worker::new(app.clone(), app.clock.clone())?;
    let jobs = scheduling::Jobs::start(app.clone(), app.clock.clone()).await?;
    let delivering = tokio::spawn(worker.run(shutdown.clone()));
    let served = serve(app, listener, shutdown).await;
    jobs.stop().await?;
    delivering.await?;
    served
}

/// Serves the API of an already started gateway, without delivery workers;
/// tests use this and drive a [`delivery::Worker`] themselves.
pub async fn serve(
    app: Arc<App>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    tracing::info!(address = %listener.local_addr()?, "serving");
    // The peer address keys the rate limit of requests without a valid token.
    let service = http::router(app).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await?;
    Ok(())
}
