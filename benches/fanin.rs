//! Fan-in (issue 17): N P1-over-TCP meters at 1 Hz into one bridge, every telegram published
//! to a real Mosquitto and counted at a real MQTT subscriber. One line per N: the bridge's CPU
//! (% of one core) and RSS, states delivered per second, the broker's CPU, and the load
//! generator's own CPU and telegrams sent (so it is seen not to be the bottleneck).
//!
//! The load generator is this binary again in its own process (`FANIN_GENERATOR=<N>`): N
//! loopback listeners, each one simulated DSMR 5 meter with a gas meter (`sim::dsmr`, its own
//! equipment ids from its seed, valid CRC, a household's moving values), writing a telegram
//! at once when the bridge connects and then every second, the N meters spread evenly over
//! the second.
//!
//! ```text
//! cargo bench --bench fanin                       # N = 1, 1000, 5000, 10000
//! FANIN_METERS=1,1000 FANIN_SECONDS=20 cargo bench --bench fanin
//! FANIN_BRIDGE=/path/to/meter2mqtt cargo bench --bench fanin   # another build of the bridge
//! FANIN_OUTPUTS=mqtt cargo bench --bench fanin    # MQTT output only (history, HTTP off)
//! ```
//!
//! The bridge runs with its defaults (discovery on, QoS 1, no per-quantity topics, and the
//! default outputs: MQTT, the history in a temporary `data_dir`, HTTP on a free loopback
//! port); the broker
//! keeps retained messages in memory (`Broker::start_in_memory`). The nofile limit is raised
//! to the hard limit here (children inherit it): N meters are N sockets in each process.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "../tests/harness/mod.rs"]
mod harness;

use harness::{cpu_ticks, proc_status, Broker};
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

/// 2024-01-15 12:00:00, as the other benches' simulated meters.
const CLOCK: i64 = 1_705_320_000;

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// Raise the soft nofile limit to the hard one (each meter is a socket in every process).
fn raise_nofile() -> u64 {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
    l.rlim_cur
}

fn main() {
    raise_nofile();
    if let Ok(n) = std::env::var("FANIN_GENERATOR") {
        generator(n.parse().expect("FANIN_GENERATOR=<meters>"));
        return;
    }
    let limit = raise_nofile();
    let list: String = env_or("FANIN_METERS", "1,1000,5000,10000".to_string());
    let seconds: u64 = env_or("FANIN_SECONDS", 20);
    let bridge_bin: String = env_or("FANIN_BRIDGE", env!("CARGO_BIN_EXE_meter2mqtt").to_string());
    println!("fanin: bridge {bridge_bin}, nofile {limit}, {seconds} s measured per N");
    for n in list
        .split(',')
        .filter_map(|s| s.trim().parse::<usize>().ok())
    {
        run(n, seconds, &bridge_bin);
    }
}

/// The load generator process: N meters, one loopback listener each; prints the ports, then
/// `sent <telegrams> <unix µs of the first telegram>` every second.
fn generator(n: usize) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let sent = Arc::new(AtomicU64::new(0));
        let first = Arc::new(AtomicU64::new(0));
        let mut ports = String::from("ports");
        let start = tokio::time::Instant::now();
        for i in 0..n {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let _ = write!(ports, " {}", l.local_addr().expect("addr").port());
            let (sent, first) = (sent.clone(), first.clone());
            // Meter i writes at i/N of every second, after its first telegram on connect.
            let phase = Duration::from_secs(1).mul_f64(i as f64 / n as f64);
            tokio::spawn(async move {
                let mut meter = DsmrMeter::new(Flavour::Dsmr5, CLOCK, i as u64 + 1);
                let Ok((mut sock, _)) = l.accept().await else {
                    return;
                };
                drop(l);
                let mut tick = tokio::time::interval_at(
                    start + phase + Duration::from_secs(1),
                    Duration::from_secs(1),
                );
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut t = meter.telegram(1);
                loop {
                    if tokio::io::AsyncWriteExt::write_all(&mut sock, &t)
                        .await
                        .is_err()
                    {
                        return;
                    }
                    let _ = first.compare_exchange(
                        0,
                        unix_micros(),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                    sent.fetch_add(1, Ordering::Relaxed);
                    t = meter.telegram(1);
                    tick.tick().await;
                }
            });
        }
        println!("{ports}");
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            println!(
                "sent {} {}",
                sent.load(Ordering::Relaxed),
                first.load(Ordering::Relaxed)
            );
        }
    });
}

/// What the subscriber saw.
#[derive(Default)]
struct Seen {
    states: u64,
    meters: HashSet<String>,
    first_state_us: u64,
}

fn run(n: usize, seconds: u64, bridge_bin: &str) {
    let broker = Broker::start_in_memory();
    let port = broker.port;
    let mut gen = Command::new(std::env::current_exe().expect("exe"))
        .env("FANIN_GENERATOR", n.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("generator");
    let mut lines = BufReader::new(gen.stdout.take().expect("stdout")).lines();
    let ports = lines.next().and_then(Result::ok).expect("generator ports");
    let sent = Arc::new(Mutex::new((0u64, 0u64)));
    let sent2 = sent.clone();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let mut f = line
                .split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse().ok());
            if let (Some(s), Some(first)) = (f.next(), f.next()) {
                if let Ok(mut v) = sent2.lock() {
                    *v = (s, first);
                }
            }
        }
    });
    let mut inputs = String::new();
    for (i, p) in ports.split_whitespace().skip(1).enumerate() {
        let _ = writeln!(
            inputs,
            "  - {{name: m{i}, type: p1, host: 127.0.0.1, port: {p}}}"
        );
    }

    let seen = Arc::new(Mutex::new(Seen::default()));
    let seen2 = seen.clone();
    let mut o = MqttOptions::new(format!("fanin-sub-{n}"), "127.0.0.1", port);
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut conn) = Client::new(o, 10_000);
    client
        .subscribe("fanin/+/state", QoS::AtMostOnce)
        .expect("subscribe");
    std::thread::spawn(move || {
        for ev in conn.iter() {
            if let Ok(Event::Incoming(Packet::Publish(p))) = ev {
                if let Ok(mut s) = seen2.lock() {
                    s.states += 1;
                    if s.first_state_us == 0 {
                        s.first_state_us = unix_micros();
                    }
                    if s.meters.len() < 2 * n && !s.meters.contains(&p.topic) {
                        s.meters.insert(p.topic.clone());
                    }
                }
            }
        }
    });
    std::thread::sleep(Duration::from_millis(300));

    // `FANIN_OUTPUTS=mqtt`: MQTT only (history and HTTP off), to see what they cost.
    let others = std::env::var("FANIN_OUTPUTS").map_or(true, |v| v != "mqtt");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "mqtt:\n  url: mqtt://127.0.0.1:{port}\n  base_topic: fanin\n\
             data_dir: {}\nhttp:\n  listen: 127.0.0.1:0\n  enabled: {others}\n\
             history:\n  enabled: {others}\ninputs:\n{inputs}",
            dir.path().display()
        ),
    )
    .expect("config");
    let mut bridge = Command::new(bridge_bin)
        .args(["--log-level", "warn", "run", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("bridge");
    let (bpid, gpid) = (bridge.id(), gen.id());
    let broker_pid = broker.pid();

    // Warm-up: every meter (electricity + gas) has published and the discovery burst is
    // over: 5 s in a row deliver 95-105 % of the 2 N states a second (more is the bridge
    // still catching up on states queued behind the burst, which is not the steady state).
    let t0 = Instant::now();
    let warm = Duration::from_secs(60 + n as u64 / 40);
    let mut last = (Instant::now(), 0u64);
    loop {
        std::thread::sleep(Duration::from_secs(5));
        let (meters, states) = seen.lock().map_or((0, 0), |s| (s.meters.len(), s.states));
        let rate = (states - last.1) as f64 / last.0.elapsed().as_secs_f64();
        last = (Instant::now(), states);
        let steady = (0.95..=1.05).contains(&(rate / (2.0 * n as f64)));
        if (meters >= 2 * n && steady) || t0.elapsed() > warm {
            break;
        }
    }
    let ready = t0.elapsed();
    let first_ms = {
        let s = seen.lock().map_or(0, |s| s.first_state_us);
        let g = sent.lock().map_or(0, |v| v.1);
        (s as f64 - g as f64) / 1000.0
    };

    let ticks = |pid: u32| cpu_ticks(pid) as f64;
    let (b0, k0, g0) = (ticks(bpid), broker_pid.map_or(0.0, ticks), ticks(gpid));
    let states0 = seen.lock().map_or(0, |s| s.states);
    let sent0 = sent.lock().map_or(0, |v| v.0);
    let m0 = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let secs = m0.elapsed().as_secs_f64();
    let pct = |t1: f64, t0: f64| (t1 - t0) / 100.0 / secs * 100.0;
    let bridge_cpu = pct(ticks(bpid), b0);
    let broker_cpu = broker_pid.map_or(f64::NAN, |p| pct(ticks(p), k0));
    let gen_cpu = pct(ticks(gpid), g0);
    let states = seen.lock().map_or(0, |s| s.states) - states0;
    let telegrams = sent.lock().map_or(0, |v| v.0) - sent0;
    let rss = proc_status(bpid, "VmRSS:");
    let meters = seen.lock().map_or(0, |s| s.meters.len()) / 2;
    let outputs = if others { "mqtt+history+http" } else { "mqtt" };
    println!(
        "N={n:>5} ({outputs}): bridge CPU {bridge_cpu:5.1}% of one core, RSS {:.1} MB ({:.1} KB/meter), \
         {:.0} states/s delivered ({:.0} telegrams/s sent, {:.0} expected), broker CPU {broker_cpu:.1}%, \
         generator CPU {gen_cpu:.1}%; {meters} meters publishing, steady after {:.1} s; \
         first state {first_ms:.1} ms after the first telegram",
        rss as f64 / 1024.0,
        rss as f64 / n as f64,
        states as f64 / secs,
        telegrams as f64 / secs,
        2.0 * telegrams as f64 / secs,
        ready.as_secs_f64(),
    );
    stop(&mut bridge);
    stop(&mut gen);
    drop(client);
    drop(broker);
}

fn stop(c: &mut Child) {
    let _ = c.kill();
    let _ = c.wait();
}
