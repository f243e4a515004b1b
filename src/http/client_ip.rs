//! Which address a request comes from. The socket's peer, unless the peer is one of the
//! configured trusted proxies: then the nearest `X-Forwarded-For` entry that is not itself
//! a trusted proxy. A forged `X-Forwarded-For` from anyone else is ignored.

use std::net::IpAddr;

use actix_web::HttpRequest;

use crate::config::{canonical_ip, IpAllowlist};

/// The client address of `req`, or `None` when the socket has no peer address (never on
/// a TCP listener).
pub fn client_ip(req: &HttpRequest, trusted_proxies: &IpAllowlist) -> Option<IpAddr> {
    let peer = canonical_ip(req.peer_addr()?.ip());
    if !trusted_proxies.contains(peer) {
        return Some(peer);
    }
    let forwarded: Vec<&str> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|value| value.to_str().ok())
        .collect();
    Some(client_from_forwarded_for(peer, &forwarded, trusted_proxies))
}

/// Walks `X-Forwarded-For` from the right (the entry the nearest proxy appended) past
/// trusted proxies; the first other address is the client. An entry that is not an
/// address stops the walk: what lies left of it cannot be trusted, so the last trusted
/// hop is the answer.
fn client_from_forwarded_for(peer: IpAddr, headers: &[&str], trusted_proxies: &IpAllowlist) -> IpAddr {
    let entries = headers.iter().flat_map(|header| header.split(',')).map(str::trim);
    let mut client = peer;
    for entry in entries.collect::<Vec<_>>().into_iter().rev() {
        let Some(ip) = parse_forwarded_address(entry) else {
            break;
        };
        client = ip;
        if !trusted_proxies.contains(ip) {
            break;
        }
    }
    client
}

/// `192.0.2.1`, `2001:db8::1`, and the forms some proxies write: `192.0.2.1:4711`,
/// `[2001:db8::1]:4711`.
fn parse_forwarded_address(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(canonical_ip(ip));
    }
    if let Ok(socket) = entry.parse::<std::net::SocketAddr>() {
        return Some(canonical_ip(socket.ip()));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> IpAllowlist {
        IpAllowlist::parse(list).unwrap()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn the_rightmost_untrusted_entry_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let client = client_from_forwarded_for(ip("10.0.0.1"), &["198.51.100.9, 203.0.113.5, 10.0.0.2"], &trusted);
        // 198.51.100.9 was written by the client itself: only 203.0.113.5 is vouched for.
        assert_eq!(client, ip("203.0.113.5"));
    }

    #[test]
    fn several_headers_are_one_list_and_ports_are_dropped() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let client = client_from_forwarded_for(ip("10.0.0.1"), &["203.0.113.5:4711", "10.0.0.3"], &trusted);
        assert_eq!(client, ip("203.0.113.5"));
        let v6 = client_from_forwarded_for(ip("10.0.0.1"), &["[2001:db8::7]:443"], &trusted);
        assert_eq!(v6, ip("2001:db8::7"));
    }

    #[test]
    fn garbage_or_nothing_leaves_the_last_trusted_hop() {
        let trusted = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            client_from_forwarded_for(ip("10.0.0.1"), &["unknown, 10.0.0.4"], &trusted),
            ip("10.0.0.4")
        );
        assert_eq!(client_from_forwarded_for(ip("10.0.0.1"), &[], &trusted), ip("10.0.0.1"));
    }
}
