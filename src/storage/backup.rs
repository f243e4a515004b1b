//! An online copy of the SQLite database: `VACUUM INTO` a new file, which SQLite writes
//! from one read transaction, so the copy is a self-consistent database even while the
//! server keeps writing (WAL lets readers and the writer run side by side). The copy is
//! created private (mode 0600) and never replaces an existing file.
//!
//! PostgreSQL has its own tools (`pg_dump`); this module only copies SQLite.

use std::path::{Path, PathBuf};

use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement};

use crate::private_files::{create_private_file, PrivateFileError};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("the database is not SQLite: copy PostgreSQL with pg_dump")]
    NotSqlite,
    #[error("{0} exists already: choose a new file name (a backup never replaces a file)")]
    Exists(PathBuf),
    #[error("the backup path {0} is not valid UTF-8")]
    NotUtf8(PathBuf),
    #[error(transparent)]
    Create(#[from] PrivateFileError),
    #[error("the copy into {path} failed: {source}")]
    Copy { path: PathBuf, source: DbErr },
    #[error("the copy {path} does not pass SQLite's integrity check: {answer}")]
    Damaged { path: PathBuf, answer: String },
}

/// The file an `sqlite:` URL names, or `None` for PostgreSQL and in-memory databases.
pub fn sqlite_database_path(url: &str) -> Option<PathBuf> {
    super::sqlite_files::SqliteFile::from_url(url).map(|file| file.path)
}

/// What a finished backup holds.
#[derive(Debug)]
pub struct SqliteBackup {
    pub path: PathBuf,
    pub bytes: u64,
}

/// Copies the SQLite database behind `db` into `target`, a file that must not exist yet.
/// The file is created empty with mode 0600 first (SQLite fills an empty file and keeps its
/// mode), so no other account can read the copy at any moment; on failure it is removed.
pub async fn backup_sqlite_database(db: &DatabaseConnection, target: &Path) -> Result<SqliteBackup, BackupError> {
    if db.get_database_backend() != DatabaseBackend::Sqlite {
        return Err(BackupError::NotSqlite);
    }
    let text = target
        .to_str()
        .ok_or_else(|| BackupError::NotUtf8(target.to_path_buf()))?
        .to_string();
    let path = target.to_path_buf();
    let created = tokio::task::spawn_blocking({
        let path = path.clone();
        move || create_private_file(&path)
    })
    .await
    .map_err(|error| BackupError::Copy {
        path: path.clone(),
        source: DbErr::Custom(error.to_string()),
    })??;
    if !created {
        return Err(BackupError::Exists(path));
    }
    match copy_into(db, &text, &path).await {
        Ok(()) => {
            let bytes = tokio::fs::metadata(&path).await.map(|m| m.len()).unwrap_or(0);
            Ok(SqliteBackup { path, bytes })
        }
        Err(error) => {
            // Only the file this call created (and SQLite may have filled in part).
            let _ = tokio::fs::remove_file(&path).await;
            Err(error)
        }
    }
}

async fn copy_into(db: &DatabaseConnection, text: &str, path: &Path) -> Result<(), BackupError> {
    let copy_failed = |source| BackupError::Copy {
        path: path.to_path_buf(),
        source,
    };
    db.execute(Statement::from_sql_and_values(
        DatabaseBackend::Sqlite,
        "VACUUM INTO ?",
        [text.into()],
    ))
    .await
    .map_err(copy_failed)?;
    check_integrity(text, path).await
}

/// Opens the copy on its own and asks SQLite whether it is whole (`PRAGMA quick_check`).
async fn check_integrity(text: &str, path: &Path) -> Result<(), BackupError> {
    let copy_failed = |source| BackupError::Copy {
        path: path.to_path_buf(),
        source,
    };
    let url = format!("sqlite://{}?mode=ro", percent_encode_path(text));
    let copy = sea_orm::Database::connect(sea_orm::ConnectOptions::new(url).sqlx_logging(false).to_owned())
        .await
        .map_err(copy_failed)?;
    let answer = copy
        .query_one(Statement::from_string(DatabaseBackend::Sqlite, "PRAGMA quick_check"))
        .await
        .and_then(|row| match row {
            Some(row) => row.try_get_by_index::<String>(0),
            None => Ok(String::new()),
        });
    copy.close().await.ok();
    let answer = answer.map_err(copy_failed)?;
    if answer == "ok" {
        Ok(())
    } else {
        Err(BackupError::Damaged {
            path: path.to_path_buf(),
            answer,
        })
    }
}

/// `%`, `?` and `#` would end or change the path part of an `sqlite:` URL.
fn percent_encode_path(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '%' => out.push_str("%25"),
            '?' => out.push_str("%3F"),
            '#' => out.push_str("%23"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::connect_database;

    #[tokio::test]
    async fn the_copy_is_a_private_database_and_an_existing_file_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("live.sqlite").display());
        let db = connect_database(&url, 2).await.unwrap();
        db.execute_unprepared("CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('kept')")
            .await
            .unwrap();

        let target = dir.path().join("copy 100%?.sqlite");
        let backup = backup_sqlite_database(&db, &target).await.unwrap();
        assert!(backup.bytes > 0);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let copy_url = format!("sqlite://{}?mode=ro", percent_encode_path(target.to_str().unwrap()));
        let copy = sea_orm::Database::connect(copy_url).await.unwrap();
        let row = copy
            .query_one(Statement::from_string(DatabaseBackend::Sqlite, "SELECT v FROM t"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "kept");
        copy.close().await.unwrap();

        let before = std::fs::read(&target).unwrap();
        let error = backup_sqlite_database(&db, &target).await.unwrap_err();
        assert!(matches!(error, BackupError::Exists(_)), "{error}");
        assert_eq!(
            std::fs::read(&target).unwrap(),
            before,
            "the existing file is untouched"
        );
    }
}
