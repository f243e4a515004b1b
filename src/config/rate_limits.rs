//! The `[rate_limits]` section: how many requests each client address and each client
//! may make per window on the protocol endpoints and the sign-in pages, and how many wrong
//! passwords one username may collect before sign-in is refused for a while.
//!
//! A limit of 0 switches that one rule off.

use serde::{Deserialize, Serialize};

/// The default per-minute limit of the machine endpoints (`/token`, `/introspect`,
/// `/revoke`, `/userinfo`), per address and per client: a flood guard that a busy
/// deployment (or a load test) does not reach; tighten it to taste. Secrets, codes and
/// tokens are 256-bit random, so these endpoints need no guessing guard; the sign-in
/// pages, where people's passwords are guessed, get tight limits.
const MACHINE_DEFAULT: u32 = 10_000_000;

/// The largest value any per-window limit may take.
const MAX_LIMIT: u32 = 100_000_000;

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitsConfig {
    /// Every rule on or off at once.
    pub enabled: bool,
    /// Length of the request windows, in seconds (each counter's window starts with its
    /// first request).
    pub window_seconds: i64,
    /// `POST /token` per client address.
    pub token_per_ip: u32,
    /// `POST /token` per client (`client_id`); only requests the client authenticated count.
    pub token_per_client: u32,
    /// `POST /introspect` per client address.
    pub introspect_per_ip: u32,
    /// `POST /introspect` per client; only requests the client authenticated count.
    pub introspect_per_client: u32,
    /// `POST /revoke` per client address.
    pub revoke_per_ip: u32,
    /// `POST /revoke` per client; only requests the client authenticated count.
    pub revoke_per_client: u32,
    /// `GET`/`POST /userinfo` per client address.
    pub userinfo_per_ip: u32,
    /// `GET`/`POST /authorize` per client address: each request may store a pending
    /// authorization, so a flood of them is refused (with a page) before it costs storage.
    pub authorize_per_ip: u32,
    /// Sign-in form submissions (`POST /login`) per client address.
    pub login_per_ip: u32,
    /// Second-factor submissions (`POST /login/totp`, `POST /login/totp/enrol`) per
    /// client address.
    pub second_factor_per_ip: u32,
    /// Wrong passwords for one username (counted in the database, so every instance sees
    /// them) before sign-in with that username is refused until the window ends.
    pub login_failures_per_username: u32,
    /// The window of `login_failures_per_username`, in seconds.
    pub login_failures_window_seconds: i64,
    /// The most counters kept in memory per instance; the oldest give way beyond it.
    pub max_tracked_keys: usize,
    /// Sign-ins in progress (authorization requests waiting for a person to sign in, prove
    /// a second factor or consent) per client address, across instances; past it new
    /// requests from that address are answered `temporarily_unavailable` until some finish
    /// or expire (`lifetimes.login`). 0 switches the cap off.
    pub pending_authorizations_per_ip: u32,
    /// IPv6 clients are counted per network of this prefix length (32 to 128): one
    /// subscriber usually holds a whole /64, so counting each address would give them
    /// 2^64 budgets. IPv4 addresses (and IPv4-mapped IPv6) are counted one by one.
    pub ipv6_prefix_length: u8,
}

impl Default for RateLimitsConfig {
    fn default() -> Self {
        RateLimitsConfig {
            enabled: true,
            window_seconds: 60,
            token_per_ip: MACHINE_DEFAULT,
            token_per_client: MACHINE_DEFAULT,
            introspect_per_ip: MACHINE_DEFAULT,
            introspect_per_client: MACHINE_DEFAULT,
            revoke_per_ip: MACHINE_DEFAULT,
            revoke_per_client: MACHINE_DEFAULT,
            userinfo_per_ip: MACHINE_DEFAULT,
            authorize_per_ip: 600,
            login_per_ip: 300,
            second_factor_per_ip: 30,
            login_failures_per_username: 10,
            login_failures_window_seconds: 900,
            max_tracked_keys: 100_000,
            pending_authorizations_per_ip: 1_000,
            ipv6_prefix_length: 64,
        }
    }
}

impl RateLimitsConfig {
    /// Every per-window limit with its key name.
    pub fn limits(&self) -> [(&'static str, u32); 11] {
        [
            ("token_per_ip", self.token_per_ip),
            ("token_per_client", self.token_per_client),
            ("introspect_per_ip", self.introspect_per_ip),
            ("introspect_per_client", self.introspect_per_client),
            ("revoke_per_ip", self.revoke_per_ip),
            ("revoke_per_client", self.revoke_per_client),
            ("userinfo_per_ip", self.userinfo_per_ip),
            ("authorize_per_ip", self.authorize_per_ip),
            ("login_per_ip", self.login_per_ip),
            ("second_factor_per_ip", self.second_factor_per_ip),
            ("login_failures_per_username", self.login_failures_per_username),
        ]
    }

    pub(super) fn validate(&self, problems: &mut Vec<String>) {
        if !(1..=86_400).contains(&self.window_seconds) {
            problems.push("`rate_limits.window_seconds` must be between 1 and 86400 seconds".into());
        }
        if !(1..=86_400).contains(&self.login_failures_window_seconds) {
            problems.push("`rate_limits.login_failures_window_seconds` must be between 1 and 86400 seconds".into());
        }
        for (name, limit) in self.limits() {
            if limit > MAX_LIMIT {
                problems.push(format!(
                    "`rate_limits.{name}` must be at most {MAX_LIMIT} (0 switches the rule off)"
                ));
            }
        }
        if self.pending_authorizations_per_ip > MAX_LIMIT {
            problems.push(format!(
                "`rate_limits.pending_authorizations_per_ip` must be at most {MAX_LIMIT} (0 switches the cap off)"
            ));
        }
        if !(1_000..=10_000_000).contains(&self.max_tracked_keys) {
            problems.push("`rate_limits.max_tracked_keys` must be between 1000 and 10000000".into());
        }
        if !(32..=128).contains(&self.ipv6_prefix_length) {
            problems.push("`rate_limits.ipv6_prefix_length` must be between 32 and 128".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        let mut problems = Vec::new();
        RateLimitsConfig::default().validate(&mut problems);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn every_problem_is_reported() {
        let config = RateLimitsConfig {
            window_seconds: 0,
            login_failures_window_seconds: 100_000,
            token_per_client: MAX_LIMIT + 1,
            second_factor_per_ip: u32::MAX,
            max_tracked_keys: 10,
            ipv6_prefix_length: 31,
            ..RateLimitsConfig::default()
        };
        let mut problems = Vec::new();
        config.validate(&mut problems);
        assert_eq!(problems.len(), 6, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("ipv6_prefix_length")));
        assert!(problems.iter().any(|p| p.contains("rate_limits.window_seconds")));
        assert!(problems.iter().any(|p| p.contains("login_failures_window_seconds")));
        assert!(problems.iter().any(|p| p.contains("token_per_client")));
        assert!(problems.iter().any(|p| p.contains("second_factor_per_ip")));
        assert!(problems.iter().any(|p| p.contains("max_tracked_keys")));
    }
}
