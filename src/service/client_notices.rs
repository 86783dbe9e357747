//! What a client sees of its notices, and its acknowledgement of receipt.
//! Another client's notice, a held one and an unknown one are alike: none.

use serde_json::json;

use super::Services;
use crate::domain::audit::{self, NewAuditEntry};
use crate::domain::{AcknowledgementNote, Caller, ClientId, NoticeId};
use crate::store::{Acknowledgement, ClientNotice, NewAcknowledgement, StoreError, StoredNotice};

/// Records `client_id`'s acknowledgement of notice `id` (made with token
/// `caller`), audited with a new acknowledgement only; answers the one on
/// record, or none when the notice is not the client's to see.
pub async fn acknowledge(
    services: &Services,
    caller: &Caller,
    client_id: &ClientId,
    id: NoticeId,
    note: Option<AcknowledgementNote>,
) -> Result<Option<Acknowledgement>, StoreError> {
    let acknowledged_at = services.clock.now();
    let audit = NewAuditEntry {
        at: acknowledged_at,
        actor: audit::token_actor(caller),
        action: "notice.acknowledged".into(),
        subject: id.as_str().to_owned(),
        details: json!({
            "client_id": client_id,
            "note": note.as_ref().map(AcknowledgementNote::as_str),
        }),
    };
    services
        .store
        .acknowledge_notice(&NewAcknowledgement {
            notice_id: id,
            client_id: client_id.clone(),
            token_id: caller.id.clone(),
            acknowledged_by: caller.name.clone(),
            note,
            acknowledged_at,
            audit,
        })
        .await
}

/// The notices sent to `client_id`, newest first.
pub async fn list(
    services: &Services,
    client_id: &ClientId,
) -> Result<Vec<ClientNotice>, StoreError> {
    services.store.client_notices(client_id).await
}

/// Notice `id` if it was sent to `client_id`.
pub async fn get(
    services: &Services,
    client_id: &ClientId,
    id: &NoticeId,
) -> Result<Option<StoredNotice>, StoreError> {
    services.store.client_notice(client_id, id).await
}
