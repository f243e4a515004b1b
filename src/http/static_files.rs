//! The static files of the browser pages (stylesheet, logo), compiled into the binary.
//!
//! They are served under `/static/{name}` from a fixed allow-list: a name that is not
//! listed here is not served, so no request can reach the file system.

/// The stylesheet linked by every page as `/static/app.css`.
const APP_CSS: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/static/app.css"));

/// The logo (and favicon) linked by every page as `/static/logo.svg`.
const LOGO_SVG: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/static/logo.svg"));

/// The names [`static_file`] serves, for whoever registers routes or sets cache headers.
pub const STATIC_FILE_NAMES: [&str; 2] = ["app.css", "logo.svg"];

/// The bytes and the `Content-Type` of the static file called `name` (the part of the
/// path after `/static/`), or `None` when `name` is not on the allow-list.
pub fn static_file(name: &str) -> Option<(&'static [u8], &'static str)> {
    match name {
        "app.css" => Some((APP_CSS, "text/css; charset=utf-8")),
        "logo.svg" => Some((LOGO_SVG, "image/svg+xml")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(name: &str) -> String {
        let (bytes, _) = static_file(name).expect("file on the allow-list");
        String::from_utf8(bytes.to_vec()).expect("static text files are UTF-8")
    }

    #[test]
    fn static_file_serves_stylesheet_as_css() {
        let (bytes, content_type) = static_file("app.css").expect("app.css is served");
        assert_eq!(content_type, "text/css; charset=utf-8");
        assert!(text_of("app.css").contains(".button-primary"));
        assert!(!bytes.is_empty());
    }

    #[test]
    fn static_file_serves_logo_as_svg() {
        let (_, content_type) = static_file("logo.svg").expect("logo.svg is served");
        assert_eq!(content_type, "image/svg+xml");
        assert!(text_of("logo.svg").trim_start().starts_with("<svg"));
    }

    #[test]
    fn static_file_rejects_names_off_the_allow_list() {
        for name in [
            "",
            "app.CSS",
            "App.css",
            "app.css/",
            "/app.css",
            "./app.css",
            "../Cargo.toml",
            "../static/app.css",
            "..%2Fapp.css",
            "app.css\0",
            "logo.svg?x=1",
            "index.html",
        ] {
            assert!(static_file(name).is_none(), "{name:?} must not be served");
        }
    }

    #[test]
    fn static_file_names_list_matches_the_allow_list() {
        for name in STATIC_FILE_NAMES {
            assert!(static_file(name).is_some(), "{name} is listed but not served");
        }
    }

    #[test]
    fn static_files_load_nothing_from_other_origins() {
        // The Content-Security-Policy allows only 'self' for styles and images, so the
        // files must not pull in fonts, imports or scripts from elsewhere.
        let css = text_of("app.css").to_ascii_lowercase();
        assert!(!css.contains("@import"));
        assert!(!css.contains("url("));
        assert!(!css.contains("http:") && !css.contains("https:"));

        let svg = text_of("logo.svg").to_ascii_lowercase();
        assert!(!svg.contains("<script"));
        assert!(!svg.contains("href"));
        assert!(!svg.contains("<foreignobject"));
        assert!(!svg.contains(" on"), "no event-handler attributes in the logo");
    }
}
