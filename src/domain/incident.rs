//! Where an incident and its notices stand.

use serde::Serialize;

/// Where an incident stands: open until closed or retracted, and then
/// nothing more is sent about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Open,
    Closed,
    Retracted,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IncidentStatus::Open => "open",
            IncidentStatus::Closed => "closed",
            IncidentStatus::Retracted => "retracted",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Open, Self::Closed, Self::Retracted]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionAction {
    Update,
    Close,
    Retract,
}

impl VersionAction {
    pub const ALL: [VersionAction; 3] = [Self::Update, Self::Close, Self::Retract];

    pub fn as_str(self) -> &'static str {
        match self {
            VersionAction::Update => "update",
            VersionAction::Close => "close",
            VersionAction::Retract => "retract",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NoticeStatus {
    /// Valid and signed; its deliveries are in the outbox.
    Queued,
    /// Failed its client's schema; not sent, shown to staff, escalated.
    Held,
}

impl NoticeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            NoticeStatus::Queued => "queued",
            NoticeStatus::Held => "held",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Self::Queued, Self::Held]
            .into_iter()
            .find(|s| s.as_str() == value)
    }
}
