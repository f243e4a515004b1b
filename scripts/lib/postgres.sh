# shellcheck shell=bash disable=SC2034
# A throwaway PostgreSQL server for the test suite. Source after common.sh.
#
#   postgres_bin_dir                 print the newest /usr/lib/postgresql/*/bin with initdb and postgres
#   start_throwaway_postgres         start a server on 127.0.0.1 at a free port in a fresh temp
#                                    directory; sets GH_PG_DIR, GH_PG_PORT and GH_PG_URL
#                                    (postgres://postgres@127.0.0.1:PORT/postgres, trust auth)
#   stop_throwaway_postgres          stop it and remove its directory; safe to call twice
#
# initdb refuses to run as root, so as root the server runs as the `postgres` system user
# (created by the postgresql packages); as anyone else it runs as that user.

GH_PG_DIR=""
GH_PG_PORT=""
GH_PG_URL=""
GH_PG_BIN=""

postgres_bin_dir() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ] && [ -x "$dir/pg_ctl" ]; then
            printf '%s\n' "$dir"
        fi
    done | sort -V | tail -n 1 | grep .
}

# Runs a command as the user that owns the throwaway cluster, from a directory that user can read.
pg_run() {
    if is_root; then
        (cd / && runuser -u postgres -- "$@")
    else
        (cd / && "$@")
    fi
}

start_throwaway_postgres() {
    GH_PG_BIN=$(postgres_bin_dir) || die "no PostgreSQL server found under /usr/lib/postgresql/*/bin"
    if is_root; then
        id postgres >/dev/null 2>&1 || die "the postgres system user is missing (is the postgresql package installed?)"
    fi
    # As root the directory must be reachable by the postgres user: /tmp, not a private TMPDIR.
    local parent=${TMPDIR:-/tmp}
    is_root && parent=/tmp
    # Callers may run this where `set -e` does not apply (inside `if`), so every step checks.
    GH_PG_DIR=$(mktemp -d "$parent/gatehouse-pg.XXXXXX") || die "cannot create a temporary directory in $parent"
    chmod 700 "$GH_PG_DIR" || die "cannot chmod $GH_PG_DIR"
    if is_root; then
        chown postgres: "$GH_PG_DIR" || die "cannot give $GH_PG_DIR to the postgres user"
    fi
    local log="$GH_PG_DIR/initdb.log"
    if ! pg_run "$GH_PG_BIN/initdb" --pgdata="$GH_PG_DIR/data" --username=postgres \
        --auth=trust --encoding=UTF8 --locale=C.UTF-8 --no-sync >"$log" 2>&1; then
        cat "$log" >&2
        die "initdb failed"
    fi
    GH_PG_PORT=$(pick_free_port) || die "no free port for PostgreSQL"
    # Throwaway data: durability settings off make the suite faster.
    cat >>"$GH_PG_DIR/data/postgresql.conf" <<EOF || die "cannot write $GH_PG_DIR/data/postgresql.conf"

# gatehouse test server
listen_addresses = '127.0.0.1'
port = $GH_PG_PORT
unix_socket_directories = '$GH_PG_DIR'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    if ! pg_run "$GH_PG_BIN/pg_ctl" --pgdata="$GH_PG_DIR/data" --log="$GH_PG_DIR/server.log" \
        --wait --timeout=60 start >/dev/null 2>&1; then
        cat "$GH_PG_DIR/server.log" >&2 2>/dev/null || true
        die "PostgreSQL did not start"
    fi
    GH_PG_URL="postgres://postgres@127.0.0.1:$GH_PG_PORT/postgres"
}

stop_throwaway_postgres() {
    if [ -n "$GH_PG_DIR" ] && [ -d "$GH_PG_DIR" ]; then
        if [ -f "$GH_PG_DIR/data/postmaster.pid" ]; then
            pg_run "$GH_PG_BIN/pg_ctl" --pgdata="$GH_PG_DIR/data" --mode=immediate \
                --wait --timeout=30 stop >/dev/null 2>&1 || true
        fi
        rm -rf "$GH_PG_DIR"
    fi
    GH_PG_DIR=""
}
