//! Housekeeping: deleting rows nothing can use any more. Plain `DELETE … WHERE` statements
//! on time columns, so every instance may run them at any time (two instances purging at
//! once just find nothing left to delete), and a purge never changes what a request sees:
//! a row goes only once every check that reads it would refuse it anyway.

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::config::Lifetimes;
use crate::storage::entities::{
    authorization_codes, browser_sessions, grants, login_failures, pending_authorizations, personal_access_tokens,
    refresh_tokens, revoked_access_tokens, second_factor_challenges, second_factor_setup_links,
};

/// How long an unused authorization code is kept after it expired (a late redemption then
/// still gets "expired" rather than "unknown" in the logs).
pub const CODE_GRACE: i64 = 10 * 60;
/// Ended and expired browser sessions stay this long, for the admin API's session list
/// (the account page shows live sessions only).
pub const SESSION_RETENTION: i64 = 7 * 24 * 3600;
/// Revoked and expired personal access tokens stay this long, so people still see
/// recently ended tokens in their list.
pub const PERSONAL_ACCESS_TOKEN_RETENTION: i64 = 30 * 24 * 3600;
/// Sign-in failure windows older than this are over.
pub const LOGIN_FAILURE_RETENTION: i64 = 24 * 3600;

/// How many rows each purge deleted, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgeReport {
    pub authorization_codes: u64,
    pub pending_authorizations: u64,
    pub second_factor_challenges: u64,
    pub second_factor_setup_links: u64,
    pub browser_sessions: u64,
    pub grants: u64,
    pub refresh_tokens: u64,
    pub revoked_access_tokens: u64,
    pub personal_access_tokens: u64,
    pub login_failures: u64,
}

impl PurgeReport {
    pub fn total(&self) -> u64 {
        self.authorization_codes
            + self.pending_authorizations
            + self.second_factor_challenges
            + self.second_factor_setup_links
            + self.browser_sessions
            + self.grants
            + self.refresh_tokens
            + self.revoked_access_tokens
            + self.personal_access_tokens
            + self.login_failures
    }
}

/// Deletes every row that expired (with the grace periods above) at `now`:
/// - authorization codes expired more than [`CODE_GRACE`] ago; a redeemed one stays while
///   the grant it produced is live, so presenting it again still revokes that grant
///   (RFC 6749 section 4.1.2);
/// - pending authorizations, second-factor challenges and setup links past their expiry;
/// - browser sessions ended or expired more than [`SESSION_RETENTION`] ago;
/// - grants expired or revoked more than one access-token lifetime ago (an access token
///   whose grant is gone is refused, so the grant must outlive every token it signed);
/// - refresh tokens past their expiry, or whose grant is gone;
/// - entries of the access-token deny list past the token's own expiry;
/// - personal access tokens expired or revoked more than [`PERSONAL_ACCESS_TOKEN_RETENTION`] ago;
/// - sign-in failure windows that started more than [`LOGIN_FAILURE_RETENTION`] ago.
pub async fn purge_expired(db: &impl ConnectionTrait, now: i64, lifetimes: &Lifetimes) -> Result<PurgeReport, DbErr> {
    let mut report = PurgeReport::default();
    let token_grace = lifetimes.access_token.max(0);

    report.grants = grants::Entity::delete_many()
        .filter(
            Condition::any()
                .add(grants::Column::ExpiresAt.lt(now - token_grace))
                .add(grants::Column::RevokedAt.lt(now - token_grace)),
        )
        .exec(db)
        .await?
        .rows_affected;

    let all_grants = Query::select()
        .column(grants::Column::Id)
        .from(grants::Entity)
        .to_owned();
    report.refresh_tokens = refresh_tokens::Entity::delete_many()
        .filter(
            Condition::any()
                .add(refresh_tokens::Column::ExpiresAt.lt(now))
                .add(refresh_tokens::Column::GrantId.not_in_subquery(all_grants)),
        )
        .exec(db)
        .await?
        .rows_affected;

    let live_grants = Query::select()
        .column(grants::Column::Id)
        .from(grants::Entity)
        .and_where(Expr::col(grants::Column::RevokedAt).is_null())
        .and_where(Expr::col(grants::Column::ExpiresAt).gt(now))
        .to_owned();
    report.authorization_codes = authorization_codes::Entity::delete_many()
        .filter(authorization_codes::Column::ExpiresAt.lt(now - CODE_GRACE))
        .filter(
            Condition::any()
                .add(authorization_codes::Column::RedeemedAt.is_null())
                .add(authorization_codes::Column::GrantId.is_null())
                .add(authorization_codes::Column::GrantId.not_in_subquery(live_grants)),
        )
        .exec(db)
        .await?
        .rows_affected;

    report.pending_authorizations = pending_authorizations::Entity::delete_many()
        .filter(pending_authorizations::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?
        .rows_affected;

    report.second_factor_challenges = second_factor_challenges::Entity::delete_many()
        .filter(second_factor_challenges::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?
        .rows_affected;

    report.second_factor_setup_links = second_factor_setup_links::Entity::delete_many()
        .filter(second_factor_setup_links::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?
        .rows_affected;

    report.browser_sessions = browser_sessions::Entity::delete_many()
        .filter(
            Condition::any()
                .add(browser_sessions::Column::ExpiresAt.lt(now - SESSION_RETENTION))
                .add(browser_sessions::Column::EndedAt.lt(now - SESSION_RETENTION)),
        )
        .exec(db)
        .await?
        .rows_affected;

    report.revoked_access_tokens = revoked_access_tokens::Entity::delete_many()
        .filter(revoked_access_tokens::Column::ExpiresAt.lt(now))
        .exec(db)
        .await?
        .rows_affected;

    report.personal_access_tokens = personal_access_tokens::Entity::delete_many()
        .filter(
            Condition::any()
                .add(personal_access_tokens::Column::ExpiresAt.lt(now - PERSONAL_ACCESS_TOKEN_RETENTION))
                .add(personal_access_tokens::Column::RevokedAt.lt(now - PERSONAL_ACCESS_TOKEN_RETENTION)),
        )
        .exec(db)
        .await?
        .rows_affected;

    report.login_failures = login_failures::Entity::delete_many()
        .filter(login_failures::Column::WindowStart.lt(now - LOGIN_FAILURE_RETENTION))
        .exec(db)
        .await?
        .rows_affected;

    Ok(report)
}

/// The background purge: every `interval` (the first one after `interval`, so starting an
/// instance does not compete with its first requests), at the clock's time. Failures are
/// logged and retried at the next tick. Runs until `stop` is cancelled.
pub async fn run_housekeeping(
    db: sea_orm::DatabaseConnection,
    clock: crate::clock::SharedClock,
    lifetimes: Lifetimes,
    interval: std::time::Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    let period = interval.max(std::time::Duration::from_secs(1));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // Stops between two purges, never in the middle of one.
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        match purge_expired(&db, clock.now_unix(), &lifetimes).await {
            Ok(report) if report.total() > 0 => {
                tracing::info!(deleted = report.total(), report = ?report, "housekeeping removed expired rows");
            }
            Ok(_) => tracing::debug!("housekeeping found nothing to remove"),
            Err(error) => tracing::warn!(error = %error, "housekeeping could not remove expired rows"),
        }
    }
}
