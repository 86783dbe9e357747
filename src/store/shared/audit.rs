//! The audit log's statements, for every backend (see [`super::dialect`]).

/// Implements `AuditStore` for `$store`, and defines `append_audit_in`,
/// which chains an entry within the caller's transaction, beside it.
macro_rules! audit_store {
    ($store:ty) => {
        const _: () = {
            use $crate::domain::audit::{AuditEntry, NewAuditEntry};
            use $crate::store::shared::dialect::Dialect;
            use $crate::store::shared::rows::AuditRow;
            use $crate::store::{AuditStore, StoreError};

            #[async_trait::async_trait]
            impl AuditStore for $store {
                async fn append_audit(
                    &self,
                    entry: &NewAuditEntry,
                ) -> Result<AuditEntry, StoreError> {
                    let mut tx = self.begin_write().await?;
                    let sealed = append_audit_in(&mut tx, entry).await?;
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
        };

        /// Chains `entry` to the last entry within `conn`'s transaction,
        /// holding the chain until that transaction ends: no fork, no gap.
        pub(super) async fn append_audit_in(
            conn: &mut $crate::store::shared::dialect::Connection<$store>,
            entry: &$crate::domain::audit::NewAuditEntry,
        ) -> Result<$crate::domain::audit::AuditEntry, $crate::store::StoreError> {
            use $crate::domain::audit::AuditEntry;
            use $crate::store::shared::dialect::Dialect;
            use $crate::store::shared::rows::AuditRow;

            <$store as Dialect>::lock_audit_chain(conn).await?;
            let last: Option<AuditRow> = sqlx::query_as(
                "SELECT seq, at, actor, action, subject, details, prev_hash, hash
                 FROM audit_log ORDER BY seq DESC LIMIT 1",
            )
            .fetch_optional(&mut *conn)
            .await?;
            let sealed = entry.seal(last.map(AuditEntry::from).as_ref());
            sqlx::query(
                "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash)
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
    };
}
pub(in crate::store) use audit_store;
