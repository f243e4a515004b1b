//! The real `gatehouse` binary: `serve` answers and stops cleanly on SIGTERM, and the
//! operator commands (`check-config`, `migrate`, `clients`, `keys`, `ldap test`,
//! `second-factor`) work.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::database::fresh_test_database_url;
use crate::support::gatehouse_process;

const BINARY: &str = env!("CARGO_BIN_EXE_gatehouse");

/// A configuration file for the binary, against the shared slapd and a fresh database.
async fn write_config(dir: &Path, listen: &str, extra: &str) -> std::path::PathBuf {
    write_config_and_database(dir, listen, extra).await.0
}

/// [`write_config`], and the database URL it names (for tests that look inside).
async fn write_config_and_database(dir: &Path, listen: &str, extra: &str) -> (std::path::PathBuf, String) {
    let database_url = fresh_test_database_url(dir).await;
    let path = gatehouse_process::write_config(dir, listen, &database_url, extra).await;
    (path, database_url)
}

fn run(config: &Path, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
    let mut child = Command::new(BINARY)
        .arg("--config")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("GATEHOUSE_LOG", "warn")
        .spawn()
        .expect("run gatehouse");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    } else {
        drop(child.stdin.take());
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn serve_answers_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "127.0.0.1:0", "").await;
    let mut child = Command::new(BINARY)
        .args(["serve", "--config"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("listening on http://") {
                let _ = sender.send(rest.split_whitespace().next().unwrap_or_default().to_string());
            }
        }
    });
    let addr = receiver
        .recv_timeout(Duration::from_secs(30))
        .expect("serve prints its address");

    let discovery = reqwest::get(format!("http://{addr}/.well-known/openid-configuration"))
        .await
        .unwrap();
    assert_eq!(discovery.status(), 200);
    let health = reqwest::get(format!("http://{addr}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value = reqwest::get(format!("http://{addr}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");

    let key_file = dir.path().join("data/master.key");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key_file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the generated master key is private");

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "serve did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "clean exit, got {status:?}");
}

#[tokio::test]
async fn check_config_reports_every_problem_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "127.0.0.1:0",
        "[lifetimes]\nid_token = -5\ncolour = \"blue\"\n\n[[clients]]\nclient_id = \"app\"\nredirect_uris = [\"not a uri\"]\n",
    )
    .await;
    let (ok, _, stderr) = run(&config, &["check-config"], None);
    assert!(!ok);
    assert!(stderr.contains("lifetimes.colour"), "{stderr}");
    assert!(stderr.contains("lifetimes.id_token"), "{stderr}");
    assert!(stderr.contains("`secret` is required"), "{stderr}");
    assert!(stderr.contains("not an absolute URI"), "{stderr}");

    let good = write_config(dir.path(), "127.0.0.1:0", "").await;
    let (ok, stdout, stderr) = run(&good, &["check-config"], None);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("configuration OK"));
}

#[tokio::test]
async fn clients_can_be_added_listed_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "127.0.0.1:0", "").await;
    let (ok, stdout, stderr) = run(&config, &["migrate"], None);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("up to date"));

    let (ok, stdout, stderr) = run(
        &config,
        &[
            "clients",
            "add",
            "--id",
            "wiki",
            "--name",
            "The Wiki",
            "--redirect-uri",
            "https://wiki.example/cb",
        ],
        None,
    );
    assert!(ok, "{stderr}");
    let secret_line = stdout
        .lines()
        .find(|l| l.starts_with("client_secret:"))
        .expect("secret printed once");
    assert!(secret_line.len() > "client_secret: ".len() + 30);

    let (ok, _, stderr) = run(
        &config,
        &[
            "clients",
            "add",
            "--id",
            "wiki",
            "--redirect-uri",
            "https://wiki.example/cb",
        ],
        None,
    );
    assert!(!ok && stderr.contains("already exists"), "{stderr}");
    let (ok, _, stderr) = run(
        &config,
        &["clients", "add", "--id", "bad", "--redirect-uri", "https://x/cb#frag"],
        None,
    );
    assert!(!ok && stderr.contains("fragment"), "{stderr}");

    let (ok, stdout, _) = run(&config, &["clients", "list"], None);
    assert!(ok && stdout.contains("wiki") && stdout.contains("The Wiki") && stdout.contains("https://wiki.example/cb"));
    assert!(
        !stdout.contains(secret_line.trim_start_matches("client_secret: ")),
        "the secret is never listed"
    );

    let (ok, _, stderr) = run(&config, &["clients", "remove", "wiki"], None);
    assert!(ok, "{stderr}");
    let (_, stdout, _) = run(&config, &["clients", "list"], None);
    assert!(!stdout.contains("wiki"));
    let (ok, _, stderr) = run(&config, &["clients", "remove", "wiki"], None);
    assert!(!ok && stderr.contains("no client"), "{stderr}");
}

#[tokio::test]
async fn keys_list_shows_the_current_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "127.0.0.1:0", "").await;
    let (ok, stdout, stderr) = run(&config, &["keys", "list"], None);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("RS256") && stdout.contains("current"), "{stdout}");
}

#[tokio::test]
async fn ldap_test_prints_claims_or_the_exact_failure() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "127.0.0.1:0", "").await;
    let (ok, stdout, stderr) = run(&config, &["ldap", "test", "alice"], Some("alice-password\n"));
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("alice@example.org") && stdout.contains("staff"),
        "{stdout}"
    );
    assert!(!stdout.contains("alice-password") && !stderr.contains("alice-password"));

    let (ok, _, stderr) = run(&config, &["ldap", "test", "alice"], Some("wrong\n"));
    assert!(!ok);
    assert!(stderr.contains("sign-in failed"), "{stderr}");
    assert!(!stderr.contains("wrong\n"));
}

/// `clients add` stores the new secret as the server checks it: a keyed hash under the
/// master key, not its plain SHA-256, and the server accepts the secret.
#[tokio::test]
async fn clients_add_stores_a_keyed_verifier_that_the_server_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "127.0.0.1:0", "").await;
    let (ok, stdout, stderr) = run(
        &config,
        &[
            "clients",
            "add",
            "--id",
            "wiki",
            "--redirect-uri",
            "https://wiki.example/cb",
        ],
        None,
    );
    assert!(ok, "{stderr}");
    let secret = stdout
        .lines()
        .find_map(|l| l.strip_prefix("client_secret:"))
        .expect("secret printed once")
        .trim()
        .to_string();

    let text = std::fs::read_to_string(&config).unwrap();
    let database_url = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("url = \"")
                .filter(|rest| rest.contains("sqlite") || rest.contains("postgres"))
        })
        .expect("the database URL")
        .trim_end_matches('"')
        .to_string();
    let db = sea_orm::Database::connect(&database_url).await.unwrap();
    use sea_orm::ConnectionTrait;
    let row = db
        .query_one(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT secret_hash FROM clients WHERE client_id = 'wiki'",
        ))
        .await
        .unwrap()
        .expect("the client is stored");
    let stored: String = row.try_get("", "secret_hash").unwrap();
    assert_ne!(stored, gatehouse::crypto::sha256_hex(secret.as_bytes()));
    assert!(!stored.contains(&secret));

    // A server on the same database and master key accepts the secret.
    let master_key = std::fs::read_to_string(dir.path().join("data/master.key")).unwrap();
    let app = crate::support::spawn_app::spawn_app_with(|config| {
        config.master_key = Some(gatehouse::config::Secret::new(master_key.trim()));
        config.database.url = Some(gatehouse::config::Secret::new(database_url.clone()));
    })
    .await;
    let reply = crate::support::oauth::token_request(
        &app,
        Some(("wiki", &secret)),
        &[
            ("grant_type", "authorization_code"),
            ("code", "never-issued"),
            ("redirect_uri", "https://wiki.example/cb"),
        ],
    )
    .await;
    assert_eq!(reply.error(), Some("invalid_grant"), "authenticated: {:?}", reply.body);
}

#[tokio::test]
async fn the_first_run_setup_link_goes_to_the_terminal_and_never_into_a_log_line() {
    let dir = tempfile::tempdir().unwrap();
    // No `[admin] groups`: serve prints a one-time setup link.
    let config = write_config(dir.path(), "127.0.0.1:0", "").await;
    let mut child = Command::new(BINARY)
        .args(["serve", "--config"])
        .arg(&config)
        .env("GATEHOUSE_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    for (stream, reader) in [
        (
            "stdout",
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        ),
        ("stderr", Box::new(child.stderr.take().unwrap())),
    ] {
        let sender = sender.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(reader).lines().map_while(Result::ok) {
                let _ = sender.send((stream, line));
            }
        });
    }
    drop(sender);
    // Everything both streams say until the link was printed and logged, or 30 s.
    let mut lines: Vec<(&str, String)> = Vec::new();
    let started = Instant::now();
    let link_seen = |lines: &[(&str, String)]| lines.iter().any(|(_, line)| line.contains("/setup?token="));
    let notice_seen = |lines: &[(&str, String)]| lines.iter().any(|(_, line)| line.contains("setup link was printed"));
    while started.elapsed() < Duration::from_secs(30) && !(link_seen(&lines) && notice_seen(&lines)) {
        if let Ok(line) = receiver.recv_timeout(Duration::from_millis(200)) {
            lines.push(line);
        }
    }
    // Serving (so SIGTERM is handled) before it is asked to stop.
    let addr = lines
        .iter()
        .find_map(|(_, line)| line.strip_prefix("listening on http://"))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("serve prints its address: {lines:#?}"))
        .to_string();
    let health = reqwest::get(format!("http://{addr}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    while let Ok(line) = receiver.recv_timeout(Duration::from_millis(500)) {
        lines.push(line);
    }
    assert!(status.success(), "clean exit, got {status:?}");

    let token = lines
        .iter()
        .find_map(|(_, line)| line.split("/setup?token=").nth(1))
        .map(|rest| rest.split_whitespace().next().unwrap_or_default().to_string())
        .unwrap_or_else(|| panic!("a setup link was printed: {lines:#?}"));
    assert!(token.len() >= 32, "{token}");
    let with_token: Vec<&(&str, String)> = lines.iter().filter(|(_, line)| line.contains(&token)).collect();
    assert_eq!(
        with_token.len(),
        1,
        "the link is printed once, nowhere else: {lines:#?}"
    );
    let (stream, line) = with_token[0];
    assert_eq!(*stream, "stderr", "the link goes to the terminal's standard error");
    assert!(
        line.starts_with("first-run setup: open http://"),
        "written directly, not as a log line: {line}"
    );
    // The log says that a link was printed, and carries no token.
    let log_lines: Vec<&String> = lines
        .iter()
        .filter(|(_, line)| {
            [" TRACE ", " DEBUG ", " INFO ", " WARN ", " ERROR "]
                .iter()
                .any(|level| line.contains(level))
        })
        .map(|(_, line)| line)
        .collect();
    assert!(
        log_lines.iter().any(|line| line.contains("setup link was printed")),
        "{lines:#?}"
    );
    assert!(log_lines.iter().all(|line| !line.contains(&token)), "{log_lines:#?}");
}

#[tokio::test]
async fn second_factor_setup_links_and_resets_from_the_command_line() {
    use gatehouse::storage::entities::{audit_events, second_factor_setup_links, totp_credentials, users};
    use sea_orm::{ActiveValue::Set, EntityTrait};

    let dir = tempfile::tempdir().unwrap();
    let (config, database_url) = write_config_and_database(dir.path(), "127.0.0.1:0", "").await;
    let (ok, _, stderr) = run(&config, &["migrate"], None);
    assert!(ok, "{stderr}");
    let (ok, _, stderr) = run(&config, &["second-factor", "setup-link", "nobody"], None);
    assert!(!ok && stderr.contains("nobody called `nobody`"), "{stderr}");

    // alice signed in once (an administrator whose authenticator is lost, say).
    let db = gatehouse::storage::connect_database(&database_url, 1).await.unwrap();
    users::Entity::insert(users::ActiveModel {
        id: Set("sub-alice".into()),
        username: Set("alice".into()),
        claims: Set(r#"{"username":"alice","groups":["admins"]}"#.into()),
        created_at: Set(0),
        last_login_at: Set(0),
        checked_at: Set(0),
        refused_at: Set(None),
    })
    .exec(&db)
    .await
    .unwrap();
    totp_credentials::Entity::insert(totp_credentials::ActiveModel {
        user_id: Set("sub-alice".into()),
        secret: Set(Some(vec![1, 2, 3])),
        enrolled_at: Set(Some(0)),
        pending_secret: Set(None),
        pending_since: Set(None),
        last_used_step: Set(None),
        failed_attempts: Set(0),
        locked_until: Set(None),
        last_failed_at: Set(None),
    })
    .exec(&db)
    .await
    .unwrap();

    let (ok, _, stderr) = run(&config, &["second-factor", "setup-link", "alice"], None);
    assert!(!ok && stderr.contains("reset it first"), "{stderr}");
    let (ok, stdout, stderr) = run(&config, &["second-factor", "reset", "alice"], None);
    assert!(
        ok && stdout.contains("removed the second factor of alice (sub-alice)"),
        "{stdout}{stderr}"
    );
    assert!(totp_credentials::Entity::find().all(&db).await.unwrap().is_empty());
    let (ok, stdout, stderr) = run(&config, &["second-factor", "setup-link", "sub-alice"], None);
    assert!(ok, "{stderr}");
    let link = stdout
        .lines()
        .find(|line| line.starts_with("http://127.0.0.1:0/login/totp/setup?token="))
        .expect("the link is printed");
    let token = link.split("token=").nth(1).unwrap();
    let stored = second_factor_setup_links::Entity::find().all(&db).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].user_id.as_str(), stored[0].created_by.as_str()),
        ("sub-alice", "cli")
    );
    assert_eq!(stored[0].token_hash, gatehouse::crypto::sha256_hex(token.as_bytes()));

    let kinds: Vec<(String, Option<String>)> = audit_events::Entity::find()
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|row| (row.kind, row.actor))
        .collect();
    assert!(kinds.contains(&("totp.reset".into(), Some("cli".into()))), "{kinds:?}");
    assert!(
        kinds.contains(&("totp.setup_link_created".into(), Some("cli".into()))),
        "{kinds:?}"
    );
}
