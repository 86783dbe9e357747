//! One client's email for one notice: headers, the text and HTML summary,
//! and the signed notice attached byte for byte.

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Attachment, Body, Mailbox, MultiPart, SinglePart};
use lettre::Message;

use crate::agreements::ClientAgreement;
use crate::domain::Notice;
use crate::domain::NoticeId;

use super::transport::EmailConfig;
use super::{headers, i18n, templates, view, EmailError};

/// Who the emails come from and where they send their readers, checked
/// once at start.
#[derive(Debug, Clone)]
pub struct Sender {
    pub from: Mailbox,
    /// The right-hand side of generated Message-IDs, e.g. `mail.processor.example`.
    pub message_id_domain: String,
    /// The client portal every notice email links to; none, no link.
    pub portal: Option<Portal>,
}

impl Sender {
    pub fn new(from: &str, message_id_domain: &str) -> Result<Self, EmailError> {
        Ok(Self {
            from: headers::mailbox("from", from)?,
            message_id_domain: headers::domain("message_id_domain", message_id_domain)?,
            portal: None,
        })
    }

    pub fn from_config(config: &EmailConfig) -> Result<Self, EmailError> {
        Self::new(&config.from, &config.message_id_domain)
    }

    /// The same sender, its notice emails linking to `portal`.
    pub fn linking_to(self, portal: Option<Portal>) -> Self {
        Self { portal, ..self }
    }
}

/// Where clients' DPOs read their notices: the gateway's pages at
/// `server.public_url`. A link is only sent where clients can follow it,
/// so there is no portal without a configured public address.
#[derive(Debug, Clone)]
pub struct Portal {
    base: String,
}

impl Portal {
    /// The portal at `public_url`, an http(s) URL without a trailing slash.
    pub fn new(public_url: &str) -> Result<Self, EmailError> {
        let parsed = url::Url::parse(public_url)
            .map_err(|e| EmailError::Config(format!("server.public_url: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || public_url.ends_with('/') {
            return Err(EmailError::Config(
                "server.public_url must be an http(s) URL without a trailing slash".into(),
            ));
        }
        Ok(Self {
            base: public_url.to_owned(),
        })
    }

    /// The page of notice `id` (the web route `/portal/notices/{id}`).
    pub fn notice_url(&self, id: &NoticeId) -> String {
        format!("{}/portal/notices/{id}", self.base)
    }

    /// The processor's public keys, served at the same address.
    pub fn jwks_url(&self) -> String {
        format!("{}{JWKS_PATH}", self.base)
    }
}

/// Where the gateway serves its public keys. An email read away from the
/// gateway names them by this path alone only when no public address is
/// configured; pages and previews read on the gateway need no more.
const JWKS_PATH: &str = "/.well-known/jwks.json";

/// A message ready for [`super::MailTransport::send`].
#[derive(Debug, Clone)]
pub struct Rendered {
    pub message: Message,
    /// Without angle brackets: `<notice id>@<message_id_domain>`, so a
    /// resent email keeps its Message-ID and a follow-up can name its first
    /// notice's without looking it up.
    pub message_id: String,
}

/// Renders the email for `notice` to `client`.
///
/// `notice_bytes` are the exact bytes that were signed; they are attached as
/// `notice.json` in base64 so no relay can rewrite a line ending. `thread` is
/// the client's first notice about the incident, which a follow-up answers
/// (`In-Reply-To`, `References`) so they thread in the client's mail client.
pub fn render(
    notice: &Notice,
    notice_bytes: &[u8],
    jws: &str,
    client: &ClientAgreement,
    sender: &Sender,
    thread: Option<&NoticeId>,
) -> Result<Rendered, EmailError> {
    let recipients = client
        .delivery
        .email
        .as_ref()
        .ok_or_else(|| EmailError::NoEmailDelivery {
            client: client.id.to_string(),
        })?;
    if recipients.to.is_empty() {
        return Err(EmailError::NoEmailDelivery {
            client: client.id.to_string(),
        });
    }
    // The Sender fields are public, so a hand-built one is checked too.
    let domain = headers::domain("message_id_domain", &sender.message_id_domain)?;
    let message_id = format!("{}@{domain}", notice.data.notice_id);

    let texts = i18n::texts(client.language)?;
    let subject = subject(notice, client, &texts)?;

    let mut builder = Message::builder()
        .from(sender.from.clone())
        // The sending address is often unattended; replies belong with the
        // privacy contact named in the notice.
        .reply_to(headers::mailbox(
            "processor contact email",
            &notice.data.processor.contact.email,
        )?)
        .subject(subject)
        .message_id(Some(format!("<{message_id}>")));
    for to in &recipients.to {
        builder = builder.to(headers::mailbox("to", to)?);
    }
    for cc in &recipients.cc {
        builder = builder.cc(headers::mailbox("cc", cc)?);
    }
    if let Some(first) = thread {
        let first = format!("<{first}@{domain}>");
        builder = builder.in_reply_to(first.clone()).references(first);
    }

    let portal = sender
        .portal
        .as_ref()
        .map(|p| p.notice_url(&notice.data.notice_id));
    let jwks = sender
        .portal
        .as_ref()
        .map_or_else(|| JWKS_PATH.to_owned(), Portal::jwks_url);
    let (text, html) = templates::render(&view::body(notice, client, texts, portal, &jwks))?;
    let message = builder.multipart(
        MultiPart::mixed()
            .multipart(MultiPart::alternative_plain_html(text, html))
            .singlepart(notice_json(notice_bytes)?)
            .singlepart(notice_jws(jws)?),
    )?;
    Ok(Rendered {
        message,
        message_id,
    })
}

/// The subject line of `notice`'s email to `client`, in its language.
fn subject(
    notice: &Notice,
    client: &ClientAgreement,
    texts: &i18n::Texts,
) -> Result<String, EmailError> {
    let n = view::update_number(notice);
    let subject = texts.fill(
        "subject",
        view::kind_key(notice.kind),
        &[
            (
                "reference",
                headers::text("reference", &notice.data.reference)?,
            ),
            ("client", headers::text("client name", &client.name)?),
            ("n", &n),
        ],
    );
    Ok(headers::text("subject", &subject)?.to_owned())
}

/// What `client` would read: the subject and the plain-text body of the
/// email for `notice`, as [`render`] makes them (a preview before filing),
/// but for the portal link: the notice is not filed, so it has no page yet.
pub fn preview(notice: &Notice, client: &ClientAgreement) -> Result<(String, String), EmailError> {
    let texts = i18n::texts(client.language)?;
    let subject = subject(notice, client, &texts)?;
    let (text, _html) = templates::render(&view::body(notice, client, texts, None, JWKS_PATH))?;
    Ok((subject, text))
}

/// What `client` reads in the email for `notice`, as data: the subject and
/// the body's title, intro, headed sections of labelled rows and closing,
/// for a page that shows the notice as the email does (the portal's own
/// page, so without the link to it).
pub fn summary(
    notice: &Notice,
    client: &ClientAgreement,
) -> Result<(String, serde_json::Value), EmailError> {
    let texts = i18n::texts(client.language)?;
    let subject = subject(notice, client, &texts)?;
    let body = serde_json::to_value(view::body(notice, client, texts, None, JWKS_PATH))
        .map_err(|e| EmailError::Templates(e.to_string()))?;
    Ok((subject, body))
}

/// The signed bytes, base64 encoded whatever they contain: a 7bit or
/// quoted-printable part may have its line endings rewritten on the way,
/// and then the JWS no longer verifies.
fn notice_json(bytes: &[u8]) -> Result<SinglePart, EmailError> {
    let body = Body::new_with_encoding(bytes.to_vec(), ContentTransferEncoding::Base64)
        .map_err(|_| EmailError::Attachment("notice.json"))?;
    Ok(Attachment::new("notice.json".to_owned())
        .body(body, ContentType::parse("application/json")?))
}

fn notice_jws(jws: &str) -> Result<SinglePart, EmailError> {
    // A compact JWS is base64url and dots; anything else is not one.
    if !jws
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(EmailError::Attachment("notice.jws"));
    }
    Ok(Attachment::new("notice.jws".to_owned())
        .body(jws.to_owned(), ContentType::parse("application/jose")?))
}
