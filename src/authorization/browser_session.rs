//! Single sign-on sessions. The browser holds a random id in a cookie; the database holds
//! only its SHA-256, so a copy of the database cannot be replayed as a cookie. Each session
//! remembers where it was started from (address and browser), so people can tell their
//! sessions apart on the account page and end the ones they do not recognise.

use std::net::IpAddr;

use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::crypto::{random_token, sha256_hex};
use crate::storage::entities::browser_sessions;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserSession {
    /// Public id, the `sid` claim.
    pub sid: String,
    pub user_id: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub expires_at: i64,
}

/// Where a session comes from: the client address and the browser's `User-Agent`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionOrigin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The longest `User-Agent` kept, in characters: enough to tell browsers apart.
pub const USER_AGENT_MAX_CHARS: usize = 200;

impl SessionOrigin {
    /// The origin from the request's address and `User-Agent` header; the header is
    /// shortened to [`USER_AGENT_MAX_CHARS`] and stripped of control characters.
    pub fn new(ip: Option<IpAddr>, user_agent: Option<&str>) -> SessionOrigin {
        let user_agent = user_agent
            .map(|ua| {
                ua.chars()
                    .filter(|c| !c.is_control())
                    .take(USER_AGENT_MAX_CHARS)
                    .collect::<String>()
                    .trim()
                    .to_string()
            })
            .filter(|ua| !ua.is_empty());
        SessionOrigin {
            ip: ip.map(|ip| ip.to_canonical().to_string()),
            user_agent,
        }
    }
}

/// A stored session as the account page and the admin API show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    pub sid: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub amr: Vec<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
}

impl SessionSummary {
    /// Whether the session still signs its browser in.
    pub fn is_live(&self, now: i64) -> bool {
        self.ended_at.is_none() && self.expires_at > now
    }
}

fn split_amr(amr: &str) -> Vec<String> {
    amr.split(' ').filter(|m| !m.is_empty()).map(str::to_string).collect()
}

/// How often `last_seen_at` is written at most, to keep reads from writing.
const LAST_SEEN_RESOLUTION: i64 = 60;

/// Starts a session; returns the cookie value (shown to the browser only) and the session.
pub async fn start_session(
    db: &impl ConnectionTrait,
    user_id: &str,
    amr: &[&str],
    now: i64,
    lifetime: i64,
    origin: &SessionOrigin,
) -> Result<(String, BrowserSession), sea_orm::DbErr> {
    let cookie_value = random_token(32);
    let session = BrowserSession {
        sid: random_token(16),
        user_id: user_id.to_string(),
        auth_time: now,
        amr: amr.iter().map(|m| m.to_string()).collect(),
        expires_at: now + lifetime,
    };
    browser_sessions::Entity::insert(browser_sessions::ActiveModel {
        id_hash: Set(sha256_hex(cookie_value.as_bytes())),
        sid: Set(session.sid.clone()),
        user_id: Set(session.user_id.clone()),
        auth_time: Set(now),
        amr: Set(session.amr.join(" ")),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(session.expires_at),
        ended_at: Set(None),
        ip: Set(origin.ip.clone()),
        user_agent: Set(origin.user_agent.clone()),
    })
    .exec(db)
    .await?;
    Ok((cookie_value, session))
}

/// The live session behind a cookie value, if any.
pub async fn find_session(
    db: &impl ConnectionTrait,
    cookie_value: &str,
    now: i64,
) -> Result<Option<BrowserSession>, sea_orm::DbErr> {
    let Some(model) = browser_sessions::Entity::find_by_id(sha256_hex(cookie_value.as_bytes()))
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    if model.ended_at.is_some() || model.expires_at <= now {
        return Ok(None);
    }
    if now - model.last_seen_at >= LAST_SEEN_RESOLUTION {
        browser_sessions::Entity::update_many()
            .col_expr(browser_sessions::Column::LastSeenAt, now.into())
            .filter(browser_sessions::Column::IdHash.eq(model.id_hash.clone()))
            .exec(db)
            .await?;
    }
    Ok(Some(BrowserSession {
        sid: model.sid,
        user_id: model.user_id,
        auth_time: model.auth_time,
        amr: split_amr(&model.amr),
        expires_at: model.expires_at,
    }))
}

/// Ends the session with this `sid` (sign-out).
pub async fn end_session(db: &impl ConnectionTrait, sid: &str, now: i64) -> Result<(), sea_orm::DbErr> {
    browser_sessions::Entity::update_many()
        .col_expr(browser_sessions::Column::EndedAt, Some(now).into())
        .filter(browser_sessions::Column::Sid.eq(sid))
        .filter(browser_sessions::Column::EndedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Every stored session of a person, most recently seen first: live ones, and ended or
/// expired ones until housekeeping removes them. `live_only` keeps the live ones.
pub async fn list_sessions(
    db: &impl ConnectionTrait,
    user_id: &str,
    now: i64,
    live_only: bool,
) -> Result<Vec<SessionSummary>, sea_orm::DbErr> {
    let mut query = browser_sessions::Entity::find().filter(browser_sessions::Column::UserId.eq(user_id));
    if live_only {
        query = query
            .filter(browser_sessions::Column::EndedAt.is_null())
            .filter(browser_sessions::Column::ExpiresAt.gt(now));
    }
    Ok(query
        .order_by_desc(browser_sessions::Column::LastSeenAt)
        .order_by_desc(browser_sessions::Column::CreatedAt)
        .all(db)
        .await?
        .into_iter()
        .map(|model| SessionSummary {
            amr: split_amr(&model.amr),
            sid: model.sid,
            ip: model.ip,
            user_agent: model.user_agent,
            created_at: model.created_at,
            last_seen_at: model.last_seen_at,
            expires_at: model.expires_at,
            ended_at: model.ended_at,
        })
        .collect())
}

/// Ends one live session of this person (from their account page). False when the `sid`
/// is not a live session of theirs: nobody ends someone else's session by guessing ids.
pub async fn end_session_of_user(
    db: &impl ConnectionTrait,
    user_id: &str,
    sid: &str,
    now: i64,
) -> Result<bool, sea_orm::DbErr> {
    let result = browser_sessions::Entity::update_many()
        .col_expr(browser_sessions::Column::EndedAt, Some(now).into())
        .filter(browser_sessions::Column::UserId.eq(user_id))
        .filter(browser_sessions::Column::Sid.eq(sid))
        .filter(browser_sessions::Column::EndedAt.is_null())
        .filter(browser_sessions::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    Ok(result.rows_affected > 0)
}

/// Ends every live session of this person except `keep_sid` (or all of them when
/// `keep_sid` is `None`); returns the `sid`s ended.
pub async fn end_sessions_of_user(
    db: &impl ConnectionTrait,
    user_id: &str,
    keep_sid: Option<&str>,
    now: i64,
) -> Result<Vec<String>, sea_orm::DbErr> {
    let ended: Vec<String> = list_sessions(db, user_id, now, true)
        .await?
        .into_iter()
        .map(|session| session.sid)
        .filter(|sid| Some(sid.as_str()) != keep_sid)
        .collect();
    if ended.is_empty() {
        return Ok(ended);
    }
    browser_sessions::Entity::update_many()
        .col_expr(browser_sessions::Column::EndedAt, Some(now).into())
        .filter(browser_sessions::Column::UserId.eq(user_id))
        .filter(browser_sessions::Column::Sid.is_in(ended.clone()))
        .filter(browser_sessions::Column::EndedAt.is_null())
        .exec(db)
        .await?;
    Ok(ended)
}

/// A short, readable name for a browser from its `User-Agent`: "Firefox on Linux",
/// "Safari on iOS", "curl". Good enough to tell one's own sessions apart; not a fingerprint.
pub fn describe_user_agent(user_agent: Option<&str>) -> String {
    let Some(ua) = user_agent.map(str::trim).filter(|ua| !ua.is_empty()) else {
        return "Unknown browser".to_string();
    };
    let browser = browser_name(ua);
    match (browser, operating_system(ua)) {
        (Some(browser), Some(os)) => format!("{browser} on {os}"),
        (Some(browser), None) => browser.to_string(),
        (None, Some(os)) => format!("A browser on {os}"),
        (None, None) => first_product(ua).unwrap_or_else(|| "Unknown browser".to_string()),
    }
}

fn browser_name(ua: &str) -> Option<&'static str> {
    // Order matters: Edge, Opera and Samsung Internet also say "Chrome" and "Safari";
    // Chrome also says "Safari".
    const BROWSERS: &[(&[&str], &str)] = &[
        (&["Edg/", "EdgA/", "EdgiOS/", "Edge/"], "Edge"),
        (&["OPR/", "Opera"], "Opera"),
        (&["SamsungBrowser/"], "Samsung Internet"),
        (&["Vivaldi/"], "Vivaldi"),
        (&["Firefox/", "FxiOS/"], "Firefox"),
        (&["Chrome/", "CriOS/", "Chromium/"], "Chrome"),
        (&["Safari/"], "Safari"),
        (&["curl/"], "curl"),
        (&["Wget/"], "Wget"),
        (&["python-requests/", "Python-urllib/"], "Python"),
    ];
    BROWSERS
        .iter()
        .find(|(markers, _)| markers.iter().any(|marker| ua.contains(marker)))
        .map(|(_, name)| *name)
}

fn operating_system(ua: &str) -> Option<&'static str> {
    // Android says "Linux", iOS says "like Mac OS X": the specific ones come first.
    const SYSTEMS: &[(&[&str], &str)] = &[
        (&["Windows Phone"], "Windows Phone"),
        (&["Windows"], "Windows"),
        (&["Android"], "Android"),
        (&["iPhone", "iPod"], "iOS"),
        (&["iPad"], "iPadOS"),
        (&["CrOS"], "ChromeOS"),
        (&["Macintosh", "Mac OS X"], "macOS"),
        (&["FreeBSD"], "FreeBSD"),
        (&["OpenBSD"], "OpenBSD"),
        (&["Linux", "X11"], "Linux"),
    ];
    SYSTEMS
        .iter()
        .find(|(markers, _)| markers.iter().any(|marker| ua.contains(marker)))
        .map(|(_, name)| *name)
}

/// The first product name of an unknown agent (`MyTool/1.2 (...)` -> `MyTool`).
fn first_product(ua: &str) -> Option<String> {
    let name: String = ua
        .split(['/', ' ', '('])
        .next()?
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(40)
        .collect();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_browsers_are_named_with_their_system() {
        let cases = [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
                "Firefox on Windows",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.43 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.61",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/105.0.0.0",
                "Opera on Linux",
            ),
            (
                "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.101 Mobile/15E148 Safari/604.1",
                "Chrome on iPadOS",
            ),
            (
                "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
                "Chrome on ChromeOS",
            ),
        ];
        for (ua, expected) in cases {
            assert_eq!(describe_user_agent(Some(ua)), expected, "{ua}");
        }
    }

    #[test]
    fn tools_and_unknown_agents_get_a_short_name() {
        assert_eq!(describe_user_agent(Some("curl/8.5.0")), "curl");
        assert_eq!(describe_user_agent(Some("MyTool/1.2 (build 7)")), "MyTool");
        assert_eq!(describe_user_agent(Some("   ")), "Unknown browser");
        assert_eq!(describe_user_agent(None), "Unknown browser");
        assert_eq!(describe_user_agent(Some("<>/1")), "Unknown browser");
    }

    #[test]
    fn the_origin_keeps_a_short_clean_user_agent_and_a_plain_address() {
        let long = format!("Agent\u{7}/{}", "x".repeat(500));
        let origin = SessionOrigin::new(Some("::ffff:127.0.0.1".parse().unwrap()), Some(&long));
        assert_eq!(origin.ip.as_deref(), Some("127.0.0.1"));
        let ua = origin.user_agent.unwrap();
        assert_eq!(ua.chars().count(), USER_AGENT_MAX_CHARS);
        assert!(ua.starts_with("Agent/x"));
        assert_eq!(SessionOrigin::new(None, Some(" \t ")), SessionOrigin::default());
    }
}
