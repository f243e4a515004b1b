//! A plain TCP listener on a loopback port that accepts every connection, never answers,
//! and records every byte it receives: a stand-in for a server an attacker names, to see
//! what Gatehouse would send there (an LDAP simple bind carries its password in clear).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub struct RecordingListener {
    /// `ldap://127.0.0.1:PORT`.
    pub url: String,
    received: Arc<Mutex<Vec<u8>>>,
    connections: Arc<Mutex<usize>>,
    task: JoinHandle<()>,
}

impl RecordingListener {
    pub async fn start() -> RecordingListener {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let task = {
            let received = received.clone();
            let connections = connections.clone();
            tokio::spawn(async move {
                while let Ok((mut stream, _)) = listener.accept().await {
                    *connections.lock().unwrap() += 1;
                    let received = received.clone();
                    tokio::spawn(async move {
                        let mut buffer = [0u8; 4096];
                        while let Ok(read) = stream.read(&mut buffer).await {
                            if read == 0 {
                                break;
                            }
                            received.lock().unwrap().extend_from_slice(&buffer[..read]);
                        }
                    });
                }
            })
        };
        RecordingListener {
            url: format!("ldap://127.0.0.1:{port}"),
            received,
            connections,
            task,
        }
    }

    /// Every byte received so far, from every connection.
    pub fn received(&self) -> Vec<u8> {
        self.received.lock().unwrap().clone()
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        *self.connections.lock().unwrap()
    }

    /// Whether `needle` arrived, waiting up to `limit` for it.
    pub async fn received_within(&self, needle: &str, limit: Duration) -> bool {
        let started = Instant::now();
        loop {
            if contains(&self.received(), needle) {
                return true;
            }
            if started.elapsed() > limit {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for RecordingListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn contains(haystack: &[u8], needle: &str) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|window| window == needle.as_bytes())
}
