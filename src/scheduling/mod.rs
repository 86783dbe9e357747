//! Scheduled jobs (tokio-cron-scheduler): the [`Watchdog`] escalates initial
//! notices that have not reached their client as their deadline nears and
//! passes, and [`Cadence`] reminds staff when an open incident owes a client
//! an update. Each job is a deterministic step taking `now`, which the cron
//! job calls with the injected clock and tests call with a manual one.
//!
//! Both write what they owe staff to the `staff_mail` outbox in the same
//! transaction as their record, and [`StaffMailer`] sends it from there.

mod cadence;
mod staff_mail;
mod watchdog;

use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::clock::Clock;
use crate::store::{StoreError, DEADLINE_PASSED};

pub use cadence::{Cadence, Reminded};
pub use staff_mail::StaffMailer;
pub use watchdog::{Escalated, Watchdog};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Fractions of a notice's window (from becoming aware to its deadline)
    /// at which an undelivered initial notice is escalated, ascending.
    pub deadline_fractions: Vec<f64>,
    /// Cron expressions with seconds, in UTC.
    pub watchdog_cron: String,
    pub update_reminder_cron: String,
}

impl ScheduleConfig {
    pub fn check(&self) -> Result<(), String> {
        let mut problems = Vec::new();
        let fractions = &self.deadline_fractions;
        if fractions.iter().any(|f| !(*f > 0.0 && *f < 1.0)) {
            problems.push("schedule.deadline_fractions must each be between 0 and 1".to_owned());
        }
        let labels: Vec<String> = fractions.iter().map(|f| percent(*f)).collect();
        if fractions.windows(2).any(|w| w[0] >= w[1]) || labels.windows(2).any(|w| w[0] == w[1]) {
            problems.push(
                "schedule.deadline_fractions must be ascending, at least 0.001 apart".to_owned(),
            );
        }
        for (key, expression) in [
            ("watchdog_cron", &self.watchdog_cron),
            ("update_reminder_cron", &self.update_reminder_cron),
        ] {
            // The scheduler's own parser, so what passes here also runs.
            if Job::new_async(expression.as_str(), |_, _| Box::pin(async {})).is_err() {
                problems.push(format!(
                    "schedule.{key} must be a cron expression with seconds, e.g. \"0 * * * * *\""
                ));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// Each configured fraction of the window, then the deadline itself.
    pub fn deadline_thresholds(&self) -> Vec<DeadlineThreshold> {
        self.deadline_fractions
            .iter()
            .map(|f| DeadlineThreshold {
                label: percent(*f),
                fraction: *f,
            })
            .chain([DeadlineThreshold {
                label: DEADLINE_PASSED.to_owned(),
                fraction: 1.0,
            }])
            .collect()
    }
}

/// A point in a notice's window, named as it is recorded and counted.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadlineThreshold {
    pub label: String,
    pub fraction: f64,
}

impl DeadlineThreshold {
    pub fn at(&self, became_aware_at: DateTime<Utc>, notify_by: DateTime<Utc>) -> DateTime<Utc> {
        let window = (notify_by - became_aware_at).num_milliseconds() as f64;
        became_aware_at + Duration::milliseconds((window * self.fraction).round() as i64)
    }
}

/// `0.5` as `50%`, `0.333` as `33.3%`.
fn percent(fraction: f64) -> String {
    format!("{}%", (fraction * 1000.0).round() / 10.0)
}

/// The jobs running on their cron schedules.
pub struct Jobs(JobScheduler);

impl Jobs {
    /// Starts the jobs on `schedule`'s cron expressions, reading the time
    /// from `clock` at each tick.
    pub async fn start(
        watchdog: Watchdog,
        cadence: Cadence,
        schedule: &ScheduleConfig,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let (watchdog, cadence) = (Arc::new(watchdog), Arc::new(cadence));
        let scheduler = JobScheduler::new().await?;
        scheduler
            .add(job(
                &schedule.watchdog_cron,
                "deadline watchdog",
                clock.clone(),
                move |now| {
                    let watchdog = watchdog.clone();
                    async move { watchdog.run_once(now).await.map(drop) }
                },
            )?)
            .await?;
        scheduler
            .add(job(
                &schedule.update_reminder_cron,
                "update reminders",
                clock,
                move |now| {
                    let cadence = cadence.clone();
                    async move { cadence.run_once(now).await.map(drop) }
                },
            )?)
            .await?;
        scheduler.start().await?;
        Ok(Self(scheduler))
    }

    /// Stops scheduling; a run in progress may be cut short, which loses
    /// nothing: what it recorded stays, what it did not is redone.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.0.shutdown().await?;
        Ok(())
    }
}

/// A cron job that runs `step` at the clock's time and logs its failure:
/// the next tick tries again, and what was recorded stays recorded.
fn job<F, Fut>(
    expression: &str,
    name: &'static str,
    clock: Arc<dyn Clock>,
    step: F,
) -> anyhow::Result<Job>
where
    F: Fn(DateTime<Utc>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), StoreError>> + Send + 'static,
{
    let step = Arc::new(step);
    Ok(Job::new_async(expression, move |_, _| {
        let (step, now) = (step.clone(), clock.now());
        Box::pin(async move {
            if let Err(e) = step(now).await {
                tracing::error!(job = name, error = %crate::errors::chain(&e), "scheduled job failed");
            }
        })
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(fractions: &[f64], cron: &str) -> ScheduleConfig {
        ScheduleConfig {
            deadline_fractions: fractions.to_vec(),
            watchdog_cron: cron.to_owned(),
            update_reminder_cron: "30 * * * * *".to_owned(),
        }
    }

    #[test]
    fn fractions_must_be_inside_the_window_and_ascending() {
        assert!(config(&[0.5, 0.8], "0 * * * * *").check().is_ok());
        assert!(config(&[], "0 * * * * *").check().is_ok());
        for bad in [
            &[0.0][..],
            &[1.0],
            &[0.8, 0.5],
            &[0.5, 0.5],
            &[-0.1],
            &[f64::NAN],
        ] {
            let err = config(bad, "0 * * * * *").check().unwrap_err();
            assert!(
                err.contains("schedule.deadline_fractions"),
                "{bad:?}: {err}"
            );
        }
    }

    #[test]
    fn a_bad_cron_expression_is_named() {
        let err = config(&[0.5], "every minute").check().unwrap_err();
        assert!(err.contains("schedule.watchdog_cron"), "{err}");
    }

    #[test]
    fn thresholds_divide_the_window_and_end_at_the_deadline() {
        let aware = DateTime::from_timestamp(0, 0).unwrap();
        let deadline = aware + Duration::hours(24);
        let thresholds = config(&[0.5, 0.8], "0 * * * * *").deadline_thresholds();
        let labels: Vec<&str> = thresholds.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["50%", "80%", "passed"]);
        let at: Vec<_> = thresholds.iter().map(|t| t.at(aware, deadline)).collect();
        assert_eq!(
            at,
            [
                aware + Duration::hours(12),
                aware + Duration::minutes(24 * 48),
                deadline
            ]
        );
        assert_eq!(percent(1.0 / 3.0), "33.3%");
    }
}
