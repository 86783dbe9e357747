//! The incident page, linked from the board: the incident's versions, how
//! many notices and deliveries are in each status and, per client, its
//! notices, their deliveries and every attempt (status, time, an excerpt of
//! the response), a page of clients at a time (keyset paging, as the
//! admin clients list); a replay button on each dead or disabled delivery;
//! the held notices with the facts they lack and a form to supply them; and
//! the close and retract forms, and a link to the update form
//! ([`update`]). Every follow-up is previewed first, with the New report
//! form's preview. A page is a fixed number of store
//! queries however many clients the incident has.

mod follow_up;
mod replay;
pub mod update;

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Html;
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::report::fields::{self, Field, Values};
use super::report::Preview;
use crate::domain::{ClientId, DeliveryStatus, IncidentId, IncidentStatus};
use crate::service::accounts::Session;
use crate::service::deliveries;
use crate::service::incidents;
use crate::service::reporting::affectable;
use crate::store::{DeliveryAttempt, IncidentNotice, IncidentOverview};
use crate::validation::FieldError;
use crate::web::session::StaffSession;
use crate::web::templates::render;
use crate::web::{PageError, WebState};

pub use follow_up::{close, retract, supply_facts};
pub use replay::replay;

/// How much of an attempt's response the page shows.
const EXCERPT_CHARS: usize = 200;

#[derive(Deserialize)]
pub struct Shown {
    /// What was just done, to confirm it: `replayed`, `sent`, `updated`,
    /// `closed`, `retracted`.
    done: Option<String>,
    /// The client id the page of clients starts after.
    after: Option<String>,
}

/// `GET /incidents/{id}`
pub async fn show(
    State(state): State<WebState>,
    StaffSession(session): StaffSession,
    Path(id): Path<String>,
    Query(query): Query<Shown>,
) -> Result<Html<String>, PageError> {
    let overview = load(&state, &id).await?;
    let forms = Forms {
        done: query.done.filter(|d| DONE.contains(&d.as_str())),
        // A cursor that is no client id starts the clients from the first.
        after: query.after.as_deref().and_then(|a| ClientId::parse(a).ok()),
        ..Forms::default()
    };
    page(&state, &session, &overview, forms).await
}

const DONE: [&str; 5] = ["replayed", "sent", "updated", "closed", "retracted"];

async fn load(state: &WebState, id: &str) -> Result<IncidentOverview, PageError> {
    let id = IncidentId::parse(id).map_err(|_| PageError::NotFound)?;
    incidents::overview(&state.app.services, &id)
        .await
        .map_err(PageError::internal)?
        .ok_or(PageError::NotFound)
}

/// What the forms of the page show besides the incident: values kept,
/// errors, a preview of the follow-up about to be sent.
#[derive(Default)]
struct Forms {
    done: Option<String>,
    /// The client the page of clients starts after; none for the first page.
    after: Option<ClientId>,
    /// Which form the preview and errors belong to: `facts`, `close` or `retract`.
    form: Option<&'static str>,
    values: Values,
    errors: Vec<FieldError>,
    preview: Option<Preview>,
    reason: String,
}

async fn page(
    state: &WebState,
    session: &Session,
    overview: &IncidentOverview,
    forms: Forms,
) -> Result<Html<String>, PageError> {
    let services = &state.app.services;
    let summary = &overview.summary;
    let id = IncidentId::parse(&summary.id).map_err(PageError::internal)?;
    let shown = incidents::clients_page(services, &id, forms.after.as_ref())
        .await
        .map_err(PageError::internal)?
        .ok_or(PageError::NotFound)?;
    let delivery_ids: Vec<String> = shown
        .notices
        .iter()
        .flat_map(|n| n.deliveries.iter().map(|d| d.delivery_id.clone()))
        .collect();
    let mut attempts = deliveries::attempts_of(services, &delivery_ids)
        .await
        .map_err(PageError::internal)?;
    let mut clients: Vec<ClientView> = Vec::new();
    for notice in &shown.notices {
        let view = NoticeView::of(notice, &mut attempts);
        match clients.last_mut() {
            Some(client) if client.client_id == notice.client_id => client.notices.push(view),
            _ => clients.push(ClientView {
                client_id: notice.client_id.clone(),
                notices: vec![view],
            }),
        }
    }
    let held = &overview.held;
    let missing = missing_fields(&overview.held_errors);
    let facts = fields::field_views(
        &missing,
        &forms.values,
        if forms.form == Some("facts") {
            &forms.errors
        } else {
            &[]
        },
        &affectable(services),
    );
    let errors: Vec<fields::ErrorView> = forms
        .errors
        .iter()
        .map(|e| match (e.path.as_str(), fields::field_at(&e.path)) {
            // The retract form's one field.
            ("/reason", _) => fields::ErrorView {
                field_id: Some("retract-reason".into()),
                label: "Retraction reason".to_owned(),
                message: e.message.clone(),
            },
            (_, field) => fields::ErrorView {
                field_id: field.map(|f| fields::field_id(f.pointer)),
                label: field.map_or("Incident", |f| f.label).to_owned(),
                message: e.message.clone(),
            },
        })
        .collect();
    let next = shown
        .next_after
        .map(|after| format!("/incidents/{}?{}", summary.id, query("after", &after)));
    let counts = |counts: Vec<(&'static str, u64)>| {
        counts
            .into_iter()
            .map(|(status, count)| context! { status, count })
            .collect::<Vec<_>>()
    };
    render(
        "incident.html",
        Some(session),
        context! {
            title => format!("Incident {}", summary.reference),
            id => summary.id,
            reference => summary.reference,
            status => summary.status.as_str(),
            open => summary.status == IncidentStatus::Open,
            summary => summary.summary,
            became_aware_at => time(summary.became_aware_at),
            reported_by => overview.reported_by,
            clients_total => summary.clients,
            notice_counts => counts(overview.notices.iter().map(|(s, n)| (s.as_str(), *n)).collect()),
            delivery_counts => counts(overview.deliveries.iter().map(|(s, n)| (s.as_str(), *n)).collect()),
            paged => forms.after.is_some(),
            next,
            versions => overview.versions.iter().map(|v| context! {
                version => v.version,
                action => v.action,
                created_by => v.created_by,
                created_at => time(v.created_at),
            }).collect::<Vec<_>>(),
            clients,
            held_clients => overview.held_clients,
            held => held.iter().map(|h| context! {
                client_id => h.client_id,
                errors => h.errors.iter().map(|e| (e.path.clone(), e.message.clone())).collect::<Vec<_>>(),
            }).collect::<Vec<_>>(),
            facts,
            form => forms.form,
            errors,
            preview => forms.preview,
            reason => forms.reason,
            done => forms.done,
        },
    )
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

#[derive(Serialize)]
struct ClientView {
    client_id: String,
    notices: Vec<NoticeView>,
}

#[derive(Serialize)]
struct NoticeView {
    notice_id: String,
    kind: &'static str,
    sequence: u32,
    status: &'static str,
    notify_by: String,
    deliveries: Vec<DeliveryView>,
}

#[derive(Serialize)]
struct DeliveryView {
    delivery_id: String,
    channel: &'static str,
    target: String,
    status: &'static str,
    replayable: bool,
    attempts: Vec<AttemptView>,
}

#[derive(Serialize)]
struct AttemptView {
    attempt: u32,
    at: String,
    outcome: &'static str,
    status_code: Option<u16>,
    excerpt: String,
}

impl NoticeView {
    /// The notice's view, taking its deliveries' attempts out of `attempts`
    /// (by delivery id).
    fn of(notice: &IncidentNotice, attempts: &mut HashMap<String, Vec<DeliveryAttempt>>) -> Self {
        let deliveries = notice
            .deliveries
            .iter()
            .map(|d| DeliveryView {
                delivery_id: d.delivery_id.clone(),
                channel: d.channel.as_str(),
                target: d.target.clone(),
                status: d.status.as_str(),
                replayable: matches!(d.status, DeliveryStatus::Dead | DeliveryStatus::Disabled),
                attempts: attempts
                    .remove(&d.delivery_id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|a| AttemptView {
                        attempt: a.attempt,
                        at: time(a.started_at),
                        outcome: a.outcome.as_str(),
                        status_code: a.status_code,
                        excerpt: excerpt(&a.detail),
                    })
                    .collect(),
            })
            .collect();
        NoticeView {
            notice_id: notice.notice_id.clone(),
            kind: notice.kind.as_str(),
            sequence: notice.sequence,
            status: notice.status.as_str(),
            notify_by: time(notice.notify_by),
            deliveries,
        }
    }
}

/// `name=value`, URL-encoded.
fn query(name: &str, value: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair(name, value)
        .finish()
}

/// The start of an attempt's response (or error), on a character boundary.
fn excerpt(detail: &str) -> String {
    match detail.char_indices().nth(EXCERPT_CHARS) {
        Some((end, _)) => format!("{}…", &detail[..end]),
        None => detail.to_owned(),
    }
}

/// The report fields whose facts the held notices lack (`errors`, every
/// way in which they fail): a notice's `/data/…` is the report's `/…`.
fn missing_fields(errors: &[FieldError]) -> Vec<&'static Field> {
    let mut missing: Vec<&'static Field> = Vec::new();
    for error in errors {
        let path = error.path.strip_prefix("/data").unwrap_or(&error.path);
        if let Some(field) = fields::field_at(path) {
            if !missing.iter().any(|f| f.pointer == field.pointer) {
                missing.push(field);
            }
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_cuts_long_responses_on_a_character_boundary() {
        assert_eq!(excerpt("ok"), "ok");
        let long = "é".repeat(EXCERPT_CHARS + 5);
        let cut = excerpt(&long);
        assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn a_held_notice_s_failing_field_is_a_report_field() {
        let field = fields::field_at("/measures/in_place").unwrap();
        assert_eq!(field.pointer, "/measures/in_place");
    }
}
