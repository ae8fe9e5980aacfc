//! End to end: simulated P1 meters on a real pseudo-terminal and a real TCP socket, the real
//! `meter2mqtt` binary, a real Mosquitto and a real MQTT subscriber.

mod harness;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use harness::{json, Bridge, Broker, Subscriber};
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use meter2mqtt::sim::serve::{dsmr_on_pty, SimStats};

const T: Duration = Duration::from_secs(20);
/// 2024-01-15 12:00:00 (meter local time)
const CLOCK: i64 = 1_705_320_000;

fn config(broker: &Broker, base: &str, input: &str) -> String {
    format!(
        "mqtt:\n  url: {}\n  base_topic: {base}\n  client_id: {base}\n  keepalive: 5s\n\
publish:\n  offline_after_intervals: 3\n\
homeassistant:\n  stale_meter_timeout: 3s\n\
inputs:\n{input}",
        broker.url()
    )
}

struct PtyMeter {
    stop: Arc<AtomicBool>,
    stats: Arc<SimStats>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl PtyMeter {
    /// A simulated DSMR meter on a new pty, reachable through the symlink `link`.
    fn start(flavour: Flavour, every: Duration, link: &std::path::Path) -> PtyMeter {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(SimStats::default());
        let meter = DsmrMeter::new(flavour, CLOCK, 1);
        let (path, handle) = dsmr_on_pty(meter, every, stats.clone(), stop.clone()).expect("pty");
        let _ = std::fs::remove_file(link);
        std::os::unix::fs::symlink(path, link).expect("symlink");
        PtyMeter {
            stop,
            stats,
            handle: Some(handle),
        }
    }

    /// Close the pty: the bridge sees the device vanish like an unplugged USB cable.
    fn unplug(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for PtyMeter {
    fn drop(&mut self) {
        self.unplug();
    }
}

fn states(sub: &Subscriber, topic: &str) -> Vec<serde_json::Value> {
    sub.on(topic).iter().map(json).collect()
}

#[test]
fn serial_p1_meter_appears_in_home_assistant_with_gas_submeter() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("usb-P1_Cable-if00-port0");
    let _meter = PtyMeter::start(Flavour::Dsmr5, Duration::from_millis(200), &link);
    let sub = Subscriber::connect(broker.port, "t-sub", &["m2m/#", "homeassistant/#"]);
    let mut bridge = Bridge::start(&config(
        &broker,
        "m2m",
        &format!(
            "  - name: p1\n    type: p1\n    device: {}\n",
            link.display()
        ),
    ));
    // Electricity meter id from the hex-encoded 0-0:96.1.1; gas from 0-1:96.1.0.
    let e = "m2m/E0043007052870319/state";
    let g = "m2m/G0012345678901235/state";
    sub.wait_until("electricity and gas states", T, |m| {
        m.iter().filter(|x| x.topic == e).count() >= 3 && m.iter().any(|x| x.topic == g)
    });
    let s = states(&sub, e);
    let last = s.last().unwrap();
    assert!(last["energy_import_t1"].is_number(), "{last}");
    assert!(last["power_import"].is_number());
    assert!(last["time"].as_str().unwrap().ends_with("+01:00"), "{last}");
    // Exact digits: kWh with three decimals straight from the telegram.
    let raw = sub.on(e).last().unwrap().payload.clone();
    assert!(raw.contains("\"energy_import_t2\":9876.5"), "{raw}");
    // Counters never decrease between consecutive states.
    let t1: Vec<f64> = s
        .iter()
        .filter_map(|v| v["energy_import_t1"].as_f64())
        .collect();
    assert!(t1.windows(2).all(|w| w[1] >= w[0]));
    let gas = states(&sub, g);
    assert!(gas.last().unwrap()["gas"].is_number());

    // Discovery: retained, exact HA classes, sub-meter linked to its parent.
    let cfg_topic = "homeassistant/sensor/m2m_E0043007052870319/energy_import_t1/config";
    let gas_cfg = "homeassistant/sensor/m2m_G0012345678901235/gas/config";
    sub.wait_until("discovery", T, |m| {
        m.iter().any(|x| x.topic == cfg_topic) && m.iter().any(|x| x.topic == gas_cfg)
    });
    let c = json(&sub.on(cfg_topic)[0]);
    assert_eq!(c["device_class"], "energy");
    assert_eq!(c["state_class"], "total_increasing");
    assert_eq!(c["unit_of_measurement"], "kWh");
    assert_eq!(c["state_topic"], e);
    assert_eq!(c["availability_mode"], "all");
    assert_eq!(c["device"]["serial_number"], "E0043007052870319");
    // Issue 12 §3: the serial is in `serial_number`, not in the name (one P1 input: no
    // input name needed); the protocol is the hardware version, not the firmware.
    assert_eq!(c["device"]["name"], "Electricity meter");
    assert_eq!(c["device"]["hw_version"], "DSMR 5.0");
    assert!(c["device"].get("sw_version").is_none(), "{c}");
    let gc = json(&sub.on(gas_cfg)[0]);
    assert_eq!(gc["device_class"], "gas");
    assert_eq!(gc["unit_of_measurement"], "m³");
    assert_eq!(gc["device"]["via_device"], "m2m_E0043007052870319");
    assert_eq!(gc["device"]["name"], "Gas meter");
    assert_eq!(gc["device"]["model"], "M-Bus gas meter");
    // The gas meter's gas takes the device's name ("Gas meter", not "Gas meter Gas").
    assert!(gc["name"].is_null(), "{gc}");
    // Issue 12 §3: the tariff is an enum with the DSMR names; the state keeps the number.
    let tariff_cfg = "homeassistant/sensor/m2m_E0043007052870319/tariff/config";
    sub.wait_until("tariff discovery", T, |m| {
        m.iter().any(|x| x.topic == tariff_cfg)
    });
    let tc = json(&sub.on(tariff_cfg)[0]);
    assert_eq!(tc["device_class"], "enum");
    assert_eq!(tc["options"], serde_json::json!(["low", "normal"]));
    assert!(last["tariff"].is_number(), "{last}");
    let volt = json(&sub.on("homeassistant/sensor/m2m_E0043007052870319/voltage_l1/config")[0]);
    assert_eq!(volt["entity_category"], "diagnostic");

    // A late subscriber gets the retained discovery and the last state at once.
    let late = Subscriber::connect(broker.port, "t-late", &[cfg_topic, e, "m2m/status"]);
    late.wait_until("retained messages", T, |m| {
        m.iter().any(|x| x.topic == cfg_topic && x.retain)
            && m.iter().any(|x| x.topic == e && x.retain)
            && m.iter()
                .any(|x| x.topic == "m2m/status" && x.payload == "online")
    });

    // Kill -9: the broker publishes the last will.
    bridge.kill9();
    sub.wait_until("last will offline", T, |m| {
        m.iter()
            .any(|x| x.topic == "m2m/status" && x.payload == "offline")
    });
}

#[test]
fn tcp_p1_relay_restart_and_sigterm() {
    let broker = Broker::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let port = harness::free_port();
    let stats = Arc::new(SimStats::default());
    let serve = |stats: Arc<SimStats>| {
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
            .expect("bind");
        let meter = DsmrMeter::new(Flavour::BelgianEmucs, CLOCK, 2);
        rt.spawn(meter2mqtt::sim::serve::dsmr_on_tcp(
            listener,
            meter,
            Duration::from_millis(200),
            stats,
        ))
    };
    let relay = serve(stats.clone());
    let sub = Subscriber::connect(broker.port, "t-sub2", &["be/#"]);
    let mut bridge = Bridge::start(&config(
        &broker,
        "be",
        &format!("  - name: p1be\n    type: p1\n    host: 127.0.0.1\n    port: {port}\n    idle_timeout: 3s\n"),
    ));
    sub.wait_until("Belgian states with gas and water", T, |m| {
        let e = m
            .iter()
            .any(|x| x.topic.starts_with("be/1SAG") && x.topic.ends_with("/state"));
        let w = m.iter().any(|x| x.topic == "be/W0098765432109878/state");
        e && w
    });
    let water = sub.on("be/W0098765432109878/state");
    assert!(json(water.last().unwrap())["water"].is_number());
    let before = sub.all().len();
    // The relay goes away (dongle reboot) and comes back on the same port.
    relay.abort();
    std::thread::sleep(Duration::from_millis(1500));
    let _relay = serve(stats.clone());
    sub.wait_until("states after the relay restarted", T, |m| {
        m.len() > before + 10
    });
    // SIGTERM: meters and bridge go offline, exit code 0.
    let code = bridge.terminate();
    assert_eq!(code, Some(0), "log: {}", bridge.log_text());
    sub.wait_until("offline on SIGTERM", T, |m| {
        m.iter()
            .any(|x| x.topic == "be/status" && x.payload == "offline")
            && m.iter()
                .any(|x| x.topic.ends_with("/availability") && x.payload == "offline")
    });
}

#[test]
fn serial_device_unplugged_and_replugged() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("usb-P1-port0");
    let mut meter = PtyMeter::start(Flavour::Dsmr5, Duration::from_millis(200), &link);
    let sub = Subscriber::connect(broker.port, "t-sub3", &["pl/#"]);
    let _bridge = Bridge::start(&config(
        &broker,
        "pl",
        &format!(
            "  - name: p1\n    type: p1\n    device: {}\n    preset: dsmr5\n",
            link.display()
        ),
    ));
    let e = "pl/E0043007052870319/state";
    for round in 0..3 {
        let seen = sub.on(e).len();
        sub.wait_until(&format!("states in round {round}"), T, |m| {
            m.iter().filter(|x| x.topic == e).count() >= seen + 3
        });
        meter.unplug();
        let _ = std::fs::remove_file(&link);
        std::thread::sleep(Duration::from_millis(700));
        meter = PtyMeter::start(Flavour::Dsmr5, Duration::from_millis(200), &link);
    }
    let seen = sub.on(e).len();
    sub.wait_until("states after the last replug", T, |m| {
        m.iter().filter(|x| x.topic == e).count() >= seen + 3
    });
    assert!(meter.stats.telegrams.load(Ordering::SeqCst) > 0);
}

#[test]
fn home_assistant_birth_republishes_and_ghosts_are_removed() {
    let broker = Broker::start();
    // Memory from an earlier run: an entity that no longer exists and a meter that is gone.
    let pre = Subscriber::connect(broker.port, "t-pre", &["nothing"]);
    let ghost = "homeassistant/sensor/ha_E0043007052870319/old_quantity/config";
    let gone = "homeassistant/sensor/ha_OLDMETER/energy_import_t1/config";
    // As the bridge writes them: the availability list names the bridge (`ha/status`), which
    // is how it tells its own configs from another bridge's (issue 18 §4).
    let written_by_ha = |meter: &str| {
        format!(
            r#"{{"state_topic":"ha/{meter}/state","availability":[{{"topic":"ha/status"}},{{"topic":"ha/{meter}/availability"}}]}}"#
        )
    };
    pre.publish(ghost, &written_by_ha("E0043007052870319"), true);
    pre.publish(gone, &written_by_ha("OLDMETER"), true);
    pre.publish(
        "ha/E0043007052870319/state",
        r#"{"time":"x","energy_import_t1":99999999.999}"#,
        true,
    );
    std::thread::sleep(Duration::from_millis(300));

    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("p1");
    let _meter = PtyMeter::start(Flavour::Dsmr5, Duration::from_millis(200), &link);
    let sub = Subscriber::connect(broker.port, "t-sub4", &["homeassistant/#", "ha/#"]);
    let _bridge = Bridge::start(&config(
        &broker,
        "ha",
        &format!(
            "  - name: p1\n    type: p1\n    device: {}\n",
            link.display()
        ),
    ));
    let cfg = "homeassistant/sensor/ha_E0043007052870319/energy_import_t1/config";
    sub.wait_until("ghost entity cleared", T, |m| {
        m.iter().any(|x| x.topic == ghost && x.payload.is_empty())
    });
    sub.wait_until("stale meter cleared after stale_meter_timeout", T, |m| {
        m.iter().any(|x| x.topic == gone && x.payload.is_empty())
    });
    // The retained state read back at start is only a hint for the counter guard (issue 18
    // §1): the old, higher value holds the meter's lower counter back until 5 of its readings
    // over 10 s agree, then the meter's own value is published, never the hint.
    let e = "ha/E0043007052870319/state";
    let first_states: Vec<String> = sub
        .on(e)
        .iter()
        .filter(|m| !m.retain)
        .take(4)
        .map(|m| m.payload.clone())
        .collect();
    assert!(
        first_states.iter().all(|p| !p.contains("energy_import_t1")),
        "{first_states:?}"
    );
    sub.wait_until("the meter's own energy_import_t1 wins", T, |m| {
        m.iter()
            .any(|x| x.topic == e && !x.retain && x.payload.contains("\"energy_import_t1\":12345."))
    });
    let n = sub.on(cfg).len();
    sub.publish("homeassistant/status", "online", false);
    sub.wait_until("discovery republished after HA birth", T, |m| {
        m.iter().filter(|x| x.topic == cfg).count() > n
    });
}

#[test]
fn broker_restart_loses_no_reading() {
    let mut broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("p1");
    let _meter = PtyMeter::start(Flavour::Dsmr5, Duration::from_millis(100), &link);
    let topic = "rs/E0043007052870319/state";
    let sub = Subscriber::connect_with(broker.port, "t-persist", &[topic], false);
    let _bridge = Bridge::start(&config(
        &broker,
        "rs",
        &format!(
            "  - name: p1\n    type: p1\n    device: {}\n",
            link.display()
        ),
    ));
    sub.wait_until("first states", T, |m| m.len() >= 5);
    for _ in 0..3 {
        broker.stop();
        std::thread::sleep(Duration::from_millis(1500));
        broker.start_again();
        let n = sub.all().len();
        sub.wait_until("states after broker restart", T, |m| m.len() >= n + 10);
    }
    // Every telegram advances the meter clock by one second: the first occurrences of the
    // received states must be consecutive seconds. QoS 1 is at-least-once, so a message whose
    // PUBACK died with the broker may come again later; that is a duplicate, not a gap.
    let mut seen = std::collections::HashSet::new();
    let times: Vec<String> = sub
        .all()
        .iter()
        .filter(|m| !m.retain)
        .map(|m| json(m)["time"].as_str().unwrap_or_default().to_string())
        .filter(|t| seen.insert(t.clone()))
        .collect();
    let secs: Vec<i64> = times
        .iter()
        .map(|t| {
            let hms = &t[11..19];
            let p: Vec<i64> = hms.split(':').map(|x| x.parse().unwrap()).collect();
            p[0] * 3600 + p[1] * 60 + p[2]
        })
        .collect();
    let gaps: Vec<(i64, i64)> = secs
        .windows(2)
        .filter(|w| w[1] != w[0] + 1)
        .map(|w| (w[0], w[1]))
        .collect();
    assert!(
        gaps.is_empty(),
        "lost or reordered readings: {gaps:?} of {}",
        secs.len()
    );
}

/// Auto-detection: a DSMR 2.2 meter that only "sends" when the port is at 9600 baud (the pty
/// keeps the speed the bridge sets). The bridge must try 115200 (DSMR 5, DSMR 4) first, then
/// find 9600, stay there and publish; per-quantity and raw topics are on.
#[test]
fn auto_detection_finds_a_9600_baud_dsmr22_meter() {
    use meter2mqtt::sim::pty::Pty;
    use std::io::Write;
    let broker = Broker::start();
    let pty = Pty::open().expect("pty");
    let path = pty.slave_path.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let sim = std::thread::spawn(move || {
        let mut meter = DsmrMeter::new(Flavour::Dsmr22, CLOCK, 1);
        let mut master = &pty.master;
        while !stop2.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(200));
            let at_9600 = pty.line_settings().map(|l| l.baud == 9600).unwrap_or(false);
            let t = meter.telegram(1);
            if at_9600 {
                let _ = master.write_all(&t);
            } else {
                // What a UART at the wrong speed makes of it: noise.
                let _ = master.write_all(&[0xFF, 0x00, 0xE7, 0x9B]);
            }
        }
    });
    let sub = Subscriber::connect(broker.port, "t-auto", &["ad/#"]);
    let mut bridge = Bridge::start(&format!(
        "mqtt:\n  url: {}\n  base_topic: ad\n  per_quantity_topics: true\n  raw_topic: true\n\
inputs:\n  - {{name: p1, type: p1, device: {}, detect_timeout: 2s}}\n",
        broker.url(),
        path.display()
    ));
    let e = "ad/E0043007052870319/state";
    sub.wait_until("a state after auto-detection", T, |m| {
        m.iter().any(|x| x.topic == e)
    });
    let log = bridge.log_text();
    assert!(log.contains("found the meter"), "{log}");
    assert!(log.contains("9600 7E1"), "{log}");
    // DSMR 2.2 power in kW with 2 decimals becomes exact W; per-quantity topics are plain numbers.
    sub.wait_until("per-quantity and raw topics", T, |m| {
        m.iter()
            .any(|x| x.topic == "ad/E0043007052870319/energy_import_t1")
            && m.iter()
                .any(|x| x.topic == "ad/p1/raw" && x.payload.starts_with("/KMP5"))
    });
    let plain = sub.on("ad/E0043007052870319/energy_import_t1");
    assert!(
        plain[0].payload.parse::<f64>().is_ok(),
        "{}",
        plain[0].payload
    );
    stop.store(true, Ordering::SeqCst);
    let _ = sim.join();
    bridge.kill9();
}
