//! The agreement files as contract admins write them (`contracts/`).

use serde::{Deserialize, Serialize};

use crate::domain::{
    ClientId, DataCategory, Language, SubjectCategory, SubprocessorId, SystemId, TransferSafeguard,
    WebhookId,
};

/// `contracts/systems.toml`: the services the processor runs for its clients.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SystemsFile {
    #[serde(default)]
    pub system: Vec<System>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct System {
    pub id: SystemId,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `contracts/subprocessors.toml`: the processor's register of sub-processors.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SubprocessorsFile {
    #[serde(default)]
    pub subprocessor: Vec<Subprocessor>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Subprocessor {
    pub id: SubprocessorId,
    pub name: String,
    pub legal_entity: String,
    pub country: String,
    pub role: String,
    pub transfer_safeguard: TransferSafeguard,
    /// The processor's systems in which this sub-processor handles data.
    pub systems: Vec<SystemId>,
}

/// `contracts/clients/<id>.toml`: one client and its processing agreement.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClientAgreement {
    pub id: ClientId,
    pub name: String,
    pub country: String,
    pub language: Language,
    pub time_zone: String,
    pub agreement: AgreementTerms,
    #[serde(default)]
    pub contacts: Vec<Contact>,
    pub systems: Vec<ClientSystem>,
    #[serde(default)]
    pub delivery: Delivery,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AgreementTerms {
    pub id: String,
    /// The client's own reference for the agreement, quoted back in notices.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    pub notify_within_hours: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_every_hours: Option<u32>,
    /// The agreed notice profile, relative to the schemas directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice_schema: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Contact {
    pub role: String,
    pub name: String,
    pub email: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// What the client keeps in one of the processor's systems.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ClientSystem {
    pub id: SystemId,
    pub data_subjects: Vec<SubjectCategory>,
    pub data_categories: Vec<DataCategory>,
    pub subjects: u64,
    pub records: u64,
    #[serde(default)]
    pub children: bool,
    #[serde(default)]
    pub vulnerable: bool,
    /// Sub-processors the client authorised for this system.
    #[serde(default)]
    pub subprocessors: Vec<SubprocessorId>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    // The schema wants a present list to have an entry: an email-only
    // client's agreement must export as a valid file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<WebhookEndpoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailDelivery>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpoint {
    pub id: WebhookId,
    pub url: String,
    /// Where the `whsec_` secret is: `env:NAME`, or [`STORED_SECRET`] for one
    /// the admin API generated and keeps encrypted; never the secret itself.
    pub secret: String,
    #[serde(default = "default_signatures")]
    pub signatures: Vec<SignatureVersion>,
    /// Allows `http://` and loopback targets, for local testing only.
    #[serde(default)]
    pub local_testing: bool,
}

/// The secret reference of an endpoint whose secrets the store keeps encrypted.
pub const STORED_SECRET: &str = "stored";

fn default_signatures() -> Vec<SignatureVersion> {
    vec![SignatureVersion::V1]
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SignatureVersion {
    /// HMAC-SHA256 under the endpoint's `whsec_` secret.
    V1,
    /// Ed25519 under the processor's signing key.
    V1a,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EmailDelivery {
    pub to: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<String>,
}

impl ClientAgreement {
    /// Gives back the spare room deserializing left in its lists: serde
    /// grows a list from four entries up, so one webhook or one system took
    /// four entries' room, about 1 KB a client in all (heaptrack).
    pub fn shrink_to_fit(&mut self) {
        self.contacts.shrink_to_fit();
        self.systems.shrink_to_fit();
        for system in &mut self.systems {
            system.data_subjects.shrink_to_fit();
            system.data_categories.shrink_to_fit();
            system.subprocessors.shrink_to_fit();
        }
        self.delivery.webhooks.shrink_to_fit();
        if let Some(email) = &mut self.delivery.email {
            email.to.shrink_to_fit();
            email.cc.shrink_to_fit();
        }
    }

    pub fn system(&self, id: &SystemId) -> Option<&ClientSystem> {
        self.systems.iter().find(|s| &s.id == id)
    }

    pub fn webhook(&self, id: &str) -> Option<&WebhookEndpoint> {
        self.delivery.webhooks.iter().find(|w| w.id.as_str() == id)
    }
}
