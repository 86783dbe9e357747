//! The incident page's follow-up forms, over the same use case as
//! `POST /v1/incidents/{id}/updates`, `/close` and `/retract`: `action` is
//! `preview` (a dry run, shown with the New report form's preview) or
//! `send`. Supplying a held notice's missing facts is an update whose merge
//! patch sets just those facts; the held client's notice then goes out.
//! [`run`] is shared with the update form ([`super::update`]).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::json;

use super::{load, missing_fields, page, Forms};
use crate::domain::IncidentId;
use crate::service::accounts::Session;
use crate::service::reporting::{follow_up, FileError, FollowUp, FollowUpRequest, Outcome};
use crate::validation::FieldError;
use crate::web::form::PostedForm;
use crate::web::pages::report::fields;
use crate::web::pages::report::Preview;
use crate::web::session::{check_csrf, StaffSession};
use crate::web::{PageError, WebState};

/// `POST /incidents/{id}/facts`
pub async fn supply_facts(
    State(state): State<WebState>,
    StaffSession(session): StaffSession,
    Path(id): Path<String>,
    posted: PostedForm,
) -> Result<Response, PageError> {
    check_csrf(&posted, &session.csrf_token)?;
    let overview = load(&state, &id).await?;
    let values = fields::values_of(posted.pairs());
    let patch = fields::patch_of(&missing_fields(&overview.held_errors), &values);
    let forms = Forms {
        form: Some("facts"),
        values,
        ..Forms::default()
    };
    submit(state, session, id, FollowUp::Update, &patch, &posted, forms).await
}

/// `POST /incidents/{id}/close`
pub async fn close(
    State(state): State<WebState>,
    StaffSession(session): StaffSession,
    Path(id): Path<String>,
    posted: PostedForm,
) -> Result<Response, PageError> {
    check_csrf(&posted, &session.csrf_token)?;
    let forms = Forms {
        form: Some("close"),
        ..Forms::default()
    };
    submit(
        state,
        session,
        id,
        FollowUp::Close,
        &json!({}),
        &posted,
        forms,
    )
    .await
}

/// `POST /incidents/{id}/retract`
pub async fn retract(
    State(state): State<WebState>,
    StaffSession(session): StaffSession,
    Path(id): Path<String>,
    posted: PostedForm,
) -> Result<Response, PageError> {
    check_csrf(&posted, &session.csrf_token)?;
    let reason = posted.get("reason").unwrap_or_default().to_owned();
    let forms = Forms {
        form: Some("retract"),
        reason: reason.clone(),
        ..Forms::default()
    };
    let body = json!({ "reason": reason });
    submit(state, session, id, FollowUp::Retract, &body, &posted, forms).await
}

/// Previews or sends the follow-up `kind` with `body` (what the API would
/// be sent), showing the page again with the preview or the errors.
async fn submit(
    state: WebState,
    session: Session,
    id: String,
    kind: FollowUp,
    body: &serde_json::Value,
    posted: &PostedForm,
    mut forms: Forms,
) -> Result<Response, PageError> {
    let status = match run(&state, &session, &id, kind, body, posted).await? {
        Submitted::Sent => {
            let done = match kind {
                FollowUp::Update => "sent",
                FollowUp::Close => "closed",
                FollowUp::Retract => "retracted",
            };
            return Ok(Redirect::to(&format!("/incidents/{id}?done={done}")).into_response());
        }
        Submitted::Previewed(preview) => {
            forms.preview = Some(preview);
            StatusCode::OK
        }
        Submitted::Refused(errors) => {
            forms.errors = errors;
            StatusCode::UNPROCESSABLE_ENTITY
        }
    };
    let detail = load(&state, &id).await?;
    let html = page(&state, &session, &detail, forms).await?;
    Ok((status, html).into_response())
}

/// What a follow-up form came to.
pub(super) enum Submitted {
    Sent,
    Previewed(Preview),
    /// Refused, with what to correct.
    Refused(Vec<FieldError>),
}

/// Runs the follow-up `kind` of incident `id` with `body` through the same
/// use case as the API: a dry run when `action` is `preview`, for real when
/// it is `send`.
pub(super) async fn run(
    state: &WebState,
    session: &Session,
    id: &str,
    kind: FollowUp,
    body: &serde_json::Value,
    posted: &PostedForm,
) -> Result<Submitted, PageError> {
    let incident_id = IncidentId::parse(id).map_err(|_| PageError::NotFound)?;
    let sending = posted.get("action") == Some("send");
    let bytes = serde_json::to_vec(body).map_err(PageError::internal)?;
    let outcome = match FollowUpRequest::parse(kind, &bytes) {
        Ok(request) => {
            follow_up(
                &state.app.services,
                &session.caller,
                &incident_id,
                request,
                !sending,
                None,
            )
            .await
        }
        Err(e) => Err(e),
    };
    match outcome {
        Ok(Outcome::Done(_) | Outcome::Earlier(_)) if sending => Ok(Submitted::Sent),
        Ok(Outcome::Done(preview)) => {
            Ok(Submitted::Previewed(Preview::of(state, &preview.clients)))
        }
        Ok(Outcome::Earlier(_)) => Err(PageError::internal(anyhow::anyhow!(
            "a preview has no idempotency key"
        ))),
        Err(FileError::IncidentNotFound) => Err(PageError::NotFound),
        Err(e) => Ok(Submitted::Refused(match e {
            FileError::Intake(crate::intake::IntakeError::Invalid(errors))
            | FileError::UnknownReference(errors)
            | FileError::InvalidBody(errors) => errors,
            FileError::Store(_) | FileError::Join(_) => return Err(PageError::internal(e)),
            other => vec![FieldError::new("", other.to_string())],
        })),
    }
}
