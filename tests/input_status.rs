//! Inputs report their health (issue 13): the real input tasks (`input::spawn`, as the bridge
//! starts them) over real loopback TCP sockets, with the counts read back through
//! `InputStatuses::get`, as the HTTP API and `/metrics` will read them.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use meter2mqtt::config::Config;
use meter2mqtt::event::status::{InputStatuses, StatusSnapshot};
use meter2mqtt::event::InputEvent;
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use meter2mqtt::sim::kmp::KmpSimulator;
use meter2mqtt::sim::polled::kmp_on_tcp;
use meter2mqtt::sim::serve::{dsmr_on_pty, loopback_listener, SimStats};

const T: Duration = Duration::from_secs(20);
/// 2024-01-15 12:00:00 (meter local time)
const CLOCK: i64 = 1_705_320_000;

fn config(input: &str) -> Config {
    Config::from_yaml(&format!("inputs:\n  - {input}\n")).expect("valid configuration")
}

/// Poll `name`'s status until `done` holds (or fail after [`T`], showing the last one).
async fn wait_status(
    statuses: &InputStatuses,
    name: &str,
    what: &str,
    done: impl Fn(&StatusSnapshot) -> bool,
) -> StatusSnapshot {
    let start = tokio::time::Instant::now();
    loop {
        let s = statuses.get(name);
        if let Some(s) = s.as_ref().filter(|s| done(s)) {
            return s.clone();
        }
        assert!(start.elapsed() < T, "{what}: {s:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// CPU time this process has used, user and system (`/proc/self/stat` fields 14 and 15, in
/// clock ticks of 1/100 s: `proc(5)`).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // `rest` starts at field 3 (state): utime is field 14, stime 15.
    Duration::from_millis((f[11] + f[12]) * 10)
}

/// The same telegram with a wrong CRC: the first hex digit after `!` changed.
fn with_bad_crc(mut telegram: Vec<u8>) -> Vec<u8> {
    let bang = telegram.iter().rposition(|&b| b == b'!').expect("a '!'");
    let c = &mut telegram[bang + 1];
    *c = if *c == b'0' { b'1' } else { b'0' };
    telegram
}

/// A P1 relay sends a good telegram, one with a bad CRC, and a good one: two accepted, one
/// rejected as `crc_mismatch` with its text as the last error; the link is up (TCP: no line
/// settings). When the relay closes, the link is down; the next connection is a reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p1_counts_accepted_and_rejected_telegrams_and_reconnects() {
    let (listener, addr) = loopback_listener().await.expect("listener");
    let mut meter = DsmrMeter::new(Flavour::Dsmr5, CLOCK, 1);
    let (good, bad, good2) = (
        meter.telegram(1),
        with_bad_crc(meter.telegram(1)),
        meter.telegram(1),
    );
    let (close_tx, close_rx) = tokio::sync::oneshot::channel::<()>();
    let relay = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.expect("first connection");
        for t in [&good, &bad, &good2] {
            sock.write_all(t).await.expect("write");
        }
        // Hold the connection until the test has read the counts, then close it.
        let _ = close_rx.await;
        drop(sock);
        let (sock, _) = listener.accept().await.expect("second connection");
        std::future::pending::<()>().await;
        drop(sock);
    });
    let cfg = config(&format!(
        "{{name: p1, type: p1, host: 127.0.0.1, port: {}}}",
        addr.port()
    ));
    let statuses = Arc::new(InputStatuses::default());
    let (tx, mut rx) = mpsc::channel::<InputEvent>(16);
    let input = meter2mqtt::input::spawn(&cfg.inputs[0], &tx, &statuses);
    let registered = statuses.get("p1").expect("registered at start");
    assert_eq!(registered.kind, "p1");
    assert_eq!(registered.link, format!("tcp://127.0.0.1:{}", addr.port()));

    let s = wait_status(&statuses, "p1", "two telegrams accepted", |s| {
        s.accepted == 2
    })
    .await;
    assert!(s.detail.connected);
    assert_eq!(s.detail.line_settings, None, "TCP: the relay owns them");
    assert!(s.last_data_ms.is_some());
    assert_eq!(s.detail.rejected.get("crc_mismatch"), Some(&1), "{s:#?}");
    assert_eq!(s.detail.rejected.values().sum::<u64>(), 1, "{s:#?}");
    let err = s.detail.last_error.as_deref().unwrap_or_default();
    assert!(err.starts_with("CRC mismatch"), "{err}");
    assert!(s.detail.last_error_ms.is_some());
    assert_eq!(s.detail.reconnects, 0);
    // Both good telegrams went on to the rules; the bad one did not.
    let mut readings = 0;
    while let Ok(ev) = rx.try_recv() {
        if matches!(ev, InputEvent::Readings { .. }) {
            readings += 1;
        }
    }
    assert_eq!(readings, 2);

    let _ = close_tx.send(());
    let s = wait_status(&statuses, "p1", "the relay's close seen", |s| {
        !s.detail.connected
    })
    .await;
    assert!(
        s.detail
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("end of stream")),
        "{s:#?}"
    );
    let s = wait_status(&statuses, "p1", "reconnected", |s| s.detail.connected).await;
    assert_eq!(s.detail.reconnects, 1);
    assert_eq!(s.accepted, 2);
    drop(input);
    relay.abort();
}

/// A DSMR 5 meter on a real pseudo-terminal, the line settings auto-detected: the status
/// shows the link (the device path) and the settings the telegrams came in with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p1_on_a_serial_port_shows_its_line_settings() {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let meter = DsmrMeter::new(Flavour::Dsmr5, CLOCK, 1);
    let (path, pty) = dsmr_on_pty(
        meter,
        Duration::from_millis(200),
        Arc::new(SimStats::default()),
        stop.clone(),
    )
    .expect("pty");
    let cfg = config(&format!(
        "{{name: p1, type: p1, device: {}, preset: auto}}",
        path.display()
    ));
    let statuses = Arc::new(InputStatuses::default());
    let (tx, _rx) = mpsc::channel::<InputEvent>(64);
    let input = meter2mqtt::input::spawn(&cfg.inputs[0], &tx, &statuses);
    let s = wait_status(&statuses, "p1", "telegrams on the pty", |s| s.accepted >= 2).await;
    assert_eq!(s.link, path.display().to_string());
    assert!(s.detail.connected);
    assert_eq!(s.detail.line_settings.as_deref(), Some("115200 8N1"));
    drop(input);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = pty.join();
}

/// The idle watchdog counts from the last telegram, not the first (one timer per connection,
/// moved back lazily: `input::p1`): telegrams every 400 ms for 3.2 s with a 2 s idle timeout
/// keep the link up past the first deadline, and once the relay falls silent the link is
/// dropped as idle no sooner than 2 s after the last telegram, then reconnected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p1_idle_timeout_counts_from_the_last_telegram() {
    let (listener, addr) = loopback_listener().await.expect("listener");
    let last_write = Arc::new(std::sync::Mutex::new(None::<tokio::time::Instant>));
    let lw = last_write.clone();
    let relay = tokio::spawn(async move {
        let mut meter = DsmrMeter::new(Flavour::Dsmr5, CLOCK, 1);
        let (mut sock, _) = listener.accept().await.expect("first connection");
        for _ in 0..8 {
            sock.write_all(&meter.telegram(1)).await.expect("write");
            *lw.lock().unwrap() = Some(tokio::time::Instant::now());
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        // Silent, connection held: only the watchdog can end it.
        let (_second, _) = listener.accept().await.expect("second connection");
        std::future::pending::<()>().await;
        drop(sock);
    });
    let cfg = config(&format!(
        "{{name: p1, type: p1, host: 127.0.0.1, port: {}, idle_timeout: 2s}}",
        addr.port()
    ));
    let statuses = Arc::new(InputStatuses::default());
    let (tx, mut rx) = mpsc::channel::<InputEvent>(64);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let input = meter2mqtt::input::spawn(&cfg.inputs[0], &tx, &statuses);
    let first = wait_status(&statuses, "p1", "first telegram", |s| s.accepted >= 1).await;
    assert!(first.detail.connected);
    // Past the first telegram's deadline while telegrams still arrive: still the first link.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let s = statuses.get("p1").expect("status");
    assert!(s.detail.connected, "dropped while telegrams arrive: {s:#?}");
    assert_eq!(s.detail.reconnects, 0, "{s:#?}");
    let s = wait_status(&statuses, "p1", "idle link dropped", |s| {
        s.detail.reconnects >= 1
            || s.detail
                .last_error
                .as_deref()
                .is_some_and(|e| e.contains("idle timeout"))
    })
    .await;
    let quiet = last_write
        .lock()
        .unwrap()
        .map(|t| t.elapsed())
        .expect("telegrams written");
    assert!(
        quiet >= Duration::from_millis(1900),
        "idle after {quiet:?} of silence: {s:#?}"
    );
    assert_eq!(s.accepted, 8, "{s:#?}");
    let s = wait_status(&statuses, "p1", "reconnected", |s| {
        s.detail.reconnects >= 1 && s.detail.connected
    })
    .await;
    assert_eq!(s.detail.reconnects, 1, "{s:#?}");
    drop(input);
    relay.abort();
    drain.abort();
}

/// Request pulses (`request_mode: pulse`, Kamstrup 162 and other DSMR 2.2 meters) share the
/// connection's one timer with the idle watchdog: on a real pseudo-terminal, with pulses due
/// every second between the meter's telegrams, every telegram is still read and the link
/// stays up (a pty has no RTS line; the pulse's failure to set it is ignored, as on a cable
/// without the pin).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn p1_request_pulses_do_not_disturb_reading() {
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let meter = DsmrMeter::new(Flavour::Dsmr5, CLOCK, 1);
    let (path, pty) = dsmr_on_pty(
        meter,
        Duration::from_millis(300),
        Arc::new(SimStats::default()),
        stop.clone(),
    )
    .expect("pty");
    let cfg = config(&format!(
        "{{name: p1, type: p1, device: {}, preset: dsmr5, request_line: rts, request_mode: pulse, request_interval: 1s, idle_timeout: 2s}}",
        path.display()
    ));
    let statuses = Arc::new(InputStatuses::default());
    let (tx, mut rx) = mpsc::channel::<InputEvent>(64);
    let drain = tokio::spawn(async move { while rx.recv().await.is_some() {} });
    let cpu_before = process_cpu();
    let input = meter2mqtt::input::spawn(&cfg.inputs[0], &tx, &statuses);
    // 3.5 s: three pulses and one idle timeout's worth of time, ≈ 11 telegrams.
    let s = wait_status(&statuses, "p1", "telegrams between pulses", |s| {
        s.accepted >= 10
    })
    .await;
    // A timer left fired after a pulse would wake the input in a loop: a core for 3 s.
    let cpu = process_cpu() - cpu_before;
    assert!(cpu < Duration::from_secs(1), "{cpu:?} of CPU in ≈ 3.5 s");
    assert!(s.detail.connected, "{s:#?}");
    assert_eq!(s.detail.reconnects, 0, "{s:#?}");
    drop(input);
    drain.abort();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = pty.join();
}

/// A KMP meter behind a relay answers its poll: one accepted poll, no failed one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kmp_counts_an_answered_poll() {
    let (listener, addr) = loopback_listener().await.expect("listener");
    let sim = Arc::new(std::sync::Mutex::new(KmpSimulator::multical_603()));
    let relay = tokio::spawn(kmp_on_tcp(listener, sim));
    let cfg = config(&format!(
        "{{name: heat, type: kmp, host: 127.0.0.1, port: {}, poll_interval: 1h}}",
        addr.port()
    ));
    let statuses = Arc::new(InputStatuses::default());
    let (tx, _rx) = mpsc::channel::<InputEvent>(16);
    let input = meter2mqtt::input::spawn(&cfg.inputs[0], &tx, &statuses);
    let s = wait_status(&statuses, "heat", "a poll answered", |s| s.accepted == 1).await;
    assert_eq!(s.kind, "kmp");
    assert!(s.detail.connected);
    assert_eq!(s.detail.failed_polls, 0);
    assert_eq!(s.detail.last_error, None);
    drop(input);
    relay.abort();
}

/// A relay that accepts and closes at once: every poll fails on the link, the link is down,
/// and each reopening counts as a reconnect.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kmp_counts_failed_polls_and_reconnects() {
    let (listener, addr) = loopback_listener().await.expect("listener");
    let relay = tokio::spawn(async move {
        loop {
            if let Ok((sock, _)) = listener.accept().await {
                drop(sock);
            }
        }
    });
    let cfg = config(&format!(
        "{{name: heat, type: kmp, host: 127.0.0.1, port: {}, poll_interval: 1h}}",
        addr.port()
    ));
    let statuses = Arc::new(InputStatuses::default());
    let (tx, _rx) = mpsc::channel::<InputEvent>(16);
    let input = meter2mqtt::input::spawn(&cfg.inputs[0], &tx, &statuses);
    let s = wait_status(&statuses, "heat", "two failed polls", |s| {
        s.detail.failed_polls >= 2 && !s.detail.connected
    })
    .await;
    assert_eq!(s.accepted, 0);
    assert!(s.detail.reconnects >= 1, "{s:#?}");
    assert!(s.detail.last_error.is_some());
    drop(input);
    relay.abort();
}
