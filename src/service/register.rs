//! The breach register as CSV, for the spreadsheets that Art. 33(5)
//! documentation usually ends up in: one row per delivery, and one with empty
//! delivery columns for a notice that has none (a held one).

use chrono::{DateTime, SecondsFormat, Utc};

use super::Services;
pub use crate::store::RegisterFilter;
use crate::store::{
    RegisterClient, RegisterDelivery, RegisterIncident, RegisterNotice, StoreError,
};

/// The part of the breach register `filter` chooses, as of now: its
/// incidents with their clients' notices, deliveries, acknowledgements and
/// deadlines.
pub async fn register(
    services: &Services,
    filter: &RegisterFilter,
) -> Result<Vec<RegisterIncident>, StoreError> {
    services.store.register(services.clock.now(), filter).await
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
