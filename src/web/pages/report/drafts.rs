//! Report drafts on the New report page: the list of saved drafts (shared
//! by the staff team, each with who saved it last), what a save or discard
//! says afterwards, and the Discard button.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use crate::service::drafts::{self, DraftRevision};
use crate::store::Draft;
use crate::web::form::PostedForm;
use crate::web::session::{check_csrf, StaffSession};
use crate::web::{PageError, WebState};

/// Longest summary a draft is listed by.
const TITLE_CHARS: usize = 80;

#[derive(Deserialize)]
pub struct DraftQuery {
    /// The draft to open in the form.
    pub draft: Option<String>,
    /// What was just done: `saved`, `separate`, `discarded` or `kept`.
    done: Option<String>,
}

impl DraftQuery {
    pub fn status(&self) -> Option<&'static str> {
        Some(match self.done.as_deref()? {
            "saved" => "Draft saved. Open it from the drafts list to go on later.",
            "separate" => {
                "This draft was saved or discarded by someone else since you opened it, \
                 so yours is saved as a separate draft."
            }
            "discarded" => "Draft discarded.",
            "kept" => {
                "The draft was not discarded: someone saved or discarded it since this page \
                 was loaded."
            }
            _ => return None,
        })
    }
}

/// A draft as the list shows it.
#[derive(Serialize)]
pub struct DraftView {
    id: String,
    revision: i64,
    title: String,
    saved_by: String,
    saved_at: String,
}

impl DraftView {
    pub fn of(draft: &Draft) -> Self {
        let summary = draft
            .fields
            .get("/summary")
            .and_then(|v| v.first())
            .map(|s| s.trim())
            .unwrap_or_default();
        let mut title: String = summary.chars().take(TITLE_CHARS).collect();
        if title.is_empty() {
            title = "(no summary yet)".to_owned();
        } else if summary.chars().count() > TITLE_CHARS {
            title.push('…');
        }
        DraftView {
            id: draft.id.clone(),
            revision: draft.revision,
            title,
            saved_by: draft.saved_by.clone(),
            saved_at: draft.saved_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }
}

/// `POST /reports/drafts/{id}/discard`, with the revision the list showed.
pub async fn discard(
    State(state): State<WebState>,
    StaffSession(session): StaffSession,
    Path(id): Path<String>,
    posted: PostedForm,
) -> Result<Response, PageError> {
    check_csrf(&posted, &session.csrf_token)?;
    let draft = DraftRevision::parse(&id, posted.get("revision").unwrap_or_default())
        .ok_or(PageError::NotFound)?;
    let deleted = drafts::delete(&state.app.services, &draft)
        .await
        .map_err(PageError::internal)?;
    let done = if deleted { "discarded" } else { "kept" };
    Ok(Redirect::to(&format!("/reports/new?done={done}")).into_response())
}
