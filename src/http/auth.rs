//! Bearer-token authentication: 401 for a missing or unknown token, 403 for
//! the wrong role.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};

use super::error::ApiError;
use crate::app::App;
use crate::store::{Role, TokenRecord};

/// The authenticated caller of a request.
pub struct Caller(pub TokenRecord);

impl Caller {
    pub fn require(self, role: Role) -> Result<TokenRecord, ApiError> {
        if self.0.role == role {
            Ok(self.0)
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!("this needs a {} token", role.as_str()),
            ))
        }
    }
}

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized =
            |message: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message);
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized("missing bearer token"))?;
        app.store
            .token_by_hash(&crate::tokens::hash(token))
            .await?
            .map(Caller)
            .ok_or_else(|| unauthorized("unknown or revoked token"))
    }
}
