//! `/account/sessions`: a person's browser sessions and connected applications. Like
//! [`super::pages`], every value is escaped by askama; the page carries a CSRF token, so it
//! does not implement `Debug`.

use crate::http::pages::format_time;
use askama::Template;

/// One live browser session.
#[derive(Clone)]
pub struct SessionRow {
    pub sid: String,
    /// "Firefox on Linux".
    pub browser: String,
    pub ip: String,
    pub signed_in: String,
    pub last_seen: String,
    /// The browser looking at the page.
    pub current: bool,
    /// Signed in with the second factor.
    pub second_factor: bool,
}

/// One connected application.
#[derive(Clone)]
pub struct ApplicationRow {
    pub client_id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub since: String,
    pub last_activity: String,
}

#[derive(Clone, Template)]
#[template(path = "account/sessions.html")]
pub struct SessionsPage {
    pub demo: bool,
    pub csrf_token: String,
    pub username: String,
    pub sessions: Vec<SessionRow>,
    pub applications: Vec<ApplicationRow>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

impl SessionsPage {
    /// Whether "sign out everywhere else" has anything to do.
    pub fn has_other_sessions(&self) -> bool {
        self.sessions.iter().any(|session| !session.current)
    }
}

/// How long ago `unix` was, in words: "just now", "5 minutes ago", "3 days ago".
pub fn time_ago(now: i64, unix: i64) -> String {
    let seconds = now.saturating_sub(unix);
    let (count, unit) = match seconds {
        s if s < 60 => return "just now".to_string(),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86_400 => (s / 3600, "hour"),
        s => (s / 86_400, "day"),
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{count} {unit}{plural} ago")
}

/// `2026-11-28 17:23 UTC (5 minutes ago)`.
pub fn format_time_with_age(now: i64, unix: i64) -> String {
    format!("{} ({})", format_time(unix), time_ago(now, unix))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = r#""><script>alert('x')</script>"#;

    fn page() -> SessionsPage {
        SessionsPage {
            demo: false,
            csrf_token: "tok".into(),
            username: "alice".into(),
            sessions: vec![
                SessionRow {
                    sid: "sid-here".into(),
                    browser: "Firefox on Linux".into(),
                    ip: "127.0.0.1".into(),
                    signed_in: "2026-11-28 17:23 UTC".into(),
                    last_seen: "just now".into(),
                    current: true,
                    second_factor: true,
                },
                SessionRow {
                    sid: "sid-there".into(),
                    browser: HOSTILE.into(),
                    ip: "192.0.2.7".into(),
                    signed_in: "2026-11-27 09:00 UTC".into(),
                    last_seen: "1 day ago".into(),
                    current: false,
                    second_factor: false,
                },
            ],
            applications: vec![ApplicationRow {
                client_id: "app".into(),
                name: HOSTILE.into(),
                scopes: vec!["openid".into(), "email".into()],
                since: "2026-11-01 10:00 UTC".into(),
                last_activity: "never".into(),
            }],
            notice: None,
            error: Some(HOSTILE.into()),
        }
    }

    #[test]
    fn the_sessions_page_escapes_and_puts_a_token_in_every_form() {
        let html = page().render().expect("renders");
        assert!(!html.contains("<script>"));
        let forms = html.matches("<form").count();
        // One per session, "everywhere else", one per application.
        assert_eq!(forms, 4, "{html}");
        assert_eq!(html.matches(r#"name="csrf_token" value="tok""#).count(), forms);
        assert!(html.contains(r#"name="sid" value="sid-there""#));
        assert!(html.contains(r#"name="client_id" value="app""#));
        assert!(html.contains("This browser"));
    }

    #[test]
    fn without_other_sessions_there_is_no_everywhere_else_button() {
        let mut page = page();
        page.sessions.retain(|session| session.current);
        page.applications.clear();
        let html = page.render().expect("renders");
        assert!(!html.contains("/account/sessions/end-others"));
        assert_eq!(html.matches("<form").count(), 1);
    }

    #[test]
    fn times_read_as_dates_and_ages() {
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(time_ago(1000, 990), "just now");
        assert_eq!(time_ago(1000, 1000 - 60), "1 minute ago");
        assert_eq!(time_ago(100_000, 100_000 - 7200), "2 hours ago");
        assert_eq!(time_ago(1_000_000, 1_000_000 - 3 * 86_400), "3 days ago");
        assert_eq!(format_time_with_age(120, 0), "1970-01-01 00:00 UTC (2 minutes ago)");
    }
}
