//! Reading an `application/x-www-form-urlencoded` body into `RawParameters`, keeping track
//! of repeated parameters (which RFC 6749 forbids).

use actix_web::http::header;
use actix_web::HttpRequest;

use super::oauth_error::OAuthError;
use crate::authorization::authorize_request::RawParameters;

/// True when the request declares a form body (`charset` and other parameters allowed).
pub fn is_form_body(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
}

/// The parameters of a form-encoded protocol request (`/token`, `/revoke`,
/// `/introspect`): `invalid_request` for another content type, a parameter over its
/// limit, too many parameters (`authorization::parameter_limits`) or a repeated one.
/// `request` names the request in the error ("token request").
pub fn read_protocol_form(req: &HttpRequest, body: &[u8], request: &str) -> Result<RawParameters, OAuthError> {
    if !is_form_body(req) {
        return Err(OAuthError::invalid_request(format!(
            "the {request} must be sent as application/x-www-form-urlencoded"
        )));
    }
    let params = parse_form(body);
    if let Some(problem) = params.size_problem() {
        return Err(OAuthError::invalid_request(problem.to_string()));
    }
    if let Some(name) = params.first_duplicate() {
        return Err(OAuthError::invalid_request(format!("the {name} parameter is repeated")));
    }
    Ok(params)
}

pub fn parse_form(body: &[u8]) -> RawParameters {
    RawParameters::from_pairs(url::form_urlencoded::parse(body).into_owned())
}
