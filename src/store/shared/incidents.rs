//! How the rows of an incident, a client's series and the register fit
//! together, and whether a client's deadline was met.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{by_parent, parse_client, parse_notice_id};
use crate::store::{
    ClientSeries, IncidentDetail, IncidentNotice, IncidentSummary, IncidentVersion, NoticeBody,
    NoticeDelivery, RegisterClient, RegisterDelivery, RegisterIncident, RegisterNotice, StoreError,
};

/// Where a client's series of notices stands, as the series query found it.
pub struct SeriesRow {
    pub client_id: String,
    pub last_position: u32,
    /// The id of the latest notice.
    pub last: String,
    /// The id of the latest notice that was sent.
    pub last_sent: Option<String>,
}

/// The notices whose bodies [`client_series`] needs.
pub fn series_notice_ids(rows: &[SeriesRow]) -> Vec<String> {
    rows.iter()
        .flat_map(|r| [Some(&r.last), r.last_sent.as_ref()].into_iter().flatten())
        .cloned()
        .collect()
}

/// Each client's series of notices, with the bodies (by notice id) it refers to.
pub fn client_series(
    rows: Vec<SeriesRow>,
    bodies: &HashMap<String, Vec<u8>>,
) -> Result<Vec<ClientSeries>, StoreError> {
    let body_of = |raw: String| -> Result<NoticeBody, StoreError> {
        Ok(NoticeBody {
            body: bodies
                .get(&raw)
                .cloned()
                .ok_or_else(|| StoreError::Corrupt(format!("notice {raw:?} has no body")))?,
            id: parse_notice_id(raw)?,
        })
    };
    rows.into_iter()
        .map(|r| {
            Ok(ClientSeries {
                client_id: parse_client(r.client_id)?,
                last_position: r.last_position,
                last: body_of(r.last)?,
                last_sent: r.last_sent.map(body_of).transpose()?,
            })
        })
        .collect()
}

/// One incident in full: `notices` come without deliveries, which are
/// attached from `deliveries` (by notice id).
pub fn incident_detail(
    summary: IncidentSummary,
    reported_by: String,
    versions: Vec<IncidentVersion>,
    notices: Vec<IncidentNotice>,
    deliveries: Vec<(String, NoticeDelivery)>,
) -> IncidentDetail {
    IncidentDetail {
        summary,
        reported_by,
        versions,
        notices: with_deliveries(notices, deliveries),
    }
}

/// `notices` (read without deliveries), each with its own from `deliveries`
/// (by notice id).
pub fn with_deliveries(
    notices: Vec<IncidentNotice>,
    deliveries: Vec<(String, NoticeDelivery)>,
) -> Vec<IncidentNotice> {
    let mut deliveries = by_parent(deliveries);
    notices
        .into_iter()
        .map(|n| IncidentNotice {
            deliveries: deliveries.remove(&n.notice_id).unwrap_or_default(),
            ..n
        })
        .collect()
}

/// A notice of the register as read, before its deliveries are attached.
pub struct RegisterNoticeRow {
    pub incident_id: String,
    pub client_id: String,
    pub notice: RegisterNotice,
}

/// The breach register from its rows: `incidents` (in register order, with
/// no versions or clients yet), their notices ordered by incident, client
/// and sequence, the notices' deliveries and the incidents' versions;
/// deadlines judged as of `now`.
pub fn register(
    incidents: Vec<RegisterIncident>,
    notices: Vec<RegisterNoticeRow>,
    deliveries: Vec<(String, RegisterDelivery)>,
    versions: Vec<(String, IncidentVersion)>,
    now: DateTime<Utc>,
) -> Vec<RegisterIncident> {
    let mut deliveries = by_parent(deliveries);
    let mut versions = by_parent(versions);
    // Per incident, the notices of each client in client order.
    let mut clients: HashMap<String, Vec<(String, Vec<RegisterNotice>)>> = HashMap::new();
    for row in notices {
        let notice = RegisterNotice {
            deliveries: deliveries.remove(&row.notice.notice_id).unwrap_or_default(),
            ..row.notice
        };
        let incident = clients.entry(row.incident_id).or_default();
        match incident.last_mut() {
            Some((last, notices)) if *last == row.client_id => notices.push(notice),
            _ => incident.push((row.client_id, vec![notice])),
        }
    }
    incidents
        .into_iter()
        .map(|incident| RegisterIncident {
            versions: versions.remove(&incident.incident_id).unwrap_or_default(),
            clients: clients
                .remove(&incident.incident_id)
                .unwrap_or_default()
                .into_iter()
                .map(|(client_id, notices)| register_client(client_id, notices, now))
                .collect(),
            ..incident
        })
        .collect()
}

/// A client's register entry, its deadline judged as of `now`.
pub fn register_client(
    client_id: String,
    notices: Vec<RegisterNotice>,
    now: DateTime<Utc>,
) -> RegisterClient {
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
    RegisterClient {
        client_id,
        notices,
        first_delivered_at,
        deadline_met,
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

#[cfg(test)]
mod tests {
    use chrono::Duration;
    use serde_json::json;

    use super::super::at;
    use super::*;
    use crate::domain::{Channel, DeliveryStatus, NoticeId, NoticeStatus, NoticeType};

    #[test]
    fn a_deadline_is_met_only_by_delivery_in_time_and_undecided_until_it_passes() {
        let notify_by = at(1_000_000);
        let before = notify_by - Duration::hours(1);
        let after = notify_by + Duration::hours(1);
        assert_eq!(deadline_met(Some(before), notify_by, after), Some(true));
        assert_eq!(deadline_met(Some(notify_by), notify_by, after), Some(true));
        assert_eq!(deadline_met(Some(after), notify_by, after), Some(false));
        assert_eq!(deadline_met(None, notify_by, after), Some(false));
        assert_eq!(deadline_met(None, notify_by, before), None);
        assert_eq!(deadline_met(None, notify_by, notify_by), None);
    }

    fn register_notice(id: &str, notify_by: DateTime<Utc>) -> RegisterNotice {
        RegisterNotice {
            notice_id: id.into(),
            kind: NoticeType::Initial,
            sequence: 1,
            status: NoticeStatus::Queued,
            notify_by,
            deliveries: Vec::new(),
            acknowledged_at: None,
            acknowledged_by: None,
        }
    }

    fn register_delivery(id: &str, delivered_at: Option<DateTime<Utc>>) -> RegisterDelivery {
        RegisterDelivery {
            delivery_id: id.into(),
            channel: Channel::Webhook,
            target: "primary".into(),
            status: DeliveryStatus::Delivered,
            attempts: 1,
            delivered_at,
        }
    }

    #[test]
    fn the_register_groups_notices_by_client_and_judges_each_deadline() {
        let incident = |id: &str| RegisterIncident {
            incident_id: id.into(),
            reference: format!("BG-{id}"),
            status: crate::domain::IncidentStatus::Open,
            became_aware_at: at(0),
            reported_at: at(0),
            summary: String::new(),
            versions: Vec::new(),
            clients: Vec::new(),
        };
        let row = |incident: &str, client: &str, notice: &str| RegisterNoticeRow {
            incident_id: incident.into(),
            client_id: client.into(),
            notice: register_notice(notice, at(100)),
        };
        let version = IncidentVersion {
            version: 1,
            action: "report".into(),
            created_by: "staff".into(),
            created_at: at(0),
            submitted: json!({}),
        };
        let register = register(
            vec![incident("inc_a"), incident("inc_b")],
            vec![
                row("inc_a", "acme", "ntc_1"),
                row("inc_a", "acme", "ntc_2"),
                row("inc_a", "beta", "ntc_3"),
            ],
            vec![
                ("ntc_2".into(), register_delivery("dlv_1", Some(at(50)))),
                ("ntc_3".into(), register_delivery("dlv_2", None)),
            ],
            vec![("inc_a".into(), version)],
            at(200),
        );
        assert_eq!(register.len(), 2);
        let a = &register[0];
        assert_eq!(a.versions.len(), 1);
        let clients: Vec<(&str, usize)> = a
            .clients
            .iter()
            .map(|c| (c.client_id.as_str(), c.notices.len()))
            .collect();
        assert_eq!(clients, [("acme", 2), ("beta", 1)]);
        assert_eq!(a.clients[0].first_delivered_at, Some(at(50)));
        assert_eq!(a.clients[0].deadline_met, Some(true));
        assert_eq!(
            a.clients[1].deadline_met,
            Some(false),
            "past notify_by, undelivered"
        );
        assert!(register[1].clients.is_empty() && register[1].versions.is_empty());
    }

    #[test]
    fn an_incident_gets_each_notice_its_own_deliveries() {
        let notice = |id: &str| IncidentNotice {
            notice_id: id.into(),
            client_id: "acme".into(),
            kind: NoticeType::Initial,
            sequence: 1,
            status: NoticeStatus::Queued,
            notify_by: at(0),
            errors: Vec::new(),
            deliveries: Vec::new(),
        };
        let delivery = |id: &str| NoticeDelivery {
            delivery_id: id.into(),
            channel: Channel::Email,
            target: "email".into(),
            status: DeliveryStatus::Pending,
            attempts: 0,
        };
        let summary = IncidentSummary {
            id: "inc_a".into(),
            reference: "BG-2026-0001".into(),
            status: crate::domain::IncidentStatus::Open,
            version: 1,
            became_aware_at: at(0),
            summary: String::new(),
            created_at: at(0),
            clients: 1,
            held: 0,
        };
        let detail = incident_detail(
            summary,
            "staff".into(),
            Vec::new(),
            vec![notice("ntc_1"), notice("ntc_2")],
            vec![
                ("ntc_2".into(), delivery("dlv_1")),
                ("ntc_2".into(), delivery("dlv_2")),
            ],
        );
        assert!(detail.notices[0].deliveries.is_empty());
        let ids: Vec<&str> = detail.notices[1]
            .deliveries
            .iter()
            .map(|d| d.delivery_id.as_str())
            .collect();
        assert_eq!(ids, ["dlv_1", "dlv_2"]);
    }

    #[test]
    fn a_series_missing_a_body_is_corrupt() {
        let (last, last_sent) = (NoticeId::generate(), NoticeId::generate());
        let rows = || {
            vec![SeriesRow {
                client_id: "acme".into(),
                last_position: 2,
                last: last.as_str().into(),
                last_sent: Some(last_sent.as_str().into()),
            }]
        };
        assert_eq!(
            series_notice_ids(&rows()),
            [last.as_str(), last_sent.as_str()]
        );
        let mut bodies: HashMap<String, Vec<u8>> = [(last.as_str().into(), b"{}".to_vec())].into();
        assert!(matches!(
            client_series(rows(), &bodies),
            Err(StoreError::Corrupt(_))
        ));
        bodies.insert(last_sent.as_str().into(), b"[]".to_vec());
        let series = client_series(rows(), &bodies).unwrap();
        assert_eq!(series[0].last.id, last);
        assert_eq!(series[0].last_sent.as_ref().unwrap().body, b"[]");
    }
}
