//! The directory the server uses right now. Administrators can change the LDAP settings
//! while Gatehouse runs: the new `LdapDirectory` replaces the old one here, and every
//! caller keeps using the handle, which delegates to whichever is current.
//!
//! The handle is also the one live home of the directory settings: everything that
//! depends on them at run time (the re-check interval, `email_verified`, the extra claims)
//! reads [`DirectoryHandle::settings`], never the configuration file's start-up copy.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;

use super::{AttemptGate, Directory, DirectoryError, DirectoryUser};
use crate::config::LdapConfig;
use crate::metrics::{LdapMetrics, LdapServerSample};

#[derive(Clone)]
struct Current {
    directory: Arc<dyn Directory>,
    settings: Arc<LdapConfig>,
    version: i64,
}

pub struct DirectoryHandle {
    current: RwLock<Current>,
    /// What every directory this handle switches to records its latencies in.
    metrics: LdapMetrics,
}

impl DirectoryHandle {
    /// `directory` was built from `settings`, stored as `version` (0: the file).
    pub fn new(directory: Arc<dyn Directory>, settings: Arc<LdapConfig>, version: i64) -> DirectoryHandle {
        DirectoryHandle {
            current: RwLock::new(Current {
                directory,
                settings,
                version,
            }),
            metrics: LdapMetrics::default(),
        }
    }

    /// The handle whose directories (this one's and later ones) record into `metrics`.
    pub fn with_metrics(mut self, metrics: LdapMetrics) -> DirectoryHandle {
        self.metrics = metrics;
        self
    }

    /// Where a directory built to replace the current one records its latencies.
    pub fn metrics(&self) -> &LdapMetrics {
        &self.metrics
    }

    fn read(&self) -> Current {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn current(&self) -> Arc<dyn Directory> {
        self.read().directory
    }

    /// The settings the current directory was built from.
    pub fn settings(&self) -> Arc<LdapConfig> {
        self.read().settings
    }

    /// The settings version of the current directory.
    pub fn version(&self) -> i64 {
        self.read().version
    }

    /// Switches to `directory` built from `settings`; requests already running finish on
    /// the old one.
    pub fn replace(&self, directory: Arc<dyn Directory>, settings: Arc<LdapConfig>, version: i64) {
        let next = Current {
            directory,
            settings,
            version,
        };
        match self.current.write() {
            Ok(mut guard) => *guard = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
    }
}

#[async_trait]
impl Directory for DirectoryHandle {
    async fn authenticate_user_gated(
        &self,
        username: &str,
        password: &str,
        gate: &dyn AttemptGate,
    ) -> Result<DirectoryUser, DirectoryError> {
        self.current().authenticate_user_gated(username, password, gate).await
    }

    async fn find_user_by_id(&self, id: &str) -> Result<Option<DirectoryUser>, DirectoryError> {
        self.current().find_user_by_id(id).await
    }

    async fn check_health(&self) -> Result<(), DirectoryError> {
        self.current().check_health().await
    }

    fn server_samples(&self) -> Vec<LdapServerSample> {
        self.current().server_samples()
    }
}
