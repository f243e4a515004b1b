//! Prometheus metrics: one registry per application instance (held in `AppState`, never a
//! process global, so several servers in one process count apart), and the small handles
//! the rest of the code updates. Updates are atomic increments and histogram observations
//! on label sets that are created once (at start, or the first time a registered client or
//! configured server shows up); label values are always bounded: route patterns, never
//! paths; registered clients, never a presented id; configured servers; fixed names.
//!
//! Values that are a state rather than an event (LDAP server health and pools, the
//! database pool, signing-key ages) are read when Prometheus scrapes, from a
//! [`ScrapeSample`] the endpoint gathers.

mod exposition;
mod ldap;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

pub use exposition::{wants_openmetrics, ExpositionFormat};
pub use ldap::{LdapMetrics, LdapServerTimings};

/// Every metric name Gatehouse exports (the sample names of histograms add `_bucket`,
/// `_sum` and `_count`). The dashboard and alerting rules in `deploy/` are checked against
/// this list.
pub const METRIC_NAMES: &[&str] = &[
    "gatehouse_build_info",
    "gatehouse_http_requests_total",
    "gatehouse_http_request_duration_seconds",
    "gatehouse_sign_ins_total",
    "gatehouse_tokens_issued_total",
    "gatehouse_refresh_token_reuse_total",
    "gatehouse_rate_limited_total",
    "gatehouse_ldap_server_up",
    "gatehouse_ldap_bind_duration_seconds",
    "gatehouse_ldap_search_duration_seconds",
    "gatehouse_ldap_pool_connections_in_use",
    "gatehouse_ldap_pool_connections_idle",
    "gatehouse_database_pool_connections",
    "gatehouse_database_pool_connections_idle",
    "gatehouse_signing_key_age_seconds",
    "gatehouse_signing_key_next_rotation_seconds",
];

/// Latency buckets (seconds) for HTTP requests and LDAP operations: 1 ms to 10 s.
const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// How a sign-in attempt ended (`gatehouse_sign_ins_total{outcome}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInOutcome {
    /// Every factor proven; the single sign-on session started.
    Ok,
    /// The directory refused the name or password.
    WrongPassword,
    /// The password was right but the account may not sign in (disabled, locked, expired).
    AccountRefused,
    /// The directory could not be asked.
    DirectoryUnavailable,
    /// A wrong, replayed or missing second-factor code.
    SecondFactorFailed,
    /// Refused by a rate limit or lockout before anything was checked.
    RateLimited,
}

impl SignInOutcome {
    pub const ALL: [SignInOutcome; 6] = [
        SignInOutcome::Ok,
        SignInOutcome::WrongPassword,
        SignInOutcome::AccountRefused,
        SignInOutcome::DirectoryUnavailable,
        SignInOutcome::SecondFactorFailed,
        SignInOutcome::RateLimited,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SignInOutcome::Ok => "ok",
            SignInOutcome::WrongPassword => "wrong_password",
            SignInOutcome::AccountRefused => "account_refused",
            SignInOutcome::DirectoryUnavailable => "directory_unavailable",
            SignInOutcome::SecondFactorFailed => "second_factor_failed",
            SignInOutcome::RateLimited => "rate_limited",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    grant_type: &'static str,
    client_id: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClientLabels {
    client_id: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabels {
    rule: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ServerLabels {
    server: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AlgorithmLabels {
    algorithm: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

struct Inner {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: HistogramFamily<HttpLabels>,
    sign_ins: Family<OutcomeLabels, Counter>,
    tokens_issued: Family<TokenLabels, Counter>,
    refresh_reuse: Family<ClientLabels, Counter>,
    rate_limited: Family<RuleLabels, Counter>,
    ldap: LdapMetrics,
    ldap_up: Family<ServerLabels, Gauge>,
    ldap_in_use: Family<ServerLabels, Gauge>,
    ldap_idle: Family<ServerLabels, Gauge>,
    database_pool: Gauge,
    database_pool_idle: Gauge,
    key_age: Family<AlgorithmLabels, Gauge>,
    key_next_rotation: Family<AlgorithmLabels, Gauge>,
    /// Held while a scrape sets the state gauges and encodes, so two scrapes at once never
    /// see each other's half-set values. Never taken on a request path.
    scrape: Mutex<()>,
}

/// The metrics of one application instance. Cloning is cheap (one `Arc`).
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// The state values read at scrape time.
#[derive(Debug, Clone, Default)]
pub struct ScrapeSample {
    pub ldap_servers: Vec<LdapServerSample>,
    /// Open connections and idle ones of the database pool.
    pub database_pool: Option<(u32, u32)>,
    pub signing_keys: Vec<SigningKeySample>,
}

#[derive(Debug, Clone)]
pub struct LdapServerSample {
    pub url: String,
    pub up: bool,
    pub pool_in_use: usize,
    pub pool_idle: usize,
}

#[derive(Debug, Clone)]
pub struct SigningKeySample {
    pub algorithm: &'static str,
    /// Seconds since the key in use started signing.
    pub age: i64,
    /// Seconds until the next key takes over (negative: overdue).
    pub next_rotation_in: i64,
}

impl Metrics {
    /// A fresh registry for one instance; `version` becomes `gatehouse_build_info{version}`.
    pub fn new(version: &'static str) -> Metrics {
        let mut registry = Registry::default();
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info.get_or_create(&BuildLabels { version }).set(1);
        registry.register(
            "gatehouse_build_info",
            "Always 1; the version of the running Gatehouse in its label",
            build_info,
        );

        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "gatehouse_http_requests",
            "HTTP requests answered, by route pattern, method and status",
            http_requests.clone(),
        );
        let http_duration: HistogramFamily<HttpLabels> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "gatehouse_http_request_duration_seconds",
            "Time to answer an HTTP request, by route pattern, method and status",
            http_duration.clone(),
        );
        let sign_ins = Family::<OutcomeLabels, Counter>::default();
        for outcome in SignInOutcome::ALL {
            let _ = sign_ins.get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            });
        }
        registry.register(
            "gatehouse_sign_ins",
            "Sign-in attempts at the password and second-factor forms, by outcome",
            sign_ins.clone(),
        );
        let tokens_issued = Family::<TokenLabels, Counter>::default();
        registry.register(
            "gatehouse_tokens_issued",
            "Token responses of the token endpoint, by grant type and (registered) client",
            tokens_issued.clone(),
        );
        let refresh_reuse = Family::<ClientLabels, Counter>::default();
        registry.register(
            "gatehouse_refresh_token_reuse",
            "Refresh tokens presented again after their exchange (the whole family is revoked), by client",
            refresh_reuse.clone(),
        );
        let rate_limited = Family::<RuleLabels, Counter>::default();
        registry.register(
            "gatehouse_rate_limited",
            "Requests refused by a rate limit, by rule",
            rate_limited.clone(),
        );

        let ldap = LdapMetrics::register(&mut registry, latency_histogram);
        let ldap_up = Family::<ServerLabels, Gauge>::default();
        registry.register(
            "gatehouse_ldap_server_up",
            "1 while the directory server answers, 0 while it is skipped after a failure",
            ldap_up.clone(),
        );
        let ldap_in_use = Family::<ServerLabels, Gauge>::default();
        registry.register(
            "gatehouse_ldap_pool_connections_in_use",
            "Service-account connections to the directory server in use",
            ldap_in_use.clone(),
        );
        let ldap_idle = Family::<ServerLabels, Gauge>::default();
        registry.register(
            "gatehouse_ldap_pool_connections_idle",
            "Service-account connections to the directory server kept idle for reuse",
            ldap_idle.clone(),
        );
        let database_pool = Gauge::default();
        registry.register(
            "gatehouse_database_pool_connections",
            "Open connections of the database pool",
            database_pool.clone(),
        );
        let database_pool_idle = Gauge::default();
        registry.register(
            "gatehouse_database_pool_connections_idle",
            "Idle connections of the database pool",
            database_pool_idle.clone(),
        );
        let key_age = Family::<AlgorithmLabels, Gauge>::default();
        registry.register(
            "gatehouse_signing_key_age_seconds",
            "Seconds since the signing key in use started signing, by algorithm",
            key_age.clone(),
        );
        let key_next_rotation = Family::<AlgorithmLabels, Gauge>::default();
        registry.register(
            "gatehouse_signing_key_next_rotation_seconds",
            "Seconds until the next signing key takes over, by algorithm (negative: overdue)",
            key_next_rotation.clone(),
        );

        Metrics {
            inner: Arc::new(Inner {
                registry,
                http_requests,
                http_duration,
                sign_ins,
                tokens_issued,
                refresh_reuse,
                rate_limited,
                ldap,
                ldap_up,
                ldap_in_use,
                ldap_idle,
                database_pool,
                database_pool_idle,
                key_age,
                key_next_rotation,
                scrape: Mutex::new(()),
            }),
        }
    }

    /// One answered HTTP request. `route` is the matched route pattern (`/account/tokens/{id}/revoke`),
    /// never the path.
    pub fn observe_http_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let labels = HttpLabels {
            route: route.to_string(),
            method: method_label(method),
            status,
        };
        self.inner.http_requests.get_or_create(&labels).inc();
        self.inner
            .http_duration
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    pub fn sign_in(&self, outcome: SignInOutcome) {
        self.inner
            .sign_ins
            .get_or_create(&OutcomeLabels {
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// A token response for `client_id`, which must be a registered client that
    /// authenticated (never an id a request merely presented).
    pub fn token_issued(&self, grant_type: &'static str, client_id: &str) {
        self.inner
            .tokens_issued
            .get_or_create(&TokenLabels {
                grant_type,
                client_id: client_id.to_string(),
            })
            .inc();
    }

    /// A refresh token presented again by the registered client `client_id`.
    pub fn refresh_token_reused(&self, client_id: &str) {
        self.inner
            .refresh_reuse
            .get_or_create(&ClientLabels {
                client_id: client_id.to_string(),
            })
            .inc();
    }

    /// Makes `rules` appear (at 0) before their first refusal.
    pub fn declare_rate_limit_rules(&self, rules: impl IntoIterator<Item = &'static str>) {
        for rule in rules {
            let _ = self.inner.rate_limited.get_or_create(&RuleLabels { rule });
        }
    }

    pub fn rate_limited(&self, rule: &'static str) {
        self.inner.rate_limited.get_or_create(&RuleLabels { rule }).inc();
    }

    /// The handle the directory records bind and search latencies with.
    pub fn ldap(&self) -> LdapMetrics {
        self.inner.ldap.clone()
    }

    /// Sets the state gauges from `sample` and encodes every metric in `format`.
    pub fn scrape(&self, sample: &ScrapeSample, format: ExpositionFormat) -> Result<String, std::fmt::Error> {
        let inner = &self.inner;
        let _scrape = inner.scrape.lock().unwrap_or_else(PoisonError::into_inner);
        // Servers and algorithms no longer configured disappear.
        inner.ldap_up.clear();
        inner.ldap_in_use.clear();
        inner.ldap_idle.clear();
        for server in &sample.ldap_servers {
            let labels = ServerLabels {
                server: server.url.clone(),
            };
            inner.ldap_up.get_or_create(&labels).set(i64::from(server.up));
            inner
                .ldap_in_use
                .get_or_create(&labels)
                .set(i64::try_from(server.pool_in_use).unwrap_or(i64::MAX));
            inner
                .ldap_idle
                .get_or_create(&labels)
                .set(i64::try_from(server.pool_idle).unwrap_or(i64::MAX));
        }
        if let Some((size, idle)) = sample.database_pool {
            inner.database_pool.set(i64::from(size));
            inner.database_pool_idle.set(i64::from(idle));
        }
        inner.key_age.clear();
        inner.key_next_rotation.clear();
        for key in &sample.signing_keys {
            let labels = AlgorithmLabels {
                algorithm: key.algorithm,
            };
            inner.key_age.get_or_create(&labels).set(key.age);
            inner.key_next_rotation.get_or_create(&labels).set(key.next_rotation_in);
        }
        format.encode(&inner.registry)
    }
}

/// HTTP methods as a bounded label: anything unusual is `other`.
fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "POST" => "POST",
        "HEAD" => "HEAD",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests;
