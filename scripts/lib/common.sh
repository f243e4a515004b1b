# shellcheck shell=bash disable=SC2034
# Shared helpers for scripts/*.sh. Source it; it defines functions and nothing runs.
#
#   say MESSAGE...             progress line on stderr, prefixed with the script's name
#   die MESSAGE...             print an error and exit 1
#   as_root CMD...             run CMD as root: directly when root, through sudo otherwise
#   apt_install_missing PKG... install the Debian packages that are not installed yet
#   stop_packaged_slapd        stop and disable the slapd service that apt starts on port 389
#   port_in_use PORT           true when something accepts TCP connections on 127.0.0.1:PORT
#   pick_free_port             print a port on 127.0.0.1 that nothing listens on
#   http_status URL            print the HTTP status of GET URL (plain http only; no curl needed)
#   wait_for_http URL SECONDS [PID]  wait until GET URL answers 200 (fail early if PID exits)

GH_SCRIPT_NAME=${GH_SCRIPT_NAME:-$(basename "$0")}

say() {
    printf '%s: %s\n' "$GH_SCRIPT_NAME" "$*" >&2
}

die() {
    printf '%s: error: %s\n' "$GH_SCRIPT_NAME" "$*" >&2
    exit 1
}

is_root() {
    [ "$(id -u)" -eq 0 ]
}

as_root() {
    if is_root; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "this step needs root and sudo is not installed: $*"
    fi
}

package_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

# Packages installed by the last apt_install_missing call (space separated; empty if none).
GH_APT_INSTALLED=""
GH_APT_UPDATED=0

apt_install_missing() {
    local missing=() pkg
    for pkg in "$@"; do
        package_installed "$pkg" || missing+=("$pkg")
    done
    GH_APT_INSTALLED=""
    if [ "${#missing[@]}" -eq 0 ]; then
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 || die "missing packages (${missing[*]}) and no apt-get to install them"
    local log
    log=$(mktemp "${TMPDIR:-/tmp}/gatehouse-apt.XXXXXX.log")
    say "installing ${missing[*]} with apt (log: $log)"
    if [ "$GH_APT_UPDATED" -eq 0 ]; then
        if ! as_root apt-get update >"$log" 2>&1; then
            cat "$log" >&2
            die "apt-get update failed"
        fi
        GH_APT_UPDATED=1
    fi
    # noninteractive: slapd's debconf questions get their defaults instead of a prompt.
    if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "${missing[@]}" >>"$log" 2>&1 </dev/null; then
        cat "$log" >&2
        die "apt-get install ${missing[*]} failed"
    fi
    rm -f "$log"
    GH_APT_INSTALLED="${missing[*]}"
}

# Installing slapd starts its packaged service on port 389 with a default database. The
# project runs its own throwaway slapd processes, so the packaged one is stopped and kept
# from starting at boot. Works with systemd, with plain init scripts, and in containers
# where neither manages services.
stop_packaged_slapd() {
    if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
        as_root systemctl disable --now slapd >/dev/null 2>&1 || true
    elif command -v service >/dev/null 2>&1; then
        as_root service slapd stop >/dev/null 2>&1 || true
        if command -v update-rc.d >/dev/null 2>&1; then
            as_root update-rc.d slapd disable >/dev/null 2>&1 || true
        fi
    fi
    local pidfile pid
    for pidfile in /run/slapd/slapd.pid /var/run/slapd/slapd.pid; do
        if [ -r "$pidfile" ]; then
            pid=$(cat "$pidfile" 2>/dev/null || true)
            if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
                as_root kill "$pid" 2>/dev/null || true
            fi
        fi
    done
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_free_port() {
    local port tries=0
    while [ "$tries" -lt 100 ]; do
        port=$((20000 + RANDOM % 40000))
        if ! port_in_use "$port"; then
            printf '%s\n' "$port"
            return 0
        fi
        tries=$((tries + 1))
    done
    die "could not find a free TCP port on 127.0.0.1"
}

# Bash's /dev/tcp instead of curl, which a fresh Debian does not have.
http_status() {
    local url=$1 rest hostport host port path line
    rest=${url#http://}
    hostport=${rest%%/*}
    path=${rest#"$hostport"}
    [ -n "$path" ] || path=/
    host=${hostport%:*}
    port=${hostport##*:}
    [ "$port" = "$hostport" ] && port=80
    (
        exec 3<>"/dev/tcp/$host/$port" || exit 1
        printf 'GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$hostport" >&3
        IFS= read -r -t 5 line <&3 || exit 1
        line=${line%$'\r'}
        printf '%s\n' "$line" | cut -d' ' -f2
    ) 2>/dev/null
}

wait_for_http() {
    local url=$1 seconds=$2 pid=${3:-} deadline status
    deadline=$((SECONDS + seconds))
    while [ "$SECONDS" -lt "$deadline" ]; do
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        status=$(http_status "$url" || true)
        [ "$status" = "200" ] && return 0
        sleep 0.2
    done
    return 1
}
