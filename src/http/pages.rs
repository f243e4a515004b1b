//! The browser pages' view models: one askama template per struct, in `templates/`.
//!
//! The handlers fill these structs and render them with [`askama::Template::render`].
//! Every value is HTML-escaped by askama; the templates never mark data as `safe`.
//! The pages use no JavaScript and no inline styles, so they work under the strict
//! Content-Security-Policy the security headers set; they link `/static/app.css` and
//! `/static/logo.svg` (see [`super::static_files`]).
//!
//! The structs that carry a CSRF token or a pending request id do not implement `Debug`,
//! so that those values cannot end up in a log line by accident.

use askama::Template;

/// A Unix time as pages show it: `2026-11-28 17:23 UTC` (the number itself should it be
/// out of range).
pub fn format_time(unix: i64) -> String {
    let format = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|at| at.format(&format).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// `/login`: the username and password form.
#[derive(Clone, Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub demo: bool,
    /// Id of the pending authorization request, posted back as `request`.
    pub request_id: String,
    pub csrf_token: String,
    /// The application the person is signing in to.
    pub client_name: String,
    /// Prefilled username (empty on the first visit).
    pub username: String,
    /// Shown in an error box above the form.
    pub error: Option<String>,
    /// A local path to go to after signing in without an application (e.g. `/admin`);
    /// posted back as `next`. Empty: the start page.
    pub next: String,
}

/// `/consent`: asks the person to allow an application the scopes it asked for.
#[derive(Clone, Template)]
#[template(path = "consent.html")]
pub struct ConsentPage {
    pub demo: bool,
    /// Id of the pending authorization request, posted back as `request`.
    pub request_id: String,
    pub csrf_token: String,
    pub client_name: String,
    pub client_id: String,
    /// The signed-in person's username.
    pub username: String,
    pub scopes: Vec<ScopeDescription>,
}

/// One requested scope, as shown on the consent page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeDescription {
    /// The scope's name, e.g. `email`.
    pub name: String,
    /// What it lets the application do, in words for a person.
    pub description: String,
}

/// An error explained to a person: no internals, a link back to the start.
#[derive(Clone, Debug, Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub demo: bool,
    /// The HTTP status the page is sent with, shown as a reference.
    pub status: u16,
    pub title: String,
    pub message: String,
}

/// `/logout` (GET): asks the person to confirm signing out.
///
/// The optional values come from the RP-initiated logout request and are posted back
/// as hidden fields, each only when present.
#[derive(Clone, Template)]
#[template(path = "logout_confirm.html")]
pub struct LogoutConfirmPage {
    pub demo: bool,
    pub csrf_token: String,
    pub client_name: Option<String>,
    pub client_id: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
    pub state: Option<String>,
    pub username: Option<String>,
}

/// Shown after signing out when there is no application to return to.
#[derive(Clone, Debug, Template)]
#[template(path = "logged_out.html")]
pub struct LoggedOutPage {
    pub demo: bool,
}

/// `/`: who is signed in, with a sign-out button; or a note that nobody is.
#[derive(Clone, Template)]
#[template(path = "home.html")]
pub struct HomePage {
    pub demo: bool,
    pub csrf_token: String,
    /// `Some` when a person is signed in.
    pub username: Option<String>,
    /// The signed-in person's display name, shown instead of the username when known.
    pub name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use scraper::{Html, Selector};

    const HOSTILE: &str = r#"<script>alert("x")</script>"#;
    const HOSTILE_ATTRIBUTE: &str = r#""><script>alert('x')</script>"#;

    fn parse(html: &str) -> Html {
        Html::parse_document(html)
    }

    fn select<'a>(document: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
        let selector = Selector::parse(css).expect("valid selector");
        document.select(&selector).collect()
    }

    /// The `value` of the one element matching `css`.
    fn value_of(document: &Html, css: &str) -> String {
        let found = select(document, css);
        assert_eq!(found.len(), 1, "exactly one element matches {css}");
        found[0].value().attr("value").expect("has a value").to_owned()
    }

    fn text_of(document: &Html, css: &str) -> String {
        let found = select(document, css);
        assert_eq!(found.len(), 1, "exactly one element matches {css}");
        found[0].text().collect::<String>()
    }

    fn assert_common_layout(html: &str, demo: bool) {
        let document = parse(html);
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert_eq!(select(&document, "html[lang=en]").len(), 1);
        assert_eq!(text_of(&document, ".brand-name"), "Gatehouse");
        assert!(text_of(&document, "title").ends_with("· Gatehouse"));
        assert_eq!(
            select(&document, r#"link[rel=stylesheet][href="/static/app.css"]"#).len(),
            1
        );
        assert_eq!(select(&document, "script").len(), 0, "pages carry no JavaScript");
        assert_eq!(select(&document, "[style]").len(), 0, "no inline styles (CSP)");
        assert!(!html.contains("<style"), "no inline style sheets (CSP)");
        assert_eq!(select(&document, ".demo-banner").len(), usize::from(demo));
    }

    /// Every POST form in the page has exactly one hidden `csrf_token` with this value.
    fn assert_forms_carry_csrf_token(document: &Html, token: &str) {
        let forms = select(document, "form");
        assert!(!forms.is_empty(), "the page has a form");
        let selector = Selector::parse(r#"input[type=hidden][name=csrf_token]"#).expect("valid selector");
        for form in forms {
            assert_eq!(form.value().attr("method"), Some("post"));
            let tokens: Vec<_> = form.select(&selector).collect();
            assert_eq!(tokens.len(), 1, "one csrf_token per form");
            assert_eq!(tokens[0].value().attr("value"), Some(token));
        }
    }

    fn login_page() -> LoginPage {
        LoginPage {
            demo: false,
            request_id: "req-123".to_owned(),
            csrf_token: "csrf-abc".to_owned(),
            client_name: "Wiki".to_owned(),
            username: String::new(),
            error: None,
            next: String::new(),
        }
    }

    fn consent_page() -> ConsentPage {
        ConsentPage {
            demo: false,
            request_id: "req-456".to_owned(),
            csrf_token: "csrf-def".to_owned(),
            client_name: "Wiki".to_owned(),
            client_id: "wiki".to_owned(),
            username: "alice".to_owned(),
            scopes: vec![
                ScopeDescription {
                    name: "openid".to_owned(),
                    description: "Confirm who you are".to_owned(),
                },
                ScopeDescription {
                    name: "email".to_owned(),
                    description: "See your email address".to_owned(),
                },
            ],
        }
    }

    fn logout_confirm_page() -> LogoutConfirmPage {
        LogoutConfirmPage {
            demo: false,
            csrf_token: "csrf-out".to_owned(),
            client_name: None,
            client_id: None,
            post_logout_redirect_uri: None,
            state: None,
            username: None,
        }
    }

    #[test]
    fn login_page_renders_form_with_hidden_fields() {
        let html = login_page().render().expect("renders");
        assert_common_layout(&html, false);
        let document = parse(&html);

        let forms = select(&document, r#"form[method=post][action="/login"]"#);
        assert_eq!(forms.len(), 1);
        assert_forms_carry_csrf_token(&document, "csrf-abc");
        assert_eq!(value_of(&document, "input[type=hidden][name=request]"), "req-123");
        assert!(text_of(&document, ".lead").contains("Sign in to continue to Wiki"));

        let username = select(&document, "input[name=username]");
        assert_eq!(username[0].value().attr("autocomplete"), Some("username"));
        assert_eq!(username[0].value().attr("id"), Some("username"));
        let password = select(&document, "input[name=password]");
        assert_eq!(password[0].value().attr("type"), Some("password"));
        assert_eq!(password[0].value().attr("autocomplete"), Some("current-password"));
        assert_eq!(select(&document, "label[for=username]").len(), 1);
        assert_eq!(select(&document, "label[for=password]").len(), 1);
        assert_eq!(text_of(&document, "button[type=submit]"), "Sign in");
    }

    #[test]
    fn login_page_focuses_username_when_empty_and_password_when_prefilled() {
        let html = login_page().render().expect("renders");
        let document = parse(&html);
        assert_eq!(select(&document, "input[name=username][autofocus]").len(), 1);
        assert_eq!(select(&document, "[autofocus]").len(), 1);

        let html = LoginPage {
            username: "alice".to_owned(),
            ..login_page()
        }
        .render()
        .expect("renders");
        let document = parse(&html);
        assert_eq!(value_of(&document, "input[name=username]"), "alice");
        assert_eq!(select(&document, "input[name=password][autofocus]").len(), 1);
        assert_eq!(select(&document, "[autofocus]").len(), 1);
    }

    #[test]
    fn login_page_shows_error_box_only_with_an_error() {
        let html = login_page().render().expect("renders");
        let document = parse(&html);
        assert_eq!(select(&document, "[role=alert]").len(), 0);
        assert_eq!(select(&document, ".error-box").len(), 0);

        let html = LoginPage {
            error: Some("Wrong username or password.".to_owned()),
            ..login_page()
        }
        .render()
        .expect("renders");
        let document = parse(&html);
        assert_eq!(
            text_of(&document, ".error-box[role=alert]"),
            "Wrong username or password."
        );
    }

    #[test]
    fn login_page_escapes_user_controlled_values() {
        let html = LoginPage {
            client_name: HOSTILE.to_owned(),
            username: HOSTILE_ATTRIBUTE.to_owned(),
            error: Some(HOSTILE.to_owned()),
            request_id: HOSTILE_ATTRIBUTE.to_owned(),
            ..login_page()
        }
        .render()
        .expect("renders");
        assert!(!html.contains("<script"), "no raw script tag in {html}");
        // askama writes `<` as a character reference (`&#60;` in 0.14).
        assert!(html.contains("&#60;script") || html.contains("&lt;script"));

        // The browser reads back exactly the original strings.
        let document = parse(&html);
        assert_eq!(select(&document, "script").len(), 0);
        assert_eq!(text_of(&document, ".lead strong"), HOSTILE);
        assert_eq!(text_of(&document, ".error-box"), HOSTILE);
        assert_eq!(value_of(&document, "input[name=username]"), HOSTILE_ATTRIBUTE);
        assert_eq!(value_of(&document, "input[name=request]"), HOSTILE_ATTRIBUTE);
    }

    #[test]
    fn login_page_shows_demo_banner_in_demo_mode() {
        let html = LoginPage {
            demo: true,
            ..login_page()
        }
        .render()
        .expect("renders");
        assert_common_layout(&html, true);
        assert!(text_of(&parse(&html), ".demo-banner").contains("Demo mode"));
    }

    #[test]
    fn consent_page_lists_scopes_and_offers_both_decisions() {
        let html = consent_page().render().expect("renders");
        assert_common_layout(&html, false);
        let document = parse(&html);

        assert_eq!(text_of(&document, "h1"), "Wiki wants to access your account");
        assert!(text_of(&document, ".lead").contains("Signed in as alice"));
        let scopes: Vec<String> = select(&document, ".scope-list li .scope-description")
            .iter()
            .map(|li| li.text().collect())
            .collect();
        assert_eq!(scopes, ["Confirm who you are", "See your email address"]);
        let names: Vec<String> = select(&document, ".scope-list .scope-name")
            .iter()
            .map(|code| code.text().collect())
            .collect();
        assert_eq!(names, ["openid", "email"]);

        assert_eq!(select(&document, r#"form[method=post][action="/consent"]"#).len(), 1);
        assert_forms_carry_csrf_token(&document, "csrf-def");
        assert_eq!(value_of(&document, "input[type=hidden][name=request]"), "req-456");
        let allow = select(&document, "button[type=submit][name=decision][value=allow]");
        let deny = select(&document, "button[type=submit][name=decision][value=deny]");
        assert_eq!(allow.len(), 1);
        assert_eq!(deny.len(), 1);
        assert_eq!(allow[0].text().collect::<String>(), "Allow");
        assert_eq!(deny[0].text().collect::<String>(), "Deny");
        assert!(allow[0]
            .value()
            .has_class("button-primary", scraper::CaseSensitivity::CaseSensitive));
        assert!(deny[0]
            .value()
            .has_class("button-secondary", scraper::CaseSensitivity::CaseSensitive));
    }

    #[test]
    fn consent_page_escapes_client_and_scope_text() {
        let html = ConsentPage {
            client_name: HOSTILE.to_owned(),
            client_id: HOSTILE_ATTRIBUTE.to_owned(),
            username: HOSTILE.to_owned(),
            scopes: vec![ScopeDescription {
                name: HOSTILE_ATTRIBUTE.to_owned(),
                description: HOSTILE.to_owned(),
            }],
            ..consent_page()
        }
        .render()
        .expect("renders");
        assert!(!html.contains("<script"));
        let document = parse(&html);
        assert_eq!(select(&document, "script").len(), 0);
        assert_eq!(text_of(&document, ".client-name"), HOSTILE);
        assert_eq!(text_of(&document, ".scope-description"), HOSTILE);
        assert_eq!(text_of(&document, ".scope-name"), HOSTILE_ATTRIBUTE);
    }

    #[test]
    fn error_page_explains_without_a_form() {
        let html = ErrorPage {
            demo: false,
            status: 400,
            title: "Unknown application".to_owned(),
            message: format!("The application {HOSTILE} is not registered."),
        }
        .render()
        .expect("renders");
        assert_common_layout(&html, false);
        assert!(!html.contains("<script"));
        let document = parse(&html);
        assert_eq!(text_of(&document, "h1"), "Unknown application");
        assert!(text_of(&document, "title").starts_with("Unknown application"));
        assert!(text_of(&document, ".card").contains(&format!("The application {HOSTILE} is not registered.")));
        assert!(text_of(&document, ".meta").contains("400"));
        assert_eq!(text_of(&document, r#"a[href="/"]"#), "Back to start");
        assert_eq!(select(&document, "form").len(), 0);
    }

    #[test]
    fn logout_confirm_page_posts_only_present_values() {
        let html = logout_confirm_page().render().expect("renders");
        assert_common_layout(&html, false);
        let document = parse(&html);
        assert_eq!(text_of(&document, "h1"), "Sign out of Gatehouse?");
        assert_eq!(select(&document, r#"form[method=post][action="/logout"]"#).len(), 1);
        assert_forms_carry_csrf_token(&document, "csrf-out");
        assert_eq!(select(&document, "input[type=hidden]").len(), 1, "only the csrf token");
        let confirm = select(&document, "button[type=submit][name=confirm][value=yes]");
        assert_eq!(confirm.len(), 1);
        assert_eq!(confirm[0].text().collect::<String>(), "Sign out");
        assert_eq!(text_of(&document, r#"a.button-secondary[href="/"]"#), "Cancel");

        let html = LogoutConfirmPage {
            client_name: Some("Wiki".to_owned()),
            client_id: Some("wiki".to_owned()),
            post_logout_redirect_uri: Some("https://wiki.example/bye?a=1&b=2".to_owned()),
            state: Some(HOSTILE_ATTRIBUTE.to_owned()),
            username: Some("alice".to_owned()),
            ..logout_confirm_page()
        }
        .render()
        .expect("renders");
        assert!(!html.contains("<script"));
        let document = parse(&html);
        assert_forms_carry_csrf_token(&document, "csrf-out");
        assert_eq!(value_of(&document, "input[type=hidden][name=client_id]"), "wiki");
        assert_eq!(
            value_of(&document, "input[type=hidden][name=post_logout_redirect_uri]"),
            "https://wiki.example/bye?a=1&b=2"
        );
        assert_eq!(value_of(&document, "input[type=hidden][name=state]"), HOSTILE_ATTRIBUTE);
        assert!(text_of(&document, ".lead").contains("Wiki asked to sign you out"));
        assert!(text_of(&document, ".card").contains("signed in as alice"));
    }

    #[test]
    fn logged_out_page_says_so() {
        let html = LoggedOutPage { demo: true }.render().expect("renders");
        assert_common_layout(&html, true);
        let document = parse(&html);
        assert_eq!(text_of(&document, "h1"), "You are signed out.");
        assert_eq!(select(&document, "form").len(), 0);
    }

    #[test]
    fn home_page_signed_in_shows_name_and_sign_out_form() {
        let html = HomePage {
            demo: false,
            csrf_token: "csrf-home".to_owned(),
            username: Some("alice".to_owned()),
            name: Some("Alice <Admin> Example".to_owned()),
        }
        .render()
        .expect("renders");
        assert_common_layout(&html, false);
        let document = parse(&html);
        assert_eq!(text_of(&document, ".lead"), "Signed in as Alice <Admin> Example");
        assert!(!html.contains("<Admin>"), "the name is escaped");
        assert_eq!(select(&document, r#"form[method=post][action="/logout"]"#).len(), 1);
        assert_forms_carry_csrf_token(&document, "csrf-home");
        assert_eq!(
            select(&document, "button[type=submit][name=confirm][value=yes]").len(),
            1
        );

        let html = HomePage {
            demo: false,
            csrf_token: "csrf-home".to_owned(),
            username: Some("alice".to_owned()),
            name: None,
        }
        .render()
        .expect("renders");
        assert_eq!(text_of(&parse(&html), ".lead"), "Signed in as alice");
    }

    #[test]
    fn home_page_signed_out_has_no_form() {
        let html = HomePage {
            demo: false,
            csrf_token: "csrf-home".to_owned(),
            username: None,
            name: None,
        }
        .render()
        .expect("renders");
        assert_common_layout(&html, false);
        let document = parse(&html);
        assert_eq!(
            text_of(&document, ".lead"),
            "You are not signed in. Applications send you here to sign in."
        );
        assert_eq!(select(&document, "form").len(), 0);
        assert!(!html.contains("csrf-home"));
    }
}
