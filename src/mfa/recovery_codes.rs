//! Recovery codes: ten single-use codes standing in for a TOTP code, shown once and
//! stored as SHA-256 hashes (they are random and long, so a fast hash is enough).

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::MfaError;
use crate::crypto::{random_bytes, sha256_hex};
use crate::storage::entities::recovery_codes;

pub const RECOVERY_CODE_COUNT: usize = 10;

/// Crockford's base32: no `i`, `l`, `o`, `u`, so nothing reads as another character.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// 12 characters of 5 bits: 60 bits per code.
const CODE_CHARS: usize = 12;

/// Ten new codes, `xxxx-xxxx-xxxx`.
pub(super) fn generate_codes() -> Vec<String> {
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let chars: Vec<char> = random_bytes(CODE_CHARS)
                .iter()
                .map(|byte| char::from(ALPHABET[usize::from(byte >> 3)]))
                .collect();
            chars
                .chunks(4)
                .map(|chunk| chunk.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// Lower case, without spaces and dashes; `i`/`l` read as `1`, `o` as `0`.
fn normalize(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            'i' | 'l' => '1',
            'o' => '0',
            other => other,
        })
        .collect()
}

fn code_hash(user_id: &str, normalized: &str) -> String {
    sha256_hex(format!("{user_id}\n{normalized}").as_bytes())
}

/// Replaces every code of the person by `codes` (call inside a transaction).
pub(super) async fn replace_codes(
    db: &impl ConnectionTrait,
    user_id: &str,
    codes: &[String],
    now: i64,
) -> Result<(), MfaError> {
    recovery_codes::Entity::delete_many()
        .filter(recovery_codes::Column::UserId.eq(user_id))
        .exec(db)
        .await?;
    let rows = codes.iter().map(|code| recovery_codes::ActiveModel {
        user_id: Set(user_id.to_string()),
        code_hash: Set(code_hash(user_id, &normalize(code))),
        created_at: Set(now),
        used_at: Set(None),
        ..Default::default()
    });
    recovery_codes::Entity::insert_many(rows).exec(db).await?;
    Ok(())
}

/// Marks the code used; `false` when it is not one of the person's unused codes. The
/// update is conditional on `used_at IS NULL`, so of two concurrent uses only one wins.
pub(super) async fn redeem(db: &impl ConnectionTrait, user_id: &str, code: &str, now: i64) -> Result<bool, MfaError> {
    let normalized = normalize(code);
    if normalized.len() != CODE_CHARS {
        return Ok(false);
    }
    let result = recovery_codes::Entity::update_many()
        .col_expr(recovery_codes::Column::UsedAt, Some(now).into())
        .filter(recovery_codes::Column::UserId.eq(user_id))
        .filter(recovery_codes::Column::CodeHash.eq(code_hash(user_id, &normalized)))
        .filter(recovery_codes::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

pub(super) async fn remaining(db: &impl ConnectionTrait, user_id: &str) -> Result<usize, MfaError> {
    let count = recovery_codes::Entity::find()
        .filter(recovery_codes::Column::UserId.eq(user_id))
        .filter(recovery_codes::Column::UsedAt.is_null())
        .count(db)
        .await?;
    Ok(usize::try_from(count).unwrap_or(usize::MAX))
}
