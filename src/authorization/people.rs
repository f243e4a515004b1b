//! The local record of a person: keyed by the directory's stable id (the `sub` claim),
//! holding what the directory said at the last sign-in.

use std::collections::BTreeMap;

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};

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

/// Stores (or refreshes) the person after a successful password check.
pub async fn record_sign_in(
    db: &impl ConnectionTrait,
    user: &DirectoryUser,
    now: i64,
) -> Result<Person, sea_orm::DbErr> {
    let claims = PersonClaims::from(user);
    let claims_json = serde_json::to_string(&claims).map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
    let existing = users::Entity::find_by_id(user.id.clone()).one(db).await?;
    let model = users::ActiveModel {
        id: Set(user.id.clone()),
        username: Set(user.username.clone()),
        claims: Set(claims_json),
        created_at: Set(existing.as_ref().map(|e| e.created_at).unwrap_or(now)),
        last_login_at: Set(now),
        checked_at: Set(now),
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

pub async fn find_person(db: &impl ConnectionTrait, id: &str) -> Result<Option<Person>, sea_orm::DbErr> {
    Ok(users::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .map(|model| Person {
            claims: serde_json::from_str(&model.claims).unwrap_or_else(|_| PersonClaims {
                username: model.username.clone(),
                ..PersonClaims::default()
            }),
            id: model.id,
        }))
}

/// What the directory says about a signed-in person when their session is used again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonStanding {
    /// Still there and allowed (or not due for a check, or the directory could not be asked).
    Active,
    /// Removed from the directory, disabled, or expired: their sessions end.
    Refused,
}

/// How soon a check is tried again after the directory could not answer.
const RECHECK_AFTER_FAILURE: i64 = 60;

/// Re-checks the person in the directory when `interval` seconds have passed since the last
/// check. A person who is gone, disabled or expired is `Refused`. A locked account is not:
/// anyone can lock an account by guessing passwords, and that must not end the owner's
/// sessions. When the directory cannot answer, the person stays `Active` and the check is
/// tried again a minute later (an outage must not sign everyone out).
pub async fn recheck_person(
    db: &impl ConnectionTrait,
    directory: &dyn Directory,
    id: &str,
    now: i64,
    interval: i64,
) -> Result<PersonStanding, sea_orm::DbErr> {
    let Some(record) = users::Entity::find_by_id(id.to_string()).one(db).await? else {
        return Ok(PersonStanding::Refused);
    };
    if now - record.checked_at < interval {
        return Ok(PersonStanding::Active);
    }
    let (standing, checked_at, claims) = match directory.find_user_by_id(id).await {
        Ok(Some(user)) => (PersonStanding::Active, now, Some(PersonClaims::from(&user))),
        Ok(None) => (PersonStanding::Refused, now, None),
        Err(DirectoryError::AccountDisabled(_) | DirectoryError::AccountExpired(_)) => {
            (PersonStanding::Refused, now, None)
        }
        Err(DirectoryError::AccountLocked(_)) => (PersonStanding::Active, now, None),
        Err(error) => {
            tracing::warn!(error = %error, "could not re-check a signed-in person in the directory");
            (
                PersonStanding::Active,
                now - interval + RECHECK_AFTER_FAILURE.min(interval),
                None,
            )
        }
    };
    let mut update = users::Entity::update_many()
        .col_expr(users::Column::CheckedAt, checked_at.into())
        .filter(users::Column::Id.eq(id));
    if let Some(claims) = claims {
        let json = serde_json::to_string(&claims).map_err(|e| sea_orm::DbErr::Custom(e.to_string()))?;
        update = update.col_expr(users::Column::Claims, json.into());
    }
    update.exec(db).await?;
    Ok(standing)
}
