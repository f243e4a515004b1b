//! `gatehouse healthcheck`: GET `/healthz` on the configured listen address (or `--url`)
//! and exit 0 on `200`, 1 otherwise. For container HEALTHCHECKs, where no curl is at hand.
//! With `[tls]` the listen address speaks HTTPS: the check does too, trusting exactly the
//! certificate of `tls.cert_file` (the name on it is the public one, not loopback's).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The whole check: connect, ask, read the answer.
const TIMEOUT: Duration = Duration::from_secs(5);
/// The status line is all that is read; `/healthz` answers with a few bytes anyway.
const MAX_ANSWER: u64 = 4096;

/// Where to ask: `--url http://HOST:PORT[/path]`, or the listen address (an unspecified
/// address such as `0.0.0.0` asked on loopback) with `/healthz`.
pub fn target(url: Option<&str>, listen: &str) -> anyhow::Result<(String, u16, String)> {
    if let Some(url) = url {
        let parsed = url::Url::parse(url).with_context(|| format!("`{url}` is not a URL"))?;
        if parsed.scheme() != "http" {
            bail!("healthcheck speaks plain http only (`{url}`)");
        }
        let host = parsed.host_str().context("the URL has no host")?.to_string();
        let port = parsed.port_or_known_default().unwrap_or(80);
        let path = match parsed.query() {
            Some(query) => format!("{}?{query}", parsed.path()),
            None => parsed.path().to_string(),
        };
        return Ok((host, port, path));
    }
    let addr: SocketAddr = listen
        .parse()
        .with_context(|| format!("the listen address `{listen}` is not IP:PORT; give --url"))?;
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let host = match ip {
        IpAddr::V6(ip) => format!("[{ip}]"),
        IpAddr::V4(ip) => ip.to_string(),
    };
    Ok((host, addr.port(), "/healthz".to_string()))
}

/// Asks `path` on `host:port`, over TLS with `tls` (a client configuration from
/// [`crate::tls::client_config_pinned_to`]), else plain http.
pub async fn healthcheck(host: &str, port: u16, path: &str, tls: Option<rustls::ClientConfig>) -> anyhow::Result<()> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let status = tokio::time::timeout(TIMEOUT, connect_and_ask(host, port, path, tls))
        .await
        .with_context(|| {
            format!(
                "no answer from {scheme}://{host}:{port}{path} within {} s",
                TIMEOUT.as_secs()
            )
        })??;
    if status != 200 {
        bail!("{scheme}://{host}:{port}{path} answered {status}");
    }
    println!("healthy: {scheme}://{host}:{port}{path} answered 200");
    Ok(())
}

async fn connect_and_ask(host: &str, port: u16, path: &str, tls: Option<rustls::ClientConfig>) -> anyhow::Result<u16> {
    let connect_host = host.trim_start_matches('[').trim_end_matches(']');
    let stream = TcpStream::connect((connect_host, port))
        .await
        .with_context(|| format!("cannot connect to {host}:{port}"))?;
    let Some(tls) = tls else {
        return ask(stream, host, port, path).await;
    };
    let server_name = rustls::pki_types::ServerName::try_from(connect_host.to_string())
        .with_context(|| format!("`{connect_host}` is not a host name"))?;
    let stream = TlsConnector::from(std::sync::Arc::new(tls))
        .connect(server_name, stream)
        .await
        .with_context(|| format!("TLS with {host}:{port} failed"))?;
    ask(stream, host, port, path).await
}

async fn ask(
    mut stream: impl AsyncRead + AsyncWrite + Unpin,
    host: &str,
    port: u16,
    path: &str,
) -> anyhow::Result<u16> {
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\nUser-Agent: gatehouse-healthcheck\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    (&mut stream).take(MAX_ANSWER).read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer);
    let status_line = text.lines().next().unwrap_or_default();
    let mut parts = status_line.split_whitespace();
    match (parts.next(), parts.next().and_then(|code| code.parse::<u16>().ok())) {
        (Some(version), Some(code)) if version.starts_with("HTTP/") => Ok(code),
        _ => bail!("{host}:{port} did not answer HTTP"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listen_address_or_the_url_names_the_target() {
        assert_eq!(
            target(None, "0.0.0.0:8080").unwrap(),
            ("127.0.0.1".into(), 8080, "/healthz".into())
        );
        assert_eq!(
            target(None, "[::]:80").unwrap(),
            ("[::1]".into(), 80, "/healthz".into())
        );
        assert_eq!(
            target(None, "10.1.2.3:9000").unwrap(),
            ("10.1.2.3".into(), 9000, "/healthz".into())
        );
        assert_eq!(
            target(Some("http://localhost:1234/readyz"), "ignored").unwrap(),
            ("localhost".into(), 1234, "/readyz".into())
        );
        assert!(target(Some("https://localhost/healthz"), "").is_err());
        assert!(target(None, "localhost:80").is_err());
    }
}
