//! A few idle connections to one server, already bound as the service account, reused
//! across requests. Connections that ended (the server closed them), went unused for too
//! long, or failed an operation are dropped, and new ones are opened as needed. Only the
//! service account's connections are pooled; password checks always use a connection of
//! their own (see `server_set`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use ldap3::Ldap;

use super::connection::{LdapServer, OperationFailure, Step};
use super::directory_error::{describe_result_code, DirectoryError};
use crate::config::Secret;

/// Servers (Active Directory among them) drop idle connections after some minutes; an
/// older one is closed rather than risked.
const MAX_IDLE_TIME: Duration = Duration::from_secs(240);

pub(crate) struct ConnectionPool {
    server: LdapServer,
    /// Empty: anonymous searches.
    service_dn: String,
    service_password: Secret,
    /// At most this many idle connections are kept (`ldap.pool_size`); busier moments open
    /// more, which are closed when handed back to a full pool.
    max_idle: usize,
    idle: Mutex<Vec<IdleConnection>>,
    /// Connections handed out and not yet released or dropped (for metrics).
    in_use: Arc<AtomicUsize>,
}

struct IdleConnection {
    ldap: Ldap,
    since: Instant,
}

/// A connection bound as the service account, checked out of the pool.
pub(crate) struct ServiceConnection {
    ldap: Ldap,
    /// It came from the pool rather than being opened for this request.
    pub reused: bool,
    _lease: Lease,
}

/// Counts a connection as in use from the moment it is handed out until it is released
/// to the pool or dropped.
struct Lease(Arc<AtomicUsize>);

impl Lease {
    fn new(in_use: &Arc<AtomicUsize>) -> Lease {
        in_use.fetch_add(1, Ordering::Relaxed);
        Lease(Arc::clone(in_use))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ServiceConnection {
    /// A handle for one operation; it shares the connection.
    pub fn handle(&self) -> Ldap {
        self.ldap.clone()
    }
}

impl ConnectionPool {
    pub fn new(server: LdapServer, service_dn: String, service_password: Secret, max_idle: usize) -> Self {
        ConnectionPool {
            server,
            service_dn,
            service_password,
            max_idle,
            idle: Mutex::new(Vec::new()),
            in_use: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn server(&self) -> &LdapServer {
        &self.server
    }

    pub fn server_mut(&mut self) -> &mut LdapServer {
        &mut self.server
    }

    /// Connections handed out now.
    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    /// An idle connection if a live one is left, else a new one.
    pub async fn acquire(&self) -> Result<ServiceConnection, DirectoryError> {
        while let Some(mut idle) = self.take_idle() {
            if !idle.ldap.is_closed() && idle.since.elapsed() < MAX_IDLE_TIME {
                return Ok(ServiceConnection {
                    ldap: idle.ldap,
                    reused: true,
                    _lease: Lease::new(&self.in_use),
                });
            }
            tracing::debug!(url = %self.server.url, "dropping a stale pooled LDAP connection");
        }
        self.open().await
    }

    /// A new connection, bound as the service account (or left anonymous without one).
    pub async fn open(&self) -> Result<ServiceConnection, DirectoryError> {
        let mut ldap = self.server.connect().await?;
        if !self.service_dn.is_empty() {
            let result = self
                .server
                .bind(
                    &mut ldap,
                    &self.service_dn,
                    self.service_password.expose(),
                    Step::ServiceBind,
                )
                .await
                .map_err(|failure: OperationFailure| failure.error)?;
            if let Some(unavailable) = self.server.unavailable_result(&result, Step::ServiceBind) {
                return Err(unavailable);
            }
            if result.rc != 0 {
                return Err(DirectoryError::ServiceBind(describe_result_code(
                    result.rc,
                    &result.text,
                )));
            }
        }
        Ok(ServiceConnection {
            ldap,
            reused: false,
            _lease: Lease::new(&self.in_use),
        })
    }

    /// Hands a connection back after a successful operation. Connections after a failure
    /// are simply dropped (which closes them), never handed back.
    pub fn release(&self, mut connection: ServiceConnection) {
        if connection.ldap.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if idle.len() < self.max_idle {
            idle.push(IdleConnection {
                ldap: connection.ldap,
                since: Instant::now(),
            });
        }
    }

    /// Closes every idle connection: the server failed, and they are not worth a timeout.
    pub fn clear(&self) {
        let dropped = std::mem::take(&mut *self.idle.lock().unwrap_or_else(PoisonError::into_inner));
        drop(dropped);
    }

    /// Most recently used first: it is the likeliest to still be alive.
    fn take_idle(&self) -> Option<IdleConnection> {
        // The vector is valid whatever a panicking holder was doing, so poisoning is ignored.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop()
    }

    /// Connections kept for reuse now.
    pub fn idle_count(&self) -> usize {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::tls::TlsSettings;

    #[tokio::test]
    async fn a_refused_connection_is_reported_and_nothing_is_pooled() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let pool = ConnectionPool::new(
            LdapServer::new(
                &format!("ldap://127.0.0.1:{port}"),
                Duration::from_secs(2),
                Duration::from_secs(2),
                TlsSettings::plain(),
            ),
            "cn=reader,dc=example,dc=org".into(),
            Secret::new("not-shown"),
            4,
        );
        let error = pool.acquire().await.err().expect("nothing listens there");
        assert_eq!(
            error,
            DirectoryError::Unavailable(format!("cannot connect to ldap://127.0.0.1:{port}: connection refused"))
        );
        assert!(!error.to_string().contains("not-shown"));
        assert_eq!(pool.idle_count(), 0);
    }
}
