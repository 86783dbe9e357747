//! Retry policy as data: the schedule, jitter, `Retry-After` bounds and when to
//! give up, in one small function.

use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Wait before retry n (1-based) is `schedule_seconds[n - 1]`; after the
    /// last one the delivery is dead-lettered.
    pub schedule_seconds: Vec<u64>,
    /// Each wait is moved by up to this fraction either way, so endpoints that
    /// failed together are not retried in lockstep.
    pub jitter: f64,
    /// A receiver's `Retry-After` is honoured within these bounds.
    pub retry_after_min_seconds: u64,
    pub retry_after_max_seconds: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            schedule_seconds: vec![5, 300, 1_800, 7_200, 18_000, 36_000, 36_000],
            jitter: 0.1,
            retry_after_min_seconds: 1,
            retry_after_max_seconds: 3_600,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decision {
    RetryIn(Duration),
    GiveUp,
}

impl RetryPolicy {
    /// What to do after the `failures`-th failed attempt in a row (1-based).
    /// `unit` is a random number in [0, 1) for the jitter; tests pass fixed values.
    pub fn after_failure(
        &self,
        failures: u32,
        retry_after: Option<Duration>,
        unit: f64,
    ) -> Decision {
        let Some(&base) = self
            .schedule_seconds
            .get(failures.saturating_sub(1) as usize)
        else {
            return Decision::GiveUp;
        };
        if let Some(asked) = retry_after {
            let bounded = asked
                .as_secs()
                .clamp(self.retry_after_min_seconds, self.retry_after_max_seconds);
            return Decision::RetryIn(Duration::from_secs(bounded));
        }
        let factor = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        Decision::RetryIn(Duration::from_secs_f64(base as f64 * factor))
    }

    pub fn check(&self) -> Result<(), String> {
        if !(0.0..1.0).contains(&self.jitter) {
            return Err("delivery.retry.jitter must be in [0, 1)".into());
        }
        if self.retry_after_min_seconds > self.retry_after_max_seconds {
            return Err(
                "delivery.retry.retry_after_min_seconds must not exceed retry_after_max_seconds"
                    .into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_schedule_then_gives_up() {
        let policy = RetryPolicy::default();
        let waits: Vec<Decision> = (1..=8)
            .map(|n| policy.after_failure(n, None, 0.5))
            .collect();
        let expected: Vec<Decision> = [5, 300, 1_800, 7_200, 18_000, 36_000, 36_000]
            .into_iter()
            .map(|s| Decision::RetryIn(Duration::from_secs(s)))
            .chain([Decision::GiveUp])
            .collect();
        assert_eq!(waits, expected);
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.after_failure(2, None, 0.0),
            Decision::RetryIn(Duration::from_secs(270))
        );
        assert_eq!(
            policy.after_failure(2, None, 1.0),
            Decision::RetryIn(Duration::from_secs(330))
        );
    }

    #[test]
    fn retry_after_is_honoured_within_bounds_but_not_past_the_last_attempt() {
        let policy = RetryPolicy::default();
        let asked = |s| policy.after_failure(1, Some(Duration::from_secs(s)), 0.5);
        assert_eq!(asked(42), Decision::RetryIn(Duration::from_secs(42)));
        assert_eq!(asked(0), Decision::RetryIn(Duration::from_secs(1)));
        assert_eq!(asked(86_400), Decision::RetryIn(Duration::from_secs(3_600)));
        assert_eq!(
            policy.after_failure(8, Some(Duration::from_secs(5)), 0.5),
            Decision::GiveUp
        );
    }
}
