//! A real OpenLDAP slapd for the tests, run as a child process through
//! `scripts/start-directory.sh` (the script the quick start uses too), serving
//! `tests/fixtures/ldap/directory.ldif` on a free loopback port.
//!
//! Most tests only read the directory and share one server per test process
//! ([`TestSlapd::shared`]); tests that change it, stop it or restart it start their own
//! ([`TestSlapd::start`]).
//!
//! No slapd outlives the test process. A dropped `TestSlapd` kills its child and removes its
//! directory. The shared one lives in a static and is never dropped, so the script runs a
//! small watchdog beside slapd (`GATEHOUSE_SLAPD_STOP_WITH_STDIN=1`): slapd's stdin is a
//! pipe whose only writer is this process, held open by the `TestSlapd`. When this process
//! ends, however it ends (even SIGKILL), the kernel closes that pipe; the watchdog reads end
//! of file, stops slapd and deletes its directory. That needs neither `unsafe` (prctl
//! PR_SET_PDEATHSIG) nor pid polling that a recycled pid could fool.

use std::fs::OpenOptions;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use gatehouse::config::{LdapConfig, LdapGroups, Secret};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings};
use tokio::sync::OnceCell;

const BASE_DN: &str = "dc=example,dc=org";
const SERVICE_DN: &str = "cn=gatehouse,ou=services,dc=example,dc=org";
const SERVICE_PASSWORD: &str = "gatehouse-service-password";
const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
const ADMIN_PASSWORD: &str = "admin-password";
/// How long slapd may take to accept a bind after being spawned.
const READY_WITHIN: Duration = Duration::from_secs(10);
/// Attempts at finding a port that stays free until slapd binds it.
const PORT_ATTEMPTS: usize = 5;

static SHARED: OnceCell<TestSlapd> = OnceCell::const_new();

pub struct TestSlapd {
    /// `ldap://127.0.0.1:PORT/`
    pub url: String,
    pub port: u16,
    /// `dc=example,dc=org`
    pub base_dn: String,
    /// `ou=people,dc=example,dc=org`: where the people are.
    pub people_dn: String,
    /// `ou=groups,dc=example,dc=org`: groupOfNames entries.
    pub groups_dn: String,
    /// The read-only service account Gatehouse binds as.
    pub bind_dn: String,
    pub bind_password: String,
    /// The rootDN, for tests that change the directory.
    pub admin_dn: String,
    pub admin_password: String,
    seed: PathBuf,
    workdir: tempfile::TempDir,
    child: Child,
    /// slapd's stdin; the watchdog stops slapd when this end closes (see the module docs).
    lifeline: Option<ChildStdin>,
}

impl TestSlapd {
    /// One server for the whole test process, started on first use.
    pub async fn shared() -> &'static TestSlapd {
        SHARED.get_or_init(TestSlapd::start).await
    }

    /// A server of its own with the standard seed.
    pub async fn start() -> TestSlapd {
        Self::start_with_seed(&fixtures_dir().join("directory.ldif")).await
    }

    /// A server of its own loaded from `seed` (an LDIF under dc=example,dc=org).
    pub async fn start_with_seed(seed: &Path) -> TestSlapd {
        let mut workdir = tempfile::Builder::new()
            .prefix("gatehouse-slapd-")
            .tempdir()
            .expect("create a temporary directory for slapd");
        for attempt in 1..=PORT_ATTEMPTS {
            let port = free_loopback_port();
            let (child, lifeline) = spawn_slapd(workdir.path(), port, seed);
            let mut slapd = TestSlapd {
                url: format!("ldap://127.0.0.1:{port}/"),
                port,
                base_dn: BASE_DN.into(),
                people_dn: format!("ou=people,{BASE_DN}"),
                groups_dn: format!("ou=groups,{BASE_DN}"),
                bind_dn: SERVICE_DN.into(),
                bind_password: SERVICE_PASSWORD.into(),
                admin_dn: ADMIN_DN.into(),
                admin_password: ADMIN_PASSWORD.into(),
                seed: seed.to_path_buf(),
                workdir,
                child,
                lifeline: Some(lifeline),
            };
            match slapd.wait_until_ready().await {
                Ok(()) => return slapd,
                Err(Startup::PortTaken) if attempt < PORT_ATTEMPTS => {
                    // Someone took the port between our probe and slapd's bind: try another.
                    slapd.stop();
                    workdir = slapd.into_workdir();
                }
                Err(problem) => panic!("{}", slapd.startup_failure(problem)),
            }
        }
        unreachable!("the last attempt either succeeds or panics")
    }

    /// A configuration pointing at this server: the service account, people under
    /// `people_dn`, groups found by searching `groups_dn`.
    pub fn ldap_config(&self) -> LdapConfig {
        LdapConfig {
            url: self.url.clone(),
            bind_dn: self.bind_dn.clone(),
            bind_password: Secret::new(&self.bind_password),
            base_dn: self.people_dn.clone(),
            connect_timeout: 2,
            operation_timeout: 5,
            groups: LdapGroups {
                base_dn: self.groups_dn.clone(),
                ..LdapGroups::default()
            },
            ..LdapConfig::default()
        }
    }

    /// A connection bound as the rootDN, to change the directory.
    pub async fn admin_connection(&self) -> Ldap {
        bind(&self.url, &self.admin_dn, &self.admin_password)
            .await
            .unwrap_or_else(|e| panic!("bind as {} at {}: {e}", self.admin_dn, self.url))
    }

    /// Kills slapd; the data stays, so [`restart`](Self::restart) brings it back.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Only now, with slapd gone, may the watchdog see end of file: it then leaves the
        // directory alone.
        self.lifeline = None;
    }

    /// Stops slapd if it runs and starts it again on the same port with the same data.
    pub async fn restart(&mut self) {
        self.stop();
        let (child, lifeline) = spawn_slapd(self.workdir.path(), self.port, &self.seed);
        self.child = child;
        self.lifeline = Some(lifeline);
        if let Err(problem) = self.wait_until_ready().await {
            panic!("{}", self.startup_failure(problem));
        }
    }

    /// Polls a service-account bind until it works, slapd exits, or time runs out.
    async fn wait_until_ready(&mut self) -> Result<(), Startup> {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll the slapd process") {
                let log = self.log();
                let port_taken =
                    log.contains("Address already in use") || TcpListener::bind(("127.0.0.1", self.port)).is_err();
                return Err(if port_taken {
                    Startup::PortTaken
                } else {
                    Startup::Exited(status.to_string())
                });
            }
            match bind(&self.url, &self.bind_dn, &self.bind_password).await {
                Ok(mut ldap) => {
                    let _ = ldap.unbind().await;
                    return Ok(());
                }
                Err(e) if Instant::now() >= deadline => return Err(Startup::NotReady(e)),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn startup_failure(&mut self, problem: Startup) -> String {
        let what = match problem {
            Startup::PortTaken => format!("port {} stayed taken", self.port),
            Startup::Exited(status) => format!("slapd exited ({status})"),
            Startup::NotReady(e) => {
                self.stop();
                format!("slapd did not accept a bind within {READY_WITHIN:?}: {e}")
            }
        };
        format!(
            "cannot start the test directory at {}: {what}\n--- output of scripts/start-directory.sh ---\n{}",
            self.url,
            self.log()
        )
    }

    fn log(&self) -> String {
        std::fs::read_to_string(log_path(self.workdir.path())).unwrap_or_default()
    }

    /// Takes the directory back for another attempt. The caller has stopped slapd.
    fn into_workdir(mut self) -> tempfile::TempDir {
        let placeholder = tempfile::Builder::new()
            .prefix("gatehouse-slapd-retry-")
            .tempdir()
            .expect("create a temporary directory");
        std::mem::replace(&mut self.workdir, placeholder)
    }
}

impl Drop for TestSlapd {
    fn drop(&mut self) {
        self.stop();
        // The TempDir field removes the directory.
    }
}

enum Startup {
    PortTaken,
    Exited(String),
    NotReady(String),
}

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ldap")
}

fn log_path(workdir: &Path) -> PathBuf {
    workdir.join("start-directory.log")
}

/// A port that was free a moment ago; slapd may still lose a race for it, hence the retries.
fn free_loopback_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

/// Runs the script; by `exec` the child becomes slapd itself.
fn spawn_slapd(workdir: &Path, port: u16, seed: &Path) -> (Child, ChildStdin) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/start-directory.sh");
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(workdir))
        .expect("open the slapd log");
    let mut child = Command::new("bash")
        .arg(&script)
        .arg(workdir)
        .arg(port.to_string())
        .arg(seed)
        .env("GATEHOUSE_SLAPD_STOP_WITH_STDIN", "1")
        .env("GATEHOUSE_SLAPD_REMOVE_WORKDIR", "1")
        .stdin(Stdio::piped())
        .stdout(log.try_clone().expect("duplicate the log handle"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let lifeline = child.stdin.take().expect("stdin was piped");
    (child, lifeline)
}

async fn bind(url: &str, dn: &str, password: &str) -> Result<Ldap, String> {
    let settings = LdapConnSettings::new().set_conn_timeout(Duration::from_secs(1));
    let (connection, mut ldap) = LdapConnAsync::with_settings(settings, url)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = connection.drive().await;
    });
    ldap.with_timeout(Duration::from_secs(2))
        .simple_bind(dn, password)
        .await
        .and_then(|result| result.success())
        .map_err(|e| e.to_string())?;
    Ok(ldap)
}
