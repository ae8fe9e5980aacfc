//! A P1 input that floods (issue 18 §2): the real binary against a real Mosquitto, fed by a
//! real TCP peer that sprays line noise framed like telegrams (`/!\r\n`), DSMR 5 telegrams
//! with their CRC stripped, and then valid telegrams far faster than any meter sends them.
//! Prints one `FAULTS` line with its figures; run with `cargo test --test p1_flood -- --nocapture`.

mod harness;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{Bridge, Broker, Subscriber};
use meter2mqtt::input::rate_cap::{RATE_CAP_BURST, RATE_CAP_PER_SECOND};
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use tokio::io::AsyncWriteExt;

const T: Duration = Duration::from_secs(30);
const CLOCK: i64 = 1_705_320_000;

/// A DSMR 5 telegram without the CRC after its `!` (the line end kept).
fn stripped(t: &[u8]) -> Vec<u8> {
    let bang = t.iter().rposition(|&b| b == b'!').unwrap();
    [&t[..=bang], b"\r\n"].concat()
}

/// The `key=value` number of the last log line containing `what`.
fn field(log: &str, what: &str, key: &str) -> Option<u64> {
    let line = log.lines().rev().find(|l| l.contains(what))?;
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

#[test]
fn noise_stripped_crcs_and_a_telegram_flood_never_flood_the_outbox() {
    let broker = Broker::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let port = harness::free_port();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
        .unwrap();
    // Seed 1: the meter whose telegrams come without CRC; seed 2: the one that floods.
    let noisy = DsmrMeter::new(Flavour::Dsmr5, CLOCK, 1);
    let fast = DsmrMeter::new(Flavour::Dsmr5, CLOCK, 2);
    let (noisy_id, fast_id) = (noisy.equipment_id.clone(), fast.equipment_id.clone());
    let sent_fast = Arc::new(AtomicU64::new(0));
    let spray = Arc::new(std::sync::Mutex::new(None::<(Instant, Instant)>));
    let (sent2, spray2) = (sent_fast.clone(), spray.clone());
    rt.spawn(async move {
        let Ok((mut s, _)) = listener.accept().await else {
            return;
        };
        let (mut noisy, mut fast) = (noisy, fast);
        // 3 s of `/!\r\n` at about 20 KB/s with a CRC-stripped DSMR 5 telegram every 100 ms
        // (one first: the first rejection of a burst is the one logged).
        let noise = b"/!\r\n".repeat(500);
        for _ in 0..30 {
            let _ = s.write_all(&stripped(&noisy.telegram(1))).await;
            if s.write_all(&noise).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // 3 s of valid telegrams as fast as the socket takes them.
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(3) {
            let mut chunk = Vec::new();
            for _ in 0..50 {
                chunk.extend_from_slice(&fast.telegram(1));
            }
            if s.write_all(&chunk).await.is_err() {
                return;
            }
            sent2.fetch_add(50, Ordering::SeqCst);
        }
        *spray2.lock().unwrap() = Some((start, Instant::now()));
        // Then a meter's pace: one a second.
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = s.write_all(&fast.telegram(1)).await;
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
    let sub = Subscriber::connect(broker.port, "fl-sub", &["fl/#"]);
    let bridge = Bridge::start(&format!(
        "mqtt:\n  url: {}\n  base_topic: fl\n  client_id: fl\n\
inputs:\n  - {{name: p1, type: p1, host: 127.0.0.1, port: {port}, idle_timeout: 20s}}\n",
        broker.url()
    ));
    let fast_topic = format!("fl/{fast_id}/state");
    // The spray, and 5 s of the 1 Hz tail (the bucket is full again after 3 s), and the
    // episode's summary (up to 15 s for a bridge busy with the backlog on a loaded machine).
    sub.wait_until("the flood and its tail", T, |_| {
        let after = spray.lock().unwrap().map(|(_, end)| end.elapsed());
        after.is_some_and(|a| {
            a > Duration::from_secs(15)
                || (a > Duration::from_secs(5)
                    && bridge
                        .log_text()
                        .contains("back under the telegram rate cap"))
        })
    });
    let log = bridge.log_text();
    let (start, end) = spray.lock().unwrap().unwrap();
    let secs = (end - start).as_secs_f64();
    let sent = sent_fast.load(Ordering::SeqCst);
    let fast_states = sub.on(&fast_topic).len() as u64;
    let noise_states = sub.on("fl/p1/state").len();
    let stripped_states = sub.on(&format!("fl/{noisy_id}/state")).len();
    let dropped = field(&log, "back under the telegram rate cap", "dropped").unwrap_or(0);
    println!(
        "FAULTS p1 flood: 3 s of '/!' noise at 20 KB/s + 30 CRC-stripped DSMR 5 telegrams: states {}; then {sent} valid telegrams in {secs:.1} s: {fast_states} states, {dropped} dropped by the rate cap ({RATE_CAP_PER_SECOND}/s, burst {RATE_CAP_BURST})",
        noise_states + stripped_states,
    );
    assert_eq!(noise_states, 0, "line noise became a meter");
    assert_eq!(
        stripped_states, 0,
        "DSMR 5 telegrams without CRC were published"
    );
    assert!(
        log.contains("declares DSMR 4+ or e-MUCS (version line) but has no CRC"),
        "{log}"
    );
    assert!(sent > 500, "the peer sent only {sent} telegrams");
    // The burst, the rate over the spray (and a second of slack), and the 1 Hz tail.
    let bound = RATE_CAP_BURST as f64 + RATE_CAP_PER_SECOND as f64 * (secs + 1.0) + 8.0;
    assert!(
        (fast_states as f64) <= bound,
        "{fast_states} states from {sent} telegrams in {secs:.1} s (cap {bound})"
    );
    assert!(fast_states >= RATE_CAP_BURST as u64, "{fast_states}");
    assert!(
        log.contains("excess telegrams are dropped"),
        "no line when the episode started\n{log}"
    );
    assert!(
        dropped > 0 && dropped + fast_states >= sent,
        "dropped {dropped} + published {fast_states} < sent {sent}"
    );
    assert_eq!(
        log.matches("excess telegrams are dropped").count(),
        1,
        "logged more than once per episode"
    );
}
