use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use super::model::{ClientAgreement, Subprocessor, System};
use super::Snapshot;
use crate::domain::{ClientId, SubprocessorId, SystemId};
use crate::validation::NoticeSchemas;

/// The loaded agreements, indexed by system and by sub-processor.
pub struct Registry {
    systems: HashMap<SystemId, System>,
    subprocessors: HashMap<SubprocessorId, Subprocessor>,
    clients: HashMap<ClientId, Arc<ClientAgreement>>,
    by_system: HashMap<SystemId, Vec<ClientId>>,
    /// For each sub-processor, the clients that authorised it and for which system.
    by_subprocessor: HashMap<SubprocessorId, Vec<(ClientId, SystemId)>>,
    notice_schemas: NoticeSchemas,
}

impl Registry {
    pub fn build(snapshot: Snapshot) -> Result<Self, String> {
        let notice_schemas = NoticeSchemas::compile(&snapshot.profiles)
            .map_err(|(name, message)| format!("notice profile {name:?}: {message}"))?;
        let systems: HashMap<SystemId, System> = snapshot
            .systems
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        let subprocessors: HashMap<SubprocessorId, Subprocessor> = snapshot
            .subprocessors
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        let mut by_system: HashMap<SystemId, Vec<ClientId>> = HashMap::new();
        let mut by_subprocessor: HashMap<SubprocessorId, Vec<(ClientId, SystemId)>> =
            HashMap::new();
        let mut clients = HashMap::with_capacity(snapshot.clients.len());
        for mut client in snapshot.clients {
            for system in &mut client.systems {
                share(&systems, &mut system.id);
                for sub in &mut system.subprocessors {
                    share(&subprocessors, sub);
                }
            }
            for system in &client.systems {
                by_system
                    .entry(system.id.clone())
                    .or_default()
                    .push(client.id.clone());
                for sub in &system.subprocessors {
                    by_subprocessor
                        .entry(sub.clone())
                        .or_default()
                        .push((client.id.clone(), system.id.clone()));
                }
            }
            clients.insert(client.id.clone(), Arc::new(client));
        }
        Ok(Self {
            systems,
            subprocessors,
            clients,
            by_system,
            by_subprocessor,
            notice_schemas,
        })
    }

    /// Every system, in no particular order.
    pub fn systems(&self) -> impl Iterator<Item = &System> {
        self.systems.values()
    }

    /// Every sub-processor, in no particular order.
    pub fn subprocessors(&self) -> impl Iterator<Item = &Subprocessor> {
        self.subprocessors.values()
    }

    pub fn system(&self, id: &SystemId) -> Option<&System> {
        self.systems.get(id)
    }

    pub fn subprocessor(&self, id: &SubprocessorId) -> Option<&Subprocessor> {
        self.subprocessors.get(id)
    }

    pub fn client(&self, id: &ClientId) -> Option<&Arc<ClientAgreement>> {
        self.clients.get(id)
    }

    /// Every client, in no particular order.
    pub fn clients(&self) -> impl Iterator<Item = &Arc<ClientAgreement>> {
        self.clients.values()
    }

    pub fn clients_in_system(&self, id: &SystemId) -> &[ClientId] {
        self.by_system
            .get(id)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    pub fn clients_of_subprocessor(&self, id: &SubprocessorId) -> &[(ClientId, SystemId)] {
        self.by_subprocessor
            .get(id)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    pub fn notice_schemas(&self) -> &NoticeSchemas {
        &self.notice_schemas
    }
}

/// Makes `id` the registry's own copy of it, when `by_id` has one: 100,000
/// clients on one system then share its text instead of each keeping its own.
fn share<K: Eq + Hash + Clone, V>(by_id: &HashMap<K, V>, id: &mut K) {
    if let Some((shared, _)) = by_id.get_key_value(id) {
        *id = shared.clone();
    }
}
