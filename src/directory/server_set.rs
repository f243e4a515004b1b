//! Several directory servers with failover. Servers are tried in the configured order
//! (`ldap.url`, then `ldap.urls`). One that cannot be reached, does not answer in time or says
//! it is unavailable costs the request at most one timeout; it is then skipped for
//! `ldap.retry_after` seconds, during which the others are tried first, and after that one
//! request tries it again (the others keep skipping it until that try has an outcome). When
//! every server is being skipped they are all still tried, longest-failed first, so service
//! comes back as soon as one of them does.
//!
//! Each server has its own pool of service-account connections. Password checks run on a
//! new connection that is closed afterwards and never pooled.

use std::future::Future;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ldap3::Ldap;
use tokio::time::Instant;

use super::connection::{describe_duration, LdapServer, OperationFailure};
use super::connection_pool::ConnectionPool;
use super::directory_error::DirectoryError;
use super::tls::TlsSettings;
use crate::config::LdapConfig;
use crate::metrics::{LdapMetrics, LdapServerSample};

pub(crate) struct ServerSet {
    slots: Vec<Slot>,
    /// How long a failed server is tried only after the others.
    retry_after: Duration,
}

struct Slot {
    pool: ConnectionPool,
    health: Mutex<Health>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    Up,
    /// Failed: tried only after the healthy servers until `retry_at`, when one request may
    /// try it first again (and moves `retry_at` on, so that the others do not).
    Down {
        retry_at: Instant,
    },
}

/// Whether a failure on one server is a reason to try the next one.
enum Verdict {
    /// The server answered (maybe with an error that any server would give): done.
    Answered,
    /// The server is unreachable, hung or unavailable: mark it and try the next.
    ServerFailed,
}

impl ServerSet {
    /// Builds one server and pool per configured URL. Nothing connects yet.
    pub fn from_config(config: &LdapConfig) -> Self {
        let tls = TlsSettings::from_config(config);
        let connect_timeout = Duration::from_secs(config.connect_timeout.max(1));
        let operation_timeout = Duration::from_secs(config.operation_timeout.max(1));
        let slots = config
            .server_urls()
            .into_iter()
            .map(|url| Slot {
                pool: ConnectionPool::new(
                    LdapServer::new(url, connect_timeout, operation_timeout, tls.clone()),
                    config.bind_dn.clone(),
                    config.bind_password.clone(),
                    config.pool_size.max(1),
                ),
                health: Mutex::new(Health::Up),
            })
            .collect();
        ServerSet {
            slots,
            retry_after: Duration::from_secs(config.retry_after),
        }
    }

    /// The URLs, in the order they are preferred.
    /// Records every server's bind and search latencies in `metrics`.
    pub fn attach_metrics(&mut self, metrics: &LdapMetrics) {
        for slot in &mut self.slots {
            let server = slot.pool.server_mut();
            server.timings = metrics.server(&server.url);
        }
    }

    /// Each server's health and pool, as the metrics endpoint reports them.
    pub fn samples(&self) -> Vec<LdapServerSample> {
        self.slots
            .iter()
            .map(|slot| LdapServerSample {
                url: slot.pool.server().url.clone(),
                up: *slot.health.lock().unwrap_or_else(PoisonError::into_inner) == Health::Up,
                pool_in_use: slot.pool.in_use(),
                pool_idle: slot.pool.idle_count(),
            })
            .collect()
    }

    pub fn urls(&self) -> Vec<&str> {
        self.slots.iter().map(|slot| slot.pool.server().url.as_str()).collect()
    }

    /// Runs `operation` on a service-account connection (pooled when possible) and hands the
    /// connection back on success. A pooled connection that turns out to be broken is
    /// replaced once on the same server; a server that fails (unreachable, timed out,
    /// unavailable) is marked and the operation runs again on the next one.
    pub async fn with_service_connection<'s, T, F, Fut>(&'s self, operation: F) -> Result<T, DirectoryError>
    where
        F: Fn(&'s LdapServer, Ldap) -> Fut,
        Fut: Future<Output = Result<T, OperationFailure>>,
    {
        let mut failures = Vec::new();
        for index in self.attempt_order() {
            let Some(slot) = self.slots.get(index) else {
                continue;
            };
            let pool = &slot.pool;
            let mut connection = match pool.acquire().await {
                Ok(connection) => connection,
                Err(error) => match self.judge(index, connect_verdict(&error), &error) {
                    Verdict::ServerFailed => {
                        failures.push(error);
                        continue;
                    }
                    Verdict::Answered => return Err(error),
                },
            };
            loop {
                match operation(pool.server(), connection.handle()).await {
                    Ok(value) => {
                        pool.release(connection);
                        self.mark_up(index);
                        return Ok(value);
                    }
                    Err(failure) if failure.connection_lost && connection.reused => {
                        tracing::debug!(
                            url = %pool.server().url,
                            error = %failure.error,
                            "pooled LDAP connection was broken; retrying on a new one"
                        );
                        match pool.open().await {
                            Ok(fresh) => connection = fresh,
                            Err(error) => match self.judge(index, connect_verdict(&error), &error) {
                                Verdict::ServerFailed => {
                                    failures.push(error);
                                    break;
                                }
                                Verdict::Answered => return Err(error),
                            },
                        }
                    }
                    Err(failure) => match self.judge(index, operation_verdict(&failure.error), &failure.error) {
                        Verdict::ServerFailed => {
                            failures.push(failure.error);
                            break;
                        }
                        Verdict::Answered => return Err(failure.error),
                    },
                }
            }
        }
        Err(combine(failures))
    }

    /// Runs `operation` on a new, anonymous connection that is closed afterwards and never
    /// pooled: password checks bind on it as the person. A server that cannot be reached,
    /// times out or is unavailable is marked and the operation runs again on the next one.
    pub async fn with_fresh_connection<'s, T, F, Fut>(&'s self, operation: F) -> Result<T, DirectoryError>
    where
        F: Fn(&'s LdapServer, Ldap) -> Fut,
        Fut: Future<Output = Result<T, OperationFailure>>,
    {
        let mut failures = Vec::new();
        for index in self.attempt_order() {
            let Some(slot) = self.slots.get(index) else {
                continue;
            };
            let server = slot.pool.server();
            let ldap = match server.connect().await {
                Ok(ldap) => ldap,
                Err(error) => match self.judge(index, connect_verdict(&error), &error) {
                    Verdict::ServerFailed => {
                        failures.push(error);
                        continue;
                    }
                    Verdict::Answered => return Err(error),
                },
            };
            let outcome = operation(server, ldap.clone()).await;
            match outcome {
                Ok(value) => {
                    server.unbind(ldap).await;
                    self.mark_up(index);
                    return Ok(value);
                }
                Err(failure) => match self.judge(index, operation_verdict(&failure.error), &failure.error) {
                    // Dropping the last handle closes the connection without waiting on
                    // a server that already failed.
                    Verdict::ServerFailed => failures.push(failure.error),
                    Verdict::Answered => {
                        server.unbind(ldap).await;
                        return Err(failure.error);
                    }
                },
            }
        }
        Err(combine(failures))
    }

    /// Healthy servers and those due for another try, in the configured order; then the
    /// ones being skipped, longest-failed first.
    fn attempt_order(&self) -> Vec<usize> {
        self.attempt_order_at(Instant::now())
    }

    fn attempt_order_at(&self, now: Instant) -> Vec<usize> {
        let mut first = Vec::with_capacity(self.slots.len());
        let mut skipped = Vec::new();
        for (index, slot) in self.slots.iter().enumerate() {
            let mut health = slot.health.lock().unwrap_or_else(PoisonError::into_inner);
            match *health {
                Health::Up => first.push(index),
                Health::Down { retry_at } if retry_at <= now => {
                    // This request tries it again; until it knows, the others skip it.
                    *health = Health::Down {
                        retry_at: now + self.retry_after,
                    };
                    first.push(index);
                }
                Health::Down { retry_at } => skipped.push((retry_at, index)),
            }
        }
        skipped.sort();
        first.extend(skipped.into_iter().map(|(_, index)| index));
        first
    }

    /// Records what a failure says about the server and whether to try the next one.
    fn judge(&self, index: usize, verdict: Verdict, error: &DirectoryError) -> Verdict {
        match verdict {
            Verdict::ServerFailed => self.mark_down(index, error, Instant::now()),
            Verdict::Answered => self.mark_up(index),
        }
        verdict
    }

    fn mark_down(&self, index: usize, error: &DirectoryError, now: Instant) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        let retry_at = now + self.retry_after;
        let was = std::mem::replace(
            &mut *slot.health.lock().unwrap_or_else(PoisonError::into_inner),
            Health::Down { retry_at },
        );
        slot.pool.clear();
        let alternatives = self.slots.len() > 1;
        match was {
            Health::Up if alternatives => tracing::warn!(
                url = %slot.pool.server().url,
                error = %error,
                "directory server failed; the other servers are tried first for the next {}",
                describe_duration(self.retry_after)
            ),
            Health::Up => tracing::warn!(url = %slot.pool.server().url, error = %error, "directory server failed"),
            Health::Down { .. } => tracing::debug!(
                url = %slot.pool.server().url,
                error = %error,
                "directory server still failing"
            ),
        }
    }

    fn mark_up(&self, index: usize) {
        let Some(slot) = self.slots.get(index) else {
            return;
        };
        let was = std::mem::replace(
            &mut *slot.health.lock().unwrap_or_else(PoisonError::into_inner),
            Health::Up,
        );
        if was != Health::Up {
            tracing::info!(url = %slot.pool.server().url, "directory server answers again");
            // The servers after it were standing in; their idle connections are not needed.
            for later in self.slots.iter().skip(index + 1) {
                later.pool.clear();
            }
        }
    }

    #[cfg(test)]
    fn is_skipped(&self, index: usize, now: Instant) -> bool {
        self.slots.get(index).is_some_and(|slot| {
            matches!(*slot.health.lock().unwrap_or_else(PoisonError::into_inner),
                Health::Down { retry_at } if retry_at > now)
        })
    }
}

/// Opening a connection fails with `Unavailable` (unreachable, TLS, timed out, the service
/// bind unanswered), `Configuration` (an unusable URL, CA file) or `ServiceBind` (the
/// account was refused: every server would say the same).
fn connect_verdict(error: &DirectoryError) -> Verdict {
    match error {
        DirectoryError::Unavailable(_) | DirectoryError::Configuration(_) => Verdict::ServerFailed,
        _ => Verdict::Answered,
    }
}

/// An operation that timed out, lost its connection or was refused as busy/unavailable
/// failed because of the server; anything else is the answer.
fn operation_verdict(error: &DirectoryError) -> Verdict {
    if error.is_unavailable() {
        Verdict::ServerFailed
    } else {
        Verdict::Answered
    }
}

/// One failure as it is; several as one message naming each server's problem, unless one
/// of them is a configuration problem, which is the one to fix first.
fn combine(mut failures: Vec<DirectoryError>) -> DirectoryError {
    if failures.len() <= 1 {
        return failures
            .pop()
            .unwrap_or_else(|| DirectoryError::Configuration("no directory server is configured (ldap.url)".into()));
    }
    if let Some(position) = failures.iter().position(|error| !error.is_unavailable()) {
        return failures.swap_remove(position);
    }
    let each: Vec<String> = failures.iter().map(ToString::to_string).collect();
    DirectoryError::Unavailable(format!("no directory server is available: {}", each.join("; ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn dead_url() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        format!("ldap://127.0.0.1:{port}")
    }

    fn set(urls: &[&str], retry_after: u64) -> ServerSet {
        let (first, rest) = urls.split_first().expect("at least one URL");
        ServerSet::from_config(&LdapConfig {
            url: (*first).to_string(),
            urls: rest.iter().map(|url| url.to_string()).collect(),
            retry_after,
            bind_dn: "cn=reader,dc=example,dc=org".into(),
            bind_password: Secret::new("not-shown"),
            base_dn: "dc=example,dc=org".into(),
            connect_timeout: 1,
            operation_timeout: 1,
            ..LdapConfig::default()
        })
    }

    #[test]
    fn urls_keep_the_configured_order() {
        let servers = set(&["ldap://a.example", "ldap://b.example", "ldaps://c.example"], 30);
        assert_eq!(
            servers.urls(),
            ["ldap://a.example", "ldap://b.example", "ldaps://c.example"]
        );
        assert_eq!(servers.attempt_order(), [0, 1, 2]);
    }

    #[test]
    fn a_failed_server_goes_last_then_gets_one_retry() {
        let servers = set(&["ldap://a.example", "ldap://b.example", "ldap://c.example"], 30);
        let start = Instant::now();
        let down = DirectoryError::Unavailable("down".into());
        servers.mark_down(0, &down, start);
        servers.mark_down(1, &down, start + Duration::from_secs(1));
        let soon = start + Duration::from_secs(2);
        assert!(servers.is_skipped(0, soon) && servers.is_skipped(1, soon) && !servers.is_skipped(2, soon));
        // Skipped servers come after the healthy one, the one that failed first first.
        assert_eq!(servers.attempt_order_at(soon), [2, 0, 1]);

        let later = start + Duration::from_millis(30_500);
        // Server 0 is due: this request tries it first, in its configured place...
        assert_eq!(servers.attempt_order_at(later), [0, 2, 1]);
        // ...and a concurrent one still skips it until that try has an outcome.
        assert_eq!(servers.attempt_order_at(later), [2, 1, 0]);
        servers.mark_up(0);
        assert_eq!(servers.attempt_order_at(later), [0, 2, 1]);
    }

    #[tokio::test]
    async fn dead_servers_are_reported_together_and_skipped_next_time() {
        let (first, second) = (dead_url(), dead_url());
        let servers = set(&[&first, &second], 30);
        let error = servers
            .with_fresh_connection(|_, _| async { Ok(()) })
            .await
            .expect_err("nothing listens");
        assert_eq!(
            error,
            DirectoryError::Unavailable(format!(
                "no directory server is available: cannot connect to {first}: connection refused; \
                 cannot connect to {second}: connection refused"
            ))
        );
        let now = Instant::now();
        assert!(servers.is_skipped(0, now) && servers.is_skipped(1, now));
        // Both are still tried while every server is skipped: none is given up on.
        let error = servers
            .with_service_connection(|_, _| async { Ok(()) })
            .await
            .expect_err("nothing listens");
        assert!(error.is_unavailable(), "{error:?}");
        assert!(!error.to_string().contains("not-shown"));
    }

    #[test]
    fn a_configuration_problem_outranks_outages() {
        let combined = combine(vec![
            DirectoryError::Unavailable("cannot connect to ldap://a: connection refused".into()),
            DirectoryError::Configuration("cannot read the CA file".into()),
        ]);
        assert_eq!(
            combined,
            DirectoryError::Configuration("cannot read the CA file".into())
        );
        let single = combine(vec![DirectoryError::Unavailable("x".into())]);
        assert_eq!(single, DirectoryError::Unavailable("x".into()));
    }
}
