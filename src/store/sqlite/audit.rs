use async_trait::async_trait;
use sqlx::SqliteConnection;

use super::SqliteStore;
use crate::domain::audit::{AuditEntry, NewAuditEntry};
use crate::store::shared::rows::AuditRow;
use crate::store::{AuditStore, StoreError};

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let sealed = append_audit_in(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(sealed)
    }

    async fn audit_log(&self) -> Result<Vec<AuditEntry>, StoreError> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(AuditEntry::from).collect())
    }
}

/// Chains `entry` to the last entry on `conn`, which must already hold the
/// write lock (a write earlier in its transaction, or BEGIN IMMEDIATE), so no
/// other writer can append between the read and the insert.
pub(super) async fn append_audit_in(
    conn: &mut SqliteConnection,
    entry: &NewAuditEntry,
) -> Result<AuditEntry, StoreError> {
    let last: Option<AuditRow> = sqlx::query_as(
        "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log
         ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?;
    let sealed = entry.seal(last.map(AuditEntry::from).as_ref());
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
