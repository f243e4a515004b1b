//! `/admin/people` and `/admin/people/{sub}`: the view models of the people pages. Like
//! [`super::pages`], every value is escaped by askama, and the structs that carry a CSRF
//! token do not implement `Debug`.

use askama::Template;

use super::token_pages::TokenRow;

/// The search page: a query box and the people who match it, most recently signed in first.
#[derive(Clone, Template)]
#[template(path = "admin/people.html")]
pub struct PeoplePage {
    pub demo: bool,
    /// The administrator's username.
    pub username: String,
    /// The search text as typed (empty: everyone).
    pub query: String,
    pub people: Vec<PersonRow>,
    /// The most people listed; when `people` holds this many, there may be more.
    pub limit: usize,
}

impl PeoplePage {
    /// Whether the list was cut at [`PeoplePage::limit`].
    pub fn is_capped(&self) -> bool {
        self.people.len() >= self.limit
    }
}

/// One person in the search results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonRow {
    pub sub: String,
    pub username: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub last_sign_in: String,
}

/// One person: who they are, their second factor, sessions and tokens, and the two actions.
#[derive(Clone, Template)]
#[template(path = "admin/person.html")]
pub struct PersonPage {
    pub demo: bool,
    pub csrf_token: String,
    /// The administrator's username.
    pub username: String,
    pub person: PersonSummary,
    /// When the second factor was confirmed; `Some("")` when enrolled at an unknown time.
    pub second_factor: Option<String>,
    /// The person's live setup link (without one, and without a second factor: none).
    pub setup_link: Option<SetupLinkRow>,
    /// The address of a setup link just made, shown this once.
    pub new_setup_link: Option<String>,
    /// The live browser sessions, most recently seen first.
    pub sessions: Vec<SessionRow>,
    /// Every personal access token, newest first.
    pub tokens: Vec<TokenRow>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

/// What the directory said about the person at the last sign-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonSummary {
    pub sub: String,
    pub username: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// Comma separated; empty without groups.
    pub groups: String,
    pub first_sign_in: String,
    pub last_sign_in: String,
}

/// A live second-factor setup link (never its address, which is shown only once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupLinkRow {
    /// The username of the administrator who made it (or `cli`).
    pub created_by: String,
    pub created: String,
    pub expires: String,
}

/// A live browser session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRow {
    /// "Firefox on Linux".
    pub browser: String,
    pub ip: Option<String>,
    pub signed_in: String,
    pub last_seen: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person_page(second_factor: Option<String>) -> PersonPage {
        PersonPage {
            demo: false,
            csrf_token: "csrf-123".to_string(),
            username: "alice".to_string(),
            person: PersonSummary {
                sub: "a b/<c>".to_string(),
                username: "bob".to_string(),
                name: Some("Bob <Builder>".to_string()),
                email: Some("bob@example.org".to_string()),
                groups: "staff".to_string(),
                first_sign_in: "2026-11-28 17:00 UTC".to_string(),
                last_sign_in: "2026-11-28 17:23 UTC".to_string(),
            },
            second_factor,
            setup_link: None,
            new_setup_link: None,
            sessions: vec![SessionRow {
                browser: "Firefox on Linux".to_string(),
                ip: Some("192.0.2.7".to_string()),
                signed_in: "2026-11-28 17:23 UTC".to_string(),
                last_seen: "2026-11-28 17:25 UTC".to_string(),
            }],
            tokens: Vec::new(),
            notice: None,
            error: None,
        }
    }

    #[test]
    fn person_page_escapes_values_and_every_form_carries_the_csrf_token() {
        let html = person_page(Some("2026-11-28 17:00 UTC".to_string())).render().unwrap();
        assert!(!html.contains("Bob <Builder>"), "{html}");
        assert!(html.contains("Bob &#60;Builder&#62;") || html.contains("Bob &lt;Builder&gt;"));
        assert!(html.contains("Firefox on Linux") && html.contains("192.0.2.7"));
        assert_eq!(html.matches(r#"name="csrf_token" value="csrf-123""#).count(), 2);
        // The sub is one path segment in the form actions.
        assert!(
            html.contains(r#"action="/admin/people/a%20b%2F%3Cc%3E/revoke-all""#),
            "{html}"
        );
        assert!(
            html.contains(r#"action="/admin/people/a%20b%2F%3Cc%3E/totp/reset""#),
            "{html}"
        );
        // With a second factor, a setup link would do nothing.
        assert!(!html.contains("second-factor-setup-link"), "{html}");
    }

    #[test]
    fn the_reset_button_shows_only_with_a_second_factor() {
        let html = person_page(None).render().unwrap();
        assert!(!html.contains("/totp/reset"), "{html}");
        assert!(html.contains("/revoke-all"));
        // Without one, the setup link form is offered instead, with its own CSRF token.
        assert!(
            html.contains(r#"action="/admin/people/a%20b%2F%3Cc%3E/second-factor-setup-link""#),
            "{html}"
        );
        assert_eq!(html.matches(r#"name="csrf_token" value="csrf-123""#).count(), 2);
        assert!(!html.contains("setup-link-new"), "no link is shown unless just made");
    }

    #[test]
    fn a_new_setup_link_is_shown_and_a_live_one_is_described() {
        let mut page = person_page(None);
        page.new_setup_link = Some("https://id.example/login/totp/setup?token=abc<x>".to_string());
        page.setup_link = Some(SetupLinkRow {
            created_by: "alice".to_string(),
            created: "2026-11-28 17:00 UTC".to_string(),
            expires: "2026-11-29 17:00 UTC".to_string(),
        });
        let html = page.render().unwrap();
        assert!(html.contains("setup-link-new"), "{html}");
        assert!(!html.contains("abc<x>"), "escaped: {html}");
        assert!(html.contains("https://id.example/login/totp/setup?token=abc"), "{html}");
        let pending = html
            .split("setup-link-live")
            .nth(1)
            .expect("the live link is described");
        assert!(
            pending.contains("alice") && pending.contains("2026-11-29 17:00 UTC"),
            "{html}"
        );
    }

    #[test]
    fn people_page_links_each_person_and_says_when_the_list_is_cut() {
        let page = PeoplePage {
            demo: false,
            username: "alice".to_string(),
            query: "b\"o".to_string(),
            people: vec![PersonRow {
                sub: "sub-1".to_string(),
                username: "bob".to_string(),
                name: None,
                email: None,
                last_sign_in: "2026-11-28 17:23 UTC".to_string(),
            }],
            limit: 1,
        };
        let html = page.render().unwrap();
        assert!(html.contains(r#"href="/admin/people/sub-1""#), "{html}");
        assert!(!html.contains("b\"o"));
        assert!(html.contains("only the first 1"), "{html}");
    }
}
