//! What replacing the stored agreements changes.

use std::collections::{HashMap, HashSet};

use sha2::{Digest, Sha256};

use crate::agreements::{AgreementDoc, AppliedChanges};
use crate::store::{AgreementsVersion, StoreError};

/// What an agreement document is compared by: its body as stored.
pub fn agreement_digest(body: &str) -> String {
    hex::encode(Sha256::digest(body.as_bytes()))
}

/// One stored agreement document: `(kind, id)` as stored.
pub type DocKey = (String, String);

pub fn doc_key(doc: &AgreementDoc) -> DocKey {
    (doc.kind.as_str().to_owned(), doc.id.clone())
}

/// What replacing the stored agreements with new documents takes.
pub struct AgreementDiff<'a> {
    /// Documents new or changed, with their digest, in the order given.
    pub upserts: Vec<(&'a AgreementDoc, String)>,
    /// Stored documents that are no longer wanted.
    pub removals: Vec<DocKey>,
    pub changes: AppliedChanges,
}

/// Compares the stored documents (`(kind, id)` → digest) with `docs`, which
/// replace them all; fails when `docs` were made from another version of
/// the stored documents than they are now.
pub fn diff_agreements<'a>(
    stored: &HashMap<DocKey, String>,
    made_from: Option<&AgreementsVersion>,
    docs: &'a [AgreementDoc],
) -> Result<AgreementDiff<'a>, StoreError> {
    if made_from.is_some_and(|version| !version.is(stored)) {
        return Err(StoreError::AgreementsChanged);
    }
    let mut diff = AgreementDiff {
        upserts: Vec::new(),
        removals: Vec::new(),
        changes: AppliedChanges::default(),
    };
    let mut wanted = HashSet::new();
    for doc in docs {
        let key = doc_key(doc);
        let digest = agreement_digest(doc.body.get());
        let label = format!("{} {}", doc.kind.as_str(), doc.id);
        match stored.get(&key) {
            Some(old) if *old == digest => {}
            Some(_) => {
                diff.changes.changed.push(label);
                diff.upserts.push((doc, digest));
            }
            None => {
                diff.changes.added.push(label);
                diff.upserts.push((doc, digest));
            }
        }
        wanted.insert(key);
    }
    for key in stored.keys().filter(|k| !wanted.contains(*k)) {
        diff.changes.removed.push(format!("{} {}", key.0, key.1));
        diff.removals.push(key.clone());
    }
    diff.changes.removed.sort();
    Ok(diff)
}

/// Why a target was disabled by hand.
pub fn disabled_by(actor: &str) -> String {
    format!("disabled by {actor}")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::agreements::DocKind;

    fn doc(kind: DocKind, id: &str, body: serde_json::Value) -> AgreementDoc {
        AgreementDoc {
            kind,
            id: id.into(),
            body: serde_json::value::to_raw_value(&body).unwrap(),
        }
    }

    #[test]
    fn the_agreement_diff_writes_only_what_changed_and_removes_what_is_gone() {
        let kept = doc(DocKind::System, "crm", json!({"name": "CRM"}));
        let changed = doc(DocKind::Client, "acme", json!({"v": 2}));
        let added = doc(DocKind::Profile, "de", json!({}));
        let stored: HashMap<DocKey, String> = [
            (
                ("system".into(), "crm".into()),
                agreement_digest(kept.body.get()),
            ),
            (
                ("client".into(), "acme".into()),
                agreement_digest(r#"{"v":1}"#),
            ),
            (("subprocessor".into(), "zeta".into()), "x".into()),
            (("client".into(), "gone".into()), "y".into()),
        ]
        .into();
        let docs = [kept, changed, added];
        let diff = diff_agreements(&stored, None, &docs).unwrap();
        assert_eq!(diff.changes.added, ["profile de"]);
        assert_eq!(diff.changes.changed, ["client acme"]);
        assert_eq!(diff.changes.removed, ["client gone", "subprocessor zeta"]);
        let written: Vec<&str> = diff.upserts.iter().map(|(d, _)| d.id.as_str()).collect();
        assert_eq!(written, ["acme", "de"]);
        assert_eq!(diff.upserts[0].1, agreement_digest(r#"{"v":2}"#));
        let mut removed = diff.removals.clone();
        removed.sort();
        assert_eq!(
            removed,
            [
                ("client".to_owned(), "gone".to_owned()),
                ("subprocessor".to_owned(), "zeta".to_owned())
            ]
        );
    }
}
