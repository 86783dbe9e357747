//! A new report: the incident's first version and every affected client's
//! initial notice.

use chrono::{DateTime, Datelike, Utc};
use serde_json::{json, Value};

use super::{
    held, outcomes, require_delay_reason, whole_second, ClientOutcome, Drafting, FileError,
    Idempotency, Outcome, Remembered,
};
use crate::domain::audit::{self, NewAuditEntry};
use crate::domain::{Caller, IncidentId, Report};
use crate::enrichment::{affected_clients, draft_notice};
use crate::metrics::FILED_REPORT;
use crate::service::Services;
use crate::store::NewIncident;

/// A filed report (or, on a dry run, what filing it would do).
pub struct Filed {
    pub incident_id: IncidentId,
    pub reference: String,
    pub dry_run: bool,
    pub became_aware_at: DateTime<Utc>,
    pub clients: Vec<ClientOutcome>,
}

/// Files `report` (as staff sent it: `facts`) for `caller`: drafts, checks
/// and signs each affected client's initial notice and stores the incident
/// with its outbox in one transaction. A dry run stores nothing and keeps
/// each notice in the outcome as a preview.
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
    let drafted = report.clone();
    let prepared = drafting
        .prepare_all(
            affected.into_iter().collect(),
            dry_run,
            move |(client_id, systems), ctx, registry| {
                let client = registry.client(&client_id)?;
                let notice = draft_notice(&drafted, client, &systems, registry, ctx);
                Some((notice, 1, client.clone()))
            },
        )
        .await?;
    require_delay_reason(&prepared, &report, now)?;

    let filed = Filed {
        incident_id: incident_id.clone(),
        reference: reference.clone(),
        dry_run,
        became_aware_at: report.became_aware_at,
        clients: outcomes(&prepared),
    };
    if dry_run {
        return Ok(Outcome::Done(filed));
    }

    let audit = NewAuditEntry {
        at: now,
        actor: audit::token_actor(caller),
        action: "report.filed".into(),
        subject: incident_id.as_str().to_owned(),
        details: json!({
            "reference": reference,
            "affected_clients": filed.clients.len(),
            "held": held(&filed.clients),
        }),
    };
    let incident = NewIncident {
        id: incident_id,
        reference,
        became_aware_at: report.became_aware_at,
        summary: report.summary.clone(),
        report: facts,
        reported_by: caller.name.clone(),
        created_at: now,
        notices: prepared.into_iter().map(|p| p.notice).collect(),
        idempotency: remembered.remember(&filed),
        audit,
    };
    let stored = services.store.record_incident(&incident).await;
    if stored.is_ok() {
        let (took, held) = (started.elapsed(), held(&filed.clients));
        services
            .metrics
            .filed(FILED_REPORT, took, incident.notices.len(), held);
    }
    remembered.answer(services, stored, filed).await
}
