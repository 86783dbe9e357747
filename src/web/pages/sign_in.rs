//! Signing in and out. A page asked for without a session (a notice
//! email's portal link, say) leads here and, once signed in, on to that page.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;

use crate::domain::Role;
use crate::service::accounts::{self, AccountError};
use crate::web::form::PostedForm;
use crate::web::session::{self, ClientAddress, Signed, CSRF_COOKIE, SESSION_COOKIE};
use crate::web::templates::render;
use crate::web::{PageError, WebState};

#[derive(Deserialize)]
pub struct SignInQuery {
    /// Set after a password was set, to say so.
    #[serde(default)]
    password_set: bool,
    /// The page to go on to after sign-in, when a link led here.
    next: Option<String>,
}

/// `GET /sign-in`
pub async fn show(
    State(state): State<WebState>,
    Query(query): Query<SignInQuery>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let notice = query
        .password_set
        .then_some("Your password is set. Sign in with it.");
    let form = SignInForm {
        email: "",
        next: query.next.as_deref().and_then(session::local_path),
    };
    sign_in_page(&state, &headers, StatusCode::OK, form, None, notice)
}

/// What the sign-in form keeps: the email typed and the page to go on to.
struct SignInForm<'a> {
    email: &'a str,
    next: Option<&'a str>,
}

/// `POST /sign-in`
pub async fn submit(
    State(state): State<WebState>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    form: PostedForm,
) -> Result<Response, PageError> {
    session::check_visitor_csrf(&headers, &form)?;
    let email = form.get("email").unwrap_or_default();
    let password = form.get("password").unwrap_or_default();
    let kept = SignInForm {
        email,
        next: form.get("next").and_then(session::local_path),
    };
    let app = &state.app;
    match accounts::sign_in(
        &app.services,
        &app.config.accounts,
        email,
        password,
        &address.to_string(),
    )
    .await
    {
        Ok(signed_in) => {
            let cookie = session::set_cookie(&state, SESSION_COOKIE, signed_in.secret);
            let to = kept
                .next
                .unwrap_or_else(|| home(signed_in.session.caller.role));
            Ok(([(header::SET_COOKIE, cookie)], Redirect::to(to)).into_response())
        }
        Err(e @ AccountError::WrongCredentials) => {
            let message = e.to_string();
            sign_in_page(
                &state,
                &headers,
                StatusCode::UNAUTHORIZED,
                kept,
                Some(&message),
                None,
            )
        }
        Err(e @ AccountError::TooManyAttempts) => {
            let message = e.to_string();
            sign_in_page(
                &state,
                &headers,
                StatusCode::TOO_MANY_REQUESTS,
                kept,
                Some(&message),
                None,
            )
        }
        Err(e) => Err(PageError::internal(e)),
    }
}

/// `POST /sign-out`
pub async fn sign_out(
    State(state): State<WebState>,
    Signed(session): Signed,
    form: PostedForm,
) -> Result<Response, PageError> {
    session::check_csrf(&form, &session.csrf_token)?;
    accounts::sign_out(&state.app.services, &session)
        .await
        .map_err(PageError::internal)?;
    let cookie = session::clear_cookie(&state, SESSION_COOKIE);
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to("/sign-in")).into_response())
}

/// Where a role starts after signing in.
fn home(role: Role) -> &'static str {
    match role {
        Role::Staff => "/",
        Role::Admin => "/admin",
        Role::Client => "/portal",
    }
}

fn sign_in_page(
    state: &WebState,
    headers: &HeaderMap,
    status: StatusCode,
    form: SignInForm,
    error: Option<&str>,
    notice: Option<&str>,
) -> Result<Response, PageError> {
    let (csrf, new_cookie) = session::visitor_csrf(headers);
    let html = render(
        "sign_in.html",
        None,
        context! {
            title => "Sign in",
            csrf,
            email => form.email,
            next => form.next,
            error,
            notice,
        },
    )?;
    with_visitor_cookie(state, (status, html).into_response(), new_cookie)
}

/// Sets the visitor's CSRF cookie on `response` when `new_cookie` says it
/// is new: shared by the pages shown before sign-in.
pub fn with_visitor_cookie(
    state: &WebState,
    mut response: Response,
    new_cookie: Option<String>,
) -> Result<Response, PageError> {
    if let Some(token) = new_cookie {
        let cookie = session::set_cookie(state, CSRF_COOKIE, token);
        response.headers_mut().insert(
            header::SET_COOKIE,
            cookie.parse().map_err(PageError::internal)?,
        );
    }
    Ok(response)
}
