//! `gatehouse migrate [--check]`: apply the pending migrations, or only tell which are
//! pending (exit code [`MIGRATIONS_PENDING_EXIT_CODE`]) without changing the database.

use anyhow::{bail, Context};

use crate::app::startup::open_database;
use crate::config::Config;
use crate::private_files::ensure_private_directory;
use crate::storage::connect_database;
use crate::storage::migration_status::migration_status;

/// `migrate --check` exits with this code when migrations are pending (1 is any error,
/// 2 a command-line mistake).
pub const MIGRATIONS_PENDING_EXIT_CODE: u8 = 3;

/// `migrate --check` found migrations to apply; `main` turns it into its exit code.
#[derive(Debug, thiserror::Error)]
#[error("{0} migration(s) pending: `gatehouse migrate` (or the next `serve`) applies them")]
pub struct MigrationsPending(pub usize);

pub async fn migrate(config: &Config, check: bool) -> anyhow::Result<()> {
    if !check {
        open_database(config).await?;
        println!("database is up to date");
        return Ok(());
    }
    if config.database.url.is_none() {
        // The default SQLite file lives in the data directory, created private as `serve` does.
        ensure_private_directory(&config.data_dir)
            .with_context(|| format!("while preparing the data directory {}", config.data_dir.display()))?;
    }
    let db = connect_database(&config.database_url(), 1)
        .await
        .context("while connecting to the database")?;
    let status = migration_status(&db).await;
    db.close().await.ok();
    let status = status.context("while reading the applied migrations")?;
    if !status.unknown.is_empty() {
        bail!(
            "the database has migrations this version of Gatehouse does not know ({}): a newer version migrated it; \
             run that version (migrations are forward only)",
            status.unknown.join(", ")
        );
    }
    if status.pending.is_empty() {
        println!("no pending migrations: the database is up to date");
        return Ok(());
    }
    println!("pending migrations ({}):", status.pending.len());
    for name in &status.pending {
        println!("  {name}");
    }
    Err(MigrationsPending(status.pending.len()).into())
}
