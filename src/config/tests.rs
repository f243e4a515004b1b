use super::*;

const MINIMAL: &str = r#"
issuer = "https://sso.example.org"
[ldap]
url = "ldap://127.0.0.1:389"
base_dn = "ou=people,dc=example,dc=org"
"#;

fn load(text: &str, env: Vec<(&str, &str)>) -> Result<Config, ConfigErrors> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gatehouse.toml");
    std::fs::write(&path, text).unwrap();
    Config::load(
        &path,
        true,
        env.into_iter().map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

#[test]
fn minimal_file_loads_with_defaults() {
    let config = load(MINIMAL, vec![]).unwrap();
    assert_eq!(config.lifetimes.authorization_code, 60);
    assert!(config.secure_cookies());
    assert!(config.database_url().starts_with("sqlite://data/gatehouse.sqlite"));
}

#[test]
fn every_unknown_key_and_problem_is_reported_at_once() {
    let text = format!("colour = 1\n{MINIMAL}\n[lifetimes]\nid_token = 0\nbogus = 2\n");
    let errors = load(&text, vec![]).unwrap_err();
    let all = errors.problems.join("\n");
    assert!(all.contains("unknown key `colour`"), "{all}");
    assert!(all.contains("unknown key `lifetimes.bogus`"), "{all}");
    assert!(all.contains("lifetimes.id_token"), "{all}");
}

#[test]
fn environment_overrides_keep_types() {
    let config = load(
        MINIMAL,
        vec![
            ("GATEHOUSE__LIFETIMES__ID_TOKEN", "120"),
            ("GATEHOUSE__LDAP__BIND_DN", "cn=admin,dc=example,dc=org"),
            ("GATEHOUSE__LDAP__BIND_PASSWORD", "s3cret"),
            ("UNRELATED", "x"),
        ],
    )
    .unwrap();
    assert_eq!(config.lifetimes.id_token, 120);
    assert_eq!(config.ldap.bind_dn, "cn=admin,dc=example,dc=org");
    assert_eq!(config.ldap.bind_password.expose(), "s3cret");
}

#[test]
fn secrets_come_from_files() {
    let dir = tempfile::tempdir().unwrap();
    let secret_path = dir.path().join("pw");
    std::fs::write(&secret_path, "from-file\n").unwrap();
    let path_text = secret_path.display().to_string();
    let config = load(
        &format!("{MINIMAL}bind_dn = \"cn=x\"\nbind_password_file = \"{path_text}\"\n"),
        vec![],
    )
    .unwrap();
    assert_eq!(config.ldap.bind_password.expose(), "from-file");
    assert_eq!(format!("{:?}", config.ldap.bind_password), "Secret(<redacted>)");
}

#[test]
fn client_rules_are_checked() {
    let text = format!(
        "{MINIMAL}\n[[clients]]\nclient_id = \"app\"\nredirect_uris = [\"https://app/cb#frag\"]\n\
         [[clients]]\nclient_id = \"app\"\nsecret = \"x\"\nredirect_uris = [\"https://app/cb\"]\n\
         [[clients]]\nclient_id = \"spa\"\ntoken_endpoint_auth_method = \"none\"\nsecret = \"0123456789abcdef\"\nredirect_uris = [\"https://spa/cb\"]\n"
    );
    let all = load(&text, vec![]).unwrap_err().problems.join("\n");
    assert!(all.contains("`secret` is required"), "{all}");
    assert!(all.contains("fragment"), "{all}");
    assert!(all.contains("defined twice"), "{all}");
    assert!(all.contains("at least 16 characters"), "{all}");
    assert!(all.contains("public client must not have a secret"), "{all}");
}

#[test]
fn client_secrets_and_redirect_uris_have_size_limits() {
    let long_uri = format!("https://app/cb?{}", "x".repeat(2048));
    let long_secret = "s".repeat(513);
    let text = format!(
        "{MINIMAL}\n[[clients]]\nclient_id = \"app\"\nsecret = \"{long_secret}\"\nredirect_uris = [\"{long_uri}\"]\n"
    );
    let all = load(&text, vec![]).unwrap_err().problems.join("\n");
    assert!(all.contains("`secret` must be at most 512 bytes"), "{all}");
    assert!(all.contains("is longer than 2048 bytes"), "{all}");
    assert!(crate::config::validate_redirect_uri("https://app/cb").is_ok());
}

#[test]
fn missing_required_file_is_an_error() {
    let err = Config::load(Path::new("/nonexistent/gatehouse.toml"), true, Vec::new()).unwrap_err();
    assert!(err.problems[0].contains("cannot read"));
}

#[test]
fn tls_section_names_files_and_needs_an_https_issuer() {
    let text = format!(
        "{MINIMAL}\n[tls]\ncert_file = \"/etc/gatehouse/fullchain.pem\"\nkey_file = \"/etc/gatehouse/privkey.pem\"\n"
    );
    let config = load(&text, vec![("GATEHOUSE__TLS__RELOAD_INTERVAL", "30")]).unwrap();
    let tls = config.tls.expect("[tls] is set");
    // The paths stay paths: `*_file` here is not a secret read from a file.
    assert_eq!(tls.cert_file, PathBuf::from("/etc/gatehouse/fullchain.pem"));
    assert_eq!(tls.key_file, PathBuf::from("/etc/gatehouse/privkey.pem"));
    assert_eq!(tls.reload_interval, 30);
    assert_eq!(tls.redirect_listen, None);

    // The whole section from the environment.
    let config = load(
        MINIMAL,
        vec![
            ("GATEHOUSE__TLS__CERT_FILE", "/run/secrets/tls.crt"),
            ("GATEHOUSE__TLS__KEY_FILE", "/run/secrets/tls.key"),
            ("GATEHOUSE__TLS__REDIRECT_LISTEN", "0.0.0.0:80"),
        ],
    )
    .unwrap();
    let tls = config.tls.expect("[tls] from the environment");
    assert_eq!(tls.key_file, PathBuf::from("/run/secrets/tls.key"));
    assert_eq!(tls.redirect_listen.as_deref(), Some("0.0.0.0:80"));
    assert_eq!(tls.reload_interval, DEFAULT_TLS_RELOAD_INTERVAL);

    let text = "issuer = \"http://sso.example.org\"\nlisten = \"0.0.0.0:443\"\n[ldap]\nurl = \"ldap://127.0.0.1\"\nbase_dn = \"dc=x\"\n[tls]\nreload_interval = 0\nredirect_listen = \"0.0.0.0:443\"\n";
    let all = load(text, vec![]).unwrap_err().problems.join("\n");
    for expected in [
        "`issuer` must be an https URL when `[tls]` is set",
        "`tls.cert_file` is required",
        "`tls.key_file` is required",
        "`tls.reload_interval` must be between",
        "`tls.redirect_listen` must differ from `listen`",
    ] {
        assert!(all.contains(expected), "{expected}: {all}");
    }
    let bad_address = format!("{MINIMAL}\n[tls]\ncert_file = \"c\"\nkey_file = \"k\"\nredirect_listen = \"port 80\"\n");
    let all = load(&bad_address, vec![]).unwrap_err().problems.join("\n");
    assert!(all.contains("`tls.redirect_listen` must be an address"), "{all}");
    let unknown = format!("{MINIMAL}\n[tls]\ncert_file = \"c\"\nkey_file = \"k\"\ncolour = 1\n");
    let all = load(&unknown, vec![]).unwrap_err().problems.join("\n");
    assert!(all.contains("colour"), "{all}");

    // The scheme in capitals is https all the same (cookies, HSTS, [tls]).
    let shouting = MINIMAL.replace("https://", "HTTPS://");
    assert!(load(&shouting, vec![]).unwrap().secure_cookies());
    let text = format!("{shouting}\n[tls]\ncert_file = \"c\"\nkey_file = \"k\"\n");
    assert!(load(&text, vec![]).is_ok());
    // An https issuer without [tls] is fine: TLS ends at a proxy.
    assert!(load(MINIMAL, vec![]).unwrap().tls.is_none());
}

/// The first TOML example after `heading` in README.md, with a directory added, loaded and
/// validated: it must have no problem.
fn readme_example_after(heading: &str) -> Config {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("README.md");
    let start = readme
        .find(heading)
        .unwrap_or_else(|| panic!("README.md has {heading:?}"));
    let block = readme[start..]
        .split("```toml\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a TOML example");
    let text = format!("{block}\n[ldap]\nurl = \"ldap://127.0.0.1\"\nbase_dn = \"dc=example,dc=org\"\n");
    let mut problems = Vec::new();
    let config = Config::from_table(text.parse::<toml::Table>().expect("TOML"), &mut problems).expect("parses");
    problems.extend(config.validate());
    assert!(problems.is_empty(), "{problems:#?}");
    config
}

#[test]
fn the_readme_tls_example_is_valid() {
    let config = readme_example_after("\n### TLS\n");
    assert!(config.tls.is_some_and(|tls| tls.redirect_listen.is_some()));
}

#[test]
fn log_format_and_shutdown_timing_come_from_the_file_or_the_environment() {
    let config = load(MINIMAL, vec![]).unwrap();
    assert_eq!(config.log.format, LogFormat::Text);
    assert_eq!((config.shutdown.drain_delay, config.shutdown.grace_period), (5, 30));

    let config = load(
        &format!("{MINIMAL}\n[shutdown]\ndrain_delay = 0\ngrace_period = 7\n"),
        vec![
            ("GATEHOUSE__LOG__FORMAT", "json"),
            ("GATEHOUSE__LOG__LEVEL", "info,gatehouse=debug"),
        ],
    )
    .unwrap();
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.log.level.as_deref(), Some("info,gatehouse=debug"));
    assert_eq!((config.shutdown.drain_delay, config.shutdown.grace_period), (0, 7));

    let errors = load(&format!("{MINIMAL}\n[log]\nformat = \"xml\"\n"), vec![]).unwrap_err();
    assert!(errors.problems.join("\n").contains("xml"), "{errors:?}");
    let errors = load(
        &format!("{MINIMAL}\n[log]\nlevel = \"info,[[\"\ncolour = 1\n[shutdown]\ndrain_delay = -1\ngrace_period = 0\n"),
        vec![],
    )
    .unwrap_err();
    let all = errors.problems.join("\n");
    assert!(all.contains("unknown key `log.colour`"), "{all}");
    assert!(all.contains("`log.level`"), "{all}");
    assert!(all.contains("`shutdown.drain_delay`"), "{all}");
    assert!(all.contains("`shutdown.grace_period`"), "{all}");
}

#[test]
fn metrics_are_on_for_loopback_by_default_and_open_to_a_network_with_one_line() {
    let config = load(MINIMAL, vec![]).unwrap();
    assert!(config.metrics.enabled);
    assert_eq!(config.metrics.listen, None);
    let allowed = config.metrics.allowed_scrapers();
    assert!(allowed.contains("127.0.0.1".parse().unwrap()));
    assert!(allowed.contains("::1".parse().unwrap()));
    assert!(!allowed.contains("10.1.2.3".parse().unwrap()));

    let config = load(
        MINIMAL,
        vec![
            ("GATEHOUSE__METRICS__ALLOW_FROM", r#"["10.0.0.0/8"]"#),
            ("GATEHOUSE__METRICS__LISTEN", "0.0.0.0:9464"),
        ],
    )
    .unwrap();
    assert!(config.metrics.allowed_scrapers().contains("10.1.2.3".parse().unwrap()));
    assert_eq!(config.metrics.listen.as_deref(), Some("0.0.0.0:9464"));
}

#[test]
fn metrics_settings_are_checked() {
    let text = format!(
        "listen = \"127.0.0.1:8080\"\n{MINIMAL}\n[metrics]\nlisten = \"127.0.0.1:8080\"\nallow_from = [\"nowhere\"]\n"
    );
    let all = load(&text, vec![]).unwrap_err().problems.join("\n");
    assert!(all.contains("`metrics.listen` must differ from `listen`"), "{all}");
    assert!(all.contains("`metrics.allow_from`: `nowhere`"), "{all}");

    let text = format!("{MINIMAL}\n[metrics]\nlisten = \"metrics.example\"\nallow_from = []\n");
    let all = load(&text, vec![]).unwrap_err().problems.join("\n");
    assert!(all.contains("`metrics.listen` must be an address"), "{all}");
    assert!(
        all.contains("`metrics.allow_from` must name at least one network"),
        "{all}"
    );
}

#[test]
fn the_example_configuration_shows_the_metrics_defaults() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("gatehouse.example.toml");
    let config = Config::load(&path, true, Vec::new()).expect("the example loads");
    let defaults = MetricsConfig::default();
    assert_eq!(config.metrics.enabled, defaults.enabled);
    assert_eq!(config.metrics.allow_from, defaults.allow_from);
    assert_eq!(config.metrics.listen, defaults.listen);
}

#[test]
fn the_readme_operating_example_is_valid() {
    let config = readme_example_after("\n## Operating Gatehouse\n");
    assert!(config.tls.is_some());
    assert!(config.metrics.allowed_scrapers().contains("127.0.0.1".parse().unwrap()));
    assert_eq!(config.metrics.listen.as_deref(), Some("0.0.0.0:9464"));
}
