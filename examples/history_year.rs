//! The history's cost, measured: write cost per telegram on the live path, and the file's
//! size for one DSMR 5 meter (with its gas sub-meter) after a simulated year with the
//! default retention (minutes 30 days, hours 5 years, days forever).
//!
//! `cargo run --release --example history_year` (about a minute; prints the figures).
//!
//! Telegrams are the simulator's (`sim::dsmr`, DSMR 5) decoded by the real P1 decoder. The
//! live path is exactly the output's: `Minute::add` per telegram, one `Store::write` (one
//! transaction, merged into minute, hour and day) per minute. For the year, one telegram is
//! decoded every 10 s and counted 10 times (a telegram a second whose values hold for 10 s:
//! the same rows, counts and sums as 1/s), and each day's rows go in one transaction, with
//! retention applied every simulated day as the writer does hourly.

use std::time::Instant;

use meter2mqtt::history::minute::Minute;
use meter2mqtt::history::{Resolution, Retention, Store};
use meter2mqtt::protocol::dsmr::{DecoderOptions, P1Decoder, P1Event};
use meter2mqtt::reading::Reading;
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use meter2mqtt::time::Timestamp;

/// 2025-01-01 00:00 UTC.
const START: i64 = 1_735_689_600;
const DAY: i64 = 86_400;

fn decode(d: &mut P1Decoder, m: &mut DsmrMeter, secs: u32, t: i64) -> Vec<Reading> {
    d.push(&m.telegram(secs));
    let mut out = Vec::new();
    while let Some(ev) = d.next_event(Timestamp::from_unix_seconds(t)) {
        if let P1Event::Telegram(t) = ev {
            out.extend(t.readings);
        }
    }
    out
}

fn size(store: &Store) -> (i64, i64) {
    let c = store.connection();
    c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)").unwrap();
    let q = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    let page = q("PRAGMA page_size");
    (
        q("PRAGMA page_count") * page,
        q("PRAGMA freelist_count") * page,
    )
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let keep = Retention {
        minutes: 30 * DAY,
        hours: 1825 * DAY,
        days: None,
    };

    // 1. The live path: one day of telegrams at 1/s.
    let path = dir.path().join("live.sqlite3");
    let mut store = Store::open(&path).unwrap();
    let mut d = P1Decoder::new(DecoderOptions::default());
    let mut meter = DsmrMeter::new(Flavour::Dsmr5, START + 3600, 1);
    let telegrams: Vec<(i64, Vec<Reading>)> = (0..DAY)
        .map(|i| (START + i, decode(&mut d, &mut meter, 1, START + i)))
        .collect();
    let values: usize = telegrams[0].1.iter().map(|r| r.values.len()).sum();
    let mut minute = Minute::new();
    let (mut add_ns, mut write_ns, mut writes) = (0u128, 0u128, 0u64);
    for (t, readings) in &telegrams {
        let s = Instant::now();
        let mut done = Vec::new();
        for r in readings {
            done.extend(minute.add(r, *t));
        }
        add_ns += s.elapsed().as_nanos();
        for b in done {
            let s = Instant::now();
            store.write(&b).unwrap();
            write_ns += s.elapsed().as_nanos();
            writes += 1;
        }
    }
    let n = telegrams.len() as f64;
    let (day_bytes, _) = size(&store);
    println!(
        "live path, {} DSMR 5 telegrams (1/s, {} values, {} readings each): \
         summing up {:.2} µs/telegram, writing {:.0} µs/minute = {:.2} µs/telegram, total {:.2} µs/telegram; \
         file after 1 day: {:.2} MiB",
        telegrams.len(),
        values,
        telegrams[0].1.len(),
        add_ns as f64 / n / 1000.0,
        write_ns as f64 / writes as f64 / 1000.0,
        write_ns as f64 / n / 1000.0,
        (add_ns + write_ns) as f64 / n / 1000.0,
        day_bytes as f64 / 1048576.0
    );
    drop(store);

    // 2. A year, with retention.
    let started = Instant::now();
    let path = dir.path().join("year.sqlite3");
    let mut store = Store::open(&path).unwrap();
    let mut d = P1Decoder::new(DecoderOptions::default());
    let mut meter = DsmrMeter::new(Flavour::Dsmr5, START + 3600, 1);
    let mut acc = [
        (Minute::new(), Resolution::Minute),
        (Minute::with_step(3600), Resolution::Hour),
        (Minute::with_step(DAY), Resolution::Day),
    ];
    let mut peak = 0i64;
    for day in 0..365 {
        let mut out: [Vec<_>; 3] = Default::default();
        for i in 0..DAY / 10 {
            let t = START + day * DAY + i * 10;
            for r in decode(&mut d, &mut meter, 10, t) {
                for k in 0..10 {
                    for (j, (m, _)) in acc.iter_mut().enumerate() {
                        out[j].extend(m.add(&r, t + k));
                    }
                }
            }
        }
        for (j, (_, res)) in acc.iter().enumerate() {
            store.write_to(&out[j], &[*res]).unwrap();
        }
        store.retain(START + (day + 1) * DAY, keep).unwrap();
        if day % 30 == 29 {
            let (bytes, free) = size(&store);
            peak = peak.max(bytes);
            println!(
                "day {:3}: file {:.2} MiB ({:.2} MiB free pages)",
                day + 1,
                bytes as f64 / 1048576.0,
                free as f64 / 1048576.0
            );
        }
    }
    let (bytes, free) = size(&store);
    let rows = |t: &str| -> i64 {
        store
            .connection()
            .query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))
            .unwrap()
    };
    println!(
        "after a simulated year: file {:.2} MiB ({:.2} MiB free pages), rows: {} minute, {} hour, {} day, {} series ({:.0} s)",
        bytes as f64 / 1048576.0,
        free as f64 / 1048576.0,
        rows("minute"),
        rows("hour"),
        rows("day"),
        rows("series"),
        started.elapsed().as_secs_f64()
    );
    // Bytes per table (dbstat), so that the growth of a further year is known: the minute
    // table stays at 30 days, hours and days grow.
    let mut stmt = store
        .connection()
        .prepare("SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")
        .unwrap();
    let tables: Vec<(String, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for (name, bytes) in tables {
        println!("  {name}: {:.2} MiB", bytes as f64 / 1048576.0);
    }
    println!(
        "peak file size during the year: {:.2} MiB",
        peak as f64 / 1048576.0
    );
}
