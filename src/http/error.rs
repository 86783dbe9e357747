//! The one error shape of the API:
//! `{"error": {"code", "message", "details": [{"path", "message"}]}}`.
//! 4xx answers name the field; 5xx answers are opaque and logged with their cause.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use crate::intake::IntakeError;
use crate::service::agreements::AdminError;
use crate::service::reporting::FileError;
use crate::store::{self, StoreError};
use crate::validation::FieldError;

/// What a 503 for an unreachable database asks the caller to wait.
const STORE_RETRY_AFTER_SECONDS: u64 = 5;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Vec<FieldError>,
    /// Seconds for `Retry-After`, on a 429 or a 503.
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
            retry_after: None,
        }
    }

    pub fn with_details(mut self, details: Vec<FieldError>) -> Self {
        self.details = details;
        self
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no such {what}"),
        )
    }

    /// Over the caller's rate limit; it may try again after `seconds`.
    pub fn too_many_requests(seconds: u64) -> Self {
        let seconds = seconds.max(1);
        Self {
            retry_after: Some(seconds),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests; retry after {seconds} s"),
            )
        }
    }

    /// A server-side failure: the caller learns nothing of the cause, the log
    /// all of it. An unreachable database is a 503 the caller may retry.
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        let chain = crate::errors::chain(error);
        if store::is_unavailable(error) {
            tracing::warn!(error = %chain, "request failed: the store is unreachable");
            return Self::store_unavailable();
        }
        tracing::error!(error = %chain, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; it has been logged",
        )
    }
}

impl ApiError {
    /// The database cannot be reached now; nothing was stored.
    pub fn store_unavailable() -> Self {
        Self {
            retry_after: Some(STORE_RETRY_AFTER_SECONDS),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the database cannot be reached; nothing was stored; retry later",
            )
        }
    }

    fn body(&self) -> Value {
        json!({"error": {"code": self.code, "message": self.message, "details": self.details}})
    }

    #[cfg(test)]
    pub(super) fn status(&self) -> StatusCode {
        self.status
    }

    #[cfg(test)]
    pub(super) fn details(&self) -> &[FieldError] {
        &self.details
    }

    /// The answer as HTTP/1.1 bytes, for the accept loop to write itself
    /// where a request never reaches the router; the connection closes after it.
    pub(super) fn http1_bytes(&self) -> Vec<u8> {
        let body = self.body().to_string();
        let mut bytes = format!(
            "HTTP/1.1 {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            self.status,
            body.len()
        )
        .into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        bytes
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Gives an error answer made outside [`ApiError`] the API's shape, with its
/// status and, for a 4xx, its text as the message: axum's own extractors
/// answer in `text/plain` (a path segment that is not UTF-8, a query string
/// that does not parse, …). A 5xx stays opaque, its text logged.
pub(super) async fn in_error_shape(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    if is_json || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // The texts of axum's rejections are a line or two.
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let error = if status.is_server_error() {
        tracing::error!(%status, error = %text, "request failed");
        ApiError::new(status, "internal", "internal error; it has been logged")
    } else {
        let message = if text.is_empty() {
            status
                .canonical_reason()
                .unwrap_or("bad request")
                .to_owned()
        } else {
            text
        };
        ApiError::new(status, code_of(status), message)
    };
    let shaped = error.into_response();
    // Headers such as `Allow` or `Retry-After` still apply; the body's do not.
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.extend(shaped.headers().clone());
    Response::from_parts(parts, shaped.into_body())
}

/// The error code of an answer that has only a status.
fn code_of(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::NOT_ACCEPTABLE => "not_acceptable",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::LENGTH_REQUIRED => "length_required",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        _ => "bad_request",
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        let message = e.to_string();
        match e {
            AdminError::Invalid(details) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_agreement",
                message,
            )
            .with_details(details),
            AdminError::NotFound(what) => Self::not_found(what),
            AdminError::ClientExists(_) => {
                Self::new(StatusCode::CONFLICT, "client_exists", message)
            }
            AdminError::WebhookExists { .. } => {
                Self::new(StatusCode::CONFLICT, "webhook_exists", message)
            }
            AdminError::SecretNotStored { .. } => {
                Self::new(StatusCode::CONFLICT, "secret_not_stored", message)
            }
            AdminError::Store(e) => Self::internal(&e),
            AdminError::Internal(e) => Self::internal(e.as_ref()),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::internal(&e)
    }
}

impl From<FileError> for ApiError {
    fn from(e: FileError) -> Self {
        let message = e.to_string();
        match e {
            FileError::Intake(IntakeError::MalformedJson(detail)) => {
                Self::new(StatusCode::BAD_REQUEST, "malformed_json", message)
                    .with_details(vec![FieldError::new("", detail)])
            }
            FileError::Intake(IntakeError::Invalid(details)) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_report", message)
                    .with_details(details)
            }
            FileError::UnknownReference(details) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_reference",
                message,
            )
            .with_details(details),
            FileError::IdempotencyKeyReused => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                message,
            )
            .with_details(vec![FieldError::new(
                "Idempotency-Key",
                "already used with a different body",
            )]),
            FileError::InvalidBody(details) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_body", message)
                    .with_details(details)
            }
            FileError::IncidentNotFound => Self::not_found("incident"),
            FileError::IncidentNotOpen(_) => {
                Self::new(StatusCode::CONFLICT, "incident_not_open", message)
            }
            FileError::NothingChanged => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, "nothing_changed", message)
            }
            FileError::ConcurrentChange => {
                Self::new(StatusCode::CONFLICT, "incident_changed", message)
            }
            FileError::Store(e) => Self::internal(&e),
            FileError::Join(e) => Self::internal(&e),
        }
    }
}
