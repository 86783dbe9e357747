//! Prometheus metrics, served at `GET /metrics`. They count events only,
//! never name a client or carry personal data, so the endpoint is open.

use prometheus::{Encoder, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

/// One registry per gateway, so several gateways in one process (tests)
/// count apart.
pub struct Metrics {
    registry: Registry,
    /// By threshold: `held`, a fraction of the deadline window such as `50%`, or `passed`.
    pub deadline_escalations: IntCounterVec,
    pub update_reminders: IntCounter,
    /// API connections open now, and the most allowed at once (after fitting
    /// under the file descriptor limit).
    pub connections_open: IntGauge,
    pub connections_max: IntGauge,
    /// API connections closed at once, by the limit they met: `total` or `per_address`.
    pub connections_refused: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let deadline_escalations = IntCounterVec::new(
            Opts::new(
                "breachgate_deadline_escalations_total",
                "Undelivered or held initial notices escalated to the privacy contact, by threshold",
            ),
            &["threshold"],
        )
        .expect("valid metric");
        let update_reminders = IntCounter::new(
            "breachgate_update_reminders_total",
            "Reminders to staff that an open incident owes a client an update",
        )
        .expect("valid metric");
        let connections_open =
            IntGauge::new("breachgate_connections_open", "API connections open now")
                .expect("valid metric");
        let connections_max = IntGauge::new(
            "breachgate_connections_max",
            "API connections allowed open at once, after fitting under the file descriptor limit",
        )
        .expect("valid metric");
        let connections_refused = IntCounterVec::new(
            Opts::new(
                "breachgate_connections_refused_total",
                "API connections closed at once because a connection limit was reached, by limit",
            ),
            &["limit"],
        )
        .expect("valid metric");
        for metric in [
            Box::new(deadline_escalations.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(update_reminders.clone()),
            Box::new(connections_open.clone()),
            Box::new(connections_max.clone()),
            Box::new(connections_refused.clone()),
        ] {
            registry.register(metric).expect("registered once");
        }
        Self {
            registry,
            deadline_escalations,
            update_reminders,
            connections_open,
            connections_max,
            connections_refused,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut text)
            .expect("writing to a Vec does not fail");
        String::from_utf8(text).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
