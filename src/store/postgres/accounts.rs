//! Accounts on PostgreSQL, with every backend's statements.

crate::store::shared::account_store!(super::PostgresStore);
