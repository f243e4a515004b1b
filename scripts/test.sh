#!/usr/bin/env bash
# Runs every check CI runs: formatting, banned dependency versions (cargo-deny), clippy,
# the unit and integration tests on SQLite, and the integration tests again on PostgreSQL.
#
#   bash scripts/test.sh
#
# On a fresh Debian 12 machine with Rust it first installs what the tests need (slapd,
# ldap-utils, PostgreSQL, Chromium and ChromeDriver, curl for the README's examples, and
# lintian and systemd for the package check) with apt, through sudo unless run as root, and
# cargo-deny (and, in the package check, cargo-deb) with cargo install when it is missing.
# PostgreSQL: set
# GATEHOUSE_TEST_POSTGRES_URL to a maintenance URL of a server of your own (the tests create
# one database per test through it), or leave it unset and a throwaway server is started on
# 127.0.0.1 and removed at the end.
set -euo pipefail

cd "$(dirname "$0")/.."
GH_SCRIPT_NAME=test.sh
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh
# shellcheck source=scripts/lib/postgres.sh
. scripts/lib/postgres.sh

cleanup() {
    stop_throwaway_postgres
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started=$SECONDS
phases_done=()

# phase NAME CMD...: run one step, time it, print one summary line, stop at the first failure.
phase() {
    local name=$1 begin=$SECONDS
    shift
    say "== $name"
    if "$@"; then
        say "ok   $name ($((SECONDS - begin))s)"
        phases_done+=("$name")
    else
        local rc=$?
        say "FAIL $name ($((SECONDS - begin))s, exit code $rc)"
        if [ "${#phases_done[@]}" -gt 0 ]; then
            say "passed before the failure: ${phases_done[*]}"
        fi
        exit "$rc"
    fi
}

install_system_packages() {
    # lintian, systemd (systemd-analyze) and groff-base: the package check; curl: the
    # README's examples.
    local packages=(slapd ldap-utils chromium chromium-driver curl lintian systemd groff-base)
    if ! postgres_bin_dir >/dev/null; then
        packages+=(postgresql)
    fi
    apt_install_missing "${packages[@]}"
    case " $GH_APT_INSTALLED " in
        *" slapd "*) stop_packaged_slapd ;;
    esac
    local tool
    for tool in slapd slapadd ldapsearch chromium chromedriver curl lintian systemd-analyze groff; do
        command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || die "$tool is still missing"
    done
    postgres_bin_dir >/dev/null || die "the PostgreSQL server binaries are still missing"
}

# cargo-deny checks deny.toml's bans; this version is installed when none is.
CARGO_DENY_VERSION=0.20.2

check_rust_tools() {
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust (rustup) first"
    cargo fmt --version >/dev/null 2>&1 || die "rustfmt is missing: rustup component add rustfmt"
    cargo clippy --version >/dev/null 2>&1 || die "clippy is missing: rustup component add clippy"
    if ! cargo deny --version >/dev/null 2>&1; then
        say "installing cargo-deny $CARGO_DENY_VERSION with cargo install (a few minutes, once)"
        # Its release profile asks for fat LTO and one codegen unit: minutes more of
        # compiling for a tool that reads one lock file.
        CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
            cargo install --locked --quiet cargo-deny --version "$CARGO_DENY_VERSION" ||
            die "cargo install cargo-deny failed"
    fi
    say "$(cargo deny --version)"
}

locked=()
if [ -f Cargo.lock ]; then
    locked=(--locked)
fi
if [ "${CI:-}" = "true" ]; then
    # A fresh clone builds everything once: incremental artefacts would only cost time.
    export CARGO_INCREMENTAL=0
fi
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-auto}

run_sqlite_tests() {
    env -u GATEHOUSE_TEST_POSTGRES_URL cargo test --workspace "${locked[@]}"
}

run_postgres_tests() {
    local url=${GATEHOUSE_TEST_POSTGRES_URL:-}
    if [ -z "$url" ]; then
        start_throwaway_postgres
        say "throwaway PostgreSQL on 127.0.0.1:$GH_PG_PORT (data in $GH_PG_DIR)"
        url=$GH_PG_URL
    else
        say "using PostgreSQL from GATEHOUSE_TEST_POSTGRES_URL"
    fi
    local rc=0
    GATEHOUSE_TEST_POSTGRES_URL=$url cargo test "${locked[@]}" --test api || rc=$?
    stop_throwaway_postgres
    return "$rc"
}

phase "system packages" install_system_packages
phase "rust toolchain" check_rust_tools
phase "cargo fmt --check" cargo fmt --all --check
# No network needed for bans (no advisory database): deny.toml against Cargo.lock.
phase "cargo deny check bans" cargo deny "${locked[@]}" check bans
phase "cargo clippy" cargo clippy --workspace --all-targets "${locked[@]}" -- -D warnings
phase "cargo test (SQLite)" run_sqlite_tests
phase "cargo test --test api (PostgreSQL)" run_postgres_tests
# The .deb (cargo-deb, lintian, systemd-analyze) and, where an engine runs, the image.
phase "package checks" bash scripts/check-package.sh

say "all checks passed in $((SECONDS - started))s: ${phases_done[*]}"
