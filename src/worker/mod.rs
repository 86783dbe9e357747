//! The outbox worker: claims due deliveries with a lease, attempts each one by
//! webhook or email, and records every attempt and its consequence. A slow
//! endpoint only ever holds its own `per_endpoint` slots.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

mod config;
mod secrets;
mod wake;

pub use config::DeliveryConfig;
pub use wake::Wake;

use secrets::endpoint_secrets;

use crate::agreements::model::{SignatureVersion, WebhookEndpoint};
use crate::agreements::LiveRegistry;
use crate::clock::Clock;
use crate::delivery::email::{render, EmailConfig, MailTransport, Portal, Sender};
use crate::delivery::retry::Decision;
use crate::delivery::webhook::{
    signature_header, Outcome, WebhookClient, WebhookClientConfig, HEADER_ID, HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
};
use crate::domain::ClientId;
use crate::domain::Notice;
use crate::domain::{AttemptOutcome, Channel, NextState};
use crate::metrics::Metrics;
use crate::secrets::SecretsKey;
use crate::signing::Signer;
use crate::store::{
    AgreementStore, AttemptRecord, ClaimedDelivery, ClaimedWebhookTest, NewStaffMail, OutboxStore,
    RaisedAlert, StoreError, WebhookTestResult,
};

/// Records written per transaction at most, and attempts finished but not
/// yet recorded before claiming pauses.
const RECORD_BATCH: usize = 1_000;
/// Test messages claimed at once.
const TEST_BATCH: usize = 16;

/// Waits after the `failures`-th claim in a row that failed: 250 ms,
/// doubling, at most 8 s.
fn claim_backoff(failures: u32) -> Duration {
    Duration::from_millis(250u64 << failures.saturating_sub(1).min(5))
}

/// How long a stopping worker lets its in-flight attempts finish: the
/// longer channel's attempt timeout, and a second to record them.
pub fn stop_grace(delivery: &DeliveryConfig, email: &EmailConfig) -> Duration {
    let email_timeout = email.attempt_timeout().unwrap_or_default();
    Channel::ALL
        .into_iter()
        .map(|channel| attempt_timeout(delivery, email_timeout, channel))
        .max()
        .unwrap_or_default()
        + Duration::from_secs(1)
}

/// The longest one attempt on `channel` takes before it times out: a
/// webhook's is `delivery.timeout_ms`, an email's `email_timeout`.
fn attempt_timeout(
    delivery: &DeliveryConfig,
    email_timeout: Duration,
    channel: Channel,
) -> Duration {
    match channel {
        Channel::Webhook => Duration::from_millis(delivery.timeout_ms),
        Channel::Email => email_timeout,
    }
}

/// What the worker works with, shared with the rest of the gateway.
pub struct WorkerHandles {
    pub outbox: Arc<dyn OutboxStore>,
    /// Where stored webhook secrets are read.
    pub agreements: Arc<dyn AgreementStore>,
    pub registry: Arc<LiveRegistry>,
    pub signer: Arc<Signer>,
    pub secrets: Arc<SecretsKey>,
    pub clock: Arc<dyn Clock>,
    pub wake: Arc<Wake>,
    /// Where attempts are counted.
    pub metrics: Arc<Metrics>,
}

/// How the worker delivers, from the configuration.
pub struct WorkerSettings {
    pub delivery: DeliveryConfig,
    pub webhooks: WebhookClientConfig,
    pub email: EmailConfig,
    /// The client portal notice emails link to, if clients can reach it.
    pub portal: Option<Portal>,
    /// Where alerts (dead letters, disabled endpoints) are mailed.
    pub alerts_to: String,
}

pub struct Worker {
    outbox: Arc<dyn OutboxStore>,
    agreements: Arc<dyn AgreementStore>,
    registry: Arc<LiveRegistry>,
    signer: Arc<Signer>,
    secrets: Arc<SecretsKey>,
    clock: Arc<dyn Clock>,
    wake: Arc<Wake>,
    metrics: Arc<Metrics>,
    delivery: DeliveryConfig,
    /// How long one email attempt may take (webhooks': `delivery.timeout_ms`);
    /// zero for the file transport, whose local writes have no timeout.
    email_timeout: Duration,
    stop_grace: Duration,
    alerts_to: String,
    webhooks: WebhookClient,
    mail: MailTransport,
    sender: Sender,
    in_flight: Mutex<InFlight>,
    capacity_freed: Notify,
}

/// Deliveries claimed and not yet finished (waiting for a slot or being
/// attempted), and finished attempts waiting to be recorded. A finished
/// attempt frees its slot at once: its delivery stays leased until
/// recorded, so no claim can take it meanwhile, and the next claim need not
/// wait for the previous batch's transaction.
#[derive(Default)]
struct InFlight {
    by_endpoint: HashMap<String, usize>,
    total: usize,
    emails: usize,
    unrecorded: usize,
}

/// What one attempt came to, before the retry policy has its say.
struct Tried {
    outcome: AttemptOutcome,
    status_code: Option<u16>,
    detail: String,
    retry_after: Option<Duration>,
    /// Retrying cannot help (a refused target, a permanent SMTP reply).
    permanent: bool,
    message_id: Option<String>,
}

impl Tried {
    fn permanent(outcome: AttemptOutcome, detail: impl Into<String>) -> Self {
        Self {
            outcome,
            status_code: None,
            detail: detail.into(),
            retry_after: None,
            permanent: true,
            message_id: None,
        }
    }

    fn transient(detail: impl Into<String>) -> Self {
        Self {
            permanent: false,
            ..Self::permanent(AttemptOutcome::Failed, detail)
        }
    }
}

impl Worker {
    /// Must be called inside the Tokio runtime (the SMTP pool needs it).
    pub fn new(handles: WorkerHandles, settings: WorkerSettings) -> anyhow::Result<Arc<Self>> {
        let webhooks = WebhookClient::new(settings.webhooks)?;
        let mail = MailTransport::new(&settings.email)?;
        let sender = Sender::from_config(&settings.email)?.linking_to(settings.portal);
        let stop_grace = stop_grace(&settings.delivery, &settings.email);
        let WorkerHandles {
            outbox,
            agreements,
            registry,
            signer,
            secrets,
            clock,
            wake,
            metrics,
        } = handles;
        Ok(Arc::new(Self {
            outbox,
            agreements,
            registry,
            signer,
            secrets,
            clock,
            wake,
            metrics,
            delivery: settings.delivery,
            email_timeout: settings.email.attempt_timeout().unwrap_or_default(),
            stop_grace,
            alerts_to: settings.alerts_to,
            webhooks,
            mail,
            sender,
            in_flight: Mutex::new(InFlight::default()),
            capacity_freed: Notify::new(),
        }))
    }

    /// Claims one batch of due deliveries, attempts them all, and records the
    /// results, then does the same for queued test messages, before returning
    /// how many were attempted. Tests drive the worker with this, one
    /// deterministic step at a time.
    pub async fn run_once(self: &Arc<Self>) -> Result<usize, StoreError> {
        let claimed = self.claim(self.delivery.concurrency).await?;
        let count = claimed.len();
        let mut tasks = JoinSet::new();
        for delivery in claimed {
            tasks.spawn(self.clone().attempt(delivery));
        }
        let mut records = Vec::with_capacity(count);
        while let Some(record) = tasks.join_next().await {
            let record = record.expect("delivery attempts do not panic");
            self.finish(&record);
            records.push(record);
        }
        self.record(&records).await?;
        Ok(count + self.send_tests().await?)
    }

    /// Delivers continuously until `shutdown`, then lets in-flight attempts
    /// finish (anything unfinished is reclaimed after its lease).
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let (records, mut finished) = mpsc::unbounded_channel::<AttemptRecord>();
        let recorder = {
            let worker = self.clone();
            tokio::spawn(async move {
                let mut batch = Vec::new();
                while finished.recv_many(&mut batch, RECORD_BATCH).await > 0 {
                    while let Err(e) = worker.record(&batch).await {
                        tracing::error!(error = %e, "cannot record delivery attempts; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    batch.clear();
                }
            })
        };

        let testing = tokio::spawn(self.clone().send_tests_until(shutdown.clone()));
        let poll = Duration::from_millis(self.delivery.poll_interval_ms);
        let concurrency = self.delivery.concurrency;
        // Attempts under way at once. The worker claims up to twice as many
        // deliveries, so a freed slot takes the next claimed one at once
        // rather than waiting for the next claim's transaction.
        let slots = Arc::new(Semaphore::new(concurrency));
        let window = concurrency * 2;
        let mut failed_claims = 0;
        while !shutdown.is_cancelled() {
            let (outstanding, unrecorded) = self.in_flight_counts();
            let free = window.saturating_sub(outstanding);
            // Claim in batches: one claim per freed slot would mean one
            // transaction per delivery. And let the recorder keep up, or
            // finished attempts would pile up in memory.
            if (outstanding > 0 && free < (concurrency / 4).max(1)) || unrecorded >= RECORD_BATCH {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = self.capacity_freed.notified() => {}
                }
                continue;
            }
            // Leases run from before the claim.
            let claimed_at = Instant::now();
            let claimed = if free == 0 {
                Vec::new()
            } else {
                match self.claim(free).await {
                    Ok(claimed) => {
                        failed_claims = 0;
                        claimed
                    }
                    Err(e) => {
                        // The database is likely unreachable: try again
                        // later and later, without waiting for a wake-up.
                        tracing::error!(error = %e, "cannot claim deliveries; retrying");
                        failed_claims += 1;
                        tokio::select! {
                            _ = shutdown.cancelled() => {}
                            _ = tokio::time::sleep(claim_backoff(failed_claims)) => {}
                        }
                        continue;
                    }
                }
            };
            if claimed.is_empty() {
                tokio::select! {
                    _ = shutdown.cancelled() => {}
                    _ = self.capacity_freed.notified() => {}
                    _ = self.wake.deliveries() => {}
                    _ = tokio::time::sleep(poll) => {}
                }
                continue;
            }
            for delivery in claimed {
                let (worker, records, slots) = (self.clone(), records.clone(), slots.clone());
                tokio::spawn(async move {
                    // The slots close at shutdown. A delivery that has not
                    // started by then, or whose lease could end before its
                    // attempt would, goes back rather than risk being sent
                    // twice.
                    match slots.acquire_owned().await {
                        Ok(_slot)
                            if worker.lease_outlasts_attempt(claimed_at, delivery.channel) =>
                        {
                            let record = worker.clone().attempt(delivery).await;
                            worker.finish(&record);
                            let _ = records.send(record);
                        }
                        _ => worker.give_back(delivery).await,
                    }
                });
            }
        }
        slots.close();

        let drained = tokio::time::timeout(self.stop_grace, async {
            while self.in_flight_counts().0 > 0 {
                self.capacity_freed.notified().await;
            }
        });
        if drained.await.is_err() {
            tracing::warn!(
                in_flight = self.in_flight_counts().0,
                "stopping with deliveries in flight; they will be reclaimed"
            );
        }
        drop(records);
        let _ = recorder.await;
        let _ = testing.await;
    }

    /// Attempts under way, and finished attempts not yet recorded.
    fn in_flight_counts(&self) -> (usize, usize) {
        let in_flight = self.in_flight.lock().expect("in-flight lock");
        (in_flight.total, in_flight.unrecorded)
    }

    /// Claims up to `limit` deliveries, never more per endpoint than allowed
    /// and never more emails than `email_concurrency`, so slow mail does not
    /// take the slots webhooks need; any excess goes straight back.
    async fn claim(&self, limit: usize) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let per_endpoint = self.delivery.per_endpoint;
        let email_budget = self.delivery.email_concurrency;
        let (busy, email_limit) = {
            let in_flight = self.in_flight.lock().expect("in-flight lock");
            let busy: Vec<String> = in_flight
                .by_endpoint
                .iter()
                .filter(|(_, n)| **n >= per_endpoint)
                .map(|(k, _)| k.clone())
                .collect();
            (
                busy,
                email_budget.saturating_sub(in_flight.emails).min(limit),
            )
        };
        let lease = chrono::Duration::seconds(self.delivery.lease_seconds as i64);
        let now = self.clock.now();
        let claimed = self
            .outbox
            .claim_deliveries(now, lease, limit, email_limit, &busy, per_endpoint)
            .await?;
        let (mut accepted, mut excess) = (Vec::with_capacity(claimed.len()), Vec::new());
        {
            let mut in_flight = self.in_flight.lock().expect("in-flight lock");
            for delivery in claimed {
                let count = in_flight
                    .by_endpoint
                    .entry(delivery.endpoint())
                    .or_default();
                if *count >= per_endpoint {
                    excess.push(delivery.id);
                    continue;
                }
                *count += 1;
                in_flight.total += 1;
                in_flight.emails += usize::from(delivery.channel == Channel::Email);
                accepted.push(delivery);
            }
        }
        if !excess.is_empty() {
            self.outbox.release_deliveries(&excess).await?;
        }
        Ok(accepted)
    }

    /// Frees the slot of a finished attempt, which now waits to be recorded.
    fn finish(&self, r: &AttemptRecord) {
        self.free_slot(r.endpoint(), r.channel, 1);
    }

    /// Whether a delivery on `channel` claimed at `claimed_at` is still
    /// leased to this worker until an attempt started now has timed out.
    fn lease_outlasts_attempt(&self, claimed_at: Instant, channel: Channel) -> bool {
        let lease = Duration::from_secs(self.delivery.lease_seconds);
        claimed_at.elapsed() + attempt_timeout(&self.delivery, self.email_timeout, channel) < lease
    }

    /// Gives a claimed delivery that was never attempted back to the queue;
    /// if the store cannot take it now, it is claimed again once its lease
    /// has passed.
    async fn give_back(&self, d: ClaimedDelivery) {
        if let Err(e) = self
            .outbox
            .release_deliveries(std::slice::from_ref(&d.id))
            .await
        {
            tracing::warn!(error = %e, delivery = %d.id, "cannot give back an unattempted delivery");
        }
        self.free_slot(d.endpoint(), d.channel, 0);
    }

    /// Forgets a claimed delivery, `unrecorded` of which now wait to be
    /// recorded.
    fn free_slot(&self, endpoint: String, channel: Channel, unrecorded: usize) {
        {
            let mut in_flight = self.in_flight.lock().expect("in-flight lock");
            if let Some(count) = in_flight.by_endpoint.get_mut(&endpoint) {
                *count -= 1;
                if *count == 0 {
                    in_flight.by_endpoint.remove(&endpoint);
                }
            }
            in_flight.total -= 1;
            in_flight.emails -= usize::from(channel == Channel::Email);
            in_flight.unrecorded += unrecorded;
        }
        self.capacity_freed.notify_one();
    }

    async fn record(&self, records: &[AttemptRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        self.outbox.record_attempts(records).await?;
        self.in_flight.lock().expect("in-flight lock").unrecorded -= records.len();
        self.capacity_freed.notify_one();
        Ok(())
    }

    /// One attempt, in a span naming the delivery, its notice and incident,
    /// so every line logged about it can be traced to them.
    async fn attempt(self: Arc<Self>, delivery: ClaimedDelivery) -> AttemptRecord {
        let span = tracing::info_span!(
            "delivery",
            delivery = %delivery.id,
            notice = %delivery.notice_id,
            incident = %delivery.incident_id,
            channel = delivery.channel.as_str(),
        );
        async move {
            let started_at = self.clock.now();
            let timer = Instant::now();
            let tried = match delivery.channel {
                Channel::Webhook => self.send_webhook(&delivery).await,
                Channel::Email => self.send_email(&delivery).await,
            };
            let took = timer.elapsed();
            let record = self.decide(delivery, started_at, took.as_millis() as u64, tried);
            let dead = matches!(record.next, NextState::Dead);
            self.metrics
                .delivery_attempted(record.channel, record.outcome, took, dead);
            record
        }
        .instrument(span)
        .await
    }

    /// Applies the retry policy to one attempt's result.
    fn decide(
        &self,
        d: ClaimedDelivery,
        started_at: chrono::DateTime<chrono::Utc>,
        duration_ms: u64,
        tried: Tried,
    ) -> AttemptRecord {
        let attempt = d.attempts + 1;
        let failures = if tried.outcome == AttemptOutcome::Delivered {
            0
        } else {
            d.failures + 1
        };
        let what = || {
            format!(
                "{} delivery {} to client {} ({})",
                d.channel.as_str(),
                d.id,
                d.client_id,
                d.target
            )
        };
        let (next, alert) = match tried.outcome {
            AttemptOutcome::Delivered => (NextState::Delivered { message_id: tried.message_id.clone() }, None),
            AttemptOutcome::Gone => (
                NextState::EndpointDisabled,
                Some(format!("{}: the endpoint answered 410 Gone and is disabled; replay after the client fixes it", what())),
            ),
            _ if tried.permanent => (NextState::Dead, Some(format!("{} dead-lettered: {}", what(), tried.detail))),
            _ => {
                let unit = rand::thread_rng().gen::<f64>();
                match self.delivery.retry.after_failure(failures, tried.retry_after, unit) {
                    Decision::RetryIn(wait) => {
                        let wait = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::hours(1));
                        (NextState::RetryAt(self.clock.now() + wait), None)
                    }
                    Decision::GiveUp => (
                        NextState::Dead,
                        Some(format!("{} dead-lettered after {attempt} attempts: {}", what(), tried.detail)),
                    ),
                }
            }
        };
        match &alert {
            Some(message) => tracing::warn!(alert = %message, "delivery needs staff attention"),
            None if tried.outcome != AttemptOutcome::Delivered => tracing::info!(
                client = %d.client_id, outcome = tried.outcome.as_str(),
                status = ?tried.status_code, detail = %tried.detail, "delivery attempt failed; will retry"
            ),
            None => tracing::debug!(client = %d.client_id, "delivered"),
        }
        let alert = alert.map(|message| RaisedAlert {
            mail: NewStaffMail::new(
                &self.alerts_to,
                format!("Delivery needs attention: {} to {}", d.channel.as_str(), d.client_id),
                format!(
                    "{message}\n\nEvery attempt: GET /v1/deliveries/{id}\nSend it again once the cause is fixed: POST /v1/deliveries/{id}/replay\n",
                    id = d.id
                ),
            ),
            message,
        });
        AttemptRecord {
            delivery_id: d.id,
            channel: d.channel,
            client_id: d.client_id,
            target: d.target,
            attempt,
            started_at,
            duration_ms,
            outcome: tried.outcome,
            status_code: tried.status_code,
            detail: tried.detail,
            next,
            failures,
            alert,
        }
    }

    async fn send_webhook(&self, d: &ClaimedDelivery) -> Tried {
        self.post_to(&d.client_id, &d.target, &d.id, d.body.clone(), Some(&d.jws))
            .await
    }

    /// Signs and posts to a client's endpoint as its agreement has it now.
    async fn post_to(
        &self,
        client_id: &ClientId,
        webhook_id: &str,
        msg_id: &str,
        body: Bytes,
        jws: Option<&str>,
    ) -> Tried {
        let registry = self.registry.current();
        match registry
            .client(client_id)
            .and_then(|c| c.webhook(webhook_id))
        {
            Some(endpoint) => {
                self.post_signed(client_id, endpoint, msg_id, body, jws)
                    .await
            }
            None => Tried::permanent(
                AttemptOutcome::Refused,
                "the endpoint is no longer in the client's agreement",
            ),
        }
    }

    /// Signs `body` as message `msg_id` for `endpoint` and posts it once.
    async fn post_signed(
        &self,
        client_id: &ClientId,
        endpoint: &WebhookEndpoint,
        msg_id: &str,
        body: Bytes,
        jws: Option<&str>,
    ) -> Tried {
        if endpoint.url.starts_with("http://") && !endpoint.local_testing {
            return Tried::permanent(
                AttemptOutcome::Refused,
                "plain http is only allowed for local_testing endpoints",
            );
        }
        let now = self.clock.now();
        let secrets = match endpoint_secrets(
            self.agreements.as_ref(),
            &self.secrets,
            client_id,
            endpoint,
            now,
        )
        .await
        {
            Ok(secrets) => secrets,
            Err(message) => return Tried::transient(message),
        };
        let timestamp = now.timestamp();
        let ed25519 = endpoint
            .signatures
            .contains(&SignatureVersion::V1a)
            .then_some(self.signer.as_ref());
        let mut headers = vec![
            (HEADER_ID, msg_id.to_owned()),
            (HEADER_TIMESTAMP, timestamp.to_string()),
            (
                HEADER_SIGNATURE,
                signature_header(msg_id, timestamp, &body, &secrets, ed25519),
            ),
        ];
        if let Some(jws) = jws {
            headers.push(("breachgate-notice-jws", jws.to_owned()));
        }
        let sent = self.webhooks.post(&endpoint.url, &headers, body).await;
        let excerpt = sent.response_excerpt;
        match sent.outcome {
            Outcome::Delivered { status } => Tried {
                outcome: AttemptOutcome::Delivered,
                status_code: Some(status),
                detail: excerpt,
                retry_after: None,
                permanent: false,
                message_id: None,
            },
            Outcome::Rejected {
                status,
                retry_after,
            } => Tried {
                outcome: AttemptOutcome::Rejected,
                status_code: Some(status),
                detail: excerpt,
                // Retry-After is honoured only where the status invites it.
                retry_after: retry_after.filter(|_| matches!(status, 429 | 502 | 503 | 504)),
                permanent: false,
                message_id: None,
            },
            Outcome::Gone => Tried {
                status_code: Some(410),
                ..Tried::permanent(AttemptOutcome::Gone, excerpt)
            },
            Outcome::Failed { reason } => Tried::transient(reason),
            Outcome::Refused { reason } => Tried::permanent(AttemptOutcome::Refused, reason),
        }
    }

    /// Sends the test messages queued by admins, one attempt each, and
    /// records how each went.
    async fn send_tests(self: &Arc<Self>) -> Result<usize, StoreError> {
        let lease = chrono::Duration::seconds(self.delivery.lease_seconds as i64);
        let claimed = self
            .outbox
            .claim_webhook_tests(self.clock.now(), lease, TEST_BATCH)
            .await?;
        let count = claimed.len();
        let mut tasks = JoinSet::new();
        for test in claimed {
            let worker = self.clone();
            tasks.spawn(async move { worker.send_test(test).await });
        }
        while let Some(result) = tasks.join_next().await {
            let result = result.expect("test deliveries do not panic");
            self.outbox.record_webhook_test(&result).await?;
        }
        Ok(count)
    }

    /// Sends test messages as admins queue them, until `shutdown`.
    async fn send_tests_until(self: Arc<Self>, shutdown: CancellationToken) {
        let poll = Duration::from_millis(self.delivery.poll_interval_ms);
        while !shutdown.is_cancelled() {
            if let Err(e) = self.send_tests().await {
                tracing::error!(error = %e, "cannot send test deliveries");
            }
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = self.wake.webhook_tests() => {}
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    async fn send_test(&self, test: ClaimedWebhookTest) -> WebhookTestResult {
        let timer = Instant::now();
        let tried = self
            .post_to(
                &test.client_id,
                &test.webhook_id,
                &test.id,
                test.body.into(),
                None,
            )
            .await;
        WebhookTestResult {
            id: test.id,
            outcome: tried.outcome,
            status_code: tried.status_code,
            duration_ms: timer.elapsed().as_millis() as u64,
            detail: tried.detail,
            finished_at: self.clock.now(),
        }
    }

    async fn send_email(&self, d: &ClaimedDelivery) -> Tried {
        let registry = self.registry.current();
        let Some(client) = registry.client(&d.client_id) else {
            return Tried::permanent(
                AttemptOutcome::Refused,
                "the client is no longer in the agreements",
            );
        };
        let notice: Notice = match serde_json::from_slice(&d.body) {
            Ok(notice) => notice,
            Err(e) => {
                return Tried::permanent(
                    AttemptOutcome::Refused,
                    format!("stored notice is unreadable: {e}"),
                )
            }
        };
        let rendered = match render(
            &notice,
            &d.body,
            &d.jws,
            client,
            &self.sender,
            d.thread.as_ref(),
        ) {
            Ok(rendered) => rendered,
            Err(e) => {
                return Tried::permanent(
                    AttemptOutcome::Refused,
                    format!("cannot build the email: {e}"),
                )
            }
        };
        match self.mail.send(&rendered.message).await {
            Ok(()) => Tried {
                outcome: AttemptOutcome::Delivered,
                status_code: None,
                detail: String::new(),
                retry_after: None,
                permanent: false,
                message_id: Some(rendered.message_id),
            },
            Err(e) if e.permanent => Tried::permanent(AttemptOutcome::Rejected, e.message),
            Err(e) => Tried {
                outcome: AttemptOutcome::Rejected,
                ..Tried::transient(e.message)
            },
        }
    }
}
