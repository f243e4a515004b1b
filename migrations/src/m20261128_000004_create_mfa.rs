//! The second factor: one TOTP credential per person (the active secret and a pending one
//! while enrolling, both AES-256-GCM-encrypted; the replay guard and the attempt limits,
//! shared by every instance) and the recovery codes (SHA-256 hashes, single use).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TotpCredentials {
    Table,
    UserId,
    Secret,
    EnrolledAt,
    PendingSecret,
    PendingSince,
    LastUsedStep,
    FailedAttempts,
    LockedUntil,
    LastFailedAt,
}

#[derive(DeriveIden)]
enum RecoveryCodes {
    Table,
    Id,
    UserId,
    CodeHash,
    CreatedAt,
    UsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(TotpCredentials::Table)
                    .col(
                        ColumnDef::new(TotpCredentials::UserId)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(TotpCredentials::Secret).binary().null())
                    .col(ColumnDef::new(TotpCredentials::EnrolledAt).big_integer().null())
                    .col(ColumnDef::new(TotpCredentials::PendingSecret).binary().null())
                    .col(ColumnDef::new(TotpCredentials::PendingSince).big_integer().null())
                    .col(ColumnDef::new(TotpCredentials::LastUsedStep).big_integer().null())
                    .col(
                        ColumnDef::new(TotpCredentials::FailedAttempts)
                            .integer()
                            .not_null()
                            .default(0),
                    )
                    .col(ColumnDef::new(TotpCredentials::LockedUntil).big_integer().null())
                    .col(ColumnDef::new(TotpCredentials::LastFailedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RecoveryCodes::Table)
                    .col(
                        ColumnDef::new(RecoveryCodes::Id)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(RecoveryCodes::UserId).string().not_null())
                    .col(ColumnDef::new(RecoveryCodes::CodeHash).string().not_null())
                    .col(ColumnDef::new(RecoveryCodes::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(RecoveryCodes::UsedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("recovery_codes_user_code")
                    .table(RecoveryCodes::Table)
                    .col(RecoveryCodes::UserId)
                    .col(RecoveryCodes::CodeHash)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RecoveryCodes::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(TotpCredentials::Table).to_owned())
            .await
    }
}
