//! API tokens: random bearer secrets, of which only the SHA-256 is stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::domain::ClientId;
use crate::store::{NewToken, Role, Store, StoreError};

/// Tokens carry 256 random bits, so a plain SHA-256 is a safe way to store them.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Creates a token and returns the secret, which exists nowhere else afterwards.
pub async fn issue(
    store: &dyn Store,
    role: Role,
    name: &str,
    client_id: Option<ClientId>,
) -> Result<String, StoreError> {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    let token = format!("bg_{}_{}", role.as_str(), URL_SAFE_NO_PAD.encode(secret));
    store
        .create_token(&NewToken {
            id: format!("tok_{}", ulid::Ulid::new()),
            name: name.to_owned(),
            role,
            client_id,
            hash: hash(&token),
            created_at: Utc::now(),
        })
        .await?;
    Ok(token)
}
