//! API tokens: random bearer secrets, of which only the SHA-256 is stored.
//!
//! A token reads `bg_<role>_<ULID>.<secret>`. The ULID is the token's id and
//! not secret: a presented token is looked up by it and its hash compared with
//! the stored one in constant time, so response timing tells nothing about
//! how close a guess came. Tokens issued before ids were embedded
//! (`bg_<role>_<secret>`, no `.`) are still found through the unique index on
//! their hash; that lookup leaks at most how a guess's SHA-256 compares with
//! stored hashes, which cannot be steered without a preimage.
//!
//! A token is refused once revoked or past its expiry. Only a client token
//! names a client, and only one the stored agreements have; removing the
//! client revokes its tokens (see the agreement store).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Services;
use crate::domain::audit::NewAuditEntry;
use crate::domain::ClientId;
use crate::domain::{Caller, Role};
use crate::store::{NewToken, StoreError, TokenListing, TokenStore};

/// Longest token name accepted; the name is recorded with every action.
const MAX_NAME: usize = 200;

/// Tokens carry 256 random bits, so a plain SHA-256 is a safe way to store them.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The id a token names, when it names one (tokens issued before ids were
/// embedded do not).
pub fn embedded_id(token: &str) -> Option<String> {
    let (prefix, _secret) = token.split_once('.')?;
    let (_role, id) = prefix.strip_prefix("bg_")?.split_once('_')?;
    let id = ulid::Ulid::from_string(id).ok()?;
    Some(format!("tok_{id}"))
}

/// The token `presented` is, if it is neither unknown, revoked nor expired.
pub async fn authenticate(
    services: &Services,
    presented: &str,
) -> Result<Option<Caller>, StoreError> {
    let store = services.store.as_ref();
    let presented_hash = hash(presented);
    let stored = match embedded_id(presented) {
        Some(id) => store
            .token_by_id(&id)
            .await?
            .filter(|stored| bool::from(stored.hash.ct_eq(&presented_hash))),
        None => store.token_by_hash(&presented_hash).await?,
    };
    let now = services.clock.now();
    Ok(stored
        .filter(|stored| !expired(stored.expires_at, now))
        .map(|stored| stored.record))
}

fn expired(expires_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> bool {
    expires_at.is_some_and(|at| at <= now)
}

/// Why a token cannot be created or revoked.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the name must not be blank")]
    BlankName,
    #[error("the name must be at most {MAX_NAME} characters")]
    LongName,
    #[error("a client token must name its client")]
    ClientMissing,
    #[error("only a client token names a client; a {0} token speaks for the processor")]
    ClientNotAllowed(&'static str),
    #[error("no client {0} in the stored agreements")]
    UnknownClient(ClientId),
    #[error("the expiry {0} is not in the future")]
    ExpiryPassed(DateTime<Utc>),
    #[error("no such token")]
    NotFound,
    #[error(transparent)]
    Store(StoreError),
}

impl TokenError {
    /// The input the error is about: `name`, `client_id` or `expires_at`.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            TokenError::BlankName | TokenError::LongName => Some("name"),
            TokenError::ClientMissing
            | TokenError::ClientNotAllowed(_)
            | TokenError::UnknownClient(_) => Some("client_id"),
            TokenError::ExpiryPassed(_) => Some("expires_at"),
            TokenError::NotFound | TokenError::Store(_) => None,
        }
    }
}

impl From<StoreError> for TokenError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UnknownClient(client) => TokenError::UnknownClient(client),
            other => TokenError::Store(other),
        }
    }
}

/// A token to create, checked but for its client's existence, which is
/// checked as it is stored.
#[derive(Debug)]
pub struct TokenRequest {
    role: Role,
    name: String,
    client_id: Option<ClientId>,
    expires_at: Option<DateTime<Utc>>,
}

impl TokenRequest {
    /// A client token names its client and no other token names one; the
    /// name is not blank; an expiry is after `now`.
    pub fn new(
        role: Role,
        name: &str,
        client_id: Option<ClientId>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<Self, TokenError> {
        if name.chars().count() > MAX_NAME {
            return Err(TokenError::LongName);
        }
        let name = name.trim();
        if name.is_empty() {
            return Err(TokenError::BlankName);
        }
        match (role, &client_id) {
            (Role::Client, None) => return Err(TokenError::ClientMissing),
            (Role::Staff | Role::Admin, Some(_)) => {
                return Err(TokenError::ClientNotAllowed(role.as_str()))
            }
            _ => {}
        }
        if let Some(at) = expires_at.filter(|at| *at <= now) {
            return Err(TokenError::ExpiryPassed(at));
        }
        Ok(Self {
            role,
            name: name.to_owned(),
            client_id,
            expires_at,
        })
    }
}

/// A token just created: the secret exists nowhere else afterwards.
#[derive(Debug)]
pub struct IssuedToken {
    pub token: TokenListing,
    pub secret: String,
}

/// Creates the token `request` asks for, audited as `actor`'s.
pub async fn create(
    store: &dyn TokenStore,
    actor: &str,
    request: TokenRequest,
    now: DateTime<Utc>,
) -> Result<IssuedToken, TokenError> {
    store_token(store, request, now, Some(actor)).await
}

/// Creates a token without an audit entry and returns the secret: the first
/// start's initial tokens, and tests.
pub async fn issue(
    store: &dyn TokenStore,
    role: Role,
    name: &str,
    client_id: Option<ClientId>,
) -> Result<String, TokenError> {
    let now = Utc::now();
    let request = TokenRequest::new(role, name, client_id, None, now)?;
    Ok(store_token(store, request, now, None).await?.secret)
}

async fn store_token(
    store: &dyn TokenStore,
    request: TokenRequest,
    now: DateTime<Utc>,
    actor: Option<&str>,
) -> Result<IssuedToken, TokenError> {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let ulid = ulid::Ulid::new();
    let secret = format!(
        "bg_{}_{ulid}.{}",
        request.role.as_str(),
        URL_SAFE_NO_PAD.encode(secret)
    );
    let token = TokenListing {
        token: Caller {
            id: format!("tok_{ulid}"),
            name: request.name,
            role: request.role,
            client_id: request.client_id,
        },
        created_at: now,
        expires_at: request.expires_at,
        revoked_at: None,
    };
    let audit = actor.map(|actor| {
        NewAuditEntry::new(
            now,
            actor,
            "token.created",
            &token.token.id,
            details(&token),
        )
    });
    store
        .create_token(
            &NewToken {
                id: token.token.id.clone(),
                name: token.token.name.clone(),
                role: token.token.role,
                client_id: token.token.client_id.clone(),
                hash: hash(&secret),
                created_at: now,
                expires_at: token.expires_at,
            },
            audit.as_ref(),
        )
        .await?;
    Ok(IssuedToken { token, secret })
}

/// Every token ever issued, oldest first; never a secret or a hash.
pub async fn list(store: &dyn TokenStore) -> Result<Vec<TokenListing>, StoreError> {
    store.tokens().await
}

/// A token after [`revoke`], and whether it had been revoked before.
#[derive(Debug)]
pub struct Revocation {
    pub token: TokenListing,
    pub earlier: bool,
}

/// Revokes token `id` at `now`, audited as `actor`'s; a revoked token stays
/// revoked as it was, and nothing is audited.
pub async fn revoke(
    store: &dyn TokenStore,
    actor: &str,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Revocation, TokenError> {
    let token = store.token(id).await?.ok_or(TokenError::NotFound)?;
    if token.revoked_at.is_some() {
        return Ok(Revocation {
            token,
            earlier: true,
        });
    }
    let audit = NewAuditEntry::new(now, actor, "token.revoked", id, details(&token));
    let token = store
        .revoke_token(id, now, &audit)
        .await?
        .ok_or(TokenError::NotFound)?;
    Ok(Revocation {
        token,
        earlier: false,
    })
}

/// What an audit entry records of a token: who it is for, never its secret.
fn details(token: &TokenListing) -> serde_json::Value {
    json!({
        "name": token.token.name,
        "role": token.token.role,
        "client_id": token.token.client_id,
        "expires_at": token.expires_at,
    })
}

/// Whether a token is accepted at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenStatus {
    Active,
    Expired,
    Revoked,
}

impl TokenStatus {
    pub fn of(token: &TokenListing, now: DateTime<Utc>) -> Self {
        if token.revoked_at.is_some() {
            TokenStatus::Revoked
        } else if expired(token.expires_at, now) {
            TokenStatus::Expired
        } else {
            TokenStatus::Active
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::Active => "active",
            TokenStatus::Expired => "expired",
            TokenStatus::Revoked => "revoked",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_new_style_tokens_name_an_id() {
        let id = ulid::Ulid::new();
        assert_eq!(
            embedded_id(&format!("bg_client_{id}.c2VjcmV0")),
            Some(format!("tok_{id}"))
        );
        // A legacy token: base64url never contains a dot.
        assert_eq!(
            embedded_id("bg_staff_01HZZZZZZZZZZZZZZZZZZZZZZZ_abc-def"),
            None
        );
        assert_eq!(embedded_id("bg_staff_not-a-ulid.secret"), None);
        assert_eq!(embedded_id("nonsense"), None);
    }
}
