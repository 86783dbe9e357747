//! Email delivery: a readable summary of a notice in the client's language
//! (text and HTML), with the signed notice attached, sent through a pooled
//! SMTP relay or written to `.eml` files.
//!
//! - [`render`] builds one client's message: `view` decides what it says,
//!   `i18n` holds the translations (`i18n/*.toml`), `templates` lays it out
//!   as text and HTML, and `headers` checks every value that becomes a header.
//! - [`staff_message`] is a plain English mail to the processor's staff.
//! - [`MailTransport`] sends it and says whether a failure is worth a retry.

mod headers;
mod i18n;
mod render;
mod staff;
mod templates;
mod transport;
mod view;

use std::path::PathBuf;

pub use render::{preview, render, summary, Portal, Rendered, Sender};
pub use staff::staff_message;
pub use transport::{EmailConfig, MailTransport, Secret, SendError, TlsMode, TransportKind};

/// Why an email could not be rendered, or a transport not set up.
#[derive(Debug, thiserror::Error)]
pub enum EmailError {
    #[error("client {client} has no email recipients in its agreement")]
    NoEmailDelivery { client: String },
    /// The value is not repeated: it is what would have injected a header.
    #[error("{field} contains a line break or another control character")]
    UnsafeHeader { field: &'static str },
    #[error("{field} is not a valid email address: {value:?}")]
    BadAddress {
        field: &'static str,
        value: String,
        #[source]
        source: lettre::address::AddressError,
    },
    #[error("{field} is not a valid Message-ID or domain")]
    BadMessageId { field: &'static str },
    #[error("the {0} attachment could not be encoded")]
    Attachment(&'static str),
    #[error("the email translations are broken: {0}")]
    Translations(String),
    #[error("the email templates are broken: {0}")]
    Templates(String),
    #[error("rendering the email body failed")]
    Render(#[from] minijinja::Error),
    #[error("invalid content type")]
    ContentType(#[from] lettre::message::header::ContentTypeErr),
    #[error("building the email failed")]
    Build(#[from] lettre::error::Error),
    #[error("invalid email configuration: {0}")]
    Config(String),
    #[error("cannot create the mail directory {path}")]
    MailDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the SMTP transport must be created inside a Tokio runtime")]
    NoRuntime,
    #[error("cannot set up the SMTP transport for {host}")]
    SmtpSetup {
        host: String,
        #[source]
        source: lettre::transport::smtp::Error,
    },
}
