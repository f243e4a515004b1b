//! The database: connection, migrations, entities, and the queries the rest of the code
//! calls. SQLite (embedded default) and PostgreSQL, chosen by URL.

pub mod backup;
pub mod entities;
pub mod migration_status;
pub mod purge;
mod sqlite_files;

use std::time::Duration;

use gatehouse_migrations::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};

pub use sea_orm::DatabaseConnection as Db;

use crate::private_files::PrivateFileError;
use sqlite_files::SqliteFile;

/// Opens the pool. Every SQLite connection gets WAL, `synchronous = NORMAL` (safe with
/// WAL), a busy timeout and foreign keys; and, the file being local, no ping before each
/// use (a ping is a second trip to SQLite's worker thread for every query). The SQLite
/// files are the owner's alone (mode 0600, see `sqlite_files`).
pub async fn connect_database(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let file = SqliteFile::from_url(url);
    let private = |result: Result<(), PrivateFileError>| result.map_err(|e| DbErr::Custom(e.to_string()));
    if let Some(file) = &file {
        private(file.prepare())?;
    }
    let db = open_pool(url, max_connections).await?;
    // SQLite may have created the database, its -wal or its -shm just now.
    if let Some(file) = &file {
        private(file.restrict())?;
    }
    Ok(db)
}

async fn open_pool(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let sqlite = url.starts_with("sqlite:");
    let mut options = ConnectOptions::new(url.to_string());
    options
        .max_connections(if sqlite {
            max_connections.min(4)
        } else {
            max_connections
        })
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    if sqlite {
        options.test_before_acquire(false).map_sqlx_sqlite_opts(|sqlite| {
            sqlite
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
        });
    }
    Database::connect(options).await
}

/// Applies every pending migration.
pub async fn run_pending_migrations(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// A trivial query, for `/readyz`.
/// The connection pool's open and idle connections: `(size, idle)`.
pub fn pool_stats(db: &DatabaseConnection) -> Option<(u32, u32)> {
    match db {
        DatabaseConnection::SqlxSqlitePoolConnection(_) => {
            let pool = db.get_sqlite_connection_pool();
            Some((pool.size(), u32::try_from(pool.num_idle()).unwrap_or(u32::MAX)))
        }
        DatabaseConnection::SqlxPostgresPoolConnection(_) => {
            let pool = db.get_postgres_connection_pool();
            Some((pool.size(), u32::try_from(pool.num_idle()).unwrap_or(u32::MAX)))
        }
        _ => None,
    }
}

pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Statement;

    async fn pragma(db: &DatabaseConnection, name: &str) -> String {
        let row = db
            .query_one(Statement::from_string(
                db.get_database_backend(),
                format!("PRAGMA {name}"),
            ))
            .await
            .unwrap()
            .unwrap();
        row.try_get_by_index::<String>(0)
            .or_else(|_| row.try_get_by_index::<i64>(0).map(|n| n.to_string()))
            .unwrap()
    }

    #[tokio::test]
    async fn every_sqlite_connection_gets_the_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.sqlite").display());
        let db = connect_database(&url, 4).await.unwrap();
        // Several at once, so the pool has to open more than its first connection.
        let checks = (0..8).map(|_| async {
            (
                pragma(&db, "journal_mode").await,
                pragma(&db, "synchronous").await,
                pragma(&db, "foreign_keys").await,
                pragma(&db, "busy_timeout").await,
            )
        });
        for (journal, synchronous, foreign_keys, busy) in futures_util::future::join_all(checks).await {
            assert_eq!(journal, "wal");
            assert_eq!(synchronous, "1", "NORMAL");
            assert_eq!(foreign_keys, "1");
            assert_eq!(busy, "5000");
        }
    }
}
