//! Fault-injection suite: the real binary against a real Mosquitto, real pseudo-terminals and
//! real sockets, with faults injected. Each test prints one `FAULTS` line with its figures
//! (recorded in docs/reliability.md); run with `cargo test --test faults -- --nocapture`.

mod harness;

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::qos2::Qos2Subscriber;
use harness::{cpu_ticks, json, rss_kib, Bridge, Broker, Msg, Subscriber};
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use meter2mqtt::sim::serve::{dsmr_on_pty, SimStats};
use tokio::io::AsyncWriteExt;

const T: Duration = Duration::from_secs(30);
const CLOCK: i64 = 1_705_320_000;
const STATE: &str = "/E0043007052870319/state";

fn seconds_of(m: &Msg) -> Option<i64> {
    let t = json(m)["time"].as_str()?.to_string();
    let p: Vec<i64> = t
        .get(11..19)?
        .split(':')
        .filter_map(|x| x.parse().ok())
        .collect();
    (p.len() == 3).then(|| p[0] * 3600 + p[1] * 60 + p[2])
}

/// Meter times of the (non-retained) states on `topic`, in arrival order, duplicates kept.
fn times(msgs: &[Msg], topic: &str) -> Vec<i64> {
    msgs.iter()
        .filter(|m| m.topic == topic && !m.retain)
        .filter_map(seconds_of)
        .collect()
}

fn p1_serial(broker: &Broker, base: &str, device: &std::path::Path) -> String {
    p1_serial_qos(broker, base, device, 1)
}

fn p1_serial_qos(broker: &Broker, base: &str, device: &std::path::Path, qos: u8) -> String {
    format!(
        "mqtt:\n  url: {}\n  base_topic: {base}\n  client_id: {base}\n  qos: {qos}\n\
inputs:\n  - {{name: p1, type: p1, device: {}, preset: dsmr5}}\n",
        broker.url(),
        device.display()
    )
}

fn p1_tcp(broker: &Broker, base: &str, port: u16, idle: &str) -> String {
    format!(
        "mqtt:\n  url: {}\n  base_topic: {base}\n  client_id: {base}\n\
inputs:\n  - {{name: p1, type: p1, host: 127.0.0.1, port: {port}, idle_timeout: {idle}}}\n",
        broker.url()
    )
}

/// Exactly-once across broker restarts: the bridge with `qos: 2` (persistent session) and a
/// persistent-session QoS 2 subscriber, against Mosquitto with persistence, which saves
/// sessions and in-flight messages on SIGTERM. QoS 1 (at-least-once) is covered by
/// `bridge_p1::broker_restart_loses_no_reading`.
#[test]
fn broker_restarted_10_times_at_10_hz_loses_nothing() {
    let mut broker = Broker::start();
    let stop = Arc::new(AtomicBool::new(false));
    let stats = Arc::new(SimStats::default());
    let (path, sim) = dsmr_on_pty(
        DsmrMeter::new(Flavour::Dsmr5, CLOCK, 1),
        Duration::from_millis(100),
        stats.clone(),
        stop.clone(),
    )
    .unwrap();
    let topic = format!("f1{STATE}");
    let sub = Qos2Subscriber::connect(broker.port, "f1-sub", &[&topic]);
    let bridge = Bridge::start(&p1_serial_qos(&broker, "f1", &path, 2));
    sub.wait_until("first states", T, |m| m.len() >= 5);
    let mut worst = Duration::ZERO;
    for _ in 0..10 {
        broker.stop();
        std::thread::sleep(Duration::from_millis(700));
        broker.start_again();
        let back = Instant::now();
        let n = sub.all().len();
        sub.wait_until("states after a broker restart", T, |m| m.len() > n);
        worst = worst.max(back.elapsed());
        sub.wait_until("more states", T, |m| m.len() >= n + 5);
    }
    // Pause the meter (closing the pty would discard what the bridge has not read yet).
    stats.paused.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(300));
    let sent = stats.telegrams.load(Ordering::SeqCst);
    // Everything the meter sent is delivered once the queue drains.
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::SeqCst);
    let _ = sim.join();
    let all = times(&sub.all(), &topic);
    let distinct: std::collections::HashSet<i64> = all.iter().copied().collect();
    let duplicates = all.len() - distinct.len();
    // The meter clock starts at 12:00:00 and advances 1 s per telegram: anything but +1 is a
    // loss, a reordering or a duplicate.
    let breaks: Vec<(i64, i64)> = all
        .windows(2)
        .filter(|w| w[1] != w[0] + 1)
        .map(|w| (w[0], w[1]))
        .collect();
    let last = *all.last().unwrap();
    let first = *all.first().unwrap();
    let lost_at_end = (12 * 3600 + sent as i64) - last;
    let log = bridge.log_text();
    let (resent_pub, resent_rel) = bridge.resumed_qos2_exchanges();
    println!(
        "FAULTS broker restarts (qos 2): faults 10, readings sent {sent}, received {} (from #{}), lost {}, duplicates {duplicates}, sequence breaks {}, worst reconnect {:?}; bridge resumed {resent_pub} PUBLISH + {resent_rel} PUBREL, broker resent {} PUBLISH to the subscriber (dropped as §4.3.3 duplicates)",
        all.len(),
        first - 12 * 3600,
        breaks.len() as i64 + lost_at_end.max(0),
        breaks.len(),
        worst,
        sub.resent.load(Ordering::SeqCst),
    );
    assert_eq!(duplicates, 0, "readings delivered twice");
    assert!(breaks.is_empty(), "lost, reordered or repeated: {breaks:?}");
    assert!(
        lost_at_end <= 0,
        "the last {lost_at_end} readings never arrived"
    );
    assert!(
        !log.contains("lost our session"),
        "the broker lost the bridge's session: exactly-once was not exercised\n{log}"
    );
    assert!(worst < Duration::from_secs(2), "reconnect took {worst:?}");
}

#[test]
fn serial_device_removed_and_recreated_10_times() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("usb-P1");
    let sub = Subscriber::connect(broker.port, "f2-sub", &["f2/#"]);
    let start = |link: &std::path::Path| {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(SimStats::default());
        let (path, h) = dsmr_on_pty(
            DsmrMeter::new(Flavour::Dsmr5, CLOCK, 1),
            Duration::from_millis(100),
            stats.clone(),
            stop.clone(),
        )
        .unwrap();
        let _ = std::fs::remove_file(link);
        std::os::unix::fs::symlink(path, link).unwrap();
        (stop, stats, h)
    };
    let (mut stop, mut stats, mut h) = start(&link);
    let _bridge = Bridge::start(&p1_serial(&broker, "f2", &link));
    let topic = format!("f2{STATE}");
    let mut sent = 0;
    let mut worst = Duration::ZERO;
    for _ in 0..10 {
        let n = sub.on(&topic).len();
        sub.wait_until("states", T, |m| {
            m.iter().filter(|x| x.topic == topic).count() >= n + 3
        });
        stop.store(true, Ordering::SeqCst);
        let _ = h.join();
        sent += stats.telegrams.load(Ordering::SeqCst);
        let _ = std::fs::remove_file(&link);
        std::thread::sleep(Duration::from_millis(300));
        (stop, stats, h) = start(&link);
        let back = Instant::now();
        let n = sub.on(&topic).len();
        sub.wait_until("states after replug", T, |m| {
            m.iter().filter(|x| x.topic == topic).count() > n
        });
        worst = worst.max(back.elapsed());
    }
    stop.store(true, Ordering::SeqCst);
    let _ = h.join();
    sent += stats.telegrams.load(Ordering::SeqCst);
    let received = sub.on(&topic).len();
    println!("FAULTS serial unplug: faults 10, readings sent {sent}, received {received}, worst resume {worst:?} (telegrams written while unplugged or half-read at a replug are gone with the device)");
    assert!(worst < Duration::from_secs(35), "resume took {worst:?}");
}

#[test]
fn tcp_peer_killed_10_times_silent_peer_flood_and_slow_peer() {
    let broker = Broker::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let port = harness::free_port();
    let stats = Arc::new(SimStats::default());
    let serve = || {
        let l = rt
            .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
            .unwrap();
        rt.spawn(meter2mqtt::sim::serve::dsmr_on_tcp(
            l,
            DsmrMeter::new(Flavour::Dsmr5, CLOCK, 1),
            Duration::from_millis(100),
            stats.clone(),
        ))
    };
    let topic = format!("f3{STATE}");
    let sub = Subscriber::connect(broker.port, "f3-sub", &["f3/#"]);
    let mut relay = serve();
    let bridge = Bridge::start(&p1_tcp(&broker, "f3", port, "3s"));
    let mut worst = Duration::ZERO;
    for _ in 0..10 {
        let n = sub.on(&topic).len();
        sub.wait_until("states", T, |m| {
            m.iter().filter(|x| x.topic == topic).count() >= n + 3
        });
        relay.abort();
        std::thread::sleep(Duration::from_millis(300));
        relay = serve();
        let back = Instant::now();
        let n = sub.on(&topic).len();
        sub.wait_until("states after the peer restarted", T, |m| {
            m.iter().filter(|x| x.topic == topic).count() > n
        });
        worst = worst.max(back.elapsed());
    }
    relay.abort();
    println!(
        "FAULTS tcp peer restarts: faults 10, readings sent {}, received {}, worst resume {worst:?}",
        stats.telegrams.load(Ordering::SeqCst),
        sub.on(&topic).len()
    );
    assert!(worst < Duration::from_secs(35));
    drop(bridge);

    // A peer that accepts and never sends: the idle watchdog reconnects.
    let silent_port = harness::free_port();
    let accepts = Arc::new(AtomicU64::new(0));
    let a2 = accepts.clone();
    let l = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", silent_port)))
        .unwrap();
    rt.spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            a2.fetch_add(1, Ordering::SeqCst);
            held.push(s);
        }
    });
    let b = Bridge::start(&p1_tcp(&broker, "f4", silent_port, "2s"));
    std::thread::sleep(Duration::from_secs(8));
    let n = accepts.load(Ordering::SeqCst);
    println!(
        "FAULTS silent peer: watchdog reconnects {} in 8 s with idle_timeout 2s",
        n.saturating_sub(1)
    );
    assert!(n >= 2, "watchdog never fired");
    assert!(b.log_text().contains("idle timeout"));
    drop(b);

    // 10 MB without a '!': memory stays bounded, and the telegram after it still decodes.
    let flood_port = harness::free_port();
    let l = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", flood_port)))
        .unwrap();
    let go = Arc::new(AtomicBool::new(false));
    let go2 = go.clone();
    rt.spawn(async move {
        if let Ok((mut s, _)) = l.accept().await {
            while !go2.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let mut chunk = vec![b'A'; 64 * 1024];
            chunk[0] = b'/';
            for _ in 0..160 {
                if s.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            let mut m = DsmrMeter::new(Flavour::Dsmr5, CLOCK, 1);
            for _ in 0..20 {
                let _ = s.write_all(&m.telegram(1)).await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    });
    let b = Bridge::start(&p1_tcp(&broker, "f5", flood_port, "20s"));
    std::thread::sleep(Duration::from_millis(1500));
    let before = rss_kib(b.child.id());
    go.store(true, Ordering::SeqCst);
    sub.client
        .subscribe("f5/#", rumqttc::QoS::AtLeastOnce)
        .unwrap();
    let t5 = format!("f5{STATE}");
    sub.wait_until("a state after the 10 MB flood", T, |m| {
        m.iter().any(|x| x.topic == t5)
    });
    let after = rss_kib(b.child.id());
    println!("FAULTS flood: 10 MiB without '!' then telegrams; RSS {before} KiB before, {after} KiB after");
    assert!(
        after < before + 4 * 1024,
        "RSS grew from {before} to {after} KiB"
    );
    drop(b);

    // One byte per second: no reconnect storm, no busy loop.
    let slow_port = harness::free_port();
    let l = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", slow_port)))
        .unwrap();
    let conns = Arc::new(AtomicU64::new(0));
    let c2 = conns.clone();
    rt.spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            c2.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let t = DsmrMeter::new(Flavour::Dsmr5, CLOCK, 1).telegram(1);
                for b in t {
                    if s.write_all(&[b]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
        }
    });
    let b = Bridge::start(&p1_tcp(&broker, "f6", slow_port, "60s"));
    std::thread::sleep(Duration::from_secs(2));
    let cpu0 = cpu_ticks(b.child.id());
    std::thread::sleep(Duration::from_secs(8));
    let cpu = cpu_ticks(b.child.id()) - cpu0;
    println!(
        "FAULTS slow peer: 1 byte/s for 8 s: connections {}, bridge CPU {} ms",
        conns.load(Ordering::SeqCst),
        cpu * 10
    );
    assert_eq!(
        conns.load(Ordering::SeqCst),
        1,
        "reconnected a slow but live peer"
    );
    assert!(cpu * 10 < 1000, "busy loop: {} ms CPU in 8 s", cpu * 10);
}

#[test]
fn counters_going_backwards_or_all_zero_never_reach_mqtt_lower() {
    let broker = Broker::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let port = harness::free_port();
    let l = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
        .unwrap();
    // Energy import T1 in Wh per telegram: a glitch to 0 (all-zero registers) and a drop.
    let sequence: [u64; 8] = [100_000, 101_000, 0, 102_000, 50_000, 103_000, 0, 104_000];
    rt.spawn(async move {
        if let Ok((mut s, _)) = l.accept().await {
            let mut m = DsmrMeter::new(Flavour::Dsmr5, CLOCK, 1);
            tokio::time::sleep(Duration::from_millis(2500)).await;
            for wh in sequence {
                m.house.import_t1_wh = wh;
                if wh == 0 {
                    m.house.import_t2_wh = 0;
                    m.house.export_t1_wh = 0;
                    m.house.export_t2_wh = 0;
                    m.house.gas_dm3 = 0;
                }
                let _ = s.write_all(&m.telegram(1)).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
    });
    let topic = format!("f7{STATE}");
    let sub = Subscriber::connect(broker.port, "f7-sub", &["f7/#"]);
    let _b = Bridge::start(&p1_tcp(&broker, "f7", port, "60s"));
    sub.wait_until("all 8 states", T, |m| {
        m.iter().filter(|x| x.topic == topic).count() >= 8
    });
    let seen: Vec<String> = sub
        .on(&topic)
        .iter()
        .filter_map(|m| json(m).get("energy_import_t1").map(|v| v.to_string()))
        .collect();
    let gas: Vec<String> = sub
        .on("f7/G0012345678901235/state")
        .iter()
        .filter_map(|m| json(m).get("gas").map(|v| v.to_string()))
        .collect();
    println!("FAULTS counters: faults 3 (2 all-zero telegrams, 1 drop), readings sent 8, published energy_import_t1 {seen:?}, gas {gas:?}");
    assert_eq!(
        seen,
        ["100.000", "101.000", "102.000", "103.000", "104.000"]
    );
    assert!(gas.iter().all(|g| g != "0.000"), "{gas:?}");
}

#[test]
fn sigterm_with_the_broker_down_flushes_in_bounded_time_and_exits_0() {
    let mut broker = Broker::start();
    let stop = Arc::new(AtomicBool::new(false));
    let (path, _sim) = dsmr_on_pty(
        DsmrMeter::new(Flavour::Dsmr5, CLOCK, 1),
        Duration::from_millis(100),
        Arc::new(SimStats::default()),
        stop.clone(),
    )
    .unwrap();
    let sub = Subscriber::connect_with(broker.port, "f8-sub", &["f8/#"], false);
    let mut bridge = Bridge::start(&p1_serial(&broker, "f8", &path));
    sub.wait_until("states", T, |m| m.len() >= 5);
    broker.stop();
    std::thread::sleep(Duration::from_secs(1));
    let t0 = Instant::now();
    let code = bridge.terminate();
    let took = t0.elapsed();
    println!("FAULTS sigterm: broker down, queue pending; exit code {code:?} after {took:?}");
    assert_eq!(code, Some(0));
    assert!(took < Duration::from_secs(8));
    // With the broker up, SIGTERM delivers `offline` before exiting.
    broker.start_again();
    let n0 = sub.all().len();
    let mut bridge = Bridge::start(&p1_serial(&broker, "f8", &path));
    sub.wait_until("online again", T, |m| {
        m[n0..]
            .iter()
            .any(|x| x.topic == "f8/status" && x.payload == "online")
    });
    let n = sub.all().len();
    assert_eq!(bridge.terminate(), Some(0));
    sub.wait_until("offline after SIGTERM", T, |m| {
        m[n..]
            .iter()
            .any(|x| x.topic == "f8/status" && x.payload == "offline")
    });
    stop.store(true, Ordering::SeqCst);
    let _ = std::io::stdout().flush();
}

#[test]
fn polled_meters_that_corrupt_answer_late_or_stop_keep_being_polled() {
    use meter2mqtt::protocol::Parity;
    use meter2mqtt::sim::kmp::KmpSimulator;
    use meter2mqtt::sim::polled::{kmp_on_pty, serve_on_pty};
    use meter2mqtt::sim::MulticalSimulator;
    use std::sync::Mutex;
    let broker = Broker::start();
    let stop = Arc::new(AtomicBool::new(false));
    // KMP: echoing head, every 3rd reply with a broken CRC.
    let mut k = KmpSimulator::multical_603();
    k.echo = true;
    k.corrupt_crc_every = Some(3);
    let kmp = Arc::new(Mutex::new(k));
    let (kpath, _kh) = kmp_on_pty(kmp.clone(), stop.clone()).unwrap();
    // MULTICAL /#n: replies 1.2 s late (the session waits 2 s for the first byte).
    let mut m = MulticalSimulator::new();
    m.slow_reply(Duration::from_millis(1200));
    let mc = Arc::new(Mutex::new(m));
    let mc2 = mc.clone();
    let (mpath, _mh) = serve_on_pty(
        (7, Parity::Even, 2),
        move |line, bytes| mc2.lock().unwrap().on_input(line, bytes),
        stop.clone(),
    )
    .unwrap();
    let sub = Subscriber::connect(broker.port, "f9-sub", &["f9/#"]);
    let _b = Bridge::start(&format!(
        "mqtt:\n  url: {}\n  base_topic: f9\n\
inputs:\n  - {{name: heat, type: kmp, device: {}, poll_interval: 5s}}\n  - {{name: mc, type: multical, device: {}, poll_interval: 5s}}\n",
        broker.url(),
        kpath.display(),
        mpath.display()
    ));
    let heat_states = |m: &[Msg]| {
        m.iter()
            .filter(|x| x.topic.starts_with("f9/kamstrup_") && x.topic.ends_with("/state"))
            .count()
    };
    let mc_states = |m: &[Msg]| {
        m.iter()
            .filter(|x| x.topic.starts_with("f9/multical_") && x.topic.ends_with("/state"))
            .count()
    };
    sub.wait_until(
        "KMP states despite corrupt CRCs, MULTICAL despite late replies",
        Duration::from_secs(60),
        |m| heat_states(m) >= 3 && mc_states(m) >= 2,
    );
    // Both stop answering: offline; then back.
    kmp.lock().unwrap().drop_replies = true;
    mc.lock().unwrap().set_silent(true);
    let offline = |m: &[Msg], p: &str| {
        m.iter().any(|x| {
            x.topic.starts_with(p) && x.topic.ends_with("/availability") && x.payload == "offline"
        })
    };
    sub.wait_until("both offline", Duration::from_secs(90), |m| {
        offline(m, "f9/kamstrup_") && offline(m, "f9/multical_")
    });
    let (h, c) = (heat_states(&sub.all()), mc_states(&sub.all()));
    kmp.lock().unwrap().drop_replies = false;
    mc.lock().unwrap().set_silent(false);
    sub.wait_until("both back", Duration::from_secs(90), |m| {
        heat_states(m) > h && mc_states(m) > c
    });
    println!(
        "FAULTS polled meters: KMP with every 3rd CRC corrupt and echo, MULTICAL replying 1.2 s late, both silenced then back: KMP states {}, MULTICAL states {}, both went offline and recovered",
        heat_states(&sub.all()),
        mc_states(&sub.all())
    );
    stop.store(true, Ordering::SeqCst);
}
