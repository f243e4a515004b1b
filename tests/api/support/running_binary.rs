//! The real `gatehouse serve` as a process on a free port, against the shared slapd and a
//! fresh database, with every line of its standard error kept (for the log tests) and
//! signals sent the way a service manager sends them.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::database::fresh_test_database_url;
use super::gatehouse_process::{free_port, write_config};

const BINARY: &str = env!("CARGO_BIN_EXE_gatehouse");

pub const APP_ID: &str = "log-app";
pub const APP_SECRET: &str = "log-app-secret-5b1e0c9a7d3f";
pub const APP_REDIRECT: &str = "http://127.0.0.1:9/logged-callback";
pub const SERVICE_ID: &str = "log-service";
pub const SERVICE_SECRET: &str = "log-service-secret-8e2d4f6a1c";

pub struct RunningBinary {
    child: Child,
    /// `http://127.0.0.1:PORT`, also the issuer.
    pub address: String,
    pub database_url: String,
    pub data_dir: PathBuf,
    stderr: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl RunningBinary {
    /// Starts `serve` with the clients [`APP_ID`] (confidential, authorization code) and
    /// [`SERVICE_ID`] (client_credentials, introspects any token), then `extra` appended to
    /// the configuration file, and `env` added to the environment. Returns once it serves.
    pub async fn start(extra: &str, env: &[(&str, &str)]) -> RunningBinary {
        let dir = tempfile::tempdir().expect("temporary directory");
        let database_url = fresh_test_database_url(dir.path()).await;
        // A free port, named in the issuer (the sign-in pages redirect to it).
        let port = free_port();
        let address = format!("http://127.0.0.1:{port}");
        let data_dir = dir.path().join("data");
        let config_path = write_config(
            dir.path(),
            &format!("127.0.0.1:{port}"),
            &database_url,
            &format!(
                r#"
[admin]
groups = ["admins"]

[[clients]]
client_id = "{APP_ID}"
secret = "{APP_SECRET}"
redirect_uris = ["{APP_REDIRECT}"]
grant_types = ["authorization_code", "refresh_token"]
issue_refresh_tokens = true

[[clients]]
client_id = "{SERVICE_ID}"
secret = "{SERVICE_SECRET}"
grant_types = ["client_credentials"]
introspect_any_token = true

{extra}
"#
            ),
        )
        .await;
        let mut command = Command::new(BINARY);
        command
            .args(["serve", "--config"])
            .arg(&config_path)
            .env_remove("GATEHOUSE_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start gatehouse serve");

        let stderr = Arc::new(Mutex::new(Vec::new()));
        let kept = stderr.clone();
        let error_stream = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(error_stream).lines().map_while(Result::ok) {
                kept.lock().expect("stderr lines").push(line);
            }
        });
        let (sender, receiver) = std::sync::mpsc::channel();
        let output_stream = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(output_stream).lines().map_while(Result::ok) {
                if line.starts_with("listening on http://") {
                    let _ = sender.send(());
                }
            }
        });
        let mut running = RunningBinary {
            child,
            address,
            database_url,
            data_dir,
            stderr,
            _dir: dir,
        };
        if receiver.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = running.child.kill();
            panic!("serve did not start: {:#?}", running.stderr_lines());
        }
        running
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Every line written on standard error so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.stderr.lock().expect("stderr lines").clone()
    }

    /// Every line of standard error, each parsed as one JSON object (panics on a line
    /// that is not one).
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stderr_lines()
            .iter()
            .map(|line| match serde_json::from_str::<serde_json::Value>(line) {
                Ok(value) if value.is_object() => value,
                _ => panic!("a log line is not a JSON object: {line:?}"),
            })
            .collect()
    }

    /// Sends `signal` (`TERM`, `INT`) to the process.
    pub fn signal(&self, signal: &str) {
        let sent = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -{signal} failed");
    }

    /// Waits for the process to end, at most `limit`; `None` if it did not.
    pub async fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().expect("process status") {
                // The reader threads get the last lines.
                tokio::time::sleep(Duration::from_millis(200)).await;
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        None
    }

    /// Stops the process with SIGTERM and waits for it (it must exit 0 within 30 s).
    pub async fn stop(&mut self) {
        self.signal("TERM");
        let status = self.exit_within(Duration::from_secs(30)).await;
        assert!(
            status.is_some_and(|status| status.success()),
            "serve did not stop cleanly: {status:?}"
        );
    }
}

impl Drop for RunningBinary {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
