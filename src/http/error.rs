//! The one error shape of the API:
//! `{"error": {"code", "message", "details": [{"path", "message"}]}}`.
//! 4xx answers name the field; 5xx answers are opaque and logged with their cause.

use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::agreements::admin::AdminError;
use crate::intake::IntakeError;
use crate::reporting::FileError;
use crate::store::StoreError;
use crate::validation::FieldError;

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Vec<FieldError>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Vec::new(),
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

    /// A server-side failure: the caller learns nothing of the cause, the log all of it.
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        let chain = crate::errors::chain(error);
        tracing::error!(error = %chain, "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; it has been logged",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            json!({"error": {"code": self.code, "message": self.message, "details": self.details}});
        (self.status, Json(body)).into_response()
    }
}

impl From<BytesRejection> for ApiError {
    fn from(e: BytesRejection) -> Self {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "body_too_large"
        } else {
            "bad_body"
        };
        Self::new(status, code, e.body_text())
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        let message = e.to_string();
        match e {
            AdminError::Malformed(detail) => {
                Self::new(StatusCode::BAD_REQUEST, "malformed_json", message)
                    .with_details(vec![FieldError::new("", detail)])
            }
            AdminError::Invalid(details) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_agreement",
                message,
            )
            .with_details(details),
            AdminError::NotFound(what) => Self::not_found(what),
            AdminError::Conflict { code, message } => {
                Self::new(StatusCode::CONFLICT, code, message)
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
            FileError::Store(e) => Self::internal(&e),
            FileError::Join(e) => Self::internal(&e),
        }
    }
}
