//! A person's browser, driven over HTTP: a cookie jar, no automatic redirects, and the
//! sign-in and consent forms filled in from the pages Gatehouse renders.

use reqwest::redirect::Policy;
use reqwest::StatusCode;
use scraper::{Html, Selector};

pub struct Browser {
    pub http: reqwest::Client,
}

/// What a form page carries: its hidden fields.
#[derive(Debug, Clone)]
pub struct FormPage {
    pub status: StatusCode,
    pub body: String,
    pub csrf_token: String,
    pub request: String,
}

pub fn hidden_field(body: &str, name: &str) -> Option<String> {
    let document = Html::parse_document(body);
    let selector = Selector::parse(&format!("input[name=\"{name}\"]")).expect("valid selector");
    document
        .select(&selector)
        .next()
        .and_then(|input| input.value().attr("value").map(str::to_string))
}

/// The value of `name` in the query of a URL.
pub fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .ok()?
        .query_pairs()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

impl Browser {
    pub fn new() -> Browser {
        Self::with(reqwest::Client::builder())
    }

    /// A browser built from `builder` (one that trusts a test CA, say), with the cookie
    /// jar and without automatic redirects.
    pub fn with(builder: reqwest::ClientBuilder) -> Browser {
        Browser {
            http: builder
                .redirect(Policy::none())
                .cookie_store(true)
                .build()
                .expect("http client"),
        }
    }

    /// GETs `url` and returns the status and the Location header, if any.
    pub async fn visit(&self, url: &str) -> (StatusCode, Option<String>, String) {
        let response = self.http.get(url).send().await.expect("GET");
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().expect("ascii location").to_string());
        (status, location, response.text().await.unwrap_or_default())
    }

    pub async fn form_page(&self, url: &str) -> FormPage {
        let (status, _, body) = self.visit(url).await;
        FormPage {
            status,
            csrf_token: hidden_field(&body, "csrf_token").unwrap_or_default(),
            request: hidden_field(&body, "request").unwrap_or_default(),
            body,
        }
    }

    /// POSTs a form and returns status, Location and body.
    pub async fn post_form(&self, url: &str, fields: &[(&str, &str)]) -> (StatusCode, Option<String>, String) {
        let response = self.http.post(url).form(fields).send().await.expect("POST");
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().expect("ascii location").to_string());
        (status, location, response.text().await.unwrap_or_default())
    }

    /// Fills in the sign-in page at `login_url` (with every hidden field it carries, as a
    /// browser would); returns status, Location, body.
    pub async fn submit_login(
        &self,
        login_url: &str,
        username: &str,
        password: &str,
    ) -> (StatusCode, Option<String>, String) {
        let page = self.form_page(login_url).await;
        assert_eq!(page.status, StatusCode::OK, "login page: {}", page.body);
        let action = login_url.split('?').next().expect("url");
        let next = hidden_field(&page.body, "next").unwrap_or_default();
        let mut fields = vec![
            ("request", page.request.as_str()),
            ("csrf_token", page.csrf_token.as_str()),
            ("username", username),
            ("password", password),
        ];
        if !next.is_empty() {
            fields.push(("next", next.as_str()));
        }
        self.post_form(action, &fields).await
    }

    /// Answers the consent page at `consent_url`; returns the Location.
    pub async fn submit_consent(&self, consent_url: &str, decision: &str) -> String {
        let page = self.form_page(consent_url).await;
        assert_eq!(page.status, StatusCode::OK, "consent page: {}", page.body);
        let action = consent_url.split('?').next().expect("url");
        let (status, location, body) = self
            .post_form(
                action,
                &[
                    ("request", &page.request),
                    ("csrf_token", &page.csrf_token),
                    ("decision", decision),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::SEE_OTHER, "consent answer: {body}");
        location.expect("consent redirects")
    }

    /// Follows an authorization request through sign-in (when asked) and consent (when
    /// asked, approving), and returns the final redirect to the application.
    pub async fn authorize(&self, authorize_url: &str, username: &str, password: &str) -> String {
        let (status, location, body) = self.visit(authorize_url).await;
        assert_eq!(status, StatusCode::FOUND, "authorize: {body}");
        let mut location = location.expect("authorize redirects");
        if location.contains("/login?") {
            let (status, next, body) = self.submit_login(&location, username, password).await;
            assert_eq!(status, StatusCode::SEE_OTHER, "login did not succeed: {body}");
            location = next.expect("login redirects");
        }
        if location.contains("/consent?") {
            location = self.submit_consent(&location, "allow").await;
        }
        location
    }
}
