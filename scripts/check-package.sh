#!/usr/bin/env bash
# Builds the Debian package and checks it, then the container image where a container
# engine runs (and says plainly when none does).
#
#   bash scripts/check-package.sh
#
# The package: `lintian` finds no error and no warning; `systemd-analyze verify` has nothing
# to say about the unit and `systemd-analyze security` rates its exposure 2.0 or lower; the
# shipped configuration passes check-config and the packaged binary serves with it (its own
# `healthcheck` passes); the man page renders without a warning; the bash completion
# parses. It packs the debug build (GATEHOUSE_DEB_PROFILE=release for the release build,
# which takes many minutes more on a small machine): the files, unit and metadata are the
# same.
#
# The image (docker, else podman, when `info` answers): built from the Dockerfile, run
# with a throwaway volume, healthy by its own HEALTHCHECK, not running as root, and
# `gatehouse backup` works inside it.
#
# Run by scripts/test.sh, which installs lintian and systemd; cargo-deb is installed here
# when missing (the version below).
set -euo pipefail

cd "$(dirname "$0")/.."
GH_SCRIPT_NAME=check-package.sh
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh

CARGO_DEB_VERSION=3.8.0
# systemd-analyze security: 0 is sealed, 10 wide open; 20 means 2.0.
MAX_EXPOSURE=20

work=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-package.XXXXXX")
container=""
image=""
engine=""
cleanup() {
    if [ -n "$container" ]; then
        "$engine" rm -f "$container" >/dev/null 2>&1 || true
        "$engine" volume rm -f "$container-data" >/dev/null 2>&1 || true
    fi
    if [ -n "$image" ]; then
        "$engine" rmi -f "$image" >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

ensure_cargo_deb() {
    if cargo deb --version >/dev/null 2>&1; then
        return 0
    fi
    say "installing cargo-deb $CARGO_DEB_VERSION with cargo install (a few minutes, once)"
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        cargo install --locked --quiet cargo-deb --version "$CARGO_DEB_VERSION" ||
        die "cargo install cargo-deb failed"
}

# fail_on_output WHAT CMD...: run CMD; any output (warnings included) is a failure.
fail_on_output() {
    local what=$1 output
    shift
    if ! output=$("$@" 2>&1); then
        printf '%s\n' "$output" >&2
        die "$what failed"
    fi
    if [ -n "$output" ]; then
        printf '%s\n' "$output" >&2
        die "$what printed warnings"
    fi
}

check_deb() {
    ensure_cargo_deb
    say "$(cargo deb --version)"
    local profile=${GATEHOUSE_DEB_PROFILE:-dev} deb
    deb=$(bash packaging/build-deb.sh --profile "$profile" --fast | tail -n 1)
    [ -f "$deb" ] || die "packaging/build-deb.sh did not name a .deb (got: $deb)"
    say "built $deb ($(du -h "$deb" | cut -f1), $profile profile)"

    # lintian refuses nothing as root but says so on every run.
    lintian --pedantic --fail-on error,warning "$deb" 2> >(grep -v 'running with root privileges' >&2) ||
        die "lintian found errors or warnings in $deb"
    say "lintian: no errors, no warnings"

    local root=$work/root
    dpkg-deb -x "$deb" "$root"
    dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/gatehouse/gatehouse.toml ||
        die "/etc/gatehouse/gatehouse.toml is not a conffile"
    "$root/usr/bin/gatehouse" --version >/dev/null
    "$root/usr/bin/gatehouse" --config "$root/etc/gatehouse/gatehouse.toml" check-config >/dev/null ||
        die "the packaged /etc/gatehouse/gatehouse.toml does not pass check-config"
    serve_packaged "$root"
    bash -n "$root/usr/share/bash-completion/completions/gatehouse"
    zcat "$root/usr/share/man/man1/gatehouse.1.gz" >"$work/gatehouse.1"
    fail_on_output "groff on the man page" groff -man -ww -z "$work/gatehouse.1"

    # The unit as installed, but its ExecStart pointed at the unpacked binary (verify checks
    # that it exists) and `man` told where the unpacked page is (Documentation=man:...).
    local unit=$root/usr/lib/systemd/system/gatehouse.service directive
    for directive in DynamicUser=yes StateDirectory=gatehouse ProtectSystem=strict ProtectHome=yes \
        PrivateTmp=yes NoNewPrivileges=yes CapabilityBoundingSet= SystemCallFilter=@system-service \
        'ExecStart=/usr/bin/gatehouse --config /etc/gatehouse/gatehouse.toml serve'; do
        grep -qx "$directive" "$unit" || die "the unit lacks $directive"
    done
    mkdir -p "$work/units"
    sed "s#/usr/bin/gatehouse#$root/usr/bin/gatehouse#g" "$unit" >"$work/units/gatehouse.service"
    fail_on_output "systemd-analyze verify" env MANPATH="$root/usr/share/man" \
        systemd-analyze verify "$work/units/gatehouse.service"
    local exposure
    exposure=$(systemd-analyze security --offline=yes --threshold="$MAX_EXPOSURE" --no-pager \
        "$work/units/gatehouse.service" 2>&1 | grep 'Overall exposure') ||
        die "systemd-analyze security rates the unit above $((MAX_EXPOSURE / 10)).$((MAX_EXPOSURE % 10))"
    say "systemd-analyze verify: clean; ${exposure#→ }"
}

# The unpacked binary serves with the shipped configuration (its state directory and port
# moved by environment overrides, as no systemd runs the unit here) until its own
# `healthcheck` passes; then SIGTERM stops it cleanly.
serve_packaged() {
    local root=$1 port pid status=0
    port=$(pick_free_port)
    export GATEHOUSE__DATA_DIR=$work/state GATEHOUSE__LISTEN=127.0.0.1:$port GATEHOUSE__ISSUER=http://127.0.0.1:$port
    "$root/usr/bin/gatehouse" --config "$root/etc/gatehouse/gatehouse.toml" serve >"$work/serve.log" 2>&1 &
    pid=$!
    local deadline=$((SECONDS + 30))
    until "$root/usr/bin/gatehouse" --config "$root/etc/gatehouse/gatehouse.toml" healthcheck >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
            kill "$pid" 2>/dev/null || true
            cat "$work/serve.log" >&2
            die "the packaged gatehouse did not serve with the shipped configuration"
        fi
        sleep 0.2
    done
    kill -TERM "$pid"
    wait "$pid" || status=$?
    unset GATEHOUSE__DATA_DIR GATEHOUSE__LISTEN GATEHOUSE__ISSUER
    [ "$status" -eq 0 ] || die "the packaged gatehouse did not stop cleanly on SIGTERM (exit code $status)"
    say "the packaged binary serves with the shipped configuration; its healthcheck passes"
}

check_container() {
    local candidate
    for candidate in docker podman; do
        if command -v "$candidate" >/dev/null 2>&1 && "$candidate" info >/dev/null 2>&1; then
            engine=$candidate
            break
        fi
    done
    if [ -z "$engine" ]; then
        local why="neither docker nor podman is installed"
        if command -v docker >/dev/null 2>&1 || command -v podman >/dev/null 2>&1; then
            why="'docker info' and 'podman info' fail: no container engine runs here"
        fi
        say "SKIPPED the container image check: $why (the Dockerfile was not built)"
        return 0
    fi
    image=gatehouse-check:$$
    say "building the image with $engine (a release build: many minutes the first time)"
    "$engine" build --tag "$image" . || die "$engine build failed"
    container=gatehouse-check-$$
    "$engine" run --detach --name "$container" --volume "$container-data:/var/lib/gatehouse" \
        --env GATEHOUSE__LDAP__URL=ldap://ldap.invalid:389 --env GATEHOUSE__LDAP__BASE_DN=dc=example,dc=org \
        --health-interval=2s --health-start-period=5s "$image" >/dev/null ||
        die "$engine run failed"
    local user deadline status
    user=$("$engine" inspect --format '{{.Config.User}}' "$container")
    case $user in
        "" | 0 | 0:* | root | root:*) die "the container runs as root (user '$user')" ;;
    esac
    deadline=$((SECONDS + 90))
    while :; do
        if [ "$engine" = podman ]; then
            # Podman runs health checks from systemd timers, absent in many CI containers:
            # run the image's HEALTHCHECK by hand.
            "$engine" healthcheck run "$container" >/dev/null 2>&1 || true
        fi
        status=$("$engine" inspect --format '{{.State.Health.Status}}' "$container" 2>/dev/null || echo unknown)
        [ "$status" = healthy ] && break
        if [ "$SECONDS" -ge "$deadline" ] || [ "$status" = unhealthy ]; then
            "$engine" logs "$container" >&2 || true
            die "the container did not become healthy (status: $status)"
        fi
        sleep 2
    done
    "$engine" exec "$container" /usr/local/bin/gatehouse healthcheck >/dev/null ||
        die "gatehouse healthcheck fails inside the container"
    "$engine" exec "$container" /usr/local/bin/gatehouse backup /var/lib/gatehouse/check.sqlite >/dev/null ||
        die "gatehouse backup fails inside the container"
    say "container image: built, runs as $user, healthy, backs up its database"
}

check_deb
check_container
