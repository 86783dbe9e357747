//! The one-time link where a new user sets their password.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;

use super::sign_in::with_visitor_cookie;
use crate::service::accounts::{self, AccountError, MAX_PASSWORD, MIN_PASSWORD};
use crate::web::form::PostedForm;
use crate::web::session;
use crate::web::templates::render;
use crate::web::{PageError, WebState};

/// `GET /account/setup/{secret}`
pub async fn show(
    State(state): State<WebState>,
    Path(secret): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    setup_page(&state, &headers, &secret, StatusCode::OK, None).await
}

/// `POST /account/setup/{secret}`
pub async fn submit(
    State(state): State<WebState>,
    Path(secret): Path<String>,
    headers: HeaderMap,
    form: PostedForm,
) -> Result<Response, PageError> {
    session::check_visitor_csrf(&headers, &form)?;
    let password = form.get("password").unwrap_or_default();
    if form.get("confirm") != Some(password) {
        let error = "The two passwords differ.";
        return setup_page(
            &state,
            &headers,
            &secret,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(error),
        )
        .await;
    }
    match accounts::set_password(&state.app.services, &secret, password).await {
        Ok(_) => Ok(Redirect::to("/sign-in?password_set=true").into_response()),
        Err(AccountError::LinkSpent) => Err(PageError::NotFound),
        Err(e @ AccountError::BadPassword) => {
            let error = e.to_string();
            setup_page(
                &state,
                &headers,
                &secret,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(&error),
            )
            .await
        }
        Err(e) => Err(PageError::internal(e)),
    }
}

/// The form, or 404 when the link is unknown, used or expired.
async fn setup_page(
    state: &WebState,
    headers: &HeaderMap,
    secret: &str,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let user = accounts::setup_link_user(&state.app.services, secret)
        .await
        .map_err(PageError::internal)?
        .ok_or(PageError::NotFound)?;
    let (csrf, new_cookie) = session::visitor_csrf(headers);
    let html = render(
        "account_setup.html",
        None,
        context! {
            title => "Set your password",
            email => user.email,
            action => accounts::setup_path(secret),
            csrf,
            error,
            min => MIN_PASSWORD,
            max => MAX_PASSWORD,
        },
    )?;
    with_visitor_cookie(state, (status, html).into_response(), new_cookie)
}
