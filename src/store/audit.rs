//! The hash-chained audit log of who did what.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::audit::{AuditEntry, NewAuditEntry};

#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    /// Appends `entry` to the audit log, chained to the last entry.
    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry, StoreError>;
    /// Every audit entry as stored, in `seq` order.
    async fn audit_log(&self) -> Result<Vec<AuditEntry>, StoreError>;
}
