//! Report drafts on PostgreSQL, with every backend's statements.

crate::store::shared::draft_store!(super::PostgresStore);
