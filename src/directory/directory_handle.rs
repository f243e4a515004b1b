//! The directory the server uses right now. Administrators can change the LDAP settings
//! while Gatehouse runs: the new `LdapDirectory` replaces the old one here, and every
//! caller keeps using the handle, which delegates to whichever is current.

use std::sync::{Arc, RwLock};

use async_trait::async_trait;

use super::{Directory, DirectoryError, DirectoryUser};

pub struct DirectoryHandle {
    current: RwLock<(Arc<dyn Directory>, i64)>,
}

impl DirectoryHandle {
    /// `version` is the settings version the directory was built from (0: the file).
    pub fn new(directory: Arc<dyn Directory>, version: i64) -> DirectoryHandle {
        DirectoryHandle {
            current: RwLock::new((directory, version)),
        }
    }

    pub fn current(&self) -> Arc<dyn Directory> {
        match self.current.read() {
            Ok(guard) => guard.0.clone(),
            Err(poisoned) => poisoned.into_inner().0.clone(),
        }
    }

    /// The settings version of the current directory.
    pub fn version(&self) -> i64 {
        match self.current.read() {
            Ok(guard) => guard.1,
            Err(poisoned) => poisoned.into_inner().1,
        }
    }

    /// Switches to `directory`; requests already running finish on the old one.
    pub fn replace(&self, directory: Arc<dyn Directory>, version: i64) {
        match self.current.write() {
            Ok(mut guard) => *guard = (directory, version),
            Err(poisoned) => *poisoned.into_inner() = (directory, version),
        }
    }
}

#[async_trait]
impl Directory for DirectoryHandle {
    async fn authenticate_user(&self, username: &str, password: &str) -> Result<DirectoryUser, DirectoryError> {
        self.current().authenticate_user(username, password).await
    }

    async fn find_user_by_id(&self, id: &str) -> Result<Option<DirectoryUser>, DirectoryError> {
        self.current().find_user_by_id(id).await
    }

    async fn check_health(&self) -> Result<(), DirectoryError> {
        self.current().check_health().await
    }
}
