//! API tokens on SQLite, with every backend's statements.

crate::store::shared::token_store!(super::SqliteStore);
