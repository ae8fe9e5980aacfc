//! End to end for the polled heat-meter inputs: simulators on real pseudo-terminals (which only
//! answer at the speed the meter uses) and a real TCP socket, the real binary, a real
//! Mosquitto and a real subscriber.

mod harness;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::{json, Bridge, Broker, Msg, Subscriber};
use meter2mqtt::protocol::iec62056::{Iec62056Options, Profile};
use meter2mqtt::protocol::Parity;
use meter2mqtt::sim::kmp::KmpSimulator;
use meter2mqtt::sim::polled::{kmp_on_pty, kmp_on_tcp, serve_on_pty};
use meter2mqtt::sim::{Iec62056Simulator, MulticalSimulator};

const T: Duration = Duration::from_secs(40);

fn config(broker: &Broker, base: &str, input: &str) -> String {
    format!(
        "mqtt:\n  url: {}\n  base_topic: {base}\n  client_id: {base}\n\
publish:\n  offline_after_intervals: 3\n\
inputs:\n{input}",
        broker.url()
    )
}

/// The state messages that carry `key`.
fn states_with<'a>(msgs: &'a [Msg], base: &str, key: &str) -> Vec<&'a Msg> {
    msgs.iter()
        .filter(|m| m.topic.starts_with(&format!("{base}/")) && m.topic.ends_with("/state"))
        .filter(|m| json(m).get(key).is_some())
        .collect()
}

#[test]
fn kmp_heat_meter_over_pty_with_echo_goes_offline_and_back() {
    let broker = Broker::start();
    let mut sim = KmpSimulator::multical_603();
    sim.echo = true;
    let sim = Arc::new(Mutex::new(sim));
    let stop = Arc::new(AtomicBool::new(false));
    let (path, _h) = kmp_on_pty(sim.clone(), stop.clone()).expect("pty");
    let sub = Subscriber::connect(broker.port, "k-sub", &["kmp/#", "homeassistant/#"]);
    let _bridge = Bridge::start(&config(
        &broker,
        "kmp",
        &format!(
            "  - name: heat\n    type: kmp\n    device: {}\n    poll_interval: 5s\n    retries: 1\n",
            path.display()
        ),
    ));
    sub.wait_until("a heat meter state", T, |m| {
        !states_with(m, "kmp", "heat_energy").is_empty()
    });
    let all = sub.all();
    let state = states_with(&all, "kmp", "heat_energy")[0].clone();
    let meter = state
        .topic
        .trim_start_matches("kmp/")
        .trim_end_matches("/state")
        .to_string();
    assert!(meter.starts_with("kamstrup_"), "{meter}");
    let v = json(&state);
    for key in [
        "volume",
        "temperature_flow",
        "temperature_return",
        "power",
        "flow",
    ] {
        assert!(v.get(key).is_some(), "{key} missing in {v}");
    }
    let cfg = format!("homeassistant/sensor/kmp_{meter}/heat_energy/config");
    sub.wait_until("heat energy discovery", T, |m| {
        m.iter().any(|x| x.topic == cfg)
    });
    let c = json(&sub.on(&cfg)[0]);
    assert_eq!(c["device_class"], "energy");
    assert_eq!(c["state_class"], "total_increasing");
    assert_eq!(c["device"]["manufacturer"], "Kamstrup");
    // Issue 12 §3: firmware from GetType in `sw_version`, the protocol in `hw_version`.
    assert_eq!(c["device"]["sw_version"], "F1");
    assert_eq!(c["device"]["hw_version"], "KMP");
    assert_eq!(c["device"]["name"], "Heat meter");
    // Issue 12 §2: flow in m³/h, the unit `volume_flow_rate` takes in every supported HA.
    let flow_cfg = format!("homeassistant/sensor/kmp_{meter}/flow/config");
    sub.wait_until("flow discovery", T, |m| {
        m.iter().any(|x| x.topic == flow_cfg)
    });
    let f = json(&sub.on(&flow_cfg)[0]);
    assert_eq!(f["unit_of_measurement"], "m³/h");
    assert_eq!(f["device_class"], "volume_flow_rate");
    assert!(v["flow"].as_f64().is_some_and(|x| x < 10.0), "{v}");

    // The meter stops answering: offline after the poll's retries; back when it answers.
    let avail = format!("kmp/{meter}/availability");
    sim.lock().unwrap().drop_replies = true;
    sub.wait_until("meter offline", T, |m| {
        m.iter().any(|x| x.topic == avail && x.payload == "offline")
    });
    let n = sub.on(&avail).len();
    sim.lock().unwrap().drop_replies = false;
    sub.wait_until("meter back online", T, |m| {
        m.iter()
            .filter(|x| x.topic == avail)
            .skip(n)
            .any(|x| x.payload == "online")
    });
}

#[test]
fn kmp_heat_meter_over_tcp() {
    let broker = Broker::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let port = harness::free_port();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
        .unwrap();
    let mut sim = KmpSimulator::multical_603();
    sim.echo = true;
    rt.spawn(kmp_on_tcp(listener, Arc::new(Mutex::new(sim))));
    let sub = Subscriber::connect(broker.port, "k-sub2", &["kt/#"]);
    let _bridge = Bridge::start(&config(
        &broker,
        "kt",
        &format!("  - name: heat\n    type: kmp\n    host: 127.0.0.1\n    port: {port}\n    poll_interval: 5s\n"),
    ));
    sub.wait_until("a heat meter state over TCP", T, |m| {
        states_with(m, "kt", "heat_energy").len() >= 2
    });
}

#[test]
fn multical_hash_protocol_switches_to_1200_baud() {
    let broker = Broker::start();
    let sim = Arc::new(Mutex::new(MulticalSimulator::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = sim.clone();
    let (path, _h) = serve_on_pty(
        (7, Parity::Even, 2),
        move |line, bytes| s2.lock().unwrap().on_input(line, bytes),
        stop,
    )
    .expect("pty");
    let sub = Subscriber::connect(broker.port, "m-sub", &["mc/#", "homeassistant/#"]);
    let _bridge = Bridge::start(&config(
        &broker,
        "mc",
        &format!(
            "  - name: mc401\n    type: multical\n    device: {}\n    poll_interval: 5s\n",
            path.display()
        ),
    ));
    sub.wait_until("a MULTICAL state", T, |m| {
        !states_with(m, "mc", "heat_energy").is_empty()
    });
    let all = sub.all();
    let v = json(states_with(&all, "mc", "heat_energy")[0]);
    assert!(
        v.get("temperature_flow").is_some() && v.get("operating_hours").is_some(),
        "{v}"
    );
    sub.wait_until("MULTICAL discovery", T, |m| {
        m.iter().any(|x| {
            x.topic.starts_with("homeassistant/sensor/mc_")
                && x.topic.ends_with("/heat_energy/config")
        })
    });
}

#[test]
fn ultraheat_iec62056_mode_b_readout() {
    let broker = Broker::start();
    let sim = Arc::new(Mutex::new(Iec62056Simulator::ultraheat()));
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = sim.clone();
    let (path, _h) = serve_on_pty(
        Iec62056Options::new(Profile::Ultraheat).data_format,
        move |line, bytes| s2.lock().unwrap().on_input(line, bytes),
        stop,
    )
    .expect("pty");
    let sub = Subscriber::connect(broker.port, "u-sub", &["uh/#"]);
    let _bridge = Bridge::start(&config(
        &broker,
        "uh",
        &format!("  - name: uh50\n    type: iec62056\n    profile: ultraheat\n    device: {}\n    poll_interval: 10s\n", path.display()),
    ));
    sub.wait_until("an Ultraheat state", T, |m| {
        !states_with(m, "uh", "heat_energy").is_empty()
    });
    let all = sub.all();
    let v = json(states_with(&all, "uh", "heat_energy")[0]);
    assert!(v.get("volume").is_some(), "{v}");
}

#[test]
fn baud_switching_protocols_refuse_tcp_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        "inputs:\n  - {name: mc, type: multical, host: 10.0.0.2, port: 2001}\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_meter2mqtt"))
        .args(["check-config", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("inputs[0].host") && err.contains("RFC 2217"),
        "{err}"
    );
}

/// A relay whose accept queue is full: the kernel drops further SYNs, so a connect neither
/// succeeds nor fails until the connecting side gives up. With `listen(0)` Linux queues one
/// connection; the first connect here fills the queue.
fn unanswering_relay() -> (socket2::Socket, std::net::TcpStream, u16) {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let queued = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    (listener, queued, addr.port())
}

/// KMP's `connect_timeout` is the one the link is opened with (issue 13: it was parsed and
/// a fixed 10 s was used, so this log line came after 10 s and named 10 s).
#[test]
fn kmp_connect_timeout_is_used() {
    let broker = Broker::start();
    let (_listener, _queued, port) = unanswering_relay();
    let bridge = Bridge::start(&config(
        &broker,
        "kc",
        &format!("  - name: heat\n    type: kmp\n    host: 127.0.0.1\n    port: {port}\n    poll_interval: 5s\n    connect_timeout: 1s\n"),
    ));
    bridge.wait_log(
        &format!("connecting to 127.0.0.1:{port} timed out after 1s"),
        Duration::from_secs(6),
    );
}
