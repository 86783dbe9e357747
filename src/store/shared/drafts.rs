//! The report drafts' statements, for every backend (see
//! [`super::dialect`]).

/// Implements `DraftStore` for `$store`.
macro_rules! draft_store {
    ($store:ty) => {
        const _: () = {
            use $crate::store::shared::dialect::Dialect;
            use $crate::store::shared::draft_rows::{fields_column, DraftRow, DRAFT_COLUMNS};
            use $crate::store::shared::{millis, names_nothing};
            use $crate::store::{Draft, DraftStore, NewDraft, StoreError};

            #[async_trait::async_trait]
            impl DraftStore for $store {
                async fn create_draft(&self, draft: &NewDraft) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO report_drafts
                             (id, revision, fields, filing_key, saved_by, saved_at)
                         VALUES ($1, 1, $2, $3, $4, $5)",
                    )
                    .bind(&draft.id)
                    .bind(fields_column(&draft.fields)?)
                    .bind(&draft.filing_key)
                    .bind(&draft.saved_by)
                    .bind(millis(draft.saved_at))
                    .execute(self.pool())
                    .await?;
                    Ok(())
                }

                async fn replace_draft(
                    &self,
                    draft: &NewDraft,
                    revision: i64,
                ) -> Result<bool, StoreError> {
                    if names_nothing(&draft.id) {
                        return Ok(false);
                    }
                    let replaced = sqlx::query(
                        "UPDATE report_drafts
                         SET revision = revision + 1, fields = $1, filing_key = $2, saved_by = $3,
                             saved_at = $4
                         WHERE id = $5 AND revision = $6",
                    )
                    .bind(fields_column(&draft.fields)?)
                    .bind(&draft.filing_key)
                    .bind(&draft.saved_by)
                    .bind(millis(draft.saved_at))
                    .bind(&draft.id)
                    .bind(revision)
                    .execute(self.pool())
                    .await?;
                    Ok(replaced.rows_affected() == 1)
                }

                async fn drafts(&self) -> Result<Vec<Draft>, StoreError> {
                    let rows: Vec<DraftRow> = sqlx::query_as(&format!(
                        "{DRAFT_COLUMNS} ORDER BY d.saved_at DESC, d.id DESC"
                    ))
                    .fetch_all(self.pool())
                    .await?;
                    rows.into_iter().map(DraftRow::into_record).collect()
                }

                async fn draft(&self, id: &str) -> Result<Option<Draft>, StoreError> {
                    if names_nothing(id) {
                        return Ok(None);
                    }
                    let row: Option<DraftRow> =
                        sqlx::query_as(&format!("{DRAFT_COLUMNS} WHERE d.id = $1"))
                            .bind(id)
                            .fetch_optional(self.pool())
                            .await?;
                    row.map(DraftRow::into_record).transpose()
                }

                async fn delete_draft(&self, id: &str, revision: i64) -> Result<bool, StoreError> {
                    if names_nothing(id) {
                        return Ok(false);
                    }
                    let deleted =
                        sqlx::query("DELETE FROM report_drafts WHERE id = $1 AND revision = $2")
                            .bind(id)
                            .bind(revision)
                            .execute(self.pool())
                            .await?;
                    Ok(deleted.rows_affected() == 1)
                }
            }
        };
    };
}
pub(in crate::store) use draft_store;
