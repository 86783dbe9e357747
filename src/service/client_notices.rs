//! What a client sees of its notices, and its acknowledgement of receipt.
//! Another client's notice, a held one and an unknown one are alike: none.

use serde_json::json;

use super::Services;
use crate::domain::audit::{self, NewAuditEntry};
use crate::domain::{AcknowledgementNote, Caller, ClientId, Notice, NoticeId};
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

/// A notice as its client reads it on the portal: the email's subject and
/// body in the client's language, and its entry in the client's list.
pub struct ReadableNotice {
    pub notice: StoredNotice,
    pub listed: ClientNotice,
    pub language: &'static str,
    pub subject: String,
    /// The email body as data (see [`crate::delivery::email::summary`]).
    pub body: serde_json::Value,
}

/// Notice `id` if it was sent to `client_id`, rendered as its email.
pub async fn readable(
    services: &Services,
    client_id: &ClientId,
    id: &NoticeId,
) -> anyhow::Result<Option<ReadableNotice>> {
    let Some(notice) = get(services, client_id, id).await? else {
        return Ok(None);
    };
    let Some(listed) = list(services, client_id)
        .await?
        .into_iter()
        .find(|n| n.notice_id == notice.id)
    else {
        return Ok(None);
    };
    let parsed: Notice = serde_json::from_slice(&notice.body)
        .map_err(|e| anyhow::anyhow!("stored notice {id} does not parse: {e}"))?;
    let registry = services.registry.current();
    let client = registry
        .client(client_id)
        .ok_or_else(|| anyhow::anyhow!("client {client_id} has no agreement"))?;
    let (subject, body) = crate::delivery::email::summary(&parsed, client)?;
    Ok(Some(ReadableNotice {
        notice,
        listed,
        language: client.language.as_str(),
        subject,
        body,
    }))
}
