//! The embedded default backend: one SQLite file in WAL mode, with full
//! fsync on commit so an accepted report survives a crash or power loss.
//! Each concern's `impl` is in its own file; the statements every backend
//! shares and the rules that are not SQL are in `store::shared`.

mod accounts;
mod agreements;
mod audit;
mod backup;
mod clients;
mod drafts;
mod incidents;
mod outbox;
mod readiness;
mod schedule;
mod tokens;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};

pub(super) use backup::backup;

use super::files::{create_private_file, restrict};
use super::shared::dialect::Dialect;
use super::shared::require_migrated;
use super::{Backend, Change, StoreError};

/// How many rows a bookkeeping query may hand over before the runtime takes
/// them: a whole claim up to a delivery concurrency of 512 (a claim takes
/// at most twice the concurrency).
const CLAIM_ROWS_AT_ONCE: usize = 1024;

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

pub struct SqliteStore {
    /// Commits fsync: everything the API accepts goes through here.
    pool: SqlitePool,
    /// Delivery bookkeeping (leases, attempts) without an fsync per commit:
    /// in WAL mode it still survives a crashed process, and what a power loss
    /// could take back is only redone, under the same webhook-id.
    bookkeeping: SqlitePool,
    /// The database file it opened (none in memory): readiness checks that
    /// its path still leads there.
    file: Option<readiness::DatabaseFile>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and runs migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = connect_options(url)?;
        let database = on_disk(&options);
        if let Some(database) = &database {
            create_private_file(database).map_err(|e| StoreError::File(database.clone(), e))?;
            restrict_companions(database)?;
        }
        // The file exists now: a connection that finds it gone (moved away
        // while the gateway runs) fails rather than start an empty database.
        let options = options.create_if_missing(database.is_none());
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await?;
        if let Some(database) = &database {
            // SQLite gives its -wal and -shm files the database's mode; this
            // only makes sure.
            restrict_companions(database)?;
        }
        MIGRATOR.run(&pool).await?;
        // One connection: the worker's claims and its recorder's batches take
        // turns in the pool's queue instead of contending for SQLite's write
        // lock, whose busy handler sleeps a millisecond or more per retry.
        // Its queries hand back a claim's rows in one go: with sqlx's
        // default of 50 rows at a time, the connection's thread stops at
        // each 50th row until a busy runtime gets round to taking them,
        // and the connection every delivery waits on stands idle meanwhile.
        let bookkeeping = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                options
                    .synchronous(SqliteSynchronous::Normal)
                    .row_buffer_size(CLAIM_ROWS_AT_ONCE),
            )
            .await?;
        let file = database
            .map(|path| readiness::DatabaseFile::opened(&path))
            .transpose()?;
        Ok(Self {
            pool,
            bookkeeping,
            file,
        })
    }
}

/// How every connection to the database at `url` is set up: WAL, full
/// fsync on commit, foreign keys, and a generous wait for the write lock.
fn connect_options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
    Ok(SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(30)))
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

/// One file has one writer: a transaction that writes takes SQLite's write
/// lock when it begins, and that lock serialises everything else.
impl Dialect for SqliteStore {
    type Database = Sqlite;

    fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<Transaction<'_, Sqlite>, StoreError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn begin_grant(&self) -> Result<Transaction<'_, Sqlite>, StoreError> {
        self.begin_write().await
    }

    /// The caller's transaction holds the write lock already: a write
    /// earlier in it, or `BEGIN IMMEDIATE`.
    async fn lock_audit_chain(_: &mut SqliteConnection) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl Backend for SqliteStore {
    async fn close(&self) {
        self.bookkeeping.close().await;
        self.pool.close().await;
    }

    async fn readiness(&self) -> Result<(), StoreError> {
        if let Some(file) = &self.file {
            file.check()?;
        }
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await?;
        require_migrated(&MIGRATOR, &applied)
    }

    async fn announce(&self, _change: Change) -> Result<(), StoreError> {
        Ok(())
    }

    /// One process uses a SQLite file: nobody else announces anything.
    fn changes(&self) -> tokio::sync::mpsc::Receiver<Change> {
        tokio::sync::mpsc::channel(1).1
    }
}
