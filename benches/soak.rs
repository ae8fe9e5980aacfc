//! Soak: the real bridge for N minutes against 100 simulated P1 meters at 1 Hz (each on its
//! own loopback TCP relay), publishing to a real Mosquitto; reports RSS at start and end, CPU,
//! and messages delivered.
//!
//! Run: `SOAK_MINUTES=30 cargo bench --bench soak` (needs `mosquitto`).

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../tests/harness/mod.rs"]
mod harness;

use harness::{cpu_ticks, proc_status, Broker};
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use meter2mqtt::sim::serve::{dsmr_on_tcp, SimStats};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

fn main() {
    let minutes: u64 = std::env::var("SOAK_MINUTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let meters: usize = std::env::var("SOAK_METERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let dir = tempfile::tempdir().expect("tempdir");
    let broker = Broker::start();
    let port = broker.port;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("rt");
    let stats = Arc::new(SimStats::default());
    let mut inputs = String::new();
    for i in 0..meters {
        let flavour = if i % 3 == 0 {
            Flavour::BelgianEmucs
        } else {
            Flavour::Dsmr5
        };
        let (l, addr) = rt
            .block_on(meter2mqtt::sim::serve::loopback_listener())
            .expect("listener");
        rt.spawn(dsmr_on_tcp(
            l,
            DsmrMeter::new(flavour, 1_705_320_000, i as u64 * 7 + 1),
            Duration::from_secs(1),
            stats.clone(),
        ));
        let _ = writeln!(
            inputs,
            "  - {{name: m{i}, type: p1, host: 127.0.0.1, port: {}}}",
            addr.port()
        );
    }
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        format!("mqtt:\n  url: mqtt://127.0.0.1:{port}\n  base_topic: soak\ninputs:\n{inputs}"),
    )
    .expect("config");
    let mut bridge = Command::new(env!("CARGO_BIN_EXE_meter2mqtt"))
        .args(["--log-level", "warn", "run", "--config"])
        .arg(&cfg)
        .env("METER2MQTT_DATA_DIR", dir.path().join("data"))
        .stdout(Stdio::null())
        .spawn()
        .expect("bridge");
    let received = Arc::new(AtomicU64::new(0));
    let r2 = received.clone();
    let (client, mut conn) = Client::new(MqttOptions::new("soak-sub", "127.0.0.1", port), 1000);
    client
        .subscribe("soak/+/state", QoS::AtMostOnce)
        .expect("subscribe");
    std::thread::spawn(move || {
        for ev in conn.iter() {
            if let Ok(Event::Incoming(Packet::Publish(_))) = ev {
                r2.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    let pid = bridge.id();
    std::thread::sleep(Duration::from_secs(20));
    let rss_start = proc_status(pid, "VmRSS:");
    let cpu_start = cpu_ticks(pid);
    let msgs_start = received.load(Ordering::Relaxed);
    let t0 = Instant::now();
    println!("soak: {meters} meters at 1 Hz for {minutes} min; RSS after warm-up {rss_start} KiB");
    for m in 1..=minutes {
        std::thread::sleep(Duration::from_secs(60));
        println!(
            "  minute {m}: RSS {} KiB, messages {}",
            proc_status(pid, "VmRSS:"),
            received.load(Ordering::Relaxed) - msgs_start
        );
    }
    let secs = t0.elapsed().as_secs_f64();
    let rss_end = proc_status(pid, "VmRSS:");
    let cpu = (cpu_ticks(pid) - cpu_start) as f64 / 100.0;
    let msgs = received.load(Ordering::Relaxed) - msgs_start;
    println!(
        "soak result: RSS start {rss_start} KiB, end {rss_end} KiB (peak {} KiB), CPU {:.1}% of one core, {msgs} state messages ({:.0}/s), telegrams sent {}",
        proc_status(pid, "VmHWM:"),
        cpu / secs * 100.0,
        msgs as f64 / secs,
        stats.telegrams.load(Ordering::Relaxed)
    );
    let _ = bridge.kill();
    let _ = bridge.wait();
    drop(broker);
}
