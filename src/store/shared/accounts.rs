//! The statements of people's accounts (users, password setups, sessions,
//! failed sign-ins), for every backend (see [`super::dialect`]).

/// Implements `AccountStore` for `$store`.
macro_rules! account_store {
    ($store:ty) => {
        const _: () = {
            use chrono::{DateTime, Utc};

            use $crate::domain::audit::NewAuditEntry;
            use $crate::store::shared::account_rows::{SessionRow, StoredUserRow, UserRow};
            use $crate::store::shared::dialect::Dialect;
            use $crate::store::shared::AuditChain;
            use $crate::store::shared::{millis, names_nothing};
            use $crate::store::{
                AccountStore, FailedSignIns, NewPasswordSetup, NewSession, NewUser, StoreError,
                StoredSession, StoredUser, User,
            };

            #[async_trait::async_trait]
            impl AccountStore for $store {
                async fn create_user(
                    &self,
                    new: &NewUser,
                    setup: &NewPasswordSetup,
                    audit: &NewAuditEntry,
                ) -> Result<(), StoreError> {
                    let user = &new.user;
                    let mut tx = self.begin_grant().await?;
                    let taken: Option<(String,)> =
                        sqlx::query_as("SELECT id FROM users WHERE email = $1")
                            .bind(&user.email)
                            .fetch_optional(&mut *tx)
                            .await?;
                    if taken.is_some() {
                        return Err(StoreError::AccountExists(user.email.clone()));
                    }
                    // As for client tokens: the client is looked up in the
                    // transaction that stores the user.
                    let client = user.client_id.as_ref().map(|c| c.as_str());
                    let inserted = sqlx::query(
                        "INSERT INTO users (id, email, role, client_id, created_at)
                         SELECT $1, $2, $3, $4, $5
                         WHERE CAST($4 AS TEXT) IS NULL OR EXISTS
                             (SELECT 1 FROM agreement_docs WHERE kind = 'client' AND id = $4)",
                    )
                    .bind(&user.id)
                    .bind(&user.email)
                    .bind(user.role.as_str())
                    .bind(client)
                    .bind(millis(new.created_at))
                    .execute(&mut *tx)
                    .await?;
                    if inserted.rows_affected() == 0 {
                        let client = user
                            .client_id
                            .clone()
                            .expect("only a client can be missing");
                        return Err(StoreError::UnknownClient(client));
                    }
                    sqlx::query(
                        "INSERT INTO password_setups (token_hash, user_id, created_at, expires_at)
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(&setup.token_hash[..])
                    .bind(&user.id)
                    .bind(millis(setup.created_at))
                    .bind(millis(setup.expires_at))
                    .execute(&mut *tx)
                    .await?;
                    Self::append_audit_in(&mut tx, audit).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn user_by_email(
                    &self,
                    email: &str,
                ) -> Result<Option<StoredUser>, StoreError> {
                    if names_nothing(email) {
                        return Ok(None);
                    }
                    let row: Option<StoredUserRow> = sqlx::query_as(
                        "SELECT id, email, role, client_id, password_hash FROM users WHERE email = $1",
                    )
                    .bind(email)
                    .fetch_optional(self.pool())
                    .await?;
                    row.map(StoredUserRow::into_record).transpose()
                }

                async fn password_setup(
                    &self,
                    token_hash: &[u8; 32],
                    now: DateTime<Utc>,
                ) -> Result<Option<User>, StoreError> {
                    let row: Option<UserRow> = sqlx::query_as(
                        "SELECT u.id, u.email, u.role, u.client_id FROM password_setups s
                         JOIN users u ON u.id = s.user_id
                         WHERE s.token_hash = $1 AND s.used_at IS NULL AND s.expires_at > $2",
                    )
                    .bind(&token_hash[..])
                    .bind(millis(now))
                    .fetch_optional(self.pool())
                    .await?;
                    row.map(UserRow::into_record).transpose()
                }

                async fn set_password(
                    &self,
                    token_hash: &[u8; 32],
                    password_hash: &str,
                    at: DateTime<Utc>,
                    audit: &NewAuditEntry,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.begin_write().await?;
                    let spent: Option<(String,)> = sqlx::query_as(
                        "UPDATE password_setups SET used_at = $2
                         WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
                         RETURNING user_id",
                    )
                    .bind(&token_hash[..])
                    .bind(millis(at))
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some((user_id,)) = spent else {
                        return Ok(false);
                    };
                    sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                        .bind(password_hash)
                        .bind(&user_id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL",
                    )
                    .bind(millis(at))
                    .bind(&user_id)
                    .execute(&mut *tx)
                    .await?;
                    Self::append_audit_in(&mut tx, audit).await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn create_session(
                    &self,
                    session: &NewSession,
                    audit: &NewAuditEntry,
                ) -> Result<(), StoreError> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "INSERT INTO sessions
                             (token_hash, id, user_id, csrf_token, created_at, last_seen_at)
                         VALUES ($1, $2, $3, $4, $5, $5)",
                    )
                    .bind(&session.token_hash[..])
                    .bind(&session.id)
                    .bind(&session.user_id)
                    .bind(&session.csrf_token)
                    .bind(millis(session.created_at))
                    .execute(&mut *tx)
                    .await?;
                    Self::append_audit_in(&mut tx, audit).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn session(
                    &self,
                    token_hash: &[u8; 32],
                ) -> Result<Option<StoredSession>, StoreError> {
                    let row: Option<SessionRow> = sqlx::query_as(
                        "SELECT s.id AS session_id, u.id, u.email, u.role, u.client_id,
                                s.csrf_token, s.created_at, s.last_seen_at
                         FROM sessions s JOIN users u ON u.id = s.user_id
                         WHERE s.token_hash = $1 AND s.revoked_at IS NULL",
                    )
                    .bind(&token_hash[..])
                    .fetch_optional(self.pool())
                    .await?;
                    row.map(SessionRow::into_record).transpose()
                }

                async fn touch_session(
                    &self,
                    id: &str,
                    at: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    // Never back: of two requests at once, the later may
                    // finish first.
                    sqlx::query(
                        "UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1",
                    )
                    .bind(millis(at))
                    .bind(id)
                    .execute(self.pool())
                    .await?;
                    Ok(())
                }

                async fn revoke_session(
                    &self,
                    id: &str,
                    at: DateTime<Utc>,
                    audit: &NewAuditEntry,
                ) -> Result<(), StoreError> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query(
                        "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL",
                    )
                    .bind(millis(at))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    Self::append_audit_in(&mut tx, audit).await?;
                    tx.commit().await?;
                    Ok(())
                }

                async fn record_failed_sign_in(
                    &self,
                    email: &str,
                    address: &str,
                    at: DateTime<Utc>,
                    forget_before: DateTime<Utc>,
                ) -> Result<(), StoreError> {
                    sqlx::query("DELETE FROM failed_sign_ins WHERE at < $1")
                        .bind(millis(forget_before))
                        .execute(self.pool())
                        .await?;
                    sqlx::query(
                        "INSERT INTO failed_sign_ins (at, email, address) VALUES ($1, $2, $3)",
                    )
                    .bind(millis(at))
                    .bind(email)
                    .bind(address)
                    .execute(self.pool())
                    .await?;
                    Ok(())
                }

                async fn failed_sign_ins(
                    &self,
                    email: &str,
                    address: &str,
                    since: DateTime<Utc>,
                ) -> Result<FailedSignIns, StoreError> {
                    let (for_email, from_address): (i64, i64) = sqlx::query_as(
                        "SELECT (SELECT COUNT(*) FROM failed_sign_ins WHERE email = $1 AND at >= $3),
                                (SELECT COUNT(*) FROM failed_sign_ins WHERE address = $2 AND at >= $3)",
                    )
                    .bind(email)
                    .bind(address)
                    .bind(millis(since))
                    .fetch_one(self.pool())
                    .await?;
                    Ok(FailedSignIns {
                        for_email: for_email.try_into().unwrap_or(0),
                        from_address: from_address.try_into().unwrap_or(0),
                    })
                }
            }
        };
    };
}
pub(in crate::store) use account_store;
