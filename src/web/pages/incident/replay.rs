//! Replaying a dead or disabled delivery from the incident page, through
//! the same use case as `POST /v1/deliveries/{id}/replay`.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};

use crate::domain::NoticeId;
use crate::service::deliveries::{self, ReplayError};
use crate::service::incidents;
use crate::web::form::PostedForm;
use crate::web::session::{check_csrf, StaffSession};
use crate::web::{PageError, WebState};

/// `POST /incidents/{id}/deliveries/{delivery_id}/replay`
pub async fn replay(
    State(state): State<WebState>,
    StaffSession(session): StaffSession,
    Path((id, delivery_id)): Path<(String, String)>,
    posted: PostedForm,
) -> Result<Response, PageError> {
    check_csrf(&posted, &session.csrf_token)?;
    // Only a delivery of this incident is replayed from its page.
    if !of_incident(&state, &id, &delivery_id).await? {
        return Err(PageError::NotFound);
    }
    match deliveries::replay(&state.app.services, &session.caller, &delivery_id).await {
        // Replayed already (pressed twice): the page shows where it stands.
        Ok(()) | Err(ReplayError::NotReplayable(_)) => {
            Ok(Redirect::to(&format!("/incidents/{id}?done=replayed")).into_response())
        }
        Err(ReplayError::NotFound) => Err(PageError::NotFound),
        Err(ReplayError::Store(e)) => Err(PageError::internal(e)),
    }
}

/// Whether delivery `delivery_id` is of a notice of incident `id`.
async fn of_incident(state: &WebState, id: &str, delivery_id: &str) -> Result<bool, PageError> {
    let services = &state.app.services;
    let Some(delivery) = deliveries::get(services, delivery_id)
        .await
        .map_err(PageError::internal)?
    else {
        return Ok(false);
    };
    let notice_id = NoticeId::parse(&delivery.notice_id).map_err(PageError::internal)?;
    Ok(incidents::notice(services, id, &notice_id)
        .await
        .map_err(PageError::internal)?
        .is_some())
}
