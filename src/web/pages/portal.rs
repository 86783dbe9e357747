//! The client portal: a client's DPO sees its client's notices newest
//! first, reads each as the email renders it in the client's language,
//! downloads `notice.json` and `notice.jws` (the exact stored bytes) and
//! acknowledges receipt with an optional note. Strictly the session's own
//! client: another client's notice is as unknown as one that never existed.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;

use crate::domain::{AcknowledgementNote, ClientId, NoticeId};
use crate::service::accounts::Session;
use crate::service::client_notices::{self, ReadableNotice};
use crate::web::form::PostedForm;
use crate::web::session::{check_csrf, ClientSession};
use crate::web::templates::render;
use crate::web::{PageError, WebState};

const TIME: &str = "%Y-%m-%d %H:%M UTC";

/// `GET /portal`: the client's notices, newest first.
pub async fn show(
    State(state): State<WebState>,
    ClientSession(session): ClientSession,
) -> Result<Html<String>, PageError> {
    let client_id = own_client(&session)?;
    let notices: Vec<_> = client_notices::list(&state.app.services, client_id)
        .await
        .map_err(PageError::internal)?
        .into_iter()
        .map(|n| {
            context! {
                id => n.notice_id,
                reference => n.reference,
                kind => n.kind.as_str(),
                sequence => n.sequence,
                created_at => n.created_at.format(TIME).to_string(),
                acknowledged_at => n.acknowledged_at.map(|t| t.format(TIME).to_string()),
            }
        })
        .collect();
    render(
        "portal.html",
        Some(&session),
        context! { title => "Notices", client_id => client_id.as_str(), notices },
    )
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    acknowledged: Option<String>,
}

/// `GET /portal/notices/{id}`
pub async fn notice(
    State(state): State<WebState>,
    ClientSession(session): ClientSession,
    Path(id): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> Result<Html<String>, PageError> {
    let readable = readable(&state, &session, &id).await?;
    let listed = &readable.listed;
    render(
        "portal_notice.html",
        Some(&session),
        context! {
            title => readable.subject,
            id => readable.notice.id,
            lang => readable.language,
            body => minijinja::Value::from_serialize(&readable.body),
            created_at => listed.created_at.format(TIME).to_string(),
            acknowledged_at => listed.acknowledged_at.map(|t| t.format(TIME).to_string()),
            just_acknowledged => query.acknowledged.is_some(),
            signed => readable.notice.jws.is_some(),
            public_url => state.app.config.server.link_base(),
        },
    )
}

/// `GET /portal/notices/{id}/notice.json`: the signed bytes, as stored.
pub async fn notice_json(
    State(state): State<WebState>,
    ClientSession(session): ClientSession,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let readable = readable(&state, &session, &id).await?;
    Ok(download(
        "application/json",
        "notice.json",
        readable.notice.body,
    ))
}

/// `GET /portal/notices/{id}/notice.jws`: the detached JWS over those bytes.
pub async fn notice_jws(
    State(state): State<WebState>,
    ClientSession(session): ClientSession,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let readable = readable(&state, &session, &id).await?;
    let jws = readable.notice.jws.ok_or(PageError::NotFound)?;
    Ok(download("application/jose", "notice.jws", jws.into_bytes()))
}

/// `POST /portal/notices/{id}/acknowledge`, with an optional `note`.
pub async fn acknowledge(
    State(state): State<WebState>,
    ClientSession(session): ClientSession,
    Path(id): Path<String>,
    posted: PostedForm,
) -> Result<Response, PageError> {
    check_csrf(&posted, &session.csrf_token)?;
    let client_id = own_client(&session)?;
    let notice_id = NoticeId::parse(&id).map_err(|_| PageError::NotFound)?;
    let note = match posted.get("note").map(str::trim).filter(|n| !n.is_empty()) {
        None => None,
        Some(note) => Some(AcknowledgementNote::parse(note).map_err(|_| PageError::BadForm)?),
    };
    client_notices::acknowledge(
        &state.app.services,
        &session.caller,
        client_id,
        notice_id,
        note,
    )
    .await
    .map_err(PageError::internal)?
    .ok_or(PageError::NotFound)?;
    Ok(Redirect::to(&format!("/portal/notices/{id}?acknowledged=true")).into_response())
}

fn own_client(session: &Session) -> Result<&ClientId, PageError> {
    // A client session always names its client; without one it sees nothing.
    session
        .caller
        .client_id
        .as_ref()
        .ok_or(PageError::Forbidden)
}

/// The session's client's notice `id`; anything else is not found.
async fn readable(
    state: &WebState,
    session: &Session,
    id: &str,
) -> Result<ReadableNotice, PageError> {
    let client_id = own_client(session)?;
    let id = NoticeId::parse(id).map_err(|_| PageError::NotFound)?;
    client_notices::readable(&state.app.services, client_id, &id)
        .await
        .map_err(PageError::internal)?
        .ok_or(PageError::NotFound)
}

fn download(content_type: &'static str, name: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}
