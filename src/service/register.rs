//! The breach register as CSV, for the spreadsheets that Art. 33(5)
//! documentation usually ends up in: one row per delivery, and one with empty
//! delivery columns for a notice that has none (a held one).

use chrono::{DateTime, SecondsFormat, Utc};

use super::Services;
use crate::domain::IncidentStatus;
use crate::store::{
    RegisterClient, RegisterDelivery, RegisterIncident, RegisterNotice, StoreError,
};

/// The breach register as of now: every incident with its clients'
/// notices, deliveries, acknowledgements and deadlines.
pub async fn register(services: &Services) -> Result<Vec<RegisterIncident>, StoreError> {
    services.store.register(services.clock.now()).await
}

/// Which part of the register to show: every filter left empty is the
/// whole register.
#[derive(Debug, Default, Clone)]
pub struct RegisterFilter {
    /// Only this client's rows (and only incidents that concern it).
    pub client_id: Option<String>,
    pub status: Option<IncidentStatus>,
    /// Only incidents staff became aware of on or after this time.
    pub aware_from: Option<DateTime<Utc>>,
    /// Only incidents staff became aware of before this time.
    pub aware_before: Option<DateTime<Utc>>,
}

impl RegisterFilter {
    pub fn apply(&self, incidents: Vec<RegisterIncident>) -> Vec<RegisterIncident> {
        incidents
            .into_iter()
            .filter(|i| self.status.is_none_or(|s| i.status == s))
            .filter(|i| self.aware_from.is_none_or(|t| i.became_aware_at >= t))
            .filter(|i| self.aware_before.is_none_or(|t| i.became_aware_at < t))
            .filter_map(|mut incident| {
                let Some(client_id) = &self.client_id else {
                    return Some(incident);
                };
                incident.clients.retain(|c| &c.client_id == client_id);
                (!incident.clients.is_empty()).then_some(incident)
            })
            .collect()
    }
}

pub const CSV_HEADER: [&str; 17] = [
    "reference",
    "incident_id",
    "became_aware_at",
    "client_id",
    "notice_id",
    "notice_type",
    "sequence",
    "notice_status",
    "notify_by",
    "channel",
    "target",
    "delivery_status",
    "attempts",
    "delivered_at",
    "deadline_met",
    "acknowledged_at",
    "acknowledged_by",
];

pub fn to_csv(incidents: &[RegisterIncident]) -> Result<Vec<u8>, csv::Error> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CSV_HEADER)?;
    for incident in incidents {
        for client in &incident.clients {
            for notice in &client.notices {
                if notice.deliveries.is_empty() {
                    writer.write_record(row(incident, client, notice, None))?;
                }
                for delivery in &notice.deliveries {
                    writer.write_record(row(incident, client, notice, Some(delivery)))?;
                }
            }
        }
    }
    writer.into_inner().map_err(|e| e.into_error().into())
}

fn row(
    incident: &RegisterIncident,
    client: &RegisterClient,
    notice: &RegisterNotice,
    delivery: Option<&RegisterDelivery>,
) -> [String; 17] {
    let time = |t: Option<DateTime<Utc>>| {
        t.map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
            .unwrap_or_default()
    };
    [
        incident.reference.clone(),
        incident.incident_id.clone(),
        time(Some(incident.became_aware_at)),
        client.client_id.clone(),
        notice.notice_id.clone(),
        notice.kind.as_str().to_owned(),
        notice.sequence.to_string(),
        notice.status.as_str().to_owned(),
        time(Some(notice.notify_by)),
        delivery
            .map(|d| d.channel.as_str().to_owned())
            .unwrap_or_default(),
        delivery.map(|d| d.target.clone()).unwrap_or_default(),
        delivery
            .map(|d| d.status.as_str().to_owned())
            .unwrap_or_default(),
        delivery.map(|d| d.attempts.to_string()).unwrap_or_default(),
        time(delivery.and_then(|d| d.delivered_at)),
        client
            .deadline_met
            .map(|met| met.to_string())
            .unwrap_or_default(),
        time(notice.acknowledged_at),
        notice.acknowledged_by.clone().unwrap_or_default(),
    ]
    .map(inert)
}

/// A cell a spreadsheet will not run as a formula: one that would start with
/// `=`, `+`, `-`, `@` (or a tab or carriage return, which some treat the same)
/// gets a leading `'`. Token names and webhook ids come from outside.
fn inert(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(reference: &str, status: IncidentStatus, clients: &[&str]) -> RegisterIncident {
        RegisterIncident {
            incident_id: reference.into(),
            reference: reference.into(),
            status,
            became_aware_at: "2026-11-22T07:30:00Z".parse().unwrap(),
            reported_at: "2026-11-22T08:00:00Z".parse().unwrap(),
            summary: String::new(),
            versions: Vec::new(),
            clients: clients
                .iter()
                .map(|c| RegisterClient {
                    client_id: (*c).into(),
                    notices: Vec::new(),
                    first_delivered_at: None,
                    deadline_met: None,
                })
                .collect(),
        }
    }

    #[test]
    fn the_filter_keeps_the_incidents_and_clients_asked_for() {
        let register = || {
            vec![
                incident("BG-1", IncidentStatus::Open, &["a", "b"]),
                incident("BG-2", IncidentStatus::Closed, &["b"]),
            ]
        };
        assert_eq!(RegisterFilter::default().apply(register()).len(), 2);
        let only_a = RegisterFilter {
            client_id: Some("a".into()),
            ..RegisterFilter::default()
        }
        .apply(register());
        assert_eq!(only_a.len(), 1);
        assert_eq!(only_a[0].clients.len(), 1);
        let closed = RegisterFilter {
            status: Some(IncidentStatus::Closed),
            ..RegisterFilter::default()
        }
        .apply(register());
        assert_eq!(closed[0].reference, "BG-2");
        let later = RegisterFilter {
            aware_from: Some("2026-11-23T00:00:00Z".parse().unwrap()),
            ..RegisterFilter::default()
        }
        .apply(register());
        assert!(later.is_empty());
    }

    #[test]
    fn cells_that_a_spreadsheet_would_evaluate_are_made_inert() {
        assert_eq!(inert("=HYPERLINK(\"x\")".into()), "'=HYPERLINK(\"x\")");
        assert_eq!(inert("+1".into()), "'+1");
        assert_eq!(inert("-1".into()), "'-1");
        assert_eq!(inert("@SUM(A1)".into()), "'@SUM(A1)");
        assert_eq!(inert("formavenir desk".into()), "formavenir desk");
        assert_eq!(inert(String::new()), "");
    }
}
