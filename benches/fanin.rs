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
//! scripts/static-build.sh && \
//!   FANIN_BRIDGE=target/static/x86_64-unknown-linux-gnu/release/meter2mqtt \
//!   cargo bench --bench fanin                     # the static binary (jemalloc), as shipped
//! FANIN_OUTPUTS=mqtt cargo bench --bench fanin    # MQTT output only (history, HTTP off)
//! FANIN_HOLD=120 cargo bench --bench fanin        # keep running 120 s after each line
//! FANIN_LOG=warn,meter2mqtt::history=debug cargo bench --bench fanin  # bridge log to a file
//! FANIN_QUEUE=1000 cargo bench --bench fanin     # the bridge's mqtt.queue_size
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

/// The bench's own subscriber: a plain blocking socket in one thread that sends CONNECT and
/// one QoS 0 SUBSCRIBE ([`connect_and_subscribe`]), then only walks the fixed
/// headers of what comes back (MQTT 3.1.1 §2.2: type nibble, remaining length) and counts
/// PUBLISH packets (type 3), reading each topic (§3.3.2.1) for the set of meters seen. No event
/// loop, no per-packet allocation: rumqttc's sync client used up to 94 % of a core at 10 000
/// meters here, on the same 2 cores as the bridge (stop 6).
fn subscriber(port: u16, n: usize, seen: &Mutex<Seen>, tid: &AtomicU64) {
    use std::io::{Read, Write};
    // SAFETY: gettid has no preconditions.
    tid.store(unsafe { libc::gettid() } as u64, Ordering::Relaxed);
    let mut sock = std::net::TcpStream::connect(("127.0.0.1", port)).expect("subscriber connect");
    let out = connect_and_subscribe(&format!("fanin-sub-{n}"), "fanin/+/state");
    sock.write_all(&out).expect("subscriber write");
    let mut r = std::io::BufReader::with_capacity(1 << 16, sock);
    let mut body = Vec::with_capacity(4096);
    loop {
        let mut b = [0u8; 1];
        if r.read_exact(&mut b).is_err() {
            return;
        }
        let (mut len, mut shift) = (0usize, 0);
        loop {
            let mut d = [0u8; 1];
            if r.read_exact(&mut d).is_err() || shift > 21 {
                return;
            }
            len |= usize::from(d[0] & 0x7f) << shift;
            shift += 7;
            if d[0] & 0x80 == 0 {
                break;
            }
        }
        body.resize(len, 0);
        if r.read_exact(&mut body).is_err() {
            return;
        }
        if b[0] >> 4 != 3 || body.len() < 2 {
            continue;
        }
        let tlen = usize::from(u16::from_be_bytes([body[0], body[1]]));
        let Ok(mut s) = seen.lock() else { return };
        s.states += 1;
        if s.first_state_us == 0 {
            s.first_state_us = unix_micros();
        }
        if s.meters.len() < 2 * n {
            if let Some(Ok(t)) = body.get(2..2 + tlen).map(std::str::from_utf8) {
                if !s.meters.contains(t) {
                    s.meters.insert(t.to_string());
                }
            }
        }
    }
}

/// CONNECT (MQTT 3.1.1 §3.1: protocol name "MQTT", level 4, clean session, keep-alive 0 so
/// the broker never expects a PINGREQ) and one SUBSCRIBE (§3.8: packet id 1, the filter at
/// QoS 0). Both fit a one-byte remaining length (§2.2.3) for the short id and filter here.
fn connect_and_subscribe(client_id: &str, filter: &str) -> Vec<u8> {
    let str16 = |v: &mut Vec<u8>, s: &str| {
        v.extend_from_slice(&(s.len() as u16).to_be_bytes());
        v.extend_from_slice(s.as_bytes());
    };
    let mut connect = Vec::new();
    str16(&mut connect, "MQTT");
    connect.extend_from_slice(&[4, 0x02, 0, 0]);
    str16(&mut connect, client_id);
    let mut subscribe = vec![0, 1];
    str16(&mut subscribe, filter);
    subscribe.push(0);
    assert!(connect.len() < 128 && subscribe.len() < 128);
    let mut out = vec![0x10, connect.len() as u8];
    out.extend_from_slice(&connect);
    out.extend_from_slice(&[0x82, subscribe.len() as u8]);
    out.extend_from_slice(&subscribe);
    out
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
    let sub_tid = Arc::new(AtomicU64::new(0));
    let (seen2, tid2) = (seen.clone(), sub_tid.clone());
    std::thread::spawn(move || subscriber(port, n, &seen2, &tid2));
    std::thread::sleep(Duration::from_millis(300));

    // `FANIN_OUTPUTS=mqtt`: MQTT only (history and HTTP off), to see what they cost.
    let others = std::env::var("FANIN_OUTPUTS").map_or(true, |v| v != "mqtt");
    // `FANIN_QUEUE=<n>`: the bridge's `mqtt.queue_size` (default 10 000), to see what the
    // discovery burst queued at start costs in memory.
    let queue =
        std::env::var("FANIN_QUEUE").map_or(String::new(), |n| format!("  queue_size: {n}\n"));
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = dir.path().join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            "mqtt:\n  url: mqtt://127.0.0.1:{port}\n  base_topic: fanin\n{queue}\
             data_dir: {}\nhttp:\n  listen: 127.0.0.1:0\n  enabled: {others}\n\
             history:\n  enabled: {others}\ninputs:\n{inputs}",
            dir.path().display()
        ),
    )
    .expect("config");
    // `FANIN_LOG=<filter>` (e.g. `warn,meter2mqtt::history=debug`): the bridge's log goes to
    // `FANIN_LOG_FILE` (default `fanin-bridge.log` in the working directory).
    let (level, log) = match std::env::var("FANIN_LOG") {
        Ok(filter) => {
            let path: String = env_or("FANIN_LOG_FILE", "fanin-bridge.log".to_string());
            let f = std::fs::File::create(&path).expect("bridge log file");
            eprintln!("fanin: bridge log in {path}");
            (filter, Stdio::from(f))
        }
        Err(_) => ("warn".to_string(), Stdio::null()),
    };
    let mut bridge = Command::new(bridge_bin)
        .args(["--log-level", &level, "run", "--config"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("bridge");
    let (bpid, gpid) = (bridge.id(), gen.id());
    let broker_pid = broker.pid();
    eprintln!("fanin: N={n} bridge pid {bpid}");

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
    let stid = sub_tid.load(Ordering::Relaxed) as u32;
    let (b0, k0, g0, s0) = (
        ticks(bpid),
        broker_pid.map_or(0.0, ticks),
        ticks(gpid),
        ticks(stid),
    );
    let states0 = seen.lock().map_or(0, |s| s.states);
    let sent0 = sent.lock().map_or(0, |v| v.0);
    let m0 = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    let secs = m0.elapsed().as_secs_f64();
    let pct = |t1: f64, t0: f64| (t1 - t0) / 100.0 / secs * 100.0;
    let bridge_cpu = pct(ticks(bpid), b0);
    let broker_cpu = broker_pid.map_or(f64::NAN, |p| pct(ticks(p), k0));
    let gen_cpu = pct(ticks(gpid), g0);
    let sub_cpu = pct(ticks(stid), s0);
    let states = seen.lock().map_or(0, |s| s.states) - states0;
    let telegrams = sent.lock().map_or(0, |v| v.0) - sent0;
    let rss = proc_status(bpid, "VmRSS:");
    let (anon, file) = (
        proc_status(bpid, "RssAnon:") as f64 / 1024.0,
        proc_status(bpid, "RssFile:") as f64 / 1024.0,
    );
    let meters = seen.lock().map_or(0, |s| s.meters.len()) / 2;
    let outputs = if others { "mqtt+history+http" } else { "mqtt" };
    println!(
        "N={n:>5} ({outputs}): bridge CPU {bridge_cpu:5.1}% of one core, RSS {:.1} MB ({:.1} KB/meter; \
         RssAnon {anon:.1} MB, RssFile {file:.1} MB), {:.0} states/s delivered ({:.0} telegrams/s sent, \
         {:.0} expected), broker CPU {broker_cpu:.1}%, generator CPU {gen_cpu:.1}%, subscriber CPU \
         {sub_cpu:.1}%; {meters} meters publishing, steady after {:.1} s; \
         first state {first_ms:.1} ms after the first telegram",
        rss as f64 / 1024.0,
        rss as f64 / n as f64,
        states as f64 / secs,
        telegrams as f64 / secs,
        2.0 * telegrams as f64 / secs,
        ready.as_secs_f64(),
    );
    // `FANIN_HOLD=<s>`: keep everything running that long after the line (to attach perf,
    // strace or gdb to the bridge's pid printed on stderr).
    std::thread::sleep(Duration::from_secs(env_or("FANIN_HOLD", 0)));
    stop(&mut bridge);
    stop(&mut gen);
    drop(broker);
}

fn stop(c: &mut Child) {
    let _ = c.kill();
    let _ = c.wait();
}
