//! The real `gatehouse` binary as a process: a configuration file against the shared
//! slapd, one-shot commands, and `serve` children that are stopped when dropped.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::slapd::TestSlapd;

pub const BINARY: &str = env!("CARGO_BIN_EXE_gatehouse");

/// Writes `dir/gatehouse.toml`: the shared slapd, `database_url`, the data directory
/// `dir/data`, and `extra` appended.
pub async fn write_config(dir: &Path, listen: &str, database_url: &str, extra: &str) -> PathBuf {
    let slapd = TestSlapd::shared().await;
    let ldap = slapd.ldap_config();
    let path = dir.join("gatehouse.toml");
    let text = format!(
        r#"issuer = "http://{listen}"
listen = "{listen}"
data_dir = "{data}"

[database]
url = "{database_url}"

[ldap]
url = "{url}"
bind_dn = "{bind_dn}"
bind_password = "{bind_password}"
base_dn = "{base_dn}"

[ldap.groups]
base_dn = "{groups}"
{extra}
"#,
        data = dir.join("data").display(),
        url = ldap.url,
        bind_dn = ldap.bind_dn,
        bind_password = ldap.bind_password.expose(),
        base_dn = ldap.base_dn,
        groups = ldap.groups.base_dn,
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// What a one-shot command did.
#[derive(Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// Runs `gatehouse ARGS` (with `--config CONFIG` when given), stdin closed.
pub fn run(config: Option<&Path>, args: &[&str]) -> Outcome {
    let mut command = Command::new(BINARY);
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    let output = command
        .args(args)
        .stdin(Stdio::null())
        .env("GATEHOUSE_LOG", "warn")
        .output()
        .expect("run gatehouse");
    Outcome {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A `gatehouse serve` child; killed (by its pid) when dropped.
pub struct ServeProcess {
    child: Child,
    /// `127.0.0.1:PORT`, as the process printed it (after `http://` or `https://`).
    pub addr: String,
}

impl ServeProcess {
    pub fn start(config: &Path) -> ServeProcess {
        let mut child = Command::new(BINARY)
            .arg("serve")
            .arg("--config")
            .arg(config)
            .env("GATEHOUSE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start gatehouse serve");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let rest = line
                    .strip_prefix("listening on http://")
                    .or_else(|| line.strip_prefix("listening on https://"));
                if let Some(rest) = rest {
                    let _ = sender.send(rest.split_whitespace().next().unwrap_or_default().to_string());
                }
            }
        });
        let addr = match receiver.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!("gatehouse serve did not print its address");
            }
        };
        ServeProcess { child, addr }
    }

    /// The process id, for signals.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on right now (bound, then released).
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Writes `text` to a new file (for shell scripts the tests source).
pub fn write_file(path: &Path, text: &str) {
    let mut file = std::fs::File::create(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}
