//! What the deadline watchdog and the update-cadence job read and write,
//! and the staff-mail outbox they (and delivery alerts) write to.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::StoreError;
use crate::domain::ClientId;

#[async_trait]
pub trait ScheduleStore: Send + Sync + 'static {
    /// Per client of an open incident that nothing about it has reached yet
    /// (its notices held or undelivered), the client's first initial notice,
    /// unless already escalated at [`DEADLINE_PASSED`].
    async fn undelivered_initial_notices(&self) -> Result<Vec<UndeliveredNotice>, StoreError>;
    /// Records the escalations not yet on record, each with its staff mail,
    /// in one transaction; answers, for each, whether it was new.
    async fn record_escalations(
        &self,
        escalations: &[NewEscalation],
    ) -> Result<Vec<bool>, StoreError>;
    /// Per open incident and client, the latest notice that was not held,
    /// unless it is a retraction or an update reminder is on record for it.
    async fn latest_notices_unreminded(&self) -> Result<Vec<LatestNotice>, StoreError>;
    /// Records the reminders not yet on record, each with its staff mail, in
    /// one transaction; answers, for each, whether it was new.
    async fn record_update_reminders(
        &self,
        reminders: &[NewUpdateReminder],
    ) -> Result<Vec<bool>, StoreError>;
    /// Leases up to `limit` unsent staff emails that no one else holds at
    /// `now`, in the order written.
    async fn claim_staff_mail(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: usize,
    ) -> Result<Vec<StaffMail>, StoreError>;
    async fn staff_mail_sent(&self, id: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Records a failed send; the mail is tried again from `retry_at`.
    async fn staff_mail_failed(
        &self,
        id: &str,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// How many staff emails are not sent yet (read at every scrape of
    /// `/metrics`).
    async fn staff_mail_backlog(&self) -> Result<u64, StoreError>;
}

/// The threshold after which nothing more is escalated for a notice.
pub const DEADLINE_PASSED: &str = "passed";

/// An initial notice of an open incident that its client does not have yet:
/// held, or with no delivery that succeeded.
#[derive(Debug, Clone)]
pub struct UndeliveredNotice {
    pub notice_id: String,
    pub incident_id: String,
    pub reference: String,
    pub client_id: ClientId,
    pub held: bool,
    pub became_aware_at: DateTime<Utc>,
    pub notify_by: DateTime<Utc>,
    /// The thresholds already on record for it.
    pub escalated: Vec<String>,
}

/// A staff email to write to the outbox.
#[derive(Debug, Clone)]
pub struct NewStaffMail {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
}

impl NewStaffMail {
    pub fn new(recipient: &str, subject: String, body: String) -> Self {
        Self {
            id: format!("stm_{}", ulid::Ulid::new()),
            recipient: recipient.to_owned(),
            subject,
            body,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewEscalation {
    pub notice_id: String,
    pub threshold: String,
    pub at: DateTime<Utc>,
    /// None for a threshold passed over by a later one due at the same time:
    /// it is recorded so it never fires late, but staff get one mail.
    pub mail: Option<NewStaffMail>,
}

/// A client's latest sent notice in an open incident, with no reminder on
/// record for it yet.
#[derive(Debug, Clone)]
pub struct LatestNotice {
    pub incident_id: String,
    pub reference: String,
    pub client_id: ClientId,
    pub notice_id: String,
    pub sequence: u32,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewUpdateReminder {
    pub incident_id: String,
    pub client_id: ClientId,
    pub notice_id: String,
    pub at: DateTime<Utc>,
    pub mail: NewStaffMail,
}

/// A staff email claimed for sending.
#[derive(Debug, Clone)]
pub struct StaffMail {
    pub id: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
}
