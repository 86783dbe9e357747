//! Bearer-token authentication: 401 for a missing or unknown token, 403 for
//! the wrong role.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};

use super::error::ApiError;
use crate::app::App;
use crate::domain::ClientId;
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

/// A caller with a client token: the client it speaks for, and the token.
pub struct ClientCaller {
    pub client_id: ClientId,
    pub token: TokenRecord,
}

impl Caller {
    pub fn require_client(self) -> Result<ClientCaller, ApiError> {
        let token = self.require(Role::Client)?;
        match token.client_id.clone() {
            Some(client_id) => Ok(ClientCaller { client_id, token }),
            None => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this client token names no client",
            )),
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
