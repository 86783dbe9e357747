//! The contract admins' clients list: server-side search by id or name and
//! keyset paging (each page starts after the last id of the one before), so
//! a page is one indexed store query however many clients there are.

use axum::extract::{Query, State};
use axum::response::Html;
use minijinja::context;
use serde::Deserialize;

use crate::domain::ClientId;
use crate::service::agreements::{clients_page, AdminError};
use crate::web::session::AdminSession;
use crate::web::templates::render;
use crate::web::{PageError, WebState};

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    after: Option<String>,
}

/// `GET /admin?q=…&after=…`
pub async fn show(
    State(state): State<WebState>,
    AdminSession(session): AdminSession,
    Query(query): Query<ListQuery>,
) -> Result<Html<String>, PageError> {
    // A cursor that is no client id starts the list from its beginning.
    let after = query.after.as_deref().and_then(|a| ClientId::parse(a).ok());
    let page = clients_page(&state.app.services, &query.q, after.as_ref())
        .await
        .map_err(admin_error)?;
    let clients: Vec<_> = page
        .clients
        .iter()
        .map(|c| context! { id => c.id, name => c.name, country => c.country, language => c.language })
        .collect();
    let next = page.next_after.map(|after| {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("q", query.q.trim())
            .append_pair("after", &after)
            .finish()
    });
    let first = url::form_urlencoded::Serializer::new("/admin?".to_owned())
        .append_pair("q", query.q.trim())
        .finish();
    render(
        "admin.html",
        Some(&session),
        context! {
            title => "Clients",
            q => query.q.trim(),
            paged => after.is_some(),
            first,
            clients,
            next,
        },
    )
}

/// What an admin page shows for an error that is no form's.
pub fn admin_error(e: AdminError) -> PageError {
    match e {
        AdminError::NotFound(_) => PageError::NotFound,
        other => PageError::internal(other),
    }
}
