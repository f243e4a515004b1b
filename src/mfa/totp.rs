//! Matching a typed code against the time steps around `now` (RFC 6238, ±1 step).

use super::credential::Credential;
use super::MfaError;
use crate::crypto::constant_time_eq;

/// Digits only: spaces and dashes people type between groups are dropped.
fn normalize_code(code: &str) -> String {
    code.chars().filter(|c| !c.is_whitespace() && *c != '-').collect()
}

/// The time step of `now` for `period`.
pub(super) fn step_of(now: i64, period: u64) -> i64 {
    let period = i64::try_from(period).unwrap_or(i64::MAX).max(1);
    now.div_euclid(period)
}

/// The step (previous, current or next) whose code `code` is, newer than `last_used_step`:
/// `Ok(Some(step))`; `Ok(None)` when it matches none; `Err(Replayed)` when it matches only
/// steps already used.
pub(super) fn matching_step(
    credential: &Credential,
    code: &str,
    now: i64,
    last_used_step: Option<i64>,
) -> Result<Option<i64>, MfaError> {
    let code = normalize_code(code);
    let digits = usize::try_from(credential.digits).unwrap_or(usize::MAX);
    if code.len() != digits || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let totp = credential.totp(None, String::new())?;
    let current = step_of(now, credential.period);
    let period = i64::try_from(credential.period).unwrap_or(i64::MAX);
    let mut replayed = false;
    for step in [current - 1, current, current + 1] {
        let Ok(time) = u64::try_from(step.saturating_mul(period)) else {
            continue;
        };
        if constant_time_eq(totp.generate(time).as_bytes(), code.as_bytes()) {
            if last_used_step.is_some_and(|last| step <= last) {
                replayed = true;
            } else {
                return Ok(Some(step));
            }
        }
    }
    if replayed {
        Err(MfaError::Replayed)
    } else {
        Ok(None)
    }
}

/// The code for `time` (Unix seconds): what an authenticator app shows.
#[cfg(test)]
pub(super) fn code_at(credential: &Credential, time: i64) -> Result<String, MfaError> {
    let totp = credential.totp(None, String::new())?;
    Ok(totp.generate(u64::try_from(time).unwrap_or(0)))
}

/// RFC 4648 base32 (no padding) to bytes, to check what the database must not contain.
#[cfg(test)]
pub(super) fn decode_base32(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut bits: u64 = 0;
    let mut count = 0;
    let mut out = Vec::new();
    for c in text.bytes() {
        let value = ALPHABET.iter().position(|a| *a == c).unwrap() as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}
