//! The local record of a person: keyed by the directory's stable id (the `sub` claim),
//! holding what the directory said at the last sign-in or check. And the one rule for
//! access that ends when the directory says so: whenever a person's access is used
//! (a session, a personal access token, an access token at userinfo or introspection, a
//! refresh), [`recheck_person`] or [`ask_directory_now`] asks the directory about them; a
//! refusal (gone, disabled, locked, expired) revokes everything of theirs at once, in one
//! transaction, audited once ([`refuse_person`]).

use std::collections::BTreeMap;

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use sea_orm::{TransactionTrait, UpdateResult};
use serde::{Deserialize, Serialize};

use super::revoke_everything::revoke_everything_in;
use crate::audit::{AuditEvent, AuditLog};
use crate::directory::{Directory, DirectoryError, DirectoryUser};
use crate::storage::entities::users;

/// What the directory said about a person, as the claims need it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonClaims {
    pub username: String,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub email: Option<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// The DNs of the same groups (see `DirectoryUser::group_dns`): never released as a
    /// claim, only matched against administrator groups named by DN. Empty for a record
    /// written before they were kept, until the next sign-in or directory re-check.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_dns: Vec<String>,
    /// The `[ldap.extra_claims]`: claim name -> values (see `DirectoryUser::extra`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// The `sub` claim.
    pub id: String,
    pub claims: PersonClaims,
}

impl From<&DirectoryUser> for PersonClaims {
    fn from(user: &DirectoryUser) -> Self {
        PersonClaims {
            username: user.username.clone(),
            name: user.name.clone(),
            given_name: user.given_name.clone(),
            family_name: user.family_name.clone(),
            email: user.email.clone(),
            groups: user.groups.clone(),
            group_dns: user.group_dns.clone(),
            extra: user.extra.clone(),
        }
    }
}

/// Stores (or refreshes) the person after a successful password check. The directory has
/// just accepted them, so an earlier refusal no longer holds.
pub async fn record_sign_in(
    db: &impl ConnectionTrait,
    user: &DirectoryUser,
    now: i64,
) -> Result<Person, sea_orm::DbErr> {
    let claims = PersonClaims::from(user);
    let claims_json = claims_json(&claims)?;
    let existing = users::Entity::find_by_id(user.id.clone()).one(db).await?;
    let model = users::ActiveModel {
        id: Set(user.id.clone()),
        username: Set(user.username.clone()),
        claims: Set(claims_json),
        created_at: Set(existing.as_ref().map(|e| e.created_at).unwrap_or(now)),
        last_login_at: Set(now),
        checked_at: Set(now),
        refused_at: Set(None),
    };
    if existing.is_some() {
        users::Entity::update(model).exec(db).await?;
    } else {
        users::Entity::insert(model).exec(db).await?;
    }
    Ok(Person {
        id: user.id.clone(),
        claims,
    })
}

fn claims_json(claims: &PersonClaims) -> Result<String, sea_orm::DbErr> {
    serde_json::to_string(claims).map_err(|e| sea_orm::DbErr::Custom(e.to_string()))
}

pub(super) fn person_of(model: users::Model) -> Person {
    Person {
        claims: serde_json::from_str(&model.claims).unwrap_or_else(|_| PersonClaims {
            username: model.username.clone(),
            ..PersonClaims::default()
        }),
        id: model.id,
    }
}

/// The stored person, whether or not the directory still admits them.
pub async fn find_person(db: &impl ConnectionTrait, id: &str) -> Result<Option<Person>, sea_orm::DbErr> {
    Ok(users::Entity::find_by_id(id.to_string()).one(db).await?.map(person_of))
}

/// The stored person unless the directory refused them since their last sign-in.
pub async fn find_admitted_person(db: &impl ConnectionTrait, id: &str) -> Result<Option<Person>, sea_orm::DbErr> {
    Ok(users::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .filter(|model| model.refused_at.is_none())
        .map(person_of))
}

/// What the directory says about a signed-in person when their access is used again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonStanding {
    /// Still there and allowed (or not due for a check, or the directory could not be asked).
    Active,
    /// Removed from the directory, disabled, locked or expired: everything of theirs ended.
    Refused,
}

/// Why the directory refused a person, as the audit trail records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Gone,
    Disabled,
    Locked,
    Expired,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Gone => "gone",
            Refusal::Disabled => "disabled",
            Refusal::Locked => "locked",
            Refusal::Expired => "expired",
        }
    }
}

/// The directory's answer about a person, judged.
enum Verdict {
    Admitted(Box<DirectoryUser>),
    Refused(Refusal),
    /// The directory could not answer: nothing is known.
    Unknown(DirectoryError),
}

fn verdict(answer: Result<Option<DirectoryUser>, DirectoryError>) -> Verdict {
    match answer {
        Ok(Some(user)) => Verdict::Admitted(Box::new(user)),
        Ok(None) => Verdict::Refused(Refusal::Gone),
        Err(DirectoryError::AccountDisabled(_)) => Verdict::Refused(Refusal::Disabled),
        Err(DirectoryError::AccountLocked(_)) => Verdict::Refused(Refusal::Locked),
        Err(DirectoryError::AccountExpired(_)) => Verdict::Refused(Refusal::Expired),
        Err(error) => Verdict::Unknown(error),
    }
}

/// What the checks need: the database, the directory, the audit trail and the time.
pub struct PersonChecks<'a> {
    pub db: &'a DatabaseConnection,
    pub directory: &'a dyn Directory,
    pub audit: &'a AuditLog,
    /// `ldap.recheck_interval` as the directory settings say now.
    pub interval: i64,
    pub now: i64,
}

/// How soon a check is tried again after the directory could not answer.
const RECHECK_AFTER_FAILURE: i64 = 60;

/// Re-checks the person in the directory when `interval` seconds have passed since the last
/// check. A person the directory refuses (gone, disabled, locked, expired) is `Refused`,
/// and everything of theirs is revoked at once ([`refuse_person`]); one refused before
/// stays refused until they sign in again. When the directory cannot answer, the person
/// stays `Active` and the check is tried again a minute later (an outage must not sign
/// everyone out).
pub async fn recheck_person(checks: &PersonChecks<'_>, id: &str) -> Result<PersonStanding, sea_orm::DbErr> {
    Ok(match recheck_and_find_person(checks, id).await? {
        Some(_) => PersonStanding::Active,
        None => PersonStanding::Refused,
    })
}

/// [`recheck_person`], with the person as stored after the check (`None`: refused), for
/// callers that need their claims: the record is read once.
pub async fn recheck_and_find_person(checks: &PersonChecks<'_>, id: &str) -> Result<Option<Person>, sea_orm::DbErr> {
    let Some(record) = users::Entity::find_by_id(id.to_string()).one(checks.db).await? else {
        return Ok(None);
    };
    if record.refused_at.is_some() {
        return Ok(None);
    }
    if checks.now - record.checked_at < checks.interval {
        return Ok(Some(person_of(record)));
    }
    match verdict(checks.directory.find_user_by_id(id).await) {
        Verdict::Admitted(user) => {
            store_directory_answer(checks.db, &user, checks.now).await?;
            Ok(Some(Person {
                id: record.id,
                claims: PersonClaims::from(user.as_ref()),
            }))
        }
        Verdict::Refused(refusal) => {
            refuse_person(checks.db, checks.audit, id, refusal, checks.now).await?;
            Ok(None)
        }
        Verdict::Unknown(error) => {
            tracing::warn!(error = %error, "could not re-check a signed-in person in the directory");
            let retry_at = checks.now - checks.interval + RECHECK_AFTER_FAILURE.min(checks.interval);
            users::Entity::update_many()
                .col_expr(users::Column::CheckedAt, retry_at.into())
                .filter(users::Column::Id.eq(id))
                .exec(checks.db)
                .await?;
            Ok(Some(person_of(record)))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PersonCheckError {
    /// The directory refused the person (everything of theirs is now revoked), or they
    /// were refused before and have not signed in since.
    #[error("the directory no longer admits this person")]
    Refused,
    /// The directory could not be asked; nothing was decided.
    #[error("the directory is unavailable")]
    DirectoryUnavailable(#[source] DirectoryError),
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
}

/// Asks the directory about the person now, whatever the interval (a refresh is the
/// application acting for the person without them, so it must stop the moment they are
/// gone), stores what it says, and returns their current claims.
pub async fn ask_directory_now(checks: &PersonChecks<'_>, id: &str) -> Result<Person, PersonCheckError> {
    let refused_before = users::Entity::find_by_id(id.to_string())
        .one(checks.db)
        .await?
        .is_none_or(|record| record.refused_at.is_some());
    if refused_before {
        return Err(PersonCheckError::Refused);
    }
    match verdict(checks.directory.find_user_by_id(id).await) {
        Verdict::Admitted(user) => {
            store_directory_answer(checks.db, &user, checks.now).await?;
            Ok(Person {
                id: user.id.clone(),
                claims: PersonClaims::from(user.as_ref()),
            })
        }
        Verdict::Refused(refusal) => {
            refuse_person(checks.db, checks.audit, id, refusal, checks.now).await?;
            Err(PersonCheckError::Refused)
        }
        Verdict::Unknown(error) => Err(PersonCheckError::DirectoryUnavailable(error)),
    }
}

/// Keeps the directory's current answer: the claims, and when it was given. A person
/// refused meanwhile (by another request or instance) stays refused.
async fn store_directory_answer(
    db: &impl ConnectionTrait,
    user: &DirectoryUser,
    now: i64,
) -> Result<UpdateResult, sea_orm::DbErr> {
    let claims = PersonClaims::from(user);
    users::Entity::update_many()
        .col_expr(users::Column::Claims, claims_json(&claims)?.into())
        .col_expr(users::Column::CheckedAt, now.into())
        .filter(users::Column::Id.eq(&user.id))
        .filter(users::Column::RefusedAt.is_null())
        .exec(db)
        .await
}

/// The directory refused the person: in one transaction, marks them refused and revokes
/// everything of theirs (sessions, grants with their access and refresh tokens, personal
/// access tokens, unredeemed codes, half-finished sign-ins). Only the request that marks
/// them revokes and audits, so a refusal seen by several requests or instances at once is
/// recorded once.
pub async fn refuse_person(
    db: &DatabaseConnection,
    audit: &AuditLog,
    id: &str,
    refusal: Refusal,
    now: i64,
) -> Result<(), sea_orm::DbErr> {
    let txn = db.begin().await?;
    let marked = users::Entity::update_many()
        .col_expr(users::Column::RefusedAt, Expr::value(Some(now)))
        .col_expr(users::Column::CheckedAt, Expr::value(now))
        .filter(users::Column::Id.eq(id))
        .filter(users::Column::RefusedAt.is_null())
        .exec(&txn)
        .await?;
    if marked.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(());
    }
    let revoked = revoke_everything_in(&txn, id, now).await?;
    txn.commit().await?;
    let sessions = revoked.sessions.len() as u64;
    tracing::info!(
        sub = %id,
        reason = refusal.as_str(),
        sessions,
        grants = revoked.grants,
        personal_access_tokens = revoked.personal_access_tokens,
        "the directory refused a person; everything of theirs was revoked"
    );
    audit.record(
        AuditEvent::PersonRefusedByDirectory {
            sub: id.to_string(),
            reason: refusal.as_str(),
            sessions,
            grants: revoked.grants,
            personal_access_tokens: revoked.personal_access_tokens,
        },
        now,
    );
    Ok(())
}
