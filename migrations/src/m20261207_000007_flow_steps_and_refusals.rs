//! One authorization flow with recorded steps, and access that ends with the directory:
//! - `pending_authorizations` records the step a request is at (`login`,
//!   `second_factor`, `consent`), the person it is for once known, whether they approved
//!   it on the consent page, the session its own sign-in started (which alone satisfies
//!   `prompt=login` and `max_age`), and the address it came from (live requests are
//!   capped per address);
//! - `clients.introspect_any_token`: a resource server, which may introspect tokens
//!   issued to other clients (without it a client introspects only its own);
//! - `users.refused_at`: when the directory refused the person (gone, disabled, locked,
//!   expired) and everything of theirs was revoked; cleared by their next sign-in.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PendingAuthorizations {
    Table,
    Step,
    UserId,
    ConsentApproved,
    SignInSid,
    ClientIp,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    IntrospectAnyToken,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    RefusedAt,
}

#[derive(DeriveIden)]
enum Indexes {
    PendingAuthorizationsClientIp,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        let pending_columns = [
            ColumnDef::new(PendingAuthorizations::Step)
                .string()
                .not_null()
                .default("login")
                .to_owned(),
            ColumnDef::new(PendingAuthorizations::UserId).string().null().to_owned(),
            ColumnDef::new(PendingAuthorizations::ConsentApproved)
                .boolean()
                .not_null()
                .default(false)
                .to_owned(),
            ColumnDef::new(PendingAuthorizations::SignInSid)
                .string()
                .null()
                .to_owned(),
            ColumnDef::new(PendingAuthorizations::ClientIp)
                .string()
                .null()
                .to_owned(),
        ];
        for mut column in pending_columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(PendingAuthorizations::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_index(
                Index::create()
                    .name(Indexes::PendingAuthorizationsClientIp.to_string())
                    .table(PendingAuthorizations::Table)
                    .col(PendingAuthorizations::ClientIp)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(
                        ColumnDef::new(Clients::IntrospectAnyToken)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(ColumnDef::new(Users::RefusedAt).big_integer().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::RefusedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .drop_column(Clients::IntrospectAnyToken)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(Indexes::PendingAuthorizationsClientIp.to_string())
                    .table(PendingAuthorizations::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            PendingAuthorizations::ClientIp,
            PendingAuthorizations::SignInSid,
            PendingAuthorizations::ConsentApproved,
            PendingAuthorizations::UserId,
            PendingAuthorizations::Step,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(PendingAuthorizations::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
