//! Who is calling: a token's role and, for a client, whose data it may see.

use serde::Serialize;

use crate::domain::ClientId;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Staff,
    Admin,
    Client,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Staff => "staff",
            Role::Admin => "admin",
            Role::Client => "client",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [Role::Staff, Role::Admin, Role::Client]
            .into_iter()
            .find(|r| r.as_str() == value)
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub client_id: Option<ClientId>,
}
