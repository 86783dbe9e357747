//! Report drafts on SQLite, with every backend's statements.

crate::store::shared::draft_store!(super::SqliteStore);
