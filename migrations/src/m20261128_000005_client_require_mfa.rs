//! The second factor in the sign-in flow: a per-client `require_mfa` flag, and the
//! half-signed-in state between a correct password and a correct second factor.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    RequireMfa,
}

/// A person who gave a correct password (or holds a password-only session) and still
/// owes the second factor. Only the SHA-256 of the cookie value is stored.
#[derive(DeriveIden)]
enum SecondFactorChallenges {
    Table,
    IdHash,
    UserId,
    /// The pending authorization request this sign-in continues, if any.
    RequestId,
    /// A local path to go to afterwards when there is no request.
    NextPath,
    /// The password-only session being stepped up, if any.
    SessionSid,
    CreatedAt,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(ColumnDef::new(Clients::RequireMfa).boolean().not_null().default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SecondFactorChallenges::Table)
                    .col(
                        ColumnDef::new(SecondFactorChallenges::IdHash)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(SecondFactorChallenges::UserId).string().not_null())
                    .col(ColumnDef::new(SecondFactorChallenges::RequestId).string().null())
                    .col(ColumnDef::new(SecondFactorChallenges::NextPath).string().null())
                    .col(ColumnDef::new(SecondFactorChallenges::SessionSid).string().null())
                    .col(
                        ColumnDef::new(SecondFactorChallenges::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SecondFactorChallenges::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SecondFactorChallenges::Table).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .drop_column(Clients::RequireMfa)
                    .to_owned(),
            )
            .await
    }
}
