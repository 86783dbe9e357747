//! The New report form. Preview files the report as a dry run (the same
//! use case as `POST /v1/reports?dry_run=true`) and shows every affected
//! client, which notices would be held and why, and the email each client
//! would receive; File files it. The input is kept through both and through
//! errors, which appear next to their fields. A hidden filing key makes File
//! idempotent: pressing it twice files one report.
//!
//! Save draft stores the form as it is, unchecked (`drafts.rs`); the page
//! lists the saved drafts, and one opened from there fills the form again,
//! with its filing key, and is deleted once filed.

pub mod drafts;
pub mod fields;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::domain::{NoticeStatus, NoticeType};
use crate::intake::{parse_report, IntakeError};
use crate::service::accounts::Session;
use crate::service::drafts::{self as saved_drafts, DraftRevision};
use crate::service::reporting::{
    affectable, file_report, preview_email, Answer, ClientOutcomes, FileError, Filed, Idempotency,
    Outcome,
};
use crate::validation::FieldError;
use crate::web::form::PostedForm;
use crate::web::session::{check_csrf, StaffSession};
use crate::web::templates::render;
use crate::web::{PageError, WebState};
use drafts::{DraftQuery, DraftView};
use fields::Values;

/// `GET /reports/new`, or with `?draft=` the form a draft saved.
pub async fn show(
    State(state): State<WebState>,
    StaffSession(session): StaffSession,
    Query(query): Query<DraftQuery>,
) -> Result<Html<String>, PageError> {
    let services = &state.app.services;
    let mut form = match &query.draft {
        Some(id) => {
            let draft = saved_drafts::get(services, id)
                .await
                .map_err(PageError::internal)?
                .ok_or(PageError::NotFound)?;
            let revision = DraftRevision {
                id: draft.id,
                revision: draft.revision,
            };
            Form::new(
                draft.fields.into_iter().collect(),
                Some(&draft.filing_key),
                Some(revision),
            )
        }
        None => {
            let mut values = Values::new();
            values.insert("/reporter/email".into(), vec![session.caller.name.clone()]);
            Form::new(values, None, None)
        }
    };
    form.status = query.status();
    form.drafts = saved_drafts::list(services)
        .await
        .map_err(PageError::internal)?
        .iter()
        .map(DraftView::of)
        .collect();
    form.render(&state, &session, None)
}

/// `POST /reports/new`: `action` is `preview` or `file`; `add_row` (a
/// group's "Add" button) shows the form again with one more row.
pub async fn submit(
    State(state): State<WebState>,
    StaffSession(session): StaffSession,
    posted: PostedForm,
) -> Result<Response, PageError> {
    check_csrf(&posted, &session.csrf_token)?;
    let mut form = Form::new(
        fields::values_of(posted.pairs()),
        posted.get("filing_key"),
        DraftRevision::parse(
            posted.get("draft_id").unwrap_or_default(),
            posted.get("draft_revision").unwrap_or_default(),
        ),
    );
    let filing = match posted.get("action") {
        Some("save") => return form.save(&state, &session).await,
        action => action == Some("file"),
    };
    if let Some(group) = posted.get("add_row") {
        if fields::add_row(&mut form.values, group) {
            return Ok(form.render(&state, &session, None)?.into_response());
        }
    }
    let report = match fields::to_report(&form.values) {
        Ok(report) => report,
        Err(errors) => return form.refused(&state, &session, errors),
    };
    let body = serde_json::to_vec(&report).map_err(PageError::internal)?;
    let (report, facts) = match parse_report(&body) {
        Ok(parsed) => parsed,
        Err(IntakeError::Invalid(errors)) => return form.refused(&state, &session, errors),
        Err(e) => return Err(PageError::internal(e)),
    };
    let key = format!("web-report-{}", form.filing_key);
    let idempotency = filing.then(|| Idempotency {
        key: &key,
        digest: hex::encode(Sha256::digest(&body)),
        render: &filed_answer,
    });
    let services = &state.app.services;
    match file_report(
        services,
        &session.caller,
        report,
        facts,
        !filing,
        idempotency,
    )
    .await
    {
        Ok(Outcome::Done(filed)) if filing => {
            form.filed(&state).await;
            Ok(filed_redirect(&filed.reference))
        }
        Ok(Outcome::Done(preview)) => {
            let preview = Preview::of(&state, &preview.clients);
            Ok(form
                .render(&state, &session, Some(preview))?
                .into_response())
        }
        Ok(Outcome::Earlier(answer)) => {
            form.filed(&state).await;
            Ok(filed_redirect(
                answer.body["reference"].as_str().unwrap_or_default(),
            ))
        }
        Err(
            FileError::Intake(IntakeError::Invalid(errors)) | FileError::UnknownReference(errors),
        ) => form.refused(&state, &session, errors),
        Err(FileError::IdempotencyKeyReused) => {
            form.filing_key = ulid::Ulid::new().to_string();
            form.refused(
                &state,
                &session,
                vec![FieldError::new(
                    "",
                    "this form was already filed with other content; check the board, then file again if it is a new report",
                )],
            )
        }
        Err(e) => Err(PageError::internal(e)),
    }
}

/// What an earlier filing with the same key is answered with.
fn filed_answer(filed: &Filed) -> Answer {
    Answer {
        status: 201,
        body: json!({ "incident_id": filed.incident_id, "reference": filed.reference }),
    }
}

fn filed_redirect(reference: &str) -> Response {
    let query: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("filed", reference)
        .finish();
    Redirect::to(&format!("/?{query}")).into_response()
}

struct Form {
    values: Values,
    errors: Vec<FieldError>,
    filing_key: String,
    /// The saved draft the form was loaded from, if any.
    draft: Option<DraftRevision>,
    /// The saved drafts, listed above a form just opened.
    drafts: Vec<DraftView>,
    /// What was just done (a draft saved or discarded), if anything.
    status: Option<&'static str>,
}

impl Form {
    /// The form with `values`, its filing key kept if well formed.
    fn new(values: Values, filing_key: Option<&str>, draft: Option<DraftRevision>) -> Self {
        Form {
            values,
            errors: Vec::new(),
            filing_key: filing_key
                .filter(|k| ulid::Ulid::from_string(k).is_ok())
                .map_or_else(|| ulid::Ulid::new().to_string(), str::to_owned),
            draft,
            drafts: Vec::new(),
            status: None,
        }
    }

    /// Saves the form as it is, unchecked, and opens the draft saved.
    async fn save(self, state: &WebState, session: &Session) -> Result<Response, PageError> {
        let saved = saved_drafts::save(
            &state.app.services,
            &session.caller,
            self.draft.as_ref(),
            self.values.into_iter().collect(),
            &self.filing_key,
        )
        .await
        .map_err(PageError::internal)?;
        let done = if saved.separate { "separate" } else { "saved" };
        Ok(Redirect::to(&format!("/reports/new?draft={}&done={done}", saved.id)).into_response())
    }

    /// The report is filed: the draft it came from goes. A draft left
    /// behind is only logged: the report is filed, and the draft's filing
    /// key would not file it again.
    async fn filed(&self, state: &WebState) {
        if let Some(draft) = &self.draft {
            if let Err(e) = saved_drafts::delete(&state.app.services, draft).await {
                let error = crate::errors::chain(&e);
                tracing::warn!(draft = %draft.id, %error, "the filed draft was not deleted");
            }
        }
    }

    fn render(
        &self,
        state: &WebState,
        session: &Session,
        preview: Option<Preview>,
    ) -> Result<Html<String>, PageError> {
        let affectable = affectable(&state.app.services);
        let (sections, errors) = fields::view(&self.values, &self.errors, &affectable);
        render(
            "report.html",
            Some(session),
            context! {
                title => "New report",
                sections,
                errors,
                preview,
                filing_key => self.filing_key,
                draft => self.draft.as_ref().map(|d| context! { id => d.id, revision => d.revision }),
                drafts => self.drafts,
                status => self.status,
            },
        )
    }

    /// The form again, with `errors` next to their fields.
    fn refused(
        mut self,
        state: &WebState,
        session: &Session,
        errors: Vec<FieldError>,
    ) -> Result<Response, PageError> {
        self.errors = errors;
        let html = self.render(state, session, None)?;
        Ok((StatusCode::UNPROCESSABLE_ENTITY, html).into_response())
    }
}

/// A dry run as the preview shows it: of a report here, of a follow-up on
/// the incident page.
#[derive(Serialize)]
pub struct Preview {
    /// Every client, or above `LISTED_CLIENTS` only those whose notice
    /// would be held.
    clients: Vec<PreviewClient>,
    affected: usize,
    held: usize,
}

#[derive(Serialize)]
struct PreviewClient {
    client_id: String,
    /// Which notice the client would get.
    notice: &'static str,
    held: bool,
    notify_by: String,
    /// Why a held notice fails its client's agreed profile: field and message.
    errors: Vec<(String, String)>,
    channels: Vec<&'static str>,
    language: Option<&'static str>,
    subject: Option<String>,
    text: Option<String>,
}

impl Preview {
    pub fn of(state: &WebState, outcomes: &ClientOutcomes) -> Self {
        let clients: Vec<PreviewClient> = outcomes
            .listed
            .iter()
            .map(|c| {
                let email = preview_email(&state.app.services, c);
                let mut channels: Vec<&'static str> =
                    c.deliveries.iter().map(|d| d.channel.as_str()).collect();
                channels.dedup();
                PreviewClient {
                    client_id: c.client_id.to_string(),
                    notice: match c.kind {
                        NoticeType::Initial => "First notice",
                        NoticeType::Update => "Update",
                        NoticeType::Final => "Final notice",
                        NoticeType::Retraction => "Retraction",
                    },
                    held: c.status == NoticeStatus::Held,
                    notify_by: c.notify_by.format("%Y-%m-%d %H:%M UTC").to_string(),
                    errors: c
                        .errors
                        .iter()
                        .map(|e| (e.path.clone(), e.message.clone()))
                        .collect(),
                    channels,
                    language: email.as_ref().map(|e| e.language),
                    subject: email.as_ref().map(|e| e.subject.clone()),
                    text: email.map(|e| e.text),
                }
            })
            .collect();
        Preview {
            affected: outcomes.affected,
            held: outcomes.held,
            clients,
        }
    }
}
