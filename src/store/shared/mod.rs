//! The store's rules that are not SQL, for every backend: what changed
//! between the stored and the new agreements, how the rows of an incident
//! and of the register fit together, whether a deadline was met, and what a
//! finished attempt leads to. A backend reads and writes rows; these take
//! rows (already decoded into records) and return records.
//!
//! And the statements that are the same on every backend, with the code
//! that binds and reads them, written once (see [`dialect`]).

pub mod account_rows;
mod accounts;
mod agreements;
mod attempts;
mod audit;
mod clients;
pub mod dialect;
pub mod draft_rows;
mod drafts;
mod incidents;
mod notice_bodies;
pub mod queries;
pub mod queue_rows;
pub mod rows;
mod schedule;
mod tokens;

use std::collections::HashMap;

use chrono::{DateTime, Utc};

pub(in crate::store) use accounts::account_store;
pub use agreements::{agreement_digest, diff_agreements, disabled_by, doc_key, DocKey};
pub use attempts::{attempt_batch, attempt_effects, attempt_rows, AttemptBatchRow, AttemptEffects};
pub(in crate::store) use audit::{audit_store, AuditChain};
pub(in crate::store) use clients::client_store;
pub(in crate::store) use drafts::draft_store;
pub use incidents::{
    client_series, incident_detail, register, series_notice_ids, with_deliveries,
    RegisterNoticeRow, SeriesRow,
};
pub use notice_bodies::{pack_notices, unpack_body, Dictionary};
pub(in crate::store) use schedule::schedule_store;
pub(in crate::store) use tokens::token_store;

use super::StoreError;
use crate::domain::{ClientId, NoticeId};

/// Fails with how many of `migrator`'s migrations are not among `applied`,
/// the versions a database records as applied.
pub fn require_migrated(
    migrator: &sqlx::migrate::Migrator,
    applied: &[i64],
) -> Result<(), StoreError> {
    let pending = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
        .count();
    match pending {
        0 => Ok(()),
        n => Err(StoreError::MigrationsPending(n)),
    }
}

/// Times are stored as Unix milliseconds.
pub fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms} out of range")))
}

/// A stored value of a closed set (a status, a channel, a kind), `what` naming
/// it in the error when the column holds anything else.
pub fn decode<T>(
    what: &str,
    raw: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<T, StoreError> {
    parse(raw).ok_or_else(|| StoreError::Corrupt(format!("{what} {raw:?}")))
}

pub fn parse_client(raw: String) -> Result<ClientId, StoreError> {
    ClientId::parse(&raw).map_err(|e| StoreError::Corrupt(format!("client id {raw:?}: {e}")))
}

pub fn parse_notice_id(raw: String) -> Result<NoticeId, StoreError> {
    NoticeId::parse(&raw).map_err(|e| StoreError::Corrupt(format!("notice id {raw:?}: {e}")))
}

/// Rows per multi-row INSERT: well under SQLite's 32,766 bound parameters
/// (and PostgreSQL's 65,535).
pub const BATCH_ROWS: usize = 1_000;

/// A JSON column, stored as TEXT.
pub fn json_column<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A list bound as one JSON array parameter.
pub fn json_list<T: serde::Serialize>(items: &[T]) -> String {
    serde_json::to_string(items).expect("lists of plain values serialize")
}

/// Whether `id`, taken as it came (from a URL path, say), can name no
/// stored row: no id the gateway makes holds a NUL, and PostgreSQL refuses
/// one in any text parameter, so the lookup is answered without asking.
pub fn names_nothing(id: &str) -> bool {
    id.contains('\0')
}

/// Rows of a child table grouped under their parent's id, in row order.
pub fn by_parent<T>(rows: impl IntoIterator<Item = (String, T)>) -> HashMap<String, Vec<T>> {
    let mut grouped: HashMap<String, Vec<T>> = HashMap::new();
    for (parent, row) in rows {
        grouped.entry(parent).or_default().push(row);
    }
    grouped
}

#[cfg(test)]
pub(super) fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap()
}
