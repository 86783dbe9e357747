//! Report drafts: the New report form saved part-way, unchecked, for staff
//! to resume. Drafts are the staff team's, not one person's: whoever is on
//! duty can take over a colleague's draft before the deadline.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;

#[async_trait]
pub trait DraftStore: Send + Sync + 'static {
    /// Stores `draft` as revision 1 of a new draft.
    async fn create_draft(&self, draft: &NewDraft) -> Result<(), StoreError>;
    /// Replaces draft `draft.id` with `draft` as revision `revision + 1`, if
    /// it is still at `revision`; answers whether it was (not when someone
    /// saved or discarded it meanwhile: then nothing changes).
    async fn replace_draft(&self, draft: &NewDraft, revision: i64) -> Result<bool, StoreError>;
    /// Every draft, the last saved first.
    async fn drafts(&self) -> Result<Vec<Draft>, StoreError>;
    async fn draft(&self, id: &str) -> Result<Option<Draft>, StoreError>;
    /// Deletes draft `id` if it is still at `revision`; answers whether it was.
    async fn delete_draft(&self, id: &str, revision: i64) -> Result<bool, StoreError>;
}

/// The form's fields as posted: each field's pointer and the values typed
/// or chosen (several for checkboxes), unchecked.
pub type DraftFields = BTreeMap<String, Vec<String>>;

pub struct NewDraft {
    pub id: String,
    pub fields: DraftFields,
    /// The form's filing key, kept so the report is filed once however often
    /// the draft is resumed and filed.
    pub filing_key: String,
    /// The user who saved it.
    pub saved_by: String,
    pub saved_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Draft {
    pub id: String,
    pub revision: i64,
    pub fields: DraftFields,
    pub filing_key: String,
    /// The email of the user who saved it last.
    pub saved_by: String,
    pub saved_at: DateTime<Utc>,
}
