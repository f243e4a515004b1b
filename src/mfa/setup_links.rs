//! Second-factor setup links: an administrator's one-time permission for one person to set
//! up their first authenticator (see `authorization::second_factor_enrolment` for when one
//! is needed).
//!
//! A link carries a random token, shown once; only its SHA-256 is stored, bound to the
//! person's `sub`, with who made it and a 24-hour life. A person has at most one link: a
//! new one replaces (so revokes) the previous one. The link is spent in the same
//! transaction that activates the authenticator, so it sets up one authenticator at most.

use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::MfaError;
use crate::audit::{AuditEvent, AuditLog};
use crate::crypto::{random_token, sha256_hex};
use crate::storage::entities::second_factor_setup_links;

/// How long a setup link stays valid.
pub const SETUP_LINK_LIFETIME: i64 = 24 * 3600;
/// Random bytes in a token (256 bits, 43 characters of base64url).
const TOKEN_BYTES: usize = 32;
/// The longest token looked up: anything longer is no token of ours (and is not hashed).
const MAX_TOKEN_CHARS: usize = 64;

/// A live setup link (never its token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupLink {
    token_hash: String,
    /// The person it lets set up an authenticator.
    pub user_id: String,
    /// The administrator who made it (`sub`), or `cli`.
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
}

impl From<second_factor_setup_links::Model> for SetupLink {
    fn from(model: second_factor_setup_links::Model) -> Self {
        SetupLink {
            token_hash: model.token_hash,
            user_id: model.user_id,
            created_by: model.created_by,
            created_at: model.created_at,
            expires_at: model.expires_at,
        }
    }
}

/// A link just made: the token (to put in the URL, shown once) and what was stored.
pub struct NewSetupLink {
    pub token: String,
    pub link: SetupLink,
    /// Whether a live link of the person's was replaced (revoked) by this one.
    pub replaced: bool,
}

impl std::fmt::Debug for NewSetupLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSetupLink")
            .field("token", &"<redacted>")
            .field("link", &self.link)
            .field("replaced", &self.replaced)
            .finish()
    }
}

/// Whether `token` could be one of ours (base64url, not too long): anything else is not
/// looked up.
pub fn plausible_setup_token(token: &str) -> bool {
    !token.is_empty()
        && token.len() <= MAX_TOKEN_CHARS
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Makes a setup link for `user_id` on the order of `by` (an administrator's `sub`, or
/// `cli`), replacing the person's previous link. Audited as `totp.setup_link_created`.
pub async fn create_setup_link(
    db: &impl ConnectionTrait,
    user_id: &str,
    by: &str,
    audit: &AuditLog,
    now: i64,
) -> Result<NewSetupLink, MfaError> {
    let replaced = outstanding_setup_link(db, user_id, now).await?.is_some();
    let token = random_token(TOKEN_BYTES);
    let link = SetupLink {
        token_hash: sha256_hex(token.as_bytes()),
        user_id: user_id.to_string(),
        created_by: by.to_string(),
        created_at: now,
        expires_at: now + SETUP_LINK_LIFETIME,
    };
    // One statement: the person's row is replaced whole, so two links never live at once.
    second_factor_setup_links::Entity::insert(second_factor_setup_links::ActiveModel {
        user_id: Set(link.user_id.clone()),
        token_hash: Set(link.token_hash.clone()),
        created_by: Set(link.created_by.clone()),
        created_at: Set(link.created_at),
        expires_at: Set(link.expires_at),
    })
    .on_conflict(
        OnConflict::column(second_factor_setup_links::Column::UserId)
            .update_columns([
                second_factor_setup_links::Column::TokenHash,
                second_factor_setup_links::Column::CreatedBy,
                second_factor_setup_links::Column::CreatedAt,
                second_factor_setup_links::Column::ExpiresAt,
            ])
            .to_owned(),
    )
    .exec(db)
    .await?;
    audit.record(
        AuditEvent::TotpSetupLinkCreated {
            sub: user_id.to_string(),
            by: by.to_string(),
            expires_at: link.expires_at,
            replaced,
        },
        now,
    );
    Ok(NewSetupLink { token, link, replaced })
}

/// The live link behind `token`, whoever it is for; `None` for a wrong, used, replaced or
/// expired one.
pub async fn find_setup_link(db: &impl ConnectionTrait, token: &str, now: i64) -> Result<Option<SetupLink>, MfaError> {
    if !plausible_setup_token(token) {
        return Ok(None);
    }
    Ok(second_factor_setup_links::Entity::find()
        .filter(second_factor_setup_links::Column::TokenHash.eq(sha256_hex(token.as_bytes())))
        .filter(second_factor_setup_links::Column::ExpiresAt.gt(now))
        .one(db)
        .await?
        .map(SetupLink::from))
}

/// The person's live link, if any (for the administration pages).
pub async fn outstanding_setup_link(
    db: &impl ConnectionTrait,
    user_id: &str,
    now: i64,
) -> Result<Option<SetupLink>, MfaError> {
    Ok(second_factor_setup_links::Entity::find_by_id(user_id.to_string())
        .one(db)
        .await?
        .filter(|model| model.expires_at > now)
        .map(SetupLink::from))
}

/// Spends `link` for `user_id`: true when this call removed it while it was still live and
/// still the person's link (so two enrolments cannot both use it).
pub(super) async fn spend_setup_link(
    conn: &impl ConnectionTrait,
    link: &SetupLink,
    user_id: &str,
    now: i64,
) -> Result<bool, sea_orm::DbErr> {
    let spent = second_factor_setup_links::Entity::delete_many()
        .filter(second_factor_setup_links::Column::UserId.eq(user_id))
        .filter(second_factor_setup_links::Column::TokenHash.eq(link.token_hash.as_str()))
        .filter(second_factor_setup_links::Column::ExpiresAt.gt(now))
        .exec(conn)
        .await?;
    Ok(spent.rows_affected == 1)
}
