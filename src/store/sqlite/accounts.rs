//! Accounts on SQLite, with every backend's statements.

crate::store::shared::account_store!(super::SqliteStore);
