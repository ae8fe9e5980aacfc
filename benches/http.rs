//! `GET /api/meters` latency with 100 meters (issue 14), through the real server on a real
//! loopback socket: the web output (`meter2mqtt::http::run`) fed with the readings of 50
//! simulated DSMR 5 meters with a gas sub-meter each (100 meters), then N requests, each on
//! a new connection as a page or a script makes them.
//!
//! Run: `cargo bench --bench http` (no broker needed). `HTTP_REQUESTS` (default 2000).

use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "../tests/harness/mod.rs"]
mod harness;

use meter2mqtt::event::broker::BrokerStatus;
use meter2mqtt::event::output::Inbox;
use meter2mqtt::event::status::InputStatuses;
use meter2mqtt::event::{Event, MeterReading};
use meter2mqtt::http::HttpSettings;
use meter2mqtt::protocol::dsmr::{DecoderOptions, P1Decoder, P1Event};
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use meter2mqtt::time::Timestamp;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let n: usize = std::env::var("HTTP_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let port = harness::free_port();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (tx, events) = tokio::sync::mpsc::channel(64);
    let (ready, _hints) = tokio::sync::oneshot::channel();
    let (_stop, stopping) = tokio::sync::watch::channel(false);
    let settings = HttpSettings {
        listen: addr,
        auth_token: None,
        max_connections: 64,
        naming: Default::default(),
        statuses: Arc::new(InputStatuses::default()),
        broker: Arc::new(BrokerStatus::default()),
        extra: axum::Router::new(),
    };
    rt.spawn(meter2mqtt::http::run(
        settings,
        Inbox {
            events,
            ready,
            stopping,
        },
    ));
    let mut meters = 0;
    for seed in 1..=50u64 {
        let mut m = DsmrMeter::new(Flavour::Dsmr5, 1_705_320_000, seed);
        let mut d = P1Decoder::new(DecoderOptions::default());
        d.push(&m.telegram(1));
        while let Some(ev) = d.next_event(Timestamp::now_utc()) {
            if let P1Event::Telegram(t) = ev {
                for r in t.readings {
                    meters += 1;
                    let ev = Event::Reading(Arc::new(MeterReading {
                        input: format!("p1_{seed}").into(),
                        interval: Duration::from_secs(1),
                        reading: r,
                        held: Vec::new(),
                    }));
                    tx.blocking_send(ev).expect("the web output runs");
                }
            }
        }
    }
    // Wait until the server answers with every meter.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (bytes, shown) = loop {
        if let Ok(s) = std::net::TcpStream::connect(addr) {
            drop(s);
            let r = harness::http::get(addr, "/api/meters");
            let shown = r.json()["meters"].as_array().map_or(0, |a| a.len());
            if shown == meters {
                break (r.body.len(), shown);
            }
        }
        assert!(
            Instant::now() < deadline,
            "the server never showed {meters} meters"
        );
        std::thread::sleep(Duration::from_millis(50));
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
    lat.sort();
    println!(
        "GET /api/meters with {shown} meters ({bytes} bytes), {n} requests, one connection each"
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
