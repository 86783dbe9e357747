//! Following an incident up: an update adds or corrects facts, closing sends
//! every affected client its final notice, and a retraction withdraws what
//! was sent. Each is a new version of the incident.
//!
//! Per client, against its series of notices:
//! - newly affected: its `initial` notice;
//! - still affected: an `update` (`final` when closing) whose `changes` are
//!   measured against the last notice the client was sent; an update that
//!   changes nothing in the client's notice sends nothing;
//! - never sent anything (every notice so far held): a new `initial`, also
//!   when closing, since the client has not yet heard of the breach;
//! - no longer affected after a correction, or the incident retracted: a
//!   `retraction` of the last notice it was sent, with staff's reason.
//!
//! A notice's `sequence` counts the notices its client was sent: held ones
//! do not count, so a client's first notice sent is 1 whatever was held.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    changes, whole_second, ClientOutcomes, Drafting, FileError, Idempotency, Outcome, Remembered,
    Tally, CHUNK, LISTED_CLIENTS,
};
use crate::domain::audit::{self, NewAuditEntry};
use crate::domain::Notice;
use crate::domain::{Caller, IncidentStatus, VersionAction};
use crate::domain::{ClientId, IncidentId, NoticeId, NoticeType};
use crate::enrichment::{affected_clients, draft_notice, AffectedClients};
use crate::intake::{check_report, parse_json, per_client_patch};
use crate::service::Services;
use crate::store::{ClientSeries, FilingClose, NewVersion, NoticeBody, StoreError};
use crate::validation::{self, FieldError};

/// Longest retraction reason accepted.
const MAX_REASON: usize = 2_000;

/// What staff ask of an open incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUp {
    /// The body is a JSON merge patch (RFC 7396) of the report's facts.
    Update,
    /// The body is empty (or `{}`) or, like an update, the last facts.
    Close,
    /// The body is `{"reason": "…"}`.
    Retract,
}

impl FollowUp {
    pub fn action(self) -> VersionAction {
        match self {
            FollowUp::Update => VersionAction::Update,
            FollowUp::Close => VersionAction::Close,
            FollowUp::Retract => VersionAction::Retract,
        }
    }

    fn audit_action(self) -> &'static str {
        match self {
            FollowUp::Update => "incident.updated",
            FollowUp::Close => "incident.closed",
            FollowUp::Retract => "incident.retracted",
        }
    }

    fn status_after(self) -> IncidentStatus {
        match self {
            FollowUp::Update => IncidentStatus::Open,
            FollowUp::Close => IncidentStatus::Closed,
            FollowUp::Retract => IncidentStatus::Retracted,
        }
    }
}

/// A follow-up as staff sent it, checked.
pub struct FollowUpRequest {
    kind: FollowUp,
    /// The merge patch of the facts, if any.
    patch: Option<Value>,
    /// What staff sent, kept with the version.
    submitted: Value,
}

impl FollowUpRequest {
    /// Checks a follow-up body: an update's merge patch, a closure's
    /// optional last facts, or a retraction's `{"reason": "…"}`.
    pub fn parse(kind: FollowUp, body: &[u8]) -> Result<Self, FileError> {
        let (patch, submitted) = match kind {
            FollowUp::Retract => (None, retraction_reason(body)?),
            FollowUp::Close if body.iter().all(u8::is_ascii_whitespace) => (None, json!({})),
            FollowUp::Update | FollowUp::Close => match facts_patch(body) {
                Ok(patch) => (Some(patch.clone()), patch),
                // Closing with an empty patch is closing without last facts.
                Err(FileError::NothingChanged) if kind == FollowUp::Close => (None, json!({})),
                Err(e) => return Err(e),
            },
        };
        Ok(Self {
            kind,
            patch,
            submitted,
        })
    }

    /// An update from per-client figures uploaded as CSV: the same
    /// `affected.per_client` patch as the JSON update carrying them.
    pub fn per_client_csv(body: &[u8]) -> Result<Self, FileError> {
        let patch = per_client_patch(body).map_err(FileError::InvalidBody)?;
        Ok(Self {
            kind: FollowUp::Update,
            patch: Some(patch.clone()),
            submitted: patch,
        })
    }
}

/// A follow-up made: the incident's new version and the notices it sent.
pub struct FollowedUp {
    pub incident_id: IncidentId,
    pub reference: String,
    pub version: u32,
    pub status: IncidentStatus,
    pub clients: ClientOutcomes,
}

/// A client's series so far, parsed.
struct Series {
    /// Where the latest notice stands in the series, held ones included.
    last_position: u32,
    last: Notice,
    last_sent: Option<(NoticeId, Notice)>,
}

impl Series {
    /// The `sequence` of the client's next notice, if it is sent.
    fn next_sequence(&self) -> u32 {
        self.last_sent
            .as_ref()
            .map_or(1, |(_, sent)| sent.data.sequence + 1)
    }
}

/// Makes `request` the incident's next version for `caller`: drafts, checks
/// and signs each client's next notice, a chunk of clients at a time (so
/// memory stays bounded whatever the number of clients), and stores them
/// with the version in one transaction, committed only once every notice is
/// in. A dry run stores nothing and keeps each notice in the outcome as a
/// preview (above [`LISTED_CLIENTS`], only the held ones, as a report's).
#[tracing::instrument(skip_all, fields(incident = %incident_id))]
pub async fn follow_up(
    services: &Services,
    caller: &Caller,
    incident_id: &IncidentId,
    request: FollowUpRequest,
    dry_run: bool,
    idempotency: Option<Idempotency<'_, FollowedUp>>,
) -> Result<Outcome<FollowedUp>, FileError> {
    let started = std::time::Instant::now();
    let remembered = Remembered {
        caller,
        key: idempotency,
    };
    if let Some(earlier) = remembered.earlier(services).await? {
        return Ok(Outcome::Earlier(earlier));
    }

    let FollowUpRequest {
        kind: request,
        patch,
        submitted,
    } = request;
    let state = services
        .store
        .incident_state(incident_id)
        .await?
        .ok_or(FileError::IncidentNotFound)?;
    if state.status != IncidentStatus::Open {
        return Err(FileError::IncidentNotOpen(state.status));
    }
    let mut facts = state.facts.clone();
    if let Some(patch) = &patch {
        json_patch::merge(&mut facts, patch);
    }
    let report = check_report(&facts)?;
    if request == FollowUp::Update && facts == state.facts {
        return Err(FileError::NothingChanged);
    }
    let registry = services.registry.current();
    let affected = if request == FollowUp::Retract {
        AffectedClients::default()
    } else {
        affected_clients(&report.affected, &registry).map_err(FileError::UnknownReference)?
    };

    let now = whole_second(services.clock.as_ref());
    let reason = retraction_reason_of(request, &submitted);
    let drafting = Drafting {
        registry,
        signer: services.signer.clone(),
        processor: services.processor.clone(),
        incident_id: incident_id.clone(),
        reference: state.reference.clone(),
        now,
        affected_clients: affected.len(),
    };
    let clients: Vec<ClientId> = affected
        .clients()
        .chain(&state.clients)
        .cloned()
        .collect::<BTreeSet<ClientId>>()
        .into_iter()
        .collect();
    let mut tally = Tally::new(now, clients.len() <= LISTED_CLIENTS);
    let status = request.status_after();
    let version = NewVersion {
        incident_id: incident_id.clone(),
        follows: state.version,
        action: request.action(),
        status,
        became_aware_at: report.became_aware_at,
        summary: report.summary.clone(),
        facts,
        submitted,
        created_by: caller.name.clone(),
        created_at: now,
    };
    let mut filing = if dry_run {
        None
    } else {
        Some(
            services
                .store
                .begin_version(&version)
                .await
                .map_err(|e| match e {
                    StoreError::VersionConflict => FileError::ConcurrentChange,
                    e => e.into(),
                })?,
        )
    };
    // A chunk of clients at a time: their series read, their notices
    // prepared and written, before the next chunk's are read (no client is
    // in two chunks, so what one chunk wrote is never read as a series).
    let affected = Arc::new(affected);
    let drafted = Arc::new(report.clone());
    for chunk in clients.chunks(CHUNK) {
        // Inside the version's transaction when there is one: it holds the
        // write, and sees the incident as of the version it follows.
        let series = match filing.as_mut() {
            Some(filing) => filing.client_series(chunk).await?,
            None => services.store.client_series(incident_id, chunk).await?,
        };
        let series = parsed(series)?;
        let (affected, drafted, reason) = (affected.clone(), drafted.clone(), reason.clone());
        let prepared = drafting
            .clone()
            .prepare_all(chunk.to_vec(), dry_run, move |client_id, ctx, registry| {
                // A client whose agreement was removed can no longer be reached.
                let client = registry.client(&client_id)?;
                let before = series.get(&client_id);
                let notice = match affected.get(&client_id) {
                    Some(systems) => {
                        let draft = draft_notice(&drafted, client, systems, registry, ctx);
                        follow(request, draft, before)?
                    }
                    None => withdraw(before?, now, reason.clone())?,
                };
                let position = before.map_or(1, |b| b.last_position + 1);
                Some((notice, position, client.clone()))
            })
            .await?;
        tally.add(&prepared);
        if let Some(filing) = filing.as_mut() {
            filing
                .add_notices(prepared.into_iter().map(|p| p.notice).collect())
                .await?;
        }
    }
    tally.require_delay_reason(&report)?;

    let followed = FollowedUp {
        incident_id: incident_id.clone(),
        reference: state.reference.clone(),
        version: version.follows + 1,
        status,
        clients: tally.into_outcomes(),
    };
    let Some(filing) = filing else {
        return Ok(Outcome::Done(followed));
    };
    let audit = NewAuditEntry {
        at: now,
        actor: audit::token_actor(caller),
        action: request.audit_action().into(),
        subject: incident_id.as_str().to_owned(),
        details: json!({
            "reference": state.reference,
            "version": followed.version,
            "notices": followed.clients.affected,
            "held": followed.clients.held,
        }),
    };
    let close = FilingClose {
        idempotency: remembered.remember(&followed),
        audit,
    };
    let stored = filing.commit(close).await;
    if stored.is_ok() {
        let clients = &followed.clients;
        services.metrics.filed(
            version.action.as_str(),
            started.elapsed(),
            clients.affected,
            clients.held,
        );
    }
    remembered.answer(services, stored, followed).await
}

/// Clients' series, parsed, by client.
fn parsed(series: Vec<ClientSeries>) -> Result<HashMap<ClientId, Series>, StoreError> {
    series
        .into_iter()
        .map(|c| {
            Ok((
                c.client_id,
                parse_series(c.last_position, &c.last, c.last_sent.as_ref())?,
            ))
        })
        .collect()
}

/// The next notice for a client that is (still or newly) affected, or none
/// when an update leaves its notice as it was. A client never sent anything
/// gets an `initial`, even when closing: it has not yet heard of the breach.
fn follow(request: FollowUp, mut draft: Notice, before: Option<&Series>) -> Option<Notice> {
    let closing = request == FollowUp::Close;
    let Some(before) = before else {
        return Some(draft);
    };
    if !closing && changes::between(&before.last.data, &draft.data).is_empty() {
        return None;
    }
    draft.data.sequence = before.next_sequence();
    if let Some((sent_id, sent)) = &before.last_sent {
        draft.kind = if closing {
            NoticeType::Final
        } else {
            NoticeType::Update
        };
        draft.data.supersedes = Some(sent_id.clone());
        // Whether the first notice was on time was settled when it was sent.
        draft.data.deadline.processor_on_time = sent.data.deadline.processor_on_time;
        draft.data.deadline.processor_delay_reason =
            sent.data.deadline.processor_delay_reason.clone();
        draft.data.changes = changes::between(&sent.data, &draft.data);
    }
    Some(draft)
}

/// A retraction of the last notice the client was sent, carrying staff's
/// reason when the incident is retracted; none if it was never sent one.
fn withdraw(before: &Series, now: DateTime<Utc>, reason: Option<String>) -> Option<Notice> {
    let (sent_id, sent) = before.last_sent.as_ref()?;
    let mut notice = sent.clone();
    notice.kind = NoticeType::Retraction;
    notice.timestamp = now;
    notice.data.notice_id = NoticeId::generate();
    notice.data.sequence = before.next_sequence();
    notice.data.supersedes = Some(sent_id.clone());
    notice.data.changes = Vec::new();
    notice.data.retraction_reason = reason;
    Some(notice)
}

/// Staff's reason for a retraction, as checked by [`FollowUpRequest::parse`];
/// other follow-ups (a correction that unaffects a client) have none.
fn retraction_reason_of(request: FollowUp, submitted: &Value) -> Option<String> {
    (request == FollowUp::Retract)
        .then(|| submitted.get("reason").and_then(Value::as_str))
        .flatten()
        .map(|reason| reason.trim().to_owned())
}

fn parse_series(
    last_position: u32,
    last: &NoticeBody,
    last_sent: Option<&NoticeBody>,
) -> Result<Series, StoreError> {
    let parse = |n: &NoticeBody| -> Result<Notice, StoreError> {
        serde_json::from_slice(&n.body)
            .map_err(|e| StoreError::Corrupt(format!("notice {}: {e}", n.id)))
    };
    Ok(Series {
        last_position,
        last: parse(last)?,
        last_sent: last_sent
            .map(|n| Ok::<_, StoreError>((n.id.clone(), parse(n)?)))
            .transpose()?,
    })
}

/// An update's body: a non-empty JSON object whose fields replace the
/// report's (`null` removes an optional one).
fn facts_patch(body: &[u8]) -> Result<Value, FileError> {
    match parse_json(body)? {
        Value::Object(fields) if !fields.is_empty() => Ok(Value::Object(fields)),
        Value::Object(_) => Err(FileError::NothingChanged),
        _ => Err(FileError::InvalidBody(vec![FieldError::new(
            "",
            "must be a JSON object with the report fields to add or correct",
        )])),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Retraction {
    reason: String,
}

/// A retraction's body, `{"reason": "…"}`, kept with the incident's version.
fn retraction_reason(body: &[u8]) -> Result<Value, FileError> {
    let value = parse_json(body)?;
    let invalid = |message: &str| FileError::InvalidBody(vec![FieldError::new("/reason", message)]);
    let retraction: Retraction =
        validation::deserialize(&value).map_err(|e| FileError::InvalidBody(vec![e]))?;
    let reason = retraction.reason.trim();
    if reason.is_empty() {
        return Err(invalid("must say why the report is withdrawn"));
    }
    if reason.chars().count() > MAX_REASON {
        return Err(invalid(&format!("must be at most {MAX_REASON} characters")));
    }
    Ok(value)
}
