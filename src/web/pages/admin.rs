//! The contract admins' start page (the clients list is still to come).

use minijinja::context;

use crate::web::session::AdminSession;
use crate::web::templates::render;
use crate::web::PageError;

/// `GET /admin`
pub async fn show(
    AdminSession(session): AdminSession,
) -> Result<axum::response::Html<String>, PageError> {
    render(
        "admin.html",
        Some(&session),
        context! { title => "Clients" },
    )
}
