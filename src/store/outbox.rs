//! The delivery outbox: claims and releases, finished attempts and what
//! they lead to, replays, the alerts raised to staff, and webhook test
//! messages, which travel the same way.

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};

use super::{NewStaffMail, StoreError};
use crate::domain::audit::NewAuditEntry;
use crate::domain::{
    endpoint_key, AttemptOutcome, Channel, ClientId, DeliveryStatus, NextState, NoticeId, WebhookId,
};

#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    /// Leases up to `limit` pending deliveries due at `now`, of which at most
    /// `emails` emails (claimed first), skipping disabled endpoints and the
    /// `busy` ones (keys as [`endpoint_key`] builds them). A backend that
    /// several processes share also never leases more than `per_endpoint`
    /// deliveries of one endpoint at once, counting every process's leases.
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
        emails: usize,
        busy: &[String],
        per_endpoint: usize,
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;
    /// Gives claimed deliveries back untouched, to be claimed again when due.
    async fn release_deliveries(&self, ids: &[String]) -> Result<(), StoreError>;
    /// Writes finished attempts and the deliveries' next states in one
    /// transaction, with what they lead to: a 410 disables the endpoint and
    /// its pending deliveries, and an alert is listed and mailed to staff.
    async fn record_attempts(&self, records: &[AttemptRecord]) -> Result<(), StoreError>;
    async fn delivery(&self, id: &str) -> Result<Option<DeliveryDetail>, StoreError>;
    /// Every attempt at each of `deliveries`, under its delivery's id, in
    /// delivery and attempt order: one query for a page's deliveries.
    async fn attempts_of(
        &self,
        deliveries: &[String],
    ) -> Result<Vec<(String, DeliveryAttempt)>, StoreError>;
    /// Puts a dead or disabled delivery back in the queue with a fresh retry
    /// schedule (re-enabling its endpoint), with its audit entry, in one
    /// transaction. False, writing nothing, if there is no such delivery or it
    /// is still pending or already delivered.
    async fn replay_delivery(
        &self,
        id: &str,
        now: DateTime<Utc>,
        audit: &NewAuditEntry,
    ) -> Result<bool, StoreError>;
    async fn alerts(&self) -> Result<Vec<Alert>, StoreError>;
    /// Queues a test message with its audit entry, in one transaction.
    async fn queue_webhook_test(&self, test: &NewWebhookTest) -> Result<(), StoreError>;
    /// Leases up to `limit` pending test messages (a crashed worker's are
    /// sent again once their lease has passed).
    async fn claim_webhook_tests(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedWebhookTest>, StoreError>;
    async fn record_webhook_test(&self, result: &WebhookTestResult) -> Result<(), StoreError>;
    async fn webhook_test(&self, id: &str) -> Result<Option<WebhookTest>, StoreError>;
    /// Per channel (every channel, zero if none), the pending deliveries and
    /// when the longest-waiting of those due at `now` became due. Deliveries
    /// of an endpoint an admin disabled stay pending but wait on no worker,
    /// so they do not count as due. Read at every scrape of `/metrics`: it
    /// must stay an index lookup.
    async fn delivery_backlog(&self, now: DateTime<Utc>)
        -> Result<Vec<ChannelBacklog>, StoreError>;
}

/// One channel's share of the outbox, for the gauges of `/metrics`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelBacklog {
    pub channel: Channel,
    pub pending: u64,
    /// When the longest-waiting due delivery became due; none if none is due.
    pub oldest_due: Option<DateTime<Utc>>,
}

/// A delivery a worker has claimed, with what it needs to send it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: String,
    pub notice_id: String,
    /// The notice's incident, for the attempt's tracing span.
    pub incident_id: String,
    pub client_id: ClientId,
    pub channel: Channel,
    pub target: String,
    /// Attempts made so far, over the delivery's whole life.
    pub attempts: u32,
    /// Failed attempts since the last success or replay, for the retry schedule.
    pub failures: u32,
    /// Shared with the other deliveries of the notice, and handed to the
    /// HTTP client without a copy.
    pub body: Bytes,
    pub jws: String,
    /// For a follow-up, the client's first notice about the incident, which
    /// its email answers so the two thread. Only an email needs it: a
    /// backend may leave it out of a webhook's claim.
    pub thread: Option<NoticeId>,
}

impl ClaimedDelivery {
    pub fn endpoint(&self) -> String {
        endpoint_key(&self.client_id, &self.target)
    }
}

/// One finished attempt and its consequence, written in a batch.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery_id: String,
    pub channel: Channel,
    pub client_id: ClientId,
    pub target: String,
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub outcome: AttemptOutcome,
    pub status_code: Option<u16>,
    /// The truncated response body or the error.
    pub detail: String,
    pub next: NextState,
    pub failures: u32,
    /// Raised to staff with this attempt (dead letter, disabled endpoint):
    /// listed in `/v1/alerts` and mailed to the privacy contact.
    pub alert: Option<RaisedAlert>,
}

impl AttemptRecord {
    pub fn endpoint(&self) -> String {
        endpoint_key(&self.client_id, &self.target)
    }
}

#[derive(Debug, Clone)]
pub struct RaisedAlert {
    pub message: String,
    pub mail: NewStaffMail,
}

/// A delivery and every attempt made.
#[derive(Debug, Clone)]
pub struct DeliveryDetail {
    pub delivery_id: String,
    pub notice_id: String,
    pub client_id: String,
    pub channel: Channel,
    pub target: String,
    pub status: DeliveryStatus,
    /// Only while pending.
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub message_id: Option<String>,
    pub attempts: Vec<DeliveryAttempt>,
}

#[derive(Debug, Clone)]
pub struct DeliveryAttempt {
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub outcome: AttemptOutcome,
    pub status_code: Option<u16>,
    pub detail: String,
}

/// Something that needs staff attention.
#[derive(Debug, Clone)]
pub struct Alert {
    pub id: String,
    pub kind: AlertKind,
    pub client_id: Option<String>,
    pub delivery_id: Option<String>,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    /// A delivery gave up after its last retry.
    DeadLetter,
    /// An endpoint answered 410 Gone and was disabled.
    EndpointDisabled,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::DeadLetter => "dead_letter",
            AlertKind::EndpointDisabled => "endpoint_disabled",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::DeadLetter, Self::EndpointDisabled]
            .into_iter()
            .find(|k| k.as_str() == value)
    }
}

/// A test message for a webhook endpoint, queued with its audit entry.
pub struct NewWebhookTest {
    pub id: String,
    pub client_id: ClientId,
    pub webhook_id: WebhookId,
    pub body: Vec<u8>,
    pub created_at: DateTime<Utc>,
    pub audit: NewAuditEntry,
}

/// A test message a worker has leased to send.
#[derive(Debug, Clone)]
pub struct ClaimedWebhookTest {
    pub id: String,
    pub client_id: ClientId,
    pub webhook_id: String,
    pub body: Vec<u8>,
}

/// How the one attempt of a test message ended.
#[derive(Debug, Clone)]
pub struct WebhookTestResult {
    pub id: String,
    pub outcome: AttemptOutcome,
    pub status_code: Option<u16>,
    pub duration_ms: u64,
    pub detail: String,
    pub finished_at: DateTime<Utc>,
}

/// A test message and, once sent, its result.
#[derive(Debug, Clone)]
pub struct WebhookTest {
    pub test_id: String,
    pub client_id: String,
    pub webhook_id: String,
    pub status: WebhookTestStatus,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Option<AttemptOutcome>,
    pub status_code: Option<u16>,
    pub duration_ms: Option<u64>,
    /// The start of the receiver's answer, or why nothing was sent.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookTestStatus {
    /// Not sent yet.
    Pending,
    /// Sent once; its outcome is on record.
    Done,
}

impl WebhookTestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookTestStatus::Pending => "pending",
            WebhookTestStatus::Done => "done",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Pending, Self::Done]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}
