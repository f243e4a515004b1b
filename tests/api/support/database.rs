//! A fresh database per test: a temporary SQLite file, or a new PostgreSQL database when
//! `GATEHOUSE_TEST_POSTGRES_URL` names a server (a maintenance URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres`).

use sea_orm::{ConnectionTrait, Database};

pub const POSTGRES_ENV: &str = "GATEHOUSE_TEST_POSTGRES_URL";

pub async fn fresh_test_database_url(dir: &std::path::Path) -> String {
    match std::env::var(POSTGRES_ENV) {
        Ok(maintenance_url) if !maintenance_url.is_empty() => {
            let name = format!("gatehouse_test_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(&maintenance_url)
                .await
                .expect("connect to the PostgreSQL maintenance database");
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create a test database");
            admin.close().await.ok();
            let mut url = url::Url::parse(&maintenance_url).expect("GATEHOUSE_TEST_POSTGRES_URL is a URL");
            url.set_path(&name);
            url.to_string()
        }
        _ => format!("sqlite://{}?mode=rwc", dir.join("gatehouse.sqlite").display()),
    }
}
