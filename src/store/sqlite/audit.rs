//! The audit log on SQLite: the statements are every backend's; the chain
//! is held by the write lock that each transaction appending to it takes.

crate::store::shared::audit_store!(super::SqliteStore);
