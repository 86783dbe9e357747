//! The rows of the queues the workers drain, typed as every backend stores them:
//! claimed deliveries and their payloads, attempts, alerts, webhook test
//! messages, and what the deadline and cadence jobs read and the staff
//! mail they send.

use std::collections::HashMap;

use bytes::Bytes;

use super::json_column;
use super::rows::optional_millis;
use crate::domain::{AttemptOutcome, Channel, DeliveryStatus, NoticeStatus};
use crate::store::shared::{decode, from_millis, parse_client, parse_notice_id, unpack_body};
use crate::store::{
    Alert, AlertKind, ClaimedDelivery, ClaimedWebhookTest, DeliveryAttempt, DeliveryDetail,
    LatestNotice, StaffMail, StoreError, UndeliveredNotice, WebhookTest, WebhookTestStatus,
};

/// Claimed deliveries, each with its notice's payload (from `payloads`),
/// unpacked against its filing's dictionary (from `dictionaries`).
pub(in crate::store) fn claimed(
    rows: Vec<ClaimRow>,
    payloads: Vec<NoticePayloadRow>,
    dictionaries: Vec<DictionaryRow>,
) -> Result<Vec<ClaimedDelivery>, StoreError> {
    let dictionaries: HashMap<i64, Vec<u8>> = dictionaries
        .into_iter()
        .map(|d| (d.id, d.content))
        .collect();
    let payloads: HashMap<String, NoticePayload> = payloads
        .into_iter()
        .map(|row| row.into_payload(&dictionaries))
        .collect::<Result<_, _>>()?;
    rows.into_iter()
        .map(|row| row.into_record(&payloads))
        .collect()
}

/// A delivery as its claim returns it, before its notice's body is joined.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct ClaimRow {
    id: String,
    pub(in crate::store) notice_id: String,
    client_id: String,
    channel: String,
    target: String,
    attempts: i64,
    failures: i64,
}

impl ClaimRow {
    /// The delivery, with its notice's payload from `payloads` (by notice id).
    fn into_record(
        self,
        payloads: &HashMap<String, NoticePayload>,
    ) -> Result<ClaimedDelivery, StoreError> {
        let NoticePayload {
            incident_id,
            body,
            jws,
            thread,
        } = payloads.get(&self.notice_id).cloned().ok_or_else(|| {
            StoreError::Corrupt(format!("delivery for missing notice {}", self.notice_id))
        })?;
        Ok(ClaimedDelivery {
            id: self.id,
            client_id: parse_client(self.client_id)?,
            channel: decode("channel", &self.channel, Channel::parse)?,
            target: self.target,
            attempts: self.attempts as u32,
            failures: self.failures as u32,
            body,
            jws,
            thread: thread.map(parse_notice_id).transpose()?,
            notice_id: self.notice_id,
            incident_id,
        })
    }
}

/// The dictionaries of the claimed notices' filings, distinct, so a claim
/// reads each once rather than once per notice.
pub(in crate::store) fn dictionary_ids(payloads: &[NoticePayloadRow]) -> Vec<i64> {
    let mut ids: Vec<i64> = payloads.iter().filter_map(|p| p.dictionary_id).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// What every delivery of a claimed notice sends, its body as stored.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct NoticePayloadRow {
    pub(in crate::store) id: String,
    pub(in crate::store) incident_id: String,
    pub(in crate::store) body: Vec<u8>,
    pub(in crate::store) dictionary_id: Option<i64>,
    pub(in crate::store) jws: Option<String>,
    pub(in crate::store) thread: Option<String>,
}

/// A notice's payload, shared by its claimed deliveries.
#[derive(Clone)]
struct NoticePayload {
    incident_id: String,
    body: Bytes,
    jws: String,
    thread: Option<String>,
}

/// A filing's compression dictionary.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct DictionaryRow {
    id: i64,
    content: Vec<u8>,
}

impl NoticePayloadRow {
    fn into_payload(
        self,
        dictionaries: &HashMap<i64, Vec<u8>>,
    ) -> Result<(String, NoticePayload), StoreError> {
        let dictionary = match self.dictionary_id {
            None => None,
            Some(id) => Some(dictionaries.get(&id).ok_or_else(|| {
                StoreError::Corrupt(format!("notice {} has no dictionary {id}", self.id))
            })?),
        };
        Ok((
            self.id,
            NoticePayload {
                incident_id: self.incident_id,
                body: Bytes::from(unpack_body(self.body, dictionary.map(Vec::as_slice))?),
                jws: self.jws.unwrap_or_default(),
                thread: self.thread,
            },
        ))
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct DeliveryRow {
    id: String,
    notice_id: String,
    client_id: String,
    channel: String,
    target: String,
    status: String,
    next_attempt_at: i64,
    delivered_at: Option<i64>,
    message_id: Option<String>,
}

impl DeliveryRow {
    /// The delivery, with its attempts' rows.
    pub(in crate::store) fn into_record(
        self,
        attempts: Vec<AttemptRow>,
    ) -> Result<DeliveryDetail, StoreError> {
        let attempts = attempts
            .into_iter()
            .map(AttemptRow::into_record)
            .collect::<Result<_, _>>()?;
        let status = decode("delivery status", &self.status, DeliveryStatus::parse)?;
        Ok(DeliveryDetail {
            delivery_id: self.id,
            notice_id: self.notice_id,
            client_id: self.client_id,
            channel: decode("channel", &self.channel, Channel::parse)?,
            target: self.target,
            // What was due before a delivery finished means nothing after.
            next_attempt_at: (status == DeliveryStatus::Pending)
                .then(|| from_millis(self.next_attempt_at))
                .transpose()?,
            delivered_at: optional_millis(self.delivered_at)?,
            message_id: self.message_id,
            status,
            attempts,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct AttemptRow {
    attempt: i64,
    started_at: i64,
    duration_ms: i64,
    outcome: String,
    status_code: Option<i64>,
    detail: String,
}

impl AttemptRow {
    fn into_record(self) -> Result<DeliveryAttempt, StoreError> {
        Ok(DeliveryAttempt {
            attempt: self.attempt as u32,
            started_at: from_millis(self.started_at)?,
            duration_ms: self.duration_ms as u64,
            outcome: decode("attempt outcome", &self.outcome, AttemptOutcome::parse)?,
            status_code: self.status_code.map(|c| c as u16),
            detail: self.detail,
        })
    }
}

/// An attempt under its delivery's id.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct DeliveryAttemptRow {
    delivery_id: String,
    #[sqlx(flatten)]
    attempt: AttemptRow,
}

impl DeliveryAttemptRow {
    pub(in crate::store) fn into_record(self) -> Result<(String, DeliveryAttempt), StoreError> {
        Ok((self.delivery_id, self.attempt.into_record()?))
    }
}

/// A delivery target: a webhook id, or `email`.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct EndpointRow {
    pub(in crate::store) client_id: String,
    pub(in crate::store) target: String,
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct AlertRow {
    id: String,
    kind: String,
    client_id: Option<String>,
    delivery_id: Option<String>,
    message: String,
    created_at: i64,
}

impl AlertRow {
    pub(in crate::store) fn into_record(self) -> Result<Alert, StoreError> {
        Ok(Alert {
            id: self.id,
            kind: decode("alert kind", &self.kind, AlertKind::parse)?,
            client_id: self.client_id,
            delivery_id: self.delivery_id,
            message: self.message,
            created_at: from_millis(self.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct WebhookTestClaimRow {
    id: String,
    client_id: String,
    webhook_id: String,
    body: Vec<u8>,
}

impl WebhookTestClaimRow {
    pub(in crate::store) fn into_record(self) -> Result<ClaimedWebhookTest, StoreError> {
        Ok(ClaimedWebhookTest {
            id: self.id,
            client_id: parse_client(self.client_id)?,
            webhook_id: self.webhook_id,
            body: self.body,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct WebhookTestRow {
    id: String,
    client_id: String,
    webhook_id: String,
    status: String,
    created_at: i64,
    finished_at: Option<i64>,
    outcome: Option<String>,
    status_code: Option<i64>,
    duration_ms: Option<i64>,
    detail: Option<String>,
}

impl WebhookTestRow {
    pub(in crate::store) fn into_record(self) -> Result<WebhookTest, StoreError> {
        Ok(WebhookTest {
            test_id: self.id,
            client_id: self.client_id,
            webhook_id: self.webhook_id,
            status: decode("test status", &self.status, WebhookTestStatus::parse)?,
            created_at: from_millis(self.created_at)?,
            finished_at: optional_millis(self.finished_at)?,
            outcome: self
                .outcome
                .map(|o| decode("attempt outcome", &o, AttemptOutcome::parse))
                .transpose()?,
            status_code: self.status_code.map(|c| c as u16),
            duration_ms: self.duration_ms.map(|d| d as u64),
            detail: self.detail,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct UndeliveredRow {
    id: String,
    incident_id: String,
    reference: String,
    client_id: String,
    status: String,
    became_aware_at: i64,
    notify_by: i64,
    /// A JSON array of the thresholds on record.
    escalated: String,
}

impl UndeliveredRow {
    pub(in crate::store) fn into_record(self) -> Result<UndeliveredNotice, StoreError> {
        Ok(UndeliveredNotice {
            notice_id: self.id,
            incident_id: self.incident_id,
            reference: self.reference,
            client_id: parse_client(self.client_id)?,
            held: self.status == NoticeStatus::Held.as_str(),
            became_aware_at: from_millis(self.became_aware_at)?,
            notify_by: from_millis(self.notify_by)?,
            escalated: json_column(&self.escalated)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct LatestNoticeRow {
    id: String,
    incident_id: String,
    reference: String,
    client_id: String,
    sequence: i64,
    created_at: i64,
}

impl LatestNoticeRow {
    pub(in crate::store) fn into_record(self) -> Result<LatestNotice, StoreError> {
        Ok(LatestNotice {
            incident_id: self.incident_id,
            reference: self.reference,
            client_id: parse_client(self.client_id)?,
            notice_id: self.id,
            sequence: self.sequence as u32,
            created_at: from_millis(self.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct StaffMailRow {
    /// The order written.
    pub(in crate::store) rowid: i64,
    id: String,
    recipient: String,
    subject: String,
    body: String,
}

impl From<StaffMailRow> for StaffMail {
    fn from(row: StaffMailRow) -> Self {
        StaffMail {
            id: row.id,
            recipient: row.recipient,
            subject: row.subject,
            body: row.body,
        }
    }
}
