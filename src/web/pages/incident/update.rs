//! The incident's update form: every field of the report, filled in with
//! the incident's facts as they stand, for staff to add what has become
//! known and correct what turned out otherwise. What changed on the form is
//! sent as the merge patch of `POST /v1/incidents/{id}/updates`, previewed
//! first like every follow-up: which clients get an update (or, newly
//! affected, their first notice; no longer affected, a retraction), which
//! would be held and why, and each one's email.
//!
//! The form remembers the version it was filled in from: if the incident
//! changed meanwhile, it is shown again, input kept, to be checked against
//! the new version before it is previewed again.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::context;

use super::follow_up::{run, Submitted};
use super::load;
use crate::domain::{IncidentId, IncidentStatus};
use crate::service::accounts::Session;
use crate::service::incidents;
use crate::service::reporting::{affectable, FollowUp};
use crate::store::IncidentSummary;
use crate::validation::FieldError;
use crate::web::form::PostedForm;
use crate::web::pages::report::fields::{self, Values};
use crate::web::pages::report::Preview;
use crate::web::session::{check_csrf, StaffSession};
use crate::web::templates::render;
use crate::web::{PageError, WebState};

/// `GET /incidents/{id}/update`
pub async fn show(
    State(state): State<WebState>,
    StaffSession(session): StaffSession,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    // An incident no longer open takes no update: its page says so.
    let incident = load(&state, &id).await?.summary;
    if incident.status != IncidentStatus::Open {
        return Ok(Redirect::to(&format!("/incidents/{id}")).into_response());
    }
    let (version, facts) = facts(&state, &id).await?;
    let form = Form {
        values: fields::values_from(&facts),
        version,
        errors: Vec::new(),
        preview: None,
    };
    form.page(&state, &session, &incident)
}

/// `POST /incidents/{id}/update`: `action` is `preview` or `send`;
/// `add_row` shows the form again with one more row.
pub async fn submit(
    State(state): State<WebState>,
    StaffSession(session): StaffSession,
    Path(id): Path<String>,
    posted: PostedForm,
) -> Result<Response, PageError> {
    check_csrf(&posted, &session.csrf_token)?;
    let incident = load(&state, &id).await?.summary;
    let (version, facts) = facts(&state, &id).await?;
    let mut form = Form {
        values: fields::values_of(posted.pairs()),
        version,
        errors: Vec::new(),
        preview: None,
    };
    if let Some(group) = posted.get("add_row") {
        if fields::add_row(&mut form.values, group) {
            return form.page(&state, &session, &incident);
        }
    }
    let filled_in_from = posted.get("version").and_then(|v| v.parse::<u32>().ok());
    if filled_in_from != Some(version) {
        form.errors = vec![FieldError::new(
            "",
            format!(
                "the incident changed since this form was filled in (it is at version {version} now): check your changes against the incident page, then preview again"
            ),
        )];
        return form.refused(&state, &session, &incident);
    }
    let patch = match fields::update_patch(&facts, &form.values) {
        Ok(patch) => patch,
        Err(errors) => {
            form.errors = errors;
            return form.refused(&state, &session, &incident);
        }
    };
    match run(&state, &session, &id, FollowUp::Update, &patch, &posted).await? {
        Submitted::Sent => {
            Ok(Redirect::to(&format!("/incidents/{id}?done=updated")).into_response())
        }
        Submitted::Previewed(preview) => {
            form.preview = Some(preview);
            form.page(&state, &session, &incident)
        }
        Submitted::Refused(errors) => {
            form.errors = errors;
            form.refused(&state, &session, &incident)
        }
    }
}

/// The incident's current version and facts.
async fn facts(state: &WebState, id: &str) -> Result<(u32, serde_json::Value), PageError> {
    let incident_id = IncidentId::parse(id).map_err(|_| PageError::NotFound)?;
    incidents::facts(&state.app.services, &incident_id)
        .await
        .map_err(PageError::internal)?
        .ok_or(PageError::NotFound)
}

struct Form {
    values: Values,
    /// The version the form was filled in from.
    version: u32,
    errors: Vec<FieldError>,
    preview: Option<Preview>,
}

impl Form {
    fn page(
        &self,
        state: &WebState,
        session: &Session,
        summary: &IncidentSummary,
    ) -> Result<Response, PageError> {
        let (sections, errors) =
            fields::view(&self.values, &self.errors, &affectable(&state.app.services));
        let html: Html<String> = render(
            "incident_update.html",
            Some(session),
            context! {
                title => format!("Update {}", summary.reference),
                id => summary.id,
                reference => summary.reference,
                version => self.version,
                sections,
                errors,
                preview => self.preview,
            },
        )?;
        Ok(html.into_response())
    }

    /// The form again, with the errors next to their fields.
    fn refused(
        &self,
        state: &WebState,
        session: &Session,
        incident: &IncidentSummary,
    ) -> Result<Response, PageError> {
        let page = self.page(state, session, incident)?;
        Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
    }
}
