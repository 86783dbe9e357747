//! Filing a report and following it up: intake, enrichment, validation and
//! signing of one notice per affected client, then one transaction that
//! stores the incident version, its notices and their outbox rows. Nothing
//! is sent from here.

mod changes;
mod filing;
mod follow_up;

use std::sync::Arc;

use chrono::DurationRound;
use serde::Serialize;
use serde_json::{json, Value};

pub use filing::file_report;
pub use follow_up::{follow_up, FollowUp};

use crate::agreements::{ClientAgreement, Registry};
use crate::app::App;
use crate::domain::Notice;
use crate::domain::{Caller, Channel, IncidentStatus, NoticeStatus};
use crate::domain::{ClientId, NoticeType};
use crate::intake::IntakeError;
use crate::signing::Signer;
use crate::store::{IdempotencyRecord, NewDelivery, NewNotice, StoreError};
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

pub struct FileOptions {
    pub dry_run: bool,
    pub idempotency_key: Option<String>,
}

/// The answer to a filing or follow-up: what the caller sees, and what a
/// retry with the same Idempotency-Key sees again.
pub struct Filed {
    pub status: u16,
    pub body: Value,
}

/// Now, to the whole second: notices carry it as their `timestamp` and
/// their deliveries are due from it.
fn whole_second(app: &App) -> chrono::DateTime<chrono::Utc> {
    let now = app.clock.now();
    now.duration_trunc(chrono::Duration::seconds(1))
        .unwrap_or(now)
}

/// One client's notice, ready to store.
struct Prepared {
    notice: NewNotice,
    /// The full notice, kept only for a dry run's preview.
    preview: Option<Value>,
}

/// A request as an Idempotency-Key remembers it: a retry with the same key
/// and digest gets the first answer again, another body with that key an error.
struct Request<'a> {
    caller: &'a Caller,
    key: Option<&'a str>,
    digest: String,
}

impl Request<'_> {
    /// The answer to an earlier request with the same key, if any.
    async fn earlier(&self, app: &App) -> Result<Option<Filed>, FileError> {
        let Some(key) = self.key else {
            return Ok(None);
        };
        match app.store.idempotent_response(&self.caller.id, key).await? {
            Some(stored) if stored.request_digest == self.digest => Ok(Some(Filed {
                status: stored.status,
                body: stored.response,
            })),
            Some(_) => Err(FileError::IdempotencyKeyReused),
            None => Ok(None),
        }
    }

    /// What to store with the answer so a retry gets it again.
    fn remember(&self, answer: &Filed) -> Option<IdempotencyRecord> {
        self.key.map(|key| IdempotencyRecord {
            token_id: self.caller.id.clone(),
            key: key.to_owned(),
            request_digest: self.digest.clone(),
            status: answer.status,
            response: answer.body.clone(),
        })
    }

    /// The answer once the store has written (or refused) what was prepared.
    async fn answer(
        &self,
        app: &App,
        stored: Result<(), StoreError>,
        answer: Filed,
    ) -> Result<Filed, FileError> {
        match stored {
            Ok(()) => {
                // Wake an idle delivery worker now rather than at its next poll.
                app.outbox_ready.notify_one();
                Ok(answer)
            }
            // A concurrent retry with the same key won the race: answer as it did.
            Err(StoreError::IdempotencyConflict) => self
                .earlier(app)
                .await?
                .ok_or(FileError::Store(StoreError::IdempotencyConflict)),
            Err(StoreError::VersionConflict) => Err(FileError::ConcurrentChange),
            Err(e) => Err(e.into()),
        }
    }
}

/// Validates one draft against the canonical schema and the client's profile;
/// a valid notice is signed and gets its outbox rows, an invalid one is held.
fn prepare(
    notice: Notice,
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

#[derive(Serialize)]
struct ClientOutcome<'a> {
    client_id: &'a ClientId,
    notice_id: &'a str,
    #[serde(rename = "type")]
    kind: NoticeType,
    sequence: u32,
    status: NoticeStatus,
    notify_by: chrono::DateTime<chrono::Utc>,
    errors: &'a [FieldError],
    deliveries: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notice: Option<&'a Value>,
}

/// The per-client part of an answer, by client id, with how many of the
/// notices were queued and how many held.
fn outcomes(prepared: &[Prepared]) -> Value {
    let mut outcomes: Vec<ClientOutcome> = prepared
        .iter()
        .map(|p| ClientOutcome {
            client_id: &p.notice.client_id,
            notice_id: p.notice.id.as_str(),
            kind: p.notice.kind,
            sequence: p.notice.sequence,
            status: p.notice.status,
            notify_by: p.notice.notify_by,
            errors: &p.notice.errors,
            deliveries: p
                .notice
                .deliveries
                .iter()
                .map(|d| json!({"delivery_id": d.id, "channel": d.channel, "target": d.target}))
                .collect(),
            notice: p.preview.as_ref(),
        })
        .collect();
    outcomes.sort_by(|a, b| a.client_id.cmp(b.client_id));
    let held = outcomes
        .iter()
        .filter(|o| o.status == NoticeStatus::Held)
        .count();
    json!({
        "queued": outcomes.len() - held,
        "held": held,
        "clients": outcomes,
    })
}
