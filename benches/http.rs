//! `GET /api/meters` latency with 100 meters (issue 14), through the real bridge binary:
//! `meter2mqtt run` reading 50 simulated DSMR 5 meters with a gas sub-meter each (100
//! meters) on 50 real pseudo-terminals, a telegram a second each, publishing to a real
//! Mosquitto; then N requests on a real loopback socket, each on a new connection as a page
//! or a script makes them, while the telegrams keep coming.
//!
//! Run: `cargo bench --bench http` (needs `mosquitto`, which `scripts/test.sh` installs).
//! `HTTP_REQUESTS` (default 2000), `HTTP_P1_METERS` (default 50: twice as many meters).

use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../tests/harness/mod.rs"]
mod harness;

use harness::Broker;
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use meter2mqtt::sim::serve::{dsmr_on_pty, SimStats};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n = env("HTTP_REQUESTS", 2000);
    let p1 = env("HTTP_P1_METERS", 50);
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let stop = Arc::new(AtomicBool::new(false));
    let mut inputs = String::new();
    let mut threads = Vec::new();
    for seed in 1..=p1 as u64 {
        let meter = DsmrMeter::new(Flavour::Dsmr5, 1_705_320_000, seed);
        let (path, h) = dsmr_on_pty(
            meter,
            Duration::from_secs(1),
            Arc::new(SimStats::default()),
            stop.clone(),
        )
        .expect("pty");
        threads.push(h);
        inputs.push_str(&format!(
            "  - {{name: p1_{seed}, type: p1, device: \"{}\", preset: dsmr5}}\n",
            path.display()
        ));
    }
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "mqtt:\n  url: {}\n  base_topic: benchhttp\ninputs:\n{inputs}",
            broker.url()
        ),
    )
    .expect("config");
    let port = harness::free_port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let mut bridge = Command::new(env!("CARGO_BIN_EXE_meter2mqtt"))
        .args(["--log-level", "warn", "run", "--config"])
        .arg(&cfg)
        .env("METER2MQTT_DATA_DIR", dir.path().join("data"))
        .env("METER2MQTT_HTTP__LISTEN", addr.to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("meter2mqtt");
    // Wait until the server answers with every meter.
    let want = 2 * p1;
    let deadline = Instant::now() + Duration::from_secs(60);
    let (bytes, shown) = loop {
        if std::net::TcpStream::connect(addr).is_ok() {
            let r = harness::http::get(addr, "/api/meters");
            let shown = r.json()["meters"].as_array().map_or(0, |a| a.len());
            if shown >= want {
                break (r.body.len(), shown);
            }
        }
        assert!(
            Instant::now() < deadline,
            "the bridge never showed {want} meters"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut lat = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        let r = harness::http::get(addr, "/api/meters");
        lat.push(t.elapsed());
        assert_eq!(r.status, 200);
    }
    let total = start.elapsed();
    let _ = bridge.kill();
    let _ = bridge.wait();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for h in threads {
        let _ = h.join();
    }
    lat.sort();
    println!(
        "GET /api/meters from the bridge binary with {shown} meters ({p1} P1 inputs at 1 telegram/s, {bytes} bytes), {n} requests, one connection each"
    );
    println!(
        "latency: p50 {:?}  p90 {:?}  p99 {:?}  max {:?}  ({:.0} requests/s from one client)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.9),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or_default(),
        n as f64 / total.as_secs_f64()
    );
}
