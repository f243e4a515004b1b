//! The discovery document as served: rendered at start, and again when the directory
//! settings change the claims it lists (`[ldap.extra_claims]` at `/admin/ldap`).

use std::sync::{Arc, RwLock};

#[derive(Debug)]
pub struct ServedDiscovery {
    json: RwLock<Arc<str>>,
}

impl ServedDiscovery {
    pub fn new(document: &serde_json::Value) -> ServedDiscovery {
        ServedDiscovery {
            json: RwLock::new(Arc::from(document.to_string())),
        }
    }

    pub fn current(&self) -> Arc<str> {
        match self.json.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn replace(&self, document: &serde_json::Value) {
        let json: Arc<str> = Arc::from(document.to_string());
        match self.json.write() {
            Ok(mut guard) => *guard = json,
            Err(poisoned) => *poisoned.into_inner() = json,
        }
    }
}
