//! What the store reads and writes, independent of the backend.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::domain::audit::NewAuditEntry;
use crate::domain::{
    endpoint_key, AcknowledgementNote, AttemptOutcome, Caller, Channel, ClientId, IncidentId,
    IncidentStatus, NextState, NoticeId, NoticeStatus, NoticeType, Role, VersionAction,
};
use crate::validation::FieldError;

pub struct NewToken {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub client_id: Option<ClientId>,
    pub hash: [u8; 32],
    pub created_at: DateTime<Utc>,
}

/// A token as stored: who it is, and the hash a presented secret must match.
pub struct StoredToken {
    pub record: Caller,
    pub hash: [u8; 32],
}

pub struct NewIncident {
    pub id: IncidentId,
    pub reference: String,
    pub became_aware_at: DateTime<Utc>,
    pub summary: String,
    pub report: Value,
    pub reported_by: String,
    pub created_at: DateTime<Utc>,
    pub notices: Vec<NewNotice>,
    pub idempotency: Option<IdempotencyRecord>,
    /// `report.filed`, written in the incident's own transaction.
    pub audit: NewAuditEntry,
}

pub struct NewNotice {
    pub id: NoticeId,
    pub client_id: ClientId,
    pub sequence: u32,
    pub kind: NoticeType,
    pub status: NoticeStatus,
    /// The exact bytes that are signed and delivered.
    pub body: Vec<u8>,
    pub jws: Option<String>,
    pub errors: Vec<FieldError>,
    pub notify_by: DateTime<Utc>,
    pub deliveries: Vec<NewDelivery>,
}

pub struct NewDelivery {
    pub id: String,
    pub channel: Channel,
    /// The webhook id, or `email`.
    pub target: String,
}

/// What a follow-up starts from: the incident's latest version and, per
/// client, where its series of notices stands.
pub struct IncidentState {
    pub id: IncidentId,
    pub reference: String,
    pub status: IncidentStatus,
    pub version: u32,
    /// The facts (a report document) as of `version`.
    pub facts: Value,
    pub clients: Vec<ClientSeries>,
}

/// One client's notices about one incident.
pub struct ClientSeries {
    pub client_id: ClientId,
    pub last_sequence: u32,
    /// The latest notice, sent or held: a new draft equal to it adds nothing.
    pub last: NoticeBody,
    /// The latest notice the client was actually sent (held ones never
    /// were): what the next notice's `changes` are measured against.
    pub last_sent: Option<NoticeBody>,
}

pub struct NoticeBody {
    pub id: NoticeId,
    pub body: Vec<u8>,
}

/// An update, closure or retraction: the new version of the incident and
/// the notices it produces, written in one transaction.
pub struct NewVersion {
    pub incident_id: IncidentId,
    /// The version this one follows; if another got there first the write
    /// fails with [`super::StoreError::VersionConflict`] and writes nothing.
    pub follows: u32,
    pub action: VersionAction,
    pub status: IncidentStatus,
    pub facts: Value,
    /// What staff sent, as sent.
    pub submitted: Value,
    pub became_aware_at: DateTime<Utc>,
    pub summary: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub notices: Vec<NewNotice>,
    pub idempotency: Option<IdempotencyRecord>,
    pub audit: NewAuditEntry,
}

pub struct IdempotencyRecord {
    pub token_id: String,
    pub key: String,
    pub request_digest: String,
    pub status: u16,
    pub response: Value,
}

pub struct StoredResponse {
    pub request_digest: String,
    pub status: u16,
    pub response: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct IncidentSummary {
    pub id: String,
    pub reference: String,
    pub status: String,
    pub version: u32,
    pub became_aware_at: DateTime<Utc>,
    pub summary: String,
    pub created_at: DateTime<Utc>,
    pub clients: u64,
    pub held: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct IncidentView {
    #[serde(flatten)]
    pub summary: IncidentSummary,
    pub reported_by: String,
    pub versions: Vec<VersionView>,
    pub notices: Vec<NoticeView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NoticeView {
    pub notice_id: String,
    pub client_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub sequence: u32,
    pub status: String,
    pub notify_by: DateTime<Utc>,
    pub errors: Vec<FieldError>,
    pub deliveries: Vec<DeliveryView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    pub delivery_id: String,
    pub channel: String,
    pub target: String,
    pub status: String,
    pub attempts: u32,
}

/// A notice as stored: the exact bytes delivered and their signature.
#[derive(Debug, Clone)]
pub struct StoredNotice {
    pub id: String,
    pub incident_id: String,
    pub client_id: ClientId,
    pub status: String,
    pub body: Vec<u8>,
    pub jws: Option<String>,
}

/// A delivery a worker has claimed, with what it needs to send it.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub id: String,
    pub notice_id: String,
    pub client_id: ClientId,
    pub channel: Channel,
    pub target: String,
    /// Attempts made so far, over the delivery's whole life.
    pub attempts: u32,
    /// Failed attempts since the last success or replay, for the retry schedule.
    pub failures: u32,
    /// Shared with the other deliveries of the notice, and handed to the
    /// HTTP client without a copy.
    pub body: Bytes,
    pub jws: String,
    /// For a follow-up, the client's first notice about the incident, which
    /// its email answers so the two thread.
    pub thread: Option<NoticeId>,
}

impl ClaimedDelivery {
    pub fn endpoint(&self) -> String {
        endpoint_key(&self.client_id, &self.target)
    }
}

impl AttemptRecord {
    pub fn endpoint(&self) -> String {
        endpoint_key(&self.client_id, &self.target)
    }
}

/// One finished attempt and its consequence, written in a batch.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery_id: String,
    pub channel: Channel,
    pub client_id: ClientId,
    pub target: String,
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub outcome: AttemptOutcome,
    pub status_code: Option<u16>,
    /// The truncated response body or the error.
    pub detail: String,
    pub next: NextState,
    pub failures: u32,
    /// Raised to staff with this attempt (dead letter, disabled endpoint):
    /// listed in `/v1/alerts` and mailed to the privacy contact.
    pub alert: Option<RaisedAlert>,
}

#[derive(Debug, Clone)]
pub struct RaisedAlert {
    pub message: String,
    pub mail: super::NewStaffMail,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttemptView {
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub outcome: String,
    pub status_code: Option<u16>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryDetail {
    pub delivery_id: String,
    pub notice_id: String,
    pub client_id: String,
    pub channel: String,
    pub target: String,
    pub status: String,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub message_id: Option<String>,
    pub attempts: Vec<AttemptView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub id: String,
    pub kind: String,
    pub client_id: Option<String>,
    pub delivery_id: Option<String>,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

/// A notice as its client sees it in its own list.
#[derive(Debug, Clone, Serialize)]
pub struct ClientNoticeView {
    pub notice_id: String,
    pub incident_id: String,
    pub reference: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub sequence: u32,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub notify_by: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// A client's acknowledgement of one of its notices, as its token made it.
pub struct NewAcknowledgement {
    pub notice_id: NoticeId,
    pub client_id: ClientId,
    pub token_id: String,
    /// The acknowledging token's name.
    pub acknowledged_by: String,
    pub note: Option<AcknowledgementNote>,
    pub acknowledged_at: DateTime<Utc>,
    /// `notice.acknowledged`, written only with a new acknowledgement.
    pub audit: NewAuditEntry,
}

/// The acknowledgement on record: always the first one made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Acknowledgement {
    pub notice_id: String,
    pub acknowledged_at: DateTime<Utc>,
    pub acknowledged_by: String,
}

/// One incident in the breach register (GDPR Art. 33(5)): per affected client
/// its notices, how each was delivered and acknowledged, and whether the
/// agreement's deadline for the first notice was met.
#[derive(Debug, Clone, Serialize)]
pub struct RegisterIncident {
    pub incident_id: String,
    pub reference: String,
    pub status: String,
    pub became_aware_at: DateTime<Utc>,
    pub reported_at: DateTime<Utc>,
    pub summary: String,
    /// The report and every follow-up, oldest first.
    pub versions: Vec<VersionView>,
    pub clients: Vec<RegisterClient>,
}

/// One version of an incident: who did what, when, and what they sent.
#[derive(Debug, Clone, Serialize)]
pub struct VersionView {
    pub version: u32,
    pub action: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub submitted: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegisterClient {
    pub client_id: String,
    pub notices: Vec<RegisterNotice>,
    /// When a notice about the incident first reached the client, on any channel.
    pub first_delivered_at: Option<DateTime<Utc>>,
    /// Whether the initial notice arrived by its `notify_by`; none while it
    /// is undelivered and the deadline has not passed yet.
    pub deadline_met: Option<bool>,
}

impl RegisterClient {
    /// A client's register entry, its deadline judged as of `now`.
    pub fn new(client_id: String, notices: Vec<RegisterNotice>, now: DateTime<Utc>) -> Self {
        // The client was notified when anything about the incident first
        // reached it: after a held initial notice, that is a later one. The
        // deadline is the one the latest facts give.
        let first_delivered_at = notices
            .iter()
            .flat_map(|n| n.deliveries.iter().filter_map(|d| d.delivered_at))
            .min();
        let deadline_met = notices
            .last()
            .and_then(|n| deadline_met(first_delivered_at, n.notify_by, now));
        Self {
            client_id,
            notices,
            first_delivered_at,
            deadline_met,
        }
    }
}

/// Met if delivered by `notify_by`; missed if delivered later, or not at all
/// once `notify_by` has passed; undecided until then.
fn deadline_met(
    first_delivered_at: Option<DateTime<Utc>>,
    notify_by: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<bool> {
    match first_delivered_at {
        Some(delivered_at) => Some(delivered_at <= notify_by),
        None if now > notify_by => Some(false),
        None => None,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RegisterNotice {
    pub notice_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub sequence: u32,
    pub status: String,
    pub notify_by: DateTime<Utc>,
    pub deliveries: Vec<RegisterDelivery>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RegisterDelivery {
    pub delivery_id: String,
    pub channel: String,
    pub target: String,
    pub status: String,
    pub attempts: u32,
    pub delivered_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_is_met_only_by_delivery_in_time_and_undecided_until_it_passes() {
        let notify_by = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let before = notify_by - chrono::Duration::hours(1);
        let after = notify_by + chrono::Duration::hours(1);
        assert_eq!(deadline_met(Some(before), notify_by, after), Some(true));
        assert_eq!(deadline_met(Some(notify_by), notify_by, after), Some(true));
        assert_eq!(deadline_met(Some(after), notify_by, after), Some(false));
        assert_eq!(deadline_met(None, notify_by, after), Some(false));
        assert_eq!(deadline_met(None, notify_by, before), None);
        assert_eq!(deadline_met(None, notify_by, notify_by), None);
    }
}
