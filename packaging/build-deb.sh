#!/usr/bin/env bash
# Builds the Debian package: target/debian/gatehouse_<version>-1_<arch>.deb.
#
#   bash packaging/build-deb.sh              the release build (what to ship)
#   bash packaging/build-deb.sh --profile dev --fast
#                                            the debug build, lightly compressed: what the
#                                            test command checks (the same files, many
#                                            minutes less to compile on a small machine)
#
# Needs cargo-deb (cargo install --locked cargo-deb). Generates the man page and the shell
# completions from the binary into target/packaging/, then packs them with cargo deb
# (assets and the systemd unit: Cargo.toml [package.metadata.deb], packaging/debian/).
set -euo pipefail

cd "$(dirname "$0")/.."
profile=release
fast=()
while [ "$#" -gt 0 ]; do
    case $1 in
        --profile) profile=${2:?--profile needs a value}; shift 2 ;;
        --fast) fast=(--fast); shift ;;
        *) echo "build-deb.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done
case $profile in
    dev) binary_dir=target/debug ;;
    *) binary_dir=target/$profile ;;
esac

cargo build --locked --profile "$profile" --bin gatehouse
binary=$binary_dir/gatehouse

out=target/packaging
rm -rf "$out"
mkdir -p "$out"
"$binary" manpage | gzip -9n >"$out/gatehouse.1.gz"
"$binary" completions bash >"$out/gatehouse.bash"
"$binary" completions zsh >"$out/_gatehouse"
"$binary" completions fish >"$out/gatehouse.fish"

# Symbols stripped (no -dbgsym package). Prints the path of the .deb on standard output.
cargo deb --locked --no-build --profile "$profile" --strip --no-dbgsym "${fast[@]}" --output target/debian/
