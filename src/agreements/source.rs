//! A TOML file as read from disk, able to say on which line a field stands.

use std::path::Path;

use serde_json::Value;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

pub struct SourceFile {
    text: String,
}

impl SourceFile {
    pub fn read(path: &Path) -> std::io::Result<Self> {
        Ok(Self {
            text: std::fs::read_to_string(path)?,
        })
    }

    /// The file as a JSON value, or the syntax error and its line.
    pub fn to_json(&self) -> Result<Value, (Option<usize>, String)> {
        toml::from_str::<Value>(&self.text).map_err(|e| {
            let line = e.span().map(|span| self.line_at(span.start));
            (line, e.message().to_owned())
        })
    }

    /// The line of the value at `pointer` (a JSON pointer), or of its closest
    /// existing parent, so that a missing field points at the table it is missing from.
    pub fn line_of(&self, pointer: &str) -> Option<usize> {
        let root = DeTable::parse(&self.text).ok()?;
        let mut span = root.span();
        let mut current: Option<&DeValue> = None;
        let mut table: Option<&DeTable> = Some(root.get_ref());
        for segment in pointer.split('/').skip(1) {
            let next: Option<&Spanned<DeValue>> = match (table, current) {
                (Some(t), _) => t
                    .iter()
                    .find(|(key, _)| key.get_ref() == segment)
                    .map(|(_, v)| v),
                (None, Some(DeValue::Array(items))) => {
                    segment.parse::<usize>().ok().and_then(|i| items.get(i))
                }
                _ => None,
            };
            let Some(next) = next else { break };
            span = next.span();
            current = Some(next.get_ref());
            table = match next.get_ref() {
                DeValue::Table(t) => Some(t),
                _ => None,
            };
        }
        Some(self.line_at(span.start))
    }

    fn line_at(&self, offset: usize) -> usize {
        1 + self.text[..offset.min(self.text.len())]
            .bytes()
            .filter(|b| *b == b'\n')
            .count()
    }
}
