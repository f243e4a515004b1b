//! Personal access tokens: created by a person for their scripts, shown once, stored as a
//! SHA-256 hash. The format is recognisable so secret scanners can find leaked ones:
//! `gatehouse_pat_` + 32 base62 characters of randomness (190 bits) + 6 base62 characters
//! of CRC-32 over the random part, so a typo or a truncated paste is refused without a
//! database lookup.

use std::net::IpAddr;

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};

use crate::audit::{AuditEvent, AuditLog};
use crate::config::{IpAllowlist, PersonalAccessTokensConfig};
use crate::crypto::{random_bytes, random_token, sha256_hex};
use crate::storage::entities::personal_access_tokens;

/// Every personal access token starts with this.
pub const PAT_PREFIX: &str = "gatehouse_pat_";
const RANDOM_CHARS: usize = 32;
const CHECKSUM_CHARS: usize = 6;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// How often `last_used_at` is written at most for one token (unless the address changes).
const LAST_USED_RESOLUTION: i64 = 60;

/// The scope that lets an administrator's token call the admin API.
pub const ADMIN_SCOPE: &str = "admin";
/// The longest name a token may have, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// The most entries an allowlist may have.
pub const MAX_ALLOWLIST_ENTRIES: usize = 50;
const SECONDS_PER_DAY: i64 = 86_400;

/// A stored token, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalAccessToken {
    pub id: String,
    /// The owner's `sub`.
    pub user_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub allowed_ips: IpAllowlist,
    pub created_at: i64,
    pub expires_at: i64,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    pub revoked_at: Option<i64>,
}

impl PersonalAccessToken {
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }

    pub fn status(&self, now: i64) -> PatStatus {
        if self.revoked_at.is_some() {
            PatStatus::Revoked
        } else if now >= self.expires_at {
            PatStatus::Expired
        } else {
            PatStatus::Active
        }
    }

    pub(crate) fn from_model(model: personal_access_tokens::Model) -> Self {
        PersonalAccessToken {
            allowed_ips: IpAllowlist::from_stored_json(&model.allowed_ips),
            scopes: model
                .scope
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            id: model.id,
            user_id: model.user_id,
            name: model.name,
            created_at: model.created_at,
            expires_at: model.expires_at,
            last_used_at: model.last_used_at,
            last_used_ip: model.last_used_ip,
            revoked_at: model.revoked_at,
        }
    }
}

/// Where a token stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatStatus {
    Active,
    Expired,
    Revoked,
}

impl PatStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PatStatus::Active => "active",
            PatStatus::Expired => "expired",
            PatStatus::Revoked => "revoked",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PatError {
    /// Not a token of ours, unknown, revoked or expired: all the same to a caller.
    #[error("the personal access token is not valid")]
    Invalid,
    /// A live token used from an address outside its allowlist.
    #[error("the personal access token may not be used from this address")]
    AddressNotAllowed { token_id: String, user_id: String },
    #[error(transparent)]
    Database(#[from] sea_orm::DbErr),
}

/// A fresh token in the recognisable format (not stored anywhere yet).
pub fn generate_pat_secret() -> String {
    let random = random_base62(RANDOM_CHARS);
    let checksum = base62_fixed(crc32fast::hash(random.as_bytes()), CHECKSUM_CHARS);
    format!("{PAT_PREFIX}{random}{checksum}")
}

/// `len` base62 characters without modulo bias: bytes >= 248 (= 4 * 62) are redrawn.
fn random_base62(len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for byte in random_bytes(len) {
            if byte < 248 && out.len() < len {
                out.push(BASE62[(byte % 62) as usize] as char);
            }
        }
    }
    out
}

fn base62_fixed(mut value: u32, width: usize) -> String {
    let mut chars = vec![b'0'; width];
    for slot in chars.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8(chars).unwrap_or_default()
}

/// True when `token` has the prefix, the length and a matching checksum.
pub fn is_well_formed_pat(token: &str) -> bool {
    let Some(rest) = token.strip_prefix(PAT_PREFIX) else {
        return false;
    };
    if rest.len() != RANDOM_CHARS + CHECKSUM_CHARS || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (random, checksum) = rest.split_at(RANDOM_CHARS);
    base62_fixed(crc32fast::hash(random.as_bytes()), CHECKSUM_CHARS) == checksum
}

/// What a new token is made of; the caller has checked scopes, expiry and addresses
/// against the configuration.
#[derive(Debug, Clone)]
pub struct NewPersonalAccessToken<'a> {
    pub user_id: &'a str,
    pub name: &'a str,
    pub scopes: &'a [String],
    pub allowed_ips: &'a IpAllowlist,
    pub expires_at: i64,
}

/// Stores a new token and returns it with its secret (to be shown once).
pub async fn create_personal_access_token(
    db: &impl ConnectionTrait,
    new: NewPersonalAccessToken<'_>,
    now: i64,
) -> Result<(String, PersonalAccessToken), sea_orm::DbErr> {
    let secret = generate_pat_secret();
    let model = personal_access_tokens::Model {
        id: random_token(12),
        user_id: new.user_id.to_string(),
        name: new.name.to_string(),
        token_hash: sha256_hex(secret.as_bytes()),
        scope: new.scopes.join(" "),
        allowed_ips: serde_json::to_string(&new.allowed_ips.to_strings()).unwrap_or_else(|_| "[]".into()),
        created_at: now,
        expires_at: new.expires_at,
        last_used_at: None,
        last_used_ip: None,
        revoked_at: None,
    };
    personal_access_tokens::Entity::insert(personal_access_tokens::ActiveModel {
        id: Set(model.id.clone()),
        user_id: Set(model.user_id.clone()),
        name: Set(model.name.clone()),
        token_hash: Set(model.token_hash.clone()),
        scope: Set(model.scope.clone()),
        allowed_ips: Set(model.allowed_ips.clone()),
        created_at: Set(now),
        expires_at: Set(model.expires_at),
        last_used_at: Set(None),
        last_used_ip: Set(None),
        revoked_at: Set(None),
    })
    .exec(db)
    .await?;
    Ok((secret, PersonalAccessToken::from_model(model)))
}

/// As [`create_personal_access_token`], holding `limit` even against simultaneous
/// creations: the new row is counted with the person's other live tokens after the insert,
/// and taken back when that makes one too many (so two racing requests cannot both pass a
/// check made before either wrote). `None` when the limit is reached.
pub async fn create_personal_access_token_within_limit(
    db: &impl ConnectionTrait,
    new: NewPersonalAccessToken<'_>,
    limit: u32,
    now: i64,
) -> Result<Option<(String, PersonalAccessToken)>, sea_orm::DbErr> {
    let user_id = new.user_id.to_string();
    let (secret, token) = create_personal_access_token(db, new, now).await?;
    let live = personal_access_tokens::Entity::find()
        .filter(personal_access_tokens::Column::UserId.eq(user_id))
        .filter(personal_access_tokens::Column::RevokedAt.is_null())
        .filter(personal_access_tokens::Column::ExpiresAt.gt(now))
        .count(db)
        .await?;
    if live > u64::from(limit) {
        personal_access_tokens::Entity::delete_by_id(token.id.clone())
            .exec(db)
            .await?;
        return Ok(None);
    }
    Ok(Some((secret, token)))
}

/// Checks a presented token: format, then the stored hash, then revocation, expiry and the
/// allowlist (`client_ip` `None` is refused by a restricted token). Records the use (at
/// most once a minute per token, or when the address changes).
pub async fn verify_personal_access_token(
    db: &impl ConnectionTrait,
    token: &str,
    client_ip: Option<IpAddr>,
    now: i64,
) -> Result<PersonalAccessToken, PatError> {
    if !is_well_formed_pat(token) {
        return Err(PatError::Invalid);
    }
    let Some(model) = personal_access_tokens::Entity::find()
        .filter(personal_access_tokens::Column::TokenHash.eq(sha256_hex(token.as_bytes())))
        .one(db)
        .await?
    else {
        return Err(PatError::Invalid);
    };
    let pat = PersonalAccessToken::from_model(model);
    if !pat.is_active(now) {
        return Err(PatError::Invalid);
    }
    let permitted = match client_ip {
        Some(ip) => pat.allowed_ips.permits(ip),
        None => pat.allowed_ips.is_unrestricted(),
    };
    if !permitted {
        return Err(PatError::AddressNotAllowed {
            token_id: pat.id,
            user_id: pat.user_id,
        });
    }
    let ip_text = client_ip.map(|ip| ip.to_string());
    let stale = pat.last_used_at.is_none_or(|at| now - at >= LAST_USED_RESOLUTION);
    if stale || pat.last_used_ip != ip_text {
        personal_access_tokens::Entity::update_many()
            .col_expr(personal_access_tokens::Column::LastUsedAt, Some(now).into())
            .col_expr(personal_access_tokens::Column::LastUsedIp, ip_text.clone().into())
            .filter(personal_access_tokens::Column::Id.eq(pat.id.clone()))
            .exec(db)
            .await?;
    }
    Ok(PersonalAccessToken {
        last_used_at: Some(now),
        last_used_ip: ip_text,
        ..pat
    })
}

/// [`verify_personal_access_token`], and an audit record when a live token is used from an
/// address outside its allowlist (the address is recorded, the token never).
pub async fn authenticate_personal_access_token(
    db: &impl ConnectionTrait,
    audit: &AuditLog,
    token: &str,
    client_ip: Option<IpAddr>,
    now: i64,
) -> Result<PersonalAccessToken, PatError> {
    let result = verify_personal_access_token(db, token, client_ip, now).await;
    if let Err(PatError::AddressNotAllowed { token_id, user_id }) = &result {
        tracing::warn!(token_id = %token_id, sub = %user_id, "personal access token used from outside its allowlist");
        audit.record(
            AuditEvent::PersonalAccessTokenAddressRefused {
                sub: user_id.clone(),
                token_id: token_id.clone(),
                ip: client_ip.map_or_else(|| "unknown".to_string(), |ip| ip.to_string()),
            },
            now,
        );
    }
    result
}

/// Every token of `owner` (or of everyone), newest first.
pub async fn list_personal_access_tokens(
    db: &impl ConnectionTrait,
    owner: Option<&str>,
) -> Result<Vec<PersonalAccessToken>, sea_orm::DbErr> {
    let mut query = personal_access_tokens::Entity::find();
    if let Some(owner) = owner {
        query = query.filter(personal_access_tokens::Column::UserId.eq(owner));
    }
    Ok(query
        .order_by_desc(personal_access_tokens::Column::CreatedAt)
        .order_by_asc(personal_access_tokens::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .map(PersonalAccessToken::from_model)
        .collect())
}

pub async fn find_personal_access_token(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<PersonalAccessToken>, sea_orm::DbErr> {
    Ok(personal_access_tokens::Entity::find_by_id(id.to_string())
        .one(db)
        .await?
        .map(PersonalAccessToken::from_model))
}

/// What a revocation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatRevocation {
    /// Revoked by this call.
    Revoked(PersonalAccessToken),
    /// It was revoked before; nothing changed.
    AlreadyRevoked(PersonalAccessToken),
    /// No such token (or, with an owner given, not one of theirs).
    NotFound,
}

/// Revokes the token `id` at once; with `owner`, only when it is theirs.
pub async fn revoke_personal_access_token(
    db: &impl ConnectionTrait,
    id: &str,
    owner: Option<&str>,
    now: i64,
) -> Result<PatRevocation, sea_orm::DbErr> {
    let Some(token) = find_personal_access_token(db, id).await? else {
        return Ok(PatRevocation::NotFound);
    };
    if owner.is_some_and(|owner| owner != token.user_id) {
        return Ok(PatRevocation::NotFound);
    }
    if token.revoked_at.is_some() {
        return Ok(PatRevocation::AlreadyRevoked(token));
    }
    let updated = personal_access_tokens::Entity::update_many()
        .col_expr(personal_access_tokens::Column::RevokedAt, Some(now).into())
        .filter(personal_access_tokens::Column::Id.eq(id))
        .filter(personal_access_tokens::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    if updated.rows_affected == 0 {
        // Someone else revoked it in between.
        return Ok(match find_personal_access_token(db, id).await? {
            Some(token) => PatRevocation::AlreadyRevoked(token),
            None => PatRevocation::NotFound,
        });
    }
    Ok(PatRevocation::Revoked(PersonalAccessToken {
        revoked_at: Some(now),
        ..token
    }))
}

/// What a person asked for on the form, as typed.
#[derive(Debug, Clone, Default)]
pub struct PatRequest<'a> {
    pub name: &'a str,
    pub scopes: &'a [String],
    /// The expiry in days, as typed.
    pub lifetime_days: &'a str,
    /// Addresses and CIDRs, separated by new lines, commas or spaces; empty = anywhere.
    pub allowed_ips: &'a str,
}

/// Who is asking, against which settings.
#[derive(Debug, Clone, Copy)]
pub struct PatCreator<'a> {
    pub config: &'a PersonalAccessTokensConfig,
    /// Whether the person is currently an administrator.
    pub administrator: bool,
    /// Whether the session was signed in with the second factor.
    pub second_factor: bool,
}

impl PatCreator<'_> {
    /// The scopes this person may choose from, in the configured order: `admin` only for
    /// administrators.
    pub fn offered_scopes(&self) -> Vec<&str> {
        self.config
            .scopes
            .iter()
            .map(String::as_str)
            .filter(|scope| *scope != ADMIN_SCOPE || self.administrator)
            .collect()
    }
}

/// A mistake on the form, in words for the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatProblem {
    #[error("Give the token a name.")]
    NameMissing,
    #[error("The name is longer than {MAX_NAME_CHARS} characters.")]
    NameTooLong,
    #[error(
        "You already have an active token called \u{201c}{0}\u{201d}. Choose another name, or revoke that one first."
    )]
    NameTaken(String),
    #[error("Choose at least one scope.")]
    NoScope,
    #[error("\u{201c}{0}\u{201d} is not a scope you can choose.")]
    UnknownScope(String),
    #[error("Only administrators can create tokens with the admin scope.")]
    AdminScopeRefused,
    #[error(
        "A token with the admin scope needs a sign-in with your second factor: sign out, then sign in again with a code from your authenticator app (or set one up on your account page)."
    )]
    AdminScopeNeedsSecondFactor,
    #[error("The expiry must be a whole number of days from 1 to {max}.")]
    BadLifetime { max: i64 },
    #[error("IP allowlist: {0}.")]
    BadAddress(String),
    #[error("The IP allowlist can have at most {MAX_ALLOWLIST_ENTRIES} entries.")]
    TooManyAddresses,
    #[error("You already have {0} active tokens, the most allowed. Revoke one you no longer use first.")]
    TooManyTokens(u32),
}

/// A request that passed every check, ready for [`create_personal_access_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedToken {
    pub name: String,
    pub scopes: Vec<String>,
    pub allowed_ips: IpAllowlist,
    pub expires_at: i64,
}

impl PlannedToken {
    pub fn for_user<'a>(&'a self, user_id: &'a str) -> NewPersonalAccessToken<'a> {
        NewPersonalAccessToken {
            user_id,
            name: &self.name,
            scopes: &self.scopes,
            allowed_ips: &self.allowed_ips,
            expires_at: self.expires_at,
        }
    }
}

/// Splits an allowlist as typed: new lines, commas or spaces between entries.
pub fn split_allowlist(text: &str) -> Vec<&str> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|entry| !entry.is_empty())
        .collect()
}

/// Checks a request against the settings and the person's `existing` tokens; returns every
/// problem at once.
pub fn check_personal_access_token_request(
    request: &PatRequest<'_>,
    creator: &PatCreator<'_>,
    existing: &[PersonalAccessToken],
    now: i64,
) -> Result<PlannedToken, Vec<PatProblem>> {
    let mut problems = Vec::new();
    let live: Vec<&PersonalAccessToken> = existing.iter().filter(|token| token.is_active(now)).collect();

    let name = request.name.trim();
    if name.is_empty() {
        problems.push(PatProblem::NameMissing);
    } else if name.chars().count() > MAX_NAME_CHARS {
        problems.push(PatProblem::NameTooLong);
    } else if live
        .iter()
        .any(|token| token.name.to_lowercase() == name.to_lowercase())
    {
        problems.push(PatProblem::NameTaken(name.to_string()));
    }

    let offered = creator.offered_scopes();
    let mut scopes: Vec<String> = Vec::new();
    for scope in request.scopes {
        if scope == ADMIN_SCOPE && !creator.administrator && creator.config.scopes.iter().any(|s| s == ADMIN_SCOPE) {
            problems.push(PatProblem::AdminScopeRefused);
        } else if !offered.contains(&scope.as_str()) {
            problems.push(PatProblem::UnknownScope(scope.clone()));
        } else if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    if request.scopes.is_empty() {
        problems.push(PatProblem::NoScope);
    }
    if scopes.iter().any(|s| s == ADMIN_SCOPE) && !creator.second_factor {
        problems.push(PatProblem::AdminScopeNeedsSecondFactor);
    }
    // The configured order, whatever order the form sent.
    scopes.sort_by_key(|scope| offered.iter().position(|s| s == scope));

    let max = creator.config.max_lifetime_days;
    let days = match request.lifetime_days.trim().parse::<i64>() {
        Ok(days) if (1..=max).contains(&days) => Some(days),
        _ => {
            problems.push(PatProblem::BadLifetime { max });
            None
        }
    };

    let entries = split_allowlist(request.allowed_ips);
    let allowed_ips = if entries.len() > MAX_ALLOWLIST_ENTRIES {
        problems.push(PatProblem::TooManyAddresses);
        None
    } else {
        match IpAllowlist::parse(&entries) {
            Ok(list) => Some(list),
            Err(found) => {
                problems.extend(found.into_iter().map(PatProblem::BadAddress));
                None
            }
        }
    };

    let limit = creator.config.max_per_person;
    if live.len() >= limit as usize {
        problems.push(PatProblem::TooManyTokens(limit));
    }

    match (days, allowed_ips) {
        (Some(days), Some(allowed_ips)) if problems.is_empty() => Ok(PlannedToken {
            name: name.to_string(),
            scopes,
            allowed_ips,
            expires_at: now + days * SECONDS_PER_DAY,
        }),
        _ => Err(problems),
    }
}

#[cfg(test)]
mod tests;
