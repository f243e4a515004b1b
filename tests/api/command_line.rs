//! The command line's comforts: `--version`, shell completions and the man page generated
//! from the clap definitions, and `healthcheck` against a running server.

use clap::CommandFactory;

use crate::support::database::fresh_test_database_url;
use crate::support::gatehouse_process::{free_port, run, write_config, write_file, ServeProcess};

/// Every command path, `gatehouse clients add` included, from the definitions themselves.
fn command_paths() -> Vec<String> {
    fn walk(command: &clap::Command, path: &str, out: &mut Vec<String>) {
        for sub in command.get_subcommands().filter(|c| !c.is_hide_set()) {
            let path = format!("{path} {}", sub.get_name());
            out.push(path.clone());
            walk(sub, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(&gatehouse::cli::Cli::command(), "gatehouse", &mut out);
    out
}

#[test]
fn version_names_the_package_version() {
    let outcome = run(None, &["--version"]);
    assert!(outcome.ok(), "{outcome:?}");
    assert_eq!(
        outcome.stdout.trim(),
        format!("gatehouse {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn bash_completion_is_valid_and_completes_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let outcome = run(None, &["completions", "bash"]);
    assert!(outcome.ok(), "{outcome:?}");
    let script = dir.path().join("gatehouse.bash");
    write_file(&script, &outcome.stdout);
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(syntax.status.success(), "{}", String::from_utf8_lossy(&syntax.stderr));

    // What bash does on TAB: set COMP_WORDS and COMP_CWORD, call the registered function.
    let complete = |words: &str, current: usize| {
        let probe = format!(
            r#"source "{script}"
function_name=$(complete -p gatehouse | sed -E 's/.*-F ([^ ]+).*/\1/')
COMP_WORDS=({words})
COMP_CWORD={current}
COMP_LINE="{words}"
COMP_POINT=${{#COMP_LINE}}
"$function_name" gatehouse "${{COMP_WORDS[$COMP_CWORD]}}" "${{COMP_WORDS[$COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
            script = script.display()
        );
        let output = std::process::Command::new("bash")
            .arg("-c")
            .arg(probe)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let top: Vec<String> = complete("gatehouse ''", 1).lines().map(str::to_string).collect();
    for name in [
        "serve",
        "migrate",
        "backup",
        "healthcheck",
        "completions",
        "manpage",
        "clients",
    ] {
        assert!(top.iter().any(|word| word == name), "{name} missing from {top:?}");
    }
    let partial = complete("gatehouse ba", 1);
    assert_eq!(partial.trim(), "backup");
    let nested = complete("gatehouse clients ''", 2);
    for name in ["add", "list", "remove"] {
        assert!(nested.lines().any(|word| word == name), "{name} missing from {nested}");
    }
    assert!(complete("gatehouse migrate --c", 2)
        .lines()
        .any(|word| word == "--check"));
}

#[test]
fn zsh_and_fish_completions_name_the_subcommands() {
    for shell in ["zsh", "fish"] {
        let outcome = run(None, &["completions", shell]);
        assert!(outcome.ok(), "{outcome:?}");
        for name in ["backup", "healthcheck", "second-factor", "setup-link"] {
            assert!(outcome.stdout.contains(name), "{shell}: {name}");
        }
    }
    let wrong = run(None, &["completions", "tcsh"]);
    assert_eq!(wrong.code, Some(2), "a usage error: {wrong:?}");
}

#[test]
fn the_man_page_renders_and_names_every_command() {
    let outcome = run(None, &["manpage"]);
    assert!(outcome.ok(), "{outcome:?}");
    let roff = outcome.stdout;
    assert!(
        roff.starts_with(".ie \\n(.g .ds Aq") || roff.contains(".TH gatehouse 1"),
        "{roff}"
    );
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH COMMANDS"] {
        assert!(roff.contains(section), "{section}");
    }
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("gatehouse.1");
    write_file(&page, &roff);
    // Rendered as `man` would, with groff's warnings turned on (as lintian does).
    let rendered = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-rLL=200n"])
        .arg(&page)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("groff (package groff-base) renders man pages");
    let warnings = String::from_utf8_lossy(&rendered.stderr);
    assert!(rendered.status.success() && warnings.is_empty(), "{warnings}");
    // Plain text: drop the overstrike bold and underline that grotty emits.
    let text: String = {
        let raw = String::from_utf8_lossy(&rendered.stdout).into_owned();
        let mut out = String::new();
        for c in raw.chars() {
            if c == '\u{8}' {
                out.pop();
            } else {
                out.push(c);
            }
        }
        out
    };
    let paths = command_paths();
    assert!(paths.len() > 15, "{paths:?}");
    for path in &paths {
        assert!(text.contains(path.as_str()), "the man page does not name `{path}`");
    }
}

#[tokio::test]
async fn healthcheck_exits_zero_only_when_healthz_answers() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_test_database_url(dir.path()).await;
    let listen = format!("127.0.0.1:{}", free_port());
    let config = write_config(dir.path(), &listen, &database_url, "").await;

    let down = run(Some(&config), &["healthcheck"]);
    assert_eq!(down.code, Some(1), "nothing listens yet: {down:?}");
    assert!(down.stderr.contains("cannot connect"), "{}", down.stderr);

    let server = ServeProcess::start(&config);
    let up = run(Some(&config), &["healthcheck"]);
    assert!(up.ok(), "{up:?}");
    assert!(up.stdout.contains("answered 200"), "{}", up.stdout);

    let url = server.url("/healthz");
    assert!(run(None, &["healthcheck", "--url", &url]).ok());
    let missing = run(None, &["healthcheck", "--url", &server.url("/no-such-page")]);
    assert_eq!(missing.code, Some(1));
    assert!(missing.stderr.contains("answered 404"), "{}", missing.stderr);
    let tls = run(None, &["healthcheck", "--url", "https://127.0.0.1/healthz"]);
    assert!(!tls.ok() && tls.stderr.contains("plain http"), "{}", tls.stderr);
}
