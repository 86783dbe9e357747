//! Checks for every value that goes into a mail header. Client names and
//! addresses come from agreement files and thread ids from the store; none of
//! them may add a header line (CRLF injection), so each is checked here
//! before lettre sees it.

use lettre::message::Mailbox;

use super::EmailError;

/// Text for a header: refused when it holds CR, LF or any other control
/// character (a tab or NUL has no business in a subject either).
pub(super) fn text<'a>(field: &'static str, value: &'a str) -> Result<&'a str, EmailError> {
    if value.chars().any(char::is_control) {
        return Err(EmailError::UnsafeHeader { field });
    }
    Ok(value)
}

/// An address as `name@example.org` or `Name <name@example.org>`, parsed by
/// lettre so the header is written by lettre, not by string formatting.
pub(super) fn mailbox(field: &'static str, value: &str) -> Result<Mailbox, EmailError> {
    text(field, value)?
        .parse()
        .map_err(|source| EmailError::BadAddress {
            field,
            value: value.to_owned(),
            source,
        })
}

/// A host name for the right-hand side of Message-IDs: letters, digits,
/// hyphens and dots, no empty labels.
pub(super) fn domain(field: &'static str, value: &str) -> Result<String, EmailError> {
    let valid = !value.is_empty()
        && value.len() <= 253
        && value.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if valid {
        Ok(value.to_owned())
    } else {
        Err(EmailError::BadMessageId { field })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_refuses_line_breaks_and_controls() {
        assert!(text("subject", "Consorzio Formazione Emilia — Società").is_ok());
        for bad in ["a\r\nBcc: x@evil", "a\nb", "a\rb", "a\0b", "a\tb"] {
            assert!(
                matches!(
                    text("subject", bad),
                    Err(EmailError::UnsafeHeader { field: "subject" })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn addresses_are_parsed_and_injection_refused() {
        let plain = mailbox("to", "dpo@client.example").expect("plain address");
        assert_eq!(plain.email.to_string(), "dpo@client.example");
        let named = mailbox("to", "Privacy Team <privacy@client.example>").expect("named");
        assert_eq!(named.name.as_deref(), Some("Privacy Team"));
        assert!(matches!(
            mailbox("to", "dpo@client.example\r\nBcc: x@evil.example"),
            Err(EmailError::UnsafeHeader { field: "to" })
        ));
        assert!(matches!(
            mailbox("cc", "not an address"),
            Err(EmailError::BadAddress { field: "cc", .. })
        ));
    }

    #[test]
    fn message_id_domains() {
        assert!(domain("message_id_domain", "mail.processor.example").is_ok());
        for bad in ["", "a..b", "a b", "a@b", "bad\r\n"] {
            assert!(domain("message_id_domain", bad).is_err(), "{bad:?}");
        }
    }
}
