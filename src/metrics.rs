//! Prometheus metrics, served at `GET /metrics`. They count events only,
//! never name a client or carry personal data, so the endpoint is open.

use prometheus::{Encoder, IntCounter, IntCounterVec, Opts, Registry, TextEncoder};

/// One registry per gateway, so several gateways in one process (tests)
/// count apart.
pub struct Metrics {
    registry: Registry,
    /// By threshold: `held`, a fraction of the deadline window such as `50%`, or `passed`.
    pub deadline_escalations: IntCounterVec,
    pub update_reminders: IntCounter,
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
        registry
            .register(Box::new(deadline_escalations.clone()))
            .expect("registered once");
        registry
            .register(Box::new(update_reminders.clone()))
            .expect("registered once");
        Self {
            registry,
            deadline_escalations,
            update_reminders,
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
