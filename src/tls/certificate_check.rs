//! `gatehouse check-config` on the `[tls]` pair: readable, parseable, the key belongs to
//! the certificate, valid now and for a while, and made out to the issuer's host.

use std::net::IpAddr;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::sign::CertifiedKey;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::pem_files::{certified_key, parse_certificate_chain, parse_private_key, read_pem_file};
use crate::config::TlsConfig;

/// A certificate expiring within this many days gets a warning (certbot renews 30 days
/// ahead, cert-manager at two thirds of the lifetime: a certificate this close to its end
/// was not renewed).
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// Everything found, reported together.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CertificateCheck {
    /// The pair cannot be served as configured.
    pub problems: Vec<String>,
    /// It can, but needs attention soon.
    pub warnings: Vec<String>,
}

/// Checks the files of `[tls]` against the issuer's host at `now_unix`. Blocking (reads
/// files).
pub fn check_certificate_pair(config: &TlsConfig, issuer: &str, now_unix: i64) -> CertificateCheck {
    let mut check = CertificateCheck::default();
    let cert_pem =
        read_pem_file(&config.cert_file).map_err(|error| check.problems.push(format!("`tls.cert_file`: {error}")));
    let key_pem =
        read_pem_file(&config.key_file).map_err(|error| check.problems.push(format!("`tls.key_file`: {error}")));
    let chain = cert_pem.ok().and_then(|pem| {
        parse_certificate_chain(&config.cert_file, &pem)
            .map_err(|error| check.problems.push(format!("`tls.cert_file`: {error}")))
            .ok()
    });
    let key = key_pem.ok().and_then(|pem| {
        parse_private_key(&config.key_file, &pem)
            .map_err(|error| check.problems.push(format!("`tls.key_file`: {error}")))
            .ok()
    });
    let Some(chain) = chain else {
        return check;
    };
    if let Some(key) = key {
        let provider = rustls::crypto::aws_lc_rs::default_provider();
        if let Err(error) = certified_key(chain.clone(), key, &config.cert_file, &config.key_file, &provider) {
            check.problems.push(format!("`tls`: {error}"));
        }
    }
    let Some(leaf) = chain.first() else {
        return check;
    };
    let cert = match X509Certificate::from_der(leaf.as_ref()) {
        Ok((_, cert)) => cert,
        Err(error) => {
            check.problems.push(format!(
                "`tls.cert_file` {}: the first certificate cannot be parsed: {error}",
                config.cert_file.display()
            ));
            return check;
        }
    };
    check_validity(&cert, now_unix, &mut check);
    check_host(leaf, &cert, issuer, &mut check);
    if chain.len() == 1 && cert.subject() != cert.issuer() {
        check.warnings.push(format!(
            "`tls.cert_file` {} holds the server certificate only: clients that do not already know its \
             intermediate CA will refuse it; give the full chain (certbot's fullchain.pem)",
            config.cert_file.display()
        ));
    }
    check
}

fn check_validity(cert: &X509Certificate<'_>, now_unix: i64, check: &mut CertificateCheck) {
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    if now_unix > not_after {
        check.problems.push(format!(
            "`tls.cert_file`: the certificate expired on {}",
            show_time(not_after)
        ));
    } else if now_unix < not_before {
        check.problems.push(format!(
            "`tls.cert_file`: the certificate is not valid before {} (is this machine's clock right?)",
            show_time(not_before)
        ));
    } else if not_after - now_unix < EXPIRY_WARNING_DAYS * 86_400 {
        check.warnings.push(format!(
            "`tls.cert_file`: the certificate expires on {}, in less than {EXPIRY_WARNING_DAYS} days; renew it",
            show_time(not_after)
        ));
    }
}

/// The issuer's host must be one of the certificate's names (DNS names with the usual
/// wildcard rules, or IP addresses), as a browser or relying party checks it.
fn check_host(leaf: &CertificateDer<'_>, cert: &X509Certificate<'_>, issuer: &str, check: &mut CertificateCheck) {
    let Some(host) = url::Url::parse(issuer)
        .ok()
        .and_then(|url| url.host().map(|h| h.to_owned()))
    else {
        return;
    };
    let (shown, name) = match host {
        url::Host::Domain(domain) => {
            let name = ServerName::try_from(domain.clone()).ok();
            (domain, name)
        }
        url::Host::Ipv4(ip) => (ip.to_string(), Some(ServerName::IpAddress(IpAddr::V4(ip).into()))),
        url::Host::Ipv6(ip) => (ip.to_string(), Some(ServerName::IpAddress(IpAddr::V6(ip).into()))),
    };
    let covered = name.is_some_and(|name| {
        webpki::EndEntityCert::try_from(leaf)
            .is_ok_and(|end_entity| end_entity.verify_is_valid_for_subject_name(&name).is_ok())
    });
    if !covered {
        let names = certificate_names(cert);
        check.problems.push(format!(
            "`tls.cert_file`: the certificate does not cover the issuer's host `{shown}` (it names {})",
            if names.is_empty() {
                "no DNS name or IP address".to_string()
            } else {
                names.join(", ")
            }
        ));
    }
}

/// The DNS names and IP addresses a certificate is made out to.
fn certificate_names(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(names)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    names
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::DNSName(dns) => Some((*dns).to_string()),
            GeneralName::IPAddress(bytes) => match bytes.len() {
                4 => <[u8; 4]>::try_from(*bytes).ok().map(|b| IpAddr::from(b).to_string()),
                16 => <[u8; 16]>::try_from(*bytes).ok().map(|b| IpAddr::from(b).to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn show_time(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|time| time.format(&Rfc3339).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// A line for the logs: names, serial number and end of validity of the served
/// certificate (public facts; nothing of the key).
pub(super) fn describe_certificate(key: &CertifiedKey) -> String {
    let Some(leaf) = key.cert.first() else {
        return "no certificate".into();
    };
    match X509Certificate::from_der(leaf.as_ref()) {
        Ok((_, cert)) => format!(
            "names [{}], serial {}, valid until {}",
            certificate_names(&cert).join(", "),
            cert.raw_serial_as_string(),
            show_time(cert.validity().not_after.timestamp())
        ),
        Err(_) => "a certificate that x509-parser cannot read".into(),
    }
}
