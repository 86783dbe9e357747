use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, Transaction};

use super::audit::append_audit_in;
use super::SqliteStore;
use crate::domain::{ClientId, IncidentId, NoticeId};
use crate::store::shared::queries::{
    board_standings, register_query, RegisterPart, HELD_BACKLOG, OPEN_INCIDENTS,
};
use crate::store::shared::rows::{
    board_from_rows, incident_from_rows, overview_from_rows, records, register_from_rows,
    series_from_rows, ClientSeriesRow, HeldErrorsRow, IncidentHeadRow, IncidentNoticeRow,
    IncidentRow, IncidentSummaryRow, NoticeBodyRow, NoticeDeliveryRow, RegisterDeliveryRow,
    RegisterIncidentRow, RegisterNoticeSqlRow, StandingRow, StatusCountRow, StoredNoticeRow,
    StoredResponseRow, VersionRow,
};
use crate::store::shared::{
    json_list, millis, pack_notices, series_notice_ids, with_deliveries, Dictionary, SeriesRow,
    BATCH_ROWS,
};
use crate::store::{
    BoardIncident, ClientSeries, FilingClose, IdempotencyRecord, IncidentDetail, IncidentFiling,
    IncidentNotice, IncidentOverview, IncidentState, IncidentStore, IncidentSummary,
    IncidentVersion, NewDelivery, NewIncident, NewNotice, NewVersion, RegisterFilter,
    RegisterIncident, StoreError, StoredNotice, StoredResponse, HELD_LISTED,
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

    async fn begin_incident(
        &self,
        incident: &NewIncident,
    ) -> Result<Box<dyn IncidentFiling>, StoreError> {
        // One write transaction from the incident's row to the commit: SQLite
        // keeps it out of every reader's snapshot until then, and a crash
        // before the commit leaves nothing of it in the database.
        let mut tx = self.pool.begin().await?;
        let created_at = millis(incident.created_at);
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
        Ok(Box::new(SqliteFiling {
            tx,
            incident_id: incident.id.clone(),
            version: 1,
            created_at,
            dictionary: None,
        }))
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
        let clients: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT client_id FROM notices WHERE incident_id = ? ORDER BY client_id",
        )
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        head.into_state(id, clients).map(Some)
    }

    async fn client_series(
        &self,
        id: &IncidentId,
        clients: &[ClientId],
    ) -> Result<Vec<ClientSeries>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let series = series_of(&mut tx, id, clients).await?;
        tx.commit().await?;
        Ok(series)
    }

    async fn begin_version(
        &self,
        version: &NewVersion,
    ) -> Result<Box<dyn IncidentFiling>, StoreError> {
        // As a filing: one write transaction until the commit.
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
        Ok(Box::new(SqliteFiling {
            tx,
            incident_id: version.incident_id.clone(),
            version: number,
            created_at,
            dictionary: None,
        }))
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
        let Some(row) = incident_row(&mut tx, id).await? else {
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
        let versions = versions(&mut tx, id).await?;
        tx.commit().await?;
        incident_from_rows(row, versions, notices, deliveries).map(Some)
    }

    async fn incident_clients(
        &self,
        id: &IncidentId,
        after: Option<&ClientId>,
        limit: u32,
    ) -> Result<Option<Vec<IncidentNotice>>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM incidents WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let notices: Vec<IncidentNoticeRow> = sqlx::query_as(
            "SELECT id, client_id, kind, sequence, status, notify_by, errors FROM notices
             WHERE incident_id = ?1 AND client_id IN (
                 SELECT DISTINCT client_id FROM notices
                 WHERE incident_id = ?1 AND client_id > ?2
                 ORDER BY client_id LIMIT ?3)
             ORDER BY client_id, position",
        )
        .bind(id.as_str())
        .bind(after.map_or("", ClientId::as_str))
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        let notices = records(notices, IncidentNoticeRow::into_record)?;
        let ids: Vec<&str> = notices.iter().map(|n| n.notice_id.as_str()).collect();
        let deliveries: Vec<NoticeDeliveryRow> = sqlx::query_as(
            "SELECT id, notice_id, channel, target, status, attempts FROM deliveries
             WHERE notice_id IN (SELECT value FROM json_each(?)) ORDER BY id",
        )
        .bind(json_list(&ids))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let deliveries = records(deliveries, NoticeDeliveryRow::into_record)?;
        Ok(Some(with_deliveries(notices, deliveries)))
    }

    async fn notice(&self, id: &NoticeId) -> Result<Option<StoredNotice>, StoreError> {
        let row: Option<StoredNoticeRow> = sqlx::query_as(
            "SELECT n.id, n.incident_id, n.client_id, n.status, n.body, d.content AS dictionary, n.jws
             FROM notices n LEFT JOIN notice_dictionaries d ON d.id = n.dictionary_id
             WHERE n.id = ?",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(StoredNoticeRow::into_record).transpose()
    }

    async fn register(
        &self,
        now: DateTime<Utc>,
        filter: &RegisterFilter,
    ) -> Result<Vec<RegisterIncident>, StoreError> {
        // One read transaction, so the reads see the same snapshot.
        let mut tx = self.pool.begin().await?;
        let deliveries: Vec<RegisterDeliveryRow> = register_query(RegisterPart::Deliveries, filter)
            .build_query_as()
            .fetch_all(&mut *tx)
            .await?;
        let notices: Vec<RegisterNoticeSqlRow> = register_query(RegisterPart::Notices, filter)
            .build_query_as()
            .fetch_all(&mut *tx)
            .await?;
        let versions: Vec<VersionRow> = register_query(RegisterPart::Versions, filter)
            .build_query_as()
            .fetch_all(&mut *tx)
            .await?;
        let incidents: Vec<RegisterIncidentRow> = register_query(RegisterPart::Incidents, filter)
            .build_query_as()
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        let versions = records(versions, VersionRow::into_record)?;
        register_from_rows(incidents, notices, deliveries, versions, now)
    }

    async fn board(&self) -> Result<Vec<BoardIncident>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let incidents: Vec<IncidentSummaryRow> =
            sqlx::query_as(OPEN_INCIDENTS).fetch_all(&mut *tx).await?;
        let standings: Vec<StandingRow> = sqlx::query_as(&board_standings())
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        board_from_rows(incidents, standings)
    }

    async fn held_backlog(&self) -> Result<u64, StoreError> {
        let held: i64 = sqlx::query_scalar(HELD_BACKLOG)
            .fetch_one(&self.pool)
            .await?;
        Ok(held.try_into().unwrap_or_default())
    }

    async fn incident_overview(
        &self,
        id: &IncidentId,
    ) -> Result<Option<IncidentOverview>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = incident_row(&mut tx, id).await? else {
            return Ok(None);
        };
        let versions = versions(&mut tx, id).await?;
        let notices: Vec<StatusCountRow> = sqlx::query_as(
            "SELECT status, COUNT(*) AS count FROM notices WHERE incident_id = ?
             GROUP BY status ORDER BY status",
        )
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let deliveries: Vec<StatusCountRow> = sqlx::query_as(
            "SELECT d.status, COUNT(*) AS count
             FROM deliveries d JOIN notices n ON n.id = d.notice_id
             WHERE n.incident_id = ? GROUP BY d.status ORDER BY d.status",
        )
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        // Each client's latest notice, when it is held.
        let waiting = "FROM notices n
             WHERE n.incident_id = ?1 AND n.status = 'held' AND n.position = (
                 SELECT MAX(m.position) FROM notices m
                 WHERE m.incident_id = ?1 AND m.client_id = n.client_id)";
        let held: Vec<IncidentNoticeRow> = sqlx::query_as(&format!(
            "SELECT n.id, n.client_id, n.kind, n.sequence, n.status, n.notify_by, n.errors
             {waiting} ORDER BY n.client_id LIMIT ?2"
        ))
        .bind(id.as_str())
        .bind(i64::from(HELD_LISTED))
        .fetch_all(&mut *tx)
        .await?;
        let held_errors: Vec<HeldErrorsRow> = sqlx::query_as(&format!(
            "SELECT n.errors, COUNT(*) AS notices {waiting} GROUP BY n.errors ORDER BY n.errors"
        ))
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        overview_from_rows(row, versions, (notices, deliveries), held, held_errors).map(Some)
    }
}

/// An incident's summary and who reported it.
async fn incident_row(
    conn: &mut SqliteConnection,
    id: &IncidentId,
) -> Result<Option<IncidentRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT i.id, i.reference, i.status, i.version, i.became_aware_at, i.summary, i.created_at, i.reported_by,
                (SELECT COUNT(DISTINCT client_id) FROM notices WHERE incident_id = i.id) AS clients,
                (SELECT COUNT(*) FROM notices WHERE incident_id = i.id AND status = 'held') AS held
         FROM incidents i WHERE i.id = ?",
    )
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await?)
}

/// The versions of one incident, under its id, oldest first.
async fn versions(
    conn: &mut SqliteConnection,
    incident: &IncidentId,
) -> Result<Vec<(String, IncidentVersion)>, StoreError> {
    let rows: Vec<VersionRow> = sqlx::query_as(
        "SELECT incident_id, version, action, submitted, created_by, created_at
         FROM incident_versions WHERE incident_id = ? ORDER BY version",
    )
    .bind(incident.as_str())
    .fetch_all(&mut *conn)
    .await?;
    records(rows, VersionRow::into_record)
}

/// Where the series of each of `clients` that has one stands, by client
/// id, with the bodies it names.
async fn series_of(
    conn: &mut SqliteConnection,
    id: &IncidentId,
    clients: &[ClientId],
) -> Result<Vec<ClientSeries>, StoreError> {
    let clients: Vec<&str> = clients.iter().map(ClientId::as_str).collect();
    let series: Vec<ClientSeriesRow> = sqlx::query_as(
        "SELECT n.client_id, n.position AS last_position, n.id AS last,
                (SELECT s.id FROM notices s
                 WHERE s.incident_id = n.incident_id AND s.client_id = n.client_id
                   AND s.status = 'queued'
                 ORDER BY s.position DESC LIMIT 1) AS last_sent
         FROM notices n
         WHERE n.incident_id = ?1 AND n.client_id IN (SELECT value FROM json_each(?2))
           AND n.position = (
             SELECT MAX(m.position) FROM notices m
             WHERE m.incident_id = ?1 AND m.client_id = n.client_id)
         ORDER BY n.client_id",
    )
    .bind(id.as_str())
    .bind(json_list(&clients))
    .fetch_all(&mut *conn)
    .await?;
    let series: Vec<SeriesRow> = series.into_iter().map(SeriesRow::from).collect();
    let bodies: Vec<NoticeBodyRow> = sqlx::query_as(
        "SELECT n.id, n.body, d.content AS dictionary
         FROM notices n LEFT JOIN notice_dictionaries d ON d.id = n.dictionary_id
         WHERE n.id IN (SELECT value FROM json_each(?))",
    )
    .bind(json_list(&series_notice_ids(&series)))
    .fetch_all(&mut *conn)
    .await?;
    series_from_rows(series, bodies)
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

/// An incident (or its next version) being filed: the open write
/// transaction and, once the first notice is in, the filing's compression
/// dictionary.
struct SqliteFiling {
    tx: Transaction<'static, Sqlite>,
    incident_id: IncidentId,
    /// The version the notices belong to.
    version: u32,
    created_at: i64,
    dictionary: Option<Dictionary>,
}

#[async_trait]
impl IncidentFiling for SqliteFiling {
    async fn add_notices(&mut self, notices: Vec<NewNotice>) -> Result<(), StoreError> {
        let Some(first) = notices.first() else {
            return Ok(());
        };
        let dictionary = match &self.dictionary {
            Some(dictionary) => dictionary.clone(),
            None => {
                let dictionary =
                    insert_dictionary(&mut self.tx, &self.incident_id, first.body.clone()).await?;
                self.dictionary.insert(dictionary).clone()
            }
        };
        let (notices, packed) = pack_notices(&dictionary, notices).await?;
        let written = Written {
            incident_id: &self.incident_id,
            version: self.version,
            dictionary_id: dictionary.id,
            created_at: self.created_at,
        };
        written.insert(&mut self.tx, &notices, &packed).await
    }

    async fn client_series(
        &mut self,
        clients: &[ClientId],
    ) -> Result<Vec<ClientSeries>, StoreError> {
        series_of(&mut self.tx, &self.incident_id, clients).await
    }

    async fn commit(mut self: Box<Self>, close: FilingClose) -> Result<(), StoreError> {
        if let Some(idem) = &close.idempotency {
            insert_idempotency(&mut self.tx, idem, self.created_at).await?;
        }
        append_audit_in(&mut self.tx, &close.audit).await?;
        self.tx.commit().await?;
        Ok(())
    }
}

/// Stores `content` as a compression dictionary of `incident_id`'s notices.
async fn insert_dictionary(
    tx: &mut SqliteConnection,
    incident_id: &IncidentId,
    content: Vec<u8>,
) -> Result<Dictionary, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO notice_dictionaries (incident_id, content) VALUES (?, ?) RETURNING id",
    )
    .bind(incident_id.as_str())
    .bind(&content[..])
    .fetch_one(&mut *tx)
    .await?;
    Ok(Dictionary {
        id,
        content: Arc::new(content),
    })
}

/// Where notices are written: which incident version, against which
/// dictionary, when.
struct Written<'a> {
    incident_id: &'a IncidentId,
    version: u32,
    dictionary_id: i64,
    created_at: i64,
}

impl Written<'_> {
    /// Inserts `notices` (their bodies `packed`, in the same order) and
    /// their outbox rows in multi-row statements, due at once.
    async fn insert(
        &self,
        tx: &mut SqliteConnection,
        notices: &[NewNotice],
        packed: &[Vec<u8>],
    ) -> Result<(), StoreError> {
        let rows: Vec<(&NewNotice, &Vec<u8>)> = notices.iter().zip(packed).collect();
        for chunk in rows.chunks(BATCH_ROWS) {
            let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new(
                "INSERT INTO notices (id, incident_id, client_id, position, sequence, kind, status, body, dictionary_id, jws, errors, notify_by, created_at, version) ",
            );
            insert.push_values(chunk, |mut row, (notice, body)| {
                row.push_bind(notice.id.as_str())
                    .push_bind(self.incident_id.as_str())
                    .push_bind(notice.client_id.as_str())
                    .push_bind(i64::from(notice.position))
                    .push_bind(i64::from(notice.sequence))
                    .push_bind(notice.kind.as_str())
                    .push_bind(notice.status.as_str())
                    .push_bind(&body[..])
                    .push_bind(self.dictionary_id)
                    .push_bind(notice.jws.as_deref())
                    .push_bind(
                        serde_json::to_string(&notice.errors).expect("field errors serialize"),
                    )
                    .push_bind(millis(notice.notify_by))
                    .push_bind(self.created_at)
                    .push_bind(i64::from(self.version));
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
                    .push_bind(self.created_at)
                    .push_bind(self.created_at);
            });
            insert.build().execute(&mut *tx).await?;
        }
        Ok(())
    }
}
