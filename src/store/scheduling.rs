//! What the deadline watchdog and the update-cadence job read and write.

use chrono::{DateTime, Utc};

use crate::domain::ClientId;

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
