//! The local record of a person: keyed by the directory's stable id (the `sub` claim),
//! holding what the directory said at the last sign-in.

use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use serde::{Deserialize, Serialize};

use crate::directory::DirectoryUser;
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
