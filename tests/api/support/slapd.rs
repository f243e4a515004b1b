//! A real OpenLDAP slapd for the tests, run as a child process through
//! `scripts/start-directory.sh` (the script the quick start uses too), serving
//! `tests/fixtures/ldap/directory.ldif` on a free loopback port.
//!
//! Most tests only read the directory and share one server per test process
//! ([`TestSlapd::shared`]); tests that change it, stop it, suspend it or restart it start
//! their own ([`TestSlapd::start`]). [`TestSlapd::start_with_tls`] adds StartTLS and an
//! `ldaps://` listener with a server certificate from a test CA made at test time
//! ([`TestCertificates`]).
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
use std::process::{Child, ChildStdin, Command, Output, Stdio};
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
    /// `ldaps://127.0.0.1:LDAPS_PORT/`, when started with TLS.
    pub ldaps_url: Option<String>,
    /// The test CA and server certificate, when started with TLS.
    tls: Option<TestCertificates>,
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
    /// Extra environment for scripts/start-directory.sh (the TLS settings), kept for restarts.
    script_env: Vec<(String, String)>,
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
        Self::start_with(seed, false).await
    }

    /// A server of its own with the standard seed that also speaks TLS: StartTLS on
    /// [`url`](Self::url) and TLS from the first byte on [`ldaps_url`](Self::ldaps_url),
    /// with a certificate for 127.0.0.1 and localhost signed by [`tls`](Self::tls)'s CA.
    pub async fn start_with_tls() -> TestSlapd {
        Self::start_with(&fixtures_dir().join("directory.ldif"), true).await
    }

    async fn start_with(seed: &Path, with_tls: bool) -> TestSlapd {
        let mut workdir = tempfile::Builder::new()
            .prefix("gatehouse-slapd-")
            .tempdir()
            .expect("create a temporary directory for slapd");
        // Inside the work directory, so that the watchdog removes them with it.
        let tls = with_tls.then(|| TestCertificates::generate(&workdir.path().join("tls")));
        for attempt in 1..=PORT_ATTEMPTS {
            let (port, ldaps_port) = free_loopback_ports();
            let mut script_env = Vec::new();
            if let Some(tls) = &tls {
                script_env = vec![
                    ("GATEHOUSE_SLAPD_TLS_CERT".to_string(), path_text(&tls.server_cert)),
                    ("GATEHOUSE_SLAPD_TLS_KEY".to_string(), path_text(&tls.server_key)),
                    ("GATEHOUSE_SLAPD_TLS_CA".to_string(), path_text(&tls.ca_file)),
                    ("GATEHOUSE_SLAPD_LDAPS_PORT".to_string(), ldaps_port.to_string()),
                ];
            }
            let (child, lifeline) = spawn_slapd(workdir.path(), port, seed, &script_env);
            let mut slapd = TestSlapd {
                url: format!("ldap://127.0.0.1:{port}/"),
                port,
                ldaps_url: tls.is_some().then(|| format!("ldaps://127.0.0.1:{ldaps_port}/")),
                tls: tls.clone(),
                script_env,
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
        let (child, lifeline) = spawn_slapd(self.workdir.path(), self.port, &self.seed, &self.script_env);
        self.child = child;
        self.lifeline = Some(lifeline);
        if let Err(problem) = self.wait_until_ready().await {
            panic!("{}", self.startup_failure(problem));
        }
    }

    /// Freezes slapd with SIGSTOP: the kernel still completes TCP handshakes for its listen
    /// backlog, but nothing is ever answered, like a hung server. [`resume`](Self::resume)
    /// undoes it; a suspended slapd that is dropped is killed all the same.
    pub fn suspend(&self) {
        send_signal("STOP", self.child.id());
    }

    /// Lets a [`suspend`](Self::suspend)ed slapd run again (SIGCONT).
    pub fn resume(&self) {
        send_signal("CONT", self.child.id());
    }

    /// The TLS material of a server started with [`start_with_tls`](Self::start_with_tls).
    pub fn certificates(&self) -> &TestCertificates {
        self.tls.as_ref().expect("this slapd was started with TLS")
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

/// Two different ports that were free a moment ago (ldap:// and ldaps://); slapd may still
/// lose a race for them, hence the retries.
fn free_loopback_ports() -> (u16, u16) {
    let first = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let second = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = |listener: &TcpListener| listener.local_addr().expect("local address").port();
    (port(&first), port(&second))
}

fn path_text(path: &Path) -> String {
    path.to_str().expect("temporary paths are UTF-8").to_string()
}

/// `kill -SIGNAL PID` for our own child; no `unsafe` needed.
fn send_signal(signal: &str, pid: u32) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap_or_else(|e| panic!("cannot run kill -{signal}: {e}"));
    assert!(status.success(), "kill -{signal} {pid} failed: {status}");
}

/// A test CA, a server certificate it signed for `127.0.0.1` and `localhost` (with its
/// key), and a second CA that signed nothing used here. Made with the `openssl` command in
/// a few milliseconds (P-256 keys), valid for two days.
#[derive(Debug, Clone)]
pub struct TestCertificates {
    /// PEM: the CA that signed the server certificate.
    pub ca_file: PathBuf,
    /// PEM: another CA; trusting only it must make TLS fail.
    pub other_ca_file: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
}

impl TestCertificates {
    pub fn generate(dir: &Path) -> TestCertificates {
        std::fs::create_dir_all(dir).expect("create the TLS directory");
        const NEW_KEY: &str = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        const CA: &str =
            "-days 2 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign";
        openssl(
            dir,
            &format!("req -x509 {NEW_KEY} -keyout ca.key -out ca.pem -subj /CN=Gatehouse-Test-CA {CA}"),
        );
        openssl(
            dir,
            &format!("req -x509 {NEW_KEY} -keyout other-ca.key -out other-ca.pem -subj /CN=Other-CA {CA}"),
        );
        openssl(
            dir,
            &format!("req {NEW_KEY} -keyout server.key -out server.csr -subj /CN=localhost"),
        );
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName = IP:127.0.0.1, DNS:localhost\n\
             basicConstraints = CA:FALSE\n\
             keyUsage = critical, digitalSignature\n\
             extendedKeyUsage = serverAuth\n",
        )
        .expect("write the certificate extensions");
        openssl(
            dir,
            "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
             -extfile server.ext",
        );
        TestCertificates {
            ca_file: dir.join("ca.pem"),
            other_ca_file: dir.join("other-ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
        }
    }
}

/// Runs `openssl` in `dir` with whitespace-separated arguments (none contains a space).
fn openssl(dir: &Path, args: &str) {
    let output: Output = Command::new("openssl")
        .args(args.split_whitespace())
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run openssl (needed for the TLS tests): {e}"));
    assert!(
        output.status.success(),
        "openssl {args} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs the script; by `exec` the child becomes slapd itself.
fn spawn_slapd(workdir: &Path, port: u16, seed: &Path, script_env: &[(String, String)]) -> (Child, ChildStdin) {
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
        .envs(script_env.iter().map(|(name, value)| (name, value)))
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
