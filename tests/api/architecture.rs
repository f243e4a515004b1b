//! The layering in DESIGN.md, checked: domain and adapter code never names HTTP or
//! template types, and the HTTP edges never import each other.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn offenders(dirs: &[&str], forbidden: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for dir in dirs {
        let mut files = Vec::new();
        let path = root.join(dir);
        if path.is_dir() {
            rust_files(&path, &mut files);
        } else {
            files.push(root.join(format!("{dir}.rs")));
        }
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for needle in forbidden {
                if text.contains(needle) {
                    found.push(format!("{} uses {needle}", file.display()));
                }
            }
        }
    }
    found
}

#[test]
fn domain_code_knows_nothing_of_http_or_templates() {
    let domain = [
        "config",
        "clock",
        "crypto",
        "storage",
        "directory",
        "keys",
        "tokens",
        "authorization",
        "audit",
        "settings",
        "mfa",
        "ratelimit",
        "readiness",
        "private_files",
        "tls",
        "metrics",
    ];
    let found = offenders(
        &domain,
        &[
            "actix_web",
            "askama",
            "crate::http",
            "crate::oidc",
            "crate::web",
            "crate::app",
            "crate::admin",
        ],
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn http_edges_do_not_import_each_other() {
    let mut found = offenders(&["oidc"], &["crate::web", "crate::admin"]);
    found.extend(offenders(&["web"], &["crate::oidc", "crate::admin"]));
    found.extend(offenders(&["admin"], &["crate::oidc", "crate::web"]));
    found.extend(offenders(&["http"], &["crate::oidc", "crate::web"]));
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn domain_arrows_point_down() {
    let mut found = offenders(&["tokens"], &["crate::authorization"]);
    found.extend(offenders(&["keys"], &["crate::tokens", "crate::authorization"]));
    found.extend(offenders(
        &["storage", "directory"],
        &["crate::keys", "crate::tokens", "crate::authorization"],
    ));
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_directory_settings_have_one_live_home() {
    // Changed at /admin/ldap while running, they live in the directory handle; the file's
    // `[ldap]` only seeds them (at start, and for the admin pages when nothing is stored
    // yet) and serves the one-shot CLI commands.
    let seeders = ["app/startup.rs", "admin/ldap_settings.rs", "cli.rs"];
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let found: Vec<String> = files
        .iter()
        .filter(|file| !file.starts_with(root.join("config")) && !file.ends_with("config.rs"))
        .filter(|file| !seeders.iter().any(|seeder| file.ends_with(seeder)))
        .filter(|file| std::fs::read_to_string(file).unwrap().contains("config.ldap"))
        .map(|file| file.display().to_string())
        .collect();
    assert!(
        found.is_empty(),
        "read the live settings (directory.settings()) instead: {found:#?}"
    );
}

#[test]
fn the_metrics_module_builds_on_nothing_of_gatehouse() {
    // Domain code and the directory hold its handles, so it may import none of them.
    let found = offenders(&["metrics"], &["crate::"]);
    assert!(found.is_empty(), "{found:#?}");
}

/// The crates that generate and use keys are optimised in the dev profile too: unoptimised,
/// RSA key generation (every test app makes its keys) makes the suite many times slower.
#[test]
fn the_crypto_crates_are_optimised_in_the_dev_profile() {
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let manifest: toml::Table = manifest.parse().unwrap();
    let packages = manifest
        .get("profile")
        .and_then(|profile| profile.get("dev"))
        .and_then(|dev| dev.get("package"))
        .and_then(toml::Value::as_table)
        .cloned()
        .unwrap_or_default();
    let unoptimised: Vec<&str> = ["rsa", "num-bigint-dig", "aws-lc-rs", "aws-lc-sys"]
        .into_iter()
        .filter(|name| {
            packages
                .get(*name)
                .and_then(|package| package.get("opt-level"))
                .and_then(toml::Value::as_integer)
                != Some(3)
        })
        .collect();
    assert!(
        unoptimised.is_empty(),
        "[profile.dev.package.NAME] opt-level = 3 is missing for {unoptimised:?}"
    );
}
