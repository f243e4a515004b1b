//! The directory's latency histograms, by server. The directory module holds an
//! [`LdapServerTimings`] per configured server (its label set created once, when the
//! server set is built) and observes each bind and search, whatever its result.

use std::time::Duration;

use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::{HistogramFamily, ServerLabels};

/// Bind and search latency families; `Default` is a handle that records nothing (tools
/// and unit tests that build a directory without an application).
#[derive(Clone, Default)]
pub struct LdapMetrics {
    families: Option<(HistogramFamily<ServerLabels>, HistogramFamily<ServerLabels>)>,
}

impl std::fmt::Debug for LdapMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapMetrics")
            .field("enabled", &self.families.is_some())
            .finish()
    }
}

impl LdapMetrics {
    pub(super) fn register(registry: &mut Registry, histogram: fn() -> Histogram) -> LdapMetrics {
        let bind: HistogramFamily<ServerLabels> = Family::new_with_constructor(histogram);
        registry.register(
            "gatehouse_ldap_bind_duration_seconds",
            "Time of LDAP simple binds (service account and people), by server",
            bind.clone(),
        );
        let search: HistogramFamily<ServerLabels> = Family::new_with_constructor(histogram);
        registry.register(
            "gatehouse_ldap_search_duration_seconds",
            "Time of LDAP searches, by server",
            search.clone(),
        );
        LdapMetrics {
            families: Some((bind, search)),
        }
    }

    /// The histograms of the server at `url`.
    pub fn server(&self, url: &str) -> LdapServerTimings {
        let Some((bind, search)) = &self.families else {
            return LdapServerTimings::default();
        };
        let labels = ServerLabels {
            server: url.to_string(),
        };
        LdapServerTimings {
            histograms: Some((bind.get_or_create_owned(&labels), search.get_or_create_owned(&labels))),
        }
    }
}

/// One server's bind and search histograms (or nothing, see [`LdapMetrics::default`]).
#[derive(Clone, Default)]
pub struct LdapServerTimings {
    histograms: Option<(Histogram, Histogram)>,
}

impl std::fmt::Debug for LdapServerTimings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapServerTimings")
            .field("enabled", &self.histograms.is_some())
            .finish()
    }
}

impl LdapServerTimings {
    pub fn observe_bind(&self, elapsed: Duration) {
        if let Some((bind, _)) = &self.histograms {
            bind.observe(elapsed.as_secs_f64());
        }
    }

    pub fn observe_search(&self, elapsed: Duration) {
        if let Some((_, search)) = &self.histograms {
            search.observe(elapsed.as_secs_f64());
        }
    }
}
