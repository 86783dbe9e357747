//! Sessions and CSRF. The session cookie carries a random secret (only its
//! hash is stored); it is `HttpOnly`, `SameSite=Strict`, and `Secure` when
//! `server.public_url` is https. Every form carries a CSRF token checked on
//! POST: the session's own token once signed in, and before that (the
//! sign-in and password forms) a random value also set as a cookie, which
//! another site can neither read nor set.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use cookie::{Cookie, SameSite};
use subtle::ConstantTimeEq;

use super::form::PostedForm;
use super::{PageError, WebState};
use crate::domain::Role;
use crate::service::accounts::{self, Session};

pub const SESSION_COOKIE: &str = "bg_session";
pub const CSRF_COOKIE: &str = "bg_csrf";
/// The name of the hidden field every form carries its CSRF token in.
pub const CSRF_FIELD: &str = "csrf";

/// A signed-in person, whatever their role.
pub struct Signed(pub Session);

impl FromRequestParts<WebState> for Signed {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, PageError> {
        // A page followed from a link (a notice email's) is shown after
        // sign-in; a form's target is not, its form has to be filled again.
        let sign_in = || PageError::SignIn {
            back_to: (parts.method == Method::GET)
                .then(|| parts.uri.path_and_query().map(|p| p.as_str().to_owned()))
                .flatten(),
        };
        let secret = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(sign_in)?;
        let app = &state.app;
        accounts::session(&app.services, &app.config.accounts, &secret)
            .await
            .map_err(PageError::internal)?
            .map(Signed)
            .ok_or_else(sign_in)
    }
}

/// `path` if it is a page of this site to go on to after sign-in: a local
/// path, never another site (`//host`, `/\host`) an attacker's link names.
pub fn local_path(path: &str) -> Option<&str> {
    let local = path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && !path.chars().any(char::is_control);
    local.then_some(path)
}

/// A signed-in member of staff; anyone else gets 403.
pub struct StaffSession(pub Session);

/// A signed-in contract admin; anyone else gets 403.
pub struct AdminSession(pub Session);

/// A signed-in client's DPO; anyone else gets 403.
pub struct ClientSession(pub Session);

async fn with_role(parts: &mut Parts, state: &WebState, role: Role) -> Result<Session, PageError> {
    let Signed(session) = Signed::from_request_parts(parts, state).await?;
    if session.caller.role == role {
        Ok(session)
    } else {
        Err(PageError::Forbidden)
    }
}

impl FromRequestParts<WebState> for StaffSession {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, PageError> {
        with_role(parts, state, Role::Staff).await.map(StaffSession)
    }
}

impl FromRequestParts<WebState> for AdminSession {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, PageError> {
        with_role(parts, state, Role::Admin).await.map(AdminSession)
    }
}

impl FromRequestParts<WebState> for ClientSession {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &WebState) -> Result<Self, PageError> {
        with_role(parts, state, Role::Client)
            .await
            .map(ClientSession)
    }
}

/// Refuses `form` unless it carries `expected` as its CSRF token.
pub fn check_csrf(form: &PostedForm, expected: &str) -> Result<(), PageError> {
    match form.get(CSRF_FIELD) {
        Some(sent)
            if !expected.is_empty() && bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) =>
        {
            Ok(())
        }
        _ => Err(PageError::Csrf),
    }
}

/// The CSRF token of a form shown before sign-in: the visitor's cookie's,
/// or a new one to set as the cookie (`Some` second).
pub fn visitor_csrf(headers: &HeaderMap) -> (String, Option<String>) {
    match cookie(headers, CSRF_COOKIE) {
        Some(token) => (token, None),
        None => {
            let token = ulid::Ulid::new().to_string() + &ulid::Ulid::new().to_string();
            (token.clone(), Some(token))
        }
    }
}

/// Checks a form posted before sign-in against the visitor's cookie.
pub fn check_visitor_csrf(headers: &HeaderMap, form: &PostedForm) -> Result<(), PageError> {
    check_csrf(form, &cookie(headers, CSRF_COOKIE).unwrap_or_default())
}

/// A `Set-Cookie` value for `name`, with the flags every cookie of ours has.
pub fn set_cookie(state: &WebState, name: &str, value: String) -> String {
    let mut cookie = Cookie::new(name.to_owned(), value);
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Strict);
    cookie.set_path("/");
    cookie.set_secure(state.app.config.server.behind_tls());
    cookie.to_string()
}

/// A `Set-Cookie` value that removes cookie `name`.
pub fn clear_cookie(state: &WebState, name: &str) -> String {
    let mut cookie = Cookie::new(name.to_owned(), "");
    cookie.make_removal();
    cookie.set_http_only(true);
    cookie.set_same_site(SameSite::Strict);
    cookie.set_path("/");
    cookie.set_secure(state.app.config.server.behind_tls());
    cookie.to_string()
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
        .filter(|v| !v.is_empty())
}

/// The address a request came from, for the per-address sign-in limit.
pub struct ClientAddress(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddress(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |c| c.0.ip()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_a_local_path_is_gone_on_to_after_sign_in() {
        assert_eq!(
            local_path("/portal/notices/ntc_1?x=1"),
            Some("/portal/notices/ntc_1?x=1")
        );
        for other_site in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil.example",
            "evil",
            "/a\nb",
            "",
        ] {
            assert_eq!(local_path(other_site), None, "{other_site:?}");
        }
    }
}
