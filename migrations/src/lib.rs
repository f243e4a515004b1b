//! Every schema change, forward only. Timestamps are Unix seconds (BIGINT) on every
//! backend; lists are JSON text. Never edit a migration that has landed: add a new one.

pub use sea_orm_migration::prelude::*;

mod m20261128_000001_create_foundation;
mod m20261128_000002_create_audit_events;
mod m20261128_000003_create_settings;
mod m20261128_000004_create_mfa;
mod m20261128_000005_client_require_mfa;
mod m20261128_000006_token_lifecycle;
mod m20261207_000007_flow_steps_and_refusals;
mod m20261207_000011_second_factor_setup_links;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_create_foundation::Migration),
            Box::new(m20261128_000002_create_audit_events::Migration),
            Box::new(m20261128_000003_create_settings::Migration),
            Box::new(m20261128_000004_create_mfa::Migration),
            Box::new(m20261128_000005_client_require_mfa::Migration),
            Box::new(m20261128_000006_token_lifecycle::Migration),
            Box::new(m20261207_000007_flow_steps_and_refusals::Migration),
            Box::new(m20261207_000011_second_factor_setup_links::Migration),
        ]
    }
}
