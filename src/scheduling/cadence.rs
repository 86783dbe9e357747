//! Update reminders: an open incident owes each client an update every
//! `update_every_hours` of its agreement, counted from the latest notice the
//! client was sent. Staff are reminded once per such notice, across
//! restarts; the next notice (an update) starts the next interval.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use super::StaffMailer;
use crate::agreements::LiveRegistry;
use crate::domain::ClientId;
use crate::metrics::Metrics;
use crate::store::{LatestNotice, NewUpdateReminder, ScheduleStore, StoreError};

pub struct Cadence {
    store: Arc<dyn ScheduleStore>,
    registry: Arc<LiveRegistry>,
    metrics: Arc<Metrics>,
    mail: StaffMailer,
}

/// One reminder made by a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminded {
    pub incident_id: String,
    pub client_id: ClientId,
    /// The latest notice the update is owed after.
    pub notice_id: String,
}

impl Cadence {
    pub fn new(
        store: Arc<dyn ScheduleStore>,
        registry: Arc<LiveRegistry>,
        metrics: Arc<Metrics>,
        mail: StaffMailer,
    ) -> Self {
        Self {
            store,
            registry,
            metrics,
            mail,
        }
    }

    /// Reminds staff of every update due by `now` and not yet reminded of,
    /// then sends the staff mail outbox.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<Vec<Reminded>, StoreError> {
        let registry = self.registry.current();
        let mut due = Vec::new();
        for latest in self.store.latest_notices_unreminded().await? {
            // A client whose agreement sets no cadence (or is gone) is owed none.
            let Some(hours) = registry
                .client(&latest.client_id)
                .and_then(|client| client.agreement.update_every_hours)
            else {
                continue;
            };
            let due_at = latest.created_at + Duration::hours(i64::from(hours));
            if now >= due_at {
                due.push((latest, hours, due_at));
            }
        }

        let reminders: Vec<NewUpdateReminder> = due
            .iter()
            .map(|(latest, hours, due_at)| {
                let (subject, body) = reminder_mail(latest, *hours, *due_at);
                NewUpdateReminder {
                    incident_id: latest.incident_id.clone(),
                    client_id: latest.client_id.clone(),
                    notice_id: latest.notice_id.clone(),
                    at: now,
                    mail: self.mail.compose(subject, body),
                }
            })
            .collect();
        let recorded = self.store.record_update_reminders(&reminders).await?;
        let mut reminded = Vec::new();
        for ((latest, hours, _), new) in due.into_iter().zip(recorded) {
            if !new {
                continue;
            }
            tracing::warn!(
                client_id = %latest.client_id,
                reference = %latest.reference,
                notice_id = %latest.notice_id,
                update_every_hours = hours,
                "an update is due under the client's agreement: staff reminded"
            );
            self.metrics.update_reminders.inc();
            reminded.push(Reminded {
                incident_id: latest.incident_id,
                client_id: latest.client_id,
                notice_id: latest.notice_id,
            });
        }
        self.mail.send_due(now).await?;
        Ok(reminded)
    }
}

fn reminder_mail(latest: &LatestNotice, hours: u32, due_at: DateTime<Utc>) -> (String, String) {
    let (reference, client) = (&latest.reference, &latest.client_id);
    let subject = format!("{reference}: an update to {client} is due");
    let body = format!(
        "Incident {reference} is still open, and client {client}'s agreement asks for an \
         update every {hours} hours.\n\n\
         Client:           {client}\n\
         Incident:         {reference} ({incident})\n\
         Latest notice:    {notice_id} (sequence {sequence}), sent {sent}\n\
         Update due since: {due}\n\n\
         File an update with POST /v1/incidents/{incident}/updates, or close the incident.\n",
        incident = latest.incident_id,
        notice_id = latest.notice_id,
        sequence = latest.sequence,
        sent = latest.created_at.to_rfc3339(),
        due = due_at.to_rfc3339(),
    );
    (subject, body)
}
