use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::audit::append_audit_in;
use super::schedule::insert_staff_mail;
use super::SqliteStore;
use crate::domain::audit::NewAuditEntry;
use crate::domain::Channel;
use crate::store::shared::queue_rows::{
    claimed, dictionary_ids, AlertRow, AttemptRow, ClaimRow, DeliveryAttemptRow, DeliveryRow,
    DictionaryRow, EndpointRow, NoticePayloadRow, WebhookTestClaimRow, WebhookTestRow,
};
use crate::store::shared::rows::records;
use crate::store::shared::{
    attempt_batch, attempt_effects, from_millis, json_list, millis, AttemptEffects,
};
use crate::store::{
    Alert, AttemptRecord, ChannelBacklog, ClaimedDelivery, ClaimedWebhookTest, DeliveryAttempt,
    DeliveryDetail, NewWebhookTest, OutboxStore, StoreError, WebhookTest, WebhookTestResult,
};

#[async_trait]
impl OutboxStore for SqliteStore {
    async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
        emails: usize,
        busy: &[String],
        // One process owns a SQLite file, so its worker's own count of what
        // it has in flight (`busy`) is the whole count.
        _per_endpoint: usize,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let now_ms = millis(now);
        let busy = json_list(busy);
        // Both channels in one transaction: each transaction waits its turn
        // for the one bookkeeping connection.
        let mut tx = self.bookkeeping.begin().await?;
        let mut rows: Vec<ClaimRow> = Vec::new();
        // Only an email answers the client's first notice about the
        // incident: a webhook's notice needs no such lookup.
        let mut mailed: Vec<String> = Vec::new();
        for (channel, wanted) in [
            (Channel::Email, emails.min(limit)),
            (Channel::Webhook, limit),
        ] {
            let wanted = wanted.saturating_sub(rows.len());
            if wanted == 0 {
                continue;
            }
            // The endpoint key is `domain::endpoint_key`'s, built in SQL.
            let claimed = sqlx::query_as::<_, ClaimRow>(
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
                .await?;
            if channel == Channel::Email {
                mailed.extend(claimed.iter().map(|r| r.notice_id.clone()));
            }
            rows.extend(claimed);
        }
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let notice_ids: Vec<&str> = rows.iter().map(|r| r.notice_id.as_str()).collect();
        let payloads: Vec<NoticePayloadRow> = sqlx::query_as(
            "SELECT n.id, n.incident_id, n.body, n.dictionary_id, n.jws,
                    CASE WHEN n.id IN (SELECT value FROM json_each(?2)) THEN
                        (SELECT f.id FROM notices f
                         WHERE f.incident_id = n.incident_id AND f.client_id = n.client_id
                           AND f.status = 'queued' AND f.position < n.position
                         ORDER BY f.position LIMIT 1)
                    END AS thread
             FROM notices n WHERE n.id IN (SELECT value FROM json_each(?1))",
        )
        .bind(json_list(&notice_ids))
        .bind(json_list(&mailed))
        .fetch_all(&mut *tx)
        .await?;
        let dictionaries: Vec<DictionaryRow> = sqlx::query_as(
            "SELECT id, content FROM notice_dictionaries
             WHERE id IN (SELECT value FROM json_each(?))",
        )
        .bind(json_list(&dictionary_ids(&payloads)))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        claimed(rows, payloads, dictionaries)
    }

    async fn release_deliveries(&self, ids: &[String]) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE deliveries SET lease_until = NULL WHERE id IN (SELECT value FROM json_each(?))",
        )
        .bind(json_list(ids))
        .execute(&self.bookkeeping)
        .await?;
        Ok(())
    }

    async fn record_attempts(&self, records: &[AttemptRecord]) -> Result<(), StoreError> {
        // The whole batch goes in as one JSON array, so a thousand attempts
        // cost two statements rather than two thousand.
        let effects: Vec<AttemptEffects> = records.iter().map(attempt_effects).collect();
        let batch = attempt_batch(records, &effects);
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
        for (r, effects) in records.iter().zip(&effects) {
            let finished = millis(effects.finished_at);
            if effects.disables_endpoint {
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
            if let Some(alert) = &effects.alert {
                sqlx::query(
                    "INSERT INTO alerts (id, kind, client_id, delivery_id, message, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                )
                .bind(&alert.id)
                .bind(alert.kind.as_str())
                .bind(r.client_id.as_str())
                .bind(&r.delivery_id)
                .bind(alert.message)
                .bind(finished)
                .execute(&mut *tx)
                .await?;
                insert_staff_mail(&mut tx, alert.mail, r.started_at).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delivery(&self, id: &str) -> Result<Option<DeliveryDetail>, StoreError> {
        let Some(row): Option<DeliveryRow> = sqlx::query_as(
            "SELECT id, notice_id, client_id, channel, target, status, next_attempt_at, delivered_at, message_id
             FROM deliveries WHERE id = ?",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let attempts: Vec<AttemptRow> = sqlx::query_as(
            "SELECT attempt, started_at, duration_ms, outcome, status_code, detail FROM delivery_attempts
             WHERE delivery_id = ? ORDER BY attempt",
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
             WHERE delivery_id IN (SELECT value FROM json_each(?)) ORDER BY delivery_id, attempt",
        )
        .bind(json_list(deliveries))
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
        let mut tx = self.pool.begin().await?;
        let replayed: Option<EndpointRow> = sqlx::query_as(
            "UPDATE deliveries SET status = 'pending', failures = 0, next_attempt_at = ?, lease_until = NULL
             WHERE id = ? AND status IN ('dead', 'disabled') RETURNING client_id, target",
        )
        .bind(millis(now))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(endpoint) = &replayed {
            sqlx::query("DELETE FROM disabled_endpoints WHERE client_id = ? AND target = ?")
                .bind(&endpoint.client_id)
                .bind(&endpoint.target)
                .execute(&mut *tx)
                .await?;
            append_audit_in(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(replayed.is_some())
    }

    async fn alerts(&self) -> Result<Vec<Alert>, StoreError> {
        let rows: Vec<AlertRow> = sqlx::query_as("SELECT id, kind, client_id, delivery_id, message, created_at FROM alerts ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(AlertRow::into_record).collect()
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
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<ClaimedWebhookTest>, StoreError> {
        let rows: Vec<WebhookTestClaimRow> = sqlx::query_as(
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
        .await?;
        rows.into_iter()
            .map(WebhookTestClaimRow::into_record)
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

    async fn webhook_test(&self, id: &str) -> Result<Option<WebhookTest>, StoreError> {
        let row: Option<WebhookTestRow> = sqlx::query_as(
            "SELECT id, client_id, webhook_id, status, created_at, finished_at, outcome, status_code,
                    duration_ms, detail
             FROM webhook_tests WHERE id = ?",
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
                "SELECT count(*) FROM deliveries WHERE status = 'pending' AND channel = ?",
            )
            .bind(channel.as_str())
            .fetch_one(&self.pool)
            .await?;
            let oldest_due: Option<i64> = sqlx::query_scalar(
                "SELECT d.next_attempt_at FROM deliveries d
                 WHERE d.status = 'pending' AND d.channel = ?1 AND d.next_attempt_at <= ?2
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
