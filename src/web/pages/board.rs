//! The incident board, staff's home page: every open incident and, per
//! affected client, the time left to its deadline, coloured at the
//! watchdog's thresholds (`schedule.deadline_fractions`), with held notices
//! and dead deliveries flagged (of a large incident, the clients not yet
//! notified with the nearest deadlines; its page lists them all); the
//! report drafts being written (for whoever takes over); and the open
//! alerts. `static/board.js`
//! refreshes it; without script, the Refresh link does.

use axum::extract::{Query, State};
use axum::response::Html;
use chrono::{DateTime, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};

use crate::service::{deliveries, drafts as saved_drafts, incidents};
use crate::store::BoardIncident;
use crate::web::pages::report::drafts::DraftView;
use crate::web::session::StaffSession;
use crate::web::templates::render;
use crate::web::{PageError, WebState};

#[derive(Deserialize)]
pub struct BoardQuery {
    /// The reference of a report just filed, to confirm it.
    filed: Option<String>,
}

/// `GET /`
pub async fn show(
    State(state): State<WebState>,
    StaffSession(session): StaffSession,
    Query(query): Query<BoardQuery>,
) -> Result<Html<String>, PageError> {
    let services = &state.app.services;
    let now = services.clock.now();
    let thresholds = &state.app.config.schedule.deadline_fractions;
    let board: Vec<BoardView> = incidents::board(services)
        .await
        .map_err(PageError::internal)?
        .iter()
        .map(|incident| BoardView::of(incident, now, thresholds))
        .collect();
    let drafts: Vec<DraftView> = saved_drafts::list(services)
        .await
        .map_err(PageError::internal)?
        .iter()
        .map(DraftView::of)
        .collect();
    let alerts: Vec<BoardAlert> = deliveries::alerts(services)
        .await
        .map_err(PageError::internal)?
        .into_iter()
        .map(|a| BoardAlert {
            kind: a.kind.as_str(),
            client_id: a.client_id,
            message: a.message,
            at: a.created_at.to_rfc3339(),
        })
        .collect();
    render(
        "board.html",
        Some(&session),
        context! {
            title => "Incident board",
            incidents => board,
            drafts,
            alerts,
            filed => query.filed,
            now => now.format("%Y-%m-%d %H:%M UTC").to_string(),
        },
    )
}

#[derive(Serialize)]
struct BoardView {
    id: String,
    reference: String,
    summary: String,
    became_aware_at: String,
    clients: Vec<BoardClient>,
    /// How many clients the incident concerns, all of them shown or not.
    clients_total: u64,
}

#[derive(Serialize)]
struct BoardClient {
    client_id: String,
    notify_by: String,
    /// "12 h 5 min left", "overdue by 2 h", or "notified".
    left: String,
    /// ok, warn, urgent, overdue or notified: the colour, also said in words.
    urgency: &'static str,
    held: bool,
    dead_deliveries: u64,
}

#[derive(Serialize)]
struct BoardAlert {
    kind: &'static str,
    client_id: Option<String>,
    message: String,
    at: String,
}

impl BoardView {
    fn of(incident: &BoardIncident, now: DateTime<Utc>, thresholds: &[f64]) -> Self {
        let aware = incident.summary.became_aware_at;
        let clients = incident
            .clients
            .iter()
            .map(|client| {
                let (left, urgency) = if client.notified {
                    ("notified".to_owned(), "notified")
                } else {
                    countdown(aware, client.notify_by, now, thresholds)
                };
                BoardClient {
                    client_id: client.client_id.clone(),
                    notify_by: client.notify_by.format("%Y-%m-%d %H:%M UTC").to_string(),
                    left,
                    urgency,
                    held: client.held,
                    dead_deliveries: client.dead_deliveries,
                }
            })
            .collect();
        BoardView {
            id: incident.summary.id.clone(),
            reference: incident.summary.reference.clone(),
            summary: incident.summary.summary.clone(),
            became_aware_at: aware.format("%Y-%m-%d %H:%M UTC").to_string(),
            clients,
            clients_total: incident.summary.clients,
        }
    }
}

/// The time left to `notify_by` in words, and its urgency: how many of the
/// watchdog's `thresholds` (fractions of the window from `aware` to the
/// deadline) have passed.
fn countdown(
    aware: DateTime<Utc>,
    notify_by: DateTime<Utc>,
    now: DateTime<Utc>,
    thresholds: &[f64],
) -> (String, &'static str) {
    if now >= notify_by {
        return (
            format!("overdue by {}", duration(now - notify_by)),
            "overdue",
        );
    }
    let window = (notify_by - aware).num_seconds().max(1) as f64;
    let elapsed = (now - aware).num_seconds() as f64 / window;
    let passed = thresholds.iter().filter(|t| elapsed >= **t).count();
    let urgency = match passed {
        0 => "ok",
        n if n == thresholds.len() => "urgent",
        _ => "warn",
    };
    (format!("{} left", duration(notify_by - now)), urgency)
}

fn duration(d: chrono::Duration) -> String {
    let minutes = d.num_minutes();
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes} min"),
        (0, _) => format!("{hours} h {minutes} min"),
        _ => format!("{days} d {hours} h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hours: i64) -> DateTime<Utc> {
        "2026-11-22T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + chrono::Duration::hours(hours)
    }

    #[test]
    fn the_countdown_colours_at_the_watchdog_thresholds() {
        let thresholds = [0.5, 0.8];
        let deadline = at(24);
        assert_eq!(
            countdown(at(0), deadline, at(1), &thresholds),
            ("23 h 0 min left".into(), "ok")
        );
        assert_eq!(countdown(at(0), deadline, at(12), &thresholds).1, "warn");
        assert_eq!(countdown(at(0), deadline, at(20), &thresholds).1, "urgent");
        assert_eq!(
            countdown(at(0), deadline, at(26), &thresholds),
            ("overdue by 2 h 0 min".into(), "overdue")
        );
        assert_eq!(
            countdown(at(0), at(72), at(1), &thresholds).0,
            "2 d 23 h left"
        );
    }
}
