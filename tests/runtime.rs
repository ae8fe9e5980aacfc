//! The running bridge under lasting faults and signals (issue 18 §7, §9, §10, §14): the real
//! binary against a real Mosquitto, real TCP relays and real pseudo-terminals, with real
//! signals; log lines are counted from the binary's stderr.

mod harness;

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{signal, Bridge, Broker, Subscriber};
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use meter2mqtt::sim::pty::Pty;
use meter2mqtt::sim::serve::{dsmr_on_pty, SimStats};
use tokio::io::AsyncWriteExt;

const T: Duration = Duration::from_secs(30);
const CLOCK: i64 = 1_705_320_000;

/// The state topic of the simulated meter with `seed` under `base`.
fn state(base: &str, seed: u64) -> String {
    format!("{base}/E00{:014}/state", 43_007_052_870_318u64 + seed)
}

fn config(broker: &Broker, base: &str, inputs: &str) -> String {
    format!(
        "mqtt:\n  url: {}\n  base_topic: {base}\n  client_id: {base}\ninputs:\n{inputs}",
        broker.url()
    )
}

fn tcp_input(name: &str, port: u16, idle: &str) -> String {
    format!("  - {{name: {name}, type: p1, host: 127.0.0.1, port: {port}, idle_timeout: {idle}}}\n")
}

/// A TCP relay (like ser2net) serving the simulated meter `seed` every 200 ms to each client;
/// counts the connections it accepted.
fn relay(rt: &tokio::runtime::Runtime, seed: u64) -> (u16, Arc<AtomicU64>) {
    let l = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
        .unwrap();
    let port = l.local_addr().unwrap().port();
    let accepts = Arc::new(AtomicU64::new(0));
    let a = accepts.clone();
    rt.spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            a.fetch_add(1, Ordering::SeqCst);
            let mut meter = DsmrMeter::new(Flavour::Dsmr5, CLOCK, seed);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if s.write_all(&meter.telegram(1)).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, accepts)
}

fn count(sub: &Subscriber, topic: &str) -> usize {
    sub.on(topic).len()
}

/// Log lines at `level` (` WARN `, ` INFO `) containing `needle`.
fn lines_at(bridge: &Bridge, level: &str, needle: &str) -> usize {
    bridge
        .log_text()
        .lines()
        .filter(|l| l.contains(level) && l.contains(needle))
        .count()
}

/// §7: `idle_timeout: 18446744073709551615` panicked the input task ("overflow when adding
/// duration to instant") and the bridge stayed up, `online`, with a dead input. Now the
/// deadline saturates and readings flow; should the configuration come to refuse the value,
/// the bridge must refuse it at start, naming the key, and not panic either.
#[test]
fn an_idle_timeout_beyond_the_clock_neither_panics_nor_leaves_a_dead_input() {
    let broker = Broker::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (port, _) = relay(&rt, 1);
    let sub = Subscriber::connect(broker.port, "r7-sub", &["r7/#"]);
    let mut bridge = Bridge::start(&config(
        &broker,
        "r7",
        &tcp_input("p1", port, "18446744073709551615"),
    ));
    std::thread::sleep(Duration::from_millis(1500));
    if !bridge.alive() {
        let log = bridge.log_text();
        assert!(log.contains("idle_timeout"), "{log}");
        assert!(!log.contains("panicked"), "{log}");
        println!("RUNTIME §7: the configuration refuses the value at start");
        return;
    }
    let topic = state("r7", 1);
    sub.wait_until("states with a huge idle timeout", T, |m| {
        m.iter().filter(|x| x.topic == topic).count() >= 3
    });
    let log = bridge.log_text();
    assert!(!log.contains("panicked"), "{log}");
    assert_eq!(bridge.terminate(), Some(0));
}

/// §9: with stderr a pipe whose reader goes away, the bridge panicked ("failed printing to
/// stderr: Broken pipe") at its next log line. Logging must never take the bridge down.
#[test]
fn a_closed_stderr_pipe_does_not_take_the_bridge_down() {
    let broker = Broker::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (port, _) = relay(&rt, 1);
    let sub = Subscriber::connect(broker.port, "r9-sub", &["r9/#"]);
    let mut bridge = Bridge::start_piped(&config(&broker, "r9", &tcp_input("p1", port, "60s")));
    let topic = state("r9", 1);
    {
        // Read until the bridge is connected, then close the pipe's only reader.
        let stderr = bridge.child.stderr.take().expect("piped stderr");
        let mut lines = std::io::BufReader::new(stderr).lines();
        let deadline = Instant::now() + T;
        while Instant::now() < deadline {
            match lines.next() {
                Some(Ok(l)) if l.contains("connected to MQTT broker") => break,
                Some(Ok(_)) => {}
                _ => panic!("stderr ended before the bridge connected"),
            }
        }
    }
    sub.wait_until("states", T, |m| {
        m.iter().filter(|x| x.topic == topic).count() >= 2
    });
    // Log lines now go to a pipe nobody reads: Home Assistant's birth logs one at once, and
    // the debug log writes one per telegram.
    sub.publish("homeassistant/status", "online", false);
    std::thread::sleep(Duration::from_secs(3));
    assert!(bridge.alive(), "the bridge died when its stderr closed");
    let n = count(&sub, &topic);
    sub.wait_until("states after stderr closed", T, |m| {
        m.iter().filter(|x| x.topic == topic).count() > n + 2
    });
    assert_eq!(bridge.terminate(), Some(0));
}

/// §10: SIGHUP and SIGUSR1 ended the process without cleanup. Now SIGUSR1/SIGUSR2 log a
/// status line; SIGHUP reloads: a changed input restarts, an unchanged one keeps its
/// connection, an invalid file keeps the running configuration, a changed `mqtt:` section
/// is named as needing a restart; SIGTERM still cleans up.
#[test]
fn sighup_reloads_changed_inputs_and_sigusr_logs_a_status_line() {
    let broker = Broker::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (pa, accepts_a) = relay(&rt, 1);
    let (pb, _) = relay(&rt, 2);
    let (pc, accepts_c) = relay(&rt, 3);
    let sub = Subscriber::connect(broker.port, "r10-sub", &["r10/#"]);
    let inputs = |b: u16| format!("{}{}", tcp_input("a", pa, "60s"), tcp_input("b", b, "60s"));
    let mut bridge = Bridge::start(&config(&broker, "r10", &inputs(pb)));
    let (ta, tb, tc) = (state("r10", 1), state("r10", 2), state("r10", 3));
    sub.wait_until("states of both meters", T, |m| {
        m.iter().any(|x| x.topic == ta) && m.iter().any(|x| x.topic == tb)
    });

    let pid = bridge.child.id();
    signal(pid, libc::SIGUSR1);
    bridge.wait_log(" status ", T);
    signal(pid, libc::SIGUSR2);
    let deadline = Instant::now() + T;
    while bridge.log_lines_with(" status ") < 2 {
        assert!(Instant::now() < deadline, "{}", bridge.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(bridge.alive(), "SIGUSR1/SIGUSR2 ended the bridge");

    // Input b moves to relay C; input a is unchanged and must keep its connection.
    std::fs::write(bridge.config_path(), config(&broker, "r10", &inputs(pc))).unwrap();
    signal(pid, libc::SIGHUP);
    bridge.wait_log("configuration reloaded", T);
    sub.wait_until("states of the meter behind the new relay", T, |m| {
        m.iter().any(|x| x.topic == tc)
    });
    assert!(bridge.alive());
    assert_eq!(accepts_c.load(Ordering::SeqCst), 1);
    assert_eq!(
        accepts_a.load(Ordering::SeqCst),
        1,
        "the unchanged input reconnected"
    );

    // An invalid file is logged and changes nothing.
    std::fs::write(bridge.config_path(), "inputs: [{name: a\n").unwrap();
    signal(pid, libc::SIGHUP);
    bridge.wait_log("reload failed", T);
    let n = count(&sub, &ta);
    sub.wait_until("states after the invalid reload", T, |m| {
        m.iter().filter(|x| x.topic == ta).count() > n + 2
    });

    // A new `mqtt:` section is not applied on reload; the log says it needs a restart.
    let moved = config(&broker, "r10-moved", &inputs(pc));
    std::fs::write(bridge.config_path(), moved).unwrap();
    signal(pid, libc::SIGHUP);
    bridge.wait_log("next restart only", T);
    assert_eq!(bridge.log_lines_with("configuration reloaded"), 2);
    assert_eq!(accepts_a.load(Ordering::SeqCst), 1);

    let m0 = sub.all().len();
    assert_eq!(bridge.terminate(), Some(0));
    sub.wait_until("offline after SIGTERM", T, |m| {
        m[m0..]
            .iter()
            .any(|x| x.topic == "r10/status" && x.payload == "offline")
    });
}

/// A listener that accepts and closes at once; counts the connections.
fn accept_and_close(rt: &tokio::runtime::Runtime) -> (u16, Arc<AtomicU64>) {
    let l = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
        .unwrap();
    let port = l.local_addr().unwrap().port();
    let accepts = Arc::new(AtomicU64::new(0));
    let a = accepts.clone();
    rt.spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            a.fetch_add(1, Ordering::SeqCst);
            drop(s);
        }
    });
    (port, accepts)
}

/// §14: a relay that accepts and closes at once was reconnected every second forever with a
/// warning each time (the backoff was reset by every connect). The backoff now resets only
/// on data (1 + 2 + 4 s: 4 connections in 12 s) and the fault logs one line. Both kinds of
/// input: P1 (telegrams) and polled (KMP over TCP).
#[test]
fn a_relay_that_accepts_and_closes_backs_off_and_logs_one_line() {
    let broker = Broker::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (p1_port, p1_accepts) = accept_and_close(&rt);
    let (kmp_port, kmp_accepts) = accept_and_close(&rt);
    let p1 = Bridge::start(&config(&broker, "r14a", &tcp_input("p1", p1_port, "60s")));
    let kmp = Bridge::start(&config(
        &broker,
        "r14a2",
        &format!("  - {{name: heat, type: kmp, host: 127.0.0.1, port: {kmp_port}, poll_interval: 60s}}\n"),
    ));
    std::thread::sleep(Duration::from_secs(12));
    for (bridge, accepts, name) in [(&p1, &p1_accepts, "p1"), (&kmp, &kmp_accepts, "heat")] {
        let n = accepts.load(Ordering::SeqCst);
        let warned = lines_at(bridge, " WARN ", &format!("input={name}"));
        println!("RUNTIME relay accept+close ({name}): {n} connections and {warned} warning lines in 12 s");
        assert!(n >= 2, "{name}: never reconnected");
        assert!(
            n <= 5,
            "{name}: {n} connections in 12 s: the backoff does not grow"
        );
        assert_eq!(warned, 1, "{name}: {}", bridge.log_text());
    }
}

/// §14: garbage on a serial P1 port with auto-detection logged about 5 lines a second (a
/// "detecting again" warning and a "listening" line per preset). Now the search logs a line
/// when it starts and then summaries only.
#[test]
fn garbage_on_a_serial_port_logs_a_few_lines_not_several_a_second() {
    let broker = Broker::start();
    let pty = Pty::open().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let mut master = pty.master.try_clone().unwrap();
    let junk = std::thread::spawn(move || {
        // Frames with a header and an end but no valid content or CRC, with noise between.
        let frame = b"\x13\xfe/XYZ5\r\n\r\n1-0:1.8.1(000\r\n!ZZZZ\r\n\x00\x81";
        while !s.load(Ordering::SeqCst) {
            let _ = master.write_all(frame);
            std::thread::sleep(Duration::from_millis(25));
        }
    });
    let bridge = Bridge::start(&config(
        &broker,
        "r14b",
        &format!(
            "  - {{name: p1, type: p1, device: {}}}\n",
            pty.slave_path.display()
        ),
    ));
    std::thread::sleep(Duration::from_secs(8));
    stop.store(true, Ordering::SeqCst);
    let _ = junk.join();
    let loud = lines_at(&bridge, " WARN ", "input=p1") + lines_at(&bridge, " INFO ", "input=p1");
    let searched = bridge.log_lines_with("auto-detect: listening");
    println!("RUNTIME serial garbage: {loud} info/warn lines in 8 s over {searched} presets tried");
    assert!(
        searched >= 4,
        "did not cycle presets: {}",
        bridge.log_text()
    );
    assert!(loud <= 4, "{loud} lines in 8 s:\n{}", bridge.log_text());
}

/// §14: every `online` on `homeassistant/status` logged a line (200 messages, 200 lines).
#[test]
fn two_hundred_home_assistant_births_log_one_line() {
    let broker = Broker::start();
    let sub = Subscriber::connect(broker.port, "r14c-sub", &["r14c/#"]);
    // An input on a closed port: the bridge needs one, this test needs none to work.
    let bridge = Bridge::start(&config(&broker, "r14c", &tcp_input("p1", 9, "60s")));
    sub.wait_until("online", T, |m| {
        m.iter()
            .any(|x| x.topic == "r14c/status" && x.payload == "online")
    });
    for _ in 0..200 {
        sub.publish("homeassistant/status", "online", false);
    }
    let deadline = Instant::now() + T;
    while bridge.log_lines_with("Home Assistant came online") < 200 {
        assert!(Instant::now() < deadline, "{}", bridge.log_text());
        std::thread::sleep(Duration::from_millis(20));
    }
    let info = lines_at(&bridge, " INFO ", "Home Assistant came online");
    println!("RUNTIME 200 HA births: {info} info lines");
    assert_eq!(info, 1, "{}", bridge.log_text());
}

/// §14: the warning about a world-readable configuration with secrets was printed twice
/// (a log line and an `eprintln!`), by `run` and by `check-config`.
#[cfg(unix)]
#[test]
fn the_world_readable_warning_is_printed_once() {
    use std::os::unix::fs::PermissionsExt;
    let broker = Broker::start();
    // The harness writes the file with the usual umask (0644): readable by all.
    let bridge = Bridge::start(&format!(
        "mqtt:\n  url: {}\n  password: x\n  base_topic: r14d\n  client_id: r14d\ninputs:\n{}",
        broker.url(),
        tcp_input("p1", 9, "60s")
    ));
    let mode = std::fs::metadata(bridge.config_path())
        .unwrap()
        .permissions()
        .mode();
    assert_ne!(
        mode & 0o004,
        0,
        "test set-up: the file must be world-readable"
    );
    bridge.wait_log("meter2mqtt started", T);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_meter2mqtt"))
        .args(["check-config", "--config"])
        .arg(bridge.config_path())
        .output()
        .unwrap();
    let check = String::from_utf8_lossy(&out.stderr)
        .matches("chmod 600")
        .count();
    let run = bridge.log_text().matches("chmod 600").count();
    assert_eq!((run, check), (1, 1), "run log:\n{}", bridge.log_text());
}

/// §14: a second Ctrl-C during the shutdown flush was ignored (the flush waited its full
/// 5 s with the broker down). Now it ends the process at once, with 128 + SIGINT.
#[test]
fn a_second_ctrl_c_ends_the_shutdown_flush() {
    let mut broker = Broker::start();
    let stop = Arc::new(AtomicBool::new(false));
    let (path, _sim) = dsmr_on_pty(
        DsmrMeter::new(Flavour::Dsmr5, CLOCK, 1),
        Duration::from_millis(100),
        Arc::new(SimStats::default()),
        stop.clone(),
    )
    .unwrap();
    let sub = Subscriber::connect(broker.port, "r14e-sub", &["r14e/#"]);
    let mut bridge = Bridge::start(&config(
        &broker,
        "r14e",
        &format!(
            "  - {{name: p1, type: p1, device: {}, preset: dsmr5}}\n",
            path.display()
        ),
    ));
    sub.wait_until("states", T, |m| m.len() >= 5);
    broker.stop();
    std::thread::sleep(Duration::from_secs(1));
    let t0 = Instant::now();
    signal(bridge.child.id(), libc::SIGINT);
    bridge.wait_log("shutting down", T);
    std::thread::sleep(Duration::from_millis(300));
    signal(bridge.child.id(), libc::SIGINT);
    let code = loop {
        if let Ok(Some(st)) = bridge.child.try_wait() {
            break st.code();
        }
        assert!(t0.elapsed() < T, "the bridge did not exit");
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = t0.elapsed();
    stop.store(true, Ordering::SeqCst);
    println!("RUNTIME second Ctrl-C: exit {code:?} after {took:?} (the flush alone takes 5 s)");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(code, Some(128 + libc::SIGINT));
}

/// §14: a broker that accepts the connection (CONNACK) and drops it at once was reconnected
/// every 100 ms with a "connected" and a "lost" line each time. An outage now ends only when
/// a connection has lasted 10 s, which also resets the reconnect backoff (100 ms doubling to
/// 1 s): one line when it starts, summaries, one when it ends.
#[test]
fn a_broker_that_drops_every_connection_logs_one_outage() {
    use tokio::io::AsyncReadExt;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let l = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
        .unwrap();
    let port = l.local_addr().unwrap().port();
    let connacks = Arc::new(AtomicU64::new(0));
    let c = connacks.clone();
    rt.spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let c = c.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 512];
                // CONNECT in, CONNACK "accepted" out (MQTT 3.1.1 §3.2), then close.
                if s.read(&mut buf).await.is_ok_and(|n| n > 0)
                    && s.write_all(&[0x20, 0x02, 0x00, 0x00]).await.is_ok()
                {
                    c.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            });
        }
    });
    let bridge = Bridge::start(&format!(
        "mqtt:\n  url: mqtt://127.0.0.1:{port}\n  base_topic: r14f\n  client_id: r14f\ninputs:\n{}",
        tcp_input("p1", 9, "60s")
    ));
    std::thread::sleep(Duration::from_secs(8));
    let n = connacks.load(Ordering::SeqCst);
    let loud = lines_at(&bridge, " WARN ", "meter2mqtt::mqtt")
        + lines_at(&bridge, " INFO ", "meter2mqtt::mqtt");
    println!("RUNTIME flapping broker: {n} connections accepted and dropped, {loud} info/warn lines in 8 s");
    assert!(n >= 5, "only {n} connections: {}", bridge.log_text());
    assert!(n <= 15, "{n} connections in 8 s: the backoff does not grow");
    assert!(loud <= 2, "{loud} lines:\n{}", bridge.log_text());
}
