//! What a backend decides for the statements both backends share: how a
//! transaction that writes begins, and what keeps the audit chain in order.
//!
//! Those statements are written once, with `$N` placeholders (SQLite binds
//! them by number too), in a `macro_rules!` per concern that a backend
//! expands for its store: the SQL and the code that binds and reads it are
//! the same, only the `sqlx::Database` differs, and sqlx's bounds for being
//! generic over it would outweigh the code.

use sqlx::{Database, Pool, Transaction};

use crate::store::StoreError;

/// The connection a backend's transactions run on.
pub(in crate::store) type Connection<S> = <<S as Dialect>::Database as Database>::Connection;

pub(in crate::store) trait Dialect {
    type Database: Database;

    /// The pool that the API's writes are committed through (SQLite's
    /// fsyncing one), which the copy to another backend reads too.
    fn pool(&self) -> &Pool<Self::Database>;

    /// Begins a transaction that reads before it writes (the audit chain's
    /// head, a row it then changes). A backend whose writers share one lock
    /// takes it here, before the read, so no other writer comes between.
    async fn begin_write(&self) -> Result<Transaction<'_, Self::Database>, StoreError>;

    /// Begins a transaction that gives access (a token, an account), maybe
    /// to a client: until it ends the stored clients do not change and no
    /// other grant runs, so a client removed meanwhile is given nothing and
    /// two accounts cannot take one email.
    async fn begin_grant(&self) -> Result<Transaction<'_, Self::Database>, StoreError>;

    /// Holds the audit chain for the rest of `conn`'s transaction, so that
    /// the head it reads is still the head when it appends.
    async fn lock_audit_chain(conn: &mut Connection<Self>) -> Result<(), StoreError>;
}
