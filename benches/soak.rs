//! Soak: the real bridge for N minutes against 100 simulated P1 meters at 1 Hz (each on its
//! own loopback TCP relay), publishing to a real Mosquitto; reports RSS at start and end, CPU,
//! and messages delivered.
//!
//! Run: `SOAK_MINUTES=30 cargo bench --bench soak` (needs `mosquitto`).

use std::fmt::Write as _;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use meter2mqtt::sim::serve::{dsmr_on_tcp, SimStats};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

fn proc_field(pid: u32, file: &str, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/{file}"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn cpu_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

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
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let conf = dir.path().join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!("user root\nlistener {port} 127.0.0.1\nallow_anonymous true\n"),
    )
    .expect("conf");
    let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("mosquitto");
    let mut broker = Command::new(bin)
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mosquitto");
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(10));
    }
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
    let rss_start = proc_field(pid, "status", "VmRSS:");
    let cpu_start = cpu_ticks(pid);
    let msgs_start = received.load(Ordering::Relaxed);
    let t0 = Instant::now();
    println!("soak: {meters} meters at 1 Hz for {minutes} min; RSS after warm-up {rss_start} KiB");
    for m in 1..=minutes {
        std::thread::sleep(Duration::from_secs(60));
        println!(
            "  minute {m}: RSS {} KiB, messages {}",
            proc_field(pid, "status", "VmRSS:"),
            received.load(Ordering::Relaxed) - msgs_start
        );
    }
    let secs = t0.elapsed().as_secs_f64();
    let rss_end = proc_field(pid, "status", "VmRSS:");
    let cpu = (cpu_ticks(pid) - cpu_start) as f64 / 100.0;
    let msgs = received.load(Ordering::Relaxed) - msgs_start;
    println!(
        "soak result: RSS start {rss_start} KiB, end {rss_end} KiB (peak {} KiB), CPU {:.1}% of one core, {msgs} state messages ({:.0}/s), telegrams sent {}",
        proc_field(pid, "status", "VmHWM:"),
        cpu / secs * 100.0,
        msgs as f64 / secs,
        stats.telegrams.load(Ordering::Relaxed)
    );
    let _ = bridge.kill();
    let _ = bridge.wait();
    let _ = broker.kill();
    let _ = broker.wait();
}
