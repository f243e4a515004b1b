//! The administration pages' view models (templates under `templates/admin/`).
//!
//! Like [`super::pages`], every value is HTML-escaped by askama, and the structs that
//! carry a CSRF or setup token do not implement `Debug`. No page ever carries the LDAP
//! bind password: its field is always rendered empty.

use askama::Template;
use serde::{Deserialize, Deserializer};

/// A checkbox: present in the form (whatever its value) means ticked.
fn checkbox<'de, D: Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    String::deserialize(deserializer).map(|_| true)
}

/// Every LDAP setting as the form shows and posts it: text as typed, lists one item per
/// line (`urls`, `extra_claims` as `claim = attribute`) or comma separated
/// (`login_attributes`), checkboxes as booleans.
#[derive(Clone, Default, Deserialize)]
#[serde(default)]
pub struct LdapFormFields {
    pub preset: String,
    pub url: String,
    pub urls: String,
    #[serde(deserialize_with = "checkbox")]
    pub starttls: bool,
    pub ca_file: String,
    #[serde(deserialize_with = "checkbox")]
    pub tls_verify: bool,
    pub retry_after: String,
    pub pool_size: String,
    pub bind_dn: String,
    /// Empty: keep the stored password. Never rendered back.
    pub bind_password: String,
    pub base_dn: String,
    pub user_filter: String,
    pub user_object_filter: String,
    pub login_attributes: String,
    pub connect_timeout: String,
    pub operation_timeout: String,
    pub attr_id: String,
    pub attr_username: String,
    pub attr_name: String,
    pub attr_given_name: String,
    pub attr_family_name: String,
    pub attr_email: String,
    pub attr_member_of: String,
    pub groups_base_dn: String,
    pub groups_filter: String,
    pub groups_name_attribute: String,
    /// `name` or `dn`.
    pub groups_value: String,
    pub groups_nested_depth: String,
    pub groups_nested_filter: String,
    #[serde(deserialize_with = "checkbox")]
    pub email_verified: bool,
    #[serde(deserialize_with = "checkbox")]
    pub check_ppolicy: bool,
    #[serde(deserialize_with = "checkbox")]
    pub check_active_directory: bool,
    #[serde(deserialize_with = "checkbox")]
    pub check_ns_account_lock: bool,
    pub extra_claims: String,
    pub recheck_interval: String,
}

/// One preset in the preset menu.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresetOption {
    pub value: &'static str,
    pub label: &'static str,
}

/// The result of "Test connection", as the pages show it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectionReportView {
    pub ok: bool,
    pub sample_username: String,
    pub steps: Vec<ConnectionStepView>,
    /// The claims the sample user would get: (claim, value), in a fixed order.
    pub claims: Vec<(String, String)>,
    pub groups: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionStepView {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// `/admin`: who is signed in, and what can be administered.
#[derive(Clone, Template)]
#[template(path = "admin/index.html")]
pub struct AdminIndexPage {
    pub demo: bool,
    pub username: String,
    pub name: Option<String>,
    pub admin_groups: Vec<String>,
}

/// `/admin/ldap`: the LDAP settings form, with the last test report or save outcome.
#[derive(Clone, Template)]
#[template(path = "admin/ldap.html")]
pub struct LdapSettingsPage {
    pub demo: bool,
    pub csrf_token: String,
    pub username: String,
    /// The version of the settings the form was filled from (a hidden field).
    pub version: i64,
    pub form: LdapFormFields,
    pub presets: Vec<PresetOption>,
    /// Whether a bind password is stored (the field itself stays empty).
    pub password_stored: bool,
    pub sample_username: String,
    /// A new password was typed: it was used, but is not shown again.
    pub password_typed: bool,
    /// The servers, bind DN or TLS settings differ from the stored ones and no password
    /// was typed: the stored one is not sent there, so it must be typed again.
    pub password_needed: bool,
    pub report: Option<ConnectionReportView>,
    /// Every validation problem of the last save attempt.
    pub problems: Vec<String>,
    /// Set after a successful save.
    pub saved: bool,
}

/// `/setup`: the first-run page (no administrator yet).
#[derive(Clone, Template)]
#[template(path = "admin/setup.html")]
pub struct SetupPage {
    pub demo: bool,
    pub csrf_token: String,
    /// The setup token from the link, posted back.
    pub token: String,
    /// The administrator groups as typed.
    pub admin_groups: String,
    /// Whether to store the LDAP fields below as well.
    pub change_ldap: bool,
    pub version: i64,
    pub form: LdapFormFields,
    pub presets: Vec<PresetOption>,
    pub password_stored: bool,
    pub sample_username: String,
    /// A new password was typed: it was used, but is not shown again.
    pub password_typed: bool,
    /// The stored password cannot go to the servers or account the form names: type it.
    pub password_needed: bool,
    pub report: Option<ConnectionReportView>,
    pub problems: Vec<String>,
}

/// `/setup` once the setup is done.
#[derive(Clone, Debug, Template)]
#[template(path = "admin/setup_done.html")]
pub struct SetupDonePage {
    pub demo: bool,
    pub admin_groups: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::{Html, Selector};

    fn count(html: &str, css: &str) -> usize {
        let selector = Selector::parse(css).expect("valid selector");
        Html::parse_document(html).select(&selector).count()
    }

    fn report() -> ConnectionReportView {
        ConnectionReportView {
            ok: false,
            sample_username: "alice".into(),
            steps: vec![ConnectionStepView {
                name: "connect".into(),
                ok: false,
                detail: "<b>refused</b>".into(),
            }],
            claims: vec![("email".into(), "alice@example.org".into())],
            groups: vec!["admins".into()],
        }
    }

    #[test]
    fn the_ldap_page_never_renders_a_password_and_escapes_the_report() {
        let form = LdapFormFields {
            preset: "lldap".into(),
            bind_password: "must-not-appear".into(),
            tls_verify: true,
            ..LdapFormFields::default()
        };
        let page = LdapSettingsPage {
            demo: false,
            csrf_token: "csrf-1".into(),
            username: "alice".into(),
            version: 3,
            form,
            presets: vec![
                PresetOption {
                    value: "openldap",
                    label: "OpenLDAP",
                },
                PresetOption {
                    value: "lldap",
                    label: "lldap",
                },
            ],
            password_stored: true,
            sample_username: "alice".into(),
            password_typed: false,
            password_needed: true,
            report: Some(report()),
            problems: vec!["`ldap.base_dn` is required".into()],
            saved: false,
        };
        let html = page.render().expect("renders");
        assert!(!html.contains("must-not-appear"));
        assert_eq!(count(&html, r#"input[name=bind_password][value=""]"#), 1);
        assert_eq!(count(&html, r#"input[type=hidden][name=csrf_token][value=csrf-1]"#), 1);
        assert_eq!(count(&html, r#"input[type=hidden][name=version][value="3"]"#), 1);
        assert_eq!(count(&html, r#"option[value=lldap][selected]"#), 1);
        assert_eq!(count(&html, r#"input[name=tls_verify][checked]"#), 1);
        assert_eq!(count(&html, r#"input[name=starttls][checked]"#), 0);
        assert_eq!(count(&html, "script"), 0);
        assert_eq!(count(&html, "[style]"), 0);
        assert!(!html.contains("<b>refused</b>"), "report details are escaped");
        assert!(html.contains("`ldap.base_dn` is required") || html.contains("&#96;ldap.base_dn&#96; is required"));
        assert_eq!(count(&html, ".step-failed"), 1);
        assert_eq!(
            count(&html, "#bind_password_needed"),
            1,
            "the password is asked for again"
        );
        assert_eq!(
            count(
                &html,
                "input[name=bind_password][aria-describedby=bind_password_needed]"
            ),
            1
        );
    }

    #[test]
    fn the_setup_page_carries_its_token_and_csrf_token() {
        let page = SetupPage {
            demo: true,
            csrf_token: "csrf-2".into(),
            token: "setup-token".into(),
            admin_groups: "admins".into(),
            change_ldap: false,
            version: 1,
            form: LdapFormFields::default(),
            presets: Vec::new(),
            password_stored: false,
            sample_username: String::new(),
            password_typed: false,
            password_needed: false,
            report: None,
            problems: Vec::new(),
        };
        let html = page.render().expect("renders");
        assert_eq!(count(&html, r#"input[type=hidden][name=token][value=setup-token]"#), 1);
        assert_eq!(count(&html, r#"input[type=hidden][name=csrf_token][value=csrf-2]"#), 1);
        let groups = Selector::parse("textarea[name=admin_groups]").expect("valid selector");
        let document = Html::parse_document(&html);
        let typed: Vec<String> = document.select(&groups).map(|area| area.text().collect()).collect();
        assert_eq!(typed, ["admins"]);
        assert_eq!(count(&html, r#"input[name=change_ldap][checked]"#), 0);
        assert_eq!(count(&html, ".demo-banner"), 1);
        assert_eq!(count(&html, "#bind_password_needed"), 0);
    }
}
