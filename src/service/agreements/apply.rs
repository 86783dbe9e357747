//! `contracts apply`, and a start when `paths.apply_contracts` asks for it:
//! a checked directory of agreement files replaces the stored agreements.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::agreements::{check_dir, AppliedChanges};
use crate::domain::audit::NewAuditEntry;
use crate::store::Store;

/// Checks `dir` and stores its agreements, replacing what was stored; a
/// change is audited as `actor`'s (an unchanged apply records nothing).
pub async fn apply_contracts(
    store: &dyn Store,
    dir: &Path,
    schemas: &Path,
    actor: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<AppliedChanges> {
    let snapshot = check_dir(dir, schemas).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!(
            "agreements in {} have {} problem(s):\n{}",
            dir.display(),
            list.len(),
            list.join("\n")
        )
    })?;
    let changes = store.apply_agreements(&snapshot.into_docs()).await?;
    if !changes.is_empty() {
        store
            .append_audit(&NewAuditEntry::new(
                now,
                actor,
                "agreements.applied",
                &dir.display().to_string(),
                serde_json::json!({
                    "added": changes.added,
                    "changed": changes.changed,
                    "removed": changes.removed,
                }),
            ))
            .await?;
    }
    Ok(changes)
}
