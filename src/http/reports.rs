use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::auth::Staff;
use super::body::JsonBody;
use super::error::ApiError;
use super::request;
use crate::app::App;
use crate::intake::parse_report;
use crate::service::reporting::{
    file_report, Answer, ClientOutcome, ClientOutcomes, Filed, Idempotency, Outcome,
};
use crate::validation::FieldError;

#[derive(Deserialize)]
pub struct FileQuery {
    #[serde(default)]
    dry_run: bool,
}

/// `POST /v1/reports`
pub async fn file(
    State(app): State<Arc<App>>,
    Staff(caller): Staff,
    query: Result<Query<FileQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_query", "invalid query string")
            .with_details(vec![FieldError::new("dry_run", e.body_text())])
    })?;
    let key = request::idempotency_key(&headers)?;
    let idempotency = key.as_deref().map(|key| Idempotency {
        key,
        digest: hex::encode(Sha256::digest(&body)),
        render: &filed_answer,
    });
    let (report, facts) =
        parse_report(&body).map_err(crate::service::reporting::FileError::from)?;
    let outcome = file_report(
        &app.services,
        &caller,
        report,
        facts,
        query.dry_run,
        idempotency,
    )
    .await?;
    Ok(answer(outcome, filed_answer))
}

/// The response to a filing or follow-up: the outcome rendered, or an
/// earlier request's answer repeated as it was.
pub(super) fn answer<T>(outcome: Outcome<T>, render: fn(&T) -> Answer) -> Response {
    let Answer { status, body } = match outcome {
        Outcome::Done(done) => render(&done),
        Outcome::Earlier(earlier) => earlier,
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED);
    (status, Json(body)).into_response()
}

fn filed_answer(filed: &Filed) -> Answer {
    let mut body = json!({
        "incident_id": filed.incident_id,
        "reference": filed.reference,
        "dry_run": filed.dry_run,
        "became_aware_at": filed.became_aware_at,
        "affected_clients": filed.clients.affected,
    });
    json_patch::merge(&mut body, &clients_json(&filed.clients));
    if !filed.clients.every_client && !filed.dry_run {
        body["clients_url"] = json!(format!("/v1/incidents/{}/clients", filed.incident_id));
    }
    Answer {
        status: if filed.dry_run { 200 } else { 201 },
        body,
    }
}

/// The per-client part of an answer: how many notices were queued and how
/// many held, and every client's outcome or, for a large fan-out, the held
/// notices only (the rest are paged by `GET /v1/incidents/{id}/clients`).
pub(super) fn clients_json(clients: &ClientOutcomes) -> Value {
    let listed: Vec<Value> = clients.listed.iter().map(client_json).collect();
    let list = if clients.every_client {
        "clients"
    } else {
        "held_notices"
    };
    json!({
        "queued": clients.queued(),
        "held": clients.held,
        list: listed,
    })
}

/// One client's outcome, its notice included on a dry run.
fn client_json(c: &ClientOutcome) -> Value {
    let mut client = json!({
        "client_id": c.client_id,
        "notice_id": c.notice_id,
        "type": c.kind,
        "sequence": c.sequence,
        "status": c.status,
        "notify_by": c.notify_by,
        "errors": c.errors,
        "deliveries": c.deliveries.iter().map(|d| json!({
            "delivery_id": d.id,
            "channel": d.channel,
            "target": d.target,
        })).collect::<Vec<_>>(),
    });
    if let Some(notice) = &c.notice {
        client["notice"] = notice.clone();
    }
    client
}
