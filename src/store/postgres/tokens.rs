//! API tokens on PostgreSQL, with every backend's statements.

crate::store::shared::token_store!(super::PostgresStore);
