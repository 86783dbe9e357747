//! What a page answers when it cannot show what was asked.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No valid session: the browser is sent to sign in, and then on to
    /// the page it asked for (`back_to`, a path on this site), if any.
    #[error("sign in first")]
    SignIn { back_to: Option<String> },
    #[error("this page is not for your role")]
    Forbidden,
    #[error("there is no such page")]
    NotFound,
    /// A POST without the form's CSRF token, or with another one.
    #[error("this form has expired or did not come from this site; reload the page and try again")]
    Csrf,
    #[error("the request is not a form this site sends")]
    BadForm,
    /// A posted field (named) holds U+0000, which no text the gateway
    /// stores or sends may hold (PostgreSQL refuses it in text).
    #[error("the field {0:?} holds a NUL character (U+0000), which no text here may hold")]
    NulInField(String),
    #[error("something went wrong on our side; it has been logged")]
    Internal(#[from] anyhow::Error),
}

impl PageError {
    pub fn internal(e: impl Into<anyhow::Error>) -> Self {
        PageError::Internal(e.into())
    }

    fn status(&self) -> StatusCode {
        match self {
            PageError::SignIn { .. } => StatusCode::SEE_OTHER,
            PageError::Forbidden | PageError::Csrf => StatusCode::FORBIDDEN,
            PageError::BadForm | PageError::NulInField(_) => StatusCode::BAD_REQUEST,
            PageError::NotFound => StatusCode::NOT_FOUND,
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if let PageError::Internal(e) = &self {
            tracing::error!(error = format!("{e:#}"), "page failed");
        }
        if let PageError::SignIn { back_to } = &self {
            let location = match back_to {
                Some(path) => {
                    let query: String = url::form_urlencoded::Serializer::new(String::new())
                        .append_pair("next", path)
                        .finish();
                    format!("/sign-in?{query}")
                }
                None => "/sign-in".to_owned(),
            };
            return (self.status(), [(header::LOCATION, location)]).into_response();
        }
        let title = match self.status() {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::FORBIDDEN => "Not allowed",
            _ => "Error",
        };
        (
            self.status(),
            super::templates::error_page(title, &self.to_string()),
        )
            .into_response()
    }
}
