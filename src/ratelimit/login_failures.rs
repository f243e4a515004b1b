//! Wrong passwords per username, counted in the database (`login_failures`) so that every
//! instance on the same database sees them. The username is kept only as the SHA-256 of
//! its lower-cased form. A fixed window starts with the first failure; a successful
//! password check clears the count.

use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};

use crate::crypto::sha256_hex;
use crate::storage::entities::login_failures::{self, Column, Entity};

/// `limit` wrong passwords per `window` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginFailurePolicy {
    pub limit: u32,
    pub window: i64,
}

/// The key a username is counted under: the hex SHA-256 of its lower-cased form (what
/// people type is not stored, and `Bob` and `bob` are one person to the directory).
pub fn username_key(username: &str) -> String {
    sha256_hex(username.trim().to_lowercase().as_bytes())
}

/// Seconds until sign-in with this username is allowed again, or `None` when it is
/// allowed now.
pub async fn login_refused_for(
    db: &impl ConnectionTrait,
    policy: LoginFailurePolicy,
    key: &str,
    now: i64,
) -> Result<Option<i64>, sea_orm::DbErr> {
    let Some(row) = Entity::find_by_id(key.to_string()).one(db).await? else {
        return Ok(None);
    };
    let ends = row.window_start.saturating_add(policy.window);
    let in_window = row.window_start <= now && now < ends;
    let used_up = i64::from(row.failures) >= i64::from(policy.limit);
    Ok((in_window && used_up).then(|| (ends - now).clamp(1, policy.window)))
}

/// Counts one wrong password, in one statement (insert, or add one to the current window,
/// or start a new window when it ended), so concurrent failures on several instances are
/// all counted.
pub async fn record_login_failure(
    db: &impl ConnectionTrait,
    policy: LoginFailurePolicy,
    key: &str,
    now: i64,
) -> Result<(), sea_orm::DbErr> {
    let window_start = Expr::col((Entity, Column::WindowStart));
    let window_over = window_start
        .clone()
        .lte(now.saturating_sub(policy.window))
        .or(window_start.clone().gt(now));
    let failures = Expr::case(window_over.clone(), Expr::val(1)).finally(Expr::col((Entity, Column::Failures)).add(1));
    let started = Expr::case(window_over, Expr::val(now)).finally(window_start);
    Entity::insert(login_failures::ActiveModel {
        username_hash: Set(key.to_string()),
        window_start: Set(now),
        failures: Set(1),
    })
    .on_conflict(
        OnConflict::column(Column::UsernameHash)
            .value(Column::Failures, failures)
            .value(Column::WindowStart, started)
            .to_owned(),
    )
    .exec_without_returning(db)
    .await?;
    Ok(())
}

/// Forgets the failures of a username (after its password was right).
pub async fn clear_login_failures(db: &impl ConnectionTrait, key: &str) -> Result<(), sea_orm::DbErr> {
    Entity::delete_by_id(key.to_string()).exec(db).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_hashed_case_insensitively() {
        assert_eq!(username_key("Bob"), username_key("bob"));
        assert_eq!(username_key(" bob "), username_key("bob"));
        assert_ne!(username_key("bob"), username_key("alice"));
        assert_eq!(username_key("bob").len(), 64);
        assert!(!username_key("bob").contains("bob"));
    }
}
