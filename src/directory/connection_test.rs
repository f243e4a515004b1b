//! "Test connection": what an administrator runs before saving LDAP settings. Every server
//! URL is tried step by step (name resolution, TCP connect, TLS, service bind, search
//! base), then a sample user is searched as the service account with the configured filter
//! (no password needed) and mapped to claims and groups. Each step says in plain words what
//! worked or precisely what failed. The bind password never appears in a report.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ldap3::{Ldap, Scope, SearchEntry};
use url::{Host, Url};

use super::connection::{describe_duration, LdapServer, SearchRequest, Step};
use super::directory_error::describe_result_code;
use super::directory_user::DirectoryUser;
use super::entry_mapping::{map_user, requested_attributes};
use super::search_filters::user_search_filter;
use super::tls::TlsSettings;
use super::{Directory, LdapDirectory};
use crate::clock::SystemClock;
use crate::config::{GroupSource, LdapConfig};

const NO_SUCH_OBJECT: u32 = 32;
const INVALID_CREDENTIALS: u32 = 49;
const SIZE_LIMIT_EXCEEDED: u32 = 4;
/// Longer sample names are refused without a search, as at sign-in.
const MAX_SAMPLE_BYTES: usize = 256;

/// One step of the test and how it went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConnectionStep {
    /// `settings`, `name resolution`, `connect`, `TLS`, `service bind`, `search base`,
    /// `user search`, `claims` or `groups`.
    pub name: &'static str,
    pub ok: bool,
    /// What worked, or precisely what failed, in plain words.
    pub detail: String,
}

/// Every step in order, and the sample user as Gatehouse would see them (claims and groups)
/// when they could be found and mapped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionReport {
    pub steps: Vec<ConnectionStep>,
    pub user: Option<DirectoryUser>,
}

impl ConnectionReport {
    /// Every step worked (each server answered, and the sample user was found and mapped).
    pub fn ok(&self) -> bool {
        !self.steps.is_empty() && self.steps.iter().all(|step| step.ok) && self.user.is_some()
    }

    /// The first step that failed.
    pub fn first_failure(&self) -> Option<&ConnectionStep> {
        self.steps.iter().find(|step| !step.ok)
    }

    fn pass(&mut self, name: &'static str, detail: impl Into<String>) {
        self.steps.push(ConnectionStep {
            name,
            ok: true,
            detail: detail.into(),
        });
    }

    fn fail(&mut self, name: &'static str, detail: impl Into<String>) {
        self.steps.push(ConnectionStep {
            name,
            ok: false,
            detail: detail.into(),
        });
    }
}

/// Tests `settings` against every configured server, then looks `sample_username` up (as
/// the service account, with the configured filter) and maps their claims and groups.
pub async fn test_connection(settings: &LdapConfig, sample_username: &str) -> ConnectionReport {
    let mut report = ConnectionReport {
        steps: Vec::new(),
        user: None,
    };
    let mut problems = Vec::new();
    settings.validate(&mut problems);
    if !problems.is_empty() {
        report.fail("settings", problems.join("; "));
        return report;
    }
    let tls = TlsSettings::from_config(settings);
    let connect_timeout = Duration::from_secs(settings.connect_timeout.max(1));
    let operation_timeout = Duration::from_secs(settings.operation_timeout.max(1));
    // The user is searched on the first server that passed every step.
    let mut working: Option<(LdapServer, Ldap)> = None;
    for url in settings.server_urls() {
        let server = LdapServer::new(url, connect_timeout, operation_timeout, tls.clone());
        if let Some(ldap) = test_server(&server, settings, &mut report).await {
            match &working {
                None => working = Some((server, ldap)),
                Some(_) => server.unbind(ldap).await,
            }
        }
    }
    let Some((server, ldap)) = working else {
        report.fail(
            "user search",
            format!("not tried: no server passed every step, so `{sample_username}` was not searched"),
        );
        return report;
    };
    let entry = search_sample_user(&server, ldap.clone(), settings, sample_username, &mut report).await;
    server.unbind(ldap).await;
    if let Some(entry) = entry {
        report.user = map_sample_user(&entry, settings, sample_username, &mut report).await;
    }
    report
}

/// The connection steps against one server; the bound connection when all of them worked.
async fn test_server(server: &LdapServer, settings: &LdapConfig, report: &mut ConnectionReport) -> Option<Ldap> {
    let url = server.url.as_str();
    let addresses = resolve(server, report).await?;
    connect_tcp(server, &addresses, report).await?;
    let secured = server.tls.secures(url);
    let mut ldap = match server.connect().await {
        Ok(ldap) => {
            if secured {
                let how = if url.to_ascii_lowercase().starts_with("ldaps://") {
                    "TLS handshake"
                } else {
                    "StartTLS"
                };
                let verified = if settings.tls_verify {
                    "the certificate is trusted and matches the host name"
                } else {
                    "the certificate was NOT verified (tls_verify = false)"
                };
                report.pass("TLS", format!("{url}: {how} done; {verified}"));
            }
            ldap
        }
        Err(error) => {
            report.fail(if secured { "TLS" } else { "connect" }, format!("{url}: {error}"));
            return None;
        }
    };
    if !service_bind(server, &mut ldap, settings, report).await
        || !read_base(server, ldap.clone(), settings, report).await
    {
        server.unbind(ldap).await;
        return None;
    }
    Some(ldap)
}

/// The addresses of the server's host (an IP address needs no resolution).
async fn resolve(server: &LdapServer, report: &mut ConnectionReport) -> Option<Vec<SocketAddr>> {
    let url = server.url.as_str();
    let parsed = match Url::parse(url) {
        Ok(parsed) => parsed,
        Err(error) => {
            report.fail("name resolution", format!("`{url}` is not a URL: {error}"));
            return None;
        }
    };
    let default_port = if parsed.scheme().eq_ignore_ascii_case("ldaps") {
        636
    } else {
        389
    };
    let port = parsed.port().unwrap_or(default_port);
    match parsed.host() {
        Some(Host::Ipv4(ip)) => {
            report.pass(
                "name resolution",
                format!("{url}: {ip} is an address, nothing to resolve"),
            );
            Some(vec![SocketAddr::from((ip, port))])
        }
        Some(Host::Ipv6(ip)) => {
            report.pass(
                "name resolution",
                format!("{url}: {ip} is an address, nothing to resolve"),
            );
            Some(vec![SocketAddr::from((ip, port))])
        }
        Some(Host::Domain(host)) => {
            let lookup = tokio::time::timeout(server.connect_timeout, tokio::net::lookup_host((host, port))).await;
            match lookup {
                Ok(Ok(found)) => {
                    let addresses: Vec<SocketAddr> = found.collect();
                    if addresses.is_empty() {
                        report.fail("name resolution", format!("{url}: the host name {host} has no address"));
                        return None;
                    }
                    let listed: Vec<String> = addresses.iter().map(|a| a.ip().to_string()).collect();
                    report.pass("name resolution", format!("{url}: {host} is {}", listed.join(", ")));
                    Some(addresses)
                }
                Ok(Err(error)) => {
                    report.fail(
                        "name resolution",
                        format!("{url}: cannot resolve the host name {host}: {error}"),
                    );
                    None
                }
                Err(_) => {
                    report.fail(
                        "name resolution",
                        format!(
                            "{url}: resolving {host} took longer than {}",
                            describe_duration(server.connect_timeout)
                        ),
                    );
                    None
                }
            }
        }
        None => {
            report.fail("name resolution", format!("`{url}` has no host name"));
            None
        }
    }
}

/// A plain TCP connection to one of the addresses, closed at once.
async fn connect_tcp(server: &LdapServer, addresses: &[SocketAddr], report: &mut ConnectionReport) -> Option<()> {
    let url = server.url.as_str();
    let mut failures = Vec::new();
    for address in addresses {
        match tokio::time::timeout(server.connect_timeout, tokio::net::TcpStream::connect(address)).await {
            Ok(Ok(_stream)) => {
                report.pass("connect", format!("{url}: {address} accepts connections"));
                return Some(());
            }
            Ok(Err(error)) => {
                let why = match error.kind() {
                    std::io::ErrorKind::ConnectionRefused => {
                        "connection refused (is the server running, and is this its port?)".to_string()
                    }
                    _ => error.to_string(),
                };
                failures.push(format!("{address}: {why}"));
            }
            Err(_) => failures.push(format!(
                "{address}: no answer within {} (a firewall, or a hung server?)",
                describe_duration(server.connect_timeout)
            )),
        }
    }
    report.fail("connect", format!("cannot connect to {url}: {}", failures.join("; ")));
    None
}

/// Binds as the service account (or notes that searches are anonymous).
async fn service_bind(
    server: &LdapServer,
    ldap: &mut Ldap,
    settings: &LdapConfig,
    report: &mut ConnectionReport,
) -> bool {
    let url = server.url.as_str();
    if settings.bind_dn.is_empty() {
        report.pass(
            "service bind",
            format!("{url}: no service account (bind_dn) is set; searching anonymously"),
        );
        return true;
    }
    let dn = &settings.bind_dn;
    match server
        .bind(ldap, dn, settings.bind_password.expose(), Step::ServiceBind)
        .await
    {
        Ok(result) if result.rc == 0 => {
            report.pass("service bind", format!("{url}: bound as {dn}"));
            true
        }
        Ok(result) if result.rc == INVALID_CREDENTIALS => {
            report.fail(
                "service bind",
                format!(
                    "{url}: the directory refused the service account {dn}: the DN or the bind password is wrong ({})",
                    describe_result_code(result.rc, &result.text)
                ),
            );
            false
        }
        Ok(result) => {
            report.fail(
                "service bind",
                format!(
                    "{url}: binding as {dn} failed: {}",
                    describe_result_code(result.rc, &result.text)
                ),
            );
            false
        }
        Err(failure) => {
            report.fail("service bind", format!("{url}: {}", failure.error));
            false
        }
    }
}

/// Reads the search base entry itself.
async fn read_base(server: &LdapServer, mut ldap: Ldap, settings: &LdapConfig, report: &mut ConnectionReport) -> bool {
    let url = server.url.as_str();
    let base = &settings.base_dn;
    let no_attributes = ["1.1".to_string()];
    let outcome = server
        .search(
            &mut ldap,
            SearchRequest {
                base,
                scope: Scope::Base,
                filter: "(objectClass=*)",
                attributes: &no_attributes,
                size_limit: 1,
            },
            Step::BaseRead,
        )
        .await;
    let detail = match outcome {
        Ok(outcome) => match (outcome.result.rc, outcome.entries.len()) {
            (0, 1) => {
                report.pass("search base", format!("{url}: {base} exists"));
                return true;
            }
            (0, _) => format!("{url}: the search base {base} is not visible to the service account"),
            (NO_SUCH_OBJECT, _) => format!("{url}: the search base {base} does not exist"),
            (rc, _) => format!(
                "{url}: reading the search base {base} failed: {}",
                describe_result_code(rc, &outcome.result.text)
            ),
        },
        Err(failure) => format!("{url}: {}", failure.error),
    };
    report.fail("search base", detail);
    false
}

/// Searches the sample user with the configured filter: exactly one entry is expected.
async fn search_sample_user(
    server: &LdapServer,
    mut ldap: Ldap,
    settings: &LdapConfig,
    username: &str,
    report: &mut ConnectionReport,
) -> Option<SearchEntry> {
    if username.trim().is_empty() || username.len() > MAX_SAMPLE_BYTES || username.chars().any(char::is_control) {
        report.fail("user search", "name a sample user to look up (a sign-in name)");
        return None;
    }
    let template = settings.effective_user_filter();
    let filter = user_search_filter(&template, username);
    let attributes = requested_attributes(settings);
    let base = &settings.base_dn;
    let outcome = server
        .search(
            &mut ldap,
            SearchRequest {
                base,
                scope: Scope::Subtree,
                filter: &filter,
                attributes: &attributes,
                size_limit: 2,
            },
            Step::UserSearch,
        )
        .await;
    let mut entries = match outcome {
        Ok(outcome) if outcome.result.rc == 0 || outcome.result.rc == SIZE_LIMIT_EXCEEDED => outcome.entries,
        Ok(outcome) => {
            report.fail(
                "user search",
                format!(
                    "searching under {base} with the filter {filter} failed: {}",
                    describe_result_code(outcome.result.rc, &outcome.result.text)
                ),
            );
            return None;
        }
        Err(failure) => {
            report.fail("user search", failure.error.to_string());
            return None;
        }
    };
    match entries.len() {
        0 => {
            report.fail(
                "user search",
                format!(
                    "no entry under {base} matches the filter {filter}: check the name `{username}`, the \
                     search base, the filter and the login attributes"
                ),
            );
            None
        }
        1 => {
            let entry = entries.pop();
            if let Some(entry) = &entry {
                report.pass("user search", format!("the filter {filter} found {}", entry.dn));
            }
            entry
        }
        _ => {
            report.fail(
                "user search",
                format!(
                    "more than one entry under {base} matches the filter {filter}; sign-in would refuse \
                     this name: make the filter or the login attributes unique"
                ),
            );
            None
        }
    }
}

/// Maps the entry to claims, then reads the person again by their stable id, as sessions
/// do later, which also gathers their groups (nested ones included).
async fn map_sample_user(
    entry: &SearchEntry,
    settings: &LdapConfig,
    username: &str,
    report: &mut ConnectionReport,
) -> Option<DirectoryUser> {
    let mapped = match map_user(entry, settings, username, Vec::new()) {
        Ok(user) => user,
        Err(error) => {
            report.fail("claims", error.to_string());
            return None;
        }
    };
    let attributes = &settings.attributes;
    let absent: Vec<&str> = [
        ("name", &attributes.name, &mapped.name),
        ("given_name", &attributes.given_name, &mapped.given_name),
        ("family_name", &attributes.family_name, &mapped.family_name),
        ("email", &attributes.email, &mapped.email),
    ]
    .into_iter()
    .filter(|(_, attribute, value)| !attribute.is_empty() && value.is_none())
    .map(|(_, attribute, _)| attribute.as_str())
    .collect();
    let mut detail = format!(
        "sub {} (from {}), preferred_username {}",
        mapped.id, attributes.id, mapped.username
    );
    if !absent.is_empty() {
        detail.push_str(&format!("; not set on this entry: {}", absent.join(", ")));
    }
    report.pass("claims", detail);

    let directory = LdapDirectory::with_clock(settings.clone(), Arc::new(SystemClock));
    match directory.find_user_by_id(&mapped.id).await {
        Ok(Some(user)) => {
            let detail = match settings.group_source() {
                GroupSource::None => "no group source is configured (groups.base_dn and attributes.member_of are \
                                      empty): the groups claim stays empty"
                    .to_string(),
                _ if user.groups.is_empty() => "the user is in no group".to_string(),
                _ => format!("groups: {}", user.groups.join(", ")),
            };
            report.pass("groups", detail);
            Some(user)
        }
        Ok(None) => {
            report.fail(
                "groups",
                format!(
                    "{} was found by the user filter but not by its id ({} = {}) with the object filter {}: \
                     sessions would end at once; check attributes.id and user_object_filter",
                    mapped.dn, attributes.id, mapped.id, settings.user_object_filter
                ),
            );
            Some(mapped)
        }
        Err(error) => {
            report.fail("groups", format!("reading the groups of {} failed: {error}", mapped.dn));
            Some(mapped)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn invalid_settings_are_reported_before_any_connection() {
        let report = test_connection(&LdapConfig::default(), "alice").await;
        assert!(!report.ok());
        assert_eq!(report.steps.len(), 1);
        assert_eq!(report.steps[0].name, "settings");
        assert!(report.steps[0].detail.contains("`ldap.url` is required"));
        assert!(report.steps[0].detail.contains("`ldap.base_dn` is required"));
    }

    #[tokio::test]
    async fn an_unresolvable_host_fails_at_name_resolution() {
        let settings = LdapConfig {
            url: "ldap://gatehouse-test.invalid:389".into(),
            base_dn: "dc=example,dc=org".into(),
            connect_timeout: 3,
            ..LdapConfig::default()
        };
        let report = test_connection(&settings, "alice").await;
        let failure = report.first_failure().expect("a failure");
        assert_eq!(failure.name, "name resolution", "{report:?}");
        assert!(failure.detail.contains("gatehouse-test.invalid"), "{}", failure.detail);
    }
}
