//! What the history keeps on the heap per meter (issue 17: ≤ 15 KB of RSS per meter at
//! 10 000 meters, "nothing kept per meter that is not needed"): the minute in progress, the
//! writer's series of the file, and the keys seen. Real DSMR 5 telegrams with a gas meter from
//! the simulator through the real decoder, written by the real [`Store`] into a real SQLite
//! file. Bytes counted with a counting allocator on the test's own thread (SQLite's page
//! cache is measured too: it is this thread's). Bytes, not time: they do not depend on the
//! machine.

mod counting;

use counting::{allocs, live};

use meter2mqtt::history::seen::Seen;
use meter2mqtt::history::{Minute, Store};
use meter2mqtt::protocol::dsmr::{DecoderOptions, P1Decoder, P1Event};
use meter2mqtt::reading::Reading;
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use meter2mqtt::time::Timestamp;

#[global_allocator]
static A: counting::Counting = counting::Counting;

/// Houses: each a DSMR 5 electricity meter and its gas meter (two meter ids).
const HOUSES: u64 = 200;
const CLOCK: i64 = 1_705_320_000;

/// Two readings (electricity, gas) of every house, as the decoder makes them.
fn readings() -> Vec<Reading> {
    let now = Timestamp::from_unix_seconds(CLOCK);
    let mut out = Vec::new();
    for h in 0..HOUSES {
        let mut meter = DsmrMeter::new(Flavour::Dsmr5, CLOCK, h + 1);
        let mut dec = P1Decoder::new(DecoderOptions::default());
        dec.push(&meter.telegram(1));
        while let Some(ev) = dec.next_event(now) {
            if let P1Event::Telegram(t) = ev {
                out.extend(t.readings);
            }
        }
    }
    assert_eq!(out.len() as u64, 2 * HOUSES, "two readings per telegram");
    out
}

/// After two minutes written (every series exists in the file and in the writer's books) and a
/// third in progress: what the minute, the store and the seen keys hold per meter.
#[test]
fn the_history_keeps_a_bounded_few_hundred_bytes_per_quantity() {
    let dir = tempfile::tempdir().unwrap();
    let readings = readings();
    let quantities: usize = readings.iter().map(|r| r.values.len()).sum();
    let meters = readings.len() as i64;
    let before = live();
    let mut store = Store::open(&dir.path().join("history.db")).unwrap();
    let seen = Seen::default();
    let mut minute = Minute::new();
    let base = CLOCK - CLOCK.rem_euclid(60);
    for m in 0..3 {
        for r in &readings {
            seen.note(r);
            if let Some(done) = minute.add(r, base + 60 * m + 1) {
                store.write(&done).unwrap();
            }
        }
    }
    let per_meter = (live() - before) / meters;
    println!(
        "history heap per meter: {per_meter} bytes ({} quantities per meter)",
        quantities as i64 / meters
    );
    // What is needed per quantity: its accumulator in the minute, its series id and scale in
    // the writer's books, its key in the seen keys; SQLite's page cache on top (bounded by
    // its cache size). Measured in a debug build: 5 228 bytes per meter before (two strings
    // per series in the writer's books and a copy of the unit, two strings per seen key),
    // 3 137 after; 2 010 with the compact minute (see the next test); 1 411 with the seen
    // keys as the quantities themselves (16 bytes, was 48) and a series' unit as one byte in
    // the writer's books (a series 40 bytes, was 64).
    assert!(
        per_meter < 1_800,
        "the history keeps {per_meter} bytes per meter"
    );
    drop((store, seen, minute));
}

/// The minute in progress alone, once each meter's list has been through two minutes (a
/// meter's quantities are kept from one minute to the next, emptied, at their size): per
/// quantity its accumulator (all `i64`) and its quantity, per meter one shared id.
#[test]
fn the_minute_in_progress_keeps_one_compact_slot_per_quantity() {
    let readings = readings();
    let meters = readings.len() as i64;
    let before = live();
    let mut minute = Minute::new();
    let base = CLOCK - CLOCK.rem_euclid(60);
    for m in 0..3 {
        for r in &readings {
            drop(minute.add(r, base + 60 * m + 1));
        }
    }
    let per_meter = (live() - before) / meters;
    println!("minute in progress: {per_meter} bytes per meter");
    // Measured in a debug build: 1 807 bytes per meter before (a 96-byte `i128` accumulator
    // and quantity per value, in a list grown by doubling, a new list and id copy every
    // minute), 680 after.
    assert!(
        per_meter < 1_000,
        "the minute in progress keeps {per_meter} bytes per meter"
    );
    drop(minute);
}

/// Writing a minute of series the file already has: the writer's own allocations per row
/// (SQLite's are its own `malloc`s, not counted here). A minute at 10 000 houses is ≈ 210 000
/// rows, each merged into three tables, on the history's thread: 3.9-6.5 s per minute on the
/// loaded bench machine when every row formatted its three statements' text and had it looked
/// up in the statement cache (6.0 allocations per row measured then; 8 when the series key
/// was also built per row).
#[test]
fn writing_a_known_series_row_allocates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let readings = readings();
    let mut store = Store::open(&dir.path().join("history.db")).unwrap();
    let mut minute = Minute::new();
    let base = CLOCK - CLOCK.rem_euclid(60);
    let mut batches = Vec::new();
    for m in 0..3 {
        for r in &readings {
            if let Some(done) = minute.add(r, base + 60 * m + 1) {
                batches.push(done);
            }
        }
    }
    let (first, second) = (batches.remove(0), batches.remove(0));
    store.write(&first).unwrap();
    let rows = second.rows.len() as f64;
    let before = allocs();
    let written = store.write(&second).unwrap();
    let per_row = (allocs() - before) as f64 / rows;
    println!(
        "allocations per row written: {per_row:.3} ({} rows)",
        written.rows
    );
    assert_eq!(written.rows as f64, rows);
    assert!(per_row < 0.5, "{per_row:.3} allocations per row written");
}
