//! `/setup`: the first-run page. While no administrator group is stored, `serve` prints a
//! one-time link `{issuer}/setup?token=...` on its terminal (standard error, never in a
//! log line); whoever holds it names the directory groups whose members administer
//! Gatehouse, tests the directory with a sample person, and may change the LDAP settings.
//! Finishing spends the token: afterwards `/setup` answers 410.

use crate::http::csrf::set_csrf_cookie;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::ldap_form::{form_from_settings, preset_options, report_view, settings_from_form};
use super::ldap_settings::{apply_saved_settings, current_ldap_settings};
use crate::app::state::AppState;
use crate::http::admin_pages::{ConnectionReportView, LdapFormFields, SetupDonePage, SetupPage};
use crate::http::page_response::{html_response, render_page, PageError};
use crate::settings::admin_groups::{
    admin_group_problems, check_setup_token, consume_setup_token, load_admin_groups, parse_group_list,
    save_admin_groups, SetupTokenStatus,
};
use crate::settings::ldap_settings::{
    apply_bind_password, problems_besides_bind_password, record_refused_connection_test, run_ldap_connection_test,
    save_ldap_settings, BindPasswordSource,
};
use crate::settings::SettingsError;

/// Who the setup's changes are attributed to in the audit trail.
const SETUP_ACTOR: &str = "setup";
const MAX_SAMPLE_USERNAME: usize = 256;

#[derive(Deserialize)]
pub struct SetupQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    admin_groups: String,
    #[serde(default)]
    change_ldap: Option<String>,
    #[serde(default)]
    sample_username: String,
    #[serde(default)]
    action: String,
    #[serde(flatten)]
    fields: LdapFormFields,
}

/// Refuses the request unless `token` is the pending setup token.
async fn require_setup_token(state: &AppState, token: &str) -> Result<(), PageError> {
    let demo = state.config.demo;
    match check_setup_token(&state.db, token, state.now())
        .await
        .map_err(PageError::internal)?
    {
        SetupTokenStatus::Valid => Ok(()),
        SetupTokenStatus::Invalid => Err(PageError::new(
            StatusCode::FORBIDDEN,
            "This setup link is not valid",
            "The link is wrong or has expired. Restart Gatehouse to get a new one on its terminal.",
        )
        .in_demo(demo)),
        SetupTokenStatus::NonePending => {
            let groups = load_admin_groups(&state.db, &state.master_key, &state.config.admin.groups, state.now())
                .await
                .map_err(PageError::internal)?;
            if groups.groups.is_empty() {
                Err(PageError::new(
                    StatusCode::NOT_FOUND,
                    "No setup is waiting",
                    "Gatehouse prints a setup link on its terminal when it starts without an administrator group.",
                )
                .in_demo(demo))
            } else {
                Err(PageError::new(
                    StatusCode::GONE,
                    "Setup is finished",
                    "Administrators are named already. Sign in and use the administration pages.",
                )
                .in_demo(demo))
            }
        }
    }
}

struct SetupView {
    token: String,
    admin_groups: String,
    change_ldap: bool,
    version: i64,
    form: LdapFormFields,
    password_stored: bool,
    sample_username: String,
    password_typed: bool,
    password_needed: bool,
    report: Option<ConnectionReportView>,
    problems: Vec<String>,
    status: StatusCode,
}

fn setup_page(state: &AppState, req: &HttpRequest, view: SetupView) -> HttpResponse {
    let csrf = state.csrf.issue(req, state.secure_cookies());
    let page = SetupPage {
        demo: state.config.demo,
        csrf_token: csrf.token,
        token: view.token,
        admin_groups: view.admin_groups,
        change_ldap: view.change_ldap,
        version: view.version,
        form: view.form,
        presets: preset_options(),
        password_stored: view.password_stored,
        sample_username: view.sample_username,
        password_typed: view.password_typed,
        password_needed: view.password_needed,
        report: view.report,
        problems: view.problems,
    };
    let mut builder = html_response(view.status);
    // The page carries the token: never let it be sent on to another site.
    builder.insert_header(("Referrer-Policy", "no-referrer"));
    set_csrf_cookie(&mut builder, csrf.cookie);
    render_page(&mut builder, &page)
}

/// `GET /setup?token=...`.
pub async fn get_setup(
    state: web::Data<AppState>,
    req: HttpRequest,
    query: web::Query<SetupQuery>,
) -> Result<HttpResponse, PageError> {
    require_setup_token(&state, &query.token).await?;
    let (settings, version) = current_ldap_settings(&state).await.map_err(PageError::internal)?;
    Ok(setup_page(
        &state,
        &req,
        SetupView {
            token: query.token.clone(),
            admin_groups: String::new(),
            change_ldap: false,
            version,
            form: form_from_settings(&settings),
            password_stored: !settings.bind_password.is_empty(),
            sample_username: String::new(),
            password_typed: false,
            password_needed: false,
            report: None,
            problems: Vec::new(),
            status: StatusCode::OK,
        },
    ))
}

/// `POST /setup`: "Test connection" (`action=test`) or "Finish setup" (`action=save`).
pub async fn post_setup(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<SetupForm>,
) -> Result<HttpResponse, PageError> {
    let demo = state.config.demo;
    let form = form.into_inner();
    if !state.csrf.verify(&req, state.secure_cookies(), &form.csrf_token) {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "The form had expired",
            "Please open the setup link again.",
        )
        .in_demo(demo));
    }
    require_setup_token(&state, &form.token).await?;
    let (current, _) = current_ldap_settings(&state).await.map_err(PageError::internal)?;
    let change_ldap = form.change_ldap.is_some();
    // The LDAP settings' version matters only when they are saved too.
    let version = match form.version.trim().parse::<i64>() {
        Ok(version) => version,
        Err(_) if !change_ldap => 0,
        Err(_) => {
            return Err(
                PageError::bad_request("The form is incomplete", "Please open the setup link again.").in_demo(demo),
            )
        }
    };
    let sample_username = form.sample_username.trim().to_string();
    let mut shown = if change_ldap {
        form.fields.clone()
    } else {
        form_from_settings(&current)
    };
    shown.bind_password.clear();
    let password_typed = change_ldap && !form.fields.bind_password.is_empty();
    let view = |problems: Vec<String>, report: Option<ConnectionReportView>, status: StatusCode| SetupView {
        token: form.token.clone(),
        admin_groups: form.admin_groups.clone(),
        change_ldap,
        version,
        form: shown.clone(),
        password_stored: !current.bind_password.is_empty(),
        sample_username: sample_username.clone(),
        password_typed,
        password_needed: false,
        report,
        problems,
        status,
    };
    let (settings, source) = if change_ldap {
        let (mut settings, password) = match settings_from_form(&form.fields) {
            Ok(parsed) => parsed,
            Err(problems) => return Ok(setup_page(&state, &req, view(problems, None, StatusCode::BAD_REQUEST))),
        };
        match apply_bind_password(&current, &mut settings, password) {
            Ok(source) => (settings, source),
            Err(_) => {
                let problems = if form.action == "test" {
                    record_refused_connection_test(&settings, &sample_username, SETUP_ACTOR, &state.audit, state.now());
                    Vec::new()
                } else {
                    // The password is asked for next to its field; the rest are listed.
                    problems_besides_bind_password(&current, &settings)
                };
                let refused = SetupView {
                    password_needed: true,
                    ..view(problems, None, StatusCode::BAD_REQUEST)
                };
                return Ok(setup_page(&state, &req, refused));
            }
        }
    } else {
        (current.clone(), BindPasswordSource::of_stored(&current))
    };

    match form.action.as_str() {
        "test" => {
            if sample_username.len() > MAX_SAMPLE_USERNAME {
                let problems = vec!["the sample username is too long".to_string()];
                return Ok(setup_page(&state, &req, view(problems, None, StatusCode::BAD_REQUEST)));
            }
            let report = run_ldap_connection_test(
                &settings,
                source,
                &sample_username,
                SETUP_ACTOR,
                &state.audit,
                &state.clock,
            )
            .await;
            let report = Some(report_view(&report, &sample_username));
            Ok(setup_page(&state, &req, view(Vec::new(), report, StatusCode::OK)))
        }
        "save" => {
            let groups = parse_group_list(&form.admin_groups);
            let problems = admin_group_problems(&groups);
            if !problems.is_empty() {
                return Ok(setup_page(&state, &req, view(problems, None, StatusCode::BAD_REQUEST)));
            }
            if change_ldap {
                let saved = save_ldap_settings(
                    &state.db,
                    &state.master_key,
                    &settings,
                    version,
                    SETUP_ACTOR,
                    &state.audit,
                    state.now(),
                )
                .await;
                match saved {
                    Ok(_) => apply_saved_settings(&state).await,
                    Err(SettingsError::Invalid(problems)) => {
                        return Ok(setup_page(&state, &req, view(problems, None, StatusCode::BAD_REQUEST)))
                    }
                    Err(SettingsError::Conflict(_)) => {
                        let problems = vec!["The LDAP settings changed meanwhile; open the setup link again.".into()];
                        return Ok(setup_page(&state, &req, view(problems, None, StatusCode::CONFLICT)));
                    }
                    Err(error) => return Err(PageError::internal(error).in_demo(demo)),
                }
            }
            if !consume_setup_token(&state.db, &form.token, state.now())
                .await
                .map_err(PageError::internal)?
            {
                return Err(PageError::new(
                    StatusCode::GONE,
                    "This setup link was used already",
                    "Someone finished the setup with this link a moment ago.",
                )
                .in_demo(demo));
            }
            let stored = load_admin_groups(&state.db, &state.master_key, &[], state.now())
                .await
                .map_err(PageError::internal)?;
            save_admin_groups(
                &state.db,
                &state.master_key,
                &groups,
                stored.version,
                SETUP_ACTOR,
                &state.audit,
                state.now(),
            )
            .await
            .map_err(PageError::internal)?;
            tracing::warn!(groups = ?groups, "first-run setup finished: administrator groups named");
            let page = SetupDonePage {
                demo,
                admin_groups: groups,
            };
            Ok(render_page(&mut html_response(StatusCode::OK), &page))
        }
        _ => Err(
            PageError::bad_request("Unknown action", "Use the Test connection or Finish setup button.").in_demo(demo),
        ),
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/setup")
            .route(web::get().to(get_setup))
            .route(web::post().to(post_setup)),
    );
}
