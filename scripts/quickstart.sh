#!/usr/bin/env bash
# The quick start: the whole sign-in, in your browser, on this machine.
#
#   bash scripts/quickstart.sh
#
# Installs slapd and ldap-utils with apt when they are missing (through sudo unless run as
# root), builds Gatehouse and the demo application, then starts three processes, all on
# 127.0.0.1 and all throwaway (everything lives in .quickstart/, wiped at every start):
#   - a demo LDAP directory (scripts/start-directory.sh) on a free port,
#   - Gatehouse on port 8080 (GATEHOUSE_PORT to change it),
#   - the demo relying party (examples/demo_rp.rs) on port 8081 (DEMO_RP_PORT to change it).
# Ctrl-C stops all three.
set -euo pipefail

cd "$(dirname "$0")/.."
repo=$(pwd -P)
GH_SCRIPT_NAME=quickstart.sh
# shellcheck source=scripts/lib/common.sh
. scripts/lib/common.sh

gatehouse_port=${GATEHOUSE_PORT:-8080}
demo_port=${DEMO_RP_PORT:-8081}
work="$repo/.quickstart"
issuer="http://127.0.0.1:$gatehouse_port"
demo_url="http://127.0.0.1:$demo_port"

for port in "$gatehouse_port" "$demo_port"; do
    if ! [[ $port =~ ^[0-9]{1,5}$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
        die "GATEHOUSE_PORT and DEMO_RP_PORT must be port numbers, got '$port'"
    fi
done
[ "$gatehouse_port" != "$demo_port" ] || die "GATEHOUSE_PORT and DEMO_RP_PORT must differ"
case $repo in
*"'"* | *$'\n'*) die "the repository path must not contain a quote or a newline: $repo" ;;
esac

# --- processes we start, stopped on Ctrl-C, on failure and at exit -------------------------
pids=()
names=()

# shellcheck disable=SC2317 # called from the traps below
cleanup() {
    local i pid
    trap - INT TERM EXIT
    for i in "${!pids[@]}"; do
        pid=${pids[$i]}
        kill -TERM "$pid" 2>/dev/null || true
    done
    for i in "${!pids[@]}"; do
        pid=${pids[$i]}
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "${names[$i]} did not stop in 5 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    if [ "${#pids[@]}" -gt 0 ]; then
        say "stopped ${names[*]}"
    fi
}
trap cleanup EXIT
trap 'echo >&2; exit 130' INT
trap 'exit 143' TERM

# start NAME LOGFILE CMD...: run CMD in the background, its output in LOGFILE.
start() {
    local name=$1 log=$2
    shift 2
    "$@" >"$log" 2>&1 </dev/null &
    pids+=("$!")
    names+=("$name")
}

show_log_and_die() {
    local log=$1
    shift
    if [ -s "$log" ]; then
        echo "---- last lines of $log ----" >&2
        tail -n 30 "$log" >&2
        echo "----" >&2
    fi
    die "$*"
}

# --- 1. what the machine needs ---------------------------------------------------------------
command -v cargo >/dev/null 2>&1 || die "cargo not found: install Rust first (https://rustup.rs)"
apt_install_missing slapd ldap-utils
case " $GH_APT_INSTALLED " in
    *" slapd "*) stop_packaged_slapd ;;
esac

for port in "$gatehouse_port" "$demo_port"; do
    if port_in_use "$port"; then
        die "port $port on 127.0.0.1 is already in use; stop what uses it, or choose other ports:
  GATEHOUSE_PORT=9080 DEMO_RP_PORT=9081 bash scripts/quickstart.sh"
    fi
done

# --- 2. build -----------------------------------------------------------------------------------
locked=()
[ -f Cargo.lock ] && locked=(--locked)
say "building gatehouse and the demo application (release; the first build takes a few minutes)"
cargo build "${locked[@]}" --release --bin gatehouse --example demo_rp
target_dir=${CARGO_TARGET_DIR:-target}
gatehouse_bin="$target_dir/release/gatehouse"
demo_bin="$target_dir/release/examples/demo_rp"
if ! [ -x "$gatehouse_bin" ] || ! [ -x "$demo_bin" ]; then
    die "the build did not produce $gatehouse_bin and $demo_bin"
fi

# --- 3. a fresh throwaway directory, data dir and configuration -------------------------------
rm -rf "$work"
mkdir -p "$work/data"
chmod 700 "$work/data"
chmod 700 "$work"

ldap_port=$(pick_free_port)
service_dn="cn=gatehouse,ou=services,dc=example,dc=org"
service_password="gatehouse-service-password"
say "starting the demo directory on ldap://127.0.0.1:$ldap_port"
start directory "$work/directory.log" bash scripts/start-directory.sh "$work/ldap" "$ldap_port"
directory_pid=${pids[-1]}
deadline=$((SECONDS + 15))
until ldapsearch -x -LLL -H "ldap://127.0.0.1:$ldap_port" -D "$service_dn" -w "$service_password" \
    -b "dc=example,dc=org" -s base dn >/dev/null 2>&1; do
    kill -0 "$directory_pid" 2>/dev/null || show_log_and_die "$work/directory.log" "the demo directory did not start"
    [ "$SECONDS" -lt "$deadline" ] || show_log_and_die "$work/directory.log" "the demo directory did not answer within 15 s"
    sleep 0.2
done

client_secret=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
[ "${#client_secret}" -eq 64 ] || die "could not generate a client secret from /dev/urandom"

(
    umask 077
    cat >"$work/gatehouse.toml" <<EOF
# Written by scripts/quickstart.sh for one run; every start writes a new one.
issuer = "$issuer"
listen = "127.0.0.1:$gatehouse_port"
data_dir = '$work/data'
demo = true

[admin]
# Members of these directory groups administer Gatehouse (alice is in admins).
groups = ["admins"]

[shutdown]
# No load balancer to tell: stop at once on Ctrl-C.
drain_delay = 0

[ldap]
url = "ldap://127.0.0.1:$ldap_port"
bind_dn = "$service_dn"
bind_password = "$service_password"
base_dn = "ou=people,dc=example,dc=org"
user_filter = "(&(objectClass=inetOrgPerson)(uid={username}))"

[ldap.attributes]
id = "entryUUID"
username = "uid"
name = "cn"
given_name = "givenName"
family_name = "sn"
email = "mail"

[ldap.groups]
base_dn = "ou=groups,dc=example,dc=org"
filter = "(&(objectClass=groupOfNames)(member={dn}))"
name_attribute = "cn"

[[clients]]
client_id = "demo-app"
name = "Demo application"
secret = "$client_secret"
redirect_uris = ["$demo_url/callback"]
post_logout_redirect_uris = ["$demo_url/"]
token_endpoint_auth_method = "client_secret_basic"
# Not first party, so that the consent page shows up too.
first_party = false
EOF
)

# --- 4. Gatehouse -----------------------------------------------------------------------------------
say "starting gatehouse on $issuer"
# NO_COLOR: the log goes to a file, so no terminal colour codes in it.
start gatehouse "$work/gatehouse.log" env NO_COLOR=1 "$gatehouse_bin" serve --config "$work/gatehouse.toml"
gatehouse_pid=${pids[-1]}
wait_for_http "$issuer/healthz" 60 "$gatehouse_pid" ||
    show_log_and_die "$work/gatehouse.log" "gatehouse did not become healthy (GET $issuer/healthz)"

# --- 5. the demo relying party -----------------------------------------------------------------------
say "starting the demo application on $demo_url"
start demo-app "$work/demo_rp.log" env \
    DEMO_ISSUER="$issuer" \
    DEMO_CLIENT_ID=demo-app \
    DEMO_CLIENT_SECRET="$client_secret" \
    DEMO_REDIRECT_URI="$demo_url/callback" \
    DEMO_LISTEN="127.0.0.1:$demo_port" \
    "$demo_bin"
demo_pid=${pids[-1]}
wait_for_http "$demo_url/" 30 "$demo_pid" ||
    show_log_and_die "$work/demo_rp.log" "the demo application did not start (GET $demo_url/)"

cat <<EOF

  Gatehouse is running.

    Open  $demo_url/  and click "Sign in with Gatehouse".

    Sign in as   alice / alice-password   (groups staff, admins)
             or  bob   / bob-password     (group staff)
             or  carol / carol-password   (no e-mail address, no groups)
    More people: tests/fixtures/ldap/directory.ldif

    Administration:   $issuer/admin  (alice administers: LDAP settings, Test connection)
    Gatehouse:        $issuer/.well-known/openid-configuration
    Logs:             $work/{gatehouse,demo_rp,directory}.log
    Everything in .quickstart/ is thrown away at the next start.

  Press Ctrl-C to stop.

EOF

# Wait until Ctrl-C (the INT trap exits, and the EXIT trap stops everything) or until one of
# the three stops by itself, which is an error.
status=0
wait -n "${pids[@]}" || status=$?
# Ctrl-C reaches the children too, and one of them may stop before bash runs its INT trap:
# give the trap a moment, so a Ctrl-C is not reported as a crash.
sleep 1
for i in "${!pids[@]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null; then
        case ${names[$i]} in
            directory) log="$work/directory.log" ;;
            gatehouse) log="$work/gatehouse.log" ;;
            *) log="$work/demo_rp.log" ;;
        esac
        show_log_and_die "$log" "${names[$i]} stopped unexpectedly (exit code $status)"
    fi
done
die "a process stopped unexpectedly (exit code $status)"
