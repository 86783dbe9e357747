//! The audit log on PostgreSQL: the statements are every backend's; the
//! chain is held by an advisory lock, so an append of another instance
//! waits and then reads the entry before it as the head.

crate::store::shared::audit_store!(super::PostgresStore);
