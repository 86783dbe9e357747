//! What a client sees and acknowledges on SQLite, with every backend's
//! statements.

crate::store::shared::client_store!(super::SqliteStore);
