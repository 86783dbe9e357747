//! What a client sees of its own notices, and its acknowledgements.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{StoreError, StoredNotice};
use crate::domain::audit::NewAuditEntry;
use crate::domain::{AcknowledgementNote, ClientId, NoticeId, NoticeStatus, NoticeType};

#[async_trait]
pub trait ClientStore: Send + Sync + 'static {
    /// The notices sent to `client_id`, newest first. Held notices were never
    /// sent, so they are not the client's to see.
    async fn client_notices(&self, client_id: &ClientId) -> Result<Vec<ClientNotice>, StoreError>;
    /// Notice `id` if it was sent to `client_id`; none for another client's,
    /// a held or an unknown notice alike.
    async fn client_notice(
        &self,
        client_id: &ClientId,
        id: &NoticeId,
    ) -> Result<Option<StoredNotice>, StoreError>;
    /// Records the acknowledgement, with its audit entry, unless the notice
    /// already has one, and answers the one on record. None if the notice is
    /// not visible to the acknowledging client (see [`ClientStore::client_notice`]).
    async fn acknowledge_notice(
        &self,
        ack: &NewAcknowledgement,
    ) -> Result<Option<Acknowledgement>, StoreError>;
}

/// A notice as its client sees it in its own list.
#[derive(Debug, Clone)]
pub struct ClientNotice {
    pub notice_id: String,
    pub incident_id: String,
    pub reference: String,
    pub kind: NoticeType,
    pub sequence: u32,
    pub status: NoticeStatus,
    pub created_at: DateTime<Utc>,
    pub notify_by: DateTime<Utc>,
    pub acknowledged_at: Option<DateTime<Utc>>,
}

/// A client's acknowledgement of one of its notices, as its token made it.
pub struct NewAcknowledgement {
    pub notice_id: NoticeId,
    pub client_id: ClientId,
    pub token_id: String,
    /// The acknowledging token's name.
    pub acknowledged_by: String,
    pub note: Option<AcknowledgementNote>,
    pub acknowledged_at: DateTime<Utc>,
    /// `notice.acknowledged`, written only with a new acknowledgement.
    pub audit: NewAuditEntry,
}

/// The acknowledgement on record: always the first one made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acknowledgement {
    pub notice_id: String,
    pub acknowledged_at: DateTime<Utc>,
    pub acknowledged_by: String,
}
