//! Conversions of the LDAP settings for the admin surfaces: to and from the HTML form's
//! fields, to and from the API's JSON (never with the bind password going out), and the
//! connection test report as a page view and as JSON.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::{json, Map, Value};

use crate::config::{AccountCheck, GroupValue, LdapConfig, LdapPreset, Secret};
use crate::directory::{ConnectionReport, DirectoryUser};
use crate::http::admin_pages::{ConnectionReportView, ConnectionStepView, LdapFormFields, PresetOption};
use crate::settings::ldap_settings::BindPasswordInput;

/// The JSON key of the bind password.
pub const BIND_PASSWORD_KEY: &str = "bind_password";

/// The preset menu.
pub fn preset_options() -> Vec<PresetOption> {
    LdapPreset::ALL
        .iter()
        .map(|preset| PresetOption {
            value: preset.as_str(),
            label: match preset {
                LdapPreset::OpenLdap => "OpenLDAP (RFC 2307bis)",
                LdapPreset::ActiveDirectory => "Active Directory",
                LdapPreset::Ds389 => "389 Directory Server",
                LdapPreset::FreeIpa => "FreeIPA",
                LdapPreset::Lldap => "lldap",
            },
        })
        .collect()
}

/// The form filled from `settings`; the password field stays empty.
pub fn form_from_settings(settings: &LdapConfig) -> LdapFormFields {
    let attributes = &settings.attributes;
    let groups = &settings.groups;
    LdapFormFields {
        preset: settings.preset.as_str().to_string(),
        url: settings.url.clone(),
        urls: settings.urls.join("\n"),
        starttls: settings.starttls,
        ca_file: settings
            .ca_file
            .as_ref()
            .map(|path| path.display().to_string())
            .unwrap_or_default(),
        tls_verify: settings.tls_verify,
        retry_after: settings.retry_after.to_string(),
        pool_size: settings.pool_size.to_string(),
        bind_dn: settings.bind_dn.clone(),
        bind_password: String::new(),
        base_dn: settings.base_dn.clone(),
        user_filter: settings.user_filter.clone(),
        user_object_filter: settings.user_object_filter.clone(),
        login_attributes: settings.login_attributes.join(", "),
        connect_timeout: settings.connect_timeout.to_string(),
        operation_timeout: settings.operation_timeout.to_string(),
        attr_id: attributes.id.clone(),
        attr_username: attributes.username.clone(),
        attr_name: attributes.name.clone(),
        attr_given_name: attributes.given_name.clone(),
        attr_family_name: attributes.family_name.clone(),
        attr_email: attributes.email.clone(),
        attr_member_of: attributes.member_of.clone(),
        groups_base_dn: groups.base_dn.clone(),
        groups_filter: groups.filter.clone(),
        groups_name_attribute: groups.name_attribute.clone(),
        groups_value: match groups.value {
            GroupValue::Name => "name",
            GroupValue::Dn => "dn",
        }
        .to_string(),
        groups_nested_depth: groups.nested_depth.to_string(),
        groups_nested_filter: groups.nested_filter.clone(),
        email_verified: settings.email_verified,
        check_ppolicy: settings.account_checks.contains(&AccountCheck::Ppolicy),
        check_active_directory: settings.account_checks.contains(&AccountCheck::ActiveDirectory),
        check_ns_account_lock: settings.account_checks.contains(&AccountCheck::NsAccountLock),
        extra_claims: settings
            .extra_claims
            .iter()
            .map(|(claim, attribute)| format!("{claim} = {attribute}"))
            .collect::<Vec<_>>()
            .join("\n"),
        recheck_interval: settings.recheck_interval.to_string(),
    }
}

fn number<T: std::str::FromStr>(text: &str, label: &str, problems: &mut Vec<String>) -> Option<T> {
    match text.trim().parse() {
        Ok(value) => Some(value),
        Err(_) => {
            problems.push(format!("{label} must be a whole number, got `{}`", text.trim()));
            None
        }
    }
}

/// The settings the form describes, without a bind password, and the password field as
/// typed (empty: keep the stored one, which [`apply_bind_password`](crate::settings::ldap_settings::apply_bind_password) allows only for the
/// stored servers, bind DN and TLS settings). Returns every problem the form itself has
/// (numbers that are not numbers, unknown choices); the settings' own validation happens
/// when they are saved.
pub fn settings_from_form(form: &LdapFormFields) -> Result<(LdapConfig, BindPasswordInput), Vec<String>> {
    let mut problems = Vec::new();
    let preset = LdapPreset::ALL
        .into_iter()
        .find(|preset| preset.as_str() == form.preset)
        .unwrap_or_else(|| {
            problems.push(format!("unknown kind of directory `{}`", form.preset));
            LdapPreset::default()
        });
    let mut settings = LdapConfig::for_preset(preset);
    settings.url = form.url.trim().to_string();
    settings.urls = form
        .urls
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_string)
        .collect();
    settings.starttls = form.starttls;
    settings.ca_file = Some(form.ca_file.trim())
        .filter(|path| !path.is_empty())
        .map(PathBuf::from);
    settings.tls_verify = form.tls_verify;
    let retry_after = number(&form.retry_after, "Retry after", &mut problems);
    let pool_size = number(&form.pool_size, "Pooled connections", &mut problems);
    let connect_timeout = number(&form.connect_timeout, "Connect timeout", &mut problems);
    let operation_timeout = number(&form.operation_timeout, "Operation timeout", &mut problems);
    let nested_depth = number(&form.groups_nested_depth, "Nested group levels", &mut problems);
    let recheck_interval = number(&form.recheck_interval, "Re-check interval", &mut problems);
    settings.bind_dn = form.bind_dn.trim().to_string();
    let password = if form.bind_password.is_empty() {
        BindPasswordInput::KeepStored
    } else {
        BindPasswordInput::Given(Secret::new(form.bind_password.clone()))
    };
    settings.base_dn = form.base_dn.trim().to_string();
    settings.user_filter = form.user_filter.trim().to_string();
    settings.user_object_filter = form.user_object_filter.trim().to_string();
    settings.login_attributes = form
        .login_attributes
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect();
    let attributes = &mut settings.attributes;
    attributes.id = form.attr_id.trim().to_string();
    attributes.username = form.attr_username.trim().to_string();
    attributes.name = form.attr_name.trim().to_string();
    attributes.given_name = form.attr_given_name.trim().to_string();
    attributes.family_name = form.attr_family_name.trim().to_string();
    attributes.email = form.attr_email.trim().to_string();
    attributes.member_of = form.attr_member_of.trim().to_string();
    let groups = &mut settings.groups;
    groups.base_dn = form.groups_base_dn.trim().to_string();
    groups.filter = form.groups_filter.trim().to_string();
    groups.name_attribute = form.groups_name_attribute.trim().to_string();
    groups.value = match form.groups_value.as_str() {
        "dn" => GroupValue::Dn,
        "name" | "" => GroupValue::Name,
        other => {
            problems.push(format!("the group claim value must be `name` or `dn`, got `{other}`"));
            GroupValue::Name
        }
    };
    groups.nested_filter = form.groups_nested_filter.trim().to_string();
    settings.email_verified = form.email_verified;
    settings.account_checks = [
        (form.check_ppolicy, AccountCheck::Ppolicy),
        (form.check_active_directory, AccountCheck::ActiveDirectory),
        (form.check_ns_account_lock, AccountCheck::NsAccountLock),
    ]
    .into_iter()
    .filter_map(|(ticked, check)| ticked.then_some(check))
    .collect();
    let mut extra_claims = BTreeMap::new();
    for line in form.extra_claims.lines().map(str::trim).filter(|line| !line.is_empty()) {
        match line.split_once('=') {
            Some((claim, attribute)) => {
                extra_claims.insert(claim.trim().to_string(), attribute.trim().to_string());
            }
            None => problems.push(format!("extra claim `{line}` must be written `claim = attribute`")),
        }
    }
    settings.extra_claims = extra_claims;
    match (
        retry_after,
        pool_size,
        connect_timeout,
        operation_timeout,
        nested_depth,
        recheck_interval,
    ) {
        (Some(retry), Some(pool), Some(connect), Some(operation), Some(depth), Some(recheck))
            if problems.is_empty() =>
        {
            settings.retry_after = retry;
            settings.pool_size = pool;
            settings.connect_timeout = connect;
            settings.operation_timeout = operation;
            settings.groups.nested_depth = depth;
            settings.recheck_interval = recheck;
            Ok((settings, password))
        }
        _ => Err(problems),
    }
}

/// The settings as the API shows them: every key but the password, plus whether one is
/// stored and the version to send back with a change.
pub fn settings_to_json(settings: &LdapConfig, version: i64) -> Value {
    let mut value = serde_json::to_value(settings).unwrap_or_else(|_| json!({}));
    if let Some(object) = value.as_object_mut() {
        object.remove(BIND_PASSWORD_KEY);
        object.insert("bind_password_set".into(), json!(!settings.bind_password.is_empty()));
        object.insert("version".into(), json!(version));
    }
    value
}

/// Settings sent to the API, without a bind password, and the password as given:
/// `bind_password` left out (or null) asks to keep the stored one (which
/// [`apply_bind_password`](crate::settings::ldap_settings::apply_bind_password) allows only for the stored servers, bind DN and TLS settings).
/// Keys left out take the preset's default, as in the configuration file; `version` and
/// `bind_password_set` (as `GET` returns them) are ignored here. Unknown keys are
/// problems. The password is taken out before anything else reads the JSON, so no error
/// message can ever quote it.
pub fn settings_from_json(value: &Value) -> Result<(LdapConfig, BindPasswordInput), Vec<String>> {
    let Some(object) = value.as_object() else {
        return Err(vec!["the settings must be a JSON object".into()]);
    };
    let mut object: Map<String, Value> = object.clone();
    object.remove("version");
    object.remove("bind_password_set");
    let password = match object.remove(BIND_PASSWORD_KEY) {
        None | Some(Value::Null) => None,
        Some(Value::String(password)) => Some(password),
        Some(_) => return Err(vec!["`bind_password` must be a string".into()]),
    };
    let mut unknown = Vec::new();
    let parsed: Result<LdapConfig, _> =
        serde_ignored::deserialize(Value::Object(object), |path| unknown.push(path.to_string()));
    let mut problems: Vec<String> = unknown.into_iter().map(|key| format!("unknown key `{key}`")).collect();
    match parsed {
        Ok(mut settings) => {
            settings.bind_password = Secret::default();
            let password = match password {
                Some(password) => BindPasswordInput::Given(Secret::new(password)),
                None => BindPasswordInput::KeepStored,
            };
            if problems.is_empty() {
                Ok((settings, password))
            } else {
                Err(problems)
            }
        }
        Err(error) => {
            problems.push(format!("the settings cannot be read: {error}"));
            Err(problems)
        }
    }
}

fn user_claims(user: &DirectoryUser) -> Vec<(String, String)> {
    let mut claims = vec![
        ("sub".to_string(), user.id.clone()),
        ("dn".to_string(), user.dn.clone()),
        ("preferred_username".to_string(), user.username.clone()),
    ];
    let optional = [
        ("name", &user.name),
        ("given_name", &user.given_name),
        ("family_name", &user.family_name),
        ("email", &user.email),
    ];
    for (claim, value) in optional {
        if let Some(value) = value {
            claims.push((claim.to_string(), value.clone()));
        }
    }
    for (claim, values) in &user.extra {
        claims.push((claim.clone(), values.join(", ")));
    }
    claims
}

/// The report as the pages show it.
pub fn report_view(report: &ConnectionReport, sample_username: &str) -> ConnectionReportView {
    ConnectionReportView {
        ok: report.ok(),
        sample_username: sample_username.to_string(),
        steps: report
            .steps
            .iter()
            .map(|step| ConnectionStepView {
                name: step.name.to_string(),
                ok: step.ok,
                detail: step.detail.clone(),
            })
            .collect(),
        claims: report.user.as_ref().map(user_claims).unwrap_or_default(),
        groups: report.user.as_ref().map(|user| user.groups.clone()).unwrap_or_default(),
    }
}

/// The report as the API answers it.
pub fn report_json(report: &ConnectionReport, sample_username: &str) -> Value {
    let user = report.user.as_ref().map(|user| {
        json!({
            "sub": user.id,
            "dn": user.dn,
            "preferred_username": user.username,
            "name": user.name,
            "given_name": user.given_name,
            "family_name": user.family_name,
            "email": user.email,
            "groups": user.groups,
            "group_dns": user.group_dns,
            "extra": user.extra,
        })
    });
    json!({
        "ok": report.ok(),
        "sample_username": sample_username,
        "steps": report.steps,
        "first_failure": report.first_failure(),
        "user": user,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::ldap_settings::apply_bind_password;

    fn sample() -> LdapConfig {
        let mut settings = LdapConfig::for_preset(LdapPreset::OpenLdap);
        settings.url = "ldap://127.0.0.1:389".into();
        settings.urls = vec!["ldap://127.0.0.2:389".into()];
        settings.bind_dn = "cn=svc,dc=example,dc=org".into();
        settings.bind_password = Secret::new("s3cret-service-password");
        settings.base_dn = "ou=people,dc=example,dc=org".into();
        settings
            .extra_claims
            .insert("department".into(), "departmentNumber".into());
        settings.account_checks = vec![AccountCheck::Ppolicy, AccountCheck::NsAccountLock];
        settings.groups.value = GroupValue::Dn;
        settings
    }

    /// What the handlers do: the parsed settings with the bind password decided.
    fn with_password(
        parsed: (LdapConfig, BindPasswordInput),
        stored: &LdapConfig,
    ) -> Result<LdapConfig, crate::settings::SettingsError> {
        let (mut settings, password) = parsed;
        apply_bind_password(stored, &mut settings, password)?;
        Ok(settings)
    }

    #[test]
    fn the_form_round_trips_and_an_empty_password_keeps_the_stored_one() {
        let settings = sample();
        let form = form_from_settings(&settings);
        assert!(form.bind_password.is_empty(), "the password is never rendered");
        let (parsed, password) = settings_from_form(&form).unwrap();
        assert!(parsed.bind_password.is_empty(), "parsing never carries a password over");
        assert_eq!(password, BindPasswordInput::KeepStored);
        let back = with_password(settings_from_form(&form).unwrap(), &settings).unwrap();
        assert_eq!(back, settings);

        let mut changed = form.clone();
        changed.bind_password = "new-password".into();
        assert_eq!(
            with_password(settings_from_form(&changed).unwrap(), &settings)
                .unwrap()
                .bind_password
                .expose(),
            "new-password"
        );
        changed.bind_dn = String::new();
        changed.bind_password = String::new();
        assert!(with_password(settings_from_form(&changed).unwrap(), &settings)
            .unwrap()
            .bind_password
            .is_empty());
    }

    #[test]
    fn another_server_in_the_form_needs_the_password_typed_again() {
        let settings = sample();
        let mut form = form_from_settings(&settings);
        form.urls = "ldap://127.0.0.2:389\nldap://listener.example:389".into();
        assert!(matches!(
            with_password(settings_from_form(&form).unwrap(), &settings),
            Err(crate::settings::SettingsError::BindPasswordNeeded)
        ));
        form.bind_password = "typed-again".into();
        let typed = with_password(settings_from_form(&form).unwrap(), &settings).unwrap();
        assert_eq!(typed.bind_password.expose(), "typed-again");
    }

    #[test]
    fn form_mistakes_are_all_reported() {
        let mut form = form_from_settings(&sample());
        form.pool_size = "many".into();
        form.connect_timeout = "-1".into();
        form.extra_claims = "no equals sign".into();
        form.preset = "novell".into();
        let problems = settings_from_form(&form).unwrap_err();
        assert_eq!(problems.len(), 4, "{problems:?}");
    }

    #[test]
    fn the_json_never_carries_the_password_and_reads_back() {
        let settings = sample();
        let value = settings_to_json(&settings, 7);
        let text = value.to_string();
        assert!(!text.contains("s3cret-service-password"));
        assert_eq!(value["version"], 7);
        assert_eq!(value["bind_password_set"], true);
        let back = with_password(settings_from_json(&value).unwrap(), &settings).unwrap();
        assert_eq!(back, settings);

        let mut with_given = value.clone();
        with_given["bind_password"] = json!("replaced");
        assert_eq!(
            with_password(settings_from_json(&with_given).unwrap(), &settings)
                .unwrap()
                .bind_password
                .expose(),
            "replaced"
        );
        let mut moved = value.clone();
        moved["url"] = json!("ldap://listener.example:389");
        assert!(matches!(
            with_password(settings_from_json(&moved).unwrap(), &settings),
            Err(crate::settings::SettingsError::BindPasswordNeeded)
        ));
    }

    #[test]
    fn json_mistakes_never_quote_the_password() {
        let mut value = settings_to_json(&sample(), 1);
        value["colour"] = json!("blue");
        value["attributes"]["shoe_size"] = json!("42");
        let problems = settings_from_json(&value).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");

        let mut value = settings_to_json(&sample(), 1);
        value["bind_password"] = json!(123456789);
        let problems = settings_from_json(&value).unwrap_err();
        assert!(!problems.join(" ").contains("123456789"));

        let mut value = settings_to_json(&sample(), 1);
        value["pool_size"] = json!("lots");
        value["bind_password"] = json!("hunter2-password");
        let problems = settings_from_json(&value).unwrap_err();
        assert!(!problems.join(" ").contains("hunter2"));
    }
}
