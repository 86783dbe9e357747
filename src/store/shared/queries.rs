//! SQL that both dialects read alike: the board's, which takes no
//! parameters, and the breach register's, built with its filter's
//! parameters bound in whichever dialect the builder speaks.

use sqlx::{Database, Encode, QueryBuilder, Type};

use super::millis;
use crate::store::{RegisterFilter, BOARD_CLIENTS};

/// Every open incident, newest first, with how many clients it concerns
/// and how many of its notices are held.
pub const OPEN_INCIDENTS: &str = "
SELECT i.id, i.reference, i.status, i.version, i.became_aware_at, i.summary, i.created_at,
       (SELECT COUNT(DISTINCT n.client_id) FROM notices n WHERE n.incident_id = i.id) AS clients,
       (SELECT COUNT(*) FROM notices n WHERE n.incident_id = i.id AND n.status = 'held') AS held
FROM incidents i WHERE i.status = 'open'
ORDER BY i.created_at DESC, i.id DESC";

/// How many clients of open incidents have a held latest notice.
pub const HELD_BACKLOG: &str = "
SELECT COUNT(*) FROM notices l JOIN incidents i ON i.id = l.incident_id
WHERE i.status = 'open' AND l.status = 'held'
  AND NOT EXISTS (SELECT 1 FROM notices m
                  WHERE m.incident_id = l.incident_id AND m.client_id = l.client_id
                    AND m.position > l.position)";

/// Per open incident, up to [`BOARD_CLIENTS`] clients (the not yet
/// notified with the nearest deadlines first), by id: each one's
/// first notice's deadline and whether that notice is an initial one that
/// reached the client, whether its latest notice is held, and how many of
/// its deliveries are dead.
pub fn board_standings() -> String {
    format!(
        "
WITH series AS (
    SELECT n.incident_id, n.client_id, MIN(n.position) AS first, MAX(n.position) AS last
    FROM notices n JOIN incidents i ON i.id = n.incident_id
    WHERE i.status = 'open'
    GROUP BY n.incident_id, n.client_id
), dead AS (
    SELECT n.incident_id, n.client_id, COUNT(*) AS deliveries
    FROM deliveries d
    JOIN notices n ON n.id = d.notice_id
    JOIN incidents i ON i.id = n.incident_id
    WHERE d.status = 'dead' AND i.status = 'open'
    GROUP BY n.incident_id, n.client_id
), standings AS (
    SELECT s.incident_id, s.client_id, f.notify_by,
           f.kind = 'breach.notice.initial' AND EXISTS (
               SELECT 1 FROM deliveries d WHERE d.notice_id = f.id AND d.status = 'delivered'
           ) AS notified,
           l.status = 'held' AS held,
           COALESCE(x.deliveries, 0) AS dead_deliveries
    FROM series s
    JOIN notices f ON f.incident_id = s.incident_id AND f.client_id = s.client_id
                  AND f.position = s.first
    JOIN notices l ON l.incident_id = s.incident_id AND l.client_id = s.client_id
                  AND l.position = s.last
    LEFT JOIN dead x ON x.incident_id = s.incident_id AND x.client_id = s.client_id
), ranked AS (
    SELECT standings.*, ROW_NUMBER() OVER (
               PARTITION BY incident_id ORDER BY notified, notify_by, client_id) AS urgency
    FROM standings
)
SELECT incident_id, client_id, notify_by, notified, held, dead_deliveries
FROM ranked WHERE urgency <= {BOARD_CLIENTS}
ORDER BY incident_id, client_id"
    )
}

/// What the register reads, each in its own query of one snapshot.
#[derive(Debug, Clone, Copy)]
pub enum RegisterPart {
    Incidents,
    Versions,
    Notices,
    Deliveries,
}

impl RegisterPart {
    /// The query before its conditions: incidents are `i`, notices `n`.
    fn select(self) -> &'static str {
        match self {
            RegisterPart::Incidents => {
                "SELECT i.id, i.reference, i.status, i.became_aware_at, i.created_at, i.summary
                 FROM incidents i WHERE TRUE"
            }
            RegisterPart::Versions => {
                "SELECT v.incident_id, v.version, v.action, v.submitted, v.created_by, v.created_at
                 FROM incident_versions v JOIN incidents i ON i.id = v.incident_id WHERE TRUE"
            }
            RegisterPart::Notices => {
                "SELECT n.id, n.incident_id, n.client_id, n.kind, n.sequence, n.status, n.notify_by,
                        a.acknowledged_at, a.acknowledged_by
                 FROM notices n
                 JOIN incidents i ON i.id = n.incident_id
                 LEFT JOIN acknowledgements a ON a.notice_id = n.id WHERE TRUE"
            }
            RegisterPart::Deliveries => {
                "SELECT d.id, d.notice_id, d.channel, d.target, d.status, d.attempts, d.delivered_at
                 FROM deliveries d
                 JOIN notices n ON n.id = d.notice_id
                 JOIN incidents i ON i.id = n.incident_id WHERE TRUE"
            }
        }
    }

    fn order(self) -> &'static str {
        match self {
            RegisterPart::Incidents => " ORDER BY i.created_at, i.id",
            RegisterPart::Versions => " ORDER BY v.incident_id, v.version",
            RegisterPart::Notices => " ORDER BY n.incident_id, n.client_id, n.position",
            RegisterPart::Deliveries => " ORDER BY d.notice_id, d.id",
        }
    }

    /// Whether the query reads notices, which a client filter then
    /// narrows to the client's own; otherwise it keeps the incidents that
    /// concern the client.
    fn reads_notices(self) -> bool {
        matches!(self, RegisterPart::Notices | RegisterPart::Deliveries)
    }
}

/// The query reading `part` of the register that `filter` chooses.
pub fn register_query<'a, DB>(
    part: RegisterPart,
    filter: &'a RegisterFilter,
) -> QueryBuilder<'a, DB>
where
    DB: Database,
    DB::Arguments<'a>: Default,
    &'a str: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    let mut query = QueryBuilder::new(part.select());
    if let Some(status) = filter.status {
        query.push(" AND i.status = ").push_bind(status.as_str());
    }
    if let Some(from) = filter.aware_from {
        query
            .push(" AND i.became_aware_at >= ")
            .push_bind(millis(from));
    }
    if let Some(before) = filter.aware_before {
        query
            .push(" AND i.became_aware_at < ")
            .push_bind(millis(before));
    }
    if let Some(client) = &filter.client_id {
        if part.reads_notices() {
            query.push(" AND n.client_id = ").push_bind(client.as_str());
        } else {
            query
                .push(" AND EXISTS (SELECT 1 FROM notices c WHERE c.incident_id = i.id AND c.client_id = ")
                .push_bind(client.as_str())
                .push(")");
        }
    }
    query.push(part.order());
    query
}
