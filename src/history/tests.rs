//! The history's pure parts and its SQLite file, with the clock passed in.

use super::minute::{mean, scaled, Minute};
use super::query::{self, parse_time, Query, QueryError};
use super::store::{Resolution, Retention, Store};
use crate::decimal::Decimal;
use crate::reading::{q, MeterInfo, MeterKind, Reading};
use crate::time::Timestamp;

/// 2024-01-15 12:00:00 UTC, a minute boundary.
const T0: i64 = 1_705_320_000;

fn d(s: &str) -> Decimal {
    Decimal::parse(s).unwrap()
}

fn reading(meter: &str, power: &str, energy: &str) -> Reading {
    let mut r = Reading::new(
        MeterInfo::new(meter, MeterKind::Electricity),
        Timestamp::from_unix_seconds(T0),
    );
    r.push_number(q::POWER_IMPORT, d(power));
    r.push_number(q::ENERGY_IMPORT_T1, d(energy));
    r
}

fn ask(conn: &rusqlite::Connection, meter: &str, params: &[(&str, &str)]) -> serde_json::Value {
    let q = Query::parse(params.iter().copied(), (T0 + 86_400) * 1000).unwrap();
    query::run(conn, meter, &q).unwrap()
}

#[test]
fn scaled_integers_keep_every_digit() {
    assert_eq!(scaled(d("63.44")), Some((6344, 2)));
    assert_eq!(scaled(d("1193")), Some((1193, 0)));
    assert_eq!(scaled(Decimal::new(12, 3)), Some((12_000, 0)));
    assert_eq!(scaled(Decimal::new(1, -13)), None);
    assert_eq!(scaled(Decimal::new(1, 40)), None);
    // The mean gets one decimal more than the meter sends, rounded half away from zero.
    assert_eq!(mean(3, 2, 0), Some(d("1.5")));
    assert_eq!(mean(2, 3, 0), Some(d("0.7")));
    assert_eq!(mean(-5, 3, 1), Some(d("-0.17")));
    assert_eq!(
        mean(12_345_678, 1, 3).map(|m| m.to_string()),
        Some("12345.6780".into())
    );
    assert_eq!(mean(1, 0, 0), None);
}

#[test]
fn a_minute_sums_measurements_and_keeps_the_last_counter() {
    let mut m = Minute::new();
    assert!(m.add(&reading("E1", "100", "10.001"), T0 + 1).is_none());
    assert!(m.add(&reading("E1", "301", "10.002"), T0 + 30).is_none());
    assert!(m.add(&reading("E1", "200", "10.003"), T0 + 59).is_none());
    // The first reading of the next minute finishes this one.
    let done = m.add(&reading("E1", "5", "10.004"), T0 + 60).unwrap();
    assert_eq!((done.start, done.readings), (T0, 3));
    let p = done
        .rows
        .iter()
        .find(|r| r.quantity.key == "power_import")
        .unwrap();
    assert_eq!(
        (p.acc.n, p.acc.sum, p.acc.min, p.acc.max),
        (3, 601, 100, 301)
    );
    let e = done
        .rows
        .iter()
        .find(|r| r.quantity.key == "energy_import_t1")
        .unwrap();
    assert_eq!((e.acc.last, e.acc.scale), (10_003, 3));
    // Nothing ends before its minute is over; then the timer takes it.
    assert!(m.take_ended(T0 + 119).is_none());
    assert_eq!(m.take_ended(T0 + 120).map(|b| b.start), Some(T0 + 60));
}

/// The slot after the last one found is tried first (a meter's usual order); a reading in
/// another order, or with a quantity missing or added, still sums each value into its own
/// quantity.
#[test]
fn values_in_another_order_go_to_their_own_quantity() {
    let mut m = Minute::new();
    m.add(&reading("E1", "100", "10.001"), T0 + 1);
    let mut swapped = Reading::new(
        MeterInfo::new("E1", MeterKind::Electricity),
        Timestamp::from_unix_seconds(T0),
    );
    swapped.push_number(q::ENERGY_IMPORT_T1, d("10.002"));
    swapped.push_number(q::GAS, d("5.5"));
    swapped.push_number(q::POWER_IMPORT, d("300"));
    m.add(&swapped, T0 + 2);
    let mut energy_only = Reading::new(
        MeterInfo::new("E1", MeterKind::Electricity),
        Timestamp::from_unix_seconds(T0),
    );
    energy_only.push_number(q::ENERGY_IMPORT_T1, d("10.003"));
    m.add(&energy_only, T0 + 3);
    let done = m.take().unwrap();
    let row = |k: &str| {
        let r = done.rows.iter().find(|r| r.quantity.key == k).unwrap();
        (r.acc.n, r.acc.sum, r.acc.last)
    };
    assert_eq!(done.rows.len(), 3);
    assert_eq!(row("power_import"), (2, 400, 300));
    assert_eq!(row("energy_import_t1"), (3, 30_006, 10_003));
    assert_eq!(row("gas"), (1, 55, 55));
}

/// A meter's slots are kept from one minute to the next (issue 17): a minute's rows hold only
/// what came in that minute, never a kept slot's old values; a quantity or a meter silent for
/// a whole minute is forgotten; a sum beyond `i64` skips the value, not the row.
#[test]
fn kept_slots_carry_nothing_into_the_next_minute() {
    let mut m = Minute::new();
    m.add(&reading("E1", "100", "10.001"), T0 + 1);
    m.add(&reading("E2", "7", "1"), T0 + 2);
    let mut only_power = reading("E1", "50", "0");
    only_power
        .values
        .retain(|v| v.quantity.key == "power_import");
    let first = m.add(&only_power, T0 + 61).unwrap();
    assert_eq!(first.rows.len(), 4);
    let second = m.add(&reading("E1", "1", "10.005"), T0 + 121).unwrap();
    // E2 sent nothing in this minute, E1 no energy: one row, this minute's power only.
    assert_eq!(second.rows.len(), 1, "{:?}", second.rows);
    let p = &second.rows[0];
    assert_eq!((&*p.meter, p.acc.n, p.acc.sum), ("E1", 1, 50));
    let third = m.take().unwrap();
    let e = third
        .rows
        .iter()
        .find(|r| r.quantity.key == "energy_import_t1")
        .unwrap();
    assert_eq!((e.acc.n, e.acc.last, e.acc.scale), (1, 10_005, 3));
    // A sum that would leave `i64`: that value is skipped, the others stay exact.
    let mut big = |t| {
        let mut r = reading("E3", "0", "1");
        r.values.retain(|v| v.quantity.key != "power_import");
        r.push_number(q::POWER_IMPORT, Decimal::new(9, 18));
        m.add(&r, t)
    };
    big(T0 + 181);
    big(T0 + 182);
    m.add(&reading("E3", "-1", "1"), T0 + 183);
    assert_eq!(m.skipped, 1);
    let rows = m.take().unwrap().rows;
    let p = rows
        .iter()
        .find(|r| r.quantity.key == "power_import")
        .unwrap();
    assert_eq!(
        (p.acc.n, p.acc.sum, p.acc.min),
        (2, 8_999_999_999_999_999_999, -1)
    );
}

/// The books keep a series' unit as one byte: a series read back from the file takes new
/// rows in the unit it was stored with, and refuses them (counted, not written) when its
/// unit is another, one this bridge does not know included.
#[test]
fn a_series_read_back_keeps_its_unit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite3");
    let mut m = Minute::new();
    m.add(&reading("E1", "100", "10.001"), T0 + 1);
    Store::open(&path)
        .unwrap()
        .write(&m.take().unwrap())
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute(
        "UPDATE series SET unit = 'furlong' WHERE key = 'power_import'",
        [],
    )
    .unwrap();
    drop(conn);
    let mut store = Store::open(&path).unwrap();
    m.add(&reading("E1", "200", "10.002"), T0 + 61);
    let w = store.write(&m.take().unwrap()).unwrap();
    assert_eq!((w.rows, w.skipped), (1, 1), "the energy row only");
}

#[test]
fn rows_round_trip_exactly_with_rollups_and_deltas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite3");
    let mut store = Store::open(&path).unwrap();
    let mut m = Minute::new();
    let mut batches = Vec::new();
    // Two hours, one reading every 20 s: power rises by 1 W a reading, energy by 0.001 kWh.
    for i in 0..360i64 {
        let r = reading("E1", &(1000 + i).to_string(), &format!("100.{:03}", i));
        batches.extend(m.add(&r, T0 + i * 20));
    }
    batches.extend(m.take());
    assert_eq!(batches.len(), 120);
    for b in &batches {
        store.write(b).unwrap();
    }
    let conn = store.connection();
    let v = ask(
        conn,
        "E1",
        &[
            ("key", "power_import"),
            ("from", &(T0 * 1000).to_string()),
            ("to", &((T0 + 7200) * 1000).to_string()),
        ],
    );
    assert_eq!(v["unit"], "W");
    assert_eq!(v["counter"], false);
    let pts = v["points"].as_array().unwrap();
    assert_eq!(pts.len(), 120);
    assert_eq!(
        pts[0].to_string(),
        format!(
            r#"{{"t":{},"min":1000,"mean":1001.0,"max":1002}}"#,
            T0 * 1000
        )
    );
    // The hour is the exact mean of its 180 readings (not a mean of means).
    let v = ask(
        conn,
        "E1",
        &[
            ("key", "power_import"),
            ("resolution", "hour"),
            ("from", "2024-01-15T12:00:00Z"),
            ("to", "2024-01-15T14:00:00Z"),
        ],
    );
    let pts = v["points"].as_array().unwrap();
    assert_eq!(pts.len(), 2);
    assert_eq!(pts[0]["min"].to_string(), "1000");
    assert_eq!(pts[0]["mean"].to_string(), "1089.5");
    assert_eq!(pts[1]["max"].to_string(), "1359");
    // Counters: the last value of each step and the consumption in it; the first step's
    // delta is unknown (nothing before it), the next is last - previous last.
    let v = ask(
        conn,
        "E1",
        &[
            ("key", "energy_import_t1"),
            ("resolution", "hour"),
            ("from", "2024-01-15T13:00:00+01:00"),
        ],
    );
    assert_eq!(v["counter"], true);
    assert_eq!(v["unit"], "kWh");
    let pts = v["points"].as_array().unwrap();
    assert_eq!(
        pts[0].to_string(),
        format!(r#"{{"t":{},"last":100.179,"delta":null}}"#, T0 * 1000)
    );
    assert_eq!(
        pts[1].to_string(),
        format!(
            r#"{{"t":{},"last":100.359,"delta":0.180}}"#,
            (T0 + 3600) * 1000
        )
    );
    // From the second hour on, the value before the range gives the first delta.
    let v = ask(
        conn,
        "E1",
        &[
            ("key", "energy_import_t1"),
            ("resolution", "minute"),
            ("from", &((T0 + 3600) * 1000).to_string()),
            ("to", &((T0 + 3660) * 1000).to_string()),
        ],
    );
    assert_eq!(v["points"][0]["delta"].to_string(), "0.003");
    // The day row holds both hours.
    let v = ask(
        conn,
        "E1",
        &[("key", "energy_import_t1"), ("resolution", "day")],
    );
    assert_eq!(v["points"].as_array().unwrap().len(), 1);
    assert_eq!(v["points"][0]["last"].to_string(), "100.359");
}

#[test]
fn a_minute_written_twice_merges() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite3");
    let mut m = Minute::new();
    m.add(&reading("E1", "100", "1.000"), T0 + 1);
    let first = m.take().unwrap();
    m.add(&reading("E1", "300", "1.001"), T0 + 40);
    let second = m.take().unwrap();
    // Two runs of the bridge within one minute: the second merges into the first's row.
    Store::open(&path).unwrap().write(&first).unwrap();
    let mut store = Store::open(&path).unwrap();
    store.write(&second).unwrap();
    let v = ask(
        store.connection(),
        "E1",
        &[("key", "power_import"), ("from", &(T0 * 1000).to_string())],
    );
    assert_eq!(v["points"][0]["mean"].to_string(), "200.0");
    assert_eq!(v["points"][0]["min"].to_string(), "100");
    assert_eq!(v["points"][0]["max"].to_string(), "300");
}

#[test]
fn more_decimals_later_rescale_the_stored_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("h.sqlite3")).unwrap();
    let mut m = Minute::new();
    m.add(&reading("E1", "100", "5.5"), T0);
    store.write(&m.take().unwrap()).unwrap();
    m.add(&reading("E1", "100.25", "5.625"), T0 + 60);
    store.write(&m.take().unwrap()).unwrap();
    let v = ask(
        store.connection(),
        "E1",
        &[
            ("key", "energy_import_t1"),
            ("from", &(T0 * 1000).to_string()),
        ],
    );
    assert_eq!(v["points"][0]["last"].to_string(), "5.500");
    assert_eq!(v["points"][1]["delta"].to_string(), "0.125");
    let v = ask(
        store.connection(),
        "E1",
        &[
            ("key", "power_import"),
            ("resolution", "hour"),
            ("from", &(T0 * 1000).to_string()),
        ],
    );
    assert_eq!(v["points"][0]["mean"].to_string(), "100.125");
}

#[test]
fn retention_deletes_old_minutes_by_the_clock_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("h.sqlite3")).unwrap();
    let day = 86_400;
    let mut m = Minute::new();
    // One minute a day for 40 days.
    for i in 0..40 {
        m.add(&reading("E1", "100", &format!("{i}.000")), T0 + i * day);
        store.write(&m.take().unwrap()).unwrap();
    }
    let count = |store: &Store, table: &str| -> i64 {
        store
            .connection()
            .query_row(&format!("SELECT count(DISTINCT t) FROM {table}"), [], |r| {
                r.get(0)
            })
            .unwrap()
    };
    assert_eq!(
        (
            count(&store, "minute"),
            count(&store, "hour"),
            count(&store, "day")
        ),
        (40, 40, 40)
    );
    let keep = Retention {
        minutes: 30 * day,
        hours: 35 * day,
        days: None,
    };
    // "Now" is the last minute's day: minutes of the 30 days before stay (31 rows: the
    // boundary day's step is not yet wholly older), hours of 35 days, days forever.
    let now = T0 + 39 * day;
    let deleted = store.retain(now, keep).unwrap();
    assert_eq!(count(&store, "minute"), 31);
    assert_eq!(count(&store, "hour"), 36);
    assert_eq!(count(&store, "day"), 40);
    // Two series (power, energy): each lost as many rows.
    assert_eq!(deleted, 2 * (9 + 4));
    // Nothing else goes when nothing is older; days go once they have a limit.
    assert_eq!(store.retain(now, keep).unwrap(), 0);
    store
        .retain(
            now,
            Retention {
                days: Some(10 * day),
                ..keep
            },
        )
        .unwrap();
    assert_eq!(count(&store, "day"), 11);
    // The minutes left are the newest ones.
    let oldest: i64 = store
        .connection()
        .query_row("SELECT min(t) FROM minute", [], |r| r.get(0))
        .unwrap();
    assert_eq!(oldest, T0 + 9 * day);
}

#[test]
fn bad_parameters_are_refused_with_a_reason() {
    let now = T0 * 1000;
    let refused = |p: &[(&str, &str)]| match Query::parse(p.iter().copied(), now) {
        Err(QueryError::BadRequest(m)) => m,
        other => panic!("{p:?}: {other:?}"),
    };
    assert!(refused(&[]).contains("`key` is required"));
    assert!(refused(&[("key", "gas"), ("resolution", "week")]).contains("minute, hour or day"));
    assert!(refused(&[("key", "gas"), ("from", "yesterday")]).contains("RFC 3339"));
    assert!(refused(&[("key", "gas"), ("from", "10"), ("to", "5")]).contains("before"));
    assert!(refused(&[("key", "gas"), ("key", "gas")]).contains("twice"));
    assert!(refused(&[("key", "gas"), ("colour", "red")]).contains("unknown parameter"));
    assert!(refused(&[("key", "gas"), ("from", "0")]).contains("at most 10000"));
    // 10 000 minutes is allowed, 10 001 not.
    let from = (now - 10_000 * 60_000).to_string();
    assert!(Query::parse([("key", "gas"), ("from", from.as_str())], now).is_ok());
    let from = (now - 10_001 * 60_000).to_string();
    assert!(refused(&[("key", "gas"), ("from", &from)]).contains("10001 minute steps"));
    // Defaults: the last hour of minutes, 48 h of hours, 30 days of days.
    let q = Query::parse([("key", "gas"), ("resolution", "hour")], now).unwrap();
    assert_eq!(
        (q.from_ms, q.to_ms, q.resolution),
        (now - 48 * 3_600_000, now, Resolution::Hour)
    );
    assert!(Query::parse([("key", "gas"), ("token", "x")], now).is_ok());
}

#[test]
fn times_are_unix_ms_or_rfc3339() {
    let ok = |s: &str| parse_time("from", s).unwrap();
    assert_eq!(ok("1705320000000"), T0 * 1000);
    assert_eq!(ok("2024-01-15T12:00:00Z"), T0 * 1000);
    assert_eq!(ok("2024-01-15t13:00:00.250+01:00"), T0 * 1000 + 250);
    assert_eq!(ok("2024-01-15 13:00:00 01:00"), T0 * 1000);
    assert_eq!(ok("2024-01-15T11:30:00.1-00:30"), T0 * 1000 + 100);
    for bad in [
        "2024-02-30T00:00:00Z",
        "2024-01-15T12:00:00",
        "2024-01-15T25:00:00Z",
        "-5",
        "2024-01-15T12:00:00.Z",
        "2024-01-15T12:00:00+0100",
        "99999999999999999999",
    ] {
        assert!(parse_time("from", bad).is_err(), "{bad}");
    }
}

#[test]
fn unknown_meters_and_keys_are_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("h.sqlite3")).unwrap();
    let mut m = Minute::new();
    m.add(&reading("E1", "1", "1.000"), T0);
    store.write(&m.take().unwrap()).unwrap();
    let q = |key: &str| Query::parse([("key", key)], T0 * 1000 + 1).unwrap();
    let run = |meter: &str, key: &str| query::run(store.connection(), meter, &q(key));
    assert!(
        matches!(run("E2", "gas"), Err(QueryError::NotFound(m)) if m.contains("no history for meter `E2`"))
    );
    assert!(
        matches!(run("E1", "gas"), Err(QueryError::NotFound(m)) if m.contains("no history for key `gas`"))
    );
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.sqlite3");
    std::fs::write(&path, vec![0x5a; 8192]).unwrap();
    let err = Store::open(&path).err().unwrap().to_string();
    assert!(
        err.contains("h.sqlite3") && err.contains("not a database"),
        "{err}"
    );
}
