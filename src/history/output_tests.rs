//! The history output and its writer thread: through the real rules, and a stuck store.

use super::minute::Minute;
use super::store::{Retention, Store};
use crate::decimal::Decimal;
use crate::reading::{q, MeterInfo, MeterKind, Reading};
use crate::time::Timestamp;

/// 2024-01-15 12:00:00 UTC, a minute boundary.
const T0: i64 = 1_705_320_000;

fn reading(meter: &str, power: &str, energy: &str) -> Reading {
    let mut r = Reading::new(
        MeterInfo::new(meter, MeterKind::Electricity),
        Timestamp::from_unix_seconds(T0),
    );
    r.push_number(q::POWER_IMPORT, Decimal::parse(power).unwrap());
    r.push_number(q::ENERGY_IMPORT_T1, Decimal::parse(energy).unwrap());
    r
}

/// The output on the seam: readings through the real rules, then `history::run`, then the
/// file. A counter drop the guard holds back (an all-zero register, a meter glitch) never
/// reaches the history; the rest of that telegram does.
#[tokio::test]
async fn the_history_stores_what_the_guard_lets_through() {
    use crate::event::output::Inbox;
    use crate::event::{InputEvent, Rules, RulesSettings};
    use std::time::{Duration, Instant};
    use tokio::sync::{mpsc, oneshot, watch};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite3");
    let settings = super::HistorySettings {
        path: path.clone(),
        keep: Retention {
            minutes: 30 * 86_400,
            hours: 1825 * 86_400,
            days: None,
        },
    };
    let reader = super::HistoryReader::new(Some(path.clone()), super::Health::Starting);
    let (tx, events) = mpsc::channel(64);
    let (ready, _hints) = oneshot::channel();
    let (_stop, stopping) = watch::channel(false);
    let task = tokio::spawn(super::run(
        settings,
        reader.clone(),
        Inbox {
            events,
            ready,
            stopping,
        },
    ));
    let mut rules = Rules::new(RulesSettings {
        offline_after_intervals: 3,
    });
    let start = Instant::now();
    for (i, energy) in ["100.000", "100.001", "0.000"].iter().enumerate() {
        let mut r = reading("E1", "500", energy);
        r.time = Timestamp::from_unix_seconds(T0 + 10 * i as i64);
        let mut out = Vec::new();
        let input = InputEvent::Readings {
            input: "p1".into(),
            readings: vec![r],
            interval: Duration::from_secs(10),
            raw: None,
        };
        rules.on_input(start + Duration::from_secs(10 * i as u64), input, &mut out);
        for ev in out {
            tx.send(ev).await.unwrap();
        }
    }
    drop(tx);
    task.await.unwrap();
    assert_eq!(reader.health(), super::Health::Ready);
    let store = Store::open(&path).unwrap();
    let last: (i64, i64) = store
        .connection()
        .query_row(
            "SELECT m.last, s.scale FROM minute m JOIN series s ON s.id = m.series
             WHERE s.key = 'energy_import_t1' ORDER BY m.t DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(last, (100_001, 3), "the held-back 0.000 is not stored");
    let n: i64 = store
        .connection()
        .query_row(
            "SELECT sum(m.n) FROM minute m JOIN series s ON s.id = m.series
             WHERE s.key = 'power_import'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 3, "the power of every telegram is");
}

/// A store that is stuck (here: another connection holds the write lock) never makes the
/// output wait: minutes beyond the bounded queue are refused at once (the output drops
/// them with a log line), and the queued ones are written once the store moves again.
#[test]
fn a_stuck_store_drops_minutes_instead_of_waiting() {
    use super::writer::{Sent, Writer, QUEUE};
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite3");
    let reader = super::HistoryReader::new(Some(path.clone()), super::Health::Starting);
    let keep = Retention {
        minutes: 30 * 86_400,
        hours: 1825 * 86_400,
        days: None,
    };
    let w = Writer::start(path.clone(), keep, reader.shared.clone());
    let deadline = Instant::now() + Duration::from_secs(10);
    while reader.health() != super::Health::Ready {
        assert!(Instant::now() < deadline, "{:?}", reader.health());
        std::thread::sleep(Duration::from_millis(10));
    }
    let lock = rusqlite::Connection::open(&path).unwrap();
    lock.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let total = QUEUE + 10;
    let started = Instant::now();
    let mut full = 0;
    for i in 0..total as i64 {
        let mut m = Minute::new();
        m.add(&reading("E1", "1", "1.000"), T0 + 60 * i);
        match w.send(m.take().unwrap()) {
            Sent::Queued => {}
            Sent::Full => full += 1,
            Sent::Gone => panic!("the writer is gone"),
        }
    }
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert!(full >= 9, "{full} of {total} refused");
    std::thread::sleep(Duration::from_millis(200));
    drop(lock);
    w.finish();
    let store = Store::open(&path).unwrap();
    let rows: i64 = store
        .connection()
        .query_row("SELECT count(DISTINCT t) FROM minute", [], |r| r.get(0))
        .unwrap();
    let rows = rows as usize;
    // Every queued minute is written (the one the thread held when the lock came may have
    // failed after the busy timeout: logged, a gap).
    assert!(
        rows + full == total || rows + full + 1 == total,
        "{rows} + {full} of {total}"
    );
    assert_eq!(reader.health(), super::Health::Ready);
}
