//! The statements of what a client sees and acknowledges, for every backend
//! (see [`super::dialect`]).

/// Implements `ClientStore` for `$store`.
macro_rules! client_store {
    ($store:ty) => {
        const _: () = {
            use $crate::domain::{AcknowledgementNote, ClientId, NoticeId};
            use $crate::store::shared::dialect::Dialect;
            use $crate::store::shared::AuditChain;
            use $crate::store::shared::millis;
            use $crate::store::shared::rows::{
                AcknowledgementRow, ClientNoticeRow, StoredNoticeRow,
            };
            use $crate::store::{
                Acknowledgement, ClientNotice, ClientStore, NewAcknowledgement, StoreError,
                StoredNotice,
            };

            #[async_trait::async_trait]
            impl ClientStore for $store {
                async fn client_notices(
                    &self,
                    client_id: &ClientId,
                ) -> Result<Vec<ClientNotice>, StoreError> {
                    let rows: Vec<ClientNoticeRow> = sqlx::query_as(
                        "SELECT n.id, n.incident_id, i.reference, n.kind, n.sequence, n.status,
                                n.created_at, n.notify_by, a.acknowledged_at
                         FROM notices n JOIN incidents i ON i.id = n.incident_id
                         LEFT JOIN acknowledgements a ON a.notice_id = n.id
                         WHERE n.client_id = $1 AND n.status = 'queued'
                         ORDER BY n.created_at DESC, n.id DESC",
                    )
                    .bind(client_id.as_str())
                    .fetch_all(self.pool())
                    .await?;
                    rows.into_iter().map(ClientNoticeRow::into_record).collect()
                }

                async fn client_notice(
                    &self,
                    client_id: &ClientId,
                    id: &NoticeId,
                ) -> Result<Option<StoredNotice>, StoreError> {
                    let row: Option<StoredNoticeRow> = sqlx::query_as(
                        "SELECT n.id, n.incident_id, n.client_id, n.status, n.body,
                                d.content AS dictionary, n.jws
                         FROM notices n LEFT JOIN notice_dictionaries d ON d.id = n.dictionary_id
                         WHERE n.id = $1 AND n.client_id = $2 AND n.status = 'queued'",
                    )
                    .bind(id.as_str())
                    .bind(client_id.as_str())
                    .fetch_optional(self.pool())
                    .await?;
                    row.map(StoredNoticeRow::into_record).transpose()
                }

                async fn acknowledge_notice(
                    &self,
                    ack: &NewAcknowledgement,
                ) -> Result<Option<Acknowledgement>, StoreError> {
                    let mut tx = self.pool().begin().await?;
                    // Copies the notice's own client, so an acknowledgement can
                    // only exist for a notice that was sent to the client that
                    // made it. Of two at once, the second waits for the first
                    // to commit and then does nothing.
                    let inserted = sqlx::query(
                        "INSERT INTO acknowledgements
                             (notice_id, client_id, token_id, acknowledged_by, note, acknowledged_at)
                         SELECT id, client_id, $1, $2, $3, $4 FROM notices
                         WHERE id = $5 AND client_id = $6 AND status = 'queued'
                         ON CONFLICT (notice_id) DO NOTHING",
                    )
                    .bind(&ack.token_id)
                    .bind(&ack.acknowledged_by)
                    .bind(ack.note.as_ref().map(AcknowledgementNote::as_str))
                    .bind(millis(ack.acknowledged_at))
                    .bind(ack.notice_id.as_str())
                    .bind(ack.client_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                    if inserted.rows_affected() == 1 {
                        Self::append_audit_in(&mut tx, &ack.audit).await?;
                    }
                    let row: Option<AcknowledgementRow> = sqlx::query_as(
                        "SELECT notice_id, acknowledged_at, acknowledged_by FROM acknowledgements
                         WHERE notice_id = $1 AND client_id = $2",
                    )
                    .bind(ack.notice_id.as_str())
                    .bind(ack.client_id.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    row.map(AcknowledgementRow::into_record).transpose()
                }
            }
        };
    };
}
pub(in crate::store) use client_store;
