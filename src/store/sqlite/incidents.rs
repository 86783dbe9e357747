use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::audit::append_audit_in;
use super::SqliteStore;
use crate::domain::{IncidentId, NoticeId};
use crate::store::shared::rows::{
    incident_from_rows, register_from_rows, ClientSeriesRow, IncidentHeadRow, IncidentNoticeRow,
    IncidentRow, IncidentSummaryRow, NoticeBodyRow, NoticeDeliveryRow, RegisterDeliveryRow,
    RegisterIncidentRow, RegisterNoticeSqlRow, StoredNoticeRow, StoredResponseRow, VersionRow,
};
use crate::store::shared::{json_list, millis, series_notice_ids, SeriesRow, BATCH_ROWS};
use crate::store::{
    IdempotencyRecord, IncidentDetail, IncidentState, IncidentStore, IncidentSummary,
    IncidentVersion, NewDelivery, NewIncident, NewNotice, NewVersion, RegisterIncident, StoreError,
    StoredNotice, StoredResponse,
};

#[async_trait]
impl IncidentStore for SqliteStore {
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
        let row: Option<StoredResponseRow> = sqlx::query_as("SELECT request_digest, status, response FROM idempotency_keys WHERE token_id = ? AND key = ?")
            .bind(token_id)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.map(StoredResponseRow::into_record).transpose()
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
        let Some(head): Option<IncidentHeadRow> =
            sqlx::query_as("SELECT reference, status, version, report FROM incidents WHERE id = ?")
                .bind(id.as_str())
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Ok(None);
        };
        let series: Vec<ClientSeriesRow> = sqlx::query_as(
            "SELECT n.client_id, n.position AS last_position, n.id AS last,
                    (SELECT s.id FROM notices s
                     WHERE s.incident_id = n.incident_id AND s.client_id = n.client_id
                       AND s.status = 'queued'
                     ORDER BY s.position DESC LIMIT 1) AS last_sent
             FROM notices n
             WHERE n.incident_id = ?1 AND n.position = (
                 SELECT MAX(m.position) FROM notices m
                 WHERE m.incident_id = ?1 AND m.client_id = n.client_id)
             ORDER BY n.client_id",
        )
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let series: Vec<SeriesRow> = series.into_iter().map(SeriesRow::from).collect();
        let bodies: Vec<NoticeBodyRow> = sqlx::query_as(
            "SELECT id, body FROM notices WHERE id IN (SELECT value FROM json_each(?))",
        )
        .bind(json_list(&series_notice_ids(&series)))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        head.into_state(id, series, bodies).map(Some)
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
        let rows: Vec<IncidentSummaryRow> = sqlx::query_as(
            "SELECT i.id, i.reference, i.status, i.version, i.became_aware_at, i.summary, i.created_at,
                    COUNT(DISTINCT n.client_id) AS clients,
                    COALESCE(SUM(n.status = 'held'), 0) AS held
             FROM incidents i LEFT JOIN notices n ON n.incident_id = i.id
             GROUP BY i.id ORDER BY i.created_at DESC, i.id DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(IncidentSummaryRow::into_record)
            .collect()
    }

    async fn incident(&self, id: &IncidentId) -> Result<Option<IncidentDetail>, StoreError> {
        // One read transaction, so the summary, versions, notices and
        // deliveries are of the same moment.
        let mut tx = self.pool.begin().await?;
        let Some(row): Option<IncidentRow> = sqlx::query_as(
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
        let deliveries: Vec<NoticeDeliveryRow> = sqlx::query_as(
            "SELECT d.id, d.notice_id, d.channel, d.target, d.status, d.attempts FROM deliveries d
             JOIN notices n ON n.id = d.notice_id WHERE n.incident_id = ? ORDER BY d.id",
        )
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let notices: Vec<IncidentNoticeRow> = sqlx::query_as(
            "SELECT id, client_id, kind, sequence, status, notify_by, errors FROM notices
             WHERE incident_id = ? ORDER BY client_id, position",
        )
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let versions = versions(&mut tx, Some(id)).await?;
        tx.commit().await?;
        incident_from_rows(row, versions, notices, deliveries).map(Some)
    }

    async fn notice(&self, id: &NoticeId) -> Result<Option<StoredNotice>, StoreError> {
        let row: Option<StoredNoticeRow> = sqlx::query_as(
            "SELECT id, incident_id, client_id, status, body, jws FROM notices WHERE id = ?",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(StoredNoticeRow::into_record).transpose()
    }

    async fn register(&self, now: DateTime<Utc>) -> Result<Vec<RegisterIncident>, StoreError> {
        // One read transaction, so the reads see the same snapshot.
        let mut tx = self.pool.begin().await?;
        let deliveries: Vec<RegisterDeliveryRow> = sqlx::query_as(
            "SELECT id, notice_id, channel, target, status, attempts, delivered_at FROM deliveries
             ORDER BY notice_id, id",
        )
        .fetch_all(&mut *tx)
        .await?;
        let notices: Vec<RegisterNoticeSqlRow> = sqlx::query_as(
            "SELECT n.id, n.incident_id, n.client_id, n.kind, n.sequence, n.status, n.notify_by,
                    a.acknowledged_at, a.acknowledged_by
             FROM notices n LEFT JOIN acknowledgements a ON a.notice_id = n.id
             ORDER BY n.incident_id, n.client_id, n.position",
        )
        .fetch_all(&mut *tx)
        .await?;
        let versions = versions(&mut tx, None).await?;
        let incidents: Vec<RegisterIncidentRow> = sqlx::query_as(
            "SELECT id, reference, status, became_aware_at, created_at, summary FROM incidents
             ORDER BY created_at, id",
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        register_from_rows(incidents, notices, deliveries, versions, now)
    }
}

/// The versions of one incident, or of all, under their incident's id,
/// oldest first.
async fn versions(
    conn: &mut SqliteConnection,
    incident: Option<&IncidentId>,
) -> Result<Vec<(String, IncidentVersion)>, StoreError> {
    let rows: Vec<VersionRow> = sqlx::query_as(
        "SELECT incident_id, version, action, submitted, created_by, created_at
         FROM incident_versions WHERE ?1 IS NULL OR incident_id = ?1
         ORDER BY incident_id, version",
    )
    .bind(incident.map(IncidentId::as_str))
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(VersionRow::into_record).collect()
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
            "INSERT INTO notices (id, incident_id, client_id, position, kind, status, body, jws, errors, notify_by, created_at, version) ",
        );
        insert.push_values(chunk, |mut row, notice| {
            row.push_bind(notice.id.as_str())
                .push_bind(incident_id.as_str())
                .push_bind(notice.client_id.as_str())
                .push_bind(i64::from(notice.position))
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
