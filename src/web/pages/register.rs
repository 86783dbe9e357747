//! The breach register: per incident and client, the notices, when the
//! client was first reached and whether in time, and its acknowledgement;
//! filtered by client, status and when staff became aware, and downloaded as
//! the same CSV as `GET /v1/register` (with the same filters applied).

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, Utc};
use minijinja::context;
use serde::{Deserialize, Serialize};

use crate::domain::{DeliveryStatus, IncidentStatus};
use crate::service::register::{self, RegisterFilter};
use crate::store::RegisterIncident;
use crate::web::session::StaffSession;
use crate::web::templates::render;
use crate::web::{PageError, WebState};

/// The filters as the form sends them (empty fields are no filter).
#[derive(Deserialize, Serialize, Default)]
pub struct Filters {
    #[serde(default)]
    client: String,
    #[serde(default)]
    status: String,
    /// `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    from: String,
    /// `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    to: String,
}

impl Filters {
    /// The filter, or the name of the field that does not parse and why.
    fn parse(&self) -> Result<RegisterFilter, (&'static str, String)> {
        let given = |s: &str| Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_owned);
        let day = |field: &'static str, s: &str| -> Result<Option<DateTime<Utc>>, _> {
            given(s)
                .map(|s| {
                    NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                        .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc())
                        .map_err(|_| (field, "is not a date like 2026-11-22".to_owned()))
                })
                .transpose()
        };
        Ok(RegisterFilter {
            client_id: given(&self.client),
            status: match given(&self.status) {
                None => None,
                Some(s) => Some(
                    IncidentStatus::parse(&s)
                        .ok_or(("status", "is not open, closed or retracted".to_owned()))?,
                ),
            },
            aware_from: day("from", &self.from)?,
            aware_before: day("to", &self.to)?.map(|t| t + chrono::Duration::days(1)),
        })
    }

    fn query(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client", &self.client)
            .append_pair("status", &self.status)
            .append_pair("from", &self.from)
            .append_pair("to", &self.to)
            .finish()
    }
}

/// `GET /register`
pub async fn show(
    State(state): State<WebState>,
    StaffSession(session): StaffSession,
    Query(filters): Query<Filters>,
) -> Result<Response, PageError> {
    let (rows, error) = match filters.parse() {
        Ok(filter) => (rows(&read(&state, &filter).await?), None),
        Err((field, message)) => (Vec::new(), Some(context! { field, message })),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let html = render(
        "register.html",
        Some(&session),
        context! {
            title => "Breach register",
            rows,
            error,
            csv => format!("/register.csv?{}", filters.query()),
            filters,
            statuses => ["open", "closed", "retracted"],
        },
    )?;
    Ok((status, html).into_response())
}

/// `GET /register.csv`
pub async fn csv(
    State(state): State<WebState>,
    StaffSession(_): StaffSession,
    Query(filters): Query<Filters>,
) -> Result<Response, PageError> {
    let filter = filters.parse().map_err(|_| PageError::BadForm)?;
    let body = register::to_csv(&read(&state, &filter).await?).map_err(PageError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"breach-register.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}

async fn read(
    state: &WebState,
    filter: &RegisterFilter,
) -> Result<Vec<RegisterIncident>, PageError> {
    register::register(&state.app.services, filter)
        .await
        .map_err(PageError::internal)
}

/// One row per incident and client.
#[derive(Serialize)]
struct Row {
    incident_id: String,
    reference: String,
    status: &'static str,
    became_aware_at: String,
    client_id: String,
    notices: usize,
    held: usize,
    dead: usize,
    first_delivered_at: Option<String>,
    deadline_met: Option<bool>,
    acknowledged_at: Option<String>,
}

fn rows(incidents: &[RegisterIncident]) -> Vec<Row> {
    let time = |t: DateTime<Utc>| t.format("%Y-%m-%d %H:%M UTC").to_string();
    incidents
        .iter()
        .flat_map(|incident| {
            incident.clients.iter().map(move |client| Row {
                incident_id: incident.incident_id.clone(),
                reference: incident.reference.clone(),
                status: incident.status.as_str(),
                became_aware_at: time(incident.became_aware_at),
                client_id: client.client_id.clone(),
                notices: client.notices.len(),
                held: client
                    .notices
                    .iter()
                    .filter(|n| n.status == crate::domain::NoticeStatus::Held)
                    .count(),
                dead: client
                    .notices
                    .iter()
                    .flat_map(|n| &n.deliveries)
                    .filter(|d| d.status == DeliveryStatus::Dead)
                    .count(),
                first_delivered_at: client.first_delivered_at.map(time),
                deadline_met: client.deadline_met,
                acknowledged_at: client
                    .notices
                    .iter()
                    .filter_map(|n| n.acknowledged_at)
                    .min()
                    .map(time),
            })
        })
        .collect()
}
