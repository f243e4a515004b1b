#!/usr/bin/env bash
# Load bench of the machine endpoints: Gatehouse (release build) against node-oidc-provider
# (bench/node-oidc-provider), on this machine, with the same closed-loop load generator
# (examples/token_load.rs).
#
#   scripts/bench.sh [gatehouse|node|both]        (default both)
#
# Environment:
#   CONCURRENCY   space-separated list (default "16 64")
#   SECONDS_EACH  measured seconds per run (default 20; plus 2 s warm-up)
#   REPEAT        runs of each configuration (default 2)
#   SCENARIOS     default "client_credentials jwks introspect"
#   NODE_WORKERS  node:cluster workers for node-oidc-provider (default 1)
#
# It starts a throwaway slapd (scripts/start-directory.sh; Gatehouse needs a directory to
# start, although no machine endpoint uses it), writes a Gatehouse configuration with one
# client_credentials client into a temporary directory, starts both servers on free
# loopback ports, runs every scenario x concurrency REPEAT times, and stops everything.
# Everything is written to stdout and to $work/results.txt. Needs slapd, node and npm.
# The load generator runs on the same machine: it takes CPU from the server it measures
# (it prints its own CPU use).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
which_servers=${1:-both}
concurrency_list=${CONCURRENCY:-16 64}
seconds_each=${SECONDS_EACH:-20}
repeat=${REPEAT:-2}
scenarios=${SCENARIOS:-client_credentials jwks introspect}
node_workers=${NODE_WORKERS:-1}

case $which_servers in
gatehouse | node | both) ;;
*)
    echo "usage: $0 [gatehouse|node|both]" >&2
    exit 2
    ;;
esac

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() {
    local url=$1 pid=$2
    for _ in $(seq 300); do
        curl -fsS -o /dev/null "$url" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.2
    done
    return 1
}

work=$(mktemp -d /tmp/gatehouse-bench.XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT

secret=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n') # 32 hex characters
results="$work/results.txt"

cd "$root"
cargo build --release --bin gatehouse --example token_load
load="$root/target/release/examples/token_load"

run_matrix() {
    local name=$1 url=$2 pid=$3 introspect_path=$4
    for scenario in $scenarios; do
        for concurrency in $concurrency_list; do
            for run in $(seq "$repeat"); do
                echo "=== $name $scenario c=$concurrency run $run" | tee -a "$results"
                "$load" --url "$url" --client-id bench --secret "$secret" --scope api \
                    --scenario "$scenario" --concurrency "$concurrency" --seconds "$seconds_each" \
                    --introspect-path "$introspect_path" --pid "$pid" | tee -a "$results"
            done
        done
    done
}

if [ "$which_servers" != node ]; then
    ldap_port=$(free_port)
    bash "$root/scripts/start-directory.sh" "$work/ldap" "$ldap_port" >"$work/directory.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 75); do
        ldapsearch -x -LLL -H "ldap://127.0.0.1:$ldap_port" -b dc=example,dc=org -s base dn >/dev/null 2>&1 && break
        sleep 0.2
    done

    gatehouse_port=$(free_port)
    cat >"$work/gatehouse.toml" <<EOF
issuer = "http://127.0.0.1:$gatehouse_port"
listen = "127.0.0.1:$gatehouse_port"
data_dir = "$work/data"

[ldap]
url = "ldap://127.0.0.1:$ldap_port"
bind_dn = "cn=gatehouse,ou=services,dc=example,dc=org"
bind_password = "gatehouse-service-password"
base_dn = "ou=people,dc=example,dc=org"

[[clients]]
client_id = "bench"
name = "Load bench"
secret = "$secret"
token_endpoint_auth_method = "client_secret_basic"
grant_types = ["client_credentials"]
redirect_uris = []
allowed_scopes = ["api"]
EOF
    RUST_LOG=warn NO_COLOR=1 "$root/target/release/gatehouse" serve --config "$work/gatehouse.toml" \
        >"$work/gatehouse.log" 2>&1 &
    gatehouse_pid=$!
    pids+=("$gatehouse_pid")
    wait_for "http://127.0.0.1:$gatehouse_port/healthz" "$gatehouse_pid" ||
        { cat "$work/gatehouse.log" >&2; exit 1; }
    run_matrix gatehouse "http://127.0.0.1:$gatehouse_port" "$gatehouse_pid" /introspect
    kill "$gatehouse_pid"
fi

if [ "$which_servers" != gatehouse ]; then
    (cd "$root/bench/node-oidc-provider" && npm install --no-audit --no-fund >/dev/null)
    for format in jwt opaque; do
        # JWT access tokens for client_credentials and jwks; oidc-provider introspects only
        # opaque ones (see provider.mjs).
        case $format in
        jwt) node_scenarios=$(echo "$scenarios" | tr ' ' '\n' | grep -v '^introspect$' | tr '\n' ' ') ;;
        opaque) node_scenarios=$(echo "$scenarios" | tr ' ' '\n' | grep -E '^(introspect|client_credentials)$' | tr '\n' ' ') ;;
        esac
        [ -n "${node_scenarios// /}" ] || continue
        node_port=$(free_port)
        (cd "$root/bench/node-oidc-provider" &&
            exec env NODE_ENV=production PORT="$node_port" BENCH_SECRET="$secret" \
                ACCESS_TOKEN_FORMAT="$format" NODE_WORKERS="$node_workers" node provider.mjs) \
            >"$work/node-$format.log" 2>&1 &
        node_pid=$!
        pids+=("$node_pid")
        wait_for "http://127.0.0.1:$node_port/.well-known/openid-configuration" "$node_pid" ||
            { cat "$work/node-$format.log" >&2; exit 1; }
        scenarios_saved=$scenarios
        scenarios=$node_scenarios
        run_matrix "node-oidc-provider($format,workers=$node_workers)" "http://127.0.0.1:$node_port" \
            "$node_pid" /token/introspection
        scenarios=$scenarios_saved
        kill "$node_pid"
    done
fi

echo "results: $results"
