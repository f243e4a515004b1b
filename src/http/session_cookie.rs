//! The single sign-on cookie: HttpOnly, SameSite=Lax, Secure (and `__Host-`) over https.

use actix_web::cookie::{time::Duration, Cookie, SameSite};
use actix_web::HttpRequest;

fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-gatehouse_session"
    } else {
        "gatehouse_session"
    }
}

pub fn read_session_cookie(req: &HttpRequest, secure: bool) -> Option<String> {
    req.cookie(cookie_name(secure)).map(|c| c.value().to_string())
}

pub fn session_cookie(value: String, secure: bool, max_age_seconds: i64) -> Cookie<'static> {
    Cookie::build(cookie_name(secure), value)
        .path("/")
        .http_only(true)
        .secure(secure)
        .same_site(SameSite::Lax)
        .max_age(Duration::seconds(max_age_seconds))
        .finish()
}

pub fn clear_session_cookie(secure: bool) -> Cookie<'static> {
    let mut cookie = session_cookie(String::new(), secure, 0);
    cookie.make_removal();
    cookie
}
