//! What staff read about incidents: the list, one incident with its
//! versions, notices and deliveries, and a notice's exact signed bytes.

use super::Services;
use crate::domain::{ClientId, IncidentId, NoticeId};
use crate::store::{IncidentDetail, IncidentNotice, IncidentSummary, StoreError, StoredNotice};

pub async fn list(services: &Services) -> Result<Vec<IncidentSummary>, StoreError> {
    services.store.incidents().await
}

pub async fn get(
    services: &Services,
    id: &IncidentId,
) -> Result<Option<IncidentDetail>, StoreError> {
    services.store.incident(id).await
}

/// The incident's facts as its latest version left them (the report with
/// every update merged in), and that version; none for no such incident.
pub async fn facts(
    services: &Services,
    id: &IncidentId,
) -> Result<Option<(u32, serde_json::Value)>, StoreError> {
    Ok(services
        .store
        .incident_state(id)
        .await?
        .map(|state| (state.version, state.facts)))
}

/// One page of an incident's clients' outcomes: every notice of up to
/// `limit` clients after `after`, in client order; none for no such incident.
pub async fn clients(
    services: &Services,
    id: &IncidentId,
    after: Option<&ClientId>,
    limit: u32,
) -> Result<Option<Vec<IncidentNotice>>, StoreError> {
    services.store.incident_clients(id, after, limit).await
}

/// Notice `id` of incident `incident_id`, held or not; none for a notice of
/// another incident.
pub async fn notice(
    services: &Services,
    incident_id: &str,
    id: &NoticeId,
) -> Result<Option<StoredNotice>, StoreError> {
    Ok(services
        .store
        .notice(id)
        .await?
        .filter(|n| n.incident_id == incident_id))
}
