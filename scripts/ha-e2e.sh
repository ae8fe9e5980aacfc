#!/usr/bin/env bash
# Opt-in end-to-end check against a real Home Assistant (docs/home-assistant.md): builds the
# release binary, runs the demo's simulated meters through the shared ha-e2e harness on every
# Home Assistant version we support (2024.3.3, the oldest, and 2025.4.4), and prints both
# verdicts. Exit code 0 only if every version passes.
#
# The harness is not part of this repository: it is ../shared/tools/ha-e2e/run.sh next to the
# checkout (a git worktree looks next to its main checkout), or the path in $HA_E2E. The first
# run per version builds a cached Home Assistant venv under /tmp (a few minutes, needs the
# internet); later runs take about 40 s per version.
#
#   scripts/ha-e2e.sh                      # both versions
#   HA_VERSIONS=2025.4.4 scripts/ha-e2e.sh # one
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

harness=${HA_E2E:-}
if [ -z "$harness" ]; then
  common=$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
  for candidate in "$repo/../shared/tools/ha-e2e/run.sh" \
    ${common:+"$common/../../shared/tools/ha-e2e/run.sh"}; do
    if [ -x "$candidate" ]; then
      harness=$candidate
      break
    fi
  done
fi
if [ -z "$harness" ] || [ ! -x "$harness" ]; then
  echo "ha-e2e harness not found: expected ../shared/tools/ha-e2e/run.sh next to the checkout, or set HA_E2E" >&2
  exit 2
fi

# The demo's meters: DSMR 5 + gas, DSMR 2.2 + gas, e-MUCS + gas + water, MULTICAL 603 (KMP),
# MULTICAL 401 (/#n): 78 entities (10 disabled) in 9 devices. Fewer means a meter or a
# quantity went missing.
expect_min=${HA_EXPECT_MIN:-78}
read -r -a versions <<<"${HA_VERSIONS:-2024.3.3 2025.4.4}"

cargo build --release --locked
out=target/ha-e2e
mkdir -p "$out"

verdicts=()
status=0
for v in "${versions[@]}"; do
  log="$out/ha-$v.log"
  echo "== Home Assistant $v (full output: $log)"
  rc=0
  "$harness" --ha "$v" --expect-min "$expect_min" --wait 60 \
    --publisher "$repo/target/release/meter2mqtt demo --quiet --mqtt {MQTT_URL}" \
    >"$log" 2>&1 || rc=$?
  # The entity, device and Energy dashboard tables, the restart and the log scan.
  sed -n '/^== MQTT entities/,/^--- publisher log/p' "$log" | grep -v '^--- publisher log' || true
  verdict=$(tail -n 1 "$log")
  verdicts+=("$verdict (exit $rc)")
  [ "$rc" -eq 0 ] || status=1
done

echo
echo "== verdicts"
printf '%s\n' "${verdicts[@]}"
exit "$status"
