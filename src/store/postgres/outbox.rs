use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::audit::append_audit_in;
use super::schedule::insert_staff_mail;
use super::{begin_bookkeeping, PostgresStore, Serialised};
use crate::domain::audit::NewAuditEntry;
use crate::domain::Channel;
use crate::store::shared::queue_rows::{
    claimed, dictionary_ids, AlertRow, AttemptRow, ClaimRow, DeliveryAttemptRow, DeliveryRow,
    DictionaryRow, EndpointRow, NoticePayloadRow, WebhookTestClaimRow, WebhookTestRow,
};
use crate::store::shared::rows::records;
use crate::store::shared::{
    attempt_effects, attempt_rows, from_millis, millis, names_nothing, AttemptBatchRow,
    AttemptEffects,
};
use crate::store::{
    Alert, AttemptRecord, ChannelBacklog, ClaimedDelivery, ClaimedWebhookTest, DeliveryAttempt,
    DeliveryDetail, NewWebhookTest, OutboxStore, StoreError, WebhookTest, WebhookTestResult,
};

/// Leases due deliveries of one channel ($5), at most $4, never taking an
/// endpoint over $6 deliveries leased at once. `candidates` are the first $4
/// due deliveries, in order from the `deliveries_due` index, of endpoints
/// below the limit; each carries its endpoint's live leases across every
/// instance (`in_flight`, counted on the `deliveries_leased` index for that
/// endpoint alone; claims take turns, so the count is exact). Counting every
/// endpoint's leases at once instead walked the whole index over entries of
/// deliveries since recorded, and its join to the candidates was planned
/// from estimates a fan-out had made stale: 8 ms a claim at 10,000 clients.
/// `ranked` numbers each endpoint's candidates after its leased ones, and
/// those within the limit are taken. An endpoint's first candidate always
/// is, so a claim comes back empty only when nothing can be claimed; one
/// that comes back short, because an endpoint crowded the front, is
/// followed by the next, which passes that endpoint by once it is at its
/// limit. The rows are locked with SKIP LOCKED (one a reply or a replay is
/// writing is left for the next claim) and checked again once locked. The
/// endpoint key is `domain::endpoint_key`'s, built in SQL.
const CLAIM: &str = "
WITH candidates AS (
    SELECT d.id, d.client_id, d.target, d.next_attempt_at, l.in_flight FROM deliveries d
    CROSS JOIN LATERAL (
        SELECT COUNT(*) AS in_flight FROM deliveries x
        WHERE x.client_id = d.client_id AND x.target = d.target
          AND x.status = 'pending' AND x.lease_until > $2
    ) l
    WHERE d.status = 'pending' AND d.channel = $5 AND d.next_attempt_at <= $2
      AND (d.lease_until IS NULL OR d.lease_until <= $2)
      AND NOT (d.client_id || '/' || d.target = ANY($3))
      AND l.in_flight < $6
      AND NOT EXISTS (SELECT 1 FROM disabled_endpoints e
                      WHERE e.client_id = d.client_id AND e.target = d.target)
    ORDER BY d.next_attempt_at
    LIMIT $4
), ranked AS (
    SELECT id, in_flight + ROW_NUMBER() OVER (
               PARTITION BY client_id, target ORDER BY next_attempt_at, id) AS slot
    FROM candidates
), chosen AS (
    SELECT d.id FROM deliveries d
    WHERE d.id IN (SELECT id FROM ranked WHERE slot <= $6)
      AND d.status = 'pending' AND (d.lease_until IS NULL OR d.lease_until <= $2)
    FOR UPDATE SKIP LOCKED
)
UPDATE deliveries d SET lease_until = $1 FROM chosen WHERE d.id = chosen.id
RETURNING d.id, d.notice_id, d.client_id, d.channel, d.target, d.attempts, d.failures";

#[async_trait]
impl OutboxStore for PostgresStore {
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
        emails: usize,
        busy: &[String],
        per_endpoint: usize,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let mut tx = begin_bookkeeping(&self.pool, Some(Serialised::DeliveryClaims)).await?;
        let mut rows: Vec<ClaimRow> = Vec::new();
        for (channel, wanted) in [
            (Channel::Email, emails.min(limit)),
            (Channel::Webhook, limit),
        ] {
            let wanted = wanted.saturating_sub(rows.len());
            if wanted == 0 {
                continue;
            }
            rows.extend(
                sqlx::query_as::<_, ClaimRow>(CLAIM)
                    .bind(millis(now + lease))
                    .bind(millis(now))
                    .bind(busy)
                    .bind(wanted as i64)
                    .bind(channel.as_str())
                    .bind(per_endpoint as i64)
                    .fetch_all(&mut *tx)
                    .await?,
            );
        }
        let notice_ids: Vec<&str> = rows.iter().map(|r| r.notice_id.as_str()).collect();
        let payloads: Vec<NoticePayloadRow> = sqlx::query_as(
            "SELECT n.id, n.incident_id, n.body, n.dictionary_id, n.jws,
                    (SELECT f.id FROM notices f
                     WHERE f.incident_id = n.incident_id AND f.client_id = n.client_id
                       AND f.status = 'queued' AND f.position < n.position
                     ORDER BY f.position LIMIT 1) AS thread
             FROM notices n WHERE n.id = ANY($1)",
        )
        .bind(&notice_ids)
        .fetch_all(&mut *tx)
        .await?;
        let dictionaries: Vec<DictionaryRow> =
            sqlx::query_as("SELECT id, content FROM notice_dictionaries WHERE id = ANY($1)")
                .bind(dictionary_ids(&payloads))
                .fetch_all(&mut *tx)
                .await?;
        tx.commit().await?;
        claimed(rows, payloads, dictionaries)
    }

    async fn release_deliveries(&self, ids: &[String]) -> Result<(), StoreError> {
        sqlx::query("UPDATE deliveries SET lease_until = NULL WHERE id = ANY($1)")
            .bind(ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn record_attempts(&self, records: &[AttemptRecord]) -> Result<(), StoreError> {
        let effects: Vec<AttemptEffects> = records.iter().map(attempt_effects).collect();
        // The worker records a batch again when this failed, and a connection
        // lost during the commit fails it here though the server committed:
        // attempts stored already are left as they are.
        let mut tx = begin_bookkeeping(&self.pool, None).await?;
        // One typed array per column: unpacking them costs a third of what
        // `jsonb_to_recordset` over the same batch did.
        let rows = attempt_rows(records, &effects);
        let column = |f: fn(&AttemptBatchRow) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
        sqlx::query(
            "WITH r AS (
                 SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bigint[],
                                      $5::bigint[], $6::text[], $7::bigint[], $8::text[],
                                      $9::text[], $10::bigint[], $11::bigint[], $12::text[])
                     AS r (id, attempt, started_at, finished_at, duration_ms, outcome,
                           status_code, detail, status, failures, next_attempt_at, message_id)
             ), attempts AS (
                 INSERT INTO delivery_attempts (delivery_id, attempt, started_at, duration_ms, outcome, status_code, detail)
                 SELECT id, attempt, started_at, duration_ms, outcome, status_code, detail FROM r
                 ON CONFLICT (delivery_id, attempt) DO NOTHING)
             UPDATE deliveries d SET
                 status = r.status,
                 attempts = r.attempt,
                 failures = r.failures,
                 lease_until = NULL,
                 next_attempt_at = COALESCE(r.next_attempt_at, d.next_attempt_at),
                 delivered_at = CASE WHEN r.status = 'delivered' THEN r.finished_at ELSE d.delivered_at END,
                 message_id = COALESCE(r.message_id, d.message_id),
                 last_error = CASE WHEN r.status = 'delivered' THEN NULL ELSE r.detail END
             FROM r WHERE d.id = r.id",
        )
        .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind(column(|r| r.attempt.into()))
        .bind(column(|r| r.started_at))
        .bind(column(|r| r.finished_at))
        .bind(column(|r| r.duration_ms as i64))
        .bind(rows.iter().map(|r| r.outcome).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.status_code.map(i64::from)).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.detail).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.status).collect::<Vec<_>>())
        .bind(column(|r| r.failures.into()))
        .bind(rows.iter().map(|r| r.next_attempt_at).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.message_id).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
        let disabling = records
            .iter()
            .zip(&effects)
            .filter(|(_, e)| e.disables_endpoint);
        for (r, e) in disabling {
            sqlx::query(
                "WITH disabled AS (
                     INSERT INTO disabled_endpoints (client_id, target, disabled_at, reason)
                     VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING)
                 UPDATE deliveries SET status = 'disabled', lease_until = NULL
                 WHERE client_id = $1 AND target = $2 AND status = 'pending'",
            )
            .bind(r.client_id.as_str())
            .bind(&r.target)
            .bind(millis(e.finished_at))
            .bind(&r.detail)
            .execute(&mut *tx)
            .await?;
        }
        let alerting = records
            .iter()
            .zip(&effects)
            .filter_map(|(r, e)| Some((r, e.alert.as_ref()?, e.finished_at)));
        for (r, alert, finished_at) in alerting {
            sqlx::query(
                "INSERT INTO alerts (id, kind, client_id, delivery_id, message, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&alert.id)
            .bind(alert.kind.as_str())
            .bind(r.client_id.as_str())
            .bind(&r.delivery_id)
            .bind(alert.message)
            .bind(millis(finished_at))
            .execute(&mut *tx)
            .await?;
            insert_staff_mail(&mut tx, alert.mail, r.started_at).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delivery(&self, id: &str) -> Result<Option<DeliveryDetail>, StoreError> {
        if names_nothing(id) {
            return Ok(None);
        }
        let Some(row): Option<DeliveryRow> = sqlx::query_as(
            "SELECT id, notice_id, client_id, channel, target, status, next_attempt_at, delivered_at, message_id
             FROM deliveries WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let attempts: Vec<AttemptRow> = sqlx::query_as(
            "SELECT attempt, started_at, duration_ms, outcome, status_code, detail FROM delivery_attempts
             WHERE delivery_id = $1 ORDER BY attempt",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        row.into_record(attempts).map(Some)
    }

    async fn attempts_of(
        &self,
        deliveries: &[String],
    ) -> Result<Vec<(String, DeliveryAttempt)>, StoreError> {
        let rows: Vec<DeliveryAttemptRow> = sqlx::query_as(
            "SELECT delivery_id, attempt, started_at, duration_ms, outcome, status_code, detail
             FROM delivery_attempts
             WHERE delivery_id = ANY($1) ORDER BY delivery_id, attempt",
        )
        .bind(deliveries)
        .fetch_all(&self.pool)
        .await?;
        records(rows, DeliveryAttemptRow::into_record)
    }

    async fn replay_delivery(
        &self,
        id: &str,
        now: DateTime<Utc>,
        audit: &NewAuditEntry,
    ) -> Result<bool, StoreError> {
        if names_nothing(id) {
            return Ok(false);
        }
        let mut tx = self.pool.begin().await?;
        let replayed: Option<EndpointRow> = sqlx::query_as(
            "WITH replayed AS (
                 UPDATE deliveries SET status = 'pending', failures = 0, next_attempt_at = $1, lease_until = NULL
                 WHERE id = $2 AND status IN ('dead', 'disabled') RETURNING client_id, target
             ), enabled AS (
                 DELETE FROM disabled_endpoints e USING replayed r
                 WHERE e.client_id = r.client_id AND e.target = r.target)
             SELECT client_id, target FROM replayed",
        )
        .bind(millis(now))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if replayed.is_some() {
            append_audit_in(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(replayed.is_some())
    }

    async fn alerts(&self) -> Result<Vec<Alert>, StoreError> {
        let rows: Vec<AlertRow> = sqlx::query_as(
            "SELECT id, kind, client_id, delivery_id, message, created_at FROM alerts
             ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(AlertRow::into_record).collect()
    }

    async fn queue_webhook_test(&self, test: &NewWebhookTest) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO webhook_tests (id, client_id, webhook_id, body, status, created_at)
             VALUES ($1, $2, $3, $4, 'pending', $5)",
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
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedWebhookTest>, StoreError> {
        let rows: Vec<WebhookTestClaimRow> = sqlx::query_as(
            "UPDATE webhook_tests SET lease_until = $1
             WHERE id IN (SELECT id FROM webhook_tests
                          WHERE status = 'pending' AND (lease_until IS NULL OR lease_until <= $2)
                          ORDER BY created_at LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING id, client_id, webhook_id, body",
        )
        .bind(millis(now + lease))
        .bind(millis(now))
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(WebhookTestClaimRow::into_record)
            .collect()
    }

    async fn record_webhook_test(&self, result: &WebhookTestResult) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE webhook_tests SET status = 'done', lease_until = NULL, finished_at = $1, outcome = $2,
                 status_code = $3, duration_ms = $4, detail = $5
             WHERE id = $6",
        )
        .bind(millis(result.finished_at))
        .bind(result.outcome.as_str())
        .bind(result.status_code.map(i64::from))
        .bind(result.duration_ms as i64)
        .bind(&result.detail)
        .bind(&result.id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn webhook_test(&self, id: &str) -> Result<Option<WebhookTest>, StoreError> {
        if names_nothing(id) {
            return Ok(None);
        }
        let row: Option<WebhookTestRow> = sqlx::query_as(
            "SELECT id, client_id, webhook_id, status, created_at, finished_at, outcome, status_code,
                    duration_ms, detail
             FROM webhook_tests WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(WebhookTestRow::into_record).transpose()
    }

    async fn delivery_backlog(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Vec<ChannelBacklog>, StoreError> {
        let mut backlog = Vec::with_capacity(Channel::ALL.len());
        for channel in Channel::ALL {
            // Both read the `deliveries_due` index (status, channel, next_attempt_at).
            let pending: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM deliveries WHERE status = 'pending' AND channel = $1",
            )
            .bind(channel.as_str())
            .fetch_one(&self.pool)
            .await?;
            let oldest_due: Option<i64> = sqlx::query_scalar(
                "SELECT d.next_attempt_at FROM deliveries d
                 WHERE d.status = 'pending' AND d.channel = $1 AND d.next_attempt_at <= $2
                   AND NOT EXISTS (SELECT 1 FROM disabled_endpoints e
                                   WHERE e.client_id = d.client_id AND e.target = d.target)
                 ORDER BY d.next_attempt_at LIMIT 1",
            )
            .bind(channel.as_str())
            .bind(millis(now))
            .fetch_optional(&self.pool)
            .await?;
            backlog.push(ChannelBacklog {
                channel,
                pending: pending.try_into().unwrap_or_default(),
                oldest_due: oldest_due.map(from_millis).transpose()?,
            });
        }
        Ok(backlog)
    }
}
