//! Prometheus metrics, served at `GET /metrics`. Their labels take a few
//! fixed values (a channel, an outcome, a filing action, a threshold), never
//! a client id or personal data, so the endpoint is open.
//!
//! Every labelled series that can be known in advance is created at zero,
//! so a counter's first increase shows in `increase()` and dashboards see
//! the series before the first event.

use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{
    exponential_buckets, Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::domain::{AttemptOutcome, Channel, VersionAction};

/// The `action` label of the filing metrics: a new report, or a follow-up.
pub const FILED_REPORT: &str = "report";

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
    delivery_attempts: IntCounterVec,
    delivery_attempt_seconds: HistogramVec,
    dead_letters: IntCounterVec,
    deliveries_pending: IntGaugeVec,
    oldest_due_seconds: IntGaugeVec,
    filing_seconds: HistogramVec,
    notices_per_filing: HistogramVec,
    notices_held: IntCounterVec,
    clients_held: IntGauge,
    staff_mail_pending: IntGauge,
    store_up: IntGauge,
}

impl Metrics {
    pub fn new() -> Self {
        let metrics = Self {
            registry: Registry::new(),
            deadline_escalations: counter_vec(
                "breachgate_deadline_escalations_total",
                "Undelivered or held initial notices escalated to the privacy contact, by threshold",
                &["threshold"],
            ),
            update_reminders: IntCounter::new(
                "breachgate_update_reminders_total",
                "Reminders to staff that an open incident owes a client an update",
            )
            .expect("valid metric"),
            connections_open: IntGauge::new(
                "breachgate_connections_open",
                "API connections open now",
            )
            .expect("valid metric"),
            connections_max: IntGauge::new(
                "breachgate_connections_max",
                "API connections allowed open at once, after fitting under the file descriptor limit",
            )
            .expect("valid metric"),
            connections_refused: counter_vec(
                "breachgate_connections_refused_total",
                "API connections closed at once because a connection limit was reached, by limit",
                &["limit"],
            ),
            delivery_attempts: counter_vec(
                "breachgate_delivery_attempts_total",
                "Delivery attempts finished, by channel and outcome (delivered, rejected, failed, gone, refused)",
                &["channel", "outcome"],
            ),
            delivery_attempt_seconds: histogram_vec(
                "breachgate_delivery_attempt_duration_seconds",
                "How long one delivery attempt took, by channel",
                &["channel"],
                vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0,
                ],
            ),
            dead_letters: counter_vec(
                "breachgate_dead_letters_total",
                "Deliveries given up on (retries exhausted or a permanent failure), by channel",
                &["channel"],
            ),
            deliveries_pending: gauge_vec(
                "breachgate_deliveries_pending",
                "Deliveries not yet delivered, dead-lettered or disabled, by channel (read from the store when scraped)",
                &["channel"],
            ),
            oldest_due_seconds: gauge_vec(
                "breachgate_deliveries_oldest_due_age_seconds",
                "How long the longest-waiting due delivery has been due, by channel; 0 when none is due (endpoints disabled by an admin do not count)",
                &["channel"],
            ),
            filing_seconds: histogram_vec(
                "breachgate_filing_duration_seconds",
                "From a filing or follow-up request to its notices and outbox rows being durable, by action (report, update, close, retract)",
                &["action"],
                vec![
                    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0,
                ],
            ),
            notices_per_filing: histogram_vec(
                "breachgate_notices_per_filing",
                "Notices one filing or follow-up stored (queued and held), by action",
                &["action"],
                exponential_buckets(1.0, 4.0, 10).expect("valid buckets"),
            ),
            notices_held: counter_vec(
                "breachgate_notices_held_total",
                "Notices held because they failed their client's schema, by the action that drafted them",
                &["action"],
            ),
            clients_held: IntGauge::new(
                "breachgate_clients_waiting_on_held_notice",
                "Clients of open incidents whose latest notice is held (failed their schema, not yet replaced by a follow-up; read from the store when scraped)",
            )
            .expect("valid metric"),
            staff_mail_pending: IntGauge::new(
                "breachgate_staff_mail_pending",
                "Alerts, escalations and reminders to staff not yet sent (read from the store when scraped)",
            )
            .expect("valid metric"),
            store_up: IntGauge::new(
                "breachgate_store_up",
                "1 when the store answered the last scrape's queries, 0 when it did not",
            )
            .expect("valid metric"),
        };
        let collectors: Vec<Box<dyn Collector>> = vec![
            Box::new(metrics.deadline_escalations.clone()),
            Box::new(metrics.update_reminders.clone()),
            Box::new(metrics.connections_open.clone()),
            Box::new(metrics.connections_max.clone()),
            Box::new(metrics.connections_refused.clone()),
            Box::new(metrics.delivery_attempts.clone()),
            Box::new(metrics.delivery_attempt_seconds.clone()),
            Box::new(metrics.dead_letters.clone()),
            Box::new(metrics.deliveries_pending.clone()),
            Box::new(metrics.oldest_due_seconds.clone()),
            Box::new(metrics.filing_seconds.clone()),
            Box::new(metrics.notices_per_filing.clone()),
            Box::new(metrics.notices_held.clone()),
            Box::new(metrics.clients_held.clone()),
            Box::new(metrics.staff_mail_pending.clone()),
            Box::new(metrics.store_up.clone()),
        ];
        for collector in collectors {
            metrics
                .registry
                .register(collector)
                .expect("registered once");
        }
        metrics.create_known_series();
        metrics
    }

    /// Creates at zero every series whose labels are known in advance.
    fn create_known_series(&self) {
        for limit in ["total", "per_address"] {
            self.connections_refused.with_label_values(&[limit]);
        }
        for channel in Channel::ALL.map(Channel::as_str) {
            for outcome in AttemptOutcome::ALL.map(AttemptOutcome::as_str) {
                self.delivery_attempts
                    .with_label_values(&[channel, outcome]);
            }
            self.delivery_attempt_seconds.with_label_values(&[channel]);
            self.dead_letters.with_label_values(&[channel]);
            self.deliveries_pending.with_label_values(&[channel]);
            self.oldest_due_seconds.with_label_values(&[channel]);
        }
        let actions = VersionAction::ALL.map(VersionAction::as_str);
        for action in std::iter::once(FILED_REPORT).chain(actions) {
            self.filing_seconds.with_label_values(&[action]);
            self.notices_per_filing.with_label_values(&[action]);
            self.notices_held.with_label_values(&[action]);
        }
    }

    /// Creates the escalation series of `thresholds` at zero.
    pub fn escalation_thresholds<'a>(&self, thresholds: impl IntoIterator<Item = &'a str>) {
        for threshold in thresholds {
            self.deadline_escalations.with_label_values(&[threshold]);
        }
    }

    /// One finished delivery attempt; `dead_lettered` when it was the last.
    pub fn delivery_attempted(
        &self,
        channel: Channel,
        outcome: AttemptOutcome,
        took: Duration,
        dead_lettered: bool,
    ) {
        let channel = channel.as_str();
        self.delivery_attempts
            .with_label_values(&[channel, outcome.as_str()])
            .inc();
        self.delivery_attempt_seconds
            .with_label_values(&[channel])
            .observe(took.as_secs_f64());
        if dead_lettered {
            self.dead_letters.with_label_values(&[channel]).inc();
        }
    }

    /// One filing or follow-up stored, `action` being [`FILED_REPORT`] or a
    /// [`VersionAction`]'s name: how long it took and how many notices it
    /// stored, of which `held`.
    pub fn filed(&self, action: &str, took: Duration, notices: usize, held: usize) {
        self.filing_seconds
            .with_label_values(&[action])
            .observe(took.as_secs_f64());
        self.notices_per_filing
            .with_label_values(&[action])
            .observe(notices as f64);
        self.notices_held
            .with_label_values(&[action])
            .inc_by(held as u64);
    }

    /// A channel's pending deliveries, and how long its oldest due one has
    /// been due (none: nothing is due).
    pub fn set_delivery_backlog(&self, channel: Channel, pending: u64, oldest_due: Duration) {
        let channel = channel.as_str();
        self.deliveries_pending
            .with_label_values(&[channel])
            .set(pending.try_into().unwrap_or(i64::MAX));
        self.oldest_due_seconds
            .with_label_values(&[channel])
            .set(oldest_due.as_secs().try_into().unwrap_or(i64::MAX));
    }

    pub fn set_clients_held(&self, held: u64) {
        self.clients_held.set(held.try_into().unwrap_or(i64::MAX));
    }

    pub fn set_staff_mail_pending(&self, pending: u64) {
        self.staff_mail_pending
            .set(pending.try_into().unwrap_or(i64::MAX));
    }

    pub fn set_store_up(&self, up: bool) {
        self.store_up.set(i64::from(up));
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

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric")
}

fn histogram_vec(name: &str, help: &str, labels: &[&str], buckets: Vec<f64>) -> HistogramVec {
    HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .expect("valid metric")
}
