//! Filing a report: intake, enrichment, validation and signing of one notice
//! per affected client, then one transaction that stores the incident, its
//! notices and their outbox rows. Nothing is sent from here.

use std::sync::Arc;

use chrono::{Datelike, DurationRound, Utc};
use rayon::prelude::*;
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::agreements::{ClientAgreement, Registry};
use crate::app::App;
use crate::audit::{self, NewAuditEntry};
use crate::domain::{ClientId, IncidentId};
use crate::enrichment::{affected_clients, draft_notice, NoticeContext};
use crate::intake::{parse_report, IntakeError, Report};
use crate::signing::Signer;
use crate::store::{
    Channel, IdempotencyRecord, NewDelivery, NewIncident, NewNotice, NoticeStatus, StoreError,
    TokenRecord,
};
use crate::validation::FieldError;

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error(transparent)]
    Intake(#[from] IntakeError),
    #[error("the report names systems, sub-processors or clients that are not in the agreements")]
    UnknownReference(Vec<FieldError>),
    #[error("this Idempotency-Key was used for a different request")]
    IdempotencyKeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("notice preparation failed")]
    Join(#[from] tokio::task::JoinError),
}

pub struct FileOptions {
    pub dry_run: bool,
    pub idempotency_key: Option<String>,
}

/// The answer to a filing: what the caller sees, and what a retry with the
/// same Idempotency-Key sees again.
pub struct Filed {
    pub status: u16,
    pub body: Value,
}

/// One client's notice, ready to store.
struct Prepared {
    notice: NewNotice,
    /// The full notice, kept only for a dry run's preview.
    preview: Option<Value>,
}

pub async fn file_report(
    app: &App,
    caller: &TokenRecord,
    body: &[u8],
    options: FileOptions,
) -> Result<Filed, FileError> {
    let request_digest = hex::encode(Sha256::digest(body));
    if let Some(key) = &options.idempotency_key {
        if let Some(earlier) = replay(app, caller, key, &request_digest).await? {
            return Ok(earlier);
        }
    }

    let (report, report_json) = parse_report(body)?;
    let registry = app.registry();
    let affected =
        affected_clients(&report.affected, &registry).map_err(FileError::UnknownReference)?;

    let now = Utc::now()
        .duration_trunc(chrono::Duration::seconds(1))
        .unwrap_or_else(|_| Utc::now());
    let incident_id = IncidentId::generate();
    let number = if options.dry_run {
        0
    } else {
        app.store.next_reference(now.year()).await?
    };
    let reference = format!("BG-{}-{number:04}", now.year());

    let prepared = {
        let (registry, signer, processor) =
            (registry.clone(), app.signer.clone(), app.processor.clone());
        let (report, incident_id, reference) =
            (report.clone(), incident_id.clone(), reference.clone());
        let dry_run = options.dry_run;
        tokio::task::spawn_blocking(move || {
            let ctx = NoticeContext {
                incident_id: &incident_id,
                reference: &reference,
                processor: &processor,
                now,
                affected_clients: affected.len(),
            };
            affected
                .into_par_iter()
                .filter_map(|(client_id, systems)| {
                    let client = registry.client(&client_id)?;
                    let notice = draft_notice(&report, client, &systems, &registry, &ctx);
                    Some(prepare(notice, client, &registry, &signer, dry_run))
                })
                .collect::<Vec<Prepared>>()
        })
        .await?
    };

    let status = if options.dry_run { 200 } else { 201 };
    let response = response_body(
        &incident_id,
        &reference,
        options.dry_run,
        &report,
        &prepared,
    );
    if options.dry_run {
        return Ok(Filed {
            status,
            body: response,
        });
    }

    let audit = NewAuditEntry {
        at: now,
        actor: audit::token_actor(caller),
        action: "report.filed".into(),
        subject: incident_id.as_str().to_owned(),
        details: json!({
            "reference": reference,
            "affected_clients": response["affected_clients"],
            "held": response["held"],
        }),
    };
    let incident = NewIncident {
        id: incident_id,
        reference,
        became_aware_at: report.became_aware_at,
        summary: report.summary.clone(),
        report: report_json,
        reported_by: caller.name.clone(),
        created_at: now,
        notices: prepared.into_iter().map(|p| p.notice).collect(),
        idempotency: options
            .idempotency_key
            .as_ref()
            .map(|key| IdempotencyRecord {
                token_id: caller.id.clone(),
                key: key.clone(),
                request_digest: request_digest.clone(),
                status,
                response: response.clone(),
            }),
        audit,
    };
    match app.store.record_incident(&incident).await {
        Ok(()) => {
            // Wake an idle delivery worker now rather than at its next poll.
            app.outbox_ready.notify_one();
            Ok(Filed {
                status,
                body: response,
            })
        }
        // A concurrent retry with the same key won the race: answer as it did.
        Err(StoreError::IdempotencyConflict) => {
            let key = options.idempotency_key.as_deref().unwrap_or_default();
            replay(app, caller, key, &request_digest)
                .await?
                .ok_or(FileError::Store(StoreError::IdempotencyConflict))
        }
        Err(e) => Err(e.into()),
    }
}

async fn replay(
    app: &App,
    caller: &TokenRecord,
    key: &str,
    request_digest: &str,
) -> Result<Option<Filed>, FileError> {
    match app.store.idempotent_response(&caller.id, key).await? {
        Some(stored) if stored.request_digest == request_digest => Ok(Some(Filed {
            status: stored.status,
            body: stored.response,
        })),
        Some(_) => Err(FileError::IdempotencyKeyReused),
        None => Ok(None),
    }
}

/// Validates one draft against the canonical schema and the client's profile;
/// a valid notice is signed and gets its outbox rows, an invalid one is held.
fn prepare(
    notice: crate::notice::Notice,
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
    status: NoticeStatus,
    notify_by: chrono::DateTime<Utc>,
    errors: &'a [FieldError],
    deliveries: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    notice: Option<&'a Value>,
}

fn response_body(
    incident_id: &IncidentId,
    reference: &str,
    dry_run: bool,
    report: &Report,
    prepared: &[Prepared],
) -> Value {
    let mut outcomes: Vec<ClientOutcome> = prepared
        .iter()
        .map(|p| ClientOutcome {
            client_id: &p.notice.client_id,
            notice_id: p.notice.id.as_str(),
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
        "incident_id": incident_id,
        "reference": reference,
        "dry_run": dry_run,
        "became_aware_at": report.became_aware_at,
        "affected_clients": outcomes.len(),
        "queued": outcomes.len() - held,
        "held": held,
        "clients": outcomes,
    })
}
