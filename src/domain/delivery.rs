//! How a notice travels: its channels, what an attempt came to, and where
//! the delivery goes next.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::ClientId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Webhook,
    Email,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Webhook, Channel::Email];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Webhook => "webhook",
            Channel::Email => "email",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == value)
    }
}

/// One webhook endpoint or one client's email: the unit of the per-endpoint
/// concurrency limit. The claim query builds the same key in SQL
/// (`client_id || '/' || target`).
pub fn endpoint_key(client_id: &ClientId, target: &str) -> String {
    format!("{client_id}/{target}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttemptOutcome {
    Delivered,
    Rejected,
    Gone,
    Failed,
    Refused,
}

impl AttemptOutcome {
    pub const ALL: [AttemptOutcome; 5] = [
        Self::Delivered,
        Self::Rejected,
        Self::Gone,
        Self::Failed,
        Self::Refused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Delivered => "delivered",
            AttemptOutcome::Rejected => "rejected",
            AttemptOutcome::Gone => "gone",
            AttemptOutcome::Failed => "failed",
            AttemptOutcome::Refused => "refused",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == value)
    }
}

/// Where a delivery stands in the outbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its next attempt (or leased to a worker making it).
    Pending,
    Delivered,
    /// Dead-lettered: no more automatic attempts until replayed.
    Dead,
    /// Its endpoint is disabled; it waits until the endpoint is re-enabled
    /// or the delivery is replayed.
    Disabled,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Dead => "dead",
            DeliveryStatus::Disabled => "disabled",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Dead, Self::Disabled]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

/// Where a delivery goes after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum NextState {
    Delivered {
        message_id: Option<String>,
    },
    RetryAt(DateTime<Utc>),
    /// Dead-lettered: no more automatic attempts; staff are alerted.
    Dead,
    /// The endpoint answered 410: it and its pending deliveries are disabled.
    EndpointDisabled,
}
