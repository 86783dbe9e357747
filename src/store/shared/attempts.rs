//! What a finished attempt leads to: a 410 disables its endpoint, and a
//! dead letter or a disabled endpoint raises an alert for staff.

use chrono::{DateTime, Duration, Utc};

use super::{json_list, millis};
use crate::domain::{DeliveryStatus, NextState};
use crate::store::{AlertKind, AttemptRecord, NewStaffMail};

/// What writing one finished attempt does to its delivery, its endpoint
/// and the alerts.
#[derive(Debug)]
pub struct AttemptEffects<'a> {
    /// The delivery's status after the attempt.
    pub status: DeliveryStatus,
    /// When it is tried again; none keeps what was due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The receiver's id for a delivered message; none keeps what was known.
    pub message_id: Option<&'a str>,
    pub finished_at: DateTime<Utc>,
    /// A 410: the endpoint is disabled, and its pending deliveries with it.
    pub disables_endpoint: bool,
    pub alert: Option<NewAlert<'a>>,
}

/// An alert to list for staff and mail to them, raised by an attempt.
#[derive(Debug)]
pub struct NewAlert<'a> {
    pub id: String,
    pub kind: AlertKind,
    pub message: &'a str,
    pub mail: &'a NewStaffMail,
}

pub fn attempt_effects(record: &AttemptRecord) -> AttemptEffects<'_> {
    let (status, next_attempt_at, message_id) = match &record.next {
        NextState::Delivered { message_id } => {
            (DeliveryStatus::Delivered, None, message_id.as_deref())
        }
        NextState::RetryAt(at) => (DeliveryStatus::Pending, Some(*at), None),
        NextState::Dead => (DeliveryStatus::Dead, None, None),
        NextState::EndpointDisabled => (DeliveryStatus::Disabled, None, None),
    };
    let disables_endpoint = record.next == NextState::EndpointDisabled;
    AttemptEffects {
        status,
        next_attempt_at,
        message_id,
        finished_at: record.started_at + Duration::milliseconds(record.duration_ms as i64),
        disables_endpoint,
        alert: record.alert.as_ref().map(|alert| NewAlert {
            id: format!("alr_{}", ulid::Ulid::new()),
            kind: if disables_endpoint {
                AlertKind::EndpointDisabled
            } else {
                AlertKind::DeadLetter
            },
            message: &alert.message,
            mail: &alert.mail,
        }),
    }
}

/// One finished attempt as its batch writes it: the attempt row and its
/// delivery's new state.
#[derive(serde::Serialize)]
pub struct AttemptBatchRow<'a> {
    pub id: &'a str,
    pub attempt: u32,
    pub started_at: i64,
    pub finished_at: i64,
    pub duration_ms: u64,
    pub outcome: &'static str,
    pub status_code: Option<u16>,
    pub detail: &'a str,
    pub status: &'static str,
    pub failures: u32,
    pub next_attempt_at: Option<i64>,
    pub message_id: Option<&'a str>,
}

/// Finished attempts and their effects as rows of one batch, which a
/// backend binds whole and unpacks in SQL: a thousand attempts cost two
/// statements rather than two thousand.
pub fn attempt_rows<'a>(
    records: &'a [AttemptRecord],
    effects: &[AttemptEffects<'a>],
) -> Vec<AttemptBatchRow<'a>> {
    records
        .iter()
        .zip(effects)
        .map(|(r, e)| AttemptBatchRow {
            id: &r.delivery_id,
            attempt: r.attempt,
            started_at: millis(r.started_at),
            finished_at: millis(e.finished_at),
            duration_ms: r.duration_ms,
            outcome: r.outcome.as_str(),
            status_code: r.status_code,
            detail: &r.detail,
            status: e.status.as_str(),
            failures: r.failures,
            next_attempt_at: e.next_attempt_at.map(millis),
            message_id: e.message_id,
        })
        .collect()
}

/// The batch as one JSON array, for a backend without array parameters.
pub fn attempt_batch(records: &[AttemptRecord], effects: &[AttemptEffects]) -> String {
    json_list(&attempt_rows(records, effects))
}

#[cfg(test)]
mod tests {
    use super::super::at;
    use super::*;
    use crate::domain::{AttemptOutcome, Channel, ClientId};
    use crate::store::RaisedAlert;

    fn attempt(next: NextState, alert: bool) -> AttemptRecord {
        AttemptRecord {
            delivery_id: "dlv_1".into(),
            channel: Channel::Webhook,
            client_id: ClientId::parse("acme").unwrap(),
            target: "primary".into(),
            attempt: 3,
            started_at: at(1_000),
            duration_ms: 1_500,
            outcome: AttemptOutcome::Gone,
            status_code: Some(410),
            detail: "gone".into(),
            next,
            failures: 3,
            alert: alert.then(|| RaisedAlert {
                message: "endpoint gone".into(),
                mail: NewStaffMail::new("privacy@example.com", "s".into(), "b".into()),
            }),
        }
    }

    #[test]
    fn a_410_disables_the_endpoint_and_raises_an_endpoint_alert() {
        let record = attempt(NextState::EndpointDisabled, true);
        let effects = attempt_effects(&record);
        assert_eq!(effects.status, DeliveryStatus::Disabled);
        assert!(effects.disables_endpoint);
        assert_eq!(
            effects.finished_at,
            at(1_000) + Duration::milliseconds(1_500)
        );
        let alert = effects.alert.expect("alert");
        assert_eq!(alert.kind, AlertKind::EndpointDisabled);
        assert_eq!(alert.message, "endpoint gone");
        assert!(alert.id.starts_with("alr_"));
    }

    #[test]
    fn a_dead_letter_raises_a_dead_letter_alert_and_leaves_the_endpoint() {
        let record = attempt(NextState::Dead, true);
        let effects = attempt_effects(&record);
        assert_eq!(effects.status, DeliveryStatus::Dead);
        assert!(!effects.disables_endpoint);
        assert_eq!(effects.alert.unwrap().kind, AlertKind::DeadLetter);
    }

    #[test]
    fn a_retry_or_a_delivery_raises_nothing() {
        let retry = attempt(NextState::RetryAt(at(2_000)), false);
        let effects = attempt_effects(&retry);
        assert_eq!(effects.status, DeliveryStatus::Pending);
        assert_eq!(effects.next_attempt_at, Some(at(2_000)));
        assert!(effects.alert.is_none() && !effects.disables_endpoint);

        let delivered = attempt(
            NextState::Delivered {
                message_id: Some("<m@x>".into()),
            },
            false,
        );
        let effects = attempt_effects(&delivered);
        assert_eq!(effects.status, DeliveryStatus::Delivered);
        assert_eq!(effects.message_id, Some("<m@x>"));
        assert_eq!(effects.next_attempt_at, None);
    }
}
