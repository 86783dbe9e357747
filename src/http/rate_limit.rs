//! Per-caller rate limits: a token bucket for each token, and for each client
//! address that presents no valid token, answered with 429 and `Retry-After`.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::error::ApiError;
use crate::config::ServerConfig;

/// Whose bucket a request takes from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RateKey {
    /// An authenticated token, by id.
    Token(String),
    /// A client address that presented no valid token.
    Address(IpAddr),
}

/// Beyond this many buckets, full ones are dropped, so addresses seen once
/// do not accumulate.
const PRUNE_ABOVE: usize = 10_000;

pub struct RateLimits {
    limiter: DefaultKeyedRateLimiter<RateKey>,
}

impl RateLimits {
    pub fn new(server: &ServerConfig) -> Self {
        let at_least_one = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(at_least_one(server.rate_limit_per_minute))
            .allow_burst(at_least_one(server.rate_limit_burst));
        Self {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
        }
    }

    /// Takes one request from `key`'s bucket, or says how long to wait.
    pub fn check(&self, key: &RateKey) -> Result<(), ApiError> {
        if self.limiter.len() > PRUNE_ABOVE {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(key).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::too_many_requests(wait.as_secs() + u64::from(wait.subsec_nanos() > 0))
        })
    }
}
