//! The database: connection, migrations, entities, and the queries the rest of the code
//! calls. SQLite (embedded default) and PostgreSQL, chosen by URL.

pub mod entities;
pub mod purge;

use std::time::Duration;

use gatehouse_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr};

pub use sea_orm::DatabaseConnection as Db;

/// Opens the pool. SQLite gets WAL, a busy timeout and foreign keys.
pub async fn connect_database(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
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
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DbBackend::Sqlite {
        for pragma in [
            "PRAGMA journal_mode = WAL",
            "PRAGMA busy_timeout = 5000",
            "PRAGMA foreign_keys = ON",
            "PRAGMA synchronous = NORMAL",
        ] {
            db.execute_unprepared(pragma).await?;
        }
    }
    Ok(db)
}

/// Applies every pending migration.
pub async fn run_pending_migrations(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// A trivial query, for `/readyz`.
pub async fn ping(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}
