//! `/account/tokens`: the signed-in person's personal access tokens. Like [`super::pages`],
//! every value is escaped by askama, and the struct (it carries a CSRF token, and once a
//! new token's secret) does not implement `Debug`.

use crate::http::pages::format_time;
use askama::Template;

use crate::tokens::personal_access_token::PersonalAccessToken;

/// The list of tokens, a revoke button each, and the form for a new one.
#[derive(Clone, Template)]
#[template(path = "account/tokens.html")]
pub struct TokensPage {
    pub demo: bool,
    pub csrf_token: String,
    pub username: String,
    pub tokens: Vec<TokenRow>,
    /// The token just created, shown this once.
    pub created: Option<CreatedToken>,
    pub notice: Option<String>,
    /// A failure outside the create form (an expired revoke form, an unknown token).
    pub error: Option<String>,
    /// Problems with the submitted form, in words for the person.
    pub problems: Vec<String>,
    pub form: TokenFormView,
}

/// `/admin/personal-access-tokens`: everyone's tokens, a revoke button for each live one.
#[derive(Clone, Template)]
#[template(path = "admin/personal_access_tokens.html")]
pub struct AdminTokensPage {
    pub demo: bool,
    pub csrf_token: String,
    /// The administrator's username.
    pub username: String,
    pub tokens: Vec<AdminTokenRow>,
    /// Shown when the list is one person's (`?sub=`).
    pub filter_sub: Option<String>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

/// A token and its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminTokenRow {
    pub sub: String,
    /// The owner's username, when the person is known.
    pub owner: Option<String>,
    pub token: TokenRow,
}

/// One token in the list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    /// Space-separated.
    pub scopes: String,
    pub created: String,
    pub expires: String,
    /// `None`: never used.
    pub last_used: Option<String>,
    pub last_used_ip: Option<String>,
    /// Comma-separated allowlist; empty: anywhere.
    pub allowed_ips: String,
    /// `active`, `expired` or `revoked`.
    pub status: &'static str,
}

impl TokenRow {
    pub fn from_token(token: &PersonalAccessToken, now: i64) -> TokenRow {
        TokenRow {
            id: token.id.clone(),
            name: token.name.clone(),
            scopes: token.scopes.join(" "),
            created: format_time(token.created_at),
            expires: format_time(token.expires_at),
            last_used: token.last_used_at.map(format_time),
            last_used_ip: token.last_used_ip.clone(),
            allowed_ips: token.allowed_ips.to_strings().join(", "),
            status: token.status(now).as_str(),
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

/// A token shown once, right after it was created.
#[derive(Clone)]
pub struct CreatedToken {
    pub name: String,
    pub secret: String,
}

/// The create form, with what the person entered (kept when it is shown again).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenFormView {
    pub name: String,
    pub scopes: Vec<ScopeChoice>,
    pub lifetime_days: String,
    pub max_lifetime_days: i64,
    pub allowed_ips: String,
    /// The person is an administrator whose session lacks the second factor: the form
    /// explains that the `admin` scope needs it.
    pub admin_needs_second_factor: bool,
    /// The person holds as many live tokens as allowed.
    pub at_limit: bool,
    pub max_per_person: u32,
}

/// A scope checkbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeChoice {
    pub name: String,
    pub description: String,
    pub checked: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::{Html, Selector};

    fn select<'a>(document: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
        let selector = Selector::parse(css).expect("valid selector");
        document.select(&selector).collect()
    }

    fn page() -> TokensPage {
        TokensPage {
            demo: false,
            csrf_token: "csrf-tok".into(),
            username: "alice".into(),
            tokens: vec![
                TokenRow {
                    id: "t1".into(),
                    name: "<b>backup</b>".into(),
                    scopes: "openid profile".into(),
                    created: "2026-11-28 10:00 UTC".into(),
                    expires: "2026-12-28 10:00 UTC".into(),
                    last_used: Some("2026-11-28 11:00 UTC".into()),
                    last_used_ip: Some("10.1.2.3".into()),
                    allowed_ips: "10.0.0.0/8".into(),
                    status: "active",
                },
                TokenRow {
                    id: "t2".into(),
                    name: "old".into(),
                    scopes: "openid".into(),
                    created: "2026-01-01 10:00 UTC".into(),
                    expires: "2026-02-01 10:00 UTC".into(),
                    last_used: None,
                    last_used_ip: None,
                    allowed_ips: String::new(),
                    status: "revoked",
                },
            ],
            created: None,
            notice: None,
            error: None,
            problems: Vec::new(),
            form: TokenFormView {
                name: String::new(),
                scopes: vec![
                    ScopeChoice {
                        name: "openid".into(),
                        description: "Confirm who you are".into(),
                        checked: true,
                    },
                    ScopeChoice {
                        name: "email".into(),
                        description: "See your email address".into(),
                        checked: false,
                    },
                ],
                lifetime_days: "30".into(),
                max_lifetime_days: 365,
                allowed_ips: String::new(),
                admin_needs_second_factor: false,
                at_limit: false,
                max_per_person: 50,
            },
        }
    }

    #[test]
    fn every_form_posts_with_the_csrf_token_and_only_live_tokens_can_be_revoked() {
        let html = page().render().expect("renders");
        let document = Html::parse_document(&html);
        let forms = select(&document, "form");
        assert_eq!(forms.len(), 2, "one revoke form and the create form");
        for form in forms {
            assert_eq!(form.value().attr("method"), Some("post"));
            let token = Selector::parse("input[type=hidden][name=csrf_token]").expect("selector");
            let tokens: Vec<_> = form.select(&token).collect();
            assert_eq!(tokens.len(), 1);
            assert_eq!(tokens[0].value().attr("value"), Some("csrf-tok"));
        }
        assert_eq!(
            select(&document, r#"form[action="/account/tokens/t1/revoke"]"#).len(),
            1
        );
        assert_eq!(
            select(&document, r#"form[action="/account/tokens/t2/revoke"]"#).len(),
            0
        );
        assert_eq!(select(&document, "input[type=checkbox][name=scope][checked]").len(), 1);
        assert!(!html.contains("<b>backup"), "names are escaped");
        assert_eq!(select(&document, ".new-token-secret").len(), 0);
        assert_eq!(select(&document, "script").len(), 0);
    }

    #[test]
    fn the_admin_list_names_owners_and_offers_revocation_of_live_tokens() {
        let tokens = page().tokens;
        let html = AdminTokensPage {
            demo: false,
            csrf_token: "csrf-admin".into(),
            username: "alice".into(),
            tokens: vec![
                AdminTokenRow {
                    sub: "sub-bob".into(),
                    owner: Some("bob".into()),
                    token: tokens[0].clone(),
                },
                AdminTokenRow {
                    sub: "sub-gone".into(),
                    owner: None,
                    token: tokens[1].clone(),
                },
            ],
            filter_sub: None,
            notice: None,
            error: None,
        }
        .render()
        .expect("renders");
        let document = Html::parse_document(&html);
        let forms = select(&document, "form[method=post]");
        assert_eq!(forms.len(), 1);
        assert_eq!(
            forms[0].value().attr("action"),
            Some("/admin/personal-access-tokens/t1/revoke")
        );
        assert_eq!(
            select(&document, "input[type=hidden][name=csrf_token][value=csrf-admin]").len(),
            1
        );
        let owners: Vec<String> = select(&document, ".token-owner")
            .iter()
            .map(|o| o.text().collect())
            .collect();
        assert_eq!(owners, ["bob", "sub-gone"]);
        assert!(!html.contains("<b>backup"));
    }

    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_time(1_800_000_000), "2027-01-15 08:00 UTC");
    }

    #[test]
    fn a_new_token_and_problems_are_shown() {
        let html = TokensPage {
            created: Some(CreatedToken {
                name: "ci".into(),
                secret: "gatehouse_pat_secret".into(),
            }),
            problems: vec!["Choose at least one scope.".into()],
            ..page()
        }
        .render()
        .expect("renders");
        let document = Html::parse_document(&html);
        let secret = select(&document, ".new-token-secret");
        assert_eq!(secret.len(), 1);
        assert_eq!(secret[0].text().collect::<String>(), "gatehouse_pat_secret");
        let problems: Vec<String> = select(&document, ".error-box li")
            .iter()
            .map(|li| li.text().collect())
            .collect();
        assert_eq!(problems, ["Choose at least one scope."]);
    }
}
