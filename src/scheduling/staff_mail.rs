//! Sends the `staff_mail` outbox to the processor's privacy contact. A mail
//! is marked sent only after the transport took it, so a crash in between
//! sends it again (at least once, under the same Message-ID).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use crate::delivery::email::{staff_message, EmailConfig, MailTransport, Sender};
use crate::store::{NewStaffMail, ScheduleStore, StaffMail, StoreError};

/// Mails claimed per run; the rest wait for the next run.
const BATCH: usize = 100;
/// How long a claimed mail stays with its sender: far longer than one SMTP
/// exchange may take (`email.timeout_seconds`), so only a crashed sender's
/// mail is taken over.
const LEASE_MINUTES: i64 = 10;
/// The wait after a failed send before the next try.
const RETRY_MINUTES: i64 = 1;

pub struct StaffMailer {
    store: Arc<dyn ScheduleStore>,
    /// The processor's privacy contact.
    to: String,
    transport: MailTransport,
    sender: Sender,
}

impl StaffMailer {
    /// Must be called inside the Tokio runtime (the SMTP pool needs it).
    pub fn new(
        store: Arc<dyn ScheduleStore>,
        email: &EmailConfig,
        to: String,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            transport: MailTransport::new(email)?,
            sender: Sender::from_config(email)?,
            store,
            to,
        })
    }

    /// A mail to the processor's privacy contact, for the outbox.
    pub fn compose(&self, subject: String, body: String) -> NewStaffMail {
        NewStaffMail::new(&self.to, subject, body)
    }

    /// Sends the unsent mail that is due at `now`; a failed send is recorded
    /// and tried again on a later run. Answers how many were sent.
    pub async fn send_due(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let store = &self.store;
        let mut sent = 0;
        for mail in store
            .claim_staff_mail(now, Duration::minutes(LEASE_MINUTES), BATCH)
            .await?
        {
            match self.send(&mail).await {
                Ok(()) => {
                    store.staff_mail_sent(&mail.id, now).await?;
                    sent += 1;
                }
                Err(error) => {
                    tracing::error!(mail_id = %mail.id, %error, "cannot send staff mail; it will be retried");
                    let retry_at = now + Duration::minutes(RETRY_MINUTES);
                    store.staff_mail_failed(&mail.id, &error, retry_at).await?;
                }
            }
        }
        Ok(sent)
    }

    async fn send(&self, mail: &StaffMail) -> Result<(), String> {
        let message = staff_message(
            &self.sender,
            &mail.recipient,
            &mail.id,
            &mail.subject,
            &mail.body,
        )
        .map_err(|e| crate::errors::chain(&e))?;
        self.transport.send(&message).await.map_err(|e| e.message)
    }
}
