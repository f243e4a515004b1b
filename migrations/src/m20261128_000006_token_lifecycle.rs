//! The life of tokens (issue 6) and per-client signing algorithms (issue 5):
//! refresh tokens, a deny list for individually revoked access tokens, personal access
//! tokens, sign-in failures counted per username, what each client may do (grant types,
//! scopes for client_credentials, IP allowlist, refresh tokens without `offline_access`,
//! ID token algorithm), and where each browser session comes from.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Clients {
    Table,
    /// JSON array: `authorization_code`, `refresh_token`, `client_credentials`.
    GrantTypes,
    /// JSON array of the scopes a client_credentials token may carry.
    AllowedScopes,
    /// JSON array of CIDRs token requests must come from; empty = anywhere.
    AllowedIps,
    /// Issue refresh tokens even when `offline_access` was not asked for.
    IssueRefreshTokens,
    /// `RS256`, `PS256` or `ES256`.
    IdTokenSignedResponseAlg,
}

/// One refresh token. Its family is its grant: rotating keeps the grant, reuse of a spent
/// token revokes the grant (and with it every access token of the family). Only the
/// SHA-256 of the token is stored.
#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    TokenHash,
    GrantId,
    ClientId,
    UserId,
    Scope,
    Sid,
    AuthTime,
    Amr,
    CreatedAt,
    /// Idle expiry of this token (the family's absolute end is the grant's `expires_at`).
    ExpiresAt,
    /// Set when the token was exchanged; presenting it again is reuse.
    UsedAt,
}

/// Access tokens revoked one by one (RFC 7009), by `jti`, until they would have expired.
#[derive(DeriveIden)]
enum RevokedAccessTokens {
    Table,
    Jti,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum PersonalAccessTokens {
    Table,
    Id,
    UserId,
    Name,
    TokenHash,
    Scope,
    /// JSON array of CIDRs; empty = anywhere.
    AllowedIps,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
    LastUsedIp,
    RevokedAt,
}

/// Failed sign-ins per username (SHA-256 of the lower-cased name) in a fixed window, so
/// the limit holds across instances.
#[derive(DeriveIden)]
enum LoginFailures {
    Table,
    UsernameHash,
    WindowStart,
    Failures,
}

#[derive(DeriveIden)]
enum BrowserSessions {
    Table,
    Ip,
    UserAgent,
}

fn json_list(column: Clients, default: &str) -> ColumnDef {
    ColumnDef::new(column).text().not_null().default(default).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite's ALTER TABLE adds one at a time.
        for column in [
            json_list(Clients::GrantTypes, r#"["authorization_code","refresh_token"]"#),
            json_list(Clients::AllowedScopes, "[]"),
            json_list(Clients::AllowedIps, "[]"),
            ColumnDef::new(Clients::IssueRefreshTokens)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
            ColumnDef::new(Clients::IdTokenSignedResponseAlg)
                .string()
                .not_null()
                .default("RS256")
                .to_owned(),
        ] {
            manager
                .alter_table(Table::alter().table(Clients::Table).add_column(column).to_owned())
                .await?;
        }
        for column in [BrowserSessions::Ip, BrowserSessions::UserAgent] {
            manager
                .alter_table(
                    Table::alter()
                        .table(BrowserSessions::Table)
                        .add_column(ColumnDef::new(column).string().null())
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(
                        ColumnDef::new(RefreshTokens::TokenHash)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(RefreshTokens::GrantId).string().not_null())
                    .col(ColumnDef::new(RefreshTokens::ClientId).string().not_null())
                    .col(ColumnDef::new(RefreshTokens::UserId).string().not_null())
                    .col(ColumnDef::new(RefreshTokens::Scope).string().not_null())
                    .col(ColumnDef::new(RefreshTokens::Sid).string().null())
                    .col(ColumnDef::new(RefreshTokens::AuthTime).big_integer().not_null())
                    .col(ColumnDef::new(RefreshTokens::Amr).string().not_null())
                    .col(ColumnDef::new(RefreshTokens::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(RefreshTokens::ExpiresAt).big_integer().not_null())
                    .col(ColumnDef::new(RefreshTokens::UsedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_refresh_tokens_grant_id")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::GrantId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(RevokedAccessTokens::Table)
                    .col(
                        ColumnDef::new(RevokedAccessTokens::Jti)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(RevokedAccessTokens::ExpiresAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(PersonalAccessTokens::Table)
                    .col(
                        ColumnDef::new(PersonalAccessTokens::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(PersonalAccessTokens::UserId).string().not_null())
                    .col(ColumnDef::new(PersonalAccessTokens::Name).string().not_null())
                    .col(
                        ColumnDef::new(PersonalAccessTokens::TokenHash)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(PersonalAccessTokens::Scope).string().not_null())
                    .col(ColumnDef::new(PersonalAccessTokens::AllowedIps).text().not_null())
                    .col(ColumnDef::new(PersonalAccessTokens::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(PersonalAccessTokens::ExpiresAt).big_integer().not_null())
                    .col(ColumnDef::new(PersonalAccessTokens::LastUsedAt).big_integer().null())
                    .col(ColumnDef::new(PersonalAccessTokens::LastUsedIp).string().null())
                    .col(ColumnDef::new(PersonalAccessTokens::RevokedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_personal_access_tokens_user_id")
                    .table(PersonalAccessTokens::Table)
                    .col(PersonalAccessTokens::UserId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(LoginFailures::Table)
                    .col(
                        ColumnDef::new(LoginFailures::UsernameHash)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(LoginFailures::WindowStart).big_integer().not_null())
                    .col(ColumnDef::new(LoginFailures::Failures).integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            LoginFailures::Table.into_iden(),
            PersonalAccessTokens::Table.into_iden(),
            RevokedAccessTokens::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
        ] {
            manager.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        for column in [BrowserSessions::Ip, BrowserSessions::UserAgent] {
            manager
                .alter_table(
                    Table::alter()
                        .table(BrowserSessions::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        for column in [
            Clients::GrantTypes,
            Clients::AllowedScopes,
            Clients::AllowedIps,
            Clients::IssueRefreshTokens,
            Clients::IdTokenSignedResponseAlg,
        ] {
            manager
                .alter_table(Table::alter().table(Clients::Table).drop_column(column).to_owned())
                .await?;
        }
        Ok(())
    }
}
