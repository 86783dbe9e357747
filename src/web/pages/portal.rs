//! A client's DPO's start page (the notices list is still to come).

use minijinja::context;

use crate::web::session::ClientSession;
use crate::web::templates::render;
use crate::web::PageError;

/// `GET /portal`
pub async fn show(
    ClientSession(session): ClientSession,
) -> Result<axum::response::Html<String>, PageError> {
    let client_id = session
        .caller
        .client_id
        .as_ref()
        .map(|c| c.as_str().to_owned());
    render(
        "portal.html",
        Some(&session),
        context! { title => "Notices", client_id },
    )
}
