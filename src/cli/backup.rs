//! `gatehouse backup PATH`: an online copy of the SQLite database, and the reminder that
//! the master key is the other half of a backup. For PostgreSQL, the `pg_dump` recipe.

use std::path::Path;

use anyhow::{bail, Context};

use crate::config::Config;
use crate::storage::backup::{backup_sqlite_database, sqlite_database_path};
use crate::storage::connect_database;

/// What to run instead for PostgreSQL (also in the README's "Backup and restore").
const POSTGRES_RECIPE: &str = "\
the database is PostgreSQL: back it up with PostgreSQL's own tools, which copy it consistently while Gatehouse runs:
  pg_dump --format=custom --file=gatehouse.dump \"$DATABASE_URL\"
and restore into an empty database with:
  pg_restore --no-owner --dbname=\"$NEW_DATABASE_URL\" gatehouse.dump";

pub async fn backup(config: &Config, target: &Path) -> anyhow::Result<()> {
    let url = config.database_url();
    if url.starts_with("sqlite:") && sqlite_database_path(&url).is_none() {
        bail!("the database is in memory: there is nothing on disk to back up");
    }
    let Some(database) = sqlite_database_path(&url) else {
        eprintln!("{POSTGRES_RECIPE}");
        print_master_key_reminder(config);
        bail!("gatehouse backup copies SQLite databases only; nothing was written");
    };
    if !database.exists() {
        bail!("there is no database at {} to back up", database.display());
    }
    // Only connect: a backup neither creates the database nor migrates it.
    let db = connect_database(&url, 1)
        .await
        .context("while connecting to the database")?;
    let outcome = backup_sqlite_database(&db, target).await;
    db.close().await.ok();
    let copy = outcome?;
    println!(
        "backed up {} to {} ({} bytes, mode 0600)",
        database.display(),
        copy.path.display(),
        copy.bytes
    );
    print_master_key_reminder(config);
    Ok(())
}

/// The database's signing keys, client secret keys, TOTP secrets and LDAP bind password
/// are encrypted with the master key: a copy of one without the other restores nothing.
/// Says where the key is; never prints it.
fn print_master_key_reminder(config: &Config) {
    let place = match &config.master_key {
        Some(_) => {
            "it is set in the configuration (`master_key`, `master_key_file` or GATEHOUSE__MASTER_KEY)".to_string()
        }
        None => format!("it is the file {}", config.data_dir.join("master.key").display()),
    };
    println!(
        "back up the master key too, separately from this copy: {place}. \
         The signing keys and secrets in the database are encrypted with it; without it they cannot be read."
    );
}
