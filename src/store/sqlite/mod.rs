//! The embedded default backend: one SQLite file in WAL mode, with full
//! fsync on commit so an accepted report survives a crash or power loss.
//! Each concern's `impl` is in its own file, with only its SQL; the rules
//! that are not SQL are in `store::shared`.

mod accounts;
mod agreements;
mod audit;
mod clients;
mod incidents;
mod outbox;
mod queue_rows;
mod rows;
mod schedule;
mod tokens;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

use super::files::{create_private_file, restrict};
use super::{Backend, StoreError};

/// Rows per multi-row INSERT: well under SQLite's 32,766 bound parameters.
const BATCH_ROWS: usize = 1_000;

pub struct SqliteStore {
    /// Commits fsync: everything the API accepts goes through here.
    pool: SqlitePool,
    /// Delivery bookkeeping (leases, attempts) without an fsync per commit:
    /// in WAL mode it still survives a crashed process, and what a power loss
    /// could take back is only redone, under the same webhook-id.
    bookkeeping: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and runs migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(30));
        let database = on_disk(&options);
        if let Some(database) = &database {
            create_private_file(database).map_err(|e| StoreError::File(database.clone(), e))?;
            restrict_companions(database)?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await?;
        if let Some(database) = &database {
            // SQLite gives its -wal and -shm files the database's mode; this
            // only makes sure.
            restrict_companions(database)?;
        }
        sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
        // One connection: the worker's claims and its recorder's batches take
        // turns in the pool's queue instead of contending for SQLite's write
        // lock, whose busy handler sleeps a millisecond or more per retry.
        let bookkeeping = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.synchronous(SqliteSynchronous::Normal))
            .await?;
        Ok(Self { pool, bookkeeping })
    }
}

/// The database file `options` open, when it is a path (not in memory,
/// not a `file:` URI).
fn on_disk(options: &SqliteConnectOptions) -> Option<PathBuf> {
    let path = options.get_filename();
    let name = path.to_str().unwrap_or_default();
    (name != ":memory:" && !name.starts_with("file:")).then(|| path.to_owned())
}

/// Tightens the database's -wal and -shm files, if any, to mode 0600.
/// The database itself is created with that mode before SQLite opens it,
/// which would create it 0644 (less the umask).
fn restrict_companions(database: &Path) -> Result<(), StoreError> {
    for suffix in ["-wal", "-shm"] {
        let mut name = database.as_os_str().to_owned();
        name.push(suffix);
        let path = PathBuf::from(name);
        restrict(&path, 0o600).map_err(|e| StoreError::File(path, e))?;
    }
    Ok(())
}

#[async_trait]
impl Backend for SqliteStore {
    async fn close(&self) {
        self.bookkeeping.close().await;
        self.pool.close().await;
    }
}

/// A JSON column, stored as TEXT.
fn json_column<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A list bound as one JSON array parameter, read back with `json_each`.
fn json_list<T: serde::Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).expect("lists of plain values serialize")
}
