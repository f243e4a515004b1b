//! Real headless Chromium for the browser tests, driven through ChromeDriver with a
//! minimal W3C WebDriver client (plain JSON over reqwest).
//!
//! [`WebDriver::start`] runs `chromedriver` on a free loopback port as a child process,
//! waits for `/status` to report ready and opens a session of `/usr/bin/chromium` with a
//! fresh profile in a temporary directory. Dropping the [`WebDriver`] deletes the session
//! (which closes Chromium) and kills ChromeDriver.
//!
//! Screenshots ([`WebDriver::save_screenshot`]) go to that temporary directory. It is
//! removed when the test passes; when the test panics it is kept, together with a last
//! screenshot and the HTML of the page the browser was on, and its path is printed.
//!
//! Chromium and ChromeDriver come from Debian's `chromium` and `chromium-driver`
//! packages, which `scripts/test.sh` installs. Elsewhere, point
//! `GATEHOUSE_TEST_CHROMIUM` and `GATEHOUSE_TEST_CHROMEDRIVER` at the binaries.

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// The key under which W3C WebDriver returns an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long ChromeDriver may take to come up, and the waits for pages and elements.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(20);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// A single WebDriver command; page loads are bounded by the session's own timeout first.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// The Chromium switches: headless, runnable as root in CI, and quiet on a closed network.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
];

#[derive(Debug, thiserror::Error)]
pub enum WebDriverError {
    #[error("the request to ChromeDriver failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("ChromeDriver answered {status} `{error}`: {message}")]
    Command {
        status: u16,
        error: String,
        message: String,
    },
    #[error("ChromeDriver's answer is not what WebDriver specifies: {0}")]
    Malformed(String),
}

impl WebDriverError {
    fn is_no_such_element(&self) -> bool {
        matches!(self, WebDriverError::Command { error, .. } if error == "no such element")
    }
}

/// One ChromeDriver process with one Chromium session.
pub struct WebDriver {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT`
    driver_url: String,
    /// `None` once the session is deleted.
    session_id: Option<String>,
    driver: Child,
    /// The profile (under `profile/`), ChromeDriver's output and the screenshots.
    workdir: Option<tempfile::TempDir>,
}

/// An element of the current page.
pub struct Element<'d> {
    driver: &'d WebDriver,
    id: String,
}

fn tool_path(variable: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    assert!(
        path.is_file(),
        "{} is missing, so the browser tests cannot run. Run `bash scripts/test.sh` once \
         (it installs the Debian packages chromium and chromium-driver), or set {variable} \
         to the binary.",
        path.display(),
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

fn webdriver_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(COMMAND_TIMEOUT)
        .build()
        .expect("http client for ChromeDriver")
}

/// Sends one command and returns the `value` of the answer.
async fn send_command(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<Value>,
) -> Result<Value, WebDriverError> {
    let mut request = http.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status();
    let text = response.text().await?;
    let mut answer: Value = serde_json::from_str(&text)
        .map_err(|e| WebDriverError::Malformed(format!("{e} in {}", truncate(&text, 500))))?;
    let value = answer.get_mut("value").map(Value::take).unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(value);
    }
    Err(WebDriverError::Command {
        status: status.as_u16(),
        error: value["error"].as_str().unwrap_or("unknown error").to_string(),
        message: value["message"].as_str().unwrap_or_default().to_string(),
    })
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// Waits until ChromeDriver answers `/status` with `ready: true`.
async fn wait_until_ready(http: &reqwest::Client, driver_url: &str, driver: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let status_url = format!("{driver_url}/status");
    loop {
        if let Ok(Some(exit)) = driver.try_wait() {
            return Err(format!("chromedriver exited at start-up ({exit})"));
        }
        let answer = send_command(http, reqwest::Method::GET, &status_url, None).await;
        if let Ok(value) = &answer {
            // Ready, and from our process: one that failed to bind would have exited.
            if value["ready"] == Value::Bool(true) && matches!(driver.try_wait(), Ok(None)) {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!("chromedriver did not become ready: last answer {answer:?}"));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

impl WebDriver {
    /// Starts ChromeDriver and opens a headless Chromium session. Panics with a hint to
    /// run `scripts/test.sh` when Chromium or ChromeDriver is not installed.
    pub async fn start() -> WebDriver {
        let chromium = tool_path("GATEHOUSE_TEST_CHROMIUM", CHROMIUM);
        let chromedriver = tool_path("GATEHOUSE_TEST_CHROMEDRIVER", CHROMEDRIVER);
        let workdir = tempfile::Builder::new()
            .prefix("gatehouse-browser-")
            .tempdir()
            .expect("a temporary directory for the browser");
        let profile = workdir.path().join("profile");
        std::fs::create_dir(&profile).expect("create the browser profile directory");
        let http = webdriver_client();

        // The port is free when chosen but another process could take it before
        // ChromeDriver binds it; then ChromeDriver exits and we try another one.
        let mut failures = Vec::new();
        let (driver, driver_url) = loop {
            let port = free_port();
            let driver_url = format!("http://127.0.0.1:{port}");
            let log = File::create(workdir.path().join("chromedriver.log")).expect("create chromedriver.log");
            let mut driver = Command::new(&chromedriver)
                .arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("share chromedriver.log"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", chromedriver.display()));
            match wait_until_ready(&http, &driver_url, &mut driver).await {
                Ok(()) => break (driver, driver_url),
                Err(failure) => {
                    let _ = driver.kill();
                    let _ = driver.wait();
                    let log = std::fs::read_to_string(workdir.path().join("chromedriver.log")).unwrap_or_default();
                    failures.push(format!("{failure}; its output: {log}"));
                    assert!(failures.len() < 3, "ChromeDriver did not start: {failures:#?}");
                }
            }
        };

        let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let capabilities = json!({
            "capabilities": {
                "alwaysMatch": {
                    "goog:chromeOptions": {
                        "binary": chromium.display().to_string(),
                        "args": args,
                    },
                    "pageLoadStrategy": "normal",
                    "timeouts": { "implicit": 0, "pageLoad": 30_000, "script": 10_000 },
                }
            }
        });
        let mut browser = WebDriver {
            http,
            driver_url,
            session_id: None,
            driver,
            workdir: Some(workdir),
        };
        let session = send_command(
            &browser.http,
            reqwest::Method::POST,
            &format!("{}/session", browser.driver_url),
            Some(capabilities),
        )
        .await
        .unwrap_or_else(|e| panic!("Chromium did not start through ChromeDriver: {e}"));
        let session_id = session["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("a new session has an id: {session}"));
        browser.session_id = Some(session_id.to_string());
        browser
    }

    fn session_url(&self, path: &str) -> String {
        let id = self.session_id.as_deref().expect("the session is open until drop");
        format!("{}/session/{id}{path}", self.driver_url)
    }

    async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<Value, WebDriverError> {
        send_command(&self.http, method, &self.session_url(path), body).await
    }

    async fn get(&self, path: &str) -> Value {
        self.command(reqwest::Method::GET, path, None)
            .await
            .unwrap_or_else(|e| panic!("WebDriver GET {path}: {e}"))
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.command(reqwest::Method::POST, path, Some(body))
            .await
            .unwrap_or_else(|e| panic!("WebDriver POST {path}: {e}"))
    }

    /// Loads `url` and waits for the page (after any redirects) to finish loading.
    pub async fn navigate(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    pub async fn current_url(&self) -> String {
        let value = self.get("/url").await;
        value
            .as_str()
            .unwrap_or_else(|| panic!("the current URL is a string: {value}"))
            .to_string()
    }

    pub async fn title(&self) -> String {
        self.get("/title").await.as_str().unwrap_or_default().to_string()
    }

    /// The HTML of the current page as the browser serialises it.
    pub async fn page_source(&self) -> String {
        self.get("/source").await.as_str().unwrap_or_default().to_string()
    }

    /// The rendered text of the whole page.
    pub async fn page_text(&self) -> String {
        self.find("body").await.text().await
    }

    /// Runs `script` (a function body) in the page and returns its result.
    pub async fn execute(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] }))
            .await
    }

    /// The first element matching `css`, or `None`.
    pub async fn try_find(&self, css: &str) -> Option<Element<'_>> {
        let body = json!({ "using": "css selector", "value": css });
        match self.command(reqwest::Method::POST, "/element", Some(body)).await {
            Ok(value) => Some(self.element(value)),
            Err(e) if e.is_no_such_element() => None,
            Err(e) => panic!("WebDriver find {css:?}: {e}"),
        }
    }

    /// The first element matching `css`; panics with the page's URL and text when none does.
    pub async fn find(&self, css: &str) -> Element<'_> {
        match self.try_find(css).await {
            Some(element) => element,
            None => panic!("no element matches {css:?} on {}", self.describe_page().await),
        }
    }

    /// Every element matching `css`, in document order.
    pub async fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let value = self
            .post("/elements", json!({ "using": "css selector", "value": css }))
            .await;
        match value {
            Value::Array(items) => items.into_iter().map(|item| self.element(item)).collect(),
            other => panic!("find elements answers a list: {other}"),
        }
    }

    fn element(&self, reference: Value) -> Element<'_> {
        let id = reference[ELEMENT_KEY]
            .as_str()
            .unwrap_or_else(|| panic!("an element reference: {reference}"))
            .to_string();
        Element { driver: self, id }
    }

    /// Polls until an element matches `css`.
    pub async fn wait_for_element(&self, css: &str) -> Element<'_> {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            if let Some(element) = self.try_find(css).await {
                return element;
            }
            if Instant::now() > deadline {
                panic!(
                    "no element matched {css:?} within {WAIT_TIMEOUT:?}; the browser is on {}",
                    self.describe_page().await
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Polls until the current URL satisfies `arrived`, and returns it.
    pub async fn wait_for_url(&self, what: &str, arrived: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT_TIMEOUT;
        loop {
            let url = self.current_url().await;
            if arrived(&url) {
                return url;
            }
            if Instant::now() > deadline {
                panic!(
                    "the browser did not reach {what} within {WAIT_TIMEOUT:?}; it is on {}",
                    self.describe_page().await
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// The URL and the start of the text of the current page, for failure messages.
    pub async fn describe_page(&self) -> String {
        let url = self
            .command(reqwest::Method::GET, "/url", None)
            .await
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .unwrap_or_else(|e| format!("(no URL: {e})"));
        let text = match self
            .command(
                reqwest::Method::POST,
                "/execute/sync",
                Some(json!({ "script": "return document.body ? document.body.innerText : '';", "args": [] })),
            )
            .await
        {
            Ok(value) => value.as_str().unwrap_or_default().to_string(),
            Err(e) => format!("(no text: {e})"),
        };
        format!("{url} showing:\n{}", truncate(&text, 2000))
    }

    /// Saves a PNG of the viewport as `<name>.png` in the browser's temporary directory
    /// (kept only if the test fails) and returns its path.
    pub async fn save_screenshot(&self, name: &str) -> PathBuf {
        let png = decode_screenshot(&self.get("/screenshot").await);
        let path = self.workdir().join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }

    fn workdir(&self) -> &Path {
        self.workdir
            .as_ref()
            .expect("the work directory lives until drop")
            .path()
    }
}

fn decode_screenshot(value: &Value) -> Vec<u8> {
    let encoded = value
        .as_str()
        .unwrap_or_else(|| panic!("a screenshot is a base64 string: {value}"));
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("a screenshot is valid base64")
}

impl Element<'_> {
    fn path(&self, what: &str) -> String {
        format!("/element/{}/{what}", self.id)
    }

    /// Types `text` into the element (after focusing it).
    pub async fn send_keys(&self, text: &str) {
        self.driver.post(&self.path("value"), json!({ "text": text })).await;
    }

    pub async fn clear(&self) {
        self.driver.post(&self.path("clear"), json!({})).await;
    }

    pub async fn click(&self) {
        self.driver.post(&self.path("click"), json!({})).await;
    }

    /// The rendered text of the element.
    pub async fn text(&self) -> String {
        self.driver
            .get(&self.path("text"))
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// A DOM property such as `value` of an input; `None` when it is null.
    pub async fn property(&self, name: &str) -> Option<String> {
        match self.driver.get(&self.path(&format!("property/{name}"))).await {
            Value::Null => None,
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        }
    }
}

/// What drop does with the session, on a thread of its own: the test's runtime may be
/// the one being dropped, and a reqwest client's pooled connections belong to the
/// runtime that opened them, so this uses a fresh runtime and a fresh client.
fn close_session(driver_url: &str, session_id: &str, failure_dir: Option<&Path>) {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("cannot close the Chromium session: no runtime: {e}");
            return;
        }
    };
    runtime.block_on(async {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        let session_url = format!("{driver_url}/session/{session_id}");
        if let Some(dir) = failure_dir {
            let get = |path: &'static str| {
                let url = format!("{session_url}{path}");
                let http = &http;
                async move { send_command(http, reqwest::Method::GET, &url, None).await }
            };
            if let Ok(value) = get("/screenshot").await {
                let _ = std::fs::write(dir.join("at-failure.png"), decode_screenshot(&value));
            }
            let url = get("/url").await.ok();
            if let Ok(Value::String(source)) = get("/source").await {
                let url = url.as_ref().and_then(Value::as_str).unwrap_or("unknown URL");
                let _ = std::fs::write(dir.join("at-failure.html"), format!("<!-- {url} -->\n{source}"));
            }
        }
        if let Err(e) = send_command(&http, reqwest::Method::DELETE, &session_url, None).await {
            eprintln!("could not delete the Chromium session: {e}");
        }
    });
}

impl Drop for WebDriver {
    fn drop(&mut self) {
        let failing = std::thread::panicking();
        if let Some(session_id) = self.session_id.take() {
            let driver_url = self.driver_url.clone();
            let failure_dir = failing.then(|| self.workdir().to_path_buf());
            let closer = std::thread::spawn(move || close_session(&driver_url, &session_id, failure_dir.as_deref()));
            if closer.join().is_err() {
                eprintln!("closing the Chromium session panicked");
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        if let Some(workdir) = self.workdir.take() {
            if failing {
                let _ = std::fs::remove_dir_all(workdir.path().join("profile"));
                let kept = workdir.keep();
                eprintln!(
                    "browser test failed: screenshots, the last page and ChromeDriver's output are in {}",
                    kept.display()
                );
            }
        }
    }
}
