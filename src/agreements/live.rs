//! The agreements in force: one registry that every report reads whole,
//! replaced at once when the stored agreements change.

use std::sync::{Arc, RwLock};

use super::Registry;

pub struct LiveRegistry(RwLock<Arc<Registry>>);

impl LiveRegistry {
    pub fn new(registry: Registry) -> Self {
        Self(RwLock::new(Arc::new(registry)))
    }

    /// The agreements as they are now; a report works on one consistent view.
    pub fn current(&self) -> Arc<Registry> {
        self.0.read().expect("registry lock poisoned").clone()
    }

    /// Makes `registry` the one the next report sees; reports already
    /// running keep the view they started with.
    pub fn replace(&self, registry: Registry) {
        *self.0.write().expect("registry lock poisoned") = Arc::new(registry);
    }
}
