use async_trait::async_trait;

use super::rows::{TokenRow, TokenWithHashRow};
use super::SqliteStore;
use crate::domain::{Caller, ClientId};
use crate::store::shared::millis;
use crate::store::{NewToken, StoreError, StoredToken, TokenStore};

#[async_trait]
impl TokenStore for SqliteStore {
    async fn create_token(&self, token: &NewToken) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO api_tokens (id, name, role, client_id, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(&token.id)
            .bind(&token.name)
            .bind(token.role.as_str())
            .bind(token.client_id.as_ref().map(ClientId::as_str))
            .bind(&token.hash[..])
            .bind(millis(token.created_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn token_by_id(&self, id: &str) -> Result<Option<StoredToken>, StoreError> {
        let row: Option<TokenWithHashRow> = sqlx::query_as("SELECT id, name, role, client_id, token_hash FROM api_tokens WHERE id = ? AND revoked_at IS NULL")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(StoredToken {
                record: row.token.into_record()?,
                hash: row
                    .token_hash
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("token hash length".into()))?,
            })
        })
        .transpose()
    }

    async fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<Caller>, StoreError> {
        let row: Option<TokenRow> = sqlx::query_as("SELECT id, name, role, client_id FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL")
            .bind(&hash[..])
            .fetch_optional(&self.pool)
            .await?;
        row.map(TokenRow::into_record).transpose()
    }

    async fn token_count(&self) -> Result<u64, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NULL")
                .fetch_one(&self.pool)
                .await?;
        Ok(count as u64)
    }
}
