use async_trait::async_trait;
use sqlx::PgConnection;

use super::{serialise, PostgresStore, Serialised};
use crate::domain::audit::{AuditEntry, NewAuditEntry};
use crate::store::shared::rows::AuditRow;
use crate::store::{AuditStore, StoreError};

const ENTRY: &str =
    "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log";

#[async_trait]
impl AuditStore for PostgresStore {
    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry, StoreError> {
        let mut tx = self.pool.begin().await?;
        let sealed = append_audit_in(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(sealed)
    }

    async fn audit_log(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<AuditRow> = sqlx::query_as(&format!("{ENTRY} ORDER BY seq"))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }
}

/// Chains `entry` to the last entry within `conn`'s transaction. The chain's
/// lock is held until that transaction ends, so an append of another
/// instance waits and then reads this entry as the head: no fork, no gap.
/// Taken last in every transaction that appends, so it is held briefly.
pub(super) async fn append_audit_in(
    conn: &mut PgConnection,
    entry: &NewAuditEntry,
) -> Result<AuditEntry, StoreError> {
    serialise(conn, Serialised::AuditChain).await?;
    let last: Option<AuditRow> = sqlx::query_as(&format!("{ENTRY} ORDER BY seq DESC LIMIT 1"))
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
