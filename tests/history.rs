//! The embedded history end to end: the real binary, a real Mosquitto, a simulated DSMR 5
//! meter on a real pty, the real SQLite file (read here with rusqlite) and the real HTTP
//! server (`GET /api/meters/{id}/history` over a TCP socket).

mod harness;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use harness::{http_get as get, json, Bridge, Broker, Subscriber};
use meter2mqtt::decimal::Decimal;
use meter2mqtt::history::{Minute, Store};
use meter2mqtt::reading::{q, MeterInfo, MeterKind, Reading};
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use meter2mqtt::sim::serve::{dsmr_on_pty, SimStats};
use meter2mqtt::time::Timestamp;
use serde_json::Value;

const T: Duration = Duration::from_secs(20);
/// The simulated DSMR 5 meter (seed 1) and its gas sub-meter.
const E: &str = "E0043007052870319";
const G: &str = "G0012345678901235";

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64() as i64
}

fn config(broker: &Broker, device: &Path, extra: &str) -> String {
    format!(
        "mqtt:\n  url: {}\n  base_topic: hist\n  client_id: hist\n{extra}inputs:\n  - name: p1\n    type: p1\n    device: {}\n",
        broker.url(),
        device.display()
    )
}

/// A simulated DSMR 5 meter on a pty, linked at `link`; stops when dropped.
struct Meter(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);

impl Meter {
    fn start(link: &Path, every: Duration) -> Meter {
        let stop = Arc::new(AtomicBool::new(false));
        let meter = DsmrMeter::new(Flavour::Dsmr5, 1_705_320_000, 1);
        let (path, h) =
            dsmr_on_pty(meter, every, Arc::new(SimStats::default()), stop.clone()).expect("pty");
        std::os::unix::fs::symlink(path, link).expect("symlink");
        Meter(stop, Some(h))
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
        if let Some(h) = self.1.take() {
            let _ = h.join();
        }
    }
}

/// One stored minute: `(t, n, min, max, last)` as text at the series' decimals.
type Row = (
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn rows(db: &Path, meter: &str, key: &str) -> Vec<Row> {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return Vec::new();
    };
    let text = |v: Option<i64>, scale: u8| v.map(|v| Decimal::new(v, -(scale as i8)).to_string());
    let Ok(mut stmt) = conn.prepare(
        "SELECT m.t, m.n, m.min, m.max, m.last, s.scale FROM minute m JOIN series s ON s.id = m.series
         WHERE s.meter = ?1 AND s.key = ?2 ORDER BY m.t",
    ) else {
        return Vec::new();
    };
    stmt.query_map([meter, key], |r| {
        let scale: u8 = r.get(5)?;
        Ok((
            r.get(0)?,
            r.get(1)?,
            text(r.get(2)?, scale),
            text(r.get(3)?, scale),
            text(r.get(4)?, scale),
        ))
    })
    .map(|it| it.filter_map(Result::ok).collect())
    .unwrap_or_default()
}

fn wait_rows(db: &Path, meter: &str, key: &str, n: usize, timeout: Duration) -> Vec<Row> {
    let deadline = Instant::now() + timeout;
    loop {
        let r = rows(db, meter, key);
        if r.len() >= n {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{n} minute rows of {meter}/{key} not written: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The web server's address, from its `http listening addr=...` log line.
fn http_addr(bridge: &Bridge) -> String {
    bridge.wait_log("http listening", T);
    let log = bridge.log_text();
    let line = log.lines().find(|l| l.contains("http listening")).unwrap();
    let addr = line.split("addr=").nth(1).unwrap();
    addr.split_whitespace().next().unwrap().to_string()
}

/// Every exact value of `key` MQTT published in the states of `topic`.
fn published(sub: &Subscriber, topic: &str, key: &str) -> HashSet<String> {
    sub.on(topic)
        .iter()
        .filter_map(|m| json(m).get(key).map(Value::to_string))
        .collect()
}

/// Rows appear every minute for a P1 feed, exactly the values MQTT published; a `kill -9`
/// loses only the minute in progress; a restarted bridge keeps the rows and adds its own.
#[test]
fn p1_minutes_are_written_and_survive_kill9_and_a_restart() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("p1");
    let _meter = Meter::start(&link, Duration::from_millis(250));
    let topic = format!("hist/{E}/state");
    let sub = Subscriber::connect(broker.port, "hist-sub", &["hist/+/state"]);
    let yaml = config(&broker, &link, "");
    let mut bridge = Bridge::start(&yaml);
    let db = bridge.history_path();
    let data_dir: PathBuf = db.parent().unwrap().to_path_buf();

    // The second row is the first whole minute (the first began when the bridge did).
    let r = wait_rows(&db, E, "power_import", 2, Duration::from_secs(150));
    let (t, n, min, max, _) = r[1].clone();
    assert_eq!(t % 60, 0, "UTC minutes");
    let n = n.unwrap();
    assert!(
        (150..=300).contains(&n),
        "a reading every 250 ms: {n} in a minute"
    );
    let power = published(&sub, &topic, "power_import");
    assert!(
        power.contains(&min.clone().unwrap()) && power.contains(&max.clone().unwrap()),
        "{min:?} {max:?} not in {power:?}"
    );
    // A counter's minute is its last value, digit for digit as MQTT had it.
    let e = wait_rows(&db, E, "energy_import_t1", 2, T);
    let last = e[1].4.clone().unwrap();
    assert!(
        published(&sub, &topic, "energy_import_t1").contains(&last),
        "{last}"
    );
    assert!(
        last.contains('.') && last.split('.').nth(1).unwrap().len() == 3,
        "kWh with 3 decimals: {last}"
    );
    // The gas sub-meter is a meter of its own in the history too.
    assert!(!wait_rows(&db, G, "gas", 1, T).is_empty());

    // kill -9 1.5 s into a minute: every minute before it is there, with no gap.
    let next = (now_secs() / 60 + 1) * 60;
    let wait = next as f64 + 1.5
        - SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
    std::thread::sleep(Duration::from_secs_f64(wait.max(0.0)));
    bridge.kill9();
    let before = rows(&db, E, "power_import");
    let ts: Vec<i64> = before.iter().map(|r| r.0).collect();
    assert_eq!(
        ts.last(),
        Some(&(next - 60)),
        "the minute that ended before the kill: {ts:?}"
    );
    assert!(
        ts.windows(2).all(|w| w[1] == w[0] + 60),
        "no minute missing: {ts:?}"
    );
    assert!(
        !ts.contains(&next),
        "the minute in progress was not committed: {ts:?}"
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(conn);

    // Restart on the same file; a clean stop writes the minute in progress too.
    let dir_env = data_dir.display().to_string();
    let mut again = Bridge::start_with_env(&yaml, &[("METER2MQTT_DATA_DIR", &dir_env)]);
    again.wait_log("history: writing per-minute rows", T);
    let seen = sub.on(&topic).len();
    sub.wait_until("states after the restart", T, |m| {
        m.iter().filter(|x| x.topic == topic).count() >= seen + 4
    });
    assert_eq!(again.terminate(), Some(0));
    let after = rows(&db, E, "power_import");
    assert!(after.len() > before.len(), "{before:?} -> {after:?}");
    assert_eq!(
        &after[..before.len()],
        &before[..],
        "the old rows are untouched"
    );
    assert!(after.last().unwrap().0 >= next);
}

/// A file that is not a database: one clear error, MQTT goes on, the endpoint says why.
/// Likewise a data directory that cannot be created.
#[test]
fn a_corrupt_or_unwritable_database_is_one_error_and_mqtt_goes_on() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("p1");
    let _meter = Meter::start(&link, Duration::from_millis(200));
    let not_a_dir = dir.path().join("plain-file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    // Garbage where the history file goes, before the bridge starts.
    let garbage = tempfile::tempdir().unwrap();
    std::fs::write(
        garbage.path().join("history.sqlite3"),
        vec![0xA5u8; 16 * 1024],
    )
    .unwrap();
    let cases = [
        ("garbage", garbage.path().to_path_buf(), "not a database"),
        (
            "unwritable",
            not_a_dir.join("sub"),
            "cannot create the data directory",
        ),
    ];
    for (i, (what, data_dir, reason)) in cases.into_iter().enumerate() {
        let topic = format!("hist{i}/{E}/state");
        let sub = Subscriber::connect(broker.port, &format!("hist-bad-{i}"), &[topic.as_str()]);
        let yaml = config(&broker, &link, "").replace(
            "hist\n  client_id: hist",
            &format!("hist{i}\n  client_id: hist{i}"),
        );
        let shown = data_dir.display().to_string();
        let mut bridge = Bridge::start_with_env(&yaml, &[("METER2MQTT_DATA_DIR", shown.as_str())]);
        sub.wait_until("states despite the history", T, |m| m.len() >= 5);
        bridge.wait_log("cannot open the history database", T);
        let addr = http_addr(&bridge);
        let (status, body) = get(&addr, &format!("/api/meters/{E}/history?key=power_import"));
        assert_eq!(status, 503, "{what}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(
            v["error"].as_str().unwrap().contains(reason),
            "{what}: {body}"
        );
        let n = sub.all().len();
        sub.wait_until("more states", T, |m| m.len() >= n + 5);
        assert_eq!(
            bridge.log_lines_with("cannot open the history database"),
            1,
            "{what}: one error line"
        );
        assert!(bridge.alive(), "{what}");
    }
}

/// 2024-01-15 12:00:00 UTC.
const T0: i64 = 1_705_320_000;

fn reading(power: &str, energy: &str) -> Reading {
    let mut r = Reading::new(
        MeterInfo::new("E1", MeterKind::Electricity),
        Timestamp::from_unix_seconds(T0),
    );
    r.push_number(q::POWER_IMPORT, Decimal::parse(power).unwrap());
    r.push_number(q::ENERGY_IMPORT_T1, Decimal::parse(energy).unwrap());
    r
}

/// The endpoint through the bridge's real HTTP server (with a token), on a file with two
/// known minutes: measurements give min/mean/max, counters last and delta, bad parameters
/// a 400 with the reason.
#[test]
fn the_endpoint_answers_from_the_file() {
    let broker = Broker::start();
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("history.sqlite3");
    let mut store = Store::open(&db).unwrap();
    let mut m = Minute::new();
    for (i, (p, e)) in [
        ("1000", "5.000"),
        ("1001", "5.001"),
        ("3000", "5.010"),
        ("3001", "5.012"),
    ]
    .iter()
    .enumerate()
    {
        if let Some(b) = m.add(&reading(p, e), T0 + 30 * i as i64) {
            store.write(&b).unwrap();
        }
    }
    store.write(&m.take().unwrap()).unwrap();
    drop(store);
    let dir = tempfile::tempdir().unwrap();
    let d = data.path().display().to_string();
    let yaml = config(
        &broker,
        &dir.path().join("absent"),
        // The minutes are of 2024: kept (retention runs at start, default 30 days).
        "http:\n  auth_token: s3cret-history-token\nhistory:\n  keep_minutes: 3650d\n",
    );
    let bridge = Bridge::start_with_env(&yaml, &[("METER2MQTT_DATA_DIR", d.as_str())]);
    let addr = http_addr(&bridge);
    bridge.wait_log("history: writing per-minute rows", T);
    let range = format!("from={}&to={}", T0 * 1000, (T0 + 120) * 1000);

    let (status, body) = get(
        &addr,
        &format!("/api/meters/E1/history?key=power_import&{range}"),
    );
    assert_eq!(status, 401, "{body}");
    let (status, body) = get(
        &addr,
        &format!("/api/meters/E1/history?key=power_import&{range}&token=s3cret-history-token"),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        format!(
            r#"{{"meter":"E1","key":"power_import","unit":"W","resolution":"minute","counter":false,"points":[{{"t":{},"min":1000,"mean":1000.5,"max":1001}},{{"t":{},"min":3000,"mean":3000.5,"max":3001}}]}}"#,
            T0 * 1000,
            (T0 + 60) * 1000
        )
    );
    let (status, body) = get(
        &addr,
        &format!("/api/meters/E1/history?key=energy_import_t1&{range}&token=s3cret-history-token"),
    );
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["counter"], true);
    assert_eq!(v["unit"], "kWh");
    assert_eq!(
        v["points"][0].to_string(),
        format!(r#"{{"t":{},"last":5.001,"delta":null}}"#, T0 * 1000)
    );
    assert_eq!(
        v["points"][1].to_string(),
        format!(r#"{{"t":{},"last":5.012,"delta":0.011}}"#, (T0 + 60) * 1000)
    );
    // The hour holds both minutes; RFC 3339 times work as well as Unix ms.
    let (status, body) = get(&addr, "/api/meters/E1/history?key=power_import&resolution=hour&from=2024-01-15T12:00:00Z&to=2024-01-15T13:00:00Z&token=s3cret-history-token");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["points"][0]["mean"].to_string(), "2000.5");

    for (query, reason) in [
        ("resolution=minute", "`key` is required"),
        ("key=power_import&resolution=week", "minute, hour or day"),
        ("key=power_import&from=yesterday", "RFC 3339"),
        ("key=power_import&from=0", "at most 10000"),
        ("key=power_import&from=20&to=10", "before"),
        ("key=power_import&key=gas", "twice"),
        ("key=power_import&bogus=1", "unknown parameter"),
    ] {
        let (status, body) = get(
            &addr,
            &format!("/api/meters/E1/history?{query}&token=s3cret-history-token"),
        );
        assert_eq!(status, 400, "{query}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(
            v["error"].as_str().unwrap().contains(reason),
            "{query}: {body}"
        );
    }
    let (status, body) = get(
        &addr,
        "/api/meters/E2/history?key=gas&token=s3cret-history-token",
    );
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no history for meter `E2`"), "{body}");
}

/// A meter the bridge has seen but whose first minute is not written yet has an empty
/// series (200), as the page asks for a new meter's chart at once; 404 stays for a meter
/// or a key never seen. Through the real server, before the first minute ends.
#[test]
fn a_seen_meter_without_a_written_minute_has_an_empty_series() {
    // Start early in a minute, so that the first one is still in progress when asked.
    let sec = now_secs() % 60;
    if sec > 30 {
        std::thread::sleep(Duration::from_secs((61 - sec) as u64));
    }
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("p1");
    let _meter = Meter::start(&link, Duration::from_millis(250));
    let topic = format!("hist/{E}/state");
    let sub = Subscriber::connect(broker.port, "hist-seen", &[topic.as_str()]);
    let bridge = Bridge::start(&config(&broker, &link, ""));
    let db = bridge.history_path();
    let addr = http_addr(&bridge);
    bridge.wait_log("history: writing per-minute rows", T);
    sub.wait_until("a state", T, |m| m.len() >= 2);
    let (status, body) = get(&addr, &format!("/api/meters/{E}/history?key=power_import"));
    let (gstatus, gbody) = get(
        &addr,
        &format!("/api/meters/{E}/history?key=energy_import_t1"),
    );
    assert!(
        rows(&db, E, "power_import").is_empty(),
        "the first minute was written already: the case is not tested"
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        format!(
            r#"{{"meter":"{E}","key":"power_import","unit":"W","resolution":"minute","counter":false,"points":[]}}"#
        )
    );
    assert_eq!(gstatus, 200, "{gbody}");
    let v: Value = serde_json::from_str(&gbody).unwrap();
    assert_eq!(
        (v["unit"].as_str(), v["counter"].as_bool()),
        (Some("kWh"), Some(true))
    );
    assert_eq!(v["points"], serde_json::json!([]));
    // Never seen: still 404, with the reason.
    let (status, body) = get(&addr, "/api/meters/E-never-seen/history?key=power_import");
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains("no history for meter `E-never-seen`"),
        "{body}"
    );
    let (status, body) = get(&addr, &format!("/api/meters/{E}/history?key=no_such_key"));
    assert_eq!(status, 404, "{body}");
    assert!(
        body.contains("has no history for key `no_such_key`"),
        "{body}"
    );
}

/// Retention through the real bridge: a file with a minute 40 days old and one from
/// yesterday; the bridge (default `keep_minutes`, 30 days) deletes the old minute at start
/// and keeps its hour, and the endpoint answers accordingly.
#[test]
fn retention_deletes_old_minutes_and_keeps_their_hours() {
    let broker = Broker::start();
    let data = tempfile::tempdir().unwrap();
    let db = data.path().join("history.sqlite3");
    let now = now_secs() / 60 * 60;
    let old = now - 40 * 86_400;
    let recent = now - 86_400;
    let mut store = Store::open(&db).unwrap();
    for t in [old, recent] {
        let mut m = Minute::new();
        let mut r = reading("1234", "5.000");
        r.time = Timestamp::from_unix_seconds(t);
        m.add(&r, t);
        store.write(&m.take().unwrap()).unwrap();
    }
    drop(store);
    let minutes_at = |t: i64| {
        rows(&db, "E1", "power_import")
            .iter()
            .filter(|r| r.0 == t)
            .count()
    };
    assert_eq!((minutes_at(old), minutes_at(recent)), (1, 1));
    let dir = tempfile::tempdir().unwrap();
    let d = data.path().display().to_string();
    let yaml = config(&broker, &dir.path().join("absent"), "");
    let bridge = Bridge::start_with_env(&yaml, &[("METER2MQTT_DATA_DIR", d.as_str())]);
    let addr = http_addr(&bridge);
    bridge.wait_log("history: writing per-minute rows", T);
    let deadline = Instant::now() + T;
    while minutes_at(old) != 0 {
        assert!(Instant::now() < deadline, "the old minute was not deleted");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(minutes_at(recent), 1, "the recent minute is kept");
    let ask = |res: &str, t: i64| {
        let (status, body) = get(
            &addr,
            &format!(
                "/api/meters/E1/history?key=power_import&resolution={res}&from={}&to={}",
                (t - 1800) * 1000,
                (t + 1800) * 1000
            ),
        );
        assert_eq!(status, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        v["points"].as_array().unwrap().len()
    };
    assert_eq!(ask("minute", old), 0, "no minute 40 days back");
    assert_eq!(ask("minute", recent), 1, "yesterday's minute");
    assert_eq!(
        ask("hour", old),
        1,
        "the old minute's hour is kept (5 years)"
    );
}
