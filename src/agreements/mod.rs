//! The agreements registry: clients, their processing agreements, the
//! processor's systems and sub-processors; checked, stored, and indexed so the
//! clients affected by a report are found without scanning all of them.

mod check;
mod live;
pub mod model;
mod registry;
mod source;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::Value;

pub use check::{check_client, check_dir, cross_check, ContractSchemas, Finding, Origin, Problem};
pub use live::LiveRegistry;
pub use model::{ClientAgreement, Subprocessor, System};
pub use registry::Registry;

/// A complete, checked set of agreements.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub systems: Vec<System>,
    pub subprocessors: Vec<Subprocessor>,
    pub clients: Vec<ClientAgreement>,
    /// Agreed notice profiles by name (their path under the schemas directory).
    pub profiles: BTreeMap<String, Value>,
}

/// How agreements are kept in the store: one document per system,
/// sub-processor, client and profile.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgreementDoc {
    pub kind: DocKind,
    pub id: String,
    /// The document as compact JSON text: with 100,000 clients, text takes
    /// a fraction of the memory a parsed `Value` would.
    pub body: Box<RawValue>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    System,
    Subprocessor,
    Client,
    Profile,
}

impl DocKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::System => "system",
            DocKind::Subprocessor => "subprocessor",
            DocKind::Client => "client",
            DocKind::Profile => "profile",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        [
            Self::System,
            Self::Subprocessor,
            Self::Client,
            Self::Profile,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == value)
    }
}

impl Snapshot {
    /// The snapshot as documents to store. Each item is dropped once it is
    /// text, so the two forms of 100,000 clients are never held together.
    pub fn into_docs(self) -> Vec<AgreementDoc> {
        fn doc<T: Serialize>(kind: DocKind, id: String, item: T) -> AgreementDoc {
            AgreementDoc {
                kind,
                id,
                body: serde_json::value::to_raw_value(&item).expect("agreements serialize"),
            }
        }
        let systems = self
            .systems
            .into_iter()
            .map(|s| doc(DocKind::System, s.id.as_str().to_owned(), s));
        let subs = self
            .subprocessors
            .into_iter()
            .map(|s| doc(DocKind::Subprocessor, s.id.as_str().to_owned(), s));
        let clients = self
            .clients
            .into_iter()
            .map(|c| doc(DocKind::Client, c.id.as_str().to_owned(), c));
        let profiles = self
            .profiles
            .into_iter()
            .map(|(name, schema)| doc(DocKind::Profile, name, schema));
        systems.chain(subs).chain(clients).chain(profiles).collect()
    }

    /// The snapshot stored as `docs`, each parsed straight from its text.
    pub fn from_docs(docs: Vec<AgreementDoc>) -> Result<Self, serde_json::Error> {
        let mut snapshot = Snapshot::default();
        for doc in docs {
            let text = doc.body.get();
            match doc.kind {
                DocKind::System => snapshot.systems.push(serde_json::from_str(text)?),
                DocKind::Subprocessor => snapshot.subprocessors.push(serde_json::from_str(text)?),
                DocKind::Client => {
                    let mut client: ClientAgreement = serde_json::from_str(text)?;
                    // The registry keeps every client for as long as it runs.
                    client.shrink_to_fit();
                    snapshot.clients.push(client);
                }
                DocKind::Profile => {
                    snapshot
                        .profiles
                        .insert(doc.id, serde_json::from_str(text)?);
                }
            }
        }
        Ok(snapshot)
    }
}

/// What `contracts apply` changed, as `kind id` labels.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AppliedChanges {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

impl AppliedChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}
