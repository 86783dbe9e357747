//! The audit log (GDPR Art. 33(5)): who did what, as a hash chain. Each entry
//! commits to the one before it, so altering, inserting or deleting a stored
//! row breaks the chain at that row, and [`verify`] names it. The store only
//! persists entries; sealing and checking them happens here.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::domain::Caller;

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The actor of what the command line does.
pub const CLI: &str = "cli";
/// The actor of what the gateway does by itself (agreements applied at start).
pub const SYSTEM: &str = "system";

/// The actor a token's actions are recorded under: its name and its id, so
/// two tokens with the same name stay apart.
pub fn token_actor(token: &Caller) -> String {
    format!("{} ({})", token.name, token.id)
}

/// Something to record, before it has a place in the chain.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub details: Value,
}

impl NewAuditEntry {
    pub fn new(
        at: DateTime<Utc>,
        actor: &str,
        action: &str,
        subject: &str,
        details: Value,
    ) -> Self {
        Self {
            at,
            actor: actor.to_owned(),
            action: action.to_owned(),
            subject: subject.to_owned(),
            details,
        }
    }

    /// This entry as the one after `last` (none for the first entry).
    pub fn seal(&self, last: Option<&AuditEntry>) -> AuditEntry {
        let (seq, prev_hash) = match last {
            Some(last) => (last.seq + 1, last.hash.clone()),
            None => (1, GENESIS_HASH.to_owned()),
        };
        let mut entry = AuditEntry {
            seq,
            at: self.at.timestamp_millis(),
            actor: self.actor.clone(),
            action: self.action.clone(),
            subject: self.subject.clone(),
            details: self.details.to_string(),
            prev_hash,
            hash: String::new(),
        };
        entry.hash = entry.computed_hash();
        entry
    }
}

/// One stored entry, exactly as its row holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub seq: i64,
    /// Unix milliseconds.
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub subject: String,
    /// JSON text, hashed as stored so no re-serialisation can change it.
    pub details: String,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEntry {
    /// Hex SHA-256 of the JSON array of every field but the hash itself.
    pub fn computed_hash(&self) -> String {
        let canonical = json!([
            self.seq,
            self.at,
            self.actor,
            self.action,
            self.subject,
            self.details,
            self.prev_hash
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }
}

/// Where and why the chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("BROKEN at entry {seq}: {reason}")]
pub struct BrokenLink {
    pub seq: i64,
    pub reason: String,
}

/// Walks `entries` (in `seq` order) and answers how many there are, or the
/// first entry that does not follow from the one before it.
pub fn verify(entries: &[AuditEntry]) -> Result<usize, BrokenLink> {
    let mut previous: Option<&AuditEntry> = None;
    for entry in entries {
        let broken = |reason: String| BrokenLink {
            seq: entry.seq,
            reason,
        };
        let (expected_seq, expected_prev) = match previous {
            Some(p) => (p.seq + 1, p.hash.as_str()),
            None => (1, GENESIS_HASH),
        };
        if entry.seq != expected_seq {
            return Err(broken(format!(
                "gap in sequence: expected entry {expected_seq} before it"
            )));
        }
        if entry.prev_hash != expected_prev {
            return Err(broken(
                "prev_hash does not match the previous entry's hash".into(),
            ));
        }
        if entry.hash != entry.computed_hash() {
            return Err(broken(
                "hash mismatch: the entry was altered after it was written".into(),
            ));
        }
        previous = Some(entry);
    }
    Ok(entries.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> Vec<AuditEntry> {
        let mut entries: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let new = NewAuditEntry {
                at: DateTime::from_timestamp(1_700_000_000 + i as i64, 0).unwrap(),
                actor: "test staff (tok_1)".into(),
                action: "report.filed".into(),
                subject: format!("inc_{i}"),
                details: json!({"reference": format!("BG-2026-{i:04}"), "clients": i}),
            };
            let sealed = new.seal(entries.last());
            entries.push(sealed);
        }
        entries
    }

    #[test]
    fn an_untouched_chain_verifies_and_starts_from_the_genesis_hash() {
        let entries = chain(4);
        assert_eq!(entries[0].seq, 1);
        assert_eq!(entries[0].prev_hash, GENESIS_HASH);
        assert_eq!(entries[2].prev_hash, entries[1].hash);
        assert_eq!(verify(&entries), Ok(4));
        assert_eq!(verify(&[]), Ok(0));
    }

    #[test]
    fn the_hash_covers_every_field() {
        let entry = &chain(1)[0];
        let alterations: [fn(&mut AuditEntry); 7] = [
            |e| e.seq = 2,
            |e| e.at += 1,
            |e| e.actor = "mallory".into(),
            |e| e.action = "notice.acknowledged".into(),
            |e| e.subject = "inc_x".into(),
            |e| e.details = "{}".into(),
            |e| e.prev_hash = "1".repeat(64),
        ];
        for alter in alterations {
            let mut altered = entry.clone();
            alter(&mut altered);
            assert_ne!(altered.computed_hash(), entry.hash);
        }
    }

    #[test]
    fn an_altered_entry_is_named() {
        let mut entries = chain(4);
        entries[1].actor = "mallory".into();
        let broken = verify(&entries).unwrap_err();
        assert_eq!(broken.seq, 2);
        assert!(broken.reason.contains("hash mismatch"), "{broken}");
    }

    #[test]
    fn a_rehashed_entry_breaks_the_link_to_the_next() {
        let mut entries = chain(4);
        entries[1].actor = "mallory".into();
        entries[1].hash = entries[1].computed_hash();
        let broken = verify(&entries).unwrap_err();
        assert_eq!(broken.seq, 3);
        assert!(broken.reason.contains("prev_hash"), "{broken}");
    }

    #[test]
    fn a_deleted_entry_is_a_gap() {
        let mut entries = chain(4);
        entries.remove(2);
        assert_eq!(verify(&entries).unwrap_err().seq, 4);
        let mut entries = chain(4);
        entries.remove(0);
        assert_eq!(verify(&entries).unwrap_err().seq, 2);
    }

    #[test]
    fn a_first_entry_not_chained_to_genesis_is_named() {
        let mut entries = chain(2);
        entries[0].prev_hash = "1".repeat(64);
        entries[0].hash = entries[0].computed_hash();
        let broken = verify(&entries).unwrap_err();
        assert_eq!(broken.seq, 1);
        assert_eq!(
            broken.to_string(),
            "BROKEN at entry 1: prev_hash does not match the previous entry's hash"
        );
    }
}
