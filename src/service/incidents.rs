//! What staff read about incidents: the list, one incident with its
//! versions, notices and deliveries, and a notice's exact signed bytes.

use super::Services;
use crate::domain::{IncidentId, NoticeId};
use crate::store::{IncidentDetail, IncidentSummary, StoreError, StoredNotice};

pub async fn list(services: &Services) -> Result<Vec<IncidentSummary>, StoreError> {
    services.store.incidents().await
}

pub async fn get(
    services: &Services,
    id: &IncidentId,
) -> Result<Option<IncidentDetail>, StoreError> {
    services.store.incident(id).await
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
