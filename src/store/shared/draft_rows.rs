//! The rows of report drafts, as every backend stores them (the fields as
//! TEXT JSON), and how each becomes a record.

use super::{from_millis, json_column};
use crate::store::{Draft, DraftFields, StoreError};

/// What every backend selects for a draft: the draft joined with the user
/// who saved it.
pub(in crate::store) const DRAFT_COLUMNS: &str =
    "SELECT d.id, d.revision, d.fields, d.filing_key, u.email AS saved_by, d.saved_at
     FROM report_drafts d JOIN users u ON u.id = d.saved_by";

#[derive(sqlx::FromRow)]
pub(in crate::store) struct DraftRow {
    id: String,
    revision: i64,
    fields: String,
    filing_key: String,
    saved_by: String,
    saved_at: i64,
}

impl DraftRow {
    pub(in crate::store) fn into_record(self) -> Result<Draft, StoreError> {
        Ok(Draft {
            id: self.id,
            revision: self.revision,
            fields: json_column(&self.fields)?,
            filing_key: self.filing_key,
            saved_by: self.saved_by,
            saved_at: from_millis(self.saved_at)?,
        })
    }
}

/// The JSON text a draft's fields are stored as.
pub(in crate::store) fn fields_column(fields: &DraftFields) -> Result<String, StoreError> {
    serde_json::to_string(fields).map_err(|e| StoreError::Corrupt(e.to_string()))
}
