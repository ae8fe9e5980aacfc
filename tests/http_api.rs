//! The web output through the real server: the real `meter2mqtt` binary reading a P1 meter
//! over a real TCP socket (the test is the relay and writes each telegram when it wants),
//! publishing to a real Mosquitto, and answering real HTTP requests (issue 14).

mod harness;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use harness::http::{get, http_addr, request, EventStream};
use harness::{json, Bridge, Broker, Subscriber};
use serde_json::Value;

const T: Duration = Duration::from_secs(20);
/// A text message (DSMR 5.0.2 §6.12, OBIS 0-0:96.13.0, sent hex-encoded) that is markup.
const MARKUP: &str = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
const METER: &str = "E0099";

/// A DSMR 5 telegram (P1 companion standard 5.0.2 §6.2: CRC16/ARC over `/` to `!`) with
/// `power` in kW, [`MARKUP`] in the text message and a tag in the header's model part (no
/// `/` there: it starts a telegram).
fn telegram(power: &str) -> Vec<u8> {
    let hex = |s: &str| s.bytes().map(|b| format!("{b:02X}")).collect::<String>();
    let body = format!(
        "/ISK5\\2M550T-<img src=x onerror=alert(3)>\r\n\r\n1-3:0.2.8(50)\r\n0-0:1.0.0(240115120000W)\r\n0-0:96.1.1({})\r\n1-0:1.8.1(000123.456*kWh)\r\n1-0:1.7.0({power}*kW)\r\n1-0:21.7.0({power}*kW)\r\n0-0:96.13.0({})\r\n!",
        hex(METER),
        hex(MARKUP)
    );
    let crc = crc::Crc::<u16>::new(&crc::CRC_16_ARC).checksum(body.as_bytes());
    format!("{body}{crc:04X}\r\n").into_bytes()
}

/// The test's side of a P1 TCP relay: the bridge connects, the test writes telegrams.
struct Relay {
    listener: TcpListener,
    conn: Option<TcpStream>,
}

impl Relay {
    fn new() -> Relay {
        Relay {
            listener: TcpListener::bind("127.0.0.1:0").unwrap(),
            conn: None,
        }
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().unwrap().port()
    }

    fn send(&mut self, bytes: &[u8]) {
        if self.conn.is_none() {
            let (s, _) = self.listener.accept().unwrap();
            self.conn = Some(s);
        }
        self.conn.as_mut().unwrap().write_all(bytes).unwrap();
    }
}

fn config(broker: &Broker, relay: &Relay, http: &str) -> String {
    format!(
        "mqtt:\n  url: {}\n  base_topic: web\n  client_id: web\n{http}inputs:\n  - {{name: p1, type: p1, host: 127.0.0.1, port: {}}}\n",
        broker.url(),
        relay.port()
    )
}

/// Start broker, subscriber, bridge; send one telegram; wait for its MQTT state.
fn started(http: &str) -> (Broker, Subscriber, Relay, Bridge, SocketAddr, Value) {
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port, "web-sub", &["web/#"]);
    let mut relay = Relay::new();
    let bridge = Bridge::start(&config(&broker, &relay, http));
    let addr = http_addr(&bridge);
    relay.send(&telegram("01.234"));
    let topic = format!("web/{METER}/state");
    sub.wait_until("the state", T, |m| m.iter().any(|m| m.topic == topic));
    let state = json(&sub.on(&topic)[0]);
    (broker, sub, relay, bridge, addr, state)
}

#[test]
fn every_endpoint_answers_through_the_real_server() {
    let (_broker, _sub, _relay, bridge, addr, mqtt_state) = started("");

    let r = get(addr, "/api/meters");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    // Markup from the meter comes back as the same JSON string, with no tag in the bytes.
    assert!(!r.text().contains('<'), "{}", r.text());
    let v = r.json();
    let meters = v["meters"].as_array().expect("meters");
    assert_eq!(meters.len(), 1, "{v}");
    let m = &meters[0];
    assert_eq!(m["id"], METER);
    assert_eq!(m["kind"], "electricity");
    assert_eq!(m["name"], "Electricity meter");
    assert_eq!(m["manufacturer"], "Iskraemeco");
    assert_eq!(m["input"], "p1");
    assert_eq!(m["parent"], Value::Null);
    assert_eq!(m["online"], true);
    assert!(m["last_seen_ms"].as_u64().unwrap() > 1_700_000_000_000);
    // Exactly the object MQTT published (exact decimals: serde_json keeps the number text).
    assert_eq!(m["state"], mqtt_state);
    assert_eq!(m["state"]["message"], MARKUP);
    assert_eq!(m["state"]["power_import"].to_string(), "1234");
    let qs = m["quantities"].as_array().unwrap();
    let energy = qs.iter().find(|q| q["key"] == "energy_import_t1").unwrap();
    assert_eq!(energy["unit"], "kWh");
    assert_eq!(energy["class"], "energy");
    assert_eq!(energy["counter"], true);
    let model = m["model"].as_str().unwrap_or_default();
    assert!(model.contains("<img src=x onerror=alert(3)>"), "{m}");

    let one = get(addr, &format!("/api/meters/{METER}"));
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["state"], mqtt_state);
    assert_eq!(one.json()["id"], METER);

    let inputs = get(addr, "/api/inputs");
    assert_eq!(inputs.status, 200);
    assert!(inputs.json()["inputs"].is_array(), "{}", inputs.text());

    let t = get(addr, "/api/inputs/p1/telegram");
    assert_eq!(t.status, 200);
    assert_eq!(t.header("content-type"), Some("text/plain; charset=utf-8"));
    // As received: from its `/` to the end of its CRC line.
    let sent = telegram("01.234");
    assert_eq!(t.text(), String::from_utf8_lossy(&sent).trim_end());

    let h = get(addr, "/healthz");
    assert_eq!((h.status, h.text().as_str()), (200, "ok"));

    let page = get(addr, "/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.text().contains("./app.js"), "relative URLs only");
    for f in [
        "/app.js",
        "/app.css",
        "/uPlot.iife.min.js",
        "/uPlot.min.css",
    ] {
        assert_eq!(get(addr, f).status, 200, "{f}");
    }

    // Errors: JSON with a reason.
    for (path, status, needle) in [
        ("/api/meters/nope", 404, "no meter `nope`"),
        ("/api/inputs/nope/telegram", 404, "no telegram"),
        ("/api/meters?kind=gas", 400, "unknown parameter `kind`"),
        ("/api/inputs?x", 400, "unknown parameter `x`"),
        ("/api/meters/%FF%FE", 400, "bad path"),
        ("/nope", 404, "nothing at /nope"),
    ] {
        let r = get(addr, path);
        assert_eq!(r.status, status, "{path}: {}", r.text());
        let e = r.json();
        assert!(e["error"].as_str().unwrap().contains(needle), "{path}: {e}");
    }
    assert_eq!(request(addr, "POST", "/api/meters", &[], b"").status, 405);
    let r = request(addr, "GET", "/api/meters", &[], b"{}");
    assert_eq!(r.status, 413, "{}", r.text());
    let long = format!("/api/meters?token={}", "a".repeat(5000));
    assert_eq!(get(addr, &long).status, 414);

    // The bridge is unchanged by all of it and still running.
    assert_eq!(bridge.log_lines_with("panicked"), 0);
}

/// The venv with Python's `prometheus_client` (`scripts/test.sh` makes it; made here when
/// missing). `None` only when pip cannot install it (no network).
fn python_with_prometheus_client() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let env = std::env::var_os("PYENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/pyenv"));
    let env = if env.is_absolute() {
        env
    } else {
        root.join(env)
    };
    let py = env.join("bin/python");
    let has = |py: &PathBuf| {
        Command::new(py)
            .args(["-c", "import prometheus_client"])
            .status()
            .is_ok_and(|s| s.success())
    };
    if !has(&py) {
        let _ = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&env)
            .status();
        let _ = Command::new(env.join("bin/pip"))
            .args(["install", "-q", "prometheus_client"])
            .status();
    }
    has(&py).then_some(py)
}

#[test]
fn metrics_parse_with_prometheus_client() {
    let (_broker, _sub, _relay, _bridge, addr, _) = started("");
    let Some(py) = python_with_prometheus_client() else {
        eprintln!("\n\n*** SKIPPED: pip could not install prometheus_client (no network?) ***\n\n");
        return;
    };
    // The MQTT figures are refreshed every second.
    let deadline = Instant::now() + T;
    let text = loop {
        let r = get(addr, "/metrics");
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        if r.text().contains("meter2mqtt_mqtt_connected 1") || Instant::now() > deadline {
            break r.text();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let script = r#"
import sys, json
from prometheus_client.parser import text_string_to_metric_families
out = {}
for fam in text_string_to_metric_families(sys.stdin.read()):
    for s in fam.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
        out[f"{s.name}{{{labels}}}"] = [fam.type, s.value]
print(json.dumps(out))
"#;
    let mut child = Command::new(&py)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused /metrics: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let sample = |k: &str| -> (String, f64) {
        let v = &parsed[k];
        assert!(!v.is_null(), "no {k} in {parsed}\n{text}");
        (v[0].as_str().unwrap().to_string(), v[1].as_f64().unwrap())
    };
    let m = format!("meter={METER}");
    assert_eq!(
        sample(&format!("meter2mqtt_power_import_watts{{{m}}}")),
        ("gauge".into(), 1234.0)
    );
    assert_eq!(
        sample(&format!("meter2mqtt_power_import_watts{{{m},phase=l1}}")),
        ("gauge".into(), 1234.0)
    );
    // prometheus_client names a counter's sample with `_total`.
    assert_eq!(
        sample(&format!(
            "meter2mqtt_energy_import_t1_kilowatt_hours_total{{{m}}}"
        )),
        ("counter".into(), 123.456)
    );
    assert_eq!(
        sample(&format!(
            "meter2mqtt_meter_online{{input=p1,kind=electricity,{m}}}"
        )),
        ("gauge".into(), 1.0)
    );
    assert_eq!(sample("meter2mqtt_mqtt_connected{}"), ("gauge".into(), 1.0));
    assert_eq!(sample("meter2mqtt_mqtt_reconnects_total{}").0, "counter");
    assert_eq!(sample("meter2mqtt_mqtt_queue_messages{}").0, "gauge");
    assert!(sample("meter2mqtt_mqtt_delivered_messages_total{}").1 >= 1.0);
    let build = format!(
        "meter2mqtt_build_info{{version={}}}",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(sample(&build), ("gauge".into(), 1.0));
    assert_eq!(
        sample("meter2mqtt_http_sse_clients{}"),
        ("gauge".into(), 0.0)
    );
}

#[test]
fn auth_token_is_required_as_header_or_query() {
    let token = "0123456789abcdef0123";
    let (_broker, _sub, _relay, _bridge, addr, _) =
        started(&format!("http:\n  auth_token: \"{token}\"\n"));
    let r = get(addr, "/api/meters");
    assert_eq!(r.status, 401, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("token"));
    assert!(r.header("www-authenticate").is_some());
    let wrong = request(
        addr,
        "GET",
        "/api/meters",
        &["Authorization: Bearer 0123456789abcdef0124"],
        b"",
    );
    assert_eq!(wrong.status, 401);
    assert_eq!(get(addr, "/api/meters?token=nope").status, 401);
    assert_eq!(get(addr, "/api/inputs").status, 401);
    assert_eq!(get(addr, "/api/inputs/p1/telegram").status, 401);
    assert_eq!(get(addr, "/metrics").status, 401);
    let bearer = format!("Authorization: Bearer {token}");
    let ok = request(addr, "GET", "/api/meters", &[&bearer], b"");
    assert_eq!(ok.status, 200);
    assert_eq!(ok.json()["meters"][0]["id"], METER);
    let q = get(addr, &format!("/api/meters/{METER}?token={token}"));
    assert_eq!(q.status, 200, "{}", q.text());
    // The page's static files hold no reading and load without the token (a browser
    // fetches ./app.js without the page's ?token=).
    assert_eq!(get(addr, "/").status, 200);
    assert_eq!(get(addr, "/app.js").status, 200);
    assert_eq!(get(addr, &format!("/metrics?token={token}")).status, 200);
    let es = EventStream::open(addr, &format!("/api/events?token={token}"));
    assert_eq!(es.status, 200);
    assert_eq!(EventStream::open(addr, "/api/events").status, 401);
    // For container health checks.
    assert_eq!(get(addr, "/healthz").status, 200);
    assert_eq!(
        get(addr, "/nope").status,
        401,
        "only the listed files are open"
    );
}

#[test]
fn without_a_token_nothing_asks_for_one() {
    let (_broker, _sub, _relay, _bridge, addr, _) = started("");
    for p in ["/", "/api/meters", "/api/inputs", "/metrics", "/healthz"] {
        assert_eq!(get(addr, p).status, 200, "{p}");
    }
}

#[test]
fn events_stream_a_state_within_a_second_of_the_telegram() {
    let (_broker, _sub, mut relay, _bridge, addr, _) =
        started("publish:\n  offline_after_intervals: 3\n");
    let mut es = EventStream::open(addr, "/api/events");
    assert_eq!(es.status, 200);
    for (i, (power, watts)) in [("02.500", "2500"), ("03.750", "3750"), ("00.125", "125")]
        .into_iter()
        .enumerate()
    {
        let sent = Instant::now();
        relay.send(&telegram(power));
        let (event, data) = es.next(Duration::from_secs(5)).expect("an event");
        let took = sent.elapsed();
        assert_eq!(event, "state");
        assert!(!data.contains('<'), "{data}");
        let m: Value = serde_json::from_str(&data).unwrap();
        assert_eq!(m["id"], METER);
        assert_eq!(m["state"]["message"], MARKUP);
        assert_eq!(
            m["state"]["power_import"].to_string(),
            watts,
            "telegram {i}"
        );
        assert!(took < Duration::from_secs(1), "telegram {i}: {took:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
    // Silent: the meter goes offline (after max(3 intervals, 5 s)) and the stream says so.
    let deadline = Instant::now() + T;
    loop {
        let (event, data) = es.next(Duration::from_secs(20)).expect("availability");
        if event == "availability" {
            let v: Value = serde_json::from_str(&data).unwrap();
            assert_eq!(v, serde_json::json!({"id": METER, "online": false}));
            break;
        }
        assert!(Instant::now() < deadline);
    }
    let m = get(addr, &format!("/api/meters/{METER}")).json();
    assert_eq!(m["online"], false);
}

#[test]
fn a_busy_port_is_an_error_and_mqtt_goes_on() {
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port, "web-sub", &["web/#"]);
    let mut relay = Relay::new();
    let listen = format!("127.0.0.1:{port}");
    let bridge = Bridge::start_with_env(
        &config(&broker, &relay, ""),
        &[("METER2MQTT_HTTP__LISTEN", &listen)],
    );
    bridge.wait_log("http: cannot listen", T);
    assert!(bridge.log_text().contains("ERROR"), "{}", bridge.log_text());
    relay.send(&telegram("01.234"));
    let topic = format!("web/{METER}/state");
    sub.wait_until("the state", T, |m| m.iter().any(|m| m.topic == topic));
    drop(busy);
}

#[test]
fn connections_beyond_max_connections_wait() {
    let (_broker, _sub, _relay, _bridge, addr, _) = started("http:\n  max_connections: 2\n");
    // Two clients hold their connections open without sending a request.
    let a = TcpStream::connect(addr).unwrap();
    let b = TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let third = std::thread::spawn(move || {
        let started = Instant::now();
        let r = get(addr, "/healthz");
        (r.status, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        !third.is_finished(),
        "a third connection was served while two were held"
    );
    drop(a);
    let (status, took) = third.join().unwrap();
    assert_eq!(status, 200);
    assert!(took >= Duration::from_millis(1400), "{took:?}");
    drop(b);
}

/// The page in a real browser (headless Chromium, driven over the DevTools protocol by
/// `tests/scripts/cdp_inner_html.py`): markup from the meter is text, not elements. (The
/// fuller check, with Playwright and every field of the card, is `tests/page_browser.rs`.)
#[test]
fn the_page_shows_markup_from_a_meter_as_text() {
    let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("chromium is missing: scripts/test.sh installs it");
    let (_broker, _sub, _relay, _bridge, addr, _) = started("");
    let dir = tempfile::tempdir().unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/cdp_inner_html.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(chromium)
        .arg(format!("http://{addr}/"))
        .args([
            &format!("article.meter[data-meter=\"{METER}\"]"),
            "alert(1)",
            "20",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    let html = String::from_utf8_lossy(&out.stdout);
    assert!(
        html.contains(METER),
        "the meter's card is not filled: {html}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The text message is a cell's text: escaped when the DOM is serialized, no element.
    assert!(
        html.contains(
            "&lt;script&gt;alert(1)&lt;/script&gt;\"&gt;&lt;img src=x onerror=alert(2)&gt;"
        ),
        "{html}"
    );
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("<script"), "{html}");
}
