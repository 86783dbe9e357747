//! A plain-text email to the processor's own staff (deadline escalations,
//! update reminders): English only, no attachments.

use lettre::message::header::ContentType;
use lettre::Message;

use super::render::Sender;
use super::{headers, EmailError};

/// Builds the message. `message_id` is the outbox row's id, so a message
/// sent again after a crash carries the same Message-ID and mail clients
/// show it once.
pub fn staff_message(
    sender: &Sender,
    to: &str,
    message_id: &str,
    subject: &str,
    body: &str,
) -> Result<Message, EmailError> {
    let domain = headers::domain("message_id_domain", &sender.message_id_domain)?;
    Ok(Message::builder()
        .from(sender.from.clone())
        .to(headers::mailbox("to", to)?)
        .subject(headers::text("subject", subject)?)
        .message_id(Some(format!("<{message_id}@{domain}>")))
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_owned())?)
}
