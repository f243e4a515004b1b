//! Reading an `application/x-www-form-urlencoded` body into `RawParameters`, keeping track
//! of repeated parameters (which RFC 6749 forbids).

use actix_web::http::header;
use actix_web::HttpRequest;

use crate::authorization::authorize_request::RawParameters;

/// True when the request declares a form body (`charset` and other parameters allowed).
pub fn is_form_body(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

pub fn parse_form(body: &[u8]) -> RawParameters {
    RawParameters::from_pairs(url::form_urlencoded::parse(body).into_owned())
}
