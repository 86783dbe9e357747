use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must be 1 to 63 characters of a-z, 0-9 and '-', starting with a letter or digit")]
    BadSlug,
    #[error("must be '{0}' followed by a 26-character ULID")]
    BadPrefixed(&'static str),
}

/// A lower-case identifier written by people: client, system, sub-processor and
/// webhook ids all follow `^[a-z0-9][a-z0-9-]{0,62}$` so they are safe in URLs,
/// file names and log lines.
///
/// A clone shares the text: the registry's indexes and a filing's list of
/// 100,000 affected clients cost no allocation per id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Slug(Arc<str>);

impl Slug {
    pub fn parse(value: &str) -> Result<Self, IdError> {
        let mut chars = value.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if first_ok && rest_ok && value.len() <= 63 {
            Ok(Self(value.into()))
        } else {
            Err(IdError::BadSlug)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for Slug {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(Slug);

        impl $name {
            pub fn parse(value: &str) -> Result<Self, IdError> {
                Slug::parse(value).map(Self)
            }

            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

slug_id!(
    /// A client (controller) of the processor.
    ClientId
);
slug_id!(
    /// A system (service) the processor runs for its clients.
    SystemId
);
slug_id!(
    /// A sub-processor in the processor's register.
    SubprocessorId
);
slug_id!(
    /// A webhook endpoint within one client's delivery settings.
    WebhookId
);

macro_rules! prefixed_ulid {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, ulid::Ulid::new()))
            }

            pub fn parse(value: &str) -> Result<Self, IdError> {
                value
                    .strip_prefix($prefix)
                    .and_then(|rest| ulid::Ulid::from_string(rest).ok())
                    .filter(|ulid| value.len() == $prefix.len() + 26 && value.ends_with(&ulid.to_string()))
                    .map(|_| Self(value.to_owned()))
                    .ok_or(IdError::BadPrefixed($prefix))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                Self::parse(&raw).map_err(serde::de::Error::custom)
            }
        }
    };
}

prefixed_ulid!(
    /// One breach incident, across all its versions and clients.
    IncidentId,
    "inc_"
);
prefixed_ulid!(
    /// One notice sent to one client.
    NoticeId,
    "ntc_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_accept_only_the_documented_alphabet() {
        assert!(ClientId::parse("kinderopvang-zonnetje").is_ok());
        assert!(ClientId::parse("a").is_ok());
        for bad in ["", "-lead", "Upper", "sp ace", "a_b", &"x".repeat(64)] {
            assert_eq!(ClientId::parse(bad), Err(IdError::BadSlug), "{bad:?}");
        }
    }

    #[test]
    fn prefixed_ids_round_trip_and_reject_other_prefixes() {
        let id = NoticeId::generate();
        assert_eq!(NoticeId::parse(id.as_str()), Ok(id.clone()));
        assert!(IncidentId::parse(id.as_str()).is_err());
        assert!(NoticeId::parse("ntc_not-a-ulid").is_err());
        assert!(NoticeId::parse(&id.as_str().to_lowercase()).is_err());
    }
}
