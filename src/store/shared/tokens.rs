//! The API tokens' statements, for every backend (see [`super::dialect`]).

/// Implements `TokenStore` for `$store`.
macro_rules! token_store {
    ($store:ty) => {
        const _: () = {
            use chrono::{DateTime, Utc};

            use $crate::domain::audit::NewAuditEntry;
            use $crate::domain::ClientId;
            use $crate::store::shared::dialect::Dialect;
            use $crate::store::shared::AuditChain;
            use $crate::store::shared::rows::{TokenListingRow, TokenWithHashRow};
            use $crate::store::shared::{millis, names_nothing};
            use $crate::store::{NewToken, StoreError, StoredToken, TokenListing, TokenStore};

            const LISTING: &str =
                "SELECT id, name, role, client_id, created_at, expires_at, revoked_at FROM api_tokens";
            const WITH_HASH: &str = "SELECT id, name, role, client_id, token_hash, expires_at
                 FROM api_tokens WHERE revoked_at IS NULL";

            #[async_trait::async_trait]
            impl TokenStore for $store {
                async fn create_token(
                    &self,
                    token: &NewToken,
                    audit: Option<&NewAuditEntry>,
                ) -> Result<(), StoreError> {
                    let mut tx = self.begin_grant().await?;
                    // The client is looked up in the transaction that stores
                    // the token.
                    let inserted = sqlx::query(
                        "INSERT INTO api_tokens
                             (id, name, role, client_id, token_hash, created_at, expires_at)
                         SELECT $1, $2, $3, $4, $5, $6, $7
                         WHERE CAST($4 AS TEXT) IS NULL OR EXISTS
                             (SELECT 1 FROM agreement_docs WHERE kind = 'client' AND id = $4)",
                    )
                    .bind(&token.id)
                    .bind(&token.name)
                    .bind(token.role.as_str())
                    .bind(token.client_id.as_ref().map(ClientId::as_str))
                    .bind(&token.hash[..])
                    .bind(millis(token.created_at))
                    .bind(token.expires_at.map(millis))
                    .execute(&mut *tx)
                    .await?;
                    if inserted.rows_affected() == 0 {
                        let client = token
                            .client_id
                            .clone()
                            .expect("only a client can be missing");
                        return Err(StoreError::UnknownClient(client));
                    }
                    if let Some(audit) = audit {
                        Self::append_audit_in(&mut tx, audit).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn token_by_id(&self, id: &str) -> Result<Option<StoredToken>, StoreError> {
                    if names_nothing(id) {
                        return Ok(None);
                    }
                    let row: Option<TokenWithHashRow> =
                        sqlx::query_as(&format!("{WITH_HASH} AND id = $1"))
                            .bind(id)
                            .fetch_optional(self.pool())
                            .await?;
                    row.map(TokenWithHashRow::into_record).transpose()
                }

                async fn token_by_hash(
                    &self,
                    hash: &[u8; 32],
                ) -> Result<Option<StoredToken>, StoreError> {
                    let row: Option<TokenWithHashRow> =
                        sqlx::query_as(&format!("{WITH_HASH} AND token_hash = $1"))
                            .bind(&hash[..])
                            .fetch_optional(self.pool())
                            .await?;
                    row.map(TokenWithHashRow::into_record).transpose()
                }

                async fn tokens(&self) -> Result<Vec<TokenListing>, StoreError> {
                    let rows: Vec<TokenListingRow> =
                        sqlx::query_as(&format!("{LISTING} ORDER BY created_at, id"))
                            .fetch_all(self.pool())
                            .await?;
                    rows.into_iter().map(TokenListingRow::into_record).collect()
                }

                async fn token(&self, id: &str) -> Result<Option<TokenListing>, StoreError> {
                    if names_nothing(id) {
                        return Ok(None);
                    }
                    let row: Option<TokenListingRow> =
                        sqlx::query_as(&format!("{LISTING} WHERE id = $1"))
                            .bind(id)
                            .fetch_optional(self.pool())
                            .await?;
                    row.map(TokenListingRow::into_record).transpose()
                }

                async fn revoke_token(
                    &self,
                    id: &str,
                    at: DateTime<Utc>,
                    audit: &NewAuditEntry,
                ) -> Result<Option<TokenListing>, StoreError> {
                    if names_nothing(id) {
                        return Ok(None);
                    }
                    let mut tx = self.begin_write().await?;
                    let revoked = sqlx::query(
                        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                    )
                    .bind(millis(at))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    if revoked.rows_affected() == 1 {
                        Self::append_audit_in(&mut tx, audit).await?;
                    }
                    let row: Option<TokenListingRow> =
                        sqlx::query_as(&format!("{LISTING} WHERE id = $1"))
                            .bind(id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    tx.commit().await?;
                    row.map(TokenListingRow::into_record).transpose()
                }

                async fn token_count(&self) -> Result<u64, StoreError> {
                    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens")
                        .fetch_one(self.pool())
                        .await?;
                    Ok(count as u64)
                }
            }
        };
    };
}
pub(in crate::store) use token_store;
