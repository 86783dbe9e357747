//! The audit log's statements, for every backend (see [`super::dialect`]).

use super::dialect::{Connection, Dialect};
use crate::domain::audit::{AuditEntry, NewAuditEntry};
use crate::store::StoreError;

/// Appending to the audit log as part of another change, which
/// `audit_store!` implements for a backend's store.
pub(in crate::store) trait AuditChain: Dialect {
    /// Chains `entry` to the last entry within `conn`'s transaction,
    /// holding the chain until that transaction ends: no fork, no gap.
    async fn append_audit_in(
        conn: &mut Connection<Self>,
        entry: &NewAuditEntry,
    ) -> Result<AuditEntry, StoreError>;
}

/// Implements `AuditStore` and [`AuditChain`] for `$store`, and defines
/// `append_audit_in` beside it for the statements that are still a
/// backend's own.
macro_rules! audit_store {
    ($store:ty) => {
        const _: () = {
            use $crate::domain::audit::{AuditEntry, NewAuditEntry};
            use $crate::store::shared::dialect::{Connection, Dialect};
            use $crate::store::shared::rows::AuditRow;
            use $crate::store::shared::AuditChain;
            use $crate::store::{AuditStore, StoreError};

            #[async_trait::async_trait]
            impl AuditStore for $store {
                async fn append_audit(
                    &self,
                    entry: &NewAuditEntry,
                ) -> Result<AuditEntry, StoreError> {
                    let mut tx = self.begin_write().await?;
                    let sealed = Self::append_audit_in(&mut tx, entry).await?;
                    tx.commit().await?;
                    Ok(sealed)
                }

                async fn audit_log(&self) -> Result<Vec<AuditEntry>, StoreError> {
                    let rows: Vec<AuditRow> = sqlx::query_as(
                        "SELECT seq, at, actor, action, subject, details, prev_hash, hash
                         FROM audit_log ORDER BY seq",
                    )
                    .fetch_all(self.pool())
                    .await?;
                    Ok(rows.into_iter().map(AuditEntry::from).collect())
                }
            }

            impl AuditChain for $store {
                async fn append_audit_in(
                    conn: &mut Connection<Self>,
                    entry: &NewAuditEntry,
                ) -> Result<AuditEntry, StoreError> {
                    Self::lock_audit_chain(conn).await?;
                    let last: Option<AuditRow> = sqlx::query_as(
                        "SELECT seq, at, actor, action, subject, details, prev_hash, hash
                         FROM audit_log ORDER BY seq DESC LIMIT 1",
                    )
                    .fetch_optional(&mut *conn)
                    .await?;
                    let sealed = entry.seal(last.map(AuditEntry::from).as_ref());
                    sqlx::query(
                        "INSERT INTO audit_log
                             (seq, at, actor, action, subject, details, prev_hash, hash)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(sealed.seq)
                    .bind(sealed.at)
                    .bind(&sealed.actor)
                    .bind(&sealed.action)
                    .bind(&sealed.subject)
                    .bind(&sealed.details)
                    .bind(&sealed.prev_hash)
                    .bind(&sealed.hash)
                    .execute(&mut *conn)
                    .await?;
                    Ok(sealed)
                }
            }
        };

        /// [`AuditChain::append_audit_in`](crate::store::shared::AuditChain).
        pub(super) async fn append_audit_in(
            conn: &mut $crate::store::shared::dialect::Connection<$store>,
            entry: &$crate::domain::audit::NewAuditEntry,
        ) -> Result<$crate::domain::audit::AuditEntry, $crate::store::StoreError> {
            <$store as $crate::store::shared::AuditChain>::append_audit_in(conn, entry).await
        }
    };
}
pub(in crate::store) use audit_store;
