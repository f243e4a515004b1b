//! Reading the audit trail of a test server. Events are stored by a background writer, so
//! reads wait (up to 5 s) for what the test expects.

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database, Statement};

#[derive(Debug, Clone)]
pub struct AuditRow {
    pub kind: String,
    pub actor: Option<String>,
    pub client_id: Option<String>,
    pub detail: String,
}

/// Every audit row in order, once `done` holds for them or 5 s have passed.
pub async fn audit_rows_until(database_url: &str, done: impl Fn(&[AuditRow]) -> bool) -> Vec<AuditRow> {
    let db = Database::connect(database_url)
        .await
        .expect("connect to the test database");
    let started = Instant::now();
    loop {
        let rows: Vec<AuditRow> = db
            .query_all(Statement::from_string(
                db.get_database_backend(),
                "SELECT kind, actor, client_id, detail FROM audit_events ORDER BY id",
            ))
            .await
            .expect("read audit_events")
            .iter()
            .map(|row| AuditRow {
                kind: row.try_get("", "kind").expect("kind"),
                actor: row.try_get("", "actor").expect("actor"),
                client_id: row.try_get("", "client_id").expect("client_id"),
                detail: row.try_get("", "detail").expect("detail"),
            })
            .collect();
        if done(&rows) || started.elapsed() > Duration::from_secs(5) {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
