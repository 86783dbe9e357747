//! Report drafts: the New report form saved at any point, without checks
//! (a draft may be incomplete or wrong; filing checks it), and resumed later
//! with every field as it was typed. Drafts are shared by the staff team:
//! under a 24-hour deadline, whoever is on duty must be able to take over a
//! report a colleague started, so every draft shows who saved it last.
//!
//! Saves and discards name the revision the form was loaded from: a save
//! over a draft a colleague saved or discarded meanwhile becomes a draft of
//! its own, and a discard of a changed draft does nothing, so no one's
//! typing is lost to another's.

use super::Services;
use crate::domain::Caller;
use crate::store::{Draft, DraftFields, NewDraft, StoreError};

/// The saved draft a form was loaded from: its id and revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftRevision {
    pub id: String,
    pub revision: i64,
}

impl DraftRevision {
    /// The draft named by a posted id and revision, if both are well formed.
    pub fn parse(id: &str, revision: &str) -> Option<Self> {
        let well_formed = id
            .strip_prefix(PREFIX)
            .is_some_and(|u| ulid::Ulid::from_string(u).is_ok());
        let revision = revision.parse::<i64>().ok().filter(|r| *r > 0)?;
        well_formed.then(|| Self {
            id: id.to_owned(),
            revision,
        })
    }
}

const PREFIX: &str = "drf_";

/// Where a save went.
pub struct Saved {
    pub id: String,
    /// The draft the form was loaded from was saved or discarded by someone
    /// else meanwhile, so this save is a new draft beside it.
    pub separate: bool,
}

/// Saves `fields` (as posted, unchecked) and the form's `filing_key` as
/// `caller`'s: over `loaded_from` if it is still at that revision, else as
/// a new draft.
pub async fn save(
    services: &Services,
    caller: &Caller,
    loaded_from: Option<&DraftRevision>,
    fields: DraftFields,
    filing_key: &str,
) -> Result<Saved, StoreError> {
    let mut draft = NewDraft {
        id: loaded_from.map_or_else(new_id, |d| d.id.clone()),
        fields,
        filing_key: filing_key.to_owned(),
        saved_by: caller.id.clone(),
        saved_at: services.clock.now(),
    };
    let store = &services.store;
    if let Some(loaded) = loaded_from {
        if store.replace_draft(&draft, loaded.revision).await? {
            return Ok(Saved {
                id: draft.id,
                separate: false,
            });
        }
        draft.id = new_id();
    }
    store.create_draft(&draft).await?;
    Ok(Saved {
        id: draft.id,
        separate: loaded_from.is_some(),
    })
}

/// Every draft, the last saved first.
pub async fn list(services: &Services) -> Result<Vec<Draft>, StoreError> {
    services.store.drafts().await
}

pub async fn get(services: &Services, id: &str) -> Result<Option<Draft>, StoreError> {
    services.store.draft(id).await
}

/// Deletes `draft` (discarded, or filed) unless it changed since it was
/// loaded; answers whether it did.
pub async fn delete(services: &Services, draft: &DraftRevision) -> Result<bool, StoreError> {
    services.store.delete_draft(&draft.id, draft.revision).await
}

fn new_id() -> String {
    format!("{PREFIX}{}", ulid::Ulid::new())
}
