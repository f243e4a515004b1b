//! One LDAP server: opening connections (plain, StartTLS or ldaps://) and running single
//! operations on them, each bounded by the configured timeouts, with failures translated
//! into operator language.

use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, LdapResult, Scope, SearchEntry, SearchOptions};

use super::directory_error::{describe_result_code, DirectoryError};
use super::tls::{describe_tls_error, tls_error_in, TlsSettings};
use crate::metrics::LdapServerTimings;

/// Where a directory server is, how to secure the connection and how long it may take.
#[derive(Debug, Clone)]
pub(crate) struct LdapServer {
    pub url: String,
    /// Opening a connection: name resolution, TCP, StartTLS and the TLS handshake.
    pub connect_timeout: Duration,
    /// One bind or one whole search.
    pub operation_timeout: Duration,
    pub tls: TlsSettings,
    /// Where bind and search latencies go (nowhere unless metrics are attached).
    pub timings: LdapServerTimings,
}

/// A failed operation on an open connection.
#[derive(Debug)]
pub(crate) struct OperationFailure {
    pub error: DirectoryError,
    /// The connection broke (closed or reset, not a timeout): a request on a pooled
    /// connection that fails like this is worth retrying once on a new connection.
    pub connection_lost: bool,
}

/// Which step of the work an operation is, for messages.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Step {
    ServiceBind,
    UserSearch,
    PasswordCheck,
    GroupSearch,
    BaseRead,
}

impl Step {
    fn describe(self) -> &'static str {
        match self {
            Step::ServiceBind => "the service account bind",
            Step::UserSearch => "the user search",
            Step::PasswordCheck => "the password check",
            Step::GroupSearch => "the group search",
            Step::BaseRead => "the read of the search base",
        }
    }
}

/// One search: where, how deep, what, and at most how many entries.
pub(crate) struct SearchRequest<'a> {
    pub base: &'a str,
    pub scope: Scope,
    pub filter: &'a str,
    pub attributes: &'a [String],
    pub size_limit: i32,
}

/// What a search returned: the entries and the final result (whose code the caller judges).
pub(crate) struct SearchOutcome {
    pub entries: Vec<SearchEntry>,
    pub result: LdapResult,
}

impl LdapServer {
    pub fn new(url: &str, connect_timeout: Duration, operation_timeout: Duration, tls: TlsSettings) -> Self {
        LdapServer {
            url: url.to_string(),
            connect_timeout,
            operation_timeout,
            tls,
            timings: LdapServerTimings::default(),
        }
    }

    /// Opens a connection (plain, StartTLS, or TLS for ldaps://) within the connect timeout.
    /// Nothing is bound yet: the connection is anonymous.
    pub async fn connect(&self) -> Result<Ldap, DirectoryError> {
        self.check_url()?;
        let settings = self.tls.apply(
            LdapConnSettings::new().set_conn_timeout(self.connect_timeout),
            &self.url,
        )?;
        // ldap3 applies the timeout to name resolution, the TCP connect, StartTLS and the TLS
        // handshake together; the outer one is a guard should that ever change.
        let attempt =
            tokio::time::timeout(self.connect_timeout, LdapConnAsync::with_settings(settings, &self.url)).await;
        let (connection, ldap) = match attempt {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => return Err(self.connect_error(e)),
            Err(_) => return Err(self.connect_timed_out()),
        };
        let url = self.url.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.drive().await {
                tracing::debug!(url = %url, error = %e, "LDAP connection ended with an error");
            }
        });
        Ok(ldap)
    }

    /// A simple bind; the caller judges the result code. The password is only sent to the
    /// server, never into a message.
    pub async fn bind(
        &self,
        ldap: &mut Ldap,
        dn: &str,
        password: &str,
        step: Step,
    ) -> Result<LdapResult, OperationFailure> {
        let operation = ldap.with_timeout(self.operation_timeout).simple_bind(dn, password);
        let started = tokio::time::Instant::now();
        let outcome = tokio::time::timeout(self.operation_timeout, operation).await;
        self.timings.observe_bind(started.elapsed());
        match outcome {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(e)) => Err(self.operation_error(e, step)),
            Err(_) => Err(self.operation_timed_out(step)),
        }
    }

    /// A search whose whole run (not only each reply) is bounded by the operation timeout.
    pub async fn search(
        &self,
        ldap: &mut Ldap,
        request: SearchRequest<'_>,
        step: Step,
    ) -> Result<SearchOutcome, OperationFailure> {
        let time_limit = i32::try_from(self.operation_timeout.as_secs().max(1)).unwrap_or(i32::MAX);
        let options = SearchOptions::new().sizelimit(request.size_limit).timelimit(time_limit);
        let filter = request.filter;
        let operation = ldap
            .with_search_options(options)
            .with_timeout(self.operation_timeout)
            .search(request.base, request.scope, filter, request.attributes);
        let started = tokio::time::Instant::now();
        let outcome = tokio::time::timeout(self.operation_timeout, operation).await;
        self.timings.observe_search(started.elapsed());
        match outcome {
            Ok(Ok(found)) => Ok(SearchOutcome {
                entries: found.0.into_iter().map(SearchEntry::construct).collect(),
                result: found.1,
            }),
            Ok(Err(LdapError::FilterParsing)) => Err(OperationFailure {
                error: DirectoryError::Configuration(format!(
                    "the filter for {} is not a valid LDAP filter: {filter}",
                    step.describe()
                )),
                connection_lost: false,
            }),
            Ok(Err(e)) => Err(self.operation_error(e, step)),
            Err(_) => Err(self.operation_timed_out(step)),
        }
    }

    /// A polite goodbye on a connection that will not be used again; failures do not matter
    /// because dropping the handle closes the connection anyway.
    pub async fn unbind(&self, mut ldap: Ldap) {
        let _ = tokio::time::timeout(self.operation_timeout, ldap.unbind()).await;
    }

    /// The result of an operation that answered, when its code says the server is unable
    /// to serve (busy, unavailable) rather than that the request was wrong.
    pub fn unavailable_result(&self, result: &LdapResult, step: Step) -> Option<DirectoryError> {
        matches!(result.rc, 51 | 52).then(|| {
            DirectoryError::Unavailable(format!(
                "{} refused {}: {}",
                self.url,
                step.describe(),
                describe_result_code(result.rc, &result.text)
            ))
        })
    }

    /// ldap3 panics on an ldap:// URL without a host, so that is refused here first.
    fn check_url(&self) -> Result<(), DirectoryError> {
        let url = url::Url::parse(&self.url)
            .map_err(|e| DirectoryError::Configuration(format!("`{}` is not a URL: {e}", self.url)))?;
        match url.scheme() {
            "ldap" | "ldaps" => match url.host_str() {
                Some(host) if !host.is_empty() => Ok(()),
                _ => Err(DirectoryError::Configuration(format!(
                    "`{}` has no host name",
                    self.url
                ))),
            },
            "ldapi" => Ok(()),
            other => Err(DirectoryError::Configuration(format!(
                "`{}` has the scheme {other}; use ldap:// or ldaps://",
                self.url
            ))),
        }
    }

    fn connect_timed_out(&self) -> DirectoryError {
        DirectoryError::Unavailable(format!(
            "cannot connect to {}: no answer within {}",
            self.url,
            describe_duration(self.connect_timeout)
        ))
    }

    fn connect_error(&self, error: LdapError) -> DirectoryError {
        let url = &self.url;
        match error {
            LdapError::Timeout { .. } => self.connect_timed_out(),
            LdapError::Io { source } => DirectoryError::Unavailable(format!(
                "cannot connect to {url}: {}",
                self.describe_connect_io(&source)
            )),
            LdapError::LdapResult { result } => DirectoryError::Unavailable(format!(
                "cannot connect to {url}: StartTLS refused: {}",
                describe_result_code(result.rc, &result.text)
            )),
            // The connection closed while waiting for the StartTLS answer.
            LdapError::EndOfStream | LdapError::ResultRecv { .. } if self.tls.secures(url) => {
                DirectoryError::Unavailable(format!(
                    "cannot connect to {url}: StartTLS failed: the server closed the connection"
                ))
            }
            LdapError::UrlParsing { .. } | LdapError::UnknownScheme(_) => {
                DirectoryError::Configuration(format!("`{url}` is not a usable LDAP URL: {error}"))
            }
            LdapError::Rustls { source } => DirectoryError::Unavailable(format!(
                "cannot connect to {url}: TLS failed: {}",
                describe_tls_error(&source)
            )),
            LdapError::DNSName { source } => {
                DirectoryError::Configuration(format!("`{url}`: the host is not a valid TLS server name: {source}"))
            }
            other => DirectoryError::Unavailable(format!("cannot connect to {url}: {other}")),
        }
    }

    /// A socket error while connecting: name resolution, the TCP connect, or the TLS
    /// handshake (whose rustls error travels inside the I/O error).
    fn describe_connect_io(&self, error: &std::io::Error) -> String {
        if let Some(tls) = tls_error_in(error) {
            return format!("TLS failed: {}", describe_tls_error(tls));
        }
        if error.to_string().contains("failed to lookup address") {
            let host = url::Url::parse(&self.url)
                .ok()
                .and_then(|url| url.host_str().map(str::to_string))
                .unwrap_or_default();
            return format!("cannot resolve the host name {host}: {}", lookup_failure_reason(error));
        }
        if error.kind() == std::io::ErrorKind::UnexpectedEof && self.tls.secures(&self.url) {
            return "TLS failed: the server closed the connection during the handshake \
                    (is this an ldap:// port used as ldaps://, or is TLS not set up on the server?)"
                .into();
        }
        describe_io_error(error)
    }

    fn operation_timed_out(&self, step: Step) -> OperationFailure {
        OperationFailure {
            error: DirectoryError::Unavailable(format!(
                "{} did not answer {} within {}",
                self.url,
                step.describe(),
                describe_duration(self.operation_timeout)
            )),
            connection_lost: false,
        }
    }

    fn operation_error(&self, error: LdapError, step: Step) -> OperationFailure {
        match error {
            LdapError::Timeout { .. } => self.operation_timed_out(step),
            LdapError::Io { source } => OperationFailure {
                error: DirectoryError::Unavailable(format!(
                    "connection to {} lost during {}: {}",
                    self.url,
                    step.describe(),
                    describe_io_error(&source)
                )),
                connection_lost: true,
            },
            LdapError::OpSend { .. }
            | LdapError::ResultRecv { .. }
            | LdapError::IdScrubSend { .. }
            | LdapError::MiscSend { .. }
            | LdapError::EndOfStream => OperationFailure {
                error: DirectoryError::Unavailable(format!(
                    "connection to {} lost during {}",
                    self.url,
                    step.describe()
                )),
                connection_lost: true,
            },
            other => OperationFailure {
                error: DirectoryError::Unavailable(format!("{} failed during {}: {other}", self.url, step.describe())),
                connection_lost: false,
            },
        }
    }
}

/// "5 s", "1.5 s".
pub(crate) fn describe_duration(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{:.1} s", duration.as_secs_f64())
    }
}

/// "failed to lookup address information: Name or service not known" -> the part after the colon.
fn lookup_failure_reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.split_once(": ") {
        Some((_, reason)) => reason.to_string(),
        None => text,
    }
}

/// The common socket errors in plain words; anything else as the system says it.
fn describe_io_error(error: &std::io::Error) -> String {
    use std::io::ErrorKind;
    let words = match error.kind() {
        ErrorKind::ConnectionRefused => "connection refused",
        ErrorKind::ConnectionReset => "connection reset",
        ErrorKind::ConnectionAborted => "connection aborted",
        ErrorKind::NotConnected => "not connected",
        ErrorKind::BrokenPipe => "connection closed",
        ErrorKind::UnexpectedEof => "connection closed",
        ErrorKind::TimedOut => "timed out",
        ErrorKind::AddrNotAvailable => "address not available",
        ErrorKind::HostUnreachable => "host unreachable",
        ErrorKind::NetworkUnreachable => "network unreachable",
        ErrorKind::PermissionDenied => "permission denied",
        _ => return error.to_string(),
    };
    words.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(url: &str) -> LdapServer {
        LdapServer::new(
            url,
            Duration::from_secs(2),
            Duration::from_millis(1500),
            TlsSettings::plain(),
        )
    }

    #[test]
    fn durations_read_plainly() {
        assert_eq!(describe_duration(Duration::from_secs(5)), "5 s");
        assert_eq!(describe_duration(Duration::from_millis(1500)), "1.5 s");
    }

    #[test]
    fn unusable_urls_are_configuration_errors() {
        for url in ["ldap:///", "http://example.org", "not a url"] {
            assert!(
                matches!(server(url).check_url(), Err(DirectoryError::Configuration(_))),
                "{url}"
            );
        }
        assert!(server("ldaps://ldap.example.org:636").check_url().is_ok());
    }

    #[test]
    fn socket_errors_read_plainly() {
        let refused = LdapError::Io {
            source: std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
        };
        assert_eq!(
            server("ldap://127.0.0.1:1389").connect_error(refused),
            DirectoryError::Unavailable("cannot connect to ldap://127.0.0.1:1389: connection refused".into())
        );
        let lost = server("ldap://h").operation_error(LdapError::EndOfStream, Step::UserSearch);
        assert!(lost.connection_lost);
        assert_eq!(
            lost.error.to_string(),
            "connection to ldap://h lost during the user search"
        );
        let slow = server("ldap://h").operation_timed_out(Step::GroupSearch);
        assert!(!slow.connection_lost);
        assert_eq!(
            slow.error.to_string(),
            "ldap://h did not answer the group search within 1.5 s"
        );
    }

    #[test]
    fn name_resolution_and_tls_failures_read_plainly() {
        let unresolved = LdapError::Io {
            source: std::io::Error::other("failed to lookup address information: Name or service not known"),
        };
        assert_eq!(
            server("ldap://ldap.example.invalid:389")
                .connect_error(unresolved)
                .to_string(),
            "cannot connect to ldap://ldap.example.invalid:389: cannot resolve the host name ldap.example.invalid: \
             Name or service not known"
        );
        let untrusted = LdapError::Io {
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
            ),
        };
        assert_eq!(
            server("ldaps://ldap.example.org").connect_error(untrusted).to_string(),
            "cannot connect to ldaps://ldap.example.org: TLS failed: certificate not trusted: unknown issuer \
             (add the CA that signed it to ldap.ca_file)"
        );
        let closed = LdapError::Io {
            source: std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "tls handshake eof"),
        };
        assert!(server("ldaps://ldap.example.org")
            .connect_error(closed)
            .to_string()
            .starts_with("cannot connect to ldaps://ldap.example.org: TLS failed: the server closed the connection"));
    }
}
