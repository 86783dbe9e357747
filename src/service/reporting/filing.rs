//! A new report: the incident's first version and every affected client's
//! initial notice.

use chrono::{DateTime, Datelike, Utc};
use serde_json::{json, Value};

use super::{
    whole_second, ClientOutcomes, Drafting, FileError, Idempotency, Outcome, Remembered, Tally,
    LISTED_CLIENTS,
};
use crate::domain::audit::{self, NewAuditEntry};
use crate::domain::{Caller, IncidentId, Report};
use crate::enrichment::{affected_clients, draft_notice};
use crate::metrics::FILED_REPORT;
use crate::service::Services;
use crate::store::{FilingClose, NewIncident};

/// A filed report (or, on a dry run, what filing it would do).
pub struct Filed {
    pub incident_id: IncidentId,
    pub reference: String,
    pub dry_run: bool,
    pub became_aware_at: DateTime<Utc>,
    pub clients: ClientOutcomes,
}

/// Files `report` (as staff sent it: `facts`) for `caller`: drafts, checks
/// and signs each affected client's initial notice, a chunk at a time, and
/// stores each chunk with its outbox rows into the incident's one filing,
/// committed (durable, and visible to the workers) only once every notice
/// is in. A dry run stores nothing and keeps each notice in the outcome as
/// a preview.
#[tracing::instrument(skip_all, fields(incident = tracing::field::Empty))]
pub async fn file_report(
    services: &Services,
    caller: &Caller,
    report: Report,
    facts: Value,
    dry_run: bool,
    idempotency: Option<Idempotency<'_, Filed>>,
) -> Result<Outcome<Filed>, FileError> {
    let started = std::time::Instant::now();
    let remembered = Remembered {
        caller,
        key: idempotency,
    };
    if let Some(earlier) = remembered.earlier(services).await? {
        return Ok(Outcome::Earlier(earlier));
    }

    let registry = services.registry.current();
    let affected =
        affected_clients(&report.affected, &registry).map_err(FileError::UnknownReference)?;

    let now = whole_second(services.clock.as_ref());
    let incident_id = IncidentId::generate();
    tracing::Span::current().record("incident", incident_id.as_str());
    let number = if dry_run {
        0
    } else {
        services.store.next_reference(now.year()).await?
    };
    let reference = format!("BG-{}-{number:04}", now.year());

    let drafting = Drafting {
        registry,
        signer: services.signer.clone(),
        processor: services.processor.clone(),
        incident_id: incident_id.clone(),
        reference: reference.clone(),
        now,
        affected_clients: affected.len(),
    };
    let drafting_clients = affected.len();
    let mut tally = Tally::new(now, drafting_clients <= LISTED_CLIENTS);
    let mut filing = if dry_run {
        None
    } else {
        let incident = NewIncident {
            id: incident_id.clone(),
            reference: reference.clone(),
            became_aware_at: report.became_aware_at,
            summary: report.summary.clone(),
            report: facts,
            reported_by: caller.name.clone(),
            created_at: now,
        };
        Some(services.store.begin_incident(&incident).await?)
    };
    let drafted = report.clone();
    let mut chunks = drafting.prepare_chunks(
        affected.into_iter().collect(),
        dry_run,
        move |(client_id, systems), ctx, registry| {
            let client = registry.client(&client_id)?;
            let notice = draft_notice(&drafted, client, &systems, registry, ctx);
            Some((notice, 1, client.clone()))
        },
    );
    while let Some(chunk) = chunks.next().await {
        tally.add(&chunk);
        if let Some(filing) = filing.as_mut() {
            filing
                .add_notices(chunk.into_iter().map(|p| p.notice).collect())
                .await?;
            // A long filing shows its progress; none of it is durable or
            // visible before the commit below.
            tracing::info!(
                incident_id = incident_id.as_str(),
                notices = tally.outcomes.affected,
                of = drafting_clients,
                "filing: notices written, not yet committed"
            );
        }
    }
    chunks.finish().await?;
    tally.require_delay_reason(&report)?;

    let filed = Filed {
        incident_id: incident_id.clone(),
        reference: reference.clone(),
        dry_run,
        became_aware_at: report.became_aware_at,
        clients: tally.into_outcomes(),
    };
    let Some(filing) = filing else {
        return Ok(Outcome::Done(filed));
    };

    let audit = NewAuditEntry {
        at: now,
        actor: audit::token_actor(caller),
        action: "report.filed".into(),
        subject: incident_id.as_str().to_owned(),
        details: json!({
            "reference": reference,
            "affected_clients": filed.clients.affected,
            "held": filed.clients.held,
        }),
    };
    let close = FilingClose {
        idempotency: remembered.remember(&filed),
        audit,
    };
    let stored = filing.commit(close).await;
    if stored.is_ok() {
        let clients = &filed.clients;
        services.metrics.filed(
            FILED_REPORT,
            started.elapsed(),
            clients.affected,
            clients.held,
        );
    }
    remembered.answer(services, stored, filed).await
}
