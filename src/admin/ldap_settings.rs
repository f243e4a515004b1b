//! The LDAP settings, for administrators: the page `/admin/ldap` (a form with every
//! setting, "Test connection" and "Save") and the JSON API `/admin/api/ldap` (read,
//! replace, test). A save takes effect at once on this instance (`refresh_directory`)
//! and within the polling interval on the others. The bind password is never sent out
//! and never logged: the form's password field is always empty ("keep the current one")
//! and the API's JSON leaves it out. The stored password is kept (for a test or a save)
//! only while the servers, bind DN and TLS settings stay as stored
//! ([`apply_bind_password`]); otherwise it must be typed again. Every connection test is
//! audited.

use crate::http::csrf::set_csrf_cookie;
use actix_web::http::header::{CacheControl, CacheDirective};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::access::{AdminApiWrite, AdminSession};
use super::api_error::ApiError;
use super::ldap_form::{
    form_from_settings, preset_options, report_json, report_view, settings_from_form, settings_from_json,
    settings_to_json,
};
use crate::app::state::AppState;
use crate::config::LdapConfig;
use crate::http::admin_pages::{LdapFormFields, LdapSettingsPage};
use crate::http::page_response::{html_response, render_page, PageError};
use crate::settings::ldap_settings::{
    apply_bind_password, load_or_seed_ldap_settings, problems_besides_bind_password, record_refused_connection_test,
    run_ldap_connection_test, save_ldap_settings, BindPasswordSource,
};
use crate::settings::SettingsError;

/// The longest sample username the test accepts.
const MAX_SAMPLE_USERNAME: usize = 256;

/// What the LDAP form posts: the settings, and which button was pressed.
#[derive(Deserialize)]
pub struct LdapSettingsForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    sample_username: String,
    #[serde(flatten)]
    fields: LdapFormFields,
}

/// The stored settings and their version (seeded from the file on first use).
pub async fn current_ldap_settings(state: &AppState) -> Result<(LdapConfig, i64), SettingsError> {
    load_or_seed_ldap_settings(&state.db, &state.master_key, &state.config.ldap, state.now()).await
}

/// Makes this instance use the stored settings now (the others pick them up by polling).
pub async fn apply_saved_settings(state: &AppState) {
    if let Err(error) = state.refresh_directory().await {
        tracing::error!(error = %error, "the LDAP settings were saved, but this instance could not switch to them yet");
    }
}

struct PageOutcome {
    form: LdapFormFields,
    version: i64,
    password_stored: bool,
    sample_username: String,
    password_typed: bool,
    password_needed: bool,
    report: Option<crate::http::admin_pages::ConnectionReportView>,
    problems: Vec<String>,
    saved: bool,
    status: StatusCode,
}

fn ldap_page(state: &AppState, req: &HttpRequest, admin: &AdminSession, outcome: PageOutcome) -> HttpResponse {
    let csrf = state.csrf.issue(req, state.secure_cookies());
    let page = LdapSettingsPage {
        demo: state.config.demo,
        csrf_token: csrf.token,
        username: admin.username.clone(),
        version: outcome.version,
        form: outcome.form,
        presets: preset_options(),
        password_stored: outcome.password_stored,
        sample_username: outcome.sample_username,
        password_typed: outcome.password_typed,
        password_needed: outcome.password_needed,
        report: outcome.report,
        problems: outcome.problems,
        saved: outcome.saved,
    };
    let mut builder = html_response(outcome.status);
    set_csrf_cookie(&mut builder, csrf.cookie);
    render_page(&mut builder, &page)
}

/// `GET /admin/ldap`.
pub async fn get_ldap_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: AdminSession,
) -> Result<HttpResponse, PageError> {
    let (settings, version) = current_ldap_settings(&state).await.map_err(PageError::internal)?;
    Ok(ldap_page(
        &state,
        &req,
        &admin,
        PageOutcome {
            form: form_from_settings(&settings),
            version,
            password_stored: !settings.bind_password.is_empty(),
            sample_username: String::new(),
            password_typed: false,
            password_needed: false,
            report: None,
            problems: Vec::new(),
            saved: false,
            status: StatusCode::OK,
        },
    ))
}

/// `POST /admin/ldap`: "Test connection" (`action=test`) or "Save" (`action=save`).
pub async fn post_ldap_page(
    state: web::Data<AppState>,
    req: HttpRequest,
    admin: AdminSession,
    form: web::Form<LdapSettingsForm>,
) -> Result<HttpResponse, PageError> {
    let demo = state.config.demo;
    let form = form.into_inner();
    if !state.csrf.verify(&req, state.secure_cookies(), &form.csrf_token) {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "The form had expired",
            "Please open the LDAP settings again and repeat the change.",
        )
        .in_demo(demo));
    }
    let (current, _) = current_ldap_settings(&state).await.map_err(PageError::internal)?;
    let sample_username = form.sample_username.trim().to_string();
    let fields = form.fields;
    let password_typed = !fields.bind_password.is_empty();
    let Ok(version) = form.version.trim().parse::<i64>() else {
        return Err(
            PageError::bad_request("The form is incomplete", "Please open the LDAP settings again.").in_demo(demo),
        );
    };
    let password_stored = !current.bind_password.is_empty();
    // What was typed goes back into the form, except the password.
    let mut shown = fields.clone();
    shown.bind_password.clear();
    let again = |problems: Vec<String>, report, status| PageOutcome {
        form: shown.clone(),
        version,
        password_stored,
        sample_username: sample_username.clone(),
        password_typed,
        password_needed: false,
        report,
        problems,
        saved: false,
        status,
    };
    let (mut settings, password) = match settings_from_form(&fields) {
        Ok(parsed) => parsed,
        Err(problems) => {
            return Ok(ldap_page(
                &state,
                &req,
                &admin,
                again(problems, None, StatusCode::BAD_REQUEST),
            ))
        }
    };
    let source = match apply_bind_password(&current, &mut settings, password) {
        Ok(source) => source,
        Err(_) => {
            let problems = if form.action == "test" {
                record_refused_connection_test(&settings, &sample_username, &admin.sub, &state.audit, state.now());
                Vec::new()
            } else {
                // The password is asked for next to its field; the rest are listed.
                problems_besides_bind_password(&current, &settings)
            };
            let outcome = PageOutcome {
                password_needed: true,
                ..again(problems, None, StatusCode::BAD_REQUEST)
            };
            return Ok(ldap_page(&state, &req, &admin, outcome));
        }
    };
    match form.action.as_str() {
        "test" => {
            if sample_username.len() > MAX_SAMPLE_USERNAME {
                let problem = vec!["the sample username is too long".to_string()];
                return Ok(ldap_page(
                    &state,
                    &req,
                    &admin,
                    again(problem, None, StatusCode::BAD_REQUEST),
                ));
            }
            let report = run_ldap_connection_test(
                &settings,
                source,
                &sample_username,
                &admin.sub,
                &state.audit,
                &state.clock,
            )
            .await;
            let view = report_view(&report, &sample_username);
            Ok(ldap_page(
                &state,
                &req,
                &admin,
                again(Vec::new(), Some(view), StatusCode::OK),
            ))
        }
        "save" => {
            let saved = save_ldap_settings(
                &state.db,
                &state.master_key,
                &settings,
                version,
                &admin.sub,
                &state.audit,
                state.now(),
            )
            .await;
            match saved {
                Ok(new_version) => {
                    apply_saved_settings(&state).await;
                    Ok(ldap_page(
                        &state,
                        &req,
                        &admin,
                        PageOutcome {
                            form: form_from_settings(&settings),
                            version: new_version,
                            password_stored: !settings.bind_password.is_empty(),
                            sample_username,
                            password_typed: false,
                            password_needed: false,
                            report: None,
                            problems: Vec::new(),
                            saved: true,
                            status: StatusCode::OK,
                        },
                    ))
                }
                Err(SettingsError::Invalid(problems)) => Ok(ldap_page(
                    &state,
                    &req,
                    &admin,
                    again(problems, None, StatusCode::BAD_REQUEST),
                )),
                Err(SettingsError::Conflict(_)) => {
                    let problem = vec![
                        "Someone else changed the LDAP settings while you were editing them. Open the page again to see \
                         their change, then repeat yours."
                            .to_string(),
                    ];
                    Ok(ldap_page(
                        &state,
                        &req,
                        &admin,
                        again(problem, None, StatusCode::CONFLICT),
                    ))
                }
                Err(error) => Err(PageError::internal(error).in_demo(demo)),
            }
        }
        _ => Err(PageError::bad_request("Unknown action", "Use the Test connection or Save button.").in_demo(demo)),
    }
}

fn json_ok(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .json(body)
}

/// `GET /admin/api/ldap`: the settings without the bind password, with `version`.
pub async fn get_ldap_api(state: web::Data<AppState>, _admin: AdminSession) -> Result<HttpResponse, ApiError> {
    let (settings, version) = current_ldap_settings(&state).await?;
    Ok(json_ok(settings_to_json(&settings, version)))
}

fn json_body(body: &web::Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|_| ApiError::invalid(vec!["the body must be a JSON object".to_string()]))
}

/// `PUT /admin/api/ldap`: replaces the settings. `version` (required) is the version the
/// caller read; `bind_password` left out keeps the stored one, but only while the servers,
/// bind DN and TLS settings stay as stored (else 400 with a `problems` entry naming
/// `bind_password`). 400 with `problems`, 409 when someone saved meanwhile.
pub async fn put_ldap_api(
    state: web::Data<AppState>,
    admin: AdminApiWrite,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let AdminApiWrite(admin) = admin;
    let body = json_body(&body)?;
    let Some(version) = body.get("version").and_then(Value::as_i64) else {
        return Err(ApiError::invalid(vec![
            "`version` is required: the version of the settings you read (GET /admin/api/ldap)".to_string(),
        ]));
    };
    let (current, _) = current_ldap_settings(&state).await?;
    let (mut settings, password) = settings_from_json(&body).map_err(ApiError::invalid)?;
    if let Err(error) = apply_bind_password(&current, &mut settings, password) {
        let mut problems = vec![error.to_string()];
        problems.extend(problems_besides_bind_password(&current, &settings));
        return Err(ApiError::invalid(problems));
    }
    let new_version = save_ldap_settings(
        &state.db,
        &state.master_key,
        &settings,
        version,
        &admin.sub,
        &state.audit,
        state.now(),
    )
    .await?;
    apply_saved_settings(&state).await;
    Ok(json_ok(settings_to_json(&settings, new_version)))
}

/// `POST /admin/api/ldap/test`: `{"settings"?: {...}, "sample_username": "..."}`; without
/// `settings` the stored ones are tested. Answers the report (200 whatever it says); 400
/// naming `bind_password` when `settings` name other servers, another bind DN or other
/// TLS settings without the password. Every test is audited.
pub async fn post_ldap_test_api(
    state: web::Data<AppState>,
    admin: AdminApiWrite,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let AdminApiWrite(admin) = admin;
    let body = json_body(&body)?;
    let sample_username = match body.get("sample_username") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(name)) => name.trim().to_string(),
        Some(_) => {
            return Err(ApiError::invalid(
                vec!["`sample_username` must be a string".to_string()],
            ))
        }
    };
    if sample_username.len() > MAX_SAMPLE_USERNAME {
        return Err(ApiError::invalid(vec!["`sample_username` is too long".to_string()]));
    }
    let (current, _) = current_ldap_settings(&state).await?;
    let (settings, source) = match body.get("settings") {
        None | Some(Value::Null) => {
            let source = BindPasswordSource::of_stored(&current);
            (current, source)
        }
        Some(given) => {
            let (mut settings, password) = settings_from_json(given).map_err(ApiError::invalid)?;
            match apply_bind_password(&current, &mut settings, password) {
                Ok(source) => (settings, source),
                Err(error) => {
                    record_refused_connection_test(&settings, &sample_username, &admin.sub, &state.audit, state.now());
                    return Err(error.into());
                }
            }
        }
    };
    let report = run_ldap_connection_test(
        &settings,
        source,
        &sample_username,
        &admin.sub,
        &state.audit,
        &state.clock,
    )
    .await;
    let mut answer = report_json(&report, &sample_username);
    answer["tested"] = json!(if body.get("settings").is_some_and(|s| !s.is_null()) {
        "given"
    } else {
        "stored"
    });
    Ok(json_ok(answer))
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/admin/ldap")
            .route(web::get().to(get_ldap_page))
            .route(web::post().to(post_ldap_page)),
    )
    .service(
        web::resource("/admin/api/ldap")
            .route(web::get().to(get_ldap_api))
            .route(web::put().to(put_ldap_api)),
    )
    .route("/admin/api/ldap/test", web::post().to(post_ldap_test_api));
}
