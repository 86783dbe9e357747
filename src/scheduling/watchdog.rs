//! The deadline watchdog: every initial notice that has not reached its
//! client (held, or no delivery succeeded) is escalated to the processor's
//! privacy contact by mail, log line and metric: at once when it is held,
//! at each configured fraction of its window, and when its deadline passes.
//! Each threshold fires once per notice, across restarts.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{DeadlineThreshold, StaffMailer};
use crate::domain::ClientId;
use crate::metrics::Metrics;
use crate::store::{NewEscalation, ScheduleStore, StoreError, UndeliveredNotice, DEADLINE_PASSED};

/// The threshold of a held notice, escalated as soon as it is seen.
pub const HELD: &str = "held";

pub struct Watchdog {
    store: Arc<dyn ScheduleStore>,
    metrics: Arc<Metrics>,
    thresholds: Vec<DeadlineThreshold>,
    mail: StaffMailer,
}

/// One escalation made by a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Escalated {
    pub notice_id: String,
    pub client_id: ClientId,
    pub threshold: String,
}

impl Watchdog {
    pub fn new(
        store: Arc<dyn ScheduleStore>,
        metrics: Arc<Metrics>,
        thresholds: Vec<DeadlineThreshold>,
        mail: StaffMailer,
    ) -> Self {
        let labels = thresholds.iter().map(|t| t.label.as_str());
        metrics.escalation_thresholds(std::iter::once(HELD).chain(labels));
        Self {
            store,
            metrics,
            thresholds,
            mail,
        }
    }

    /// Escalates each threshold due by `now` and not yet on record, then
    /// sends the staff mail outbox. Where several deadline thresholds are due
    /// at once (the gateway was down, or the notice is older than this
    /// watchdog), staff get one mail, for the latest; the earlier ones are
    /// recorded as passed over, so they never fire late.
    pub async fn run_once(&self, now: DateTime<Utc>) -> Result<Vec<Escalated>, StoreError> {
        let notices = self.store.undelivered_initial_notices().await?;
        let mut escalations = Vec::new();
        for notice in &notices {
            let not_yet = |label: &str| !notice.escalated.iter().any(|e| e == label);
            if notice.held && not_yet(HELD) {
                escalations.push((notice, self.escalation(notice, HELD, now, true)));
            }
            let due: Vec<&DeadlineThreshold> = self
                .thresholds
                .iter()
                .filter(|t| t.at(notice.became_aware_at, notice.notify_by) <= now)
                .filter(|t| not_yet(&t.label))
                .collect();
            for (i, threshold) in due.iter().enumerate() {
                let mailed = i + 1 == due.len();
                let escalation = self.escalation(notice, &threshold.label, now, mailed);
                escalations.push((notice, escalation));
            }
        }

        let batch: Vec<NewEscalation> = escalations.iter().map(|(_, e)| e.clone()).collect();
        let recorded = self.store.record_escalations(&batch).await?;
        let mut escalated = Vec::new();
        for ((notice, escalation), new) in escalations.into_iter().zip(recorded) {
            if !new || escalation.mail.is_none() {
                continue;
            }
            tracing::warn!(
                client_id = %notice.client_id,
                reference = %notice.reference,
                notice_id = %notice.notice_id,
                threshold = %escalation.threshold,
                notify_by = %notice.notify_by,
                "initial notice not delivered: escalated to the privacy contact"
            );
            self.metrics
                .deadline_escalations
                .with_label_values(&[escalation.threshold.as_str()])
                .inc();
            escalated.push(Escalated {
                notice_id: escalation.notice_id,
                client_id: notice.client_id.clone(),
                threshold: escalation.threshold,
            });
        }
        self.mail.send_due(now).await?;
        Ok(escalated)
    }

    fn escalation(
        &self,
        notice: &UndeliveredNotice,
        threshold: &str,
        now: DateTime<Utc>,
        mailed: bool,
    ) -> NewEscalation {
        NewEscalation {
            notice_id: notice.notice_id.clone(),
            threshold: threshold.to_owned(),
            at: now,
            mail: mailed.then(|| {
                let (subject, body) = escalation_mail(notice, threshold);
                self.mail.compose(subject, body)
            }),
        }
    }
}

/// The subject and plain-text body of one escalation.
fn escalation_mail(notice: &UndeliveredNotice, threshold: &str) -> (String, String) {
    let (reference, client) = (&notice.reference, &notice.client_id);
    let subject = match threshold {
        HELD => format!("{reference}: the initial notice to {client} is held"),
        DEADLINE_PASSED => {
            format!("{reference}: deadline passed, the initial notice to {client} was not delivered")
        }
        share => format!(
            "{reference}: {share} of the deadline window passed, the initial notice to {client} is not delivered"
        ),
    };
    let state = if notice.held {
        "held: it fails the client's agreed notice schema and has not been sent"
    } else {
        "queued: no delivery has reached the client yet"
    };
    let body = format!(
        "The initial breach notice to client {client} about incident {reference} has not \
         reached the client.\n\n\
         Client:           {client}\n\
         Incident:         {reference} ({incident})\n\
         Notice:           {notice_id}\n\
         Notice status:    {state}\n\
         Threshold:        {threshold}\n\
         Became aware at:  {aware}\n\
         Deadline:         {deadline}\n\n\
         The validation errors and every delivery attempt are at \
         GET /v1/incidents/{incident}.\n",
        incident = notice.incident_id,
        notice_id = notice.notice_id,
        aware = notice.became_aware_at.to_rfc3339(),
        deadline = notice.notify_by.to_rfc3339(),
    );
    (subject, body)
}
