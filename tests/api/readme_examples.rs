//! The README's examples, run as they stand: a new user copies them, so they must work.
//! Each example is the first ```sh block after a marker comment naming this file.

use serde_json::Value;

use crate::personal_access_tokens::create_token;
use crate::support::browser::Browser;
use crate::support::second_factor::sign_in_for_administration;
use crate::support::spawn_app::{spawn_app_with, TestApp};

/// The address the README's examples use for the issuer; the test runs them against its own.
const README_ISSUER: &str = "http://127.0.0.1:8080";

/// The shell block that follows the marker line `<!-- ... {marker} ... -->` in README.md.
fn readme_block_after(marker: &str) -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README.md");
    let start = readme
        .lines()
        .position(|line| line.starts_with("<!--") && line.contains(marker))
        .unwrap_or_else(|| panic!("README.md has no marker naming {marker}"));
    let mut lines = readme.lines().skip(start + 1);
    assert_eq!(lines.next(), Some("```sh"), "a ```sh block follows the marker");
    let block: Vec<&str> = lines.take_while(|line| *line != "```").collect();
    block.join("\n")
}

/// Runs `script` with bash (`set -euo pipefail`) in a fresh directory, with the README's
/// issuer replaced by the test server's.
async fn bash(app: &TestApp, script: &str, env: &[(&str, &str)]) -> (std::process::Output, String) {
    assert!(script.contains(README_ISSUER), "the example names the README's issuer");
    let script = format!("set -euo pipefail\n{}\n", script.replace(README_ISSUER, &app.address));
    let dir = tempfile::tempdir().expect("a directory to run in");
    let output = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .envs(env.iter().copied())
        .output()
        .await
        .expect("run bash");
    (output, script)
}

/// [`bash`], which must succeed; returns its standard output.
async fn run_readme_script(app: &TestApp, script: &str, env: &[(&str, &str)]) -> String {
    let (output, script) = bash(app, script, env).await;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "the README example failed ({}):\n{script}\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The JSON documents a script printed one after another.
fn json_documents(stdout: &str) -> Vec<Value> {
    serde_json::Deserializer::from_str(stdout)
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|error| panic!("the example printed something other than JSON ({error}): {stdout}"))
}

#[tokio::test]
async fn the_admin_api_example_works_with_an_administrators_token() {
    let app = spawn_app_with(|config| config.admin.groups = vec!["admins".into()]).await;
    let alice = Browser::new();
    sign_in_for_administration(&app, &alice, "alice", "alice-password").await;
    let admin_token = create_token(&app, &alice, "scripts", &["openid", "admin"], "30", "").await;

    let script = readme_block_after("tests/api/readme_examples.rs");
    // The reader's edit, where the example asks for it: one setting changed.
    let edit_line = script
        .lines()
        .find(|line| line.starts_with("# edit ldap.json"))
        .expect("the example says where to edit");
    let edited = script.replace(
        edit_line,
        r#"sed -i 's/"recheck_interval":[0-9]*/"recheck_interval":120/' ldap.json"#,
    );
    let stdout = run_readme_script(&app, &edited, &[("GATEHOUSE_ADMIN_PAT", admin_token.as_str())]).await;
    let documents = json_documents(&stdout);
    assert_eq!(
        documents.len(),
        3,
        "session, connection report, saved settings: {stdout}"
    );
    assert_eq!(documents[0]["username"], "alice", "{stdout}");
    assert_eq!(documents[1]["ok"], true, "the connection report passes: {stdout}");
    assert_eq!(documents[2]["recheck_interval"], 120, "the edit was saved: {stdout}");
    assert_eq!(documents[2]["version"], 2, "the settings were saved once: {stdout}");
    assert_eq!(app.state.directory.settings().recheck_interval, 120);

    // Without a token the same script stops at its first request (curl -f).
    let (refused, _) = bash(&app, &script, &[("GATEHOUSE_ADMIN_PAT", "gatehouse_pat_not-a-token")]).await;
    assert!(!refused.status.success(), "a bad token is refused");
}
