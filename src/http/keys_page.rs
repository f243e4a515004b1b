//! `/admin/keys`: the signing keys of every algorithm, with "Rotate now" and a "Revoke"
//! button per key. Like [`super::pages`], every value is escaped by askama, and the struct
//! (it carries a CSRF token) does not implement `Debug`.

use askama::Template;

/// The key list (by algorithm, newest first), and the outcome of the last action.
#[derive(Clone, Template)]
#[template(path = "admin/keys.html")]
pub struct KeysPage {
    pub demo: bool,
    pub csrf_token: String,
    /// The administrator's username.
    pub username: String,
    /// The algorithms that sign (`keys.algorithms`), e.g. `RS256, PS256, ES256`.
    pub algorithms: String,
    /// The rotation period, in words (`30 days`).
    pub rotation_period: String,
    pub keys: Vec<KeyRow>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

/// One stored key, as the page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRow {
    pub kid: String,
    pub algorithm: String,
    /// `next`, `current`, `retired` or `revoked`.
    pub status: String,
    /// Whether the key signs new tokens for its algorithm right now.
    pub signing: bool,
    pub created: String,
    pub activated: Option<String>,
    pub retired: Option<String>,
    pub revoked: Option<String>,
}

impl KeyRow {
    /// Revoked keys have no button.
    pub fn is_revocable(&self) -> bool {
        self.status != "revoked"
    }
}

/// A period in whole days when it is one, otherwise in hours, minutes or seconds.
pub fn format_period(seconds: i64) -> String {
    let plural = |n: i64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    match seconds {
        s if s > 0 && s % 86_400 == 0 => plural(s / 86_400, "day"),
        s if s > 0 && s % 3600 == 0 => plural(s / 3600, "hour"),
        s if s > 0 && s % 60 == 0 => plural(s / 60, "minute"),
        s => plural(s, "second"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::pages::format_time;

    fn row(status: &str, signing: bool) -> KeyRow {
        KeyRow {
            kid: "kid-<1>".to_string(),
            algorithm: "ES256".to_string(),
            status: status.to_string(),
            signing,
            created: format_time(1_800_000_000),
            activated: Some(format_time(1_800_000_060)),
            retired: None,
            revoked: None,
        }
    }

    #[test]
    fn page_lists_keys_escaped_with_forms_carrying_the_csrf_token() {
        let page = KeysPage {
            demo: false,
            csrf_token: "csrf-123".to_string(),
            username: "alice".to_string(),
            algorithms: "RS256, ES256".to_string(),
            rotation_period: format_period(30 * 86_400),
            keys: vec![row("current", true), row("revoked", false)],
            notice: Some("Rotated <now>".to_string()),
            error: None,
        };
        let html = page.render().unwrap();
        assert!(html.contains("30 days"));
        assert!(html.contains("RS256, ES256"));
        assert!(
            html.contains("kid-&#60;1&#62;") || html.contains("kid-&lt;1&gt;"),
            "{html}"
        );
        assert!(!html.contains("kid-<1>"));
        assert!(html.contains("Rotated &#60;now&#62;") || html.contains("Rotated &lt;now&gt;"));
        // The rotate form and one revoke form (the revoked key has none), each with the token.
        assert_eq!(html.matches(r#"name="csrf_token" value="csrf-123""#).count(), 2);
        assert!(html.contains(r#"action="/admin/keys/rotate""#));
        assert_eq!(html.matches("/revoke\"").count(), 1);
        assert!(html.contains("2027-01-15 08:00 UTC"));
    }

    #[test]
    fn periods_read_naturally() {
        assert_eq!(format_period(86_400), "1 day");
        assert_eq!(format_period(7200), "2 hours");
        assert_eq!(format_period(100_000), "100000 seconds");
        assert_eq!(format_period(120), "2 minutes");
    }
}
