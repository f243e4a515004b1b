//! The foundation: clients, users, browser sessions, pending authorization requests,
//! authorization codes, consents, signing keys and grants (the record of issued tokens).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    ClientId,
    Name,
    SecretHash,
    RedirectUris,
    PostLogoutRedirectUris,
    TokenEndpointAuthMethod,
    FirstParty,
    Source,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    Claims,
    CreatedAt,
    LastLoginAt,
    CheckedAt,
}

#[derive(DeriveIden)]
enum BrowserSessions {
    Table,
    IdHash,
    Sid,
    UserId,
    AuthTime,
    Amr,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    EndedAt,
}

#[derive(DeriveIden)]
enum PendingAuthorizations {
    Table,
    Id,
    ClientId,
    Request,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    CodeHash,
    ClientId,
    UserId,
    Sid,
    RedirectUri,
    Scope,
    Nonce,
    CodeChallenge,
    CodeChallengeMethod,
    AuthTime,
    Amr,
    CreatedAt,
    ExpiresAt,
    RedeemedAt,
    GrantId,
}

#[derive(DeriveIden)]
enum Consents {
    Table,
    UserId,
    ClientId,
    Scope,
    GrantedAt,
}

#[derive(DeriveIden)]
enum SigningKeys {
    Table,
    Kid,
    Algorithm,
    Status,
    PrivateKey,
    PublicJwk,
    CreatedAt,
    ActivatedAt,
    RetiredAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum Grants {
    Table,
    Id,
    ClientId,
    UserId,
    Sid,
    Scope,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Clients::Table)
                    .col(ColumnDef::new(Clients::ClientId).string().not_null().primary_key())
                    .col(ColumnDef::new(Clients::Name).string().not_null())
                    .col(ColumnDef::new(Clients::SecretHash).string().null())
                    .col(ColumnDef::new(Clients::RedirectUris).text().not_null())
                    .col(ColumnDef::new(Clients::PostLogoutRedirectUris).text().not_null())
                    .col(ColumnDef::new(Clients::TokenEndpointAuthMethod).string().not_null())
                    .col(ColumnDef::new(Clients::FirstParty).boolean().not_null())
                    .col(ColumnDef::new(Clients::Source).string().not_null())
                    .col(ColumnDef::new(Clients::CreatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .col(ColumnDef::new(Users::Id).string().not_null().primary_key())
                    .col(ColumnDef::new(Users::Username).string().not_null())
                    .col(ColumnDef::new(Users::Claims).text().not_null())
                    .col(ColumnDef::new(Users::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Users::LastLoginAt).big_integer().not_null())
                    .col(ColumnDef::new(Users::CheckedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(BrowserSessions::Table)
                    .col(
                        ColumnDef::new(BrowserSessions::IdHash)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(BrowserSessions::Sid).string().not_null().unique_key())
                    .col(ColumnDef::new(BrowserSessions::UserId).string().not_null())
                    .col(ColumnDef::new(BrowserSessions::AuthTime).big_integer().not_null())
                    .col(ColumnDef::new(BrowserSessions::Amr).string().not_null())
                    .col(ColumnDef::new(BrowserSessions::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(BrowserSessions::LastSeenAt).big_integer().not_null())
                    .col(ColumnDef::new(BrowserSessions::ExpiresAt).big_integer().not_null())
                    .col(ColumnDef::new(BrowserSessions::EndedAt).big_integer().null())
                    .foreign_key(
                        ForeignKey::create()
                            .from(BrowserSessions::Table, BrowserSessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_browser_sessions_user")
                    .table(BrowserSessions::Table)
                    .col(BrowserSessions::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PendingAuthorizations::Table)
                    .col(
                        ColumnDef::new(PendingAuthorizations::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(PendingAuthorizations::ClientId).string().not_null())
                    .col(ColumnDef::new(PendingAuthorizations::Request).text().not_null())
                    .col(
                        ColumnDef::new(PendingAuthorizations::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PendingAuthorizations::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Grants::Table)
                    .col(ColumnDef::new(Grants::Id).string().not_null().primary_key())
                    .col(ColumnDef::new(Grants::ClientId).string().not_null())
                    .col(ColumnDef::new(Grants::UserId).string().null())
                    .col(ColumnDef::new(Grants::Sid).string().null())
                    .col(ColumnDef::new(Grants::Scope).string().not_null())
                    .col(ColumnDef::new(Grants::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Grants::ExpiresAt).big_integer().not_null())
                    .col(ColumnDef::new(Grants::RevokedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuthorizationCodes::Table)
                    .col(
                        ColumnDef::new(AuthorizationCodes::CodeHash)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(AuthorizationCodes::ClientId).string().not_null())
                    .col(ColumnDef::new(AuthorizationCodes::UserId).string().not_null())
                    .col(ColumnDef::new(AuthorizationCodes::Sid).string().not_null())
                    .col(ColumnDef::new(AuthorizationCodes::RedirectUri).text().not_null())
                    .col(ColumnDef::new(AuthorizationCodes::Scope).string().not_null())
                    .col(ColumnDef::new(AuthorizationCodes::Nonce).text().null())
                    .col(ColumnDef::new(AuthorizationCodes::CodeChallenge).string().null())
                    .col(ColumnDef::new(AuthorizationCodes::CodeChallengeMethod).string().null())
                    .col(ColumnDef::new(AuthorizationCodes::AuthTime).big_integer().not_null())
                    .col(ColumnDef::new(AuthorizationCodes::Amr).string().not_null())
                    .col(ColumnDef::new(AuthorizationCodes::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(AuthorizationCodes::ExpiresAt).big_integer().not_null())
                    .col(ColumnDef::new(AuthorizationCodes::RedeemedAt).big_integer().null())
                    .col(ColumnDef::new(AuthorizationCodes::GrantId).string().null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Consents::Table)
                    .col(ColumnDef::new(Consents::UserId).string().not_null())
                    .col(ColumnDef::new(Consents::ClientId).string().not_null())
                    .col(ColumnDef::new(Consents::Scope).string().not_null())
                    .col(ColumnDef::new(Consents::GrantedAt).big_integer().not_null())
                    .primary_key(Index::create().col(Consents::UserId).col(Consents::ClientId))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(SigningKeys::Table)
                    .col(ColumnDef::new(SigningKeys::Kid).string().not_null().primary_key())
                    .col(ColumnDef::new(SigningKeys::Algorithm).string().not_null())
                    .col(ColumnDef::new(SigningKeys::Status).string().not_null())
                    .col(ColumnDef::new(SigningKeys::PrivateKey).binary().not_null())
                    .col(ColumnDef::new(SigningKeys::PublicJwk).text().not_null())
                    .col(ColumnDef::new(SigningKeys::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(SigningKeys::ActivatedAt).big_integer().null())
                    .col(ColumnDef::new(SigningKeys::RetiredAt).big_integer().null())
                    .col(ColumnDef::new(SigningKeys::RevokedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SigningKeys::Table.into_iden(),
            Consents::Table.into_iden(),
            AuthorizationCodes::Table.into_iden(),
            Grants::Table.into_iden(),
            PendingAuthorizations::Table.into_iden(),
            BrowserSessions::Table.into_iden(),
            Users::Table.into_iden(),
            Clients::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
