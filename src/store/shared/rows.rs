//! The rows the queries for tokens, agreements, incidents, client notices,
//! the register and the audit log return, typed as every backend stores them
//! (64-bit integer milliseconds and counts, TEXT JSON, binary bodies), and
//! how each becomes a record. Each struct's fields are the columns its
//! queries select.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{by_parent, client_series, incident_detail, json_column, register};
use crate::agreements::{AgreementDoc, DocKind};
use crate::domain::audit::AuditEntry;
use crate::domain::{
    Caller, Channel, DeliveryStatus, IncidentId, IncidentStatus, NoticeStatus, NoticeType, Role,
};
use crate::store::shared::{
    decode, from_millis, parse_client, unpack_body, RegisterNoticeRow, SeriesRow,
};
use crate::store::{
    Acknowledgement, BoardIncident, ClientNotice, ClientSeries, ClientStanding, IncidentDetail,
    IncidentNotice, IncidentOverview, IncidentState, IncidentSummary, IncidentVersion,
    NoticeDelivery, RegisterDelivery, RegisterIncident, RegisterNotice, StoreError, StoredNotice,
    StoredResponse, StoredSecret, StoredToken, TokenListing,
};
use crate::validation::FieldError;

pub(in crate::store) fn optional_millis(
    ms: Option<i64>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
    ms.map(from_millis).transpose()
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct AgreementDocRow {
    kind: String,
    id: String,
    body: String,
}

impl AgreementDocRow {
    pub(in crate::store) fn into_record(self) -> Result<AgreementDoc, StoreError> {
        Ok(AgreementDoc {
            kind: decode("agreement kind", &self.kind, DocKind::parse)?,
            id: self.id,
            body: serde_json::value::RawValue::from_string(self.body)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct AgreementDigestRow {
    pub(in crate::store) kind: String,
    pub(in crate::store) id: String,
    pub(in crate::store) digest: String,
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct TokenRow {
    id: String,
    name: String,
    role: String,
    client_id: Option<String>,
}

impl TokenRow {
    pub(in crate::store) fn into_record(self) -> Result<Caller, StoreError> {
        Ok(Caller {
            id: self.id,
            name: self.name,
            role: decode("role", &self.role, Role::parse)?,
            client_id: self.client_id.map(parse_client).transpose()?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct TokenWithHashRow {
    #[sqlx(flatten)]
    token: TokenRow,
    token_hash: Vec<u8>,
    expires_at: Option<i64>,
}

impl TokenWithHashRow {
    pub(in crate::store) fn into_record(self) -> Result<StoredToken, StoreError> {
        Ok(StoredToken {
            record: self.token.into_record()?,
            hash: self
                .token_hash
                .try_into()
                .map_err(|_| StoreError::Corrupt("token hash length".into()))?,
            expires_at: optional_millis(self.expires_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct TokenListingRow {
    #[sqlx(flatten)]
    token: TokenRow,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TokenListingRow {
    pub(in crate::store) fn into_record(self) -> Result<TokenListing, StoreError> {
        Ok(TokenListing {
            token: self.token.into_record()?,
            created_at: from_millis(self.created_at)?,
            expires_at: optional_millis(self.expires_at)?,
            revoked_at: optional_millis(self.revoked_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct SecretRow {
    version: i64,
    sealed: String,
    key_id: String,
    created_at: i64,
    expires_at: Option<i64>,
}

impl SecretRow {
    pub(in crate::store) fn into_record(self) -> Result<StoredSecret, StoreError> {
        Ok(StoredSecret {
            version: self.version as u32,
            sealed: self.sealed,
            key_id: self.key_id,
            created_at: from_millis(self.created_at)?,
            expires_at: optional_millis(self.expires_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct StoredResponseRow {
    request_digest: String,
    status: i64,
    response: String,
}

impl StoredResponseRow {
    pub(in crate::store) fn into_record(self) -> Result<StoredResponse, StoreError> {
        Ok(StoredResponse {
            request_digest: self.request_digest,
            status: self.status as u16,
            response: json_column(&self.response)?,
        })
    }
}

/// The incident's own columns a follow-up starts from.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct IncidentHeadRow {
    reference: String,
    status: String,
    version: i64,
    report: String,
}

impl IncidentHeadRow {
    /// The incident's state, given the ids of the clients it has notices for.
    pub(in crate::store) fn into_state(
        self,
        id: &IncidentId,
        clients: Vec<String>,
    ) -> Result<IncidentState, StoreError> {
        Ok(IncidentState {
            id: id.clone(),
            reference: self.reference,
            status: decode("incident status", &self.status, IncidentStatus::parse)?,
            version: self.version as u32,
            facts: json_column(&self.report)?,
            clients: records(clients, parse_client)?,
        })
    }
}

/// Clients' series from their rows and the bodies of the notices they name.
pub(in crate::store) fn series_from_rows(
    series: Vec<SeriesRow>,
    bodies: Vec<NoticeBodyRow>,
) -> Result<Vec<ClientSeries>, StoreError> {
    let bodies: HashMap<String, Vec<u8>> = bodies
        .into_iter()
        .map(NoticeBodyRow::into_body)
        .collect::<Result<_, _>>()?;
    client_series(series, &bodies)
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct ClientSeriesRow {
    client_id: String,
    last_position: i64,
    last: String,
    last_sent: Option<String>,
}

impl From<ClientSeriesRow> for SeriesRow {
    fn from(row: ClientSeriesRow) -> Self {
        SeriesRow {
            client_id: row.client_id,
            last_position: row.last_position as u32,
            last: row.last,
            last_sent: row.last_sent,
        }
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct NoticeBodyRow {
    id: String,
    body: Vec<u8>,
    dictionary: Option<Vec<u8>>,
}

impl NoticeBodyRow {
    /// The notice's id and its body as signed.
    fn into_body(self) -> Result<(String, Vec<u8>), StoreError> {
        Ok((self.id, unpack_body(self.body, self.dictionary.as_deref())?))
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct IncidentSummaryRow {
    id: String,
    reference: String,
    status: String,
    version: i64,
    became_aware_at: i64,
    summary: String,
    created_at: i64,
    clients: i64,
    held: i64,
}

impl IncidentSummaryRow {
    pub(in crate::store) fn into_record(self) -> Result<IncidentSummary, StoreError> {
        Ok(IncidentSummary {
            id: self.id,
            reference: self.reference,
            status: decode("incident status", &self.status, IncidentStatus::parse)?,
            version: self.version as u32,
            became_aware_at: from_millis(self.became_aware_at)?,
            summary: self.summary,
            created_at: from_millis(self.created_at)?,
            clients: self.clients as u64,
            held: self.held as u64,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct IncidentRow {
    #[sqlx(flatten)]
    pub(in crate::store) summary: IncidentSummaryRow,
    pub(in crate::store) reported_by: String,
}

/// A delivery of one of an incident's notices.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct NoticeDeliveryRow {
    id: String,
    notice_id: String,
    channel: String,
    target: String,
    status: String,
    attempts: i64,
}

impl NoticeDeliveryRow {
    /// The delivery, under its notice's id.
    pub(in crate::store) fn into_record(self) -> Result<(String, NoticeDelivery), StoreError> {
        Ok((
            self.notice_id,
            NoticeDelivery {
                delivery_id: self.id,
                channel: decode("channel", &self.channel, Channel::parse)?,
                target: self.target,
                status: decode("delivery status", &self.status, DeliveryStatus::parse)?,
                attempts: self.attempts as u32,
            },
        ))
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct IncidentNoticeRow {
    id: String,
    client_id: String,
    kind: String,
    sequence: i64,
    status: String,
    notify_by: i64,
    errors: String,
}

impl IncidentNoticeRow {
    pub(in crate::store) fn into_record(self) -> Result<IncidentNotice, StoreError> {
        Ok(IncidentNotice {
            notice_id: self.id,
            client_id: self.client_id,
            kind: notice_type(&self.kind)?,
            sequence: self.sequence as u32,
            status: notice_status(&self.status)?,
            notify_by: from_millis(self.notify_by)?,
            errors: json_column(&self.errors)?,
            deliveries: Vec::new(),
        })
    }
}

fn notice_type(raw: &str) -> Result<NoticeType, StoreError> {
    decode("notice type", raw, |t| {
        NoticeType::ALL.iter().copied().find(|k| k.as_str() == t)
    })
}

fn notice_status(raw: &str) -> Result<NoticeStatus, StoreError> {
    decode("notice status", raw, NoticeStatus::parse)
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct VersionRow {
    incident_id: String,
    version: i64,
    action: String,
    submitted: String,
    created_by: String,
    created_at: i64,
}

impl VersionRow {
    /// The version, under its incident's id.
    pub(in crate::store) fn into_record(self) -> Result<(String, IncidentVersion), StoreError> {
        Ok((
            self.incident_id,
            IncidentVersion {
                version: self.version as u32,
                action: self.action,
                created_by: self.created_by,
                created_at: from_millis(self.created_at)?,
                submitted: json_column(&self.submitted)?,
            },
        ))
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct StoredNoticeRow {
    id: String,
    incident_id: String,
    client_id: String,
    status: String,
    body: Vec<u8>,
    dictionary: Option<Vec<u8>>,
    jws: Option<String>,
}

impl StoredNoticeRow {
    pub(in crate::store) fn into_record(self) -> Result<StoredNotice, StoreError> {
        Ok(StoredNotice {
            id: self.id,
            incident_id: self.incident_id,
            client_id: parse_client(self.client_id)?,
            status: notice_status(&self.status)?,
            body: unpack_body(self.body, self.dictionary.as_deref())?,
            jws: self.jws,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct RegisterDeliveryRow {
    id: String,
    notice_id: String,
    channel: String,
    target: String,
    status: String,
    attempts: i64,
    delivered_at: Option<i64>,
}

impl RegisterDeliveryRow {
    /// The delivery, under its notice's id.
    pub(in crate::store) fn into_record(self) -> Result<(String, RegisterDelivery), StoreError> {
        Ok((
            self.notice_id,
            RegisterDelivery {
                delivery_id: self.id,
                channel: decode("channel", &self.channel, Channel::parse)?,
                target: self.target,
                status: decode("delivery status", &self.status, DeliveryStatus::parse)?,
                attempts: self.attempts as u32,
                delivered_at: optional_millis(self.delivered_at)?,
            },
        ))
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct RegisterNoticeSqlRow {
    id: String,
    incident_id: String,
    client_id: String,
    kind: String,
    sequence: i64,
    status: String,
    notify_by: i64,
    acknowledged_at: Option<i64>,
    acknowledged_by: Option<String>,
}

impl RegisterNoticeSqlRow {
    pub(in crate::store) fn into_record(self) -> Result<RegisterNoticeRow, StoreError> {
        Ok(RegisterNoticeRow {
            incident_id: self.incident_id,
            client_id: self.client_id,
            notice: RegisterNotice {
                notice_id: self.id,
                kind: notice_type(&self.kind)?,
                sequence: self.sequence as u32,
                status: notice_status(&self.status)?,
                notify_by: from_millis(self.notify_by)?,
                deliveries: Vec::new(),
                acknowledged_at: optional_millis(self.acknowledged_at)?,
                acknowledged_by: self.acknowledged_by,
            },
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct RegisterIncidentRow {
    id: String,
    reference: String,
    status: String,
    became_aware_at: i64,
    created_at: i64,
    summary: String,
}

impl RegisterIncidentRow {
    /// The incident, its versions and clients still to be attached.
    pub(in crate::store) fn into_record(self) -> Result<RegisterIncident, StoreError> {
        Ok(RegisterIncident {
            incident_id: self.id,
            reference: self.reference,
            status: decode("incident status", &self.status, IncidentStatus::parse)?,
            became_aware_at: from_millis(self.became_aware_at)?,
            reported_at: from_millis(self.created_at)?,
            summary: self.summary,
            versions: Vec::new(),
            clients: Vec::new(),
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct ClientNoticeRow {
    id: String,
    incident_id: String,
    reference: String,
    kind: String,
    sequence: i64,
    status: String,
    created_at: i64,
    notify_by: i64,
    acknowledged_at: Option<i64>,
}

impl ClientNoticeRow {
    pub(in crate::store) fn into_record(self) -> Result<ClientNotice, StoreError> {
        Ok(ClientNotice {
            notice_id: self.id,
            incident_id: self.incident_id,
            reference: self.reference,
            kind: notice_type(&self.kind)?,
            sequence: self.sequence as u32,
            status: notice_status(&self.status)?,
            created_at: from_millis(self.created_at)?,
            notify_by: from_millis(self.notify_by)?,
            acknowledged_at: optional_millis(self.acknowledged_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct AcknowledgementRow {
    notice_id: String,
    acknowledged_at: i64,
    acknowledged_by: String,
}

impl AcknowledgementRow {
    pub(in crate::store) fn into_record(self) -> Result<Acknowledgement, StoreError> {
        Ok(Acknowledgement {
            notice_id: self.notice_id,
            acknowledged_at: from_millis(self.acknowledged_at)?,
            acknowledged_by: self.acknowledged_by,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(in crate::store) struct AuditRow {
    seq: i64,
    at: i64,
    actor: String,
    action: String,
    subject: String,
    details: String,
    prev_hash: String,
    hash: String,
}

impl From<AuditRow> for AuditEntry {
    fn from(row: AuditRow) -> Self {
        AuditEntry {
            seq: row.seq,
            at: row.at,
            actor: row.actor,
            action: row.action,
            subject: row.subject,
            details: row.details,
            prev_hash: row.prev_hash,
            hash: row.hash,
        }
    }
}

/// An incident's detail from its rows.
pub(in crate::store) fn incident_from_rows(
    row: IncidentRow,
    versions: Vec<(String, IncidentVersion)>,
    notices: Vec<IncidentNoticeRow>,
    deliveries: Vec<NoticeDeliveryRow>,
) -> Result<IncidentDetail, StoreError> {
    Ok(incident_detail(
        row.summary.into_record()?,
        row.reported_by,
        versions.into_iter().map(|(_, v)| v).collect(),
        records(notices, IncidentNoticeRow::into_record)?,
        records(deliveries, NoticeDeliveryRow::into_record)?,
    ))
}

/// Where one client of an open incident stands, as
/// [`queries::board_standings`](super::queries::board_standings) reads it.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct StandingRow {
    incident_id: String,
    client_id: String,
    notify_by: i64,
    notified: bool,
    held: bool,
    dead_deliveries: i64,
}

impl StandingRow {
    /// The standing, under its incident's id.
    fn into_record(self) -> Result<(String, ClientStanding), StoreError> {
        Ok((
            self.incident_id,
            ClientStanding {
                client_id: self.client_id,
                notify_by: from_millis(self.notify_by)?,
                notified: self.notified,
                held: self.held,
                dead_deliveries: self.dead_deliveries as u64,
            },
        ))
    }
}

/// How many rows are in one status.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct StatusCountRow {
    status: String,
    count: i64,
}

/// Each status counted, decoded by `parse`.
fn status_counts<T>(
    what: &str,
    rows: Vec<StatusCountRow>,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Vec<(T, u64)>, StoreError> {
    records(rows, |r| {
        Ok((decode(what, &r.status, &parse)?, r.count as u64))
    })
}

/// The board from its rows: the open incidents in board order and every
/// client's standing, in client order.
pub(in crate::store) fn board_from_rows(
    incidents: Vec<IncidentSummaryRow>,
    standings: Vec<StandingRow>,
) -> Result<Vec<BoardIncident>, StoreError> {
    let mut standings = by_parent(records(standings, StandingRow::into_record)?);
    incidents
        .into_iter()
        .map(|row| {
            let summary = row.into_record()?;
            Ok(BoardIncident {
                clients: standings.remove(&summary.id).unwrap_or_default(),
                summary,
            })
        })
        .collect()
}

/// The distinct errors of held notices, and how many notices have each.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct HeldErrorsRow {
    errors: String,
    notices: i64,
}

/// An incident's overview from its rows.
pub(in crate::store) fn overview_from_rows(
    row: IncidentRow,
    versions: Vec<(String, IncidentVersion)>,
    (notices, deliveries): (Vec<StatusCountRow>, Vec<StatusCountRow>),
    held: Vec<IncidentNoticeRow>,
    held_errors: Vec<HeldErrorsRow>,
) -> Result<IncidentOverview, StoreError> {
    let mut errors: Vec<FieldError> = Vec::new();
    for row in &held_errors {
        for error in json_column::<Vec<FieldError>>(&row.errors)? {
            if !errors.contains(&error) {
                errors.push(error);
            }
        }
    }
    Ok(IncidentOverview {
        summary: row.summary.into_record()?,
        reported_by: row.reported_by,
        versions: versions.into_iter().map(|(_, v)| v).collect(),
        notices: status_counts("notice status", notices, NoticeStatus::parse)?,
        deliveries: status_counts("delivery status", deliveries, DeliveryStatus::parse)?,
        held: records(held, IncidentNoticeRow::into_record)?,
        held_clients: held_errors.iter().map(|r| r.notices as u64).sum(),
        held_errors: errors,
    })
}

/// The register from its rows.
pub(in crate::store) fn register_from_rows(
    incidents: Vec<RegisterIncidentRow>,
    notices: Vec<RegisterNoticeSqlRow>,
    deliveries: Vec<RegisterDeliveryRow>,
    versions: Vec<(String, IncidentVersion)>,
    now: DateTime<Utc>,
) -> Result<Vec<RegisterIncident>, StoreError> {
    Ok(register(
        records(incidents, RegisterIncidentRow::into_record)?,
        records(notices, RegisterNoticeSqlRow::into_record)?,
        records(deliveries, RegisterDeliveryRow::into_record)?,
        versions,
        now,
    ))
}

/// Every row decoded, or the first row's error.
pub(in crate::store) fn records<R, T>(
    rows: Vec<R>,
    decode: impl Fn(R) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(decode).collect()
}
