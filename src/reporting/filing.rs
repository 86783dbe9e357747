//! A new report: the incident's first version and every affected client's
//! initial notice.

use chrono::Datelike;
use rayon::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::{outcomes, prepare, whole_second, FileError, FileOptions, Filed, Prepared, Request};
use crate::app::App;
use crate::domain::audit::{self, NewAuditEntry};
use crate::domain::Caller;
use crate::domain::IncidentId;
use crate::enrichment::{affected_clients, draft_notice, NoticeContext};
use crate::intake::parse_report;
use crate::store::NewIncident;

pub async fn file_report(
    app: &App,
    caller: &Caller,
    body: &[u8],
    options: FileOptions,
) -> Result<Filed, FileError> {
    let request = Request {
        caller,
        key: options.idempotency_key.as_deref(),
        digest: hex::encode(Sha256::digest(body)),
    };
    if let Some(earlier) = request.earlier(app).await? {
        return Ok(earlier);
    }

    let (report, report_json) = parse_report(body)?;
    let registry = app.registry();
    let affected =
        affected_clients(&report.affected, &registry).map_err(FileError::UnknownReference)?;

    let now = whole_second(app);
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
    let mut response = json!({
        "incident_id": incident_id,
        "reference": reference,
        "dry_run": options.dry_run,
        "became_aware_at": report.became_aware_at,
        "affected_clients": prepared.len(),
    });
    json_patch::merge(&mut response, &outcomes(&prepared));
    let answer = Filed {
        status,
        body: response,
    };
    if options.dry_run {
        return Ok(answer);
    }

    let audit = NewAuditEntry {
        at: now,
        actor: audit::token_actor(caller),
        action: "report.filed".into(),
        subject: incident_id.as_str().to_owned(),
        details: json!({
            "reference": reference,
            "affected_clients": answer.body["affected_clients"],
            "held": answer.body["held"],
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
        idempotency: request.remember(&answer),
        audit,
    };
    let stored = app.store.record_incident(&incident).await;
    request.answer(app, stored, answer).await
}
