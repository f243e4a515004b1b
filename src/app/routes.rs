//! The one place that knows every route.

use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, HttpResponse};

use crate::http::rate_limit::{rate_limit, LimitedEndpoint};
use crate::oidc::{
    authorize_endpoint, discovery_endpoint, end_session_endpoint, introspection_endpoint, revocation_endpoint,
    token_endpoint, userinfo_endpoint,
};
use crate::web::{
    account_page, consent_page, health, home_page, login_page, metrics_endpoint, sessions_page, setup_link_page,
    static_route, tokens_page, totp_page,
};

/// Cross-origin access for endpoints browser applications call directly (no cookies).
fn cors() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .add((
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            "WWW-Authenticate, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset",
        ))
}

async fn preflight() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
        .insert_header((header::ACCESS_CONTROL_ALLOW_HEADERS, "Authorization, Content-Type"))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
        .finish()
}

pub fn configure_all_routes(cfg: &mut web::ServiceConfig) {
    cfg.route(
        "/.well-known/openid-configuration",
        web::get().to(discovery_endpoint::get_openid_configuration),
    )
    .route("/jwks.json", web::get().to(discovery_endpoint::get_jwks))
    .service(
        web::resource("/authorize")
            .wrap(rate_limit(LimitedEndpoint::Authorize))
            .route(web::get().to(authorize_endpoint::get_authorize))
            .route(web::post().to(authorize_endpoint::post_authorize)),
    )
    .service(
        web::resource("/token")
            .wrap(rate_limit(LimitedEndpoint::Token))
            .wrap(cors())
            .route(web::post().to(token_endpoint::post_token))
            .route(web::method(actix_web::http::Method::OPTIONS).to(preflight)),
    )
    .service(
        web::resource("/revoke")
            .wrap(rate_limit(LimitedEndpoint::Revoke))
            .wrap(cors())
            .route(web::post().to(revocation_endpoint::post_revoke))
            .route(web::method(actix_web::http::Method::OPTIONS).to(preflight)),
    )
    .service(
        web::resource("/introspect")
            .wrap(rate_limit(LimitedEndpoint::Introspect))
            .route(web::post().to(introspection_endpoint::post_introspect)),
    )
    .service(
        web::resource("/userinfo")
            .wrap(rate_limit(LimitedEndpoint::Userinfo))
            .wrap(cors())
            .route(web::get().to(userinfo_endpoint::userinfo))
            .route(web::post().to(userinfo_endpoint::userinfo))
            .route(web::method(actix_web::http::Method::OPTIONS).to(preflight)),
    )
    .service(
        web::resource("/logout")
            .route(web::get().to(end_session_endpoint::get_logout))
            .route(web::post().to(end_session_endpoint::post_logout)),
    )
    .service(
        web::resource("/login")
            .wrap(rate_limit(LimitedEndpoint::Login))
            .route(web::get().to(login_page::get_login))
            .route(web::post().to(login_page::post_login)),
    )
    .service(
        web::resource("/login/totp")
            .wrap(rate_limit(LimitedEndpoint::SecondFactor))
            .route(web::get().to(totp_page::get_login_totp))
            .route(web::post().to(totp_page::post_login_totp)),
    )
    .service(
        web::resource("/login/totp/enrol")
            .wrap(rate_limit(LimitedEndpoint::SecondFactor))
            .route(web::get().to(totp_page::get_login_totp_enrol))
            .route(web::post().to(totp_page::post_login_totp_enrol)),
    )
    .service(
        web::resource("/login/totp/setup")
            .wrap(rate_limit(LimitedEndpoint::SecondFactor))
            .route(web::get().to(setup_link_page::get_second_factor_setup)),
    )
    .route("/login/continue", web::get().to(totp_page::get_login_continue))
    .route("/account", web::get().to(account_page::get_account))
    .service(
        web::resource("/account/totp/enrol")
            .route(web::get().to(account_page::get_account_totp_enrol))
            .route(web::post().to(account_page::post_account_totp_enrol)),
    )
    .route(
        "/account/totp/reset",
        web::post().to(account_page::post_account_totp_reset),
    )
    .route(
        "/account/recovery-codes",
        web::post().to(account_page::post_account_recovery_codes),
    )
    .service(
        web::resource("/account/tokens")
            .route(web::get().to(tokens_page::get_account_tokens))
            .route(web::post().to(tokens_page::post_account_tokens)),
    )
    .route(
        "/account/tokens/{id}/revoke",
        web::post().to(tokens_page::post_account_token_revoke),
    )
    .route("/account/sessions", web::get().to(sessions_page::get_account_sessions))
    .route("/account/sessions/end", web::post().to(sessions_page::post_end_session))
    .route(
        "/account/sessions/end-others",
        web::post().to(sessions_page::post_end_other_sessions),
    )
    .route(
        "/account/applications/disconnect",
        web::post().to(sessions_page::post_disconnect_application),
    )
    .service(
        web::resource("/consent")
            .route(web::get().to(consent_page::get_consent))
            .route(web::post().to(consent_page::post_consent)),
    )
    .route("/", web::get().to(home_page::get_home))
    .route("/static/{name}", web::get().to(static_route::get_static))
    .route("/healthz", web::get().to(health::get_healthz))
    .route("/readyz", web::get().to(health::get_readyz))
    .route("/metrics", web::get().to(metrics_endpoint::get_metrics))
    .configure(crate::admin::configure_admin_routes);
}
