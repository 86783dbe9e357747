//! API tokens: random bearer secrets, of which only the SHA-256 is stored.
//!
//! A token reads `bg_<role>_<ULID>.<secret>`. The ULID is the token's id and
//! not secret: a presented token is looked up by it and its hash compared with
//! the stored one in constant time, so response timing tells nothing about
//! how close a guess came. Tokens issued before ids were embedded
//! (`bg_<role>_<secret>`, no `.`) are still found through the unique index on
//! their hash; that lookup leaks at most how a guess's SHA-256 compares with
//! stored hashes, which cannot be steered without a preimage.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Services;
use crate::domain::ClientId;
use crate::domain::{Caller, Role};
use crate::store::{NewToken, Store, StoreError};

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

/// The live token `presented` is, if any.
pub async fn authenticate(
    services: &Services,
    presented: &str,
) -> Result<Option<Caller>, StoreError> {
    let store = services.store.as_ref();
    let presented_hash = hash(presented);
    match embedded_id(presented) {
        Some(id) => Ok(store
            .token_by_id(&id)
            .await?
            .filter(|stored| bool::from(stored.hash.ct_eq(&presented_hash)))
            .map(|stored| stored.record)),
        None => store.token_by_hash(&presented_hash).await,
    }
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
    let id = ulid::Ulid::new();
    let token = format!(
        "bg_{}_{id}.{}",
        role.as_str(),
        URL_SAFE_NO_PAD.encode(secret)
    );
    store
        .create_token(&NewToken {
            id: format!("tok_{id}"),
            name: name.to_owned(),
            role,
            client_id,
            hash: hash(&token),
            created_at: Utc::now(),
        })
        .await?;
    Ok(token)
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
