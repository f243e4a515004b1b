//! The `[metrics]` section: the Prometheus endpoint `/metrics`.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use super::tokens::IpAllowlist;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve `/metrics` at all.
    pub enabled: bool,
    /// An address of its own (`host:port`) for `/metrics`; the public port then answers 404
    /// there. Unset: `/metrics` is on the public port.
    pub listen: Option<String>,
    /// Networks that may scrape, matched against the client address (behind a trusted
    /// proxy, the address it forwards). Loopback only by default.
    pub allow_from: Vec<String>,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            listen: None,
            allow_from: vec!["127.0.0.0/8".into(), "::1/128".into()],
        }
    }
}

impl MetricsConfig {
    /// `allow_from`, parsed (an invalid entry is reported by `validate`, and allows nothing).
    pub fn allowed_scrapers(&self) -> IpAllowlist {
        IpAllowlist::parse(&self.allow_from).unwrap_or_default()
    }

    pub(super) fn validate(&self, public_listen: &str, problems: &mut Vec<String>) {
        if let Some(listen) = &self.listen {
            match listen.parse::<SocketAddr>() {
                Err(_) => problems.push(format!(
                    "`metrics.listen` must be an address like 127.0.0.1:9090, got `{listen}`"
                )),
                Ok(address) if address.port() != 0 && listen == public_listen => {
                    problems.push("`metrics.listen` must differ from `listen` (or leave it unset)".into())
                }
                Ok(_) => {}
            }
        }
        if self.allow_from.is_empty() {
            problems.push(
                "`metrics.allow_from` must name at least one network (\"0.0.0.0/0\" and \"::/0\" allow everyone)"
                    .into(),
            );
        }
        if let Err(found) = IpAllowlist::parse(&self.allow_from) {
            problems.extend(found.into_iter().map(|p| format!("`metrics.allow_from`: {p}")));
        }
    }
}
