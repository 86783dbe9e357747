//! API tokens: who may call, stored as hashes only.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
use crate::domain::{Caller, ClientId, Role};

#[async_trait]
pub trait TokenStore: Send + Sync + 'static {
    async fn create_token(&self, token: &NewToken) -> Result<(), StoreError>;
    /// The live token with id `id`, with its stored hash for the caller to compare.
    async fn token_by_id(&self, id: &str) -> Result<Option<StoredToken>, StoreError>;
    /// The live token whose SHA-256 is `hash` (tokens without an embedded id).
    async fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<Caller>, StoreError>;
    async fn token_count(&self) -> Result<u64, StoreError>;
}

pub struct NewToken {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub client_id: Option<ClientId>,
    pub hash: [u8; 32],
    pub created_at: DateTime<Utc>,
}

/// A token as stored: who it is, and the hash a presented secret must match.
pub struct StoredToken {
    pub record: Caller,
    pub hash: [u8; 32],
}
