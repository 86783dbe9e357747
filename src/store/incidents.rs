//! Incidents and their versions, the notices each version produces with
//! their deliveries, idempotent replies, and what staff read back: the
//! incident list, one incident in full, and the breach register.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::StoreError;
use crate::domain::audit::NewAuditEntry;
use crate::domain::{
    Channel, ClientId, DeliveryStatus, IncidentId, IncidentStatus, NoticeId, NoticeStatus,
    NoticeType, VersionAction,
};
use crate::validation::FieldError;

#[async_trait]
pub trait IncidentStore: Send + Sync + 'static {
    /// The next incident reference number for `year` (BG-YYYY-NNNN).
    async fn next_reference(&self, year: i32) -> Result<u32, StoreError>;
    async fn idempotent_response(
        &self,
        token_id: &str,
        key: &str,
    ) -> Result<Option<StoredResponse>, StoreError>;
    /// Starts filing `incident`: its notices follow chunk by chunk, and
    /// nothing of it is visible (to readers, workers or after a crash) until
    /// [`IncidentFiling::commit`] has made all of it durable at once.
    async fn begin_incident(
        &self,
        incident: &NewIncident,
    ) -> Result<Box<dyn IncidentFiling>, StoreError>;
    /// Files `incident` with all of its `notices` at once.
    async fn record_incident(
        &self,
        incident: &NewIncident,
        notices: Vec<NewNotice>,
        close: FilingClose,
    ) -> Result<(), StoreError> {
        let mut filing = self.begin_incident(incident).await?;
        filing.add_notices(notices).await?;
        filing.commit(close).await
    }
    /// The incident's latest facts and the clients it has notices for.
    async fn incident_state(&self, id: &IncidentId) -> Result<Option<IncidentState>, StoreError>;
    /// Where the series of notices about incident `id` stands for each of
    /// `clients` that has one, by client id, with the bodies it names. A
    /// follow-up reads it a chunk of clients at a time, so it never holds
    /// every client's notices at once.
    async fn client_series(
        &self,
        id: &IncidentId,
        clients: &[ClientId],
    ) -> Result<Vec<ClientSeries>, StoreError>;
    /// Starts writing the incident's next version: the incident's new
    /// facts and status and the version's row, then its notices chunk by
    /// chunk, made durable and visible all at once by
    /// [`IncidentFiling::commit`] (dropped before, it leaves nothing). If
    /// another version got there first it fails with
    /// [`StoreError::VersionConflict`] and writes nothing; one that starts
    /// meanwhile waits, then finds the version moved.
    async fn begin_version(
        &self,
        version: &NewVersion,
    ) -> Result<Box<dyn IncidentFiling>, StoreError>;
    /// Writes the new version with all of its `notices` at once.
    async fn record_version(
        &self,
        version: &NewVersion,
        notices: Vec<NewNotice>,
        close: FilingClose,
    ) -> Result<(), StoreError> {
        let mut filing = self.begin_version(version).await?;
        filing.add_notices(notices).await?;
        filing.commit(close).await
    }
    async fn incidents(&self) -> Result<Vec<IncidentSummary>, StoreError>;
    async fn incident(&self, id: &IncidentId) -> Result<Option<IncidentDetail>, StoreError>;
    /// What the incident board shows: every open incident, newest first,
    /// and where its clients stand, in client id order: all of them up to
    /// [`BOARD_CLIENTS`], above that the not yet notified with the nearest
    /// deadlines first. A fixed number of queries whatever the number of
    /// incidents and clients.
    async fn board(&self) -> Result<Vec<BoardIncident>, StoreError>;
    /// How many clients of open incidents wait on a held notice: their
    /// latest notice failed their schema and no later one replaced it
    /// (read at every scrape of `/metrics`).
    async fn held_backlog(&self) -> Result<u64, StoreError>;
    /// An incident without its clients' notices: its versions, how many
    /// notices and deliveries are in each status, and the held notices its
    /// clients wait on. None when there is no such incident.
    async fn incident_overview(
        &self,
        id: &IncidentId,
    ) -> Result<Option<IncidentOverview>, StoreError>;
    /// One page of an incident's clients, in client id order: up to
    /// `limit` clients after `after` (keyset paging), each with all of its
    /// notices, in series order, and their deliveries. None when there is no
    /// such incident.
    async fn incident_clients(
        &self,
        id: &IncidentId,
        after: Option<&ClientId>,
        limit: u32,
    ) -> Result<Option<Vec<IncidentNotice>>, StoreError>;
    /// A notice's exact signed bytes and its JWS (none while held).
    async fn notice(&self, id: &NoticeId) -> Result<Option<StoredNotice>, StoreError>;
    /// The breach register, or the part of it `filter` chooses: incidents
    /// in the order reported, their clients by id, each with its notices,
    /// deliveries and acknowledgements, deadlines judged as of `now`.
    async fn register(
        &self,
        now: DateTime<Utc>,
        filter: &RegisterFilter,
    ) -> Result<Vec<RegisterIncident>, StoreError>;
}

/// An incident (or its next version) being filed: one transaction, fed
/// chunk by chunk, so the notices of a large fan-out need never all be in
/// memory. Dropped without
/// [`commit`](IncidentFiling::commit) (an error, a cancelled request, a
/// crash), it leaves nothing behind.
#[async_trait]
pub trait IncidentFiling: Send {
    /// Adds notices and their outbox rows. The first notice added is the
    /// filing's compression dictionary (see `store::shared::pack_notices`).
    async fn add_notices(&mut self, notices: Vec<NewNotice>) -> Result<(), StoreError>;
    /// [`IncidentStore::client_series`] read inside the filing's own
    /// transaction (so a follow-up sees the incident as of the version it
    /// follows, and needs no second connection while it holds the write):
    /// only for `clients` whose notices the filing has not added yet.
    async fn client_series(
        &mut self,
        clients: &[ClientId],
    ) -> Result<Vec<ClientSeries>, StoreError>;
    /// Writes the idempotency record and the audit entry and makes the
    /// whole incident durable. A concurrent use of the same idempotency key
    /// fails with [`StoreError::IdempotencyConflict`] and writes nothing.
    async fn commit(self: Box<Self>, close: FilingClose) -> Result<(), StoreError>;
}

/// What a filing is closed with, once every notice is in.
#[derive(Clone)]
pub struct FilingClose {
    pub idempotency: Option<IdempotencyRecord>,
    /// `report.filed` (or the follow-up's entry), written in the filing's
    /// own transaction.
    pub audit: NewAuditEntry,
}

/// An incident's first version, without its notices.
pub struct NewIncident {
    pub id: IncidentId,
    pub reference: String,
    pub became_aware_at: DateTime<Utc>,
    pub summary: String,
    pub report: Value,
    pub reported_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct NewNotice {
    pub id: NoticeId,
    pub client_id: ClientId,
    /// Where the notice stands in its client's series, held notices
    /// included.
    pub position: u32,
    /// The notice's own `data.sequence` (how many notices its client was
    /// sent), stored beside the compressed body so it can be queried.
    pub sequence: u32,
    pub kind: NoticeType,
    pub status: NoticeStatus,
    /// The exact bytes that are signed and delivered.
    pub body: Vec<u8>,
    pub jws: Option<String>,
    pub errors: Vec<FieldError>,
    pub notify_by: DateTime<Utc>,
    pub deliveries: Vec<NewDelivery>,
}

#[derive(Clone)]
pub struct NewDelivery {
    pub id: String,
    pub channel: Channel,
    /// The webhook id, or `email`.
    pub target: String,
}

/// What a follow-up starts from: the incident's latest version and the
/// clients with a series of notices about it.
pub struct IncidentState {
    pub id: IncidentId,
    pub reference: String,
    pub status: IncidentStatus,
    pub version: u32,
    /// The facts (a report document) as of `version`.
    pub facts: Value,
    /// By client id; their series are read with
    /// [`IncidentStore::client_series`].
    pub clients: Vec<ClientId>,
}

/// One client's notices about one incident.
pub struct ClientSeries {
    pub client_id: ClientId,
    /// Where the latest notice stands in the series, held ones included.
    pub last_position: u32,
    /// The latest notice, sent or held: a new draft equal to it adds nothing.
    pub last: NoticeBody,
    /// The latest notice the client was actually sent (held ones never
    /// were): what the next notice's `changes` are measured against.
    pub last_sent: Option<NoticeBody>,
}

pub struct NoticeBody {
    pub id: NoticeId,
    pub body: Vec<u8>,
}

/// An update, closure or retraction: the new version of the incident,
/// written in one transaction with the notices it produces
/// ([`IncidentStore::begin_version`]).
pub struct NewVersion {
    pub incident_id: IncidentId,
    /// The version this one follows; if another got there first the write
    /// fails with [`StoreError::VersionConflict`] and writes nothing.
    pub follows: u32,
    pub action: VersionAction,
    pub status: IncidentStatus,
    pub facts: Value,
    /// What staff sent, as sent.
    pub submitted: Value,
    pub became_aware_at: DateTime<Utc>,
    pub summary: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone)]
pub struct IdempotencyRecord {
    pub token_id: String,
    pub key: String,
    pub request_digest: String,
    pub status: u16,
    pub response: Value,
}

pub struct StoredResponse {
    pub request_digest: String,
    pub status: u16,
    pub response: Value,
}

/// An incident as the incident list shows it.
#[derive(Debug, Clone)]
pub struct IncidentSummary {
    pub id: String,
    pub reference: String,
    pub status: IncidentStatus,
    pub version: u32,
    pub became_aware_at: DateTime<Utc>,
    pub summary: String,
    pub created_at: DateTime<Utc>,
    /// How many clients it concerns.
    pub clients: u64,
    /// How many of its notices are held.
    pub held: u64,
}

/// An incident with its versions and every notice and delivery.
#[derive(Debug, Clone)]
pub struct IncidentDetail {
    pub summary: IncidentSummary,
    pub reported_by: String,
    pub versions: Vec<IncidentVersion>,
    /// In client order, then by sequence.
    pub notices: Vec<IncidentNotice>,
}

/// How many of an incident's clients the board shows at most; the
/// incident page lists them all.
pub const BOARD_CLIENTS: u32 = 100;

/// An open incident on the board, and where its clients stand.
#[derive(Debug, Clone)]
pub struct BoardIncident {
    /// `clients` counts every client of the incident.
    pub summary: IncidentSummary,
    /// By client id; at most [`BOARD_CLIENTS`].
    pub clients: Vec<ClientStanding>,
}

/// Where one client stands in an incident, for the board.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientStanding {
    pub client_id: String,
    /// The deadline of the client's first notice.
    pub notify_by: DateTime<Utc>,
    /// Whether its first notice is an initial one that reached it.
    pub notified: bool,
    /// Whether its latest notice is held.
    pub held: bool,
    /// How many of its deliveries, of any notice, are dead.
    pub dead_deliveries: u64,
}

/// How many held notices an incident's overview lists at most.
pub const HELD_LISTED: u32 = 100;

/// An incident's head for its page, with counts in place of its clients'
/// notices, which are read a page of clients at a time
/// ([`IncidentStore::incident_clients`]).
#[derive(Debug, Clone)]
pub struct IncidentOverview {
    pub summary: IncidentSummary,
    pub reported_by: String,
    pub versions: Vec<IncidentVersion>,
    /// How many of the incident's notices are in each status (none absent).
    pub notices: Vec<(NoticeStatus, u64)>,
    /// How many of their deliveries are in each status (none absent).
    pub deliveries: Vec<(DeliveryStatus, u64)>,
    /// The notices the clients wait on: each client's latest one, when it
    /// is held, by client id, without deliveries; the first
    /// [`HELD_LISTED`] of them.
    pub held: Vec<IncidentNotice>,
    /// How many clients wait on a held notice.
    pub held_clients: u64,
    /// Every way in which those notices fail their clients' schemas, once
    /// each.
    pub held_errors: Vec<FieldError>,
}

/// One notice of an incident, for staff.
#[derive(Debug, Clone)]
pub struct IncidentNotice {
    pub notice_id: String,
    pub client_id: String,
    pub kind: NoticeType,
    pub sequence: u32,
    pub status: NoticeStatus,
    pub notify_by: DateTime<Utc>,
    /// Why a held notice failed its client's schema.
    pub errors: Vec<FieldError>,
    pub deliveries: Vec<NoticeDelivery>,
}

/// One delivery of a notice and how far it got.
#[derive(Debug, Clone)]
pub struct NoticeDelivery {
    pub delivery_id: String,
    pub channel: Channel,
    pub target: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
}

/// One version of an incident: who did what, when, and what they sent.
#[derive(Debug, Clone)]
pub struct IncidentVersion {
    pub version: u32,
    /// `report`, then `update`, `close` or `retract`.
    pub action: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub submitted: Value,
}

/// A notice as stored: the exact bytes delivered and their signature.
#[derive(Debug, Clone)]
pub struct StoredNotice {
    pub id: String,
    pub incident_id: String,
    pub client_id: ClientId,
    pub status: NoticeStatus,
    pub body: Vec<u8>,
    pub jws: Option<String>,
}

/// Which part of the breach register to read: every filter left empty is
/// the whole register.
#[derive(Debug, Default, Clone)]
pub struct RegisterFilter {
    /// Only this client's notices (and only incidents that concern it).
    pub client_id: Option<String>,
    pub status: Option<IncidentStatus>,
    /// Only incidents staff became aware of on or after this time.
    pub aware_from: Option<DateTime<Utc>>,
    /// Only incidents staff became aware of before this time.
    pub aware_before: Option<DateTime<Utc>>,
}

/// One incident in the breach register (GDPR Art. 33(5)): per affected client
/// its notices, how each was delivered and acknowledged, and whether the
/// agreement's deadline for the first notice was met.
#[derive(Debug, Clone)]
pub struct RegisterIncident {
    pub incident_id: String,
    pub reference: String,
    pub status: IncidentStatus,
    pub became_aware_at: DateTime<Utc>,
    pub reported_at: DateTime<Utc>,
    pub summary: String,
    /// The report and every follow-up, oldest first.
    pub versions: Vec<IncidentVersion>,
    pub clients: Vec<RegisterClient>,
}

#[derive(Debug, Clone)]
pub struct RegisterClient {
    pub client_id: String,
    pub notices: Vec<RegisterNotice>,
    /// When a notice about the incident first reached the client, on any channel.
    pub first_delivered_at: Option<DateTime<Utc>>,
    /// Whether the initial notice arrived by its `notify_by`; none while it
    /// is undelivered and the deadline has not passed yet.
    pub deadline_met: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct RegisterNotice {
    pub notice_id: String,
    pub kind: NoticeType,
    pub sequence: u32,
    pub status: NoticeStatus,
    pub notify_by: DateTime<Utc>,
    pub deliveries: Vec<RegisterDelivery>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub acknowledged_by: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RegisterDelivery {
    pub delivery_id: String,
    pub channel: Channel,
    pub target: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub delivered_at: Option<DateTime<Utc>>,
}
