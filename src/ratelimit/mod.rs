//! Rate limits. Request counters live in memory, one per rule and key (a client address or
//! a client id), in fixed windows that start with a key's first counted request; they are
//! per instance, so behind a load balancer each instance enforces the limits on what it
//! sees. Failed passwords per person are the exception: they are counted in the database
//! (`login_failures`, see [`SignInAttempts`]), so that limit holds across every instance.
//!
//! Time comes from the caller (the app clock), never from the system, and the memory used
//! stays bounded: expired counters are dropped, and past `max_tracked_keys` the counter
//! whose window started first gives way, in constant time (see `window_counter`).

mod login_failures;
mod window_counter;

pub use login_failures::{
    clear_login_failures, folded_name, release_attempt, reserve_attempt, AttemptKeys, LoginFailurePolicy,
    ReservedAttempt, SignInAttempts,
};
pub use window_counter::{Admission, Quota};

use std::net::IpAddr;

use ipnet::Ipv6Net;
use window_counter::WindowCounters;

use crate::config::{canonical_ip, RateLimitsConfig};

/// One limit: what is counted, and by what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    TokenPerIp,
    TokenPerClient,
    IntrospectPerIp,
    IntrospectPerClient,
    RevokePerIp,
    RevokePerClient,
    UserinfoPerIp,
    LoginPerIp,
    SecondFactorPerIp,
    AuthorizePerIp,
}

/// The per-person budget of failed passwords (`[rate_limits] login_failures_*`), as the
/// audit trail and the metrics name it.
pub const LOGIN_FAILURES_RULE: &str = "login_failures_per_username";

impl Rule {
    /// Every rule (the metrics list each one from the start).
    pub const ALL: [Rule; 10] = [
        Rule::TokenPerIp,
        Rule::TokenPerClient,
        Rule::IntrospectPerIp,
        Rule::IntrospectPerClient,
        Rule::RevokePerIp,
        Rule::RevokePerClient,
        Rule::UserinfoPerIp,
        Rule::LoginPerIp,
        Rule::SecondFactorPerIp,
        Rule::AuthorizePerIp,
    ];

    /// The rule's name: its key in `[rate_limits]` and in the audit trail.
    pub fn name(self) -> &'static str {
        match self {
            Rule::TokenPerIp => "token_per_ip",
            Rule::TokenPerClient => "token_per_client",
            Rule::IntrospectPerIp => "introspect_per_ip",
            Rule::IntrospectPerClient => "introspect_per_client",
            Rule::RevokePerIp => "revoke_per_ip",
            Rule::RevokePerClient => "revoke_per_client",
            Rule::UserinfoPerIp => "userinfo_per_ip",
            Rule::LoginPerIp => "login_per_ip",
            Rule::SecondFactorPerIp => "second_factor_per_ip",
            Rule::AuthorizePerIp => "authorize_per_ip",
        }
    }

    fn configured_limit(self, config: &RateLimitsConfig) -> u32 {
        match self {
            Rule::TokenPerIp => config.token_per_ip,
            Rule::TokenPerClient => config.token_per_client,
            Rule::IntrospectPerIp => config.introspect_per_ip,
            Rule::IntrospectPerClient => config.introspect_per_client,
            Rule::RevokePerIp => config.revoke_per_ip,
            Rule::RevokePerClient => config.revoke_per_client,
            Rule::UserinfoPerIp => config.userinfo_per_ip,
            Rule::LoginPerIp => config.login_per_ip,
            Rule::SecondFactorPerIp => config.second_factor_per_ip,
            Rule::AuthorizePerIp => config.authorize_per_ip,
        }
    }
}

/// The limits of one instance, built once from `[rate_limits]`.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitsConfig,
    counters: WindowCounters,
}

impl RateLimiter {
    pub fn new(config: &RateLimitsConfig) -> RateLimiter {
        RateLimiter {
            config: config.clone(),
            counters: WindowCounters::new(config.window_seconds, config.max_tracked_keys),
        }
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// The limit of `rule` per window; `None` when the rule (or every rule) is off.
    pub fn limit(&self, rule: Rule) -> Option<u32> {
        let limit = rule.configured_limit(&self.config);
        (self.config.enabled && limit > 0).then_some(limit)
    }

    /// Where `key` stands under `rule`, counting nothing.
    pub fn peek(&self, rule: Rule, key: &str, now: i64) -> Option<Quota> {
        let limit = self.limit(rule)?;
        Some(self.counters.peek(rule, key, limit, now))
    }

    /// Counts one request when there is room; refuses (counting nothing) when not.
    pub fn acquire(&self, rule: Rule, key: &str, now: i64) -> Option<Admission> {
        let limit = self.limit(rule)?;
        Some(self.counters.acquire(rule, key, limit, now))
    }

    /// Whether one more request would fit, counting nothing; a refusal is reported as
    /// the window's first only once (so it is audited once per window).
    pub fn check(&self, rule: Rule, key: &str, now: i64) -> Option<Admission> {
        let limit = self.limit(rule)?;
        Some(self.counters.check(rule, key, limit, now))
    }

    /// Counts one request that already happened (it may overshoot the limit a little when
    /// requests ran concurrently; the next check refuses).
    pub fn record(&self, rule: Rule, key: &str, now: i64) -> Option<Quota> {
        let limit = self.limit(rule)?;
        Some(self.counters.record(rule, key, limit, now))
    }

    /// The failed-password limit per person (directory entry, or name matching nobody),
    /// when it is on.
    pub fn login_failure_policy(&self) -> Option<LoginFailurePolicy> {
        let limit = self.config.login_failures_per_username;
        (self.config.enabled && limit > 0).then_some(LoginFailurePolicy {
            limit,
            window: self.config.login_failures_window_seconds,
        })
    }

    /// The key that counts requests from `ip`: an IPv4 address (IPv4-mapped IPv6
    /// included) on its own, an IPv6 address by its network of `ipv6_prefix_length`
    /// (`2001:db8:1:2::/64`), `unknown` without an address.
    pub fn address_key(&self, ip: Option<IpAddr>) -> String {
        address_key(ip, self.config.ipv6_prefix_length)
    }

    /// How many counters are held right now (for tests and metrics).
    pub fn tracked_keys(&self) -> usize {
        self.counters.len()
    }
}

/// See [`RateLimiter::address_key`].
pub fn address_key(ip: Option<IpAddr>, ipv6_prefix_length: u8) -> String {
    match ip.map(canonical_ip) {
        None => "unknown".to_string(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) if ipv6_prefix_length >= 128 => v6.to_string(),
        // The length is validated (32..=128) at start; anything out of range counts the
        // whole address rather than failing.
        Some(IpAddr::V6(v6)) => Ipv6Net::new(v6, ipv6_prefix_length)
            .map(|net| net.trunc().to_string())
            .unwrap_or_else(|_| v6.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ip: &str, prefix: u8) -> String {
        address_key(Some(ip.parse().unwrap()), prefix)
    }

    #[test]
    fn ipv6_addresses_are_counted_by_prefix_and_ipv4_by_address() {
        assert_eq!(key("2001:db8:1:2::1", 64), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff", 64), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:3::1", 64), key("2001:db8:1:2::1", 64));
        assert_eq!(key("2001:db8:1:ffff::1", 48), "2001:db8:1::/48");
        assert_eq!(key("2001:db8:1:2::1", 128), "2001:db8:1:2::1");
        assert_eq!(key("203.0.113.9", 64), "203.0.113.9");
        assert_eq!(key("::ffff:203.0.113.9", 64), "203.0.113.9", "IPv4-mapped is IPv4");
        assert_eq!(address_key(None, 64), "unknown");
    }

    fn limiter(change: impl FnOnce(&mut RateLimitsConfig)) -> RateLimiter {
        let mut config = RateLimitsConfig::default();
        change(&mut config);
        RateLimiter::new(&config)
    }

    #[test]
    fn a_zero_limit_or_disabled_section_switches_rules_off() {
        let some_off = limiter(|c| {
            c.token_per_client = 0;
            c.token_per_ip = 600;
        });
        assert_eq!(some_off.limit(Rule::TokenPerClient), None);
        assert_eq!(some_off.limit(Rule::TokenPerIp), Some(600));
        assert!(some_off.acquire(Rule::TokenPerClient, "app", 0).is_none());

        let all_off = limiter(|c| c.enabled = false);
        assert_eq!(all_off.limit(Rule::TokenPerIp), None);
        assert!(all_off.login_failure_policy().is_none());
        assert_eq!(
            limiter(|_| {}).login_failure_policy(),
            Some(LoginFailurePolicy { limit: 10, window: 900 })
        );
    }

    #[test]
    fn rules_count_separately_for_the_same_key() {
        let limiter = limiter(|c| {
            c.token_per_ip = 1;
            c.userinfo_per_ip = 1;
        });
        assert!(matches!(
            limiter.acquire(Rule::TokenPerIp, "192.0.2.1", 0),
            Some(Admission::Admitted(_))
        ));
        assert!(matches!(
            limiter.acquire(Rule::UserinfoPerIp, "192.0.2.1", 0),
            Some(Admission::Admitted(_))
        ));
        assert!(matches!(
            limiter.acquire(Rule::TokenPerIp, "192.0.2.1", 0),
            Some(Admission::Refused { .. })
        ));
    }
}
