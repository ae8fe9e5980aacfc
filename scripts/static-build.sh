#!/usr/bin/env bash
# Build a fully static meter2mqtt for x86_64 Linux with the glibc target and crt-static, and
# prove it is static (`file`, `ldd`). The Docker image uses the musl target instead (see
# docker/Dockerfile); this script is for machines where only the glibc target is installed.
#
#   scripts/static-build.sh                          # bridge with jemalloc (production)
#   scripts/static-build.sh bridge                   # bridge with glibc's allocator
#   scripts/static-build.sh bridge,jemalloc,embedded-broker   # with the demo's embedded broker
#
# Caveat of static glibc: broker host names are resolved through glibc's NSS. /etc/hosts
# works (checked with mqtt://localhost); NSS modules that glibc loads at run time (mdns for
# `*.local` names, ldap, ...) may not work in a static binary: prefer an IP address there.
# Another: libc's termios speed functions are bound to versioned glibc symbols
# (`cfgetospeed@GLIBC_2.2.5`), which a static link cannot resolve; code must not call them
# (src/sim/pty.rs reads the speed bits from c_cflag instead). scripts/test.sh runs this
# script, so such a call fails CI.
set -euo pipefail
cd "$(dirname "$0")/.."

features="${1:-bridge,jemalloc}"
target=x86_64-unknown-linux-gnu
# A target dir of its own: different RUSTFLAGS, and no waiting on the lock of target/ while
# someone else runs cargo test there.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/static}"

RUSTFLAGS='-C target-feature=+crt-static' \
  cargo build --release --locked --target "$target" \
  --no-default-features --features "$features"

bin="$CARGO_TARGET_DIR/$target/release/meter2mqtt"
echo "== $bin (features: $features)"
file "$bin"
file "$bin" | grep -Eq 'statically linked|static-pie linked' \
  || { echo "error: not a static executable" >&2; exit 1; }
# ldd exits 1 on a static executable; its message is what we check.
ldd_out="$(ldd "$bin" 2>&1 || true)"
echo "ldd: $ldd_out"
case "$ldd_out" in
  *"not a dynamic executable"* | *"statically linked"*) ;;
  *) echo "error: ldd found dynamic dependencies" >&2; exit 1 ;;
esac
"$bin" --version
bytes=$(stat -c %s "$bin")
awk -v b="$bytes" -v f="$features" 'BEGIN { printf "size: %d bytes = %.2f MB (%.2f MiB), features %s\n", b, b/1e6, b/1048576, f }'
