//! Which migrations a database still needs, read without changing anything: sea-orm's own
//! status functions first create their bookkeeping table, which a check must not do.

use std::collections::HashSet;

use gatehouse_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement};

/// The table in which sea-orm-migration records the migrations it applied.
const MIGRATIONS_TABLE: &str = "seaql_migrations";

#[derive(Debug, Default, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Known to this version and not applied yet, oldest first.
    pub pending: Vec<String>,
    /// Applied to the database but unknown to this version: a newer Gatehouse migrated it.
    pub unknown: Vec<String>,
}

/// Compares the migrations this binary carries with those the database records.
pub async fn migration_status(db: &DatabaseConnection) -> Result<MigrationStatus, DbErr> {
    let known: Vec<String> = Migrator::migrations()
        .iter()
        .map(|migration| migration.name().to_string())
        .collect();
    let applied = applied_migrations(db).await?;
    let pending = known
        .iter()
        .filter(|name| !applied.contains(name.as_str()))
        .cloned()
        .collect();
    let known: HashSet<&str> = known.iter().map(String::as_str).collect();
    let mut unknown: Vec<String> = applied
        .iter()
        .filter(|name| !known.contains(name.as_str()))
        .cloned()
        .collect();
    unknown.sort();
    Ok(MigrationStatus { pending, unknown })
}

async fn applied_migrations(db: &DatabaseConnection) -> Result<HashSet<String>, DbErr> {
    let backend = db.get_database_backend();
    let exists_sql = match backend {
        DatabaseBackend::Sqlite => "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
        _ => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = $1"
        }
    };
    let count = db
        .query_one(Statement::from_sql_and_values(
            backend,
            exists_sql,
            [MIGRATIONS_TABLE.into()],
        ))
        .await?
        .map(|row| row.try_get_by_index::<i64>(0))
        .transpose()?
        .unwrap_or(0);
    if count == 0 {
        return Ok(HashSet::new());
    }
    let rows = db
        .query_all(Statement::from_string(
            backend,
            format!("SELECT version FROM {MIGRATIONS_TABLE}"),
        ))
        .await?;
    rows.iter().map(|row| row.try_get_by_index::<String>(0)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{connect_database, run_pending_migrations};

    #[tokio::test]
    async fn a_new_database_needs_every_migration_and_a_migrated_one_none() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.sqlite").display());
        let db = connect_database(&url, 2).await.unwrap();
        let status = migration_status(&db).await.unwrap();
        assert_eq!(status.pending.len(), Migrator::migrations().len());
        assert!(status.unknown.is_empty());
        let tables = db
            .query_one(Statement::from_string(
                DatabaseBackend::Sqlite,
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap();
        assert_eq!(tables, 0, "checking created nothing");

        run_pending_migrations(&db).await.unwrap();
        assert_eq!(migration_status(&db).await.unwrap(), MigrationStatus::default());

        db.execute_unprepared(
            "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m29990101_000001_future', 0)",
        )
        .await
        .unwrap();
        let status = migration_status(&db).await.unwrap();
        assert!(status.pending.is_empty());
        assert_eq!(status.unknown, vec!["m29990101_000001_future".to_string()]);
    }
}
