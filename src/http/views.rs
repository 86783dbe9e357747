//! The API's JSON answers, built from the store's records. The field
//! names, their order and `null`s are the contract `openapi/openapi.json`
//! describes; the records behind them can change without changing it.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::store::{
    Acknowledgement, Alert, ClientNotice, DeliveryAttempt, DeliveryDetail, IncidentDetail,
    IncidentNotice, IncidentSummary, IncidentVersion, NoticeDelivery, RegisterClient,
    RegisterDelivery, RegisterIncident, RegisterNotice, WebhookTest,
};
use crate::validation::FieldError;

/// Records as their JSON answers, in order.
pub fn list<R, T: From<R>>(records: Vec<R>) -> Vec<T> {
    records.into_iter().map(T::from).collect()
}

/// `GET /v1/incidents`, one per incident.
#[derive(Serialize)]
pub struct IncidentSummaryOut {
    pub id: String,
    pub reference: String,
    pub status: &'static str,
    pub version: u32,
    pub became_aware_at: DateTime<Utc>,
    pub summary: String,
    pub created_at: DateTime<Utc>,
    pub clients: u64,
    pub held: u64,
}

impl From<IncidentSummary> for IncidentSummaryOut {
    fn from(s: IncidentSummary) -> Self {
        Self {
            id: s.id,
            reference: s.reference,
            status: s.status.as_str(),
            version: s.version,
            became_aware_at: s.became_aware_at,
            summary: s.summary,
            created_at: s.created_at,
            clients: s.clients,
            held: s.held,
        }
    }
}

/// `GET /v1/incidents/{id}`
#[derive(Serialize)]
pub struct IncidentOut {
    #[serde(flatten)]
    pub summary: IncidentSummaryOut,
    pub reported_by: String,
    pub versions: Vec<VersionOut>,
    pub notices: Vec<NoticeOut>,
}

impl From<IncidentDetail> for IncidentOut {
    fn from(i: IncidentDetail) -> Self {
        Self {
            summary: i.summary.into(),
            reported_by: i.reported_by,
            versions: list(i.versions),
            notices: list(i.notices),
        }
    }
}

#[derive(Serialize)]
pub struct VersionOut {
    pub version: u32,
    pub action: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub submitted: Value,
}

impl From<IncidentVersion> for VersionOut {
    fn from(v: IncidentVersion) -> Self {
        Self {
            version: v.version,
            action: v.action,
            created_by: v.created_by,
            created_at: v.created_at,
            submitted: v.submitted,
        }
    }
}

#[derive(Serialize)]
pub struct NoticeOut {
    pub notice_id: String,
    pub client_id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub sequence: u32,
    pub status: &'static str,
    pub notify_by: DateTime<Utc>,
    pub errors: Vec<FieldError>,
    pub deliveries: Vec<DeliveryOut>,
}

impl From<IncidentNotice> for NoticeOut {
    fn from(n: IncidentNotice) -> Self {
        Self {
            notice_id: n.notice_id,
            client_id: n.client_id,
            kind: n.kind.as_str(),
            sequence: n.sequence,
            status: n.status.as_str(),
            notify_by: n.notify_by,
            errors: n.errors,
            deliveries: list(n.deliveries),
        }
    }
}

#[derive(Serialize)]
pub struct DeliveryOut {
    pub delivery_id: String,
    pub channel: &'static str,
    pub target: String,
    pub status: &'static str,
    pub attempts: u32,
}

impl From<NoticeDelivery> for DeliveryOut {
    fn from(d: NoticeDelivery) -> Self {
        Self {
            delivery_id: d.delivery_id,
            channel: d.channel.as_str(),
            target: d.target,
            status: d.status.as_str(),
            attempts: d.attempts,
        }
    }
}

/// `GET /v1/deliveries/{id}`
#[derive(Serialize)]
pub struct DeliveryDetailOut {
    pub delivery_id: String,
    pub notice_id: String,
    pub client_id: String,
    pub channel: &'static str,
    pub target: String,
    pub status: &'static str,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub message_id: Option<String>,
    pub attempts: Vec<AttemptOut>,
}

impl From<DeliveryDetail> for DeliveryDetailOut {
    fn from(d: DeliveryDetail) -> Self {
        Self {
            delivery_id: d.delivery_id,
            notice_id: d.notice_id,
            client_id: d.client_id,
            channel: d.channel.as_str(),
            target: d.target,
            status: d.status.as_str(),
            next_attempt_at: d.next_attempt_at,
            delivered_at: d.delivered_at,
            message_id: d.message_id,
            attempts: list(d.attempts),
        }
    }
}

#[derive(Serialize)]
pub struct AttemptOut {
    pub attempt: u32,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub outcome: &'static str,
    pub status_code: Option<u16>,
    pub detail: String,
}

impl From<DeliveryAttempt> for AttemptOut {
    fn from(a: DeliveryAttempt) -> Self {
        Self {
            attempt: a.attempt,
            started_at: a.started_at,
            duration_ms: a.duration_ms,
            outcome: a.outcome.as_str(),
            status_code: a.status_code,
            detail: a.detail,
        }
    }
}

/// `GET /v1/alerts`, one per alert.
#[derive(Serialize)]
pub struct AlertOut {
    pub id: String,
    pub kind: &'static str,
    pub client_id: Option<String>,
    pub delivery_id: Option<String>,
    pub message: String,
    pub created_at: DateTime<Utc>,
}

impl From<Alert> for AlertOut {
    fn from(a: Alert) -> Self {
        Self {
            id: a.id,
            kind: a.kind.as_str(),
            client_id: a.client_id,
            delivery_id: a.delivery_id,
            message: a.message,
            created_at: a.created_at,
        }
    }
}

/// `GET /v1/client/notices`, one per notice.
#[derive(Serialize)]
pub struct ClientNoticeOut {
    pub notice_id: String,
    pub incident_id: String,
    pub reference: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub sequence: u32,
    pub status: &'static str,
    pub created_at: DateTime<Utc>,
    pub notify_by: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

impl From<ClientNotice> for ClientNoticeOut {
    fn from(n: ClientNotice) -> Self {
        Self {
            notice_id: n.notice_id,
            incident_id: n.incident_id,
            reference: n.reference,
            kind: n.kind.as_str(),
            sequence: n.sequence,
            status: n.status.as_str(),
            created_at: n.created_at,
            notify_by: n.notify_by,
            acknowledged_at: n.acknowledged_at,
        }
    }
}

/// `POST /v1/client/notices/{id}/ack`
#[derive(Serialize)]
pub struct AcknowledgementOut {
    pub notice_id: String,
    pub acknowledged_at: DateTime<Utc>,
    pub acknowledged_by: String,
}

impl From<Acknowledgement> for AcknowledgementOut {
    fn from(a: Acknowledgement) -> Self {
        Self {
            notice_id: a.notice_id,
            acknowledged_at: a.acknowledged_at,
            acknowledged_by: a.acknowledged_by,
        }
    }
}

/// `GET /v1/register` as JSON, one per incident.
#[derive(Serialize)]
pub struct RegisterIncidentOut {
    pub incident_id: String,
    pub reference: String,
    pub status: &'static str,
    pub became_aware_at: DateTime<Utc>,
    pub reported_at: DateTime<Utc>,
    pub summary: String,
    pub versions: Vec<VersionOut>,
    pub clients: Vec<RegisterClientOut>,
}

impl From<RegisterIncident> for RegisterIncidentOut {
    fn from(i: RegisterIncident) -> Self {
        Self {
            incident_id: i.incident_id,
            reference: i.reference,
            status: i.status.as_str(),
            became_aware_at: i.became_aware_at,
            reported_at: i.reported_at,
            summary: i.summary,
            versions: list(i.versions),
            clients: list(i.clients),
        }
    }
}

#[derive(Serialize)]
pub struct RegisterClientOut {
    pub client_id: String,
    pub notices: Vec<RegisterNoticeOut>,
    pub first_delivered_at: Option<DateTime<Utc>>,
    pub deadline_met: Option<bool>,
}

impl From<RegisterClient> for RegisterClientOut {
    fn from(c: RegisterClient) -> Self {
        Self {
            client_id: c.client_id,
            notices: list(c.notices),
            first_delivered_at: c.first_delivered_at,
            deadline_met: c.deadline_met,
        }
    }
}

#[derive(Serialize)]
pub struct RegisterNoticeOut {
    pub notice_id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub sequence: u32,
    pub status: &'static str,
    pub notify_by: DateTime<Utc>,
    pub deliveries: Vec<RegisterDeliveryOut>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
}

impl From<RegisterNotice> for RegisterNoticeOut {
    fn from(n: RegisterNotice) -> Self {
        Self {
            notice_id: n.notice_id,
            kind: n.kind.as_str(),
            sequence: n.sequence,
            status: n.status.as_str(),
            notify_by: n.notify_by,
            deliveries: list(n.deliveries),
            acknowledged_at: n.acknowledged_at,
            acknowledged_by: n.acknowledged_by,
        }
    }
}

#[derive(Serialize)]
pub struct RegisterDeliveryOut {
    pub delivery_id: String,
    pub channel: &'static str,
    pub target: String,
    pub status: &'static str,
    pub attempts: u32,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<RegisterDelivery> for RegisterDeliveryOut {
    fn from(d: RegisterDelivery) -> Self {
        Self {
            delivery_id: d.delivery_id,
            channel: d.channel.as_str(),
            target: d.target,
            status: d.status.as_str(),
            attempts: d.attempts,
            delivered_at: d.delivered_at,
        }
    }
}

/// `GET /v1/admin/clients/{id}/webhooks/{webhook_id}/tests/{test_id}`
#[derive(Serialize)]
pub struct WebhookTestOut {
    pub test_id: String,
    pub client_id: String,
    pub webhook_id: String,
    /// `pending` until the worker has sent it, then `done`.
    pub status: &'static str,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Option<&'static str>,
    pub status_code: Option<u16>,
    pub duration_ms: Option<u64>,
    pub detail: Option<String>,
}

impl From<WebhookTest> for WebhookTestOut {
    fn from(t: WebhookTest) -> Self {
        Self {
            test_id: t.test_id,
            client_id: t.client_id,
            webhook_id: t.webhook_id,
            status: t.status.as_str(),
            created_at: t.created_at,
            finished_at: t.finished_at,
            outcome: t.outcome.map(|o| o.as_str()),
            status_code: t.status_code,
            duration_ms: t.duration_ms,
            detail: t.detail,
        }
    }
}
