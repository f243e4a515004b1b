//! Settings for the life of tokens and for the network: signing algorithms, grant types,
//! personal access tokens, trusted proxies and IP allowlists.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// A JOSE signature algorithm the key ring can sign with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize, PartialOrd, Ord)]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256: every relying party supports it; access tokens
    /// always use it (RFC 9068 section 2.1).
    #[default]
    #[serde(rename = "RS256")]
    Rs256,
    /// RSASSA-PSS with SHA-256.
    #[serde(rename = "PS256")]
    Ps256,
    /// ECDSA on P-256 with SHA-256.
    #[serde(rename = "ES256")]
    Es256,
}

impl SigningAlgorithm {
    pub const ALL: [SigningAlgorithm; 3] = [
        SigningAlgorithm::Rs256,
        SigningAlgorithm::Ps256,
        SigningAlgorithm::Es256,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlgorithm::Rs256 => "RS256",
            SigningAlgorithm::Ps256 => "PS256",
            SigningAlgorithm::Es256 => "ES256",
        }
    }

    /// The JOSE name, exactly (`RS256`, `PS256`, `ES256`).
    pub fn parse(text: &str) -> Option<SigningAlgorithm> {
        SigningAlgorithm::ALL.into_iter().find(|alg| alg.as_str() == text)
    }
}

impl fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An OAuth grant type a client may use at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    ClientCredentials,
}

impl GrantType {
    pub const ALL: [GrantType; 3] = [
        GrantType::AuthorizationCode,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }

    pub fn parse(text: &str) -> Option<GrantType> {
        GrantType::ALL.into_iter().find(|grant| grant.as_str() == text)
    }

    /// What a client gets when it names none: the browser sign-in and refreshing it.
    pub fn defaults() -> Vec<GrantType> {
        vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
    }
}

/// A scope token per RFC 6749 section 3.3: one or more of `%x21 / %x23-5B / %x5D-7E`.
pub fn is_scope_token(scope: &str) -> bool {
    !scope.is_empty()
        && scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Parses `10.0.0.0/8`, `2001:db8::/32` or a single address (`192.0.2.7` = `/32`).
pub fn parse_ip_network(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        // `10.1.2.3/8` is almost certainly a typo for `10.0.0.0/8`; say so.
        if net.trunc() != net {
            return Err(format!("`{text}` has host bits set; did you mean `{}`?", net.trunc()));
        }
        return Ok(net);
    }
    text.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("`{text}` is not an IP address or CIDR range"))
}

/// Where requests may come from: empty means anywhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpAllowlist(Vec<IpNet>);

impl IpAllowlist {
    pub fn new(networks: Vec<IpNet>) -> Self {
        IpAllowlist(networks)
    }

    /// Parses every entry, or returns every problem.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<IpAllowlist, Vec<String>> {
        let mut networks = Vec::new();
        let mut problems = Vec::new();
        for entry in entries {
            match parse_ip_network(entry.as_ref()) {
                Ok(net) => networks.push(net),
                Err(problem) => problems.push(problem),
            }
        }
        if problems.is_empty() {
            Ok(IpAllowlist(networks))
        } else {
            Err(problems)
        }
    }

    /// A list as stored (a JSON array of entries validated when written). Should the text
    /// or an entry no longer parse, the list permits nothing: a damaged allowlist must not
    /// open its client or token to everyone.
    pub fn from_stored_json(text: &str) -> IpAllowlist {
        const NOWHERE: &str = "0.0.0.0/32"; // no client connects from 0.0.0.0
        serde_json::from_str::<Vec<String>>(text)
            .ok()
            .and_then(|entries| IpAllowlist::parse(&entries).ok())
            .unwrap_or_else(|| IpAllowlist::parse(&[NOWHERE]).unwrap_or_default())
    }

    /// True when a network of the list contains `ip` (an empty list contains nothing:
    /// the check for trusted proxies, where empty means none).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn is_unrestricted(&self) -> bool {
        self.0.is_empty()
    }

    /// True when the list is empty or a network contains `ip` (IPv4-mapped IPv6
    /// addresses are compared as IPv4).
    pub fn permits(&self, ip: IpAddr) -> bool {
        let ip = canonical_ip(ip);
        self.0.is_empty() || self.0.iter().any(|net| net.contains(&ip))
    }

    pub fn networks(&self) -> &[IpNet] {
        &self.0
    }

    /// The entries as text, as stored (JSON array) and shown.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

/// `::ffff:192.0.2.1` as `192.0.2.1`, so IPv4 rules match on dual-stack sockets.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The `[network]` section.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConfig {
    /// Reverse proxies (addresses or CIDRs) whose `X-Forwarded-For` is believed. Requests
    /// from anywhere else are attributed to the socket's peer address.
    pub trusted_proxies: Vec<String>,
}

impl NetworkConfig {
    pub fn trusted_proxies(&self) -> IpAllowlist {
        // Validated at start; an invalid entry cannot get here.
        IpAllowlist::parse(&self.trusted_proxies).unwrap_or_default()
    }

    pub(super) fn validate(&self, problems: &mut Vec<String>) {
        if let Err(found) = IpAllowlist::parse(&self.trusted_proxies) {
            problems.extend(found.into_iter().map(|p| format!("`network.trusted_proxies`: {p}")));
        }
    }
}

/// The `[personal_access_tokens]` section.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PersonalAccessTokensConfig {
    /// The scopes people may choose from. `admin` lets an administrator's token call the
    /// admin API (it is refused for everyone else).
    pub scopes: Vec<String>,
    /// The longest expiry a person may choose, in days.
    pub max_lifetime_days: i64,
    /// The expiry preselected on the form, in days.
    pub default_lifetime_days: i64,
    /// How many live tokens one person may hold.
    pub max_per_person: u32,
}

impl Default for PersonalAccessTokensConfig {
    fn default() -> Self {
        PersonalAccessTokensConfig {
            scopes: ["openid", "profile", "email", "groups", "admin"]
                .into_iter()
                .map(String::from)
                .collect(),
            max_lifetime_days: 365,
            default_lifetime_days: 30,
            max_per_person: 50,
        }
    }
}

impl PersonalAccessTokensConfig {
    pub(super) fn validate(&self, problems: &mut Vec<String>) {
        for scope in &self.scopes {
            if !is_scope_token(scope) {
                problems.push(format!(
                    "`personal_access_tokens.scopes`: `{scope}` is not a valid scope"
                ));
            }
        }
        if !(1..=3650).contains(&self.max_lifetime_days) {
            problems.push("`personal_access_tokens.max_lifetime_days` must be between 1 and 3650".into());
        }
        if !(1..=self.max_lifetime_days.max(1)).contains(&self.default_lifetime_days) {
            problems.push(
                "`personal_access_tokens.default_lifetime_days` must be between 1 and `max_lifetime_days`".into(),
            );
        }
        if self.max_per_person == 0 {
            problems.push("`personal_access_tokens.max_per_person` must be at least 1".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_parse_single_addresses_and_reject_host_bits() {
        assert_eq!(parse_ip_network("192.0.2.7").unwrap().to_string(), "192.0.2.7/32");
        assert_eq!(parse_ip_network("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
        assert_eq!(parse_ip_network("2001:db8::/32").unwrap().to_string(), "2001:db8::/32");
        assert!(parse_ip_network("10.1.2.3/8").unwrap_err().contains("10.0.0.0/8"));
        assert!(parse_ip_network("example.org").is_err());
        assert!(parse_ip_network("10.0.0.0/33").is_err());
    }

    #[test]
    fn allowlists_permit_members_and_mapped_addresses() {
        let list = IpAllowlist::parse(&["10.0.0.0/8", "2001:db8::1"]).unwrap();
        assert!(list.permits("10.20.30.40".parse().unwrap()));
        assert!(list.permits("::ffff:10.0.0.1".parse().unwrap()));
        assert!(list.permits("2001:db8::1".parse().unwrap()));
        assert!(!list.permits("192.0.2.1".parse().unwrap()));
        assert!(IpAllowlist::default().permits("192.0.2.1".parse().unwrap()));
        assert_eq!(IpAllowlist::parse(&["x", "10.0.0.0/8", "y"]).unwrap_err().len(), 2);
    }

    #[test]
    fn stored_lists_that_no_longer_parse_permit_nothing() {
        let client: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(IpAllowlist::from_stored_json("[]").permits(client));
        assert!(IpAllowlist::from_stored_json(r#"["192.0.2.0/24"]"#).permits(client));
        assert!(!IpAllowlist::from_stored_json(r#"["bogus"]"#).permits(client));
        assert!(!IpAllowlist::from_stored_json("not json").permits(client));
    }

    #[test]
    fn scope_tokens_follow_rfc_6749() {
        assert!(is_scope_token("reports:read"));
        assert!(is_scope_token("https://api.example.org/read"));
        assert!(!is_scope_token(""));
        assert!(!is_scope_token("a b"));
        assert!(!is_scope_token("quote\"d"));
        assert!(!is_scope_token("back\\slash"));
    }

    #[test]
    fn algorithms_and_grant_types_round_trip() {
        for alg in SigningAlgorithm::ALL {
            assert_eq!(SigningAlgorithm::parse(alg.as_str()), Some(alg));
        }
        assert_eq!(SigningAlgorithm::parse("rs256"), None);
        for grant in GrantType::ALL {
            assert_eq!(GrantType::parse(grant.as_str()), Some(grant));
        }
    }
}
