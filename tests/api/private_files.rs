//! The data directory and what it holds are the owner's alone: the directory 0700, the
//! master key and the SQLite files (database, -wal, -shm) 0600, on a fresh start and after
//! a start on files someone left readable by everyone.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use reqwest::StatusCode;

use crate::support::spawn_app::{spawn_app_with, TestApp};

/// The files a server on the embedded database keeps in its data directory.
const PRIVATE_FILES: [&str; 4] = [
    "master.key",
    "gatehouse.sqlite",
    "gatehouse.sqlite-wal",
    "gatehouse.sqlite-shm",
];

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// A server whose data directory is `data_dir`, with the master key file and the SQLite
/// database Gatehouse keeps there by default (whatever database the suite runs on).
async fn spawn_app_in(data_dir: PathBuf) -> TestApp {
    let app = spawn_app_with(move |config| {
        config.data_dir = data_dir;
        config.master_key = None;
        config.database.url = None;
    })
    .await;
    // The server answers, so its database is open (WAL and all).
    let readyz = reqwest::get(app.url("/readyz")).await.expect("GET /readyz");
    assert_eq!(readyz.status(), StatusCode::OK);
    app
}

/// Every mode at once (in octal), so a failure shows all that is wrong.
fn assert_private(data_dir: &Path, context: &str) {
    let mut found = vec![format!("data directory {:o}", mode(data_dir))];
    let mut wanted = vec!["data directory 700".to_string()];
    for name in PRIVATE_FILES {
        found.push(format!("{name} {:o}", mode(&data_dir.join(name))));
        wanted.push(format!("{name} 600"));
    }
    assert_eq!(found, wanted, "{context}");
}

#[tokio::test]
async fn a_fresh_data_directory_and_its_files_are_the_owners_alone() {
    let root = tempfile::tempdir().expect("temporary directory");
    // Not there yet: Gatehouse creates it (and its parent).
    let data_dir = root.path().join("var").join("gatehouse");
    let _app = spawn_app_in(data_dir.clone()).await;
    assert_private(&data_dir, "fresh start");
}

#[tokio::test]
async fn loose_modes_are_tightened_at_start() {
    let root = tempfile::tempdir().expect("temporary directory");
    let data_dir = root.path().join("data");
    let _first = spawn_app_in(data_dir.clone()).await;
    // Someone opens everything up (a careless copy, a restore, a chmod -R).
    set_mode(&data_dir, 0o755);
    for name in PRIVATE_FILES {
        set_mode(&data_dir.join(name), 0o644);
    }
    let _second = spawn_app_in(data_dir.clone()).await;
    assert_private(&data_dir, "after a start on loose modes");
}
