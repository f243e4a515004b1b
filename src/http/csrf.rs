//! CSRF protection for every form: a random value in a cookie, and in the form an HMAC of
//! it under a key derived from the master key. A token cannot be made without the key, so
//! a cookie planted from a sibling domain does not help an attacker.
//!
//! When the browser holds a session cookie, the token is also bound to it: the HMAC
//! covers the CSRF cookie and the session cookie's value. A token taken from a page
//! rendered under one session is then refused once the browser holds another (someone
//! signed in over it, or a session was planted), even with the same CSRF cookie. Without
//! a session cookie (the sign-in page before sign-in) the CSRF cookie alone decides.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpRequest, HttpResponseBuilder};
use aws_lc_rs::hmac;

use super::session_cookie::read_session_cookie;
use crate::crypto::{base64url, constant_time_eq, random_token, MasterKey};

/// Separates the token of a browser with a session from that of one without, so one can
/// never be taken for the other. Neither cookie value can contain it (cookie values are
/// printable ASCII without NUL).
const SESSION_BOUND: &[u8] = b"\0session\0";

#[derive(Clone)]
pub struct CsrfKey(hmac::Key);

impl std::fmt::Debug for CsrfKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CsrfKey(<redacted>)")
    }
}

/// What a page needs to render a form: the token, and the cookie to set when the browser
/// had none yet.
pub struct CsrfToken {
    pub token: String,
    pub cookie: Option<Cookie<'static>>,
}

/// Sets a page's CSRF cookie ([`CsrfToken::cookie`]) on its response, when the browser
/// had none yet.
pub fn set_csrf_cookie(builder: &mut HttpResponseBuilder, cookie: Option<Cookie<'static>>) {
    if let Some(cookie) = cookie {
        builder.cookie(cookie);
    }
}

impl CsrfKey {
    pub fn derive(master: &MasterKey) -> CsrfKey {
        CsrfKey(hmac::Key::new(
            hmac::HMAC_SHA256,
            &master.derive_subkey("gatehouse csrf v1"),
        ))
    }

    /// The token for a CSRF cookie value and, when the browser has one, its session
    /// cookie value.
    fn token_for(&self, cookie_value: &str, session: Option<&str>) -> String {
        let mut context = hmac::Context::with_key(&self.0);
        context.update(cookie_value.as_bytes());
        if let Some(session) = session {
            context.update(SESSION_BOUND);
            context.update(session.as_bytes());
        }
        base64url(context.sign().as_ref())
    }

    /// The token for this browser (bound to its session cookie, when it has one), creating
    /// its CSRF cookie when missing.
    pub fn issue(&self, req: &HttpRequest, secure: bool) -> CsrfToken {
        let name = cookie_name(secure);
        let session = read_session_cookie(req, secure);
        match req.cookie(name) {
            Some(cookie) if cookie.value().len() >= 32 => CsrfToken {
                token: self.token_for(cookie.value(), session.as_deref()),
                cookie: None,
            },
            _ => {
                let value = random_token(32);
                let token = self.token_for(&value, session.as_deref());
                let cookie = Cookie::build(name, value)
                    .path("/")
                    .http_only(true)
                    .secure(secure)
                    .same_site(SameSite::Lax)
                    .finish();
                CsrfToken {
                    token,
                    cookie: Some(cookie),
                }
            }
        }
    }

    /// True when `token` belongs to this browser's CSRF cookie and to the session cookie
    /// it holds now (or to none, when it holds none).
    pub fn verify(&self, req: &HttpRequest, secure: bool, token: &str) -> bool {
        let session = read_session_cookie(req, secure);
        match req.cookie(cookie_name(secure)) {
            Some(cookie) => constant_time_eq(
                self.token_for(cookie.value(), session.as_deref()).as_bytes(),
                token.as_bytes(),
            ),
            None => false,
        }
    }
}

fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-gatehouse_csrf"
    } else {
        "gatehouse_csrf"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn key() -> CsrfKey {
        CsrfKey::derive(&MasterKey::generate())
    }

    const CSRF: &str = "a-csrf-cookie-value-of-at-least-32-characters";

    fn request(session: Option<&str>) -> HttpRequest {
        let mut request = TestRequest::default().cookie(Cookie::new("gatehouse_csrf", CSRF));
        if let Some(session) = session {
            request = request.cookie(Cookie::new("gatehouse_session", session.to_string()));
        }
        request.to_http_request()
    }

    #[test]
    fn tokens_are_bound_to_the_session_cookie_when_there_is_one() {
        let key = key();
        let without = key.issue(&request(None), false);
        assert!(without.cookie.is_none(), "the browser has its CSRF cookie already");
        let under_a = key.issue(&request(Some("session-a")), false).token;
        let under_b = key.issue(&request(Some("session-b")), false).token;
        assert_ne!(under_a, under_b);
        assert_ne!(under_a, without.token);

        assert!(key.verify(&request(None), false, &without.token));
        assert!(key.verify(&request(Some("session-a")), false, &under_a));
        assert!(
            !key.verify(&request(Some("session-b")), false, &under_a),
            "another session"
        );
        assert!(!key.verify(&request(None), false, &under_a), "the session is gone");
        assert!(
            !key.verify(&request(Some("session-a")), false, &without.token),
            "a session since"
        );
        assert!(!key.verify(&request(Some("session-a")), false, ""));
    }

    #[test]
    fn the_secure_cookie_names_are_read_over_https() {
        let key = key();
        let secure = TestRequest::default()
            .cookie(Cookie::new("__Host-gatehouse_csrf", CSRF))
            .cookie(Cookie::new("__Host-gatehouse_session", "session-a"))
            .to_http_request();
        let token = key.issue(&secure, true).token;
        assert!(key.verify(&secure, true, &token));
        let other = TestRequest::default()
            .cookie(Cookie::new("__Host-gatehouse_csrf", CSRF))
            .cookie(Cookie::new("__Host-gatehouse_session", "session-b"))
            .to_http_request();
        assert!(!key.verify(&other, true, &token));
    }
}
