//! Filing a report and following it up: intake, enrichment, validation and
//! signing of one notice per affected client, then one transaction that
//! stores the incident version, its notices and their outbox rows. Nothing
//! is sent from here.

mod changes;
mod filing;
mod follow_up;

use std::sync::Arc;

use chrono::DurationRound;
use rayon::prelude::*;
use serde_json::Value;

pub use filing::{file_report, Filed};
pub use follow_up::{follow_up, FollowUp, FollowUpRequest, FollowedUp};

use super::Services;
use crate::agreements::{ClientAgreement, Registry};
use crate::clock::Clock;
use crate::domain::{Caller, Channel, IncidentStatus, NoticeStatus};
use crate::domain::{ClientId, NoticeId, NoticeType};
use crate::domain::{IncidentId, Notice, ProcessorIdentity};
use crate::enrichment::NoticeContext;
use crate::intake::IntakeError;
use crate::signing::Signer;
use crate::store::{Change, IdempotencyRecord, NewDelivery, NewNotice, StoreError};
use crate::validation::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(transparent)]
    Intake(#[from] IntakeError),
    #[error("the report names systems, sub-processors or clients that are not in the agreements")]
    UnknownReference(Vec<FieldError>),
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    #[error("the request body is not valid")]
    InvalidBody(Vec<FieldError>),
    #[error("no such incident")]
    IncidentNotFound,
    #[error("the incident is {}; nothing more is sent about it", .0.as_str())]
    IncidentNotOpen(IncidentStatus),
    #[error("the update changes none of the incident's facts")]
    NothingChanged,
    #[error("the incident changed while this request was prepared; read it again and retry")]
    ConcurrentChange,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("notice preparation failed")]
    Join(#[from] tokio::task::JoinError),
}

/// An `Idempotency-Key` and what it remembers: a retry with the same key
/// and digest gets the first answer again, another request with that key an
/// error. The answer is rendered by the caller (`http/` keeps the exact
/// JSON) and stored in the same transaction as what it answers.
pub struct Idempotency<'a, T> {
    pub key: &'a str,
    /// A digest of the request, which a retry must match.
    pub digest: String,
    pub render: &'a (dyn Fn(&T) -> Answer + Sync),
}

/// An answer as an `Idempotency-Key` keeps it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// What a filing or follow-up came to: done now, or done by an earlier
/// request with the same `Idempotency-Key`, whose answer is repeated.
pub enum Outcome<T> {
    Done(T),
    Earlier(Answer),
}

/// One client's notice in a filing's or follow-up's outcome.
pub struct ClientOutcome {
    pub client_id: ClientId,
    pub notice_id: NoticeId,
    pub kind: NoticeType,
    pub sequence: u32,
    pub status: NoticeStatus,
    pub notify_by: chrono::DateTime<chrono::Utc>,
    pub errors: Vec<FieldError>,
    pub deliveries: Vec<QueuedDelivery>,
    /// The full notice, for a dry run's preview.
    pub notice: Option<Value>,
}

pub struct QueuedDelivery {
    pub id: String,
    pub channel: Channel,
    pub target: String,
}

/// Above this many affected clients, an answer counts the clients' outcomes
/// and lists only the held notices; the rest are read page by page
/// (`GET /v1/incidents/{id}/clients`). At or below it, every client's
/// outcome is in the answer.
pub const LISTED_CLIENTS: usize = 1_000;

/// What the notices of a filing or follow-up came to.
pub struct ClientOutcomes {
    /// How many clients a notice was drafted for.
    pub affected: usize,
    /// How many of those notices were held.
    pub held: usize,
    /// By client id: every client's outcome when `every_client`, else only
    /// the held notices'.
    pub listed: Vec<ClientOutcome>,
    pub every_client: bool,
}

impl ClientOutcomes {
    /// How many notices were queued for delivery.
    pub fn queued(&self) -> usize {
        self.affected - self.held
    }
}

/// The clients' outcomes, gathered chunk by chunk as their notices are
/// prepared, so that only what the answer lists is kept.
struct Tally {
    now: chrono::DateTime<chrono::Utc>,
    outcomes: ClientOutcomes,
    /// Clients whose initial notice is past its deadline.
    late: Vec<String>,
}

impl Tally {
    fn new(now: chrono::DateTime<chrono::Utc>, every_client: bool) -> Self {
        Self {
            now,
            outcomes: ClientOutcomes {
                affected: 0,
                held: 0,
                listed: Vec::new(),
                every_client,
            },
            late: Vec::new(),
        }
    }

    fn add(&mut self, chunk: &[Prepared]) {
        for p in chunk {
            let held = p.notice.status == NoticeStatus::Held;
            self.outcomes.affected += 1;
            self.outcomes.held += usize::from(held);
            if p.notice.kind == NoticeType::Initial && p.notice.notify_by < self.now {
                self.late.push(p.notice.client_id.as_str().to_owned());
            }
            if held || self.outcomes.every_client {
                self.outcomes.listed.push(outcome(p));
            }
        }
    }

    /// A late initial notice (one filed after its deadline, or a held one
    /// that only now goes out) needs staff's reason for the delay: the
    /// controller must give its own reasons for delay to its authority
    /// (Art. 33(1)).
    fn require_delay_reason(&self, report: &crate::domain::Report) -> Result<(), FileError> {
        if self.late.is_empty() || report.delay_reason.is_some() {
            return Ok(());
        }
        Err(FileError::Intake(IntakeError::Invalid(vec![
            FieldError::new(
                "/delay_reason",
                format!(
                    "required: the initial notice to {} is past the agreement's deadline",
                    self.late.join(", ")
                ),
            ),
        ])))
    }

    fn into_outcomes(self) -> ClientOutcomes {
        let mut outcomes = self.outcomes;
        outcomes
            .listed
            .sort_by(|a, b| a.client_id.cmp(&b.client_id));
        outcomes
    }
}

/// One client's outcome.
fn outcome(p: &Prepared) -> ClientOutcome {
    ClientOutcome {
        client_id: p.notice.client_id.clone(),
        notice_id: p.notice.id.clone(),
        kind: p.notice.kind,
        sequence: p.notice.sequence,
        status: p.notice.status,
        notify_by: p.notice.notify_by,
        errors: p.notice.errors.clone(),
        deliveries: p
            .notice
            .deliveries
            .iter()
            .map(|d| QueuedDelivery {
                id: d.id.clone(),
                channel: d.channel,
                target: d.target.clone(),
            })
            .collect(),
        notice: p.preview.clone(),
    }
}

/// The email a dry run's notice would reach its client as, in the
/// client's language.
pub struct EmailPreview {
    pub language: &'static str,
    pub subject: String,
    pub text: String,
}

/// The email `outcome`'s client would receive for its previewed notice
/// (only a dry run keeps the notice).
pub fn preview_email(services: &Services, outcome: &ClientOutcome) -> Option<EmailPreview> {
    let notice: Notice = serde_json::from_value(outcome.notice.clone()?).ok()?;
    let registry = services.registry.current();
    let client = registry.client(&outcome.client_id)?;
    let (subject, text) = crate::delivery::email::preview(&notice, client).ok()?;
    Some(EmailPreview {
        language: client.language.as_str(),
        subject,
        text,
    })
}

/// What a report can name as affected: the agreements' systems and
/// sub-processors, each as (id, name), by id.
pub struct Affectable {
    pub systems: Vec<(String, String)>,
    pub subprocessors: Vec<(String, String)>,
}

pub fn affectable(services: &Services) -> Affectable {
    let registry = services.registry.current();
    let mut systems: Vec<(String, String)> = registry
        .systems()
        .map(|s| (s.id.to_string(), s.name.clone()))
        .collect();
    let mut subprocessors: Vec<(String, String)> = registry
        .subprocessors()
        .map(|s| (s.id.to_string(), s.name.clone()))
        .collect();
    systems.sort();
    subprocessors.sort();
    Affectable {
        systems,
        subprocessors,
    }
}

/// Now, to the whole second: notices carry it as their `timestamp` and
/// their deliveries are due from it.
fn whole_second(clock: &dyn Clock) -> chrono::DateTime<chrono::Utc> {
    let now = clock.now();
    now.duration_trunc(chrono::Duration::seconds(1))
        .unwrap_or(now)
}

/// One client's notice, ready to store.
struct Prepared {
    notice: NewNotice,
    /// The full notice, kept only for a dry run's preview.
    preview: Option<Value>,
}

/// An idempotency key as one caller used it.
struct Remembered<'a, T> {
    caller: &'a Caller,
    key: Option<Idempotency<'a, T>>,
}

impl<T> Remembered<'_, T> {
    /// The answer to an earlier request with the same key, if any.
    async fn earlier(&self, services: &Services) -> Result<Option<Answer>, FileError> {
        let Some(key) = &self.key else {
            return Ok(None);
        };
        match services
            .store
            .idempotent_response(&self.caller.id, key.key)
            .await?
        {
            Some(stored) if stored.request_digest == key.digest => Ok(Some(Answer {
                status: stored.status,
                body: stored.response,
            })),
            Some(_) => Err(FileError::IdempotencyKeyReused),
            None => Ok(None),
        }
    }

    /// What to store with the outcome so a retry gets its answer again.
    fn remember(&self, outcome: &T) -> Option<IdempotencyRecord> {
        self.key.as_ref().map(|key| {
            let answer = (key.render)(outcome);
            IdempotencyRecord {
                token_id: self.caller.id.clone(),
                key: key.key.to_owned(),
                request_digest: key.digest.clone(),
                status: answer.status,
                response: answer.body,
            }
        })
    }

    /// The outcome once the store has written (or refused) what was prepared.
    async fn answer(
        &self,
        services: &Services,
        stored: Result<(), StoreError>,
        outcome: T,
    ) -> Result<Outcome<T>, FileError> {
        match stored {
            Ok(()) => {
                // Wake the idle delivery workers of every instance now
                // rather than at their next poll.
                services.announce(Change::DeliveriesQueued).await;
                Ok(Outcome::Done(outcome))
            }
            // A concurrent retry with the same key won the race: answer as it did.
            Err(StoreError::IdempotencyConflict) => self
                .earlier(services)
                .await?
                .map(Outcome::Earlier)
                .ok_or(FileError::Store(StoreError::IdempotencyConflict)),
            Err(StoreError::VersionConflict) => Err(FileError::ConcurrentChange),
            Err(e) => Err(e.into()),
        }
    }
}

/// What every notice of one incident version is drafted from.
#[derive(Clone)]
struct Drafting {
    registry: Arc<Registry>,
    signer: Arc<Signer>,
    processor: ProcessorIdentity,
    incident_id: IncidentId,
    reference: String,
    now: chrono::DateTime<chrono::Utc>,
    /// How many clients this version affects.
    affected_clients: usize,
}

/// Notices are prepared and stored this many at a time, so a fan-out holds
/// a few chunks in memory (one being stored, one waiting, one being
/// prepared), whatever its number of clients.
const CHUNK: usize = 250;

impl Drafting {
    /// Drafts, checks and signs the notice of each of `clients` on the
    /// blocking pool, a chunk at a time and each chunk in parallel: `draft`
    /// gives a client's notice, its position in the client's series and its
    /// agreement, or none. The chunks come out in order, preparation
    /// keeping at most one chunk ahead of whoever takes them.
    fn prepare_chunks<T, F>(self, clients: Vec<T>, keep_preview: bool, draft: F) -> Chunks
    where
        T: Send + 'static,
        F: Fn(T, &NoticeContext<'_>, &Registry) -> Option<(Notice, u32, Arc<ClientAgreement>)>
            + Send
            + Sync
            + 'static,
    {
        let (sender, receiver) = tokio::sync::mpsc::channel(1);
        let task = tokio::task::spawn_blocking(move || {
            let ctx = NoticeContext {
                incident_id: &self.incident_id,
                reference: &self.reference,
                processor: &self.processor,
                now: self.now,
                affected_clients: self.affected_clients,
            };
            let mut clients = clients.into_iter();
            loop {
                let chunk: Vec<T> = clients.by_ref().take(CHUNK).collect();
                if chunk.is_empty() {
                    break;
                }
                let prepared: Vec<Prepared> = chunk
                    .into_par_iter()
                    .filter_map(|client| {
                        let (notice, position, agreement) = draft(client, &ctx, &self.registry)?;
                        Some(prepare(
                            notice,
                            position,
                            &agreement,
                            &self.registry,
                            &self.signer,
                            keep_preview,
                        ))
                    })
                    .collect();
                // No one takes the chunks any more: the filing failed.
                if sender.blocking_send(prepared).is_err() {
                    break;
                }
            }
        });
        Chunks { receiver, task }
    }

    /// Every client's notice (see [`Drafting::prepare_chunks`]), all at once.
    async fn prepare_all<T, F>(
        self,
        clients: Vec<T>,
        keep_preview: bool,
        draft: F,
    ) -> Result<Vec<Prepared>, tokio::task::JoinError>
    where
        T: Send + 'static,
        F: Fn(T, &NoticeContext<'_>, &Registry) -> Option<(Notice, u32, Arc<ClientAgreement>)>
            + Send
            + Sync
            + 'static,
    {
        let mut chunks = self.prepare_chunks(clients, keep_preview, draft);
        let mut prepared = Vec::new();
        while let Some(chunk) = chunks.next().await {
            prepared.extend(chunk);
        }
        chunks.finish().await?;
        Ok(prepared)
    }
}

/// Chunks of prepared notices, in order.
struct Chunks {
    receiver: tokio::sync::mpsc::Receiver<Vec<Prepared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Chunks {
    async fn next(&mut self) -> Option<Vec<Prepared>> {
        self.receiver.recv().await
    }

    /// Whether the chunks ended because every notice was prepared, rather
    /// than because preparing one panicked.
    async fn finish(self) -> Result<(), tokio::task::JoinError> {
        self.task.await
    }
}

/// Validates one draft against the canonical schema and the client's profile;
/// a valid notice is signed and gets its outbox rows, an invalid one is held.
/// `position` places it in the client's series, held notices included.
fn prepare(
    notice: Notice,
    position: u32,
    client: &Arc<ClientAgreement>,
    registry: &Registry,
    signer: &Signer,
    keep_preview: bool,
) -> Prepared {
    let value = serde_json::to_value(&notice).expect("notices serialize");
    let errors = registry
        .notice_schemas()
        .check(&value, client.agreement.notice_schema.as_deref());
    let body = serde_json::to_vec(&value).expect("notices serialize");
    let held = !errors.is_empty();
    let jws = (!held).then(|| signer.sign_detached(&body));
    let deliveries = if held {
        Vec::new()
    } else {
        delivery_targets(client)
    };
    Prepared {
        notice: NewNotice {
            id: notice.data.notice_id,
            client_id: client.id.clone(),
            position,
            sequence: notice.data.sequence,
            kind: notice.kind,
            status: if held {
                NoticeStatus::Held
            } else {
                NoticeStatus::Queued
            },
            body,
            jws,
            errors,
            notify_by: notice.data.deadline.processor_notify_by,
            deliveries,
        },
        preview: keep_preview.then_some(value),
    }
}

/// One outbox row per webhook endpoint and one for the email recipients.
fn delivery_targets(client: &ClientAgreement) -> Vec<NewDelivery> {
    let webhooks = client.delivery.webhooks.iter().map(|w| NewDelivery {
        id: format!("dlv_{}", ulid::Ulid::new()),
        channel: Channel::Webhook,
        target: w.id.to_string(),
    });
    let email = client
        .delivery
        .email
        .as_ref()
        .filter(|e| !e.to.is_empty())
        .map(|_| NewDelivery {
            id: format!("dlv_{}", ulid::Ulid::new()),
            channel: Channel::Email,
            target: "email".into(),
        });
    webhooks.chain(email).collect()
}
