//! What staff read about incidents: the list, the board, one incident with
//! its versions, notices and deliveries (whole, or its overview and its
//! clients a page at a time), and a notice's exact signed bytes.

use super::Services;
use crate::domain::{ClientId, IncidentId, NoticeId};
use crate::store::{
    BoardIncident, IncidentDetail, IncidentNotice, IncidentOverview, IncidentSummary, StoreError,
    StoredNotice,
};

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

/// The open incidents and where each of their clients stands.
pub async fn board(services: &Services) -> Result<Vec<BoardIncident>, StoreError> {
    services.store.board().await
}

/// An incident with counts in place of its clients' notices.
pub async fn overview(
    services: &Services,
    id: &IncidentId,
) -> Result<Option<IncidentOverview>, StoreError> {
    services.store.incident_overview(id).await
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

/// How many clients a page of the incident page shows.
pub const CLIENTS_PER_PAGE: u32 = 100;

/// One page of an incident's clients, and the client id the next page
/// starts after.
pub struct ClientsPage {
    /// Every notice of the page's clients, in client order, then by series.
    pub notices: Vec<IncidentNotice>,
    pub next_after: Option<String>,
}

/// The incident page's clients after `after`: one store query for the page
/// (and one for its deliveries), however many clients the incident has.
/// None for no such incident.
pub async fn clients_page(
    services: &Services,
    id: &IncidentId,
    after: Option<&ClientId>,
) -> Result<Option<ClientsPage>, StoreError> {
    let Some(mut notices) = clients(services, id, after, CLIENTS_PER_PAGE + 1).await? else {
        return Ok(None);
    };
    let mut seen = 0;
    let mut next_after = None;
    let mut shown = notices.len();
    for (i, pair) in notices.windows(2).enumerate() {
        if pair[0].client_id != pair[1].client_id {
            seen += 1;
            if seen == CLIENTS_PER_PAGE {
                // One more client than a page holds: there is a next page.
                next_after = Some(pair[0].client_id.clone());
                shown = i + 1;
                break;
            }
        }
    }
    notices.truncate(shown);
    Ok(Some(ClientsPage {
        notices,
        next_after,
    }))
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
