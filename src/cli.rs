//! The command line: `serve`, `migrate`, `check-config`, `clients`, `keys`, `ldap test`,
//! `second-factor`, `backup`, `healthcheck`, `completions`, `manpage`.

mod backup;
mod healthcheck;
mod migrate;
mod shell;

pub use migrate::{MigrationsPending, MIGRATIONS_PENDING_EXIT_CODE};

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};

use crate::app::startup::{load_master_key, open_database};
use crate::audit::AuditLog;
use crate::authorization::client_registry::{add_client, list_clients, remove_client, NewClient};
use crate::authorization::client_secret::ClientSecretKey;
use crate::authorization::second_factor_enrolment::{
    find_person_by_sub_or_username, issue_setup_link, setup_link_url, SetupLinkError,
};
use crate::clock::{Clock, SystemClock};
use crate::config::{
    client_capability_problems, validate_client_id, validate_redirect_uri, Config, GrantType, LdapConfig,
    SigningAlgorithm, TokenEndpointAuthMethod, DEFAULT_CONFIG_PATH,
};
use crate::crypto::random_token;
use crate::directory::{Directory, LdapDirectory};
use crate::keys::{list_signing_keys, revoke_signing_key, rotate_signing_keys_now, KeyRing, KeyStatus, RotationPolicy};
use crate::mfa::{reset_totp, MfaError};
use crate::settings::ldap_settings::read_ldap_settings;
use crate::tls::{check_certificate_pair, client_config_pinned_to};
use crate::Application;

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse",
    version,
    about = "OpenID Connect identity provider for LDAP directories"
)]
pub struct Cli {
    /// Configuration file (TOML). Environment variables GATEHOUSE__SECTION__KEY override it.
    #[arg(long, short, global = true, env = "GATEHOUSE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (applies pending migrations first).
    Serve,
    /// Apply pending database migrations and exit (`--check`: only list them).
    Migrate(MigrateArgs),
    /// Check the configuration and report every problem at once.
    CheckConfig,
    /// Manage registered applications.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Inspect, rotate and revoke the signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Check the directory settings.
    #[command(subcommand)]
    Ldap(LdapCommand),
    /// A person's second factor, for operators (when no administrator can sign in with one).
    #[command(subcommand)]
    SecondFactor(SecondFactorCommand),
    /// Copy the SQLite database, consistently, while the server runs (to a new file, mode
    /// 0600). Back up the master key too. For PostgreSQL it prints the pg_dump recipe.
    Backup {
        /// The new file to write (an existing file is never replaced).
        path: PathBuf,
    },
    /// GET /healthz on the listen address and exit 0 when it answers 200 (for container
    /// health checks).
    Healthcheck {
        /// Ask this plain-http URL instead, e.g. http://127.0.0.1:8080/healthz.
        #[arg(long)]
        url: Option<String>,
    },
    /// Print the completion script for a shell.
    Completions {
        /// bash, zsh or fish.
        shell: shell::Shell,
    },
    /// Print the man page (roff) to standard output.
    Manpage,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Change nothing: list the pending migrations and exit with code 3 when there are
    /// some, 0 when the database is up to date.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Subcommand)]
pub enum SecondFactorCommand {
    /// Print a one-time link (24 hours) with which the person sets up an authenticator
    /// after their password; it replaces their previous link. Audited with actor `cli`.
    SetupLink {
        /// The person's `sub` or username, as the People page shows them.
        person: String,
    },
    /// Remove the person's second factor and recovery codes. Audited with actor `cli`.
    Reset {
        /// The person's `sub` or username, as the People page shows them.
        person: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Register an application; a confidential client's secret is printed once.
    Add(AddClientArgs),
    /// List registered applications.
    List,
    /// Remove an application added with `clients add`.
    Remove {
        /// The client_id to remove.
        client_id: String,
    },
}

#[derive(Debug, Args)]
pub struct AddClientArgs {
    /// The client_id (visible ASCII, no `:`).
    #[arg(long = "id")]
    pub client_id: String,
    /// The name people see on the sign-in and consent pages.
    #[arg(long, default_value = "")]
    pub name: String,
    /// An exact redirect URI (repeat for several). Required unless the client only uses
    /// client_credentials.
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// An exact post-logout redirect URI (repeat for several).
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (no secret; PKCE required), e.g. a single-page or native app.
    #[arg(long)]
    pub public: bool,
    /// Send the secret in the form body (client_secret_post) instead of HTTP Basic.
    #[arg(long, conflicts_with = "public")]
    pub secret_post: bool,
    /// Skip the consent page for this application.
    #[arg(long)]
    pub first_party: bool,
    /// Every sign-in to this application needs a second factor (TOTP).
    #[arg(long)]
    pub require_mfa: bool,
    /// A grant type the client may use: authorization_code, refresh_token,
    /// client_credentials (repeat for several; default: authorization_code and refresh_token).
    #[arg(long = "grant-type", value_parser = parse_grant_type)]
    pub grant_types: Vec<GrantType>,
    /// A scope client_credentials tokens may carry (repeat for several).
    #[arg(long = "allowed-scope")]
    pub allowed_scopes: Vec<String>,
    /// An address or CIDR token requests must come from (repeat; default: anywhere).
    #[arg(long = "allowed-ip")]
    pub allowed_ips: Vec<String>,
    /// Issue refresh tokens even when the application does not ask for offline_access.
    #[arg(long)]
    pub refresh_tokens: bool,
    /// The ID token signature algorithm: RS256 (default), PS256 or ES256.
    #[arg(long = "id-token-alg", value_parser = parse_signing_algorithm, default_value = "RS256")]
    pub id_token_alg: SigningAlgorithm,
    /// A resource server: may introspect tokens issued to other clients and personal
    /// access tokens (otherwise only its own).
    #[arg(long)]
    pub introspect_any_token: bool,
}

fn parse_grant_type(text: &str) -> Result<GrantType, String> {
    GrantType::parse(text).ok_or_else(|| "expected authorization_code, refresh_token or client_credentials".into())
}

fn parse_signing_algorithm(text: &str) -> Result<SigningAlgorithm, String> {
    SigningAlgorithm::parse(text).ok_or_else(|| "expected RS256, PS256 or ES256".into())
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List the signing keys, their states and dates.
    List,
    /// Rotate now: the next key signs from now on, the signing key is retired, and a new
    /// next key is generated. Running servers follow within `keys.reload_interval`.
    Rotate,
    /// Revoke a (compromised) key: out of the JWKS, its tokens refused. Revoking the
    /// signing key rotates at once.
    Revoke {
        /// The key's `kid`, as `keys list` shows it.
        kid: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum LdapCommand {
    /// Sign a user in against the directory (password read from the terminal or stdin)
    /// and print the claims Gatehouse would issue, or the exact failure.
    Test {
        /// The sign-in name.
        username: String,
    },
}

impl Command {
    /// Whether the command reads the configuration (completions, the man page and a
    /// health check of a given URL do not: they work on any machine, with no file).
    pub fn needs_configuration(&self) -> bool {
        !matches!(
            self,
            Command::Completions { .. } | Command::Manpage | Command::Healthcheck { url: Some(_) }
        )
    }
}

/// Loads the configuration named on the command line (or the default file if present).
/// For `check-config` it also checks the files the configuration names (the TLS pair):
/// their problems are listed with the others, their warnings printed on standard error.
pub fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    if !matches!(cli.command, Command::CheckConfig) {
        return load_config_checked(cli, |_| Vec::new());
    }
    let mut warnings = Vec::new();
    let config = load_config_checked(cli, |config| {
        let Some(tls) = &config.tls else {
            return Vec::new();
        };
        let check = check_certificate_pair(tls, &config.issuer, SystemClock.now_unix());
        warnings = check.warnings;
        check.problems
    });
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    config
}

/// [`load_config`], with the checks of `more_checks` reported among the problems.
fn load_config_checked(cli: &Cli, more_checks: impl FnOnce(&Config) -> Vec<String>) -> anyhow::Result<Config> {
    let (path, required) = match &cli.config {
        Some(path) => (path.clone(), true),
        None => (PathBuf::from(DEFAULT_CONFIG_PATH), false),
    };
    Config::load_checked(&path, required, std::env::vars(), more_checks).map_err(|errors| {
        let mut message = format!(
            "the configuration ({}) has {} problem(s):",
            path.display(),
            errors.problems.len()
        );
        for problem in &errors.problems {
            message.push_str("\n  - ");
            message.push_str(problem);
        }
        anyhow::anyhow!(message)
    })
}

/// Runs the command. `config` is the configuration [`load_config`] read, when the caller
/// read it already (to set up logging); commands that need one read it here otherwise.
pub async fn run(cli: Cli, config: Option<Config>) -> anyhow::Result<()> {
    // Commands that need no configuration.
    match &cli.command {
        Command::Completions { shell } => return shell::completions(*shell),
        Command::Manpage => return shell::manpage(),
        Command::Healthcheck { url: Some(url) } => {
            let (host, port, path) = healthcheck::target(Some(url), "")?;
            return healthcheck::healthcheck(&host, port, &path, None).await;
        }
        _ => {}
    }
    let config = match config {
        Some(config) => config,
        None => load_config(&cli)?,
    };
    match cli.command {
        Command::CheckConfig => {
            println!(
                "configuration OK: issuer {}, listening on {}",
                config.issuer, config.listen
            );
            Ok(())
        }
        Command::Serve => serve(config).await,
        Command::Migrate(args) => migrate::migrate(&config, args.check).await,
        Command::Backup { path } => backup::backup(&config, &path).await,
        Command::Healthcheck { url } => {
            let (host, port, path) = healthcheck::target(url.as_deref(), &config.listen)?;
            // The listen address speaks HTTPS with [tls] (a given --url is plain http).
            let tls = match (&url, &config.tls) {
                (None, Some(tls)) => {
                    let cert_file = tls.cert_file.clone();
                    Some(tokio::task::spawn_blocking(move || client_config_pinned_to(&cert_file)).await??)
                }
                _ => None,
            };
            healthcheck::healthcheck(&host, port, &path, tls).await
        }
        Command::Completions { .. } | Command::Manpage => Ok(()),
        Command::Clients(command) => clients(config, command).await,
        Command::Keys(command) => keys(config, command).await,
        Command::Ldap(LdapCommand::Test { username }) => ldap_test(config, &username).await,
        Command::SecondFactor(command) => second_factor(config, command).await,
    }
}

/// Who the command line's changes are attributed to in the audit trail.
const CLI_ACTOR: &str = "cli";

async fn second_factor(config: Config, command: SecondFactorCommand) -> anyhow::Result<()> {
    let db = open_database(&config).await?;
    let audit = AuditLog::start(db.clone());
    let now = SystemClock.now_unix();
    let who = match &command {
        SecondFactorCommand::SetupLink { person } | SecondFactorCommand::Reset { person } => person,
    };
    let person = find_person_by_sub_or_username(&db, who)
        .await?
        .with_context(|| format!("nobody called `{who}` has signed in to Gatehouse (give their sub or username)"))?;
    let name = format!("{} ({})", person.claims.username, person.id);
    let outcome = match command {
        SecondFactorCommand::SetupLink { .. } => {
            match issue_setup_link(&db, &person.id, CLI_ACTOR, &audit, now).await {
                Ok(created) => {
                    println!(
                        "setup link for {name}, valid until {}:",
                        show_time(Some(created.link.expires_at))
                    );
                    println!("{}", setup_link_url(&config.issuer, &created.token));
                    println!("(shown once; it works once, for this person only; a new link replaces it)");
                    Ok(())
                }
                Err(SetupLinkError::AlreadyEnrolled) => Err(anyhow::anyhow!(
                    "{name} has a second factor already: reset it first (gatehouse second-factor reset)"
                )),
                Err(error) => Err(error.into()),
            }
        }
        SecondFactorCommand::Reset { .. } => match reset_totp(&db, &person.id, CLI_ACTOR, &audit, now).await {
            Ok(()) => {
                println!("removed the second factor of {name}");
                Ok(())
            }
            Err(MfaError::NotEnrolled) => {
                println!("{name} had no second factor");
                Ok(())
            }
            Err(error) => Err(error.into()),
        },
    };
    audit.flush().await;
    outcome
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let issuer = config.issuer.clone();
    let app = Application::build(config).await?;
    // Tests and scripts wait for this exact line.
    println!("listening on {}://{} (issuer {issuer})", app.scheme(), app.local_addr());
    if let Some(addr) = app.redirect_addr() {
        println!("redirecting http://{addr} to {issuer}");
    }
    print_setup_link(&app, &issuer).await?;
    app.run_until_stopped().await.context("while serving")?;
    Ok(())
}

/// With no administrator group yet, prints the one-time setup link on the terminal
/// (standard error, written directly) and logs only that it did.
async fn print_setup_link(app: &Application, issuer: &str) -> anyhow::Result<()> {
    let state = app.state();
    let token = crate::settings::admin_groups::prepare_first_run(
        &state.db,
        &state.master_key,
        &state.config.admin.groups,
        state.now(),
    )
    .await
    .context("while checking for administrator groups")?;
    if let Some(token) = token {
        // The link is a secret: whoever holds it names the administrators. It goes to the
        // operator's terminal only, never through tracing, whose lines end up in log files
        // and log collectors. Standard error, not standard output, which scripts read.
        let link = format!("{issuer}/setup?token={token}");
        let mut terminal = std::io::stderr().lock();
        writeln!(terminal, "first-run setup: open {link}")
            .and_then(|()| terminal.flush())
            .context("while printing the setup link")?;
        drop(terminal);
        tracing::warn!(
            "no administrator group yet: a one-time setup link was printed on the terminal (standard error), \
             valid for 24 hours; restart Gatehouse for a new one"
        );
    }
    Ok(())
}

async fn keys(config: Config, command: KeysCommand) -> anyhow::Result<()> {
    let master_key = load_master_key(&config)?;
    let db = open_database(&config).await?;
    let ring = KeyRing::load_or_create_with(
        &db,
        &master_key,
        &SystemClock,
        &config.keys.algorithms,
        config.keys.rsa_bits,
    )
    .await?;
    let policy = RotationPolicy::from_config(&config);
    let now = SystemClock.now_unix();
    match command {
        KeysCommand::List => {}
        KeysCommand::Rotate => {
            let outcome = rotate_signing_keys_now(&db, &master_key, &ring, now, &policy).await?;
            for step in &outcome.algorithms {
                let algorithm = step.algorithm;
                if let Some(kid) = &step.promoted {
                    println!("{algorithm}: now signing with {kid}");
                }
                for kid in &step.retired {
                    println!("{algorithm}: retired {kid}");
                }
                if let Some(kid) = &step.generated_next {
                    println!("{algorithm}: generated the next key {kid}");
                }
            }
        }
        KeysCommand::Revoke { kid } => {
            let outcome = revoke_signing_key(&db, &master_key, &ring, &kid, now, &policy).await?;
            let algorithm = outcome.algorithm;
            if outcome.previous_status == KeyStatus::Revoked {
                println!("{kid} ({algorithm}) was already revoked");
            } else {
                println!("revoked {kid} ({algorithm}, was {})", outcome.previous_status);
            }
            if let Some(promoted) = &outcome.promoted {
                println!("{algorithm}: now signing with {promoted}");
            }
            if let Some(next) = &outcome.generated_next {
                println!("{algorithm}: generated the next key {next}");
            }
        }
    }
    let signing = ring.signing_kids();
    println!(
        "{:<45} {:<6} {:<8} {:<20} {:<20} {:<20} REVOKED",
        "KID", "ALG", "STATUS", "CREATED", "ACTIVATED", "RETIRED"
    );
    for key in list_signing_keys(&db).await? {
        let status = if signing.contains(&key.kid) {
            format!("{}*", key.status)
        } else {
            key.status.clone()
        };
        println!(
            "{:<45} {:<6} {:<8} {:<20} {:<20} {:<20} {}",
            key.kid,
            key.algorithm,
            status,
            show_time(Some(key.created_at)),
            show_time(key.activated_at),
            show_time(key.retired_at),
            show_time(key.revoked_at),
        );
    }
    println!(
        "(* signs new tokens in its algorithm; running servers follow changes within {} s)",
        config.keys.reload_interval
    );
    Ok(())
}

/// A Unix time as `YYYY-MM-DD HH:MM:SS` (UTC), or `-`.
fn show_time(unix: Option<i64>) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    unix.and_then(|unix| time::OffsetDateTime::from_unix_timestamp(unix).ok())
        .and_then(|time| time.format(&format).ok())
        .unwrap_or_else(|| "-".to_string())
}

async fn clients(config: Config, command: ClientsCommand) -> anyhow::Result<()> {
    let db = open_database(&config).await?;
    match command {
        ClientsCommand::List => {
            for client in list_clients(&db).await? {
                println!(
                    "{}\t{}\t{}\t{}{}{}{}\n\tredirect: {}\n\tpost-logout: {}\n\tgrants: {}\n\tid token: {}{}{}",
                    client.client_id,
                    client.display_name(),
                    client.auth_method.as_str(),
                    client.source,
                    if client.first_party { "\tfirst-party" } else { "" },
                    if client.require_mfa { "\trequire-mfa" } else { "" },
                    if client.introspect_any_token {
                        "\tintrospects-any-token"
                    } else {
                        ""
                    },
                    client.redirect_uris.join(" "),
                    client.post_logout_redirect_uris.join(" "),
                    client
                        .grant_types
                        .iter()
                        .map(|g| g.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    client.id_token_signed_response_alg,
                    if client.allowed_scopes.is_empty() {
                        String::new()
                    } else {
                        format!("\n\tscopes: {}", client.allowed_scopes.join(" "))
                    },
                    if client.allowed_ips.is_unrestricted() {
                        String::new()
                    } else {
                        format!("\n\tallowed from: {}", client.allowed_ips.to_strings().join(" "))
                    },
                );
            }
        }
        ClientsCommand::Remove { client_id } => {
            remove_client(&db, &client_id).await?;
            println!("removed client {client_id}");
        }
        ClientsCommand::Add(args) => {
            if let Err(problem) = validate_client_id(&args.client_id) {
                bail!("{problem}");
            }
            for uri in args.redirect_uris.iter().chain(&args.post_logout_redirect_uris) {
                if let Err(problem) = validate_redirect_uri(uri) {
                    bail!("redirect URI `{uri}` {problem}");
                }
            }
            let grant_types = if args.grant_types.is_empty() {
                GrantType::defaults()
            } else {
                args.grant_types.clone()
            };
            if args.redirect_uris.is_empty() && grant_types.contains(&GrantType::AuthorizationCode) {
                bail!("--redirect-uri is required (unless the client only uses --grant-type client_credentials)");
            }
            let problems = client_capability_problems(
                args.public,
                &grant_types,
                &args.allowed_scopes,
                &args.allowed_ips,
                args.id_token_alg,
                &config.keys.algorithms,
            );
            if !problems.is_empty() {
                bail!("{}", problems.join("\n"));
            }
            let auth_method = if args.public {
                TokenEndpointAuthMethod::None
            } else if args.secret_post {
                TokenEndpointAuthMethod::ClientSecretPost
            } else {
                TokenEndpointAuthMethod::ClientSecretBasic
            };
            let secret = (!args.public).then(|| random_token(32));
            let client = NewClient {
                client_id: args.client_id.clone(),
                name: args.name,
                secret: secret.clone(),
                redirect_uris: args.redirect_uris,
                post_logout_redirect_uris: args.post_logout_redirect_uris,
                auth_method,
                first_party: args.first_party,
                require_mfa: args.require_mfa,
                grant_types,
                allowed_scopes: args.allowed_scopes,
                allowed_ips: args.allowed_ips,
                issue_refresh_tokens: args.refresh_tokens,
                id_token_signed_response_alg: args.id_token_alg,
                introspect_any_token: args.introspect_any_token,
            };
            let key = ClientSecretKey::derive(&load_master_key(&config)?);
            add_client(&db, &key, &client, SystemClock.now_unix()).await?;
            println!("client_id:     {}", client.client_id);
            println!("auth method:   {}", auth_method.as_str());
            match secret {
                Some(secret) => println!("client_secret: {secret}\n(shown once: store it now)"),
                None => println!("public client: no secret; PKCE with S256 is required"),
            }
        }
    }
    Ok(())
}

fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        Ok(rpassword::prompt_password("Password: ")?)
    } else {
        let mut line = String::new();
        std::io::stdin().read_to_string(&mut line)?;
        Ok(line.trim_end_matches(['\n', '\r']).to_string())
    }
}

/// The LDAP settings in effect: the database's when it holds them (the file only seeds
/// them), else the configuration file's. Says on stderr which ones are used.
async fn effective_ldap_settings(config: &Config) -> anyhow::Result<LdapConfig> {
    let master_key = load_master_key(config)?;
    let db = open_database(config).await?;
    match read_ldap_settings(&db, &master_key)
        .await
        .context("while reading the LDAP settings from the database")?
    {
        Some((settings, version)) => {
            eprintln!("using the LDAP settings stored in the database (version {version})");
            Ok(settings)
        }
        None => {
            eprintln!("the database holds no LDAP settings yet: using the configuration file's [ldap]");
            Ok(config.ldap.clone())
        }
    }
}

async fn ldap_test(config: Config, username: &str) -> anyhow::Result<()> {
    let settings = effective_ldap_settings(&config).await?;
    let password = read_password()?;
    let directory: Arc<dyn Directory> = Arc::new(LdapDirectory::new(settings));
    match directory.authenticate_user(username, &password).await {
        Ok(user) => {
            println!("sign-in OK");
            println!("sub (stable id):    {}", user.id);
            println!("dn:                 {}", user.dn);
            println!("preferred_username: {}", user.username);
            let show = |label: &str, value: &Option<String>| {
                println!("{label:<19} {}", value.as_deref().unwrap_or("(none)"));
            };
            show("name:", &user.name);
            show("given_name:", &user.given_name);
            show("family_name:", &user.family_name);
            show("email:", &user.email);
            println!(
                "groups:             {}",
                if user.groups.is_empty() {
                    "(none)".to_string()
                } else {
                    user.groups.join(", ")
                }
            );
            for (claim, values) in &user.extra {
                println!("{:<19} {}", format!("{claim}:"), values.join(", "));
            }
            Ok(())
        }
        Err(error) => match error.person_message() {
            Some(message) => bail!("sign-in failed: {error}\n(the sign-in page says: {message})"),
            None => bail!("sign-in failed: {error}"),
        },
    }
}
