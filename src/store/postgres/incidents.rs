use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, Transaction};

use super::audit::append_audit_in;
use super::PostgresStore;
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
    millis, pack_notices, series_notice_ids, with_deliveries, Dictionary, SeriesRow, BATCH_ROWS,
};
use crate::store::{
    BoardIncident, ClientSeries, FilingClose, IdempotencyRecord, IncidentDetail, IncidentFiling,
    IncidentNotice, IncidentOverview, IncidentState, IncidentStore, IncidentSummary,
    IncidentVersion, NewDelivery, NewIncident, NewNotice, NewVersion, RegisterFilter,
    RegisterIncident, StoreError, StoredNotice, StoredResponse, HELD_LISTED,
};

#[async_trait]
impl IncidentStore for PostgresStore {
    async fn next_reference(&self, year: i32) -> Result<u32, StoreError> {
        let last: i64 = sqlx::query_scalar(
            "INSERT INTO reference_counters (year, last) VALUES ($1, 1)
             ON CONFLICT (year) DO UPDATE SET last = reference_counters.last + 1 RETURNING last",
        )
        .bind(i64::from(year))
        .fetch_one(&self.pool)
        .await?;
        Ok(last as u32)
    }

    async fn idempotent_response(
        &self,
        token_id: &str,
        key: &str,
    ) -> Result<Option<StoredResponse>, StoreError> {
        let row: Option<StoredResponseRow> = sqlx::query_as(
            "SELECT request_digest, status, response FROM idempotency_keys
             WHERE token_id = $1 AND key = $2",
        )
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
        // One transaction from the incident's row to the commit: no other
        // session sees any of it until then, and a crash before the commit
        // leaves nothing of it in the database.
        let mut tx = self.pool.begin().await?;
        let created_at = millis(incident.created_at);
        sqlx::query(
            "WITH incident AS (
                 INSERT INTO incidents (id, reference, status, became_aware_at, summary, report, reported_by, created_at)
                 VALUES ($1, $2, 'open', $3, $4, $5, $6, $7))
             INSERT INTO incident_versions (incident_id, version, action, facts, submitted, created_by, created_at)
             VALUES ($1, 1, 'report', $5, $5, $6, $7)",
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
        Ok(Box::new(PostgresFiling {
            tx,
            incident_id: incident.id.clone(),
            version: 1,
            created_at,
            dictionary: None,
        }))
    }

    async fn incident_state(&self, id: &IncidentId) -> Result<Option<IncidentState>, StoreError> {
        let mut tx = snapshot(&self.pool).await?;
        let Some(head): Option<IncidentHeadRow> = sqlx::query_as(
            "SELECT reference, status, version, report FROM incidents WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let clients: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT client_id FROM notices WHERE incident_id = $1 ORDER BY client_id",
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
        let mut tx = snapshot(&self.pool).await?;
        let series = series_of(&mut tx, id, clients).await?;
        tx.commit().await?;
        Ok(series)
    }

    async fn begin_version(
        &self,
        version: &NewVersion,
    ) -> Result<Box<dyn IncidentFiling>, StoreError> {
        // As a filing: one transaction until the commit.
        let mut tx = self.pool.begin().await?;
        let created_at = millis(version.created_at);
        let number = version.follows + 1;
        // The row lock this takes makes a concurrent follow-up of the same
        // version wait, then find the version moved.
        let moved = sqlx::query(
            "UPDATE incidents SET version = $1, status = $2, report = $3, became_aware_at = $4, summary = $5
             WHERE id = $6 AND version = $7",
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
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
        Ok(Box::new(PostgresFiling {
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
                    COUNT(n.id) FILTER (WHERE n.status = 'held') AS held
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
        // One snapshot, so the summary, versions, notices and deliveries are
        // of the same moment.
        let mut tx = snapshot(&self.pool).await?;
        let Some(row) = incident_row(&mut tx, id).await? else {
            return Ok(None);
        };
        let deliveries: Vec<NoticeDeliveryRow> = sqlx::query_as(
            "SELECT d.id, d.notice_id, d.channel, d.target, d.status, d.attempts FROM deliveries d
             JOIN notices n ON n.id = d.notice_id WHERE n.incident_id = $1 ORDER BY d.id",
        )
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let notices: Vec<IncidentNoticeRow> = sqlx::query_as(
            "SELECT id, client_id, kind, sequence, status, notify_by, errors FROM notices
             WHERE incident_id = $1 ORDER BY client_id, position",
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
        // One snapshot, so the page's notices and deliveries agree.
        let mut tx = snapshot(&self.pool).await?;
        let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM incidents WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let notices: Vec<IncidentNoticeRow> = sqlx::query_as(
            "SELECT id, client_id, kind, sequence, status, notify_by, errors FROM notices
             WHERE incident_id = $1 AND client_id IN (
                 SELECT DISTINCT client_id FROM notices
                 WHERE incident_id = $1 AND client_id > $2
                 ORDER BY client_id LIMIT $3)
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
             WHERE notice_id = ANY($1) ORDER BY id",
        )
        .bind(&ids)
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
             WHERE n.id = $1",
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
        let mut tx = snapshot(&self.pool).await?;
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
        let mut tx = snapshot(&self.pool).await?;
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
        let mut tx = snapshot(&self.pool).await?;
        let Some(row) = incident_row(&mut tx, id).await? else {
            return Ok(None);
        };
        let versions = versions(&mut tx, id).await?;
        let notices: Vec<StatusCountRow> = sqlx::query_as(
            "SELECT status, COUNT(*) AS count FROM notices WHERE incident_id = $1
             GROUP BY status ORDER BY status",
        )
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        let deliveries: Vec<StatusCountRow> = sqlx::query_as(
            "SELECT d.status, COUNT(*) AS count
             FROM deliveries d JOIN notices n ON n.id = d.notice_id
             WHERE n.incident_id = $1 GROUP BY d.status ORDER BY d.status",
        )
        .bind(id.as_str())
        .fetch_all(&mut *tx)
        .await?;
        // Each client's latest notice, when it is held.
        let waiting = "FROM notices n
             WHERE n.incident_id = $1 AND n.status = 'held' AND n.position = (
                 SELECT MAX(m.position) FROM notices m
                 WHERE m.incident_id = $1 AND m.client_id = n.client_id)";
        let held: Vec<IncidentNoticeRow> = sqlx::query_as(&format!(
            "SELECT n.id, n.client_id, n.kind, n.sequence, n.status, n.notify_by, n.errors
             {waiting} ORDER BY n.client_id LIMIT $2"
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

/// A read-only transaction on one snapshot, so that the reads made in it
/// are of the same moment.
async fn snapshot(pool: &sqlx::PgPool) -> Result<Transaction<'static, Postgres>, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// An incident's summary and who reported it.
async fn incident_row(
    conn: &mut PgConnection,
    id: &IncidentId,
) -> Result<Option<IncidentRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT i.id, i.reference, i.status, i.version, i.became_aware_at, i.summary, i.created_at, i.reported_by,
                (SELECT COUNT(DISTINCT client_id) FROM notices WHERE incident_id = i.id) AS clients,
                (SELECT COUNT(*) FROM notices WHERE incident_id = i.id AND status = 'held') AS held
         FROM incidents i WHERE i.id = $1",
    )
    .bind(id.as_str())
    .fetch_optional(&mut *conn)
    .await?)
}

/// The versions of one incident, under its id, oldest first.
async fn versions(
    conn: &mut PgConnection,
    incident: &IncidentId,
) -> Result<Vec<(String, IncidentVersion)>, StoreError> {
    let rows: Vec<VersionRow> = sqlx::query_as(
        "SELECT incident_id, version, action, submitted, created_by, created_at
         FROM incident_versions WHERE incident_id = $1 ORDER BY version",
    )
    .bind(incident.as_str())
    .fetch_all(&mut *conn)
    .await?;
    records(rows, VersionRow::into_record)
}

/// Where the series of each of `clients` that has one stands, by client
/// id, with the bodies it names.
async fn series_of(
    conn: &mut PgConnection,
    id: &IncidentId,
    clients: &[ClientId],
) -> Result<Vec<ClientSeries>, StoreError> {
    let clients: Vec<&str> = clients.iter().map(ClientId::as_str).collect();
    let series: Vec<ClientSeriesRow> = sqlx::query_as(
        "SELECT DISTINCT ON (n.client_id) n.client_id, n.position AS last_position, n.id AS last,
                (SELECT s.id FROM notices s
                 WHERE s.incident_id = n.incident_id AND s.client_id = n.client_id
                   AND s.status = 'queued'
                 ORDER BY s.position DESC LIMIT 1) AS last_sent
         FROM notices n WHERE n.incident_id = $1 AND n.client_id = ANY($2)
         ORDER BY n.client_id, n.position DESC",
    )
    .bind(id.as_str())
    .bind(&clients)
    .fetch_all(&mut *conn)
    .await?;
    let series: Vec<SeriesRow> = series.into_iter().map(SeriesRow::from).collect();
    let bodies: Vec<NoticeBodyRow> = sqlx::query_as(
        "SELECT n.id, n.body, d.content AS dictionary
         FROM notices n LEFT JOIN notice_dictionaries d ON d.id = n.dictionary_id
         WHERE n.id = ANY($1)",
    )
    .bind(series_notice_ids(&series))
    .fetch_all(&mut *conn)
    .await?;
    series_from_rows(series, bodies)
}

/// Claims an idempotency key inside the caller's transaction; a key already
/// taken (by a concurrent retry, which this waits for) fails the whole
/// transaction.
async fn insert_idempotency(
    conn: &mut PgConnection,
    idem: &IdempotencyRecord,
    created_at: i64,
) -> Result<(), StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency_keys (token_id, key, request_digest, status, response, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(&idem.token_id)
    .bind(&idem.key)
    .bind(&idem.request_digest)
    .bind(i64::from(idem.status))
    .bind(idem.response.to_string())
    .bind(created_at)
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(StoreError::IdempotencyConflict);
    }
    Ok(())
}

/// An incident (or its next version) being filed: the open transaction
/// and, once the first notice is in, the filing's compression dictionary.
struct PostgresFiling {
    tx: Transaction<'static, Postgres>,
    incident_id: IncidentId,
    /// The version the notices belong to.
    version: u32,
    created_at: i64,
    dictionary: Option<Dictionary>,
}

#[async_trait]
impl IncidentFiling for PostgresFiling {
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
        insert_notices(&mut self.tx, &written, &notices, &packed).await
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
        // Last: the audit chain's lock is held until the commit just after.
        append_audit_in(&mut self.tx, &close.audit).await?;
        self.tx.commit().await?;
        Ok(())
    }
}

/// Stores `content` as a compression dictionary of `incident_id`'s notices.
async fn insert_dictionary(
    conn: &mut PgConnection,
    incident_id: &IncidentId,
    content: Vec<u8>,
) -> Result<Dictionary, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO notice_dictionaries (incident_id, content) VALUES ($1, $2) RETURNING id",
    )
    .bind(incident_id.as_str())
    .bind(&content[..])
    .fetch_one(&mut *conn)
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

/// Inserts notices of one incident version (their bodies `packed`, in the
/// same order) and their outbox rows, due at once: each column goes in as
/// one array, unnested into rows.
async fn insert_notices(
    conn: &mut PgConnection,
    written: &Written<'_>,
    notices: &[NewNotice],
    packed: &[Vec<u8>],
) -> Result<(), StoreError> {
    let created_at = written.created_at;
    let rows: Vec<(&NewNotice, &Vec<u8>)> = notices.iter().zip(packed).collect();
    for chunk in rows.chunks(BATCH_ROWS) {
        sqlx::query(
            "INSERT INTO notices (id, incident_id, client_id, position, sequence, kind, status, body, dictionary_id, jws, errors, notify_by, created_at, version)
             SELECT id, $1, client_id, position, sequence, kind, status, body, $2, jws, errors, notify_by, $3, $4
             FROM UNNEST($5::text[], $6::text[], $7::bigint[], $8::bigint[], $9::text[], $10::text[],
                         $11::bytea[], $12::text[], $13::text[], $14::bigint[])
                  AS n (id, client_id, position, sequence, kind, status, body, jws, errors, notify_by)",
        )
        .bind(written.incident_id.as_str())
        .bind(written.dictionary_id)
        .bind(created_at)
        .bind(i64::from(written.version))
        .bind(column(chunk, |(n, _)| n.id.as_str()))
        .bind(column(chunk, |(n, _)| n.client_id.as_str()))
        .bind(column(chunk, |(n, _)| i64::from(n.position)))
        .bind(column(chunk, |(n, _)| i64::from(n.sequence)))
        .bind(column(chunk, |(n, _)| n.kind.as_str()))
        .bind(column(chunk, |(n, _)| n.status.as_str()))
        .bind(column(chunk, |(_, body)| &body[..]))
        .bind(column(chunk, |(n, _)| n.jws.as_deref()))
        .bind(column(chunk, |(n, _)| {
            serde_json::to_string(&n.errors).expect("field errors serialize")
        }))
        .bind(column(chunk, |(n, _)| millis(n.notify_by)))
        .execute(&mut *conn)
        .await?;
    }
    let deliveries: Vec<(&NewNotice, &NewDelivery)> = notices
        .iter()
        .flat_map(|n| n.deliveries.iter().map(move |d| (n, d)))
        .collect();
    for chunk in deliveries.chunks(BATCH_ROWS) {
        sqlx::query(
            "INSERT INTO deliveries (id, notice_id, client_id, channel, target, status, next_attempt_at, created_at)
             SELECT id, notice_id, client_id, channel, target, 'pending', $1, $1
             FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
                  AS d (id, notice_id, client_id, channel, target)",
        )
        .bind(created_at)
        .bind(column(chunk, |(_, d)| d.id.as_str()))
        .bind(column(chunk, |(n, _)| n.id.as_str()))
        .bind(column(chunk, |(n, _)| n.client_id.as_str()))
        .bind(column(chunk, |(_, d)| d.channel.as_str()))
        .bind(column(chunk, |(_, d)| d.target.as_str()))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// One column of `rows`, bound as an array.
fn column<'a, T, V>(rows: &'a [T], value: impl Fn(&'a T) -> V) -> Vec<V> {
    rows.iter().map(value).collect()
}
