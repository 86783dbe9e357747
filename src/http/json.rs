//! JSON syntax as the API accepts it: RFC 8259, plus two rules the RFC
//! leaves open. An object that repeats a key is refused, because parsers
//! disagree on which value counts (ours keeps the last), so a body could
//! mean one thing to whoever checked it and another to us. And no string
//! (nor key) may hold U+0000 (NUL): no text the gateway stores or sends
//! needs one, and PostgreSQL stores none, so it is refused here, naming
//! where it is, before anything reads the body.

use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;

use axum::http::StatusCode;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::error::ApiError;
use crate::validation::FieldError;

/// Whether `bytes` are one well-formed JSON value in which no object repeats
/// a key and no text holds a NUL; if not, 400 `malformed_json` with the
/// position and, for a repeated key or a NUL, its JSON pointer. Recursive:
/// call only on input of bounded depth.
pub(super) fn check_syntax(bytes: &[u8]) -> Result<(), ApiError> {
    let refused = Cell::new(None);
    let mut parser = serde_json::Deserializer::from_slice(bytes);
    let parsed = UniqueKeys {
        at: &Location::Root,
        refused: &refused,
    }
    .deserialize(&mut parser)
    .and_then(|()| parser.end());
    parsed.map_err(|e| match refused.take() {
        Some(Refused::RepeatedKey(pointer)) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "the body repeats a key within one object",
        )
        .with_details(vec![FieldError::new(pointer, e.to_string())]),
        Some(Refused::Nul(pointer)) => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "the body holds a NUL character (U+0000) in a string",
        )
        .with_details(vec![FieldError::new(pointer, e.to_string())]),
        None => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            "the body is not valid JSON",
        )
        .with_details(vec![FieldError::new("", e.to_string())]),
    })
}

/// What the syntax check refused beyond the RFC, at which JSON pointer.
enum Refused {
    RepeatedKey(String),
    /// A string holding U+0000, or a key holding it (the pointer then names the key).
    Nul(String),
}

/// Where a value stands in the document: a chain up to the root, so a JSON
/// pointer is only written out for the one value that needs it.
enum Location<'a> {
    Root,
    Member(&'a Location<'a>, &'a str),
    Element(&'a Location<'a>, usize),
}

impl Location<'_> {
    fn pointer(&self) -> String {
        match self {
            Location::Root => String::new(),
            Location::Member(parent, key) => {
                format!(
                    "{}/{}",
                    parent.pointer(),
                    key.replace('~', "~0").replace('/', "~1")
                )
            }
            Location::Element(parent, index) => format!("{}/{index}", parent.pointer()),
        }
    }
}

/// Reads one JSON value and everything in it, keeping nothing but the keys
/// of the object being read; on a repeated key or a NUL it stores what it
/// refused in `refused` and fails, so the parser's error gives the position.
struct UniqueKeys<'a> {
    at: &'a Location<'a>,
    refused: &'a Cell<Option<Refused>>,
}

impl UniqueKeys<'_> {
    /// Fails on `text` (a string at `at`) when it holds a NUL.
    fn nul_free<E: de::Error>(&self, text: &str, at: &Location) -> Result<(), E> {
        if !text.contains('\0') {
            return Ok(());
        }
        self.refused.set(Some(Refused::Nul(at.pointer())));
        Err(E::custom("a NUL character (U+0000) in a string"))
    }
}

impl<'de> DeserializeSeed<'de> for UniqueKeys<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<(), E> {
        self.nul_free(text, self.at)
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        let mut index = 0;
        loop {
            let at = Location::Element(self.at, index);
            let item = UniqueKeys {
                at: &at,
                refused: self.refused,
            };
            if items.next_element_seed(item)?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<(), A::Error> {
        let mut keys = HashSet::new();
        while let Some(key) = members.next_key::<String>()? {
            let at = Location::Member(self.at, &key);
            self.nul_free(&key, &at)?;
            if keys.contains(&key) {
                self.refused.set(Some(Refused::RepeatedKey(at.pointer())));
                return Err(de::Error::custom(format_args!("duplicate key {key:?}")));
            }
            members.next_value_seed(UniqueKeys {
                at: &at,
                refused: self.refused,
            })?;
            keys.insert(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::check_syntax;
    use axum::response::IntoResponse;

    async fn refusal(body: &str) -> serde_json::Value {
        let response = check_syntax(body.as_bytes())
            .expect_err(body)
            .into_response();
        assert_eq!(response.status(), 400, "{body}");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(answer["error"]["code"], "malformed_json", "{body}");
        answer["error"]["details"][0].clone()
    }

    #[test]
    fn accepts_json_whose_objects_have_distinct_keys() {
        for body in [
            r#"{"a": 1, "b": {"a": 2, "c": [{"a": 3}, {"a": 4}]}}"#,
            r#"[{"a": null}, {"a": true}, "a", -1.5e3, 18446744073709551615]"#,
            r#""just a string""#,
            r#"{"a\"b": 1, "a\\b": 2, "\u0061": 3, "A": 4}"#,
        ] {
            assert!(check_syntax(body.as_bytes()).is_ok(), "{body}");
        }
    }

    #[tokio::test]
    async fn a_repeated_key_is_named_by_its_pointer_and_position() {
        let detail = refusal("{\"a\": 1,\n \"b\": {\"c\": [0, {\"d~/\": 1, \"d~/\": 2}]}}").await;
        assert_eq!(detail["path"], "/b/c/1/d~0~1");
        let message = detail["message"].as_str().unwrap();
        assert!(message.contains(r#"duplicate key "d~/""#), "{message}");
        assert!(message.contains("line 2"), "{message}");

        // An escape spelling the same key is the same key.
        let detail = refusal(r#"{"min": 1, "\u006din": 2}"#).await;
        assert_eq!(detail["path"], "/min");
    }

    #[tokio::test]
    async fn a_nul_in_a_string_or_a_key_is_named_by_its_pointer() {
        let detail = refusal(r#"{"a": ["fine", "not\u0000fine"]}"#).await;
        assert_eq!(detail["path"], "/a/1");
        let message = detail["message"].as_str().unwrap();
        assert!(
            message.contains("NUL") && message.contains("line 1"),
            "{message}"
        );
        assert_eq!(
            refusal(r#"{"a": {"b\u0000": 1}}"#).await["path"],
            "/a/b\u{0}"
        );
        assert_eq!(refusal(r#""\u0000""#).await["path"], "");
        // Other control characters are text like any other.
        assert!(check_syntax(br#"{"a": "line\nbreak\u0001"}"#).is_ok());
    }

    #[tokio::test]
    async fn syntax_errors_and_trailing_text_are_refused_at_the_root() {
        for body in [r#"{"a": 1,}"#, r#"{"a": 1} {"b": 2}"#, "[1, 2", "nul"] {
            assert_eq!(refusal(body).await["path"], "", "{body}");
        }
    }
}
