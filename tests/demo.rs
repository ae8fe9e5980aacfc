//! `meter2mqtt demo` end to end: the real binary with its simulated meters, publishing to a
//! real Mosquitto (`--mqtt`) or to its embedded broker (`--port`), watched by a real MQTT
//! subscriber. The expected meters are derived from what arrives (the demo may gain meters):
//! every state has discovery pointing at it and every discovery config has its state.

mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use harness::{Broker, Msg, Subscriber};
use serde_json::Value;

/// `--duration` given to the demo.
const DURATION: u64 = 8;
/// Upper bound for the demo to finish: its duration, then the bridge's shutdown (publishing
/// offline, flushing), with room for a loaded CI machine.
const EXIT_TIMEOUT: Duration = Duration::from_secs(DURATION + 25);
const T: Duration = Duration::from_secs(20);

/// The demo as a child process; killed if a test panics before it exits.
struct Demo {
    child: Child,
    dir: tempfile::TempDir,
    started: Instant,
}

impl Demo {
    fn start(args: &[&str]) -> Demo {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = std::fs::File::create(dir.path().join("stdout")).expect("stdout file");
        let err = std::fs::File::create(dir.path().join("stderr")).expect("stderr file");
        let child = Command::new(env!("CARGO_BIN_EXE_meter2mqtt"))
            .arg("demo")
            .args(args)
            .args(["--duration", &DURATION.to_string(), "--quiet"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start meter2mqtt demo");
        Demo {
            child,
            dir,
            started: Instant::now(),
        }
    }

    fn output(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            read("stdout"),
            read("stderr")
        )
    }

    /// Wait for the demo to stop by itself; panics if it is still running after `timeout`.
    fn wait(&mut self, timeout: Duration) -> (ExitStatus, Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return (st, self.started.elapsed());
            }
            assert!(
                Instant::now() < deadline,
                "demo --duration {DURATION} still running after {timeout:?}\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn json(m: &Msg) -> Value {
    serde_json::from_str(&m.payload).unwrap_or(Value::Null)
}

/// What the demo published, grouped: the last state per state topic and the discovery configs
/// (non-empty, i.e. not removals) per meter node id.
#[derive(Debug, Default)]
struct Seen {
    /// `meter2mqtt/<meter>/state` -> last state object.
    states: BTreeMap<String, Value>,
    /// `meter2mqtt/<meter>/state` -> every key seen in any of its states.
    keys: BTreeMap<String, BTreeSet<String>>,
    /// config topic -> config object.
    configs: BTreeMap<String, Value>,
}

fn seen(msgs: &[Msg]) -> Seen {
    let mut s = Seen::default();
    for m in msgs {
        let parts: Vec<&str> = m.topic.split('/').collect();
        match parts.as_slice() {
            ["meter2mqtt", _, "state"] => {
                let v = json(m);
                if let Some(obj) = v.as_object() {
                    s.keys
                        .entry(m.topic.clone())
                        .or_default()
                        .extend(obj.keys().cloned());
                }
                s.states.insert(m.topic.clone(), v);
            }
            ["homeassistant", "sensor", _, _, "config"] if !m.payload.is_empty() => {
                s.configs.insert(m.topic.clone(), json(m));
            }
            _ => {}
        }
    }
    s
}

/// Poll until the messages so far form a complete set and return that snapshot, so the checks
/// run on exactly the messages that were complete (not on a later, half-delivered set).
fn wait_complete(sub: &Subscriber, what: &str) -> Seen {
    let deadline = Instant::now() + T;
    loop {
        let s = seen(&sub.all());
        if s.complete() {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}:\n{}",
            s.summary()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Seen {
    /// State topics whose last state carries `key` as a number.
    fn meters_with(&self, key: &str) -> Vec<&str> {
        self.states
            .iter()
            .filter(|(_, v)| v[key].is_number())
            .map(|(t, _)| t.as_str())
            .collect()
    }

    /// The simulated meters are all there: at least 3 electricity meters, a gas and a water
    /// meter, each state with its discovery and each discovery with its state.
    fn complete(&self) -> bool {
        let targets: BTreeSet<&str> = self
            .configs
            .values()
            .filter_map(|c| c["state_topic"].as_str())
            .collect();
        self.meters_with("energy_import_t1").len() >= 3
            && !self.meters_with("gas").is_empty()
            && !self.meters_with("water").is_empty()
            && self.states.keys().all(|t| targets.contains(t.as_str()))
            && targets.iter().all(|t| self.states.contains_key(*t))
    }

    /// What is missing, for timeout messages (the configs themselves are too long to print).
    fn summary(&self) -> String {
        let targets: BTreeSet<&str> = self
            .configs
            .values()
            .filter_map(|c| c["state_topic"].as_str())
            .collect();
        let no_discovery: Vec<&String> = self
            .states
            .keys()
            .filter(|t| !targets.contains(t.as_str()))
            .collect();
        let no_state: Vec<&&str> = targets
            .iter()
            .filter(|t| !self.states.contains_key(**t))
            .collect();
        format!(
            "states: {:?}\n{} discovery configs\nelectricity meters: {}, gas: {}, water: {}\n\
             states without discovery: {no_discovery:?}\ndiscovery without state: {no_state:?}",
            self.states.keys().collect::<Vec<_>>(),
            self.configs.len(),
            self.meters_with("energy_import_t1").len(),
            self.meters_with("gas").len(),
            self.meters_with("water").len(),
        )
    }

    /// Content checks on a complete set (clear messages when one fails).
    fn check(&self) {
        assert!(self.complete(), "incomplete: {}", self.summary());
        for (topic, state) in &self.states {
            // ISO 8601 with a UTC offset: "2024-01-15T12:00:05+01:00" (+02:00 in summer,
            // +00:00 for meters without a clock).
            let time = state["time"].as_str().unwrap_or_default().as_bytes();
            let offset = &time[time.len().saturating_sub(6)..];
            assert!(
                time.len() >= 25
                    && time[10] == b'T'
                    && matches!(offset[0], b'+' | b'-')
                    && offset[3] == b':',
                "{topic}: time with offset: {state}"
            );
        }
        for topic in self.meters_with("energy_import_t1") {
            let s = &self.states[topic];
            assert!(s["power_import"].is_number(), "{topic}: {s}");
            assert!(s["energy_import_t2"].is_number(), "{topic}: {s}");
        }
        for (topic, c) in &self.configs {
            // homeassistant/sensor/meter2mqtt_<meter>/<key>/config
            let parts: Vec<&str> = topic.split('/').collect();
            let meter = parts[2]
                .strip_prefix("meter2mqtt_")
                .unwrap_or_else(|| panic!("{topic}: node id without the meter2mqtt_ prefix"));
            assert_eq!(
                c["state_topic"],
                format!("meter2mqtt/{meter}/state"),
                "{topic}"
            );
            if c["device_class"] == "enum" {
                // Issue 12 §3: enums map the state's number to an option's name; the template
                // reads the same key (and Domoticz finds it there, see mqtt::discovery).
                let t = c["value_template"].as_str().unwrap_or_default();
                assert!(
                    t.starts_with(&format!("{{% if value_json.{} == ", parts[3])),
                    "{topic}: {t}"
                );
                assert!(
                    c["options"].as_array().is_some_and(|o| !o.is_empty()),
                    "{topic}"
                );
            } else {
                assert_eq!(
                    c["value_template"],
                    format!("{{{{ value_json.{} }}}}", parts[3]),
                    "{topic}"
                );
            }
            assert!(c["unique_id"].is_string(), "{topic}: {c}");
            assert!(c["device"]["identifiers"].is_array(), "{topic}: {c}");
            // The key the entity reads comes in its states (HA shows "unknown" otherwise).
            let state_topic = format!("meter2mqtt/{meter}/state");
            assert!(
                self.keys[&state_topic].contains(parts[3]),
                "{topic}: key {} never in {state_topic}: {}",
                parts[3],
                self.states[&state_topic]
            );
        }
        // (topic, config) of the entities of one device_class.
        let classes = |class: &str| {
            self.configs
                .iter()
                .filter(|(_, c)| c["device_class"] == class)
                .collect::<Vec<_>>()
        };
        // Every entity of `class` has one of `units` (and `state_class`, when given).
        let expect = |class: &str, units: &[&str], state_class: Option<&str>| {
            let all = classes(class);
            let wrong: Vec<String> = all
                .iter()
                .filter(|(_, c)| {
                    !units.iter().any(|u| c["unit_of_measurement"] == *u)
                        || state_class.is_some_and(|s| c["state_class"] != s)
                })
                .map(|(t, c)| format!("{t}: {} {}", c["unit_of_measurement"], c["state_class"]))
                .collect();
            assert!(
                wrong.is_empty(),
                "{class} entities must be {units:?} {state_class:?}: {wrong:#?}"
            );
            all.len()
        };
        let total = Some("total_increasing");
        assert!(expect("gas", &["m³"], total) > 0, "no gas entity");
        assert!(expect("water", &["m³"], total) > 0, "no water entity");
        // Electricity in kWh; heat meters count in the unit the meter shows (GJ, MWh, kWh).
        let energy_units = ["kWh", "Wh", "MWh", "MJ", "GJ"];
        assert!(
            expect("energy", &energy_units, total) > 0,
            "no energy entity"
        );
        assert!(
            expect("power", &["W", "kW"], Some("measurement")) > 0,
            "no power entity"
        );
        // The electricity counters of the P1 meters: kWh, exactly as the meter counts.
        for (topic, c) in &self.configs {
            if topic.contains("/energy_import_") || topic.contains("/energy_export_") {
                assert_eq!(c["unit_of_measurement"], "kWh", "{topic}");
            }
        }
    }
}

#[test]
fn demo_publishes_every_simulated_meter_to_mosquitto_and_exits_after_duration() {
    let broker = Broker::start();
    let sub = Subscriber::connect(
        broker.port,
        "t-demo",
        &["meter2mqtt/#", "homeassistant/sensor/#"],
    );
    let mut demo = Demo::start(&["--mqtt", &broker.url()]);

    wait_complete(&sub, "every simulated meter's states and discovery");
    let (status, elapsed) = demo.wait(EXIT_TIMEOUT);
    assert!(status.success(), "exit status {status}\n{}", demo.output());
    assert!(
        elapsed >= Duration::from_secs(DURATION),
        "stopped after {elapsed:?}, before --duration {DURATION}"
    );

    // Availability: the bridge went online, and said offline for itself and every meter on
    // the way out (retained, so Home Assistant shows them unavailable).
    sub.wait_until("offline after --duration", T, |m| {
        let last = |t: &str| {
            m.iter()
                .rev()
                .find(|x| x.topic == t)
                .map(|x| x.payload.clone())
        };
        let states = seen(m).states;
        last("meter2mqtt/status").as_deref() == Some("offline")
            && m.iter()
                .any(|x| x.topic == "meter2mqtt/status" && x.payload == "online")
            && states.keys().all(|t| {
                let avail = t.replace("/state", "/availability");
                last(&avail).as_deref() == Some("offline")
            })
    });

    // Everything the demo published (offline comes last, so the rest has arrived).
    wait_complete(&sub, "the complete set after exit").check();

    // The broker kept everything retained: a client connecting after the demo stopped still
    // gets every meter's last state and its discovery.
    let late = Subscriber::connect(
        broker.port,
        "t-demo-late",
        &["meter2mqtt/+/state", "homeassistant/sensor/#"],
    );
    wait_complete(&late, "retained states and discovery").check();
    let live: Vec<String> = late
        .all()
        .into_iter()
        .filter(|m| !m.retain)
        .map(|m| m.topic)
        .collect();
    assert!(live.is_empty(), "not retained: {live:?}");
}

#[cfg(feature = "embedded-broker")]
#[test]
fn demo_with_embedded_broker_serves_states_and_discovery() {
    let port = harness::free_port();
    let mut demo = Demo::start(&["--port", &port.to_string()]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "embedded broker not listening on {port}\n{}",
            demo.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let sub = Subscriber::connect(
        port,
        "t-demo-embedded",
        &["meter2mqtt/#", "homeassistant/sensor/#"],
    );
    wait_complete(
        &sub,
        "every simulated meter's states and discovery from the embedded broker",
    )
    .check();
    assert!(
        sub.on("meter2mqtt/status")
            .iter()
            .any(|m| m.payload == "online"),
        "no online status"
    );
    let (status, elapsed) = demo.wait(EXIT_TIMEOUT);
    assert!(status.success(), "exit status {status}\n{}", demo.output());
    assert!(
        elapsed >= Duration::from_secs(DURATION),
        "stopped after {elapsed:?}"
    );
}

/// Issue 15: the demo re-serves its DSMR 5 meter over TCP and prints where; a plain client
/// there gets whole telegrams that the decoder accepts (CRC valid), of the DSMR 5 meter.
#[test]
fn demo_serves_its_dsmr5_meter_over_tcp_on_the_port_it_prints() {
    use meter2mqtt::protocol::dsmr::{CrcStatus, DecoderOptions, P1Decoder, P1Event};
    use std::io::Read;
    let broker = Broker::start();
    let mut demo = Demo::start(&["--mqtt", &broker.url(), "--serve-port", "0"]);
    let deadline = Instant::now() + T;
    let port: u16 = loop {
        let out = demo.output();
        let found = out
            .lines()
            .find(|l| l.contains("P1 over TCP"))
            .and_then(|l| l.split("127.0.0.1:").nth(1))
            .and_then(|p| p.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok());
        if let Some(p) = found {
            break p;
        }
        assert!(Instant::now() < deadline, "no P1 port printed\n{out}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut s = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(e) => {
                assert!(Instant::now() < deadline, "{port}: {e}\n{}", demo.output());
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    s.set_read_timeout(Some(T)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let mut dec = P1Decoder::new(DecoderOptions::default());
    let now = meter2mqtt::time::Timestamp::new(2025, 1, 1, 0, 0, 0, 0).unwrap();
    let mut telegrams = Vec::new();
    while telegrams.len() < 2 {
        let n = s.read(&mut buf).expect("read the served telegrams");
        assert!(n > 0, "closed after {} bytes", got.len());
        got.extend_from_slice(&buf[..n]);
        dec.push(&buf[..n]);
        while let Some(ev) = dec.next_event(now) {
            match ev {
                P1Event::Telegram(t) => telegrams.push(t),
                P1Event::Rejected(r) => panic!("served bytes rejected: {r}"),
            }
        }
    }
    assert_eq!(got.first(), Some(&b'/'), "starts with a whole telegram");
    for t in &telegrams {
        assert_eq!(t.crc, CrcStatus::Valid);
        assert!(
            t.raw.starts_with(b"/Ene5\\T210-D ESMR5.0"),
            "the DSMR 5 meter"
        );
    }
    let (status, _) = demo.wait(EXIT_TIMEOUT);
    assert!(status.success(), "exit status {status}\n{}", demo.output());
}

/// The demo starts with days of history (backfilled from the simulated household) behind
/// its page's API, kept in `--data-dir` when one is given.
#[cfg(feature = "embedded-broker")]
#[test]
fn demo_fills_the_history() {
    let port = harness::free_port();
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().display().to_string();
    // The web server on a port of its own (`127.0.0.1:0`), found in its log line: a port
    // picked here could be taken by another test's broker or bridge before the demo binds it.
    let mut demo = Demo::start(&[
        "--port",
        &port.to_string(),
        "--http",
        "127.0.0.1:0",
        "--data-dir",
        &data_dir,
        "--log-level",
        "warn,meter2mqtt::http=info",
    ]);
    let deadline = Instant::now() + T;
    let http = loop {
        let out = demo.output();
        if let Some(rest) = out.split("http listening addr=").nth(1) {
            break rest
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string();
        }
        assert!(Instant::now() < deadline, "no web server\n{out}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let meter = "E0043007052870319";
    let ask = |q: &str| -> (u16, Value) {
        let (status, body) = harness::http_get(&http, &format!("/api/meters/{meter}/history?{q}"));
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    };
    let days = loop {
        let (status, v) = ask("key=energy_import_t1&resolution=day");
        if status == 200 {
            break v;
        }
        assert!(
            Instant::now() < deadline,
            "no history on {http}\n{}",
            demo.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // Three days back from now: four UTC days (or three at midnight), counters rising.
    let points = days["points"].as_array().unwrap();
    assert!(points.len() >= 3, "{days}");
    assert!(
        points[1..]
            .iter()
            .all(|p| p["delta"].as_f64().is_some_and(|d| d > 0.0)),
        "{days}"
    );
    let (status, hours) = ask("key=power_import&resolution=hour");
    assert_eq!(status, 200, "{hours}");
    let hours = hours["points"].as_array().unwrap().len();
    assert!(hours >= 48, "48 hours by default: {hours}");
    let (status, minutes) = ask("key=power_import");
    assert_eq!(status, 200, "{minutes}");
    assert!(
        minutes["points"].as_array().unwrap().len() >= 59,
        "{minutes}"
    );
    // The heat meters (polled: KMP and MULTICAL `/#n`) are backfilled too: their energy per
    // hour and their power per minute are there before their first live minute ends.
    let heat = loop {
        let (_, body) = harness::http_get(&http, "/api/meters");
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let ids: Vec<String> = v["meters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["kind"] == "heat")
            .filter_map(|m| m["id"].as_str().map(String::from))
            .collect();
        if ids.len() >= 2 {
            break ids;
        }
        assert!(Instant::now() < deadline, "no heat meters: {body}");
        std::thread::sleep(Duration::from_millis(100));
    };
    for id in &heat {
        let q = |q: &str| {
            let (status, body) = harness::http_get(&http, &format!("/api/meters/{id}/history?{q}"));
            assert_eq!(status, 200, "{id} {q}: {body}");
            let v: Value = serde_json::from_str(&body).unwrap();
            v["points"].as_array().cloned().unwrap_or_default()
        };
        let hours = q("key=heat_energy&resolution=hour");
        assert!(
            hours.len() >= 48,
            "{id}: {} hours of heat energy",
            hours.len()
        );
        assert!(
            hours[1..]
                .iter()
                .all(|p| p["delta"].as_f64().is_some_and(|d| d >= 0.0)),
            "{id}: {hours:?}"
        );
        assert!(
            hours
                .iter()
                .any(|p| p["delta"].as_f64().is_some_and(|d| d > 0.0)),
            "{id}: the heat energy rises: {hours:?}"
        );
    }
    let (status, elapsed) = demo.wait(EXIT_TIMEOUT);
    assert!(status.success(), "exit status {status}\n{}", demo.output());
    assert!(elapsed >= Duration::from_secs(DURATION));
    assert!(
        demo.output()
            .contains("3 days backfilled from the simulated household"),
        "{}",
        demo.output()
    );
    assert!(data.path().join("history.sqlite3").exists());
}

/// A closed terminal sends SIGHUP. The demo has no file to reload: it stops as on Ctrl-C,
/// saying `offline` for itself on the way out (it used to die by the signal's default action,
/// leaving everything retained `online` and its temporary history behind).
#[test]
fn demo_stops_cleanly_on_sighup() {
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port, "t-demo-hup", &["meter2mqtt/#"]);
    let mut demo = Demo::start(&["--mqtt", &broker.url()]);
    sub.wait_until("a first state", T, |m| {
        m.iter().any(|x| x.topic.ends_with("/state"))
    });
    let pid = i32::try_from(demo.child.id()).expect("pid");
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGHUP) }, 0);
    let (status, elapsed) = demo.wait(EXIT_TIMEOUT);
    assert!(status.success(), "exit status {status}\n{}", demo.output());
    assert!(
        elapsed < Duration::from_secs(DURATION),
        "stopped after {elapsed:?}: by --duration, not by SIGHUP\n{}",
        demo.output()
    );
    sub.wait_until("offline after SIGHUP", T, |m| {
        m.iter()
            .rev()
            .find(|x| x.topic == "meter2mqtt/status")
            .is_some_and(|x| x.payload == "offline")
    });
}
