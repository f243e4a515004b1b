#!/usr/bin/env bash
# Runs a throwaway OpenLDAP slapd with the example directory (dc=example,dc=org), for the
# quick start and the integration tests (tests/api/support/slapd.rs).
#
#   scripts/start-directory.sh WORKDIR PORT [SEED_LDIF]
#
# WORKDIR/slapd.d and WORKDIR/db are created from tests/fixtures/ldap/slapd-config.ldif.template
# and SEED_LDIF (default tests/fixtures/ldap/directory.ldif). When WORKDIR already holds a
# complete directory it is reused as it is; delete WORKDIR to load the seed again.
# slapd then runs in the foreground on ldap://127.0.0.1:PORT/ and replaces this script
# (exec), so the caller's child pid is slapd's pid. Stop it with SIGTERM or Ctrl-C.
# slapd needs no root privileges for a port above 1023.
#
# Service account: cn=gatehouse,ou=services,dc=example,dc=org / gatehouse-service-password.
# Root account:    cn=admin,dc=example,dc=org / admin-password.
#
# Environment:
#   SLAPD_MODULE_DIR   where back_mdb lives (default: found among the usual places)
#   SLAPD_SCHEMA_DIR   where core.ldif and friends live (default: found likewise)
#   GATEHOUSE_SLAPD_STOP_WITH_STDIN=1
#       stdin is a pipe from the parent process: when it reaches end of file (the parent
#       exited, even by SIGKILL, or closed it) while slapd still runs, a small watchdog
#       stops slapd. The test harness uses this so that no slapd outlives a test run.
#   GATEHOUSE_SLAPD_REMOVE_WORKDIR=1
#       with the above: the watchdog also deletes WORKDIR after stopping slapd.
#   GATEHOUSE_SLAPD_TLS_CERT, GATEHOUSE_SLAPD_TLS_KEY
#       PEM server certificate (chain) and its private key: slapd then offers StartTLS on
#       ldap://127.0.0.1:PORT/. They are written into cn=config when WORKDIR is first built;
#       slapd reads them at every start, so keep them where they are.
#   GATEHOUSE_SLAPD_TLS_CA
#       optional PEM CA bundle (olcTLSCACertificateFile), with the two above.
#   GATEHOUSE_SLAPD_LDAPS_PORT
#       also listen on ldaps://127.0.0.1:LDAPS_PORT/ (needs the certificate and key).
#
# Works as root and as an ordinary user: every file belongs to whoever runs it, and slapd
# keeps that identity.
set -euo pipefail

program=$(basename "$0")

fail() {
    echo "$program: $*" >&2
    exit 1
}

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $program WORKDIR PORT [SEED_LDIF]" >&2
    exit 2
fi

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
fixtures="$(dirname "$script_dir")/tests/fixtures/ldap"
template="$fixtures/slapd-config.ldif.template"
seed=${3:-$fixtures/directory.ldif}
port=$2

if ! [[ $port =~ ^[0-9]{1,5}$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
    fail "PORT must be a number from 1 to 65535, got '$port'"
fi
[ -r "$template" ] || fail "cannot read the slapd configuration template $template"
[ -r "$seed" ] || fail "cannot read the seed LDIF $seed"

# TLS (optional): absolute paths, because slapd does not run from this directory.
absolute_file() {
    local name=$1 path=$2
    if ! [ -f "$path" ] || ! [ -r "$path" ]; then
        fail "$name: cannot read the file '$path'"
    fi
    echo "$(cd "$(dirname "$path")" && pwd -P)/$(basename "$path")"
}
tls_cert=${GATEHOUSE_SLAPD_TLS_CERT:-}
tls_key=${GATEHOUSE_SLAPD_TLS_KEY:-}
tls_ca=${GATEHOUSE_SLAPD_TLS_CA:-}
ldaps_port=${GATEHOUSE_SLAPD_LDAPS_PORT:-}
if [ -n "$tls_cert" ] || [ -n "$tls_key" ]; then
    if [ -z "$tls_cert" ] || [ -z "$tls_key" ]; then
        fail "set both GATEHOUSE_SLAPD_TLS_CERT and GATEHOUSE_SLAPD_TLS_KEY, or neither"
    fi
    tls_cert=$(absolute_file GATEHOUSE_SLAPD_TLS_CERT "$tls_cert")
    tls_key=$(absolute_file GATEHOUSE_SLAPD_TLS_KEY "$tls_key")
    if [ -n "$tls_ca" ]; then
        tls_ca=$(absolute_file GATEHOUSE_SLAPD_TLS_CA "$tls_ca")
    fi
elif [ -n "$tls_ca" ] || [ -n "$ldaps_port" ]; then
    fail "GATEHOUSE_SLAPD_TLS_CA and GATEHOUSE_SLAPD_LDAPS_PORT need GATEHOUSE_SLAPD_TLS_CERT and GATEHOUSE_SLAPD_TLS_KEY"
fi
if [ -n "$ldaps_port" ]; then
    if ! [[ $ldaps_port =~ ^[0-9]{1,5}$ ]] || [ "$ldaps_port" -lt 1 ] || [ "$ldaps_port" -gt 65535 ] ||
        [ "$ldaps_port" = "$port" ]; then
        fail "GATEHOUSE_SLAPD_LDAPS_PORT must be a number from 1 to 65535 other than PORT, got '$ldaps_port'"
    fi
fi
for file in "$tls_cert" "$tls_key" "$tls_ca"; do
    case $file in
    *$'\n'*) fail "TLS file paths must not contain a newline" ;;
    esac
done

# slapd and slapadd live in sbin, which an ordinary user's PATH often lacks.
find_program() {
    local dir
    if command -v "$1" 2>/dev/null; then
        return 0
    fi
    for dir in /usr/sbin /usr/local/sbin /sbin /usr/libexec /usr/local/libexec /opt/homebrew/sbin /opt/homebrew/opt/openldap/libexec; do
        if [ -x "$dir/$1" ]; then
            echo "$dir/$1"
            return 0
        fi
    done
    return 1
}

slapd=$(find_program slapd) || fail "slapd (the OpenLDAP server) is not installed.
  Debian/Ubuntu: sudo DEBIAN_FRONTEND=noninteractive apt-get install -y slapd ldap-utils
                 (then 'sudo systemctl disable --now slapd': this script runs its own)
  Fedora/RHEL:   sudo dnf install openldap-servers openldap-clients
  macOS:         brew install openldap"
slapadd=$(find_program slapadd) || fail "slapadd is missing although slapd is installed at $slapd"

first_dir_with() {
    local file=$1 dir
    shift
    for dir in "$@"; do
        if [ -e "$dir/$file" ]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

module_dir=${SLAPD_MODULE_DIR:-}
if [ -z "$module_dir" ]; then
    module_dir=$(first_dir_with back_mdb.la /usr/lib/ldap /usr/lib64/openldap /usr/lib/openldap \
        /usr/libexec/openldap /usr/local/libexec/openldap /opt/homebrew/opt/openldap/libexec/openldap) ||
        module_dir=$(first_dir_with back_mdb.so /usr/lib/ldap /usr/lib64/openldap /usr/lib/openldap \
            /usr/libexec/openldap /usr/local/libexec/openldap) ||
        fail "cannot find the back_mdb module; set SLAPD_MODULE_DIR to the directory that holds back_mdb.so"
fi
schema_dir=${SLAPD_SCHEMA_DIR:-}
if [ -z "$schema_dir" ]; then
    schema_dir=$(first_dir_with inetorgperson.ldif /etc/ldap/schema /etc/openldap/schema \
        /usr/local/etc/openldap/schema /opt/homebrew/etc/openldap/schema) ||
        fail "cannot find the OpenLDAP schema files; set SLAPD_SCHEMA_DIR to the directory that holds core.ldif"
fi

mkdir -p "$1"
workdir=$(cd "$1" && pwd -P)
case $workdir in
*$'\n'*) fail "WORKDIR must not contain a newline" ;;
esac

if [ -d "$workdir/slapd.d" ]; then
    echo "$program: using the existing directory in $workdir (delete it to load the seed again)" >&2
    if [ -n "$tls_cert" ] && ! grep -q '^olcTLSCertificateFile:' "$workdir/slapd.d/cn=config.ldif" 2>/dev/null; then
        fail "$workdir was built without TLS; delete it to build it again with the certificate"
    fi
else
    # Build into slapd.d.new and rename at the end, so that a half-built directory is
    # never mistaken for a complete one on the next run.
    rm -rf "$workdir/slapd.d.new" "$workdir/db"
    mkdir -p "$workdir/slapd.d.new" "$workdir/db"
    chmod 700 "$workdir/slapd.d.new" "$workdir/db"
    config=$(<"$template")
    # Quoted replacements: `&` in a path stays literal (bash 5.2 patsub_replacement).
    config=${config//@WORK_DIR@/"$workdir"}
    config=${config//@DB_DIR@/"$workdir/db"}
    config=${config//@MODULE_DIR@/"$module_dir"}
    config=${config//@SCHEMA_DIR@/"$schema_dir"}
    if [ -n "$tls_cert" ]; then
        # The TLS attributes belong to the cn=config entry itself: added below its dn line.
        tls_attributes="olcTLSCertificateFile: $tls_cert"$'\n'"olcTLSCertificateKeyFile: $tls_key"
        if [ -n "$tls_ca" ]; then
            tls_attributes+=$'\n'"olcTLSCACertificateFile: $tls_ca"
        fi
        config=${config/$'\n'"dn: cn=config"$'\n'/$'\n'"dn: cn=config"$'\n'"$tls_attributes"$'\n'}
        [[ $config == *"olcTLSCertificateFile: $tls_cert"* ]] ||
            fail "cannot find the 'dn: cn=config' entry in $template to add the TLS settings to"
    fi
    printf '%s\n' "$config" >"$workdir/config.ldif"
    "$slapadd" -n 0 -F "$workdir/slapd.d.new" -l "$workdir/config.ldif" >&2 ||
        fail "slapadd could not load the configuration $workdir/config.ldif"
    "$slapadd" -n 1 -F "$workdir/slapd.d.new" -l "$seed" >&2 ||
        fail "slapadd could not load the seed $seed"
    mv "$workdir/slapd.d.new" "$workdir/slapd.d"
fi

if [ "${GATEHOUSE_SLAPD_STOP_WITH_STDIN:-}" = 1 ]; then
    slapd_pid=$$ # exec below keeps the pid
    remove_workdir=${GATEHOUSE_SLAPD_REMOVE_WORKDIR:-}
    alive() {
        kill -0 "$1" 2>/dev/null || return 1
        local stat
        if stat=$(cat "/proc/$1/stat" 2>/dev/null); then
            stat=${stat##*) }           # the state follows the parenthesised command name
            [ "${stat%% *}" != Z ] || return 1
        fi
    }
    (
        # fd 3 is the script's stdin (bash gives background jobs /dev/null as stdin).
        # Wake every second to leave as soon as slapd is gone (stopped by its parent);
        # end of file means the parent is gone.
        while alive "$slapd_pid"; do
            status=0
            read -r -t 1 -u 3 _ || status=$?
            if [ "$status" -gt 128 ] || [ "$status" -eq 0 ]; then
                continue
            fi
            if alive "$slapd_pid"; then
                kill -TERM "$slapd_pid" 2>/dev/null || true
                for _ in $(seq 50); do
                    alive "$slapd_pid" || break
                    sleep 0.1
                done
                kill -KILL "$slapd_pid" 2>/dev/null || true
                if [ "$remove_workdir" = 1 ]; then
                    sleep 0.2
                    rm -rf "$workdir"
                fi
            fi
            exit 0
        done
    ) 3<&0 </dev/null >/dev/null 2>&1 &
fi

listeners="ldap://127.0.0.1:$port/"
if [ -n "$ldaps_port" ]; then
    listeners+=" ldaps://127.0.0.1:$ldaps_port/"
fi
tls_note=
if [ -n "$tls_cert" ]; then
    tls_note=", StartTLS with $tls_cert"
fi
echo "$program: starting slapd on $listeners (base dc=example,dc=org, data in $workdir$tls_note)" >&2
# `-d none` keeps slapd in the foreground and logs only startup and errors (such as a
# port already in use) to stderr, not every operation.
exec "$slapd" -d none -h "$listeners" -F "$workdir/slapd.d"
