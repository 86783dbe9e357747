//! What a client sees and acknowledges on PostgreSQL, with every backend's
//! statements.

crate::store::shared::client_store!(super::PostgresStore);
