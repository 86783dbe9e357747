//! The embedded default backend: one SQLite file in WAL mode, with full
//! fsync on commit so an accepted report survives a crash or power loss.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Duration as TimeDelta, Utc};
use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use super::admin::*;
use super::records::*;
use super::scheduling::*;
use super::{Store, StoreError};
use crate::agreements::model::STORED_SECRET;
use crate::agreements::{AgreementDoc, AppliedChanges, DocKind};
use crate::domain::audit::{AuditEntry, NewAuditEntry};
use crate::domain::{
    AcknowledgementNote, Caller, Channel, ClientId, IncidentId, IncidentStatus, NextState,
    NoticeId, NoticeStatus, NoticeType, Role, WebhookId,
};

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
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options.clone())
            .await?;
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

    pub async fn close(&self) {
        self.bookkeeping.close().await;
        self.pool.close().await;
    }
}

pub(super) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(super) fn from_millis(ms: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("timestamp {ms} out of range")))
}

fn digest(body: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(body.to_string().as_bytes()))
}

fn json_column<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl Store for SqliteStore {
    async fn apply_agreements(&self, docs: &[AgreementDoc]) -> Result<AppliedChanges, StoreError> {
        let mut tx = self.pool.begin().await?;
        let changes = apply_docs_in(&mut tx, docs).await?;
        tx.commit().await?;
        Ok(changes)
    }

    async fn agreements(&self) -> Result<Vec<AgreementDoc>, StoreError> {
        sqlx::query("SELECT kind, id, body FROM agreement_docs ORDER BY kind, id")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|row| {
                let kind: String = row.get("kind");
                Ok(AgreementDoc {
                    kind: DocKind::parse(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("agreement kind {kind:?}")))?,
                    id: row.get("id"),
                    body: json_column(row.get("body"))?,
                })
            })
            .collect()
    }

    async fn create_token(&self, token: &NewToken) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO api_tokens (id, name, role, client_id, token_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)")
            .bind(&token.id)
            .bind(&token.name)
            .bind(token.role.as_str())
            .bind(token.client_id.as_ref().map(ClientId::as_str))
            .bind(&token.hash[..])
            .bind(millis(token.created_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn token_by_id(&self, id: &str) -> Result<Option<StoredToken>, StoreError> {
        let row = sqlx::query("SELECT id, name, role, client_id, token_hash FROM api_tokens WHERE id = ? AND revoked_at IS NULL")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            let hash: Vec<u8> = row.get("token_hash");
            Ok(StoredToken {
                record: token_record(&row)?,
                hash: hash
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("token hash length".into()))?,
            })
        })
        .transpose()
    }

    async fn token_by_hash(&self, hash: &[u8; 32]) -> Result<Option<Caller>, StoreError> {
        let row = sqlx::query("SELECT id, name, role, client_id FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL")
            .bind(&hash[..])
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(token_record).transpose()
    }

    async fn token_count(&self) -> Result<u64, StoreError> {
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NULL")
                .fetch_one(&self.pool)
                .await?;
        Ok(count as u64)
    }

    async fn next_reference(&self, year: i32) -> Result<u32, StoreError> {
        let last: i64 = sqlx::query_scalar(
            "INSERT INTO reference_counters (year, last) VALUES (?, 1)
             ON CONFLICT (year) DO UPDATE SET last = last + 1 RETURNING last",
        )
        .bind(year)
        .fetch_one(&self.pool)
        .await?;
        Ok(last as u32)
    }

    async fn idempotent_response(
        &self,
        token_id: &str,
        key: &str,
    ) -> Result<Option<StoredResponse>, StoreError> {
        let row = sqlx::query("SELECT request_digest, status, response FROM idempotency_keys WHERE token_id = ? AND key = ?")
            .bind(token_id)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(StoredResponse {
                request_digest: row.get("request_digest"),
                status: row.get::<i64, _>("status") as u16,
                response: json_column(row.get("response"))?,
            })
        })
        .transpose()
    }

    async fn record_incident(&self, incident: &NewIncident) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let created_at = millis(incident.created_at);
        if let Some(idem) = &incident.idempotency {
            insert_idempotency(&mut tx, idem, created_at).await?;
        }
        sqlx::query(
            "INSERT INTO incidents (id, reference, status, became_aware_at, summary, report, reported_by, created_at)
             VALUES (?, ?, 'open', ?, ?, ?, ?, ?)",
        )
        .bind(incident.id.as_str())
        .bind(&incident.reference)
        .bind(millis(incident.became_aware_at))
        .bind(&incident.summary)
        .bind(incident.report.to_string())
        .bind(&incident.reported_by)
        .bind(created_at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO incident_versions (incident_id, version, action, facts, submitted, created_by, created_at)
             VALUES (?1, 1, 'report', ?2, ?2, ?3, ?4)",
        )
        .bind(incident.id.as_str())
        .bind(incident.report.to_string())
        .bind(&incident.reported_by)
        .bind(created_at)
        .execute(&mut *tx)
        .await?;
        insert_notices(&mut tx, &incident.id, 1, &incident.notices, created_at).await?;
        append_audit_in(&mut tx, &incident.audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn incident_state(&self, id: &IncidentId) -> Result<Option<IncidentState>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(row) =
            sqlx::query("SELECT reference, status, version, report FROM incidents WHERE id = ?")
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Ok(None);
        };
        let clients = sqlx::query(
            "SELECT n.client_id, n.sequence AS last_sequence, n.id AS last,
                    (SELECT s.id FROM notices s
                     WHERE s.incident_id = n.incident_id AND s.client_id = n.client_id
                       AND s.status = 'queued'
                     ORDER BY s.sequence DESC LIMIT 1) AS last_sent
             FROM notices n
             WHERE n.incident_id = ?1 AND n.sequence = (
                 SELECT MAX(m.sequence) FROM notices m
                 WHERE m.incident_id = ?1 AND m.client_id = n.client_id)
             ORDER BY n.client_id",
        )
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let wanted: Vec<String> = clients
            .iter()
            .flat_map(|c| {
                [c.get::<Option<String>, _>("last"), c.get("last_sent")]
                    .into_iter()
                    .flatten()
            })
            .collect();
        let bodies: HashMap<String, Vec<u8>> = sqlx::query(
            "SELECT id, body FROM notices WHERE id IN (SELECT value FROM json_each(?))",
        )
        .bind(serde_json::to_string(&wanted).expect("strings serialize"))
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| (r.get("id"), r.get("body")))
        .collect();
        tx.commit().await?;

        let body_of = |raw: String| -> Result<NoticeBody, StoreError> {
            Ok(NoticeBody {
                body: bodies
                    .get(&raw)
                    .cloned()
                    .ok_or_else(|| StoreError::Corrupt(format!("notice {raw:?} has no body")))?,
                id: parse_notice_id(raw)?,
            })
        };
        let status: String = row.get("status");
        Ok(Some(IncidentState {
            id: id.clone(),
            reference: row.get("reference"),
            status: IncidentStatus::parse(&status)
                .ok_or_else(|| StoreError::Corrupt(format!("incident status {status:?}")))?,
            version: row.get::<i64, _>("version") as u32,
            facts: json_column(row.get("report"))?,
            clients: clients
                .into_iter()
                .map(|c| {
                    Ok(ClientSeries {
                        client_id: parse_client(c.get("client_id"))?,
                        last_sequence: c.get::<i64, _>("last_sequence") as u32,
                        last: body_of(c.get("last"))?,
                        last_sent: c
                            .get::<Option<String>, _>("last_sent")
                            .map(body_of)
                            .transpose()?,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
        }))
    }

    async fn record_version(&self, version: &NewVersion) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let created_at = millis(version.created_at);
        let number = version.follows + 1;
        let moved = sqlx::query(
            "UPDATE incidents SET version = ?, status = ?, report = ?, became_aware_at = ?, summary = ?
             WHERE id = ? AND version = ?",
        )
        .bind(i64::from(number))
        .bind(version.status.as_str())
        .bind(version.facts.to_string())
        .bind(millis(version.became_aware_at))
        .bind(&version.summary)
        .bind(version.incident_id.as_str())
        .bind(i64::from(version.follows))
        .execute(&mut *tx)
        .await?;
        if moved.rows_affected() == 0 {
            return Err(StoreError::VersionConflict);
        }
        if let Some(idem) = &version.idempotency {
            insert_idempotency(&mut tx, idem, created_at).await?;
        }
        sqlx::query(
            "INSERT INTO incident_versions (incident_id, version, action, facts, submitted, created_by, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(version.incident_id.as_str())
        .bind(i64::from(number))
        .bind(version.action.as_str())
        .bind(version.facts.to_string())
        .bind(version.submitted.to_string())
        .bind(&version.created_by)
        .bind(created_at)
        .execute(&mut *tx)
        .await?;
        insert_notices(
            &mut tx,
            &version.incident_id,
            number,
            &version.notices,
            created_at,
        )
        .await?;
        append_audit_in(&mut tx, &version.audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn incidents(&self) -> Result<Vec<IncidentSummary>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.id, i.reference, i.status, i.version, i.became_aware_at, i.summary, i.created_at,
                    COUNT(DISTINCT n.client_id) AS clients,
                    COALESCE(SUM(n.status = 'held'), 0) AS held
             FROM incidents i LEFT JOIN notices n ON n.incident_id = i.id
             GROUP BY i.id ORDER BY i.created_at DESC, i.id DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(summary_from_row).collect()
    }

    async fn incident(&self, id: &IncidentId) -> Result<Option<IncidentView>, StoreError> {
        // One read transaction, so the summary, versions, notices and
        // deliveries are of the same moment.
        let mut tx = self.pool.begin().await?;
        let Some(row) = sqlx::query(
            "SELECT i.id, i.reference, i.status, i.version, i.became_aware_at, i.summary, i.created_at, i.reported_by,
                    (SELECT COUNT(DISTINCT client_id) FROM notices WHERE incident_id = i.id) AS clients,
                    (SELECT COUNT(*) FROM notices WHERE incident_id = i.id AND status = 'held') AS held
             FROM incidents i WHERE i.id = ?",
        )
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let summary = summary_from_row(&row)?;

        let mut deliveries: HashMap<String, Vec<DeliveryView>> = HashMap::new();
        for d in sqlx::query(
            "SELECT d.id, d.notice_id, d.channel, d.target, d.status, d.attempts FROM deliveries d
             JOIN notices n ON n.id = d.notice_id WHERE n.incident_id = ? ORDER BY d.id",
        )
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?
        {
            deliveries
                .entry(d.get("notice_id"))
                .or_default()
                .push(DeliveryView {
                    delivery_id: d.get("id"),
                    channel: d.get("channel"),
                    target: d.get("target"),
                    status: d.get("status"),
                    attempts: d.get::<i64, _>("attempts") as u32,
                });
        }
        let notices = sqlx::query(
            "SELECT id, client_id, kind, sequence, status, notify_by, errors FROM notices
             WHERE incident_id = ? ORDER BY client_id, sequence",
        )
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|n| {
            let notice_id: String = n.get("id");
            Ok(NoticeView {
                deliveries: deliveries.remove(&notice_id).unwrap_or_default(),
                notice_id,
                client_id: n.get("client_id"),
                kind: n.get("kind"),
                sequence: n.get::<i64, _>("sequence") as u32,
                status: n.get("status"),
                notify_by: from_millis(n.get("notify_by"))?,
                errors: json_column(n.get("errors"))?,
            })
        })
        .collect::<Result<_, StoreError>>()?;
        let versions = versions_by_incident(&mut tx, Some(id))
            .await?
            .remove(id.as_str())
            .unwrap_or_default();
        tx.commit().await?;
        Ok(Some(IncidentView {
            summary,
            reported_by: row.get("reported_by"),
            versions,
            notices,
        }))
    }

    async fn notice(&self, id: &NoticeId) -> Result<Option<StoredNotice>, StoreError> {
        let row = sqlx::query(
            "SELECT id, incident_id, client_id, status, body, jws FROM notices WHERE id = ?",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(stored_notice_from_row).transpose()
    }

    async fn register(&self, now: DateTime<Utc>) -> Result<Vec<RegisterIncident>, StoreError> {
        // One read transaction, so the three reads see the same snapshot.
        let mut tx = self.pool.begin().await?;
        let mut deliveries: HashMap<String, Vec<RegisterDelivery>> = HashMap::new();
        for d in sqlx::query(
            "SELECT id, notice_id, channel, target, status, attempts, delivered_at FROM deliveries
             ORDER BY notice_id, id",
        )
        .fetch_all(&mut *tx)
        .await?
        {
            deliveries
                .entry(d.get("notice_id"))
                .or_default()
                .push(RegisterDelivery {
                    delivery_id: d.get("id"),
                    channel: d.get("channel"),
                    target: d.get("target"),
                    status: d.get("status"),
                    attempts: d.get::<i64, _>("attempts") as u32,
                    delivered_at: d
                        .get::<Option<i64>, _>("delivered_at")
                        .map(from_millis)
                        .transpose()?,
                });
        }

        // Per incident, the notices of each client in client order.
        let mut notices: HashMap<String, Vec<(String, Vec<RegisterNotice>)>> = HashMap::new();
        for n in sqlx::query(
            "SELECT n.id, n.incident_id, n.client_id, n.kind, n.sequence, n.status, n.notify_by,
                    a.acknowledged_at, a.acknowledged_by
             FROM notices n LEFT JOIN acknowledgements a ON a.notice_id = n.id
             ORDER BY n.incident_id, n.client_id, n.sequence",
        )
        .fetch_all(&mut *tx)
        .await?
        {
            let notice_id: String = n.get("id");
            let notice = RegisterNotice {
                deliveries: deliveries.remove(&notice_id).unwrap_or_default(),
                notice_id,
                kind: n.get("kind"),
                sequence: n.get::<i64, _>("sequence") as u32,
                status: n.get("status"),
                notify_by: from_millis(n.get("notify_by"))?,
                acknowledged_at: n
                    .get::<Option<i64>, _>("acknowledged_at")
                    .map(from_millis)
                    .transpose()?,
                acknowledged_by: n.get("acknowledged_by"),
            };
            let client_id: String = n.get("client_id");
            let clients = notices.entry(n.get("incident_id")).or_default();
            match clients.last_mut() {
                Some((last, client_notices)) if *last == client_id => client_notices.push(notice),
                _ => clients.push((client_id, vec![notice])),
            }
        }

        let mut versions = versions_by_incident(&mut tx, None).await?;
        let incidents = sqlx::query(
            "SELECT id, reference, status, became_aware_at, created_at, summary FROM incidents
             ORDER BY created_at, id",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        incidents
            .into_iter()
            .map(|i| {
                let incident_id: String = i.get("id");
                let clients = notices
                    .remove(&incident_id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(client_id, notices)| RegisterClient::new(client_id, notices, now))
                    .collect();
                Ok(RegisterIncident {
                    incident_id,
                    reference: i.get("reference"),
                    status: i.get("status"),
                    became_aware_at: from_millis(i.get("became_aware_at"))?,
                    reported_at: from_millis(i.get("created_at"))?,
                    summary: i.get("summary"),
                    versions: versions.remove(i.get::<&str, _>("id")).unwrap_or_default(),
                    clients,
                })
            })
            .collect()
    }

    async fn client_notices(
        &self,
        client_id: &ClientId,
    ) -> Result<Vec<ClientNoticeView>, StoreError> {
        sqlx::query(
            "SELECT n.id, n.incident_id, i.reference, n.kind, n.sequence, n.status, n.created_at,
                    n.notify_by, a.acknowledged_at
             FROM notices n JOIN incidents i ON i.id = n.incident_id
             LEFT JOIN acknowledgements a ON a.notice_id = n.id
             WHERE n.client_id = ? AND n.status = 'queued'
             ORDER BY n.created_at DESC, n.id DESC",
        )
        .bind(client_id.as_str())
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|n| {
            Ok(ClientNoticeView {
                notice_id: n.get("id"),
                incident_id: n.get("incident_id"),
                reference: n.get("reference"),
                kind: n.get("kind"),
                sequence: n.get::<i64, _>("sequence") as u32,
                status: n.get("status"),
                created_at: from_millis(n.get("created_at"))?,
                notify_by: from_millis(n.get("notify_by"))?,
                acknowledged_at: n
                    .get::<Option<i64>, _>("acknowledged_at")
                    .map(from_millis)
                    .transpose()?,
            })
        })
        .collect()
    }

    async fn client_notice(
        &self,
        client_id: &ClientId,
        id: &NoticeId,
    ) -> Result<Option<StoredNotice>, StoreError> {
        let row = sqlx::query(
            "SELECT id, incident_id, client_id, status, body, jws FROM notices
             WHERE id = ? AND client_id = ? AND status = 'queued'",
        )
        .bind(id.as_str())
        .bind(client_id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(stored_notice_from_row).transpose()
    }

    async fn acknowledge_notice(
        &self,
        ack: &NewAcknowledgement,
    ) -> Result<Option<Acknowledgement>, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Copies the notice's own client, so an acknowledgement can only
        // exist for a notice that was sent to the client that made it.
        let inserted = sqlx::query(
            "INSERT INTO acknowledgements (notice_id, client_id, token_id, acknowledged_by, note, acknowledged_at)
             SELECT id, client_id, ?, ?, ?, ? FROM notices
             WHERE id = ? AND client_id = ? AND status = 'queued'
             ON CONFLICT (notice_id) DO NOTHING",
        )
        .bind(&ack.token_id)
        .bind(&ack.acknowledged_by)
        .bind(ack.note.as_ref().map(AcknowledgementNote::as_str))
        .bind(millis(ack.acknowledged_at))
        .bind(ack.notice_id.as_str())
        .bind(ack.client_id.as_str())
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 1 {
            append_audit_in(&mut tx, &ack.audit).await?;
        }
        let row = sqlx::query(
            "SELECT notice_id, acknowledged_at, acknowledged_by FROM acknowledgements
             WHERE notice_id = ? AND client_id = ?",
        )
        .bind(ack.notice_id.as_str())
        .bind(ack.client_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        row.map(|row| {
            Ok(Acknowledgement {
                notice_id: row.get("notice_id"),
                acknowledged_at: from_millis(row.get("acknowledged_at"))?,
                acknowledged_by: row.get("acknowledged_by"),
            })
        })
        .transpose()
    }

    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: usize,
        emails: usize,
        busy: &[String],
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let now_ms = millis(now);
        let busy = serde_json::to_string(busy).expect("strings serialize");
        // Both channels in one transaction: each transaction waits its turn
        // for the one bookkeeping connection.
        let mut tx = self.bookkeeping.begin().await?;
        let mut rows = Vec::new();
        for (channel, wanted) in [
            (Channel::Email, emails.min(limit)),
            (Channel::Webhook, limit),
        ] {
            let wanted = wanted.saturating_sub(rows.len());
            if wanted == 0 {
                continue;
            }
            rows.extend(
                sqlx::query(
                    "UPDATE deliveries SET lease_until = ?1
                     WHERE id IN (
                         SELECT d.id FROM deliveries d
                         WHERE d.status = 'pending' AND d.next_attempt_at <= ?2
                           AND (d.lease_until IS NULL OR d.lease_until <= ?2)
                           AND (d.client_id || '/' || d.target) NOT IN (SELECT value FROM json_each(?3))
                           AND d.channel = ?5
                           AND NOT EXISTS (SELECT 1 FROM disabled_endpoints e
                                           WHERE e.client_id = d.client_id AND e.target = d.target)
                         ORDER BY d.next_attempt_at LIMIT ?4)
                     RETURNING id, notice_id, client_id, channel, target, attempts, failures",
                )
                .bind(millis(now + lease))
                .bind(now_ms)
                .bind(&busy)
                .bind(wanted as i64)
                .bind(channel.as_str())
                .fetch_all(&mut *tx)
                .await?,
            );
        }
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let notice_ids: Vec<String> = rows.iter().map(|r| r.get("notice_id")).collect();
        let bodies: HashMap<String, (Bytes, String, Option<String>)> = sqlx::query(
            "SELECT n.id, n.body, n.jws,
                    (SELECT f.id FROM notices f
                     WHERE f.incident_id = n.incident_id AND f.client_id = n.client_id
                       AND f.status = 'queued' AND f.sequence < n.sequence
                     ORDER BY f.sequence LIMIT 1) AS thread
             FROM notices n WHERE n.id IN (SELECT value FROM json_each(?))",
        )
        .bind(serde_json::to_string(&notice_ids).expect("strings serialize"))
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| {
            (
                r.get("id"),
                (
                    Bytes::from(r.get::<Vec<u8>, _>("body")),
                    r.get::<Option<String>, _>("jws").unwrap_or_default(),
                    r.get("thread"),
                ),
            )
        })
        .collect();
        tx.commit().await?;
        rows.into_iter()
            .map(|row| {
                let notice_id: String = row.get("notice_id");
                let (body, jws, thread) = bodies.get(&notice_id).cloned().ok_or_else(|| {
                    StoreError::Corrupt(format!("delivery for missing notice {notice_id}"))
                })?;
                let channel: String = row.get("channel");
                Ok(ClaimedDelivery {
                    id: row.get("id"),
                    client_id: parse_client(row.get("client_id"))?,
                    channel: Channel::parse(&channel)
                        .ok_or_else(|| StoreError::Corrupt(format!("channel {channel:?}")))?,
                    target: row.get("target"),
                    attempts: row.get::<i64, _>("attempts") as u32,
                    failures: row.get::<i64, _>("failures") as u32,
                    body,
                    jws,
                    thread: thread.map(parse_notice_id).transpose()?,
                    notice_id,
                })
            })
            .collect()
    }

    async fn release_deliveries(&self, ids: &[String]) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE deliveries SET lease_until = NULL WHERE id IN (SELECT value FROM json_each(?))",
        )
        .bind(serde_json::to_string(ids).expect("strings serialize"))
        .execute(&self.bookkeeping)
        .await?;
        Ok(())
    }

    async fn record_attempts(&self, records: &[AttemptRecord]) -> Result<(), StoreError> {
        // The whole batch goes in as one JSON array, so a thousand attempts
        // cost two statements rather than two thousand.
        #[derive(serde::Serialize)]
        struct Row<'a> {
            id: &'a str,
            attempt: u32,
            started_at: i64,
            finished_at: i64,
            duration_ms: u64,
            outcome: &'static str,
            status_code: Option<u16>,
            detail: &'a str,
            status: &'static str,
            failures: u32,
            next_attempt_at: Option<i64>,
            message_id: Option<&'a str>,
        }
        let rows: Vec<Row> = records
            .iter()
            .map(|r| {
                let (status, next_attempt_at, message_id) = match &r.next {
                    NextState::Delivered { message_id } => {
                        ("delivered", None, message_id.as_deref())
                    }
                    NextState::RetryAt(at) => ("pending", Some(millis(*at)), None),
                    NextState::Dead => ("dead", None, None),
                    NextState::EndpointDisabled => ("disabled", None, None),
                };
                Row {
                    id: &r.delivery_id,
                    attempt: r.attempt,
                    started_at: millis(r.started_at),
                    finished_at: millis(r.started_at) + r.duration_ms as i64,
                    duration_ms: r.duration_ms,
                    outcome: r.outcome.as_str(),
                    status_code: r.status_code,
                    detail: &r.detail,
                    status,
                    failures: r.failures,
                    next_attempt_at,
                    message_id,
                }
            })
            .collect();
        let batch = serde_json::to_string(&rows).expect("attempt rows serialize");
        let mut tx = self.bookkeeping.begin().await?;
        sqlx::query(
            "INSERT INTO delivery_attempts (delivery_id, attempt, started_at, duration_ms, outcome, status_code, detail)
             SELECT value ->> 'id', value ->> 'attempt', value ->> 'started_at', value ->> 'duration_ms',
                    value ->> 'outcome', value ->> 'status_code', value ->> 'detail'
             FROM json_each(?)",
        )
        .bind(&batch)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE deliveries SET
                 status = r.value ->> 'status',
                 attempts = r.value ->> 'attempt',
                 failures = r.value ->> 'failures',
                 lease_until = NULL,
                 next_attempt_at = COALESCE(r.value ->> 'next_attempt_at', deliveries.next_attempt_at),
                 delivered_at = CASE WHEN r.value ->> 'status' = 'delivered'
                                     THEN r.value ->> 'finished_at' ELSE deliveries.delivered_at END,
                 message_id = COALESCE(r.value ->> 'message_id', deliveries.message_id),
                 last_error = CASE WHEN r.value ->> 'status' = 'delivered' THEN NULL ELSE r.value ->> 'detail' END
             FROM json_each(?) AS r WHERE deliveries.id = r.value ->> 'id'",
        )
        .bind(&batch)
        .execute(&mut *tx)
        .await?;
        for r in records
            .iter()
            .filter(|r| r.next == NextState::EndpointDisabled || r.alert.is_some())
        {
            let finished = millis(r.started_at) + r.duration_ms as i64;
            if r.next == NextState::EndpointDisabled {
                sqlx::query(
                    "INSERT INTO disabled_endpoints (client_id, target, disabled_at, reason) VALUES (?, ?, ?, ?)
                     ON CONFLICT DO NOTHING",
                )
                .bind(r.client_id.as_str())
                .bind(&r.target)
                .bind(finished)
                .bind(&r.detail)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "UPDATE deliveries SET status = 'disabled', lease_until = NULL
                     WHERE client_id = ? AND target = ? AND status = 'pending'",
                )
                .bind(r.client_id.as_str())
                .bind(&r.target)
                .execute(&mut *tx)
                .await?;
            }
            if let Some(alert) = &r.alert {
                let kind = if r.next == NextState::EndpointDisabled {
                    "endpoint_disabled"
                } else {
                    "dead_letter"
                };
                sqlx::query(
                    "INSERT INTO alerts (id, kind, client_id, delivery_id, message, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                )
                .bind(format!("alr_{}", ulid::Ulid::new()))
                .bind(kind)
                .bind(r.client_id.as_str())
                .bind(&r.delivery_id)
                .bind(&alert.message)
                .bind(finished)
                .execute(&mut *tx)
                .await?;
                insert_staff_mail(&mut tx, &alert.mail, r.started_at).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delivery(&self, id: &str) -> Result<Option<DeliveryDetail>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT id, notice_id, client_id, channel, target, status, next_attempt_at, delivered_at, message_id
             FROM deliveries WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let attempts = sqlx::query(
            "SELECT attempt, started_at, duration_ms, outcome, status_code, detail FROM delivery_attempts
             WHERE delivery_id = ? ORDER BY attempt",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|a| {
            Ok(AttemptView {
                attempt: a.get::<i64, _>("attempt") as u32,
                started_at: from_millis(a.get("started_at"))?,
                duration_ms: a.get::<i64, _>("duration_ms") as u64,
                outcome: a.get("outcome"),
                status_code: a.get::<Option<i64>, _>("status_code").map(|c| c as u16),
                detail: a.get("detail"),
            })
        })
        .collect::<Result<_, StoreError>>()?;
        let status: String = row.get("status");
        Ok(Some(DeliveryDetail {
            delivery_id: row.get("id"),
            notice_id: row.get("notice_id"),
            client_id: row.get("client_id"),
            channel: row.get("channel"),
            target: row.get("target"),
            next_attempt_at: (status == "pending")
                .then(|| from_millis(row.get("next_attempt_at")))
                .transpose()?,
            delivered_at: row
                .get::<Option<i64>, _>("delivered_at")
                .map(from_millis)
                .transpose()?,
            message_id: row.get("message_id"),
            status,
            attempts,
        }))
    }

    async fn replay_delivery(
        &self,
        id: &str,
        now: DateTime<Utc>,
        audit: &NewAuditEntry,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let replayed = sqlx::query(
            "UPDATE deliveries SET status = 'pending', failures = 0, next_attempt_at = ?, lease_until = NULL
             WHERE id = ? AND status IN ('dead', 'disabled') RETURNING client_id, target",
        )
        .bind(millis(now))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = &replayed {
            sqlx::query("DELETE FROM disabled_endpoints WHERE client_id = ? AND target = ?")
                .bind(row.get::<String, _>("client_id"))
                .bind(row.get::<String, _>("target"))
                .execute(&mut *tx)
                .await?;
            append_audit_in(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(replayed.is_some())
    }

    async fn alerts(&self) -> Result<Vec<Alert>, StoreError> {
        sqlx::query("SELECT id, kind, client_id, delivery_id, message, created_at FROM alerts ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|a| {
                Ok(Alert {
                    id: a.get("id"),
                    kind: a.get("kind"),
                    client_id: a.get("client_id"),
                    delivery_id: a.get("delivery_id"),
                    message: a.get("message"),
                    created_at: from_millis(a.get("created_at"))?,
                })
            })
            .collect()
    }

    async fn append_audit(&self, entry: &NewAuditEntry) -> Result<AuditEntry, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let sealed = append_audit_in(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(sealed)
    }

    async fn audit_log(&self) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(sqlx::query(
            "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log ORDER BY seq",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(audit_entry_from_row)
        .collect())
    }

    async fn undelivered_initial_notices(&self) -> Result<Vec<UndeliveredNotice>, StoreError> {
        sqlx::query(
            "SELECT n.id, n.incident_id, i.reference, n.client_id, n.status, i.became_aware_at, n.notify_by,
                    (SELECT json_group_array(e.threshold) FROM deadline_escalations e
                     WHERE e.notice_id = n.id) AS escalated
             FROM notices n JOIN incidents i ON i.id = n.incident_id
             WHERE i.status = 'open' AND n.kind = ?1
               -- The client's first initial notice stands for the client: a
               -- held one may be followed by a new initial after an update.
               AND n.sequence = (SELECT MIN(f.sequence) FROM notices f
                                 WHERE f.incident_id = n.incident_id AND f.client_id = n.client_id)
               -- Nothing about this incident has reached the client yet.
               AND NOT EXISTS (SELECT 1 FROM notices m JOIN deliveries d ON d.notice_id = m.id
                               WHERE m.incident_id = n.incident_id AND m.client_id = n.client_id
                                 AND d.status = 'delivered')
               AND NOT EXISTS (SELECT 1 FROM deadline_escalations e
                               WHERE e.notice_id = n.id AND e.threshold = ?2)
             ORDER BY n.notify_by, n.id",
        )
        .bind(NoticeType::Initial.as_str())
        .bind(DEADLINE_PASSED)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| {
            Ok(UndeliveredNotice {
                notice_id: row.get("id"),
                incident_id: row.get("incident_id"),
                reference: row.get("reference"),
                client_id: parse_client(row.get("client_id"))?,
                held: row.get::<String, _>("status") == NoticeStatus::Held.as_str(),
                became_aware_at: from_millis(row.get("became_aware_at"))?,
                notify_by: from_millis(row.get("notify_by"))?,
                escalated: json_column(row.get("escalated"))?,
            })
        })
        .collect()
    }

    async fn record_escalations(
        &self,
        escalations: &[NewEscalation],
    ) -> Result<Vec<bool>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut recorded = Vec::with_capacity(escalations.len());
        for escalation in escalations {
            let inserted = sqlx::query(
                "INSERT INTO deadline_escalations (notice_id, threshold, escalated_at, mail_id)
                 VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(&escalation.notice_id)
            .bind(&escalation.threshold)
            .bind(millis(escalation.at))
            .bind(escalation.mail.as_ref().map(|m| &m.id))
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if let (true, Some(mail)) = (inserted, &escalation.mail) {
                insert_staff_mail(&mut tx, mail, escalation.at).await?;
            }
            recorded.push(inserted);
        }
        tx.commit().await?;
        Ok(recorded)
    }

    async fn latest_notices_unreminded(&self) -> Result<Vec<LatestNotice>, StoreError> {
        sqlx::query(
            "SELECT n.id, n.incident_id, i.reference, n.client_id, n.sequence, n.created_at
             FROM notices n JOIN incidents i ON i.id = n.incident_id
             WHERE i.status = 'open' AND n.status <> 'held'
               -- A client whose notice was withdrawn is owed nothing more.
               AND n.kind <> ?1
               AND n.sequence = (SELECT MAX(m.sequence) FROM notices m
                                 WHERE m.incident_id = n.incident_id AND m.client_id = n.client_id
                                   AND m.status <> 'held')
               AND NOT EXISTS (SELECT 1 FROM update_reminders r
                               WHERE r.incident_id = n.incident_id AND r.client_id = n.client_id
                                 AND r.notice_id = n.id)
             ORDER BY n.created_at, n.id",
        )
        .bind(NoticeType::Retraction.as_str())
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| {
            Ok(LatestNotice {
                incident_id: row.get("incident_id"),
                reference: row.get("reference"),
                client_id: parse_client(row.get("client_id"))?,
                notice_id: row.get("id"),
                sequence: row.get::<i64, _>("sequence") as u32,
                created_at: from_millis(row.get("created_at"))?,
            })
        })
        .collect()
    }

    async fn record_update_reminders(
        &self,
        reminders: &[NewUpdateReminder],
    ) -> Result<Vec<bool>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut recorded = Vec::with_capacity(reminders.len());
        for reminder in reminders {
            let inserted = sqlx::query(
                "INSERT INTO update_reminders (incident_id, client_id, notice_id, reminded_at, mail_id)
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(&reminder.incident_id)
            .bind(reminder.client_id.as_str())
            .bind(&reminder.notice_id)
            .bind(millis(reminder.at))
            .bind(&reminder.mail.id)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if inserted {
                insert_staff_mail(&mut tx, &reminder.mail, reminder.at).await?;
            }
            recorded.push(inserted);
        }
        tx.commit().await?;
        Ok(recorded)
    }

    async fn claim_staff_mail(
        &self,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: usize,
    ) -> Result<Vec<StaffMail>, StoreError> {
        let mut claimed: Vec<(i64, StaffMail)> = sqlx::query(
            "UPDATE staff_mail SET lease_until = ?1
             WHERE id IN (SELECT id FROM staff_mail
                          WHERE sent_at IS NULL AND (lease_until IS NULL OR lease_until <= ?2)
                          ORDER BY rowid LIMIT ?3)
             RETURNING rowid, id, recipient, subject, body",
        )
        .bind(millis(now + lease))
        .bind(millis(now))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| {
            let written: i64 = row.get("rowid");
            let mail = StaffMail {
                id: row.get("id"),
                recipient: row.get("recipient"),
                subject: row.get("subject"),
                body: row.get("body"),
            };
            (written, mail)
        })
        .collect();
        // RETURNING gives no order; send in the order written.
        claimed.sort_by_key(|(written, _)| *written);
        Ok(claimed.into_iter().map(|(_, mail)| mail).collect())
    }

    async fn staff_mail_sent(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE staff_mail SET sent_at = ?, lease_until = NULL, attempts = attempts + 1,
             last_error = NULL WHERE id = ?",
        )
        .bind(millis(at))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn staff_mail_failed(
        &self,
        id: &str,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE staff_mail SET lease_until = ?, attempts = attempts + 1, last_error = ?
             WHERE id = ?",
        )
        .bind(millis(retry_at))
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn change_agreements(
        &self,
        change: &AgreementChange,
    ) -> Result<AppliedChanges, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let changes = apply_docs_in(&mut tx, &change.docs).await?;
        for secret in &change.new_secrets {
            insert_secret_in(&mut tx, secret).await?;
        }
        append_audit_in(&mut tx, &change.audit).await?;
        tx.commit().await?;
        Ok(changes)
    }

    async fn webhook_secrets(
        &self,
        client_id: &ClientId,
        webhook_id: &WebhookId,
        now: DateTime<Utc>,
    ) -> Result<Vec<StoredSecret>, StoreError> {
        sqlx::query(
            "SELECT version, sealed, key_id, created_at, expires_at FROM webhook_secrets
             WHERE client_id = ? AND webhook_id = ? AND (expires_at IS NULL OR expires_at > ?)
             ORDER BY version",
        )
        .bind(client_id.as_str())
        .bind(webhook_id.as_str())
        .bind(millis(now))
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| {
            Ok(StoredSecret {
                version: row.get::<i64, _>("version") as u32,
                sealed: row.get("sealed"),
                key_id: row.get("key_id"),
                created_at: from_millis(row.get("created_at"))?,
                expires_at: row
                    .get::<Option<i64>, _>("expires_at")
                    .map(from_millis)
                    .transpose()?,
            })
        })
        .collect()
    }

    async fn rotate_webhook_secret(&self, rotation: &SecretRotation) -> Result<u32, StoreError> {
        let secret = &rotation.secret;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let until = millis(rotation.overlap_until);
        sqlx::query(
            "UPDATE webhook_secrets SET expires_at = ?1
             WHERE client_id = ?2 AND webhook_id = ?3 AND (expires_at IS NULL OR expires_at > ?1)",
        )
        .bind(until)
        .bind(secret.client_id.as_str())
        .bind(secret.webhook_id.as_str())
        .execute(&mut *tx)
        .await?;
        let version = insert_secret_in(&mut tx, secret).await?;
        append_audit_in(&mut tx, &rotation.audit).await?;
        tx.commit().await?;
        Ok(version)
    }

    async fn set_target_enabled(
        &self,
        client_id: &ClientId,
        target: &str,
        enabled: bool,
        now: DateTime<Utc>,
        audit: &NewAuditEntry,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if enabled {
            sqlx::query("DELETE FROM disabled_endpoints WHERE client_id = ? AND target = ?")
                .bind(client_id.as_str())
                .bind(target)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE deliveries SET status = 'pending', failures = 0, next_attempt_at = ?, lease_until = NULL
                 WHERE client_id = ? AND target = ? AND status = 'disabled'",
            )
            .bind(millis(now))
            .bind(client_id.as_str())
            .bind(target)
            .execute(&mut *tx)
            .await?;
        } else {
            sqlx::query(
                "INSERT INTO disabled_endpoints (client_id, target, disabled_at, reason) VALUES (?, ?, ?, ?)
                 ON CONFLICT DO NOTHING",
            )
            .bind(client_id.as_str())
            .bind(target)
            .bind(millis(now))
            .bind(format!("disabled by {}", audit.actor))
            .execute(&mut *tx)
            .await?;
        }
        append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn disabled_targets(&self, client_id: &ClientId) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query(
                "SELECT target FROM disabled_endpoints WHERE client_id = ? ORDER BY target",
            )
            .bind(client_id.as_str())
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .map(|row| row.get("target"))
            .collect(),
        )
    }

    async fn queue_webhook_test(&self, test: &NewWebhookTest) -> Result<(), StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO webhook_tests (id, client_id, webhook_id, body, status, created_at)
             VALUES (?, ?, ?, ?, 'pending', ?)",
        )
        .bind(&test.id)
        .bind(test.client_id.as_str())
        .bind(test.webhook_id.as_str())
        .bind(&test.body)
        .bind(millis(test.created_at))
        .execute(&mut *tx)
        .await?;
        append_audit_in(&mut tx, &test.audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn claim_webhook_tests(
        &self,
        now: DateTime<Utc>,
        lease: TimeDelta,
        limit: usize,
    ) -> Result<Vec<ClaimedWebhookTest>, StoreError> {
        sqlx::query(
            "UPDATE webhook_tests SET lease_until = ?1
             WHERE id IN (SELECT id FROM webhook_tests
                          WHERE status = 'pending' AND (lease_until IS NULL OR lease_until <= ?2)
                          ORDER BY created_at LIMIT ?3)
             RETURNING id, client_id, webhook_id, body",
        )
        .bind(millis(now + lease))
        .bind(millis(now))
        .bind(limit as i64)
        .fetch_all(&self.bookkeeping)
        .await?
        .into_iter()
        .map(|row| {
            Ok(ClaimedWebhookTest {
                id: row.get("id"),
                client_id: parse_client(row.get("client_id"))?,
                webhook_id: row.get("webhook_id"),
                body: row.get("body"),
            })
        })
        .collect()
    }

    async fn record_webhook_test(&self, result: &WebhookTestResult) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webhook_tests SET status = 'done', lease_until = NULL, finished_at = ?, outcome = ?,
                 status_code = ?, duration_ms = ?, detail = ?
             WHERE id = ?",
        )
        .bind(millis(result.finished_at))
        .bind(result.outcome.as_str())
        .bind(result.status_code.map(i64::from))
        .bind(result.duration_ms as i64)
        .bind(&result.detail)
        .bind(&result.id)
        .execute(&self.bookkeeping)
        .await?;
        Ok(())
    }

    async fn webhook_test(&self, id: &str) -> Result<Option<WebhookTestView>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT id, client_id, webhook_id, status, created_at, finished_at, outcome, status_code,
                    duration_ms, detail
             FROM webhook_tests WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(WebhookTestView {
            test_id: row.get("id"),
            client_id: row.get("client_id"),
            webhook_id: row.get("webhook_id"),
            status: row.get("status"),
            created_at: from_millis(row.get("created_at"))?,
            finished_at: row
                .get::<Option<i64>, _>("finished_at")
                .map(from_millis)
                .transpose()?,
            outcome: row.get("outcome"),
            status_code: row.get::<Option<i64>, _>("status_code").map(|c| c as u16),
            duration_ms: row.get::<Option<i64>, _>("duration_ms").map(|d| d as u64),
            detail: row.get("detail"),
        }))
    }
}

/// Stores `secret` as its endpoint's next version, which it answers.
async fn insert_secret_in(
    conn: &mut SqliteConnection,
    secret: &NewWebhookSecret,
) -> Result<u32, StoreError> {
    let version: i64 = sqlx::query_scalar(
        "INSERT INTO webhook_secrets (client_id, webhook_id, version, sealed, key_id, created_at)
         SELECT ?1, ?2, COALESCE(MAX(version), 0) + 1, ?3, ?4, ?5 FROM webhook_secrets
         WHERE client_id = ?1 AND webhook_id = ?2
         RETURNING version",
    )
    .bind(secret.client_id.as_str())
    .bind(secret.webhook_id.as_str())
    .bind(&secret.sealed)
    .bind(&secret.key_id)
    .bind(millis(secret.created_at))
    .fetch_one(&mut *conn)
    .await?;
    Ok(version as u32)
}

/// Replaces the stored agreements with `docs` on `conn` (inside a
/// transaction), reporting what changed.
async fn apply_docs_in(
    conn: &mut SqliteConnection,
    docs: &[AgreementDoc],
) -> Result<AppliedChanges, StoreError> {
    let existing: HashMap<(String, String), String> =
        sqlx::query("SELECT kind, id, digest FROM agreement_docs")
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .map(|row| ((row.get("kind"), row.get("id")), row.get("digest")))
            .collect();
    let now = millis(Utc::now());
    let mut changes = AppliedChanges::default();
    let mut wanted = std::collections::HashSet::new();
    for doc in docs {
        let key = (doc.kind.as_str().to_owned(), doc.id.clone());
        let new_digest = digest(&doc.body);
        let label = format!("{} {}", doc.kind.as_str(), doc.id);
        match existing.get(&key) {
            Some(old) if *old == new_digest => {}
            found => {
                sqlx::query(
                    "INSERT INTO agreement_docs (kind, id, body, digest, updated_at) VALUES (?, ?, ?, ?, ?)
                     ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body, digest = excluded.digest,
                     updated_at = excluded.updated_at",
                )
                .bind(&key.0)
                .bind(&key.1)
                .bind(doc.body.to_string())
                .bind(&new_digest)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                if found.is_some() {
                    changes.changed.push(label)
                } else {
                    changes.added.push(label)
                }
            }
        }
        wanted.insert(key);
    }
    for key in existing.keys().filter(|k| !wanted.contains(*k)) {
        sqlx::query("DELETE FROM agreement_docs WHERE kind = ? AND id = ?")
            .bind(&key.0)
            .bind(&key.1)
            .execute(&mut *conn)
            .await?;
        changes.removed.push(format!("{} {}", key.0, key.1));
    }
    // Secrets of endpoints that no longer keep a stored secret go with them.
    sqlx::query(
        "DELETE FROM webhook_secrets WHERE NOT EXISTS (
             SELECT 1 FROM agreement_docs a, json_each(a.body, '$.delivery.webhooks') w
             WHERE a.kind = 'client' AND a.id = webhook_secrets.client_id
               AND w.value ->> 'id' = webhook_secrets.webhook_id AND w.value ->> 'secret' = ?)",
    )
    .bind(STORED_SECRET)
    .execute(&mut *conn)
    .await?;
    changes.removed.sort();
    Ok(changes)
}

/// Writes one staff email to the outbox within the caller's transaction.
async fn insert_staff_mail(
    conn: &mut SqliteConnection,
    mail: &NewStaffMail,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO staff_mail (id, recipient, subject, body, created_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&mail.id)
    .bind(&mail.recipient)
    .bind(&mail.subject)
    .bind(&mail.body)
    .bind(millis(at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The versions of one incident, or of all, by incident id, oldest first.
async fn versions_by_incident(
    conn: &mut SqliteConnection,
    incident: Option<&IncidentId>,
) -> Result<HashMap<String, Vec<VersionView>>, StoreError> {
    let mut versions: HashMap<String, Vec<VersionView>> = HashMap::new();
    for v in sqlx::query(
        "SELECT incident_id, version, action, submitted, created_by, created_at
         FROM incident_versions WHERE ?1 IS NULL OR incident_id = ?1
         ORDER BY incident_id, version",
    )
    .bind(incident.map(IncidentId::as_str))
    .fetch_all(&mut *conn)
    .await?
    {
        versions
            .entry(v.get("incident_id"))
            .or_default()
            .push(VersionView {
                version: v.get::<i64, _>("version") as u32,
                action: v.get("action"),
                created_by: v.get("created_by"),
                created_at: from_millis(v.get("created_at"))?,
                submitted: json_column(v.get("submitted"))?,
            });
    }
    Ok(versions)
}

/// Claims an idempotency key inside the caller's transaction; a key already
/// taken (by a concurrent retry) fails the whole transaction.
async fn insert_idempotency(
    tx: &mut SqliteConnection,
    idem: &IdempotencyRecord,
    created_at: i64,
) -> Result<(), StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (token_id, key, request_digest, status, response, created_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
    )
    .bind(&idem.token_id)
    .bind(&idem.key)
    .bind(&idem.request_digest)
    .bind(i64::from(idem.status))
    .bind(idem.response.to_string())
    .bind(created_at)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::IdempotencyConflict);
    }
    Ok(())
}

/// Inserts notices of one incident version and their outbox rows in
/// multi-row statements, due at once.
async fn insert_notices(
    tx: &mut SqliteConnection,
    incident_id: &IncidentId,
    version: u32,
    notices: &[NewNotice],
    created_at: i64,
) -> Result<(), StoreError> {
    for chunk in notices.chunks(BATCH_ROWS) {
        let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO notices (id, incident_id, client_id, sequence, kind, status, body, jws, errors, notify_by, created_at, version) ",
        );
        insert.push_values(chunk, |mut row, notice| {
            row.push_bind(notice.id.as_str())
                .push_bind(incident_id.as_str())
                .push_bind(notice.client_id.as_str())
                .push_bind(i64::from(notice.sequence))
                .push_bind(notice.kind.as_str())
                .push_bind(notice.status.as_str())
                .push_bind(&notice.body[..])
                .push_bind(notice.jws.as_deref())
                .push_bind(serde_json::to_string(&notice.errors).expect("field errors serialize"))
                .push_bind(millis(notice.notify_by))
                .push_bind(created_at)
                .push_bind(i64::from(version));
        });
        insert.build().execute(&mut *tx).await?;
    }

    let deliveries: Vec<(&NewNotice, &NewDelivery)> = notices
        .iter()
        .flat_map(|n| n.deliveries.iter().map(move |d| (n, d)))
        .collect();
    for chunk in deliveries.chunks(BATCH_ROWS) {
        let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO deliveries (id, notice_id, client_id, channel, target, status, next_attempt_at, created_at) ",
        );
        insert.push_values(chunk, |mut row, (notice, delivery)| {
            row.push_bind(&delivery.id)
                .push_bind(notice.id.as_str())
                .push_bind(notice.client_id.as_str())
                .push_bind(delivery.channel.as_str())
                .push_bind(&delivery.target)
                .push_bind("pending")
                .push_bind(created_at)
                .push_bind(created_at);
        });
        insert.build().execute(&mut *tx).await?;
    }
    Ok(())
}

/// Chains `entry` to the last entry on `conn`, which must already hold the
/// write lock (a write earlier in its transaction, or BEGIN IMMEDIATE), so no
/// other writer can append between the read and the insert.
async fn append_audit_in(
    conn: &mut SqliteConnection,
    entry: &NewAuditEntry,
) -> Result<AuditEntry, StoreError> {
    let last = sqlx::query(
        "SELECT seq, at, actor, action, subject, details, prev_hash, hash FROM audit_log
         ORDER BY seq DESC LIMIT 1",
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(|row| audit_entry_from_row(&row));
    let sealed = entry.seal(last.as_ref());
    sqlx::query(
        "INSERT INTO audit_log (seq, at, actor, action, subject, details, prev_hash, hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(sealed.seq)
    .bind(sealed.at)
    .bind(&sealed.actor)
    .bind(&sealed.action)
    .bind(&sealed.subject)
    .bind(&sealed.details)
    .bind(&sealed.prev_hash)
    .bind(&sealed.hash)
    .execute(&mut *conn)
    .await?;
    Ok(sealed)
}

fn audit_entry_from_row(row: &sqlx::sqlite::SqliteRow) -> AuditEntry {
    AuditEntry {
        seq: row.get("seq"),
        at: row.get("at"),
        actor: row.get("actor"),
        action: row.get("action"),
        subject: row.get("subject"),
        details: row.get("details"),
        prev_hash: row.get("prev_hash"),
        hash: row.get("hash"),
    }
}

fn token_record(row: &sqlx::sqlite::SqliteRow) -> Result<Caller, StoreError> {
    let role: String = row.get("role");
    let client_id: Option<String> = row.get("client_id");
    Ok(Caller {
        id: row.get("id"),
        name: row.get("name"),
        role: Role::parse(&role).ok_or_else(|| StoreError::Corrupt(format!("role {role:?}")))?,
        client_id: client_id.map(parse_client).transpose()?,
    })
}

fn parse_client(raw: String) -> Result<ClientId, StoreError> {
    ClientId::parse(&raw).map_err(|e| StoreError::Corrupt(format!("client id {raw:?}: {e}")))
}

fn parse_notice_id(raw: String) -> Result<NoticeId, StoreError> {
    NoticeId::parse(&raw).map_err(|e| StoreError::Corrupt(format!("notice id {raw:?}: {e}")))
}

fn stored_notice_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<StoredNotice, StoreError> {
    Ok(StoredNotice {
        id: row.get("id"),
        incident_id: row.get("incident_id"),
        client_id: parse_client(row.get("client_id"))?,
        status: row.get("status"),
        body: row.get("body"),
        jws: row.get("jws"),
    })
}

fn summary_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<IncidentSummary, StoreError> {
    Ok(IncidentSummary {
        id: row.get("id"),
        reference: row.get("reference"),
        status: row.get("status"),
        version: row.get::<i64, _>("version") as u32,
        became_aware_at: from_millis(row.get("became_aware_at"))?,
        summary: row.get("summary"),
        created_at: from_millis(row.get("created_at"))?,
        clients: row.get::<i64, _>("clients") as u64,
        held: row.get::<i64, _>("held") as u64,
    })
}
