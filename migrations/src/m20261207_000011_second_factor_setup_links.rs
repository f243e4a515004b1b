//! Second-factor setup links: an administrator's one-time permission for one person to set
//! up their first authenticator. At most one per person (the person's `sub` is the key, so
//! a new link replaces the previous one); only the SHA-256 of the link's token is stored,
//! with who made it and when it expires.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SecondFactorSetupLinks {
    Table,
    UserId,
    TokenHash,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Indexes {
    SecondFactorSetupLinksTokenHash,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SecondFactorSetupLinks::Table)
                    .col(
                        ColumnDef::new(SecondFactorSetupLinks::UserId)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(SecondFactorSetupLinks::TokenHash).string().not_null())
                    .col(ColumnDef::new(SecondFactorSetupLinks::CreatedBy).string().not_null())
                    .col(
                        ColumnDef::new(SecondFactorSetupLinks::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SecondFactorSetupLinks::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(Indexes::SecondFactorSetupLinksTokenHash.to_string())
                    .table(SecondFactorSetupLinks::Table)
                    .col(SecondFactorSetupLinks::TokenHash)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SecondFactorSetupLinks::Table).to_owned())
            .await
    }
}
