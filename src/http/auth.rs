//! Bearer-token authentication: 401 for a missing or unknown token, 403 for
//! the wrong role, 429 beyond the caller's rate limit.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};

use super::error::ApiError;
use super::rate_limit::RateKey;
use super::ApiState;
use crate::domain::{Caller, ClientId, Role};
use crate::service::tokens;

/// The authenticated caller of a request.
pub struct Authenticated(pub Caller);

impl Authenticated {
    pub fn require(self, role: Role) -> Result<Caller, ApiError> {
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
    pub token: Caller,
}

impl Authenticated {
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

/// A caller with a staff token. As an extractor it answers 401 or 403 before
/// any later extractor reads the body.
pub struct Staff(pub Caller);

impl FromRequestParts<ApiState> for Staff {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        Authenticated::from_request_parts(parts, state)
            .await?
            .require(Role::Staff)
            .map(Staff)
    }
}

/// A caller with an admin token, answered like [`Staff`].
pub struct Admin(pub Caller);

impl FromRequestParts<ApiState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        Authenticated::from_request_parts(parts, state)
            .await?
            .require(Role::Admin)
            .map(Admin)
    }
}

impl FromRequestParts<ApiState> for ClientCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        Authenticated::from_request_parts(parts, state)
            .await?
            .require_client()
    }
}

impl FromRequestParts<ApiState> for Authenticated {
    type Rejection = ApiError;

    /// Authenticates the bearer token and takes one request from its rate
    /// limit; a request without a valid token takes from its address's.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, Self::Rejection> {
        let presented = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let token = match presented {
            Some(presented) => tokens::authenticate(&state.app.services, presented).await?,
            None => None,
        };
        match token {
            Some(token) => {
                state.rate_limits.check(&RateKey::Token(token.id.clone()))?;
                Ok(Authenticated(token))
            }
            None => {
                let address = parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |c| c.0.ip());
                state.rate_limits.check(&RateKey::Address(address))?;
                let message = if presented.is_some() {
                    "unknown or revoked token"
                } else {
                    "missing bearer token"
                };
                Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    message,
                ))
            }
        }
    }
}
