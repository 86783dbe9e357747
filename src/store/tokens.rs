//! API tokens: who may call, stored as hashes only.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::audit::NewAuditEntry;
use crate::domain::{Caller, ClientId, Role};

#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// Stores `token`, with `audit` if given, in one transaction. A client
    /// token whose client the stored agreements do not have is refused with
    /// [`StoreError::UnknownClient`], and nothing is stored.
    async fn create_token(
        &self,
        token: &NewToken,
        audit: Option<&NewAuditEntry>,
    ) -> Result<(), StoreError>;
    /// The unrevoked token with id `id`, with its stored hash for the caller
    /// to compare and its expiry for the caller to judge.
    async fn token_by_id(&self, id: &str) -> Result<Option<StoredToken>, StoreError>;
    /// The unrevoked token whose SHA-256 is `hash` (tokens without an embedded id).
    async fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<StoredToken>, StoreError>;
    /// Every token ever issued, revoked and expired ones included, oldest first.
    async fn tokens(&self) -> Result<Vec<TokenListing>, StoreError>;
    async fn token(&self, id: &str) -> Result<Option<TokenListing>, StoreError>;
    /// Revokes token `id` at `at` with `audit` in one transaction, if it is
    /// not revoked yet (then nothing changes and nothing is audited);
    /// answers the token as it is afterwards, or `None` if there is none.
    async fn revoke_token(
        &self,
        id: &str,
        at: DateTime<Utc>,
        audit: &NewAuditEntry,
    ) -> Result<Option<TokenListing>, StoreError>;
    /// How many tokens were ever issued, revoked ones included: only a
    /// fresh database has none.
    async fn token_count(&self) -> Result<u64, StoreError>;
}

pub struct NewToken {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub client_id: Option<ClientId>,
    pub hash: [u8; 32],
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token as stored: who it is, the hash a presented secret must match,
/// and until when it is valid.
pub struct StoredToken {
    pub record: Caller,
    pub hash: [u8; 32],
    pub expires_at: Option<DateTime<Utc>>,
}

/// A token as listed: never its hash.
#[derive(Debug, Clone)]
pub struct TokenListing {
    pub token: Caller,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}
