//! What a client may say when it acknowledges a notice.

use std::fmt;

/// A free-text note on an acknowledgement, at most [`AcknowledgementNote::MAX_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcknowledgementNote(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be at most {max} characters, not {actual}", max = AcknowledgementNote::MAX_CHARS)]
pub struct NoteTooLong {
    pub actual: usize,
}

impl AcknowledgementNote {
    pub const MAX_CHARS: usize = 1_000;

    pub fn parse(value: &str) -> Result<Self, NoteTooLong> {
        let actual = value.chars().count();
        if actual > Self::MAX_CHARS {
            return Err(NoteTooLong { actual });
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AcknowledgementNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_bounded_in_characters_not_bytes() {
        let at_limit = "é".repeat(AcknowledgementNote::MAX_CHARS);
        assert_eq!(
            AcknowledgementNote::parse(&at_limit).map(|n| n.as_str().len()),
            Ok(2 * AcknowledgementNote::MAX_CHARS)
        );
        assert_eq!(
            AcknowledgementNote::parse(&format!("{at_limit}x")),
            Err(NoteTooLong {
                actual: AcknowledgementNote::MAX_CHARS + 1
            })
        );
    }
}
