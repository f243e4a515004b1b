//! Headers every response carries. A handler that needs a different Content-Security-Policy
//! (a form that redirects to an application) sets its own; the defaults never overwrite it.

use actix_web::middleware::DefaultHeaders;

/// The default policy: nothing but our own stylesheet and images, no framing.
pub const DEFAULT_CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The policy for a page whose form ends in a redirect to `origins` (Chromium applies
/// `form-action` to the redirect after a form submission).
pub fn csp_allowing_form_targets<'a>(origins: impl IntoIterator<Item = &'a str>) -> String {
    let mut targets = String::from("'self'");
    for origin in origins {
        // Origins come from registered redirect URIs; keep only characters that cannot
        // break out of the directive.
        if !origin.is_empty() && origin.bytes().all(|b| b.is_ascii_graphic() && b != b';' && b != b',') {
            targets.push(' ');
            targets.push_str(origin);
        }
    }
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action {targets}; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// The origin (`scheme://host:port`) of a URL, for CSP source lists.
pub fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    match parsed.origin() {
        url::Origin::Tuple(..) => Some(parsed.origin().ascii_serialization()),
        // Custom schemes (native apps): allow the scheme itself.
        url::Origin::Opaque(_) => Some(format!("{}:", parsed.scheme())),
    }
}

pub fn security_headers(hsts: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add(("Content-Security-Policy", DEFAULT_CSP))
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cross-Origin-Opener-Policy", "same-origin"));
    if hsts {
        headers.add(("Strict-Transport-Security", "max-age=31536000"))
    } else {
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_targets_are_added_and_sanitised() {
        let csp = csp_allowing_form_targets(["https://app.example", "bad;script-src *"]);
        assert!(csp.contains("form-action 'self' https://app.example;"));
        assert!(!csp.contains("script-src"));
        assert_eq!(
            origin_of("https://app.example:8443/cb?x=1").as_deref(),
            Some("https://app.example:8443")
        );
        assert_eq!(origin_of("com.example.app:/cb").as_deref(), Some("com.example.app:"));
    }
}
