//! Moving an installation from SQLite to PostgreSQL (`breachgate store
//! copy`): every row of every table, byte for byte, into an empty database,
//! in one transaction, then checked.
//!
//! The copy is driven by [`TABLES`]: the columns are read from the target's
//! catalog and must match the source table's, so a new table is one line
//! there, and a source table missing from it stops the copy before it starts.

use std::path::PathBuf;
use std::str::FromStr;

use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{PgConnection, QueryBuilder, Row, SqliteConnection};

use super::postgres::PostgresStore;
use super::shared::dialect::Dialect;
use super::sqlite::SqliteStore;
use super::{AuditStore, Backend, StoreError, StoreOptions};
use crate::domain::audit;

/// Every table of the schema, parents before the children whose foreign
/// keys name them. Each is copied in SQLite's rowid order, the order it was
/// written: a PostgreSQL serial column SQLite lacks (`staff_mail.seq`)
/// numbers the rows in that order again.
const TABLES: &[&str] = &[
    "agreement_docs",
    "webhook_secrets",
    "api_tokens",
    "reference_counters",
    "idempotency_keys",
    "incidents",
    "incident_versions",
    "notice_dictionaries",
    "notices",
    "deliveries",
    "delivery_attempts",
    "disabled_endpoints",
    "alerts",
    "acknowledgements",
    "audit_log",
    "staff_mail",
    "deadline_escalations",
    "update_reminders",
    "webhook_tests",
    "users",
    "password_setups",
    "sessions",
    "failed_sign_ins",
    "report_drafts",
];

/// Rows sent in one INSERT (PostgreSQL takes at most 65,535 parameters).
const BATCH_ROWS: i64 = 1000;

/// How many notices, spread over all of them, are compared byte for byte.
const NOTICE_SAMPLE: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("the source must be a sqlite: URL (got {0:?})")]
    SourceScheme(String),
    #[error("the target must be a postgres: URL (got {0:?})")]
    TargetScheme(String),
    #[error("no SQLite database at {0}")]
    MissingSource(PathBuf),
    #[error("the target database is not empty ({0}); copy only into an empty database")]
    TargetNotEmpty(String),
    #[error("the source has tables the copy does not know: {0}")]
    UnknownTables(String),
    #[error("table {table}: the SQLite columns ({source_columns}) differ from the PostgreSQL columns ({target_columns})")]
    ColumnsDiffer {
        table: &'static str,
        source_columns: String,
        target_columns: String,
    },
    #[error("table {table}: column {column} has the PostgreSQL type {kind}, which the copy does not know")]
    UnknownType {
        table: &'static str,
        column: String,
        kind: String,
    },
    #[error("the copy does not match the source: {0}")]
    Mismatch(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for CopyError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// What was copied and checked.
#[derive(Debug)]
pub struct CopyReport {
    /// Rows per table, in copy order; the same on both sides.
    pub tables: Vec<(&'static str, i64)>,
    /// Audit entries whose chain verified on the target.
    pub audit_entries: usize,
    /// Notices whose bytes and JWS were compared.
    pub notices_compared: usize,
}

/// Copies the SQLite store at `from` (an existing file, migrated first)
/// into the PostgreSQL database at `to` (which must exist; it is migrated,
/// and refused unless every table is empty), then verifies the copy: row
/// counts per table, the audit chain on the target, and a sample of notices
/// compared byte for byte. Stop the gateway on `from` first: what it writes
/// after the copy's snapshot is not copied.
pub async fn copy(from: &str, to: &str, options: &StoreOptions) -> Result<CopyReport, CopyError> {
    if !from.starts_with("sqlite:") {
        return Err(CopyError::SourceScheme(from.to_owned()));
    }
    if !(to.starts_with("postgres:") || to.starts_with("postgresql:")) {
        return Err(CopyError::TargetScheme(to.to_owned()));
    }
    let file = SqliteConnectOptions::from_str(from)?
        .get_filename()
        .to_owned();
    if !file.is_file() {
        return Err(CopyError::MissingSource(file));
    }
    let source = SqliteStore::open(from).await?;
    let target = match PostgresStore::open(to, options).await {
        Ok(target) => target,
        Err(e) => {
            source.close().await;
            return Err(e.into());
        }
    };
    let copied = copy_between(&source, &target).await;
    let report = match copied {
        Ok(tables) => verify(&source, &target, tables).await,
        Err(e) => Err(e),
    };
    source.close().await;
    target.close().await;
    report
}

/// Copies every table in one transaction on each side: a snapshot of the
/// source, and a target that shows nothing until everything is in.
async fn copy_between(
    source: &SqliteStore,
    target: &PostgresStore,
) -> Result<Vec<(&'static str, i64)>, CopyError> {
    let mut from = source.pool().begin().await?;
    refuse_unknown_tables(&mut from).await?;
    let mut to = target.pool().begin().await?;
    // Writers of a gateway already started on the target wait for the copy.
    sqlx::query(&format!(
        "LOCK TABLE {} IN EXCLUSIVE MODE",
        TABLES.join(", ")
    ))
    .execute(&mut *to)
    .await?;
    refuse_non_empty(&mut to).await?;
    let mut tables = Vec::with_capacity(TABLES.len());
    for &table in TABLES {
        let rows = copy_table(&mut from, &mut to, table).await?;
        tables.push((table, rows));
    }
    to.commit().await?;
    from.rollback().await?;
    Ok(tables)
}

async fn refuse_unknown_tables(from: &mut SqliteConnection) -> Result<(), CopyError> {
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table'
         AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name",
    )
    .fetch_all(&mut *from)
    .await?;
    let unknown: Vec<String> = names
        .into_iter()
        .filter(|name| !TABLES.contains(&name.as_str()))
        .collect();
    match unknown.is_empty() {
        true => Ok(()),
        false => Err(CopyError::UnknownTables(unknown.join(", "))),
    }
}

async fn refuse_non_empty(to: &mut PgConnection) -> Result<(), CopyError> {
    let mut found = Vec::new();
    for &table in TABLES {
        let rows: i64 = sqlx::query_scalar(&count(table))
            .fetch_one(&mut *to)
            .await?;
        if rows > 0 {
            found.push(format!("{table}: {rows} rows"));
        }
    }
    match found.is_empty() {
        true => Ok(()),
        false => Err(CopyError::TargetNotEmpty(found.join(", "))),
    }
}

fn count(table: &str) -> String {
    format!("SELECT count(*) FROM {table}")
}

/// How a column's values travel: read from SQLite as, and bound for
/// PostgreSQL as, one of these.
#[derive(Clone, Copy)]
enum Kind {
    Integer,
    Text,
    Bytes,
}

enum Value {
    Integer(Option<i64>),
    Text(Option<String>),
    Bytes(Option<Vec<u8>>),
}

/// The columns the copy writes: the target's, less those PostgreSQL fills
/// itself (generated columns, and serials SQLite does not have, such as
/// `staff_mail.seq`), in the target's order. They must be exactly the
/// source's (SQLite's `table_info` leaves out its generated columns too).
/// A serial SQLite has (an `INTEGER PRIMARY KEY`) is copied as it is, and
/// flagged so its sequence is moved past the copied values.
async fn columns(
    from: &mut SqliteConnection,
    to: &mut PgConnection,
    table: &'static str,
) -> Result<Vec<Column>, CopyError> {
    let mut source: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info(?1) ORDER BY name")
            .bind(table)
            .fetch_all(&mut *from)
            .await?;
    let target: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text,
                coalesce(column_default, '') LIKE 'nextval(%'
         FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER'
         ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(&mut *to)
    .await?;
    let target: Vec<(String, String, bool)> = target
        .into_iter()
        .filter(|(name, _, serial)| !serial || source.contains(name))
        .collect();
    let mut names: Vec<String> = target.iter().map(|(name, _, _)| name.clone()).collect();
    names.sort();
    source.sort();
    if names != source {
        return Err(CopyError::ColumnsDiffer {
            table,
            source_columns: source.join(", "),
            target_columns: names.join(", "),
        });
    }
    target
        .into_iter()
        .map(|(name, kind, serial)| {
            let kind = match kind.as_str() {
                "bigint" | "integer" | "smallint" => Kind::Integer,
                "text" => Kind::Text,
                "bytea" => Kind::Bytes,
                _ => {
                    return Err(CopyError::UnknownType {
                        table,
                        column: name,
                        kind,
                    })
                }
            };
            Ok(Column { name, kind, serial })
        })
        .collect()
}

struct Column {
    name: String,
    kind: Kind,
    /// A serial whose values were copied: its sequence must follow them.
    serial: bool,
}

/// Moves the sequence of each copied serial column of `table` past the
/// largest value copied, so the next row PostgreSQL numbers is new.
async fn advance_serials(
    to: &mut PgConnection,
    table: &'static str,
    columns: &[Column],
) -> Result<(), CopyError> {
    for column in columns.iter().filter(|c| c.serial) {
        let name = &column.name;
        sqlx::query(&format!(
            "SELECT setval(pg_get_serial_sequence($1, $2),
                           (SELECT coalesce(max(\"{name}\"), 0) + 1 FROM {table}), false)"
        ))
        .bind(table)
        .bind(name)
        .execute(&mut *to)
        .await?;
    }
    Ok(())
}

/// Copies `table` in rowid order, a batch at a time; answers the rows copied.
async fn copy_table(
    from: &mut SqliteConnection,
    to: &mut PgConnection,
    table: &'static str,
) -> Result<i64, CopyError> {
    let columns = columns(from, to, table).await?;
    let list = columns
        .iter()
        .map(|column| format!("\"{}\"", column.name))
        .collect::<Vec<_>>()
        .join(", ");
    let select =
        format!("SELECT rowid, {list} FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2");
    let mut after = i64::MIN;
    let mut copied = 0;
    loop {
        let rows: Vec<SqliteRow> = sqlx::query(&select)
            .bind(after)
            .bind(BATCH_ROWS)
            .fetch_all(&mut *from)
            .await?;
        let Some(last) = rows.last() else {
            advance_serials(to, table, &columns).await?;
            return Ok(copied);
        };
        after = last.try_get(0)?;
        let values = rows
            .iter()
            .map(|row| read_row(row, &columns))
            .collect::<Result<Vec<_>, _>>()?;
        let mut insert = QueryBuilder::new(format!("INSERT INTO {table} ({list}) "));
        insert.push_values(values, |mut bind, row| {
            for value in row {
                match value {
                    Value::Integer(v) => bind.push_bind(v),
                    Value::Text(v) => bind.push_bind(v),
                    Value::Bytes(v) => bind.push_bind(v),
                };
            }
        });
        insert.build().execute(&mut *to).await?;
        copied += rows.len() as i64;
    }
}

/// The row's values after its rowid, as `columns` say to read them.
fn read_row(row: &SqliteRow, columns: &[Column]) -> Result<Vec<Value>, sqlx::Error> {
    columns
        .iter()
        .enumerate()
        .map(|(i, column)| {
            Ok(match column.kind {
                Kind::Integer => Value::Integer(row.try_get(i + 1)?),
                Kind::Text => Value::Text(row.try_get(i + 1)?),
                Kind::Bytes => Value::Bytes(row.try_get(i + 1)?),
            })
        })
        .collect()
}

/// Checks the committed copy against the source: the row count of every
/// table, the audit chain as the target reads it, and notices spread over
/// all of them compared byte for byte with their JWS.
async fn verify(
    source: &SqliteStore,
    target: &PostgresStore,
    tables: Vec<(&'static str, i64)>,
) -> Result<CopyReport, CopyError> {
    for &(table, copied) in &tables {
        let in_source: i64 = sqlx::query_scalar(&count(table))
            .fetch_one(source.pool())
            .await?;
        let in_target: i64 = sqlx::query_scalar(&count(table))
            .fetch_one(target.pool())
            .await?;
        if in_source != copied || in_target != copied {
            return Err(CopyError::Mismatch(format!(
                "table {table}: {in_source} rows in the source, {in_target} in the target"
            )));
        }
    }
    let entries = target.audit_log().await?;
    let audit_entries =
        audit::verify(&entries).map_err(|broken| CopyError::Mismatch(broken.to_string()))?;
    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM notices ORDER BY rowid")
        .fetch_all(source.pool())
        .await?;
    let step = ids.len().div_ceil(NOTICE_SAMPLE).max(1);
    let sample: Vec<&String> = ids.iter().step_by(step).collect();
    for id in &sample {
        let original: (Vec<u8>, Option<String>) =
            sqlx::query_as("SELECT body, jws FROM notices WHERE id = ?1")
                .bind(id)
                .fetch_one(source.pool())
                .await?;
        let copied: Option<(Vec<u8>, Option<String>)> =
            sqlx::query_as("SELECT body, jws FROM notices WHERE id = $1")
                .bind(id)
                .fetch_optional(target.pool())
                .await?;
        if copied.as_ref() != Some(&original) {
            return Err(CopyError::Mismatch(format!(
                "notice {id}: the target's bytes or JWS differ"
            )));
        }
    }
    Ok(CopyReport {
        tables,
        audit_entries,
        notices_compared: sample.len(),
    })
}
