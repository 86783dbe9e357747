//! The pages people use: server-rendered HTML over the same services and
//! the same role and tenant rules as the JSON API (a session resolves to the
//! same [`crate::domain::Caller`] a token does).
//!
//! - [`routes`] is the pages' own route table, apart from the API's (whose
//!   OpenAPI document does not describe pages).
//! - `templates/` are minijinja templates embedded in the binary; every page
//!   extends `base.html` (language, skip link, navigation, sign-out).
//! - `static/` is served under `/static/`: the stylesheet and one small
//!   script that refreshes the board. No inline script or style, so the
//!   Content-Security-Policy forbids both; every flow works without script.
//! - `session.rs` turns the session cookie into a caller and checks the
//!   CSRF token every POST carries; `form.rs` reads posted forms.
//!
//! Adding a page: a handler in `pages/` taking the session extractor of the
//! role it is for ([`session::StaffSession`], [`session::AdminSession`] or
//! [`session::Signed`]), a template in `templates/` registered in
//! `templates.rs`, and a line in [`routes`], under a path the API does not
//! answer ([`crate::http::owns`]). Any other path is answered with an HTML
//! 404 page.

mod error;
mod form;
mod pages;
mod session;
mod static_files;
mod templates;

use std::sync::Arc;

use axum::handler::Handler;
use axum::http::{header, HeaderValue, Method};
use axum::response::Response;
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::Router;

use crate::app::App;

pub use error::PageError;

/// What every page handler can reach.
#[derive(Clone)]
pub struct WebState {
    pub app: Arc<App>,
}

impl axum::extract::FromRef<WebState> for Arc<App> {
    fn from_ref(state: &WebState) -> Self {
        state.app.clone()
    }
}

/// One page (or form target) the web interface serves.
pub struct Page {
    pub method: Method,
    pub path: &'static str,
    handler: MethodRouter<WebState>,
}

fn page<H, T>(method: Method, path: &'static str, handler: H) -> Page
where
    H: Handler<T, WebState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("pages use standard methods");
    Page {
        method,
        path,
        handler: on(filter, handler),
    }
}

/// Every page and form target.
pub fn routes() -> Vec<Page> {
    use pages::{account_setup, admin, board, portal, report, sign_in};
    use pages::{admin_accounts, admin_client, incident, register};
    vec![
        page(Method::GET, "/static/{file}", static_files::serve),
        page(Method::GET, "/sign-in", sign_in::show),
        page(Method::POST, "/sign-in", sign_in::submit),
        page(Method::POST, "/sign-out", sign_in::sign_out),
        page(Method::GET, "/account/setup/{secret}", account_setup::show),
        page(
            Method::POST,
            "/account/setup/{secret}",
            account_setup::submit,
        ),
        page(Method::GET, "/", board::show),
        page(Method::GET, "/reports/new", report::show),
        page(Method::POST, "/reports/new", report::submit),
        page(
            Method::POST,
            "/reports/drafts/{id}/discard",
            report::drafts::discard,
        ),
        page(Method::GET, "/incidents/{id}", incident::show),
        page(
            Method::GET,
            "/incidents/{id}/update",
            incident::update::show,
        ),
        page(
            Method::POST,
            "/incidents/{id}/update",
            incident::update::submit,
        ),
        page(
            Method::POST,
            "/incidents/{id}/facts",
            incident::supply_facts,
        ),
        page(Method::POST, "/incidents/{id}/close", incident::close),
        page(Method::POST, "/incidents/{id}/retract", incident::retract),
        page(
            Method::POST,
            "/incidents/{id}/deliveries/{delivery_id}/replay",
            incident::replay,
        ),
        page(Method::GET, "/register", register::show),
        page(Method::GET, "/register.csv", register::csv),
        page(Method::GET, "/admin", admin::show),
        page(Method::GET, "/admin/accounts", admin_accounts::show),
        page(Method::POST, "/admin/accounts", admin_accounts::submit),
        page(Method::GET, "/admin/clients/{id}", admin_client::show),
        page(
            Method::GET,
            "/admin/clients/{id}/agreement.toml",
            admin_client::download_toml,
        ),
        page(
            Method::POST,
            "/admin/clients/{id}/agreement",
            admin_client::replace_agreement,
        ),
        page(
            Method::POST,
            "/admin/clients/{id}/webhooks",
            admin_client::add_webhook,
        ),
        page(
            Method::POST,
            "/admin/clients/{id}/webhooks/{webhook_id}",
            admin_client::webhook_action,
        ),
        page(
            Method::POST,
            "/admin/clients/{id}/email",
            admin_client::set_email,
        ),
        page(Method::GET, "/portal", portal::show),
        page(Method::GET, "/portal/notices/{id}", portal::notice),
        page(
            Method::GET,
            "/portal/notices/{id}/notice.json",
            portal::notice_json,
        ),
        page(
            Method::GET,
            "/portal/notices/{id}/notice.jws",
            portal::notice_jws,
        ),
        page(
            Method::POST,
            "/portal/notices/{id}/acknowledge",
            portal::acknowledge,
        ),
    ]
}

pub fn router(app: Arc<App>) -> Router {
    let state = WebState { app };
    routes()
        .into_iter()
        .fold(Router::new(), |router, p| router.route(p.path, p.handler))
        .fallback(|| async { PageError::NotFound })
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

/// The Content-Security-Policy of every page: nothing but the gateway's own
/// stylesheet and script, no inline script or style, no framing, and forms
/// posting only to the gateway.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Setup links carry their secret in the path: never send it on.
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::email::Portal;
    use crate::domain::NoticeId;

    #[test]
    fn the_portal_link_of_notice_emails_is_the_portal_s_notice_page() {
        let id = NoticeId::generate();
        let url = Portal::new("https://breach.example")
            .expect("a portal")
            .notice_url(&id);
        let path = url.strip_prefix("https://breach.example").expect("based");
        assert!(
            routes()
                .iter()
                .any(|p| p.method == Method::GET && p.path.replace("{id}", id.as_str()) == path),
            "{path} is no page"
        );
    }
}
