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
# tests/page_browser.rs and tests/http_api.rs: the web page in Debian's headless Chromium.
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

# Python packages the tests need, in one venv the tests find through PYENV: prometheus_client
# parses /metrics (tests/http_api.rs); Playwright drives the system Chromium for
# tests/page_browser.rs (never its own browsers).
export PYENV="${PYENV:-target/pyenv}"
if ! "$PYENV/bin/python" -c "import prometheus_client" 2>/dev/null; then
  python3 -m venv "$PYENV"
  "$PYENV/bin/pip" install -q prometheus_client
fi
if ! "$PYENV/bin/python" -c 'import playwright.sync_api' 2>/dev/null; then
  [ -x "$PYENV/bin/python" ] || python3 -m venv "$PYENV"
  if ! "$PYENV/bin/pip" install -q 'playwright==1.65.2'; then
    echo "!!! pip could not install playwright (no network?): tests/page_browser.rs is SKIPPED !!!"
    export PAGE_BROWSER_SKIP=1
  fi
fi

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
# The protocol cores alone, as a library user without the bridge would build them.
cargo check --lib --no-default-features
cargo test --all 2>&1
# The fully static binary the container and the Pi install ship (skip with SKIP_STATIC=1).
if [ "${SKIP_STATIC:-0}" != 1 ]; then
  scripts/static-build.sh bridge
fi
# On demand only (slow, needs the package registries the first time): the demo against a real
# Home Assistant 2024.3.3 and 2025.4.4 (docs/home-assistant.md).
if [ "${HA_E2E_RUN:-0}" = 1 ]; then
  scripts/ha-e2e.sh
fi
