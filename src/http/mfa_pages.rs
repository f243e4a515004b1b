//! The second factor's pages: the code prompt, enrolment, the recovery codes shown once,
//! and the account page. Like [`super::pages`], every value is escaped by askama and the
//! structs carrying a CSRF token, a secret or recovery codes do not implement `Debug`.

use askama::Template;

/// `/login/totp`: a code from the authenticator app, or a recovery code.
#[derive(Clone, Template)]
#[template(path = "mfa/totp.html")]
pub struct TotpLoginPage {
    pub demo: bool,
    /// Id of the pending authorization request, posted back as `request` (may be empty).
    pub request_id: String,
    pub csrf_token: String,
    pub client_name: String,
    pub username: String,
    /// How many digits the codes have.
    pub digits: u32,
    pub error: Option<String>,
}

/// `/login/totp/enrol` and `/account/totp/enrol`: the QR code, the secret in groups, the
/// `otpauth://` link, and a form to confirm with a first code.
#[derive(Clone, Template)]
#[template(path = "mfa/enrol.html")]
pub struct TotpEnrolPage {
    pub demo: bool,
    /// Where the confirmation form posts.
    pub action: String,
    pub request_id: String,
    pub csrf_token: String,
    pub username: String,
    pub account_label: String,
    pub qr_png_base64: String,
    pub secret_grouped: String,
    pub otpauth_url: String,
    pub digits: u32,
    pub error: Option<String>,
}

/// The ten recovery codes, shown once after enrolment or regeneration.
#[derive(Clone, Template)]
#[template(path = "mfa/recovery_codes.html")]
pub struct RecoveryCodesPage {
    pub demo: bool,
    /// One sentence above the codes.
    pub intro: String,
    pub codes: Vec<String>,
    /// Where "continue" leads (a local URL).
    pub continue_url: String,
}

/// `/account`: the signed-in person's second factor.
#[derive(Clone, Template)]
#[template(path = "account/overview.html")]
pub struct AccountPage {
    pub demo: bool,
    pub csrf_token: String,
    pub username: String,
    pub name: Option<String>,
    pub totp_enrolled: bool,
    pub remaining_recovery_codes: usize,
    /// Whether policy requires this person to have a second factor.
    pub required: bool,
    /// Whether the person administers Gatehouse (a new authenticator then needs a setup
    /// link from another administrator).
    pub administrator: bool,
    pub notice: Option<String>,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = r#""><script>alert('x')</script>"#;

    #[test]
    fn the_code_page_escapes_and_carries_both_forms() {
        let html = TotpLoginPage {
            demo: false,
            request_id: "req".into(),
            csrf_token: "tok".into(),
            client_name: HOSTILE.into(),
            username: "alice".into(),
            digits: 6,
            error: Some(HOSTILE.into()),
        }
        .render()
        .expect("renders");
        assert!(!html.contains("<script>"));
        assert_eq!(html.matches(r#"name="csrf_token" value="tok""#).count(), 2);
        assert!(html.contains(r#"name="method" value="recovery""#));
    }

    #[test]
    fn the_enrolment_page_shows_the_image_secret_and_link() {
        let html = TotpEnrolPage {
            demo: false,
            action: "/login/totp/enrol".into(),
            request_id: String::new(),
            csrf_token: "tok".into(),
            username: "alice".into(),
            account_label: "alice".into(),
            qr_png_base64: "iVBORw0KGgo=".into(),
            secret_grouped: "ABCD EFGH".into(),
            otpauth_url: "otpauth://totp/Gatehouse:alice?secret=ABCDEFGH".into(),
            digits: 6,
            error: None,
        }
        .render()
        .expect("renders");
        assert!(html.contains(r#"src="data:image/png;base64,iVBORw0KGgo=""#));
        assert!(html.contains(r#"<code class="totp-secret">ABCD EFGH</code>"#));
        assert!(html.contains("otpauth://totp/Gatehouse:alice?secret=ABCDEFGH"));
    }

    #[test]
    fn the_account_page_offers_what_fits_the_status() {
        let page = |enrolled: bool| AccountPage {
            demo: false,
            csrf_token: "tok".into(),
            username: "alice".into(),
            name: None,
            totp_enrolled: enrolled,
            remaining_recovery_codes: 7,
            required: false,
            administrator: true,
            notice: None,
            error: None,
        };
        let on = page(true).render().expect("renders");
        assert!(on.contains("/account/totp/reset") && on.contains("/account/recovery-codes"));
        assert!(on.contains(">7<"));
        assert!(on.contains("setup link from another administrator"), "{on}");
        let off = page(false).render().expect("renders");
        assert!(off.contains("/account/totp/enrol") && !off.contains("/account/totp/reset"));
    }
}
