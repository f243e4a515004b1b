//! The schema migrations apply, roll back and apply again on the backend under test.

use gatehouse_migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Statement};

use crate::support::database::fresh_test_database_url;

async fn table_count(db: &sea_orm::DatabaseConnection) -> i64 {
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => {
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'seaql_migrations'"
        }
        _ => "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'seaql_migrations'",
    };
    let row = db
        .query_one(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap()
}

#[tokio::test]
async fn migrations_go_up_down_and_up_again() {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_test_database_url(dir.path()).await;
    let db = gatehouse::storage::connect_database(&url, 2).await.unwrap();
    Migrator::up(&db, None).await.unwrap();
    let tables = table_count(&db).await;
    assert_eq!(tables, 18, "the migrations create eighteen tables");
    Migrator::down(&db, None).await.unwrap();
    assert_eq!(table_count(&db).await, 0);
    Migrator::up(&db, None).await.unwrap();
    assert_eq!(table_count(&db).await, tables);
    assert!(Migrator::get_pending_migrations(&db).await.unwrap().is_empty());
}
