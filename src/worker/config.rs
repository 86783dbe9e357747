//! The `[delivery]` section of the configuration.

use serde::Deserialize;

use crate::delivery::retry::RetryPolicy;
use crate::delivery::webhook::IpNet;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    pub concurrency: usize,
    pub per_endpoint: usize,
    pub email_concurrency: usize,
    pub lease_seconds: u64,
    pub poll_interval_ms: u64,
    pub connect_timeout_ms: u64,
    pub timeout_ms: u64,
    pub allow_private: Vec<IpNet>,
    pub retry: RetryPolicy,
}
