//! The shared backend: one PostgreSQL database that several gateway
//! instances may use at once. What one process's memory or SQLite's single
//! writer guarantees elsewhere is held here by the database: claims skip
//! rows another instance has locked and count every instance's leases, and
//! the audit chain and agreement changes take transaction-scoped advisory
//! locks. Each concern's `impl` is in its own file; the statements every
//! backend shares and the rules that are not SQL are in `store::shared`.

mod accounts;
mod agreements;
mod audit;
mod changes;
mod clients;
mod drafts;
mod incidents;
mod outbox;
mod schedule;
mod tokens;

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use super::shared::dialect::Dialect;
use super::shared::require_migrated;
use super::{Backend, Change, StoreError, StoreOptions};

/// Keys of the transaction-scoped advisory locks (`pg_advisory_xact_lock`)
/// that serialise what must happen one at a time across instances. The
/// migrator's own lock is a key derived from the database name.
#[derive(Clone, Copy)]
#[repr(i64)]
enum Serialised {
    /// Appending to the audit chain: read the head, insert the next entry.
    AuditChain = 0x6272_6761_0001,
    /// Replacing or changing the stored agreements and their secrets.
    Agreements = 0x6272_6761_0002,
    /// Claiming deliveries, so each claim counts the leases of the others.
    DeliveryClaims = 0x6272_6761_0003,
}

/// Waits for `lock` on `conn`'s transaction, which holds it until it ends.
async fn serialise(conn: &mut PgConnection, lock: Serialised) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(lock as i64)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Begins a transaction of the worker's bookkeeping (claims and attempt
/// records) that commits without waiting for its WAL to reach the disk
/// (`synchronous_commit = off`, for this transaction only): a commit costs
/// no fsync, and claims, which take turns, no longer wait for one another's.
/// This is SQLite's `synchronous = NORMAL` for the same writes: it survives a
/// crash of the gateway; a crash of the database server or its host may lose
/// the last moments of bookkeeping (at most three `wal_writer_delay`s), never
/// a filing, since a fully durable commit flushes every commit before it.
/// Losing it costs at most a delivery attempted again, under the same
/// `webhook-id` that receivers de-duplicate on: a lost lease is a delivery
/// claimed again, a lost record an attempt made again. Filings,
/// acknowledgements and admin changes never begin here and stay fully
/// durable. `then`, if given, is taken in the same round trip.
async fn begin_bookkeeping(
    pool: &PgPool,
    then: Option<Serialised>,
) -> Result<Transaction<'static, Postgres>, StoreError> {
    let begin = "BEGIN; SET LOCAL synchronous_commit = off";
    Ok(match then {
        None => pool.begin_with(begin).await?,
        Some(lock) => {
            pool.begin_with(format!(
                "{begin}; SELECT pg_advisory_xact_lock({})",
                lock as i64
            ))
            .await?
        }
    })
}

static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a request waits for a connection before it gives up; sqlx
/// keeps trying to connect, with backoff, meanwhile.
const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database at `url` (which must exist) and runs the
    /// migrations; sqlx's migrator holds an advisory lock while it does, so
    /// instances starting together migrate once.
    pub async fn open(url: &str, options: &StoreOptions) -> Result<Self, StoreError> {
        let connect = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            // While the database is unreachable, a request waits this long
            // for a connection before it is answered 503.
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(connect)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }
}

/// Several instances write at once: what must happen one at a time takes an
/// advisory lock; everything else is left to row locks.
impl Dialect for PostgresStore {
    type Database = Postgres;

    fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<Transaction<'_, Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// Under the agreements' lock, which their changes take too.
    async fn begin_grant(&self) -> Result<Transaction<'_, Postgres>, StoreError> {
        let mut tx = self.pool.begin().await?;
        serialise(&mut tx, Serialised::Agreements).await?;
        Ok(tx)
    }

    /// Taken last in every transaction that appends, so it is held briefly.
    async fn lock_audit_chain(conn: &mut PgConnection) -> Result<(), StoreError> {
        serialise(conn, Serialised::AuditChain).await
    }
}

#[async_trait]
impl Backend for PostgresStore {
    async fn close(&self) {
        self.pool.close().await;
    }

    /// The database answers within the pool's acquire timeout and has every
    /// migration this build embeds applied.
    async fn readiness(&self) -> Result<(), StoreError> {
        let applied: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await?;
        require_migrated(&MIGRATOR, &applied)
    }

    async fn announce(&self, change: Change) -> Result<(), StoreError> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(changes::CHANNEL)
            .bind(changes::payload(change))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    fn changes(&self) -> tokio::sync::mpsc::Receiver<Change> {
        let (sender, receiver) = tokio::sync::mpsc::channel(64);
        tokio::spawn(changes::poll_agreements(self.pool.clone(), sender.clone()));
        tokio::spawn(changes::listen(self.pool.clone(), sender));
        receiver
    }
}
