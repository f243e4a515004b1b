//! CSRF protection for every form: a random value in a cookie, and in the form an HMAC of
//! it under a key derived from the master key. A token cannot be made without the key, so
//! a cookie planted from a sibling domain does not help an attacker.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::{HttpRequest, HttpResponseBuilder};
use aws_lc_rs::hmac;

use crate::crypto::{base64url, constant_time_eq, random_token, MasterKey};

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

    fn token_for(&self, cookie_value: &str) -> String {
        base64url(hmac::sign(&self.0, cookie_value.as_bytes()).as_ref())
    }

    /// The token for this browser, creating its CSRF cookie when missing.
    pub fn issue(&self, req: &HttpRequest, secure: bool) -> CsrfToken {
        let name = cookie_name(secure);
        match req.cookie(name) {
            Some(cookie) if cookie.value().len() >= 32 => CsrfToken {
                token: self.token_for(cookie.value()),
                cookie: None,
            },
            _ => {
                let value = random_token(32);
                let token = self.token_for(&value);
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

    /// True when `token` belongs to this browser's CSRF cookie.
    pub fn verify(&self, req: &HttpRequest, secure: bool, token: &str) -> bool {
        match req.cookie(cookie_name(secure)) {
            Some(cookie) => constant_time_eq(self.token_for(cookie.value()).as_bytes(), token.as_bytes()),
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
