//! The counter guard end to end (issue 18 §1): a simulated DSMR 5 meter on a real TCP socket,
//! the real binary, a real Mosquitto. One implausible `energy_import_t1` is held back and the
//! counter carries on; neither a restart nor a retained spike (the bridge's own from an older
//! version, or a foreign client's `99999999`) freezes it.

mod harness;

use std::time::Duration;

use harness::{json, Bridge, Broker, Msg, Subscriber};
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use tokio::io::AsyncWriteExt;

const T: Duration = Duration::from_secs(30);
/// 2024-01-15 12:00:00: tariff 2, so the simulation leaves `energy_import_t1` alone.
const CLOCK: i64 = 1_705_320_000;
const METER: &str = "E0043007052870319";

fn config(broker: &Broker, base: &str, port: u16) -> String {
    format!(
        "mqtt:\n  url: {}\n  base_topic: {base}\n  client_id: {base}\n\
inputs:\n  - {{name: p1, type: p1, host: 127.0.0.1, port: {port}, idle_timeout: 60s}}\n",
        broker.url()
    )
}

/// A TCP peer that sends one telegram per value of `energy_import_t1` (in Wh), `every` apart
/// (and 1 s apart on the meter's clock, which starts at `clock`), to the first bridge that
/// connects. Returns its port.
fn meter_peer(
    rt: &tokio::runtime::Runtime,
    clock: i64,
    import_t1_wh: Vec<u64>,
    every: Duration,
) -> u16 {
    let port = harness::free_port();
    let l = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
        .unwrap();
    rt.spawn(async move {
        if let Ok((mut s, _)) = l.accept().await {
            let mut m = DsmrMeter::new(Flavour::Dsmr5, clock, 1);
            for wh in import_t1_wh {
                m.house.import_t1_wh = wh;
                let _ = s.write_all(&m.telegram(1)).await;
                tokio::time::sleep(every).await;
            }
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    });
    port
}

/// `energy_import_t1` of the live (not retained) states on `topic`; `None` where it is absent.
fn published(msgs: &[Msg], topic: &str) -> Vec<Option<String>> {
    msgs.iter()
        .filter(|m| m.topic == topic && !m.retain)
        .map(|m| json(m).get("energy_import_t1").map(|v| v.to_string()))
        .collect()
}

fn kwh(from: u64, n: u64) -> Vec<u64> {
    (from..from + n).collect()
}

fn values(msgs: &[Msg], topic: &str) -> Vec<String> {
    published(msgs, topic).into_iter().flatten().collect()
}

#[test]
fn one_spike_is_held_and_neither_a_restart_nor_a_retained_spike_freezes_the_counter() {
    let broker = Broker::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let topic = format!("g1/{METER}/state");
    // The exact sequence of issue 18 §1.
    let mut seq = vec![576_239, 900_576_239];
    seq.extend(kwh(576_241, 8));
    let port = meter_peer(&rt, CLOCK, seq, Duration::from_millis(300));
    let sub = Subscriber::connect(broker.port, "g1-sub", &["g1/#"]);
    let mut b = Bridge::start(&config(&broker, "g1", port));
    sub.wait_until("10 states", T, |m| published(m, &topic).len() >= 10);
    let seen = values(&sub.all(), &topic);
    assert_eq!(
        seen,
        [
            "576.239", "576.241", "576.242", "576.243", "576.244", "576.245", "576.246", "576.247",
            "576.248"
        ]
    );
    let log = b.log_text();
    let held = log
        .lines()
        .filter(|l| l.contains("implausible counter value") && l.contains("\"energy_import_t1\""))
        .count();
    assert_eq!(held, 1, "{log}");
    assert_eq!(b.terminate(), Some(0));

    // Restart: the retained state (576.248, at meter time CLOCK + 10) is the hint. A spike as
    // the first value is held (the hint's time is known: 11 s before it), then the meter
    // carries on at once.
    let mut seq = vec![900_576_239];
    seq.extend(kwh(576_249, 3));
    let port = meter_peer(&rt, CLOCK + 20, seq, Duration::from_millis(300));
    let before = sub.all().len();
    let mut b = Bridge::start(&config(&broker, "g1", port));
    sub.wait_until("4 states after the restart", T, |m| {
        published(&m[before..], &topic).len() >= 4
    });
    assert_eq!(
        values(&sub.all()[before..], &topic),
        ["576.249", "576.250", "576.251"]
    );
    // The read-back ended on its end marker (issue 17), not on the fallback wait.
    let log = b.log_text();
    assert!(
        log.contains("read-back complete (its end marker came back)"),
        "{log}"
    );
    assert_eq!(b.terminate(), Some(0));

    // A retained spike on the state topic (as an older version published it): the meter's own
    // values win within seconds, with one log line, and the spike is never published again.
    sub.publish(&topic, r#"{"energy_import_t1":900576.239}"#, true);
    std::thread::sleep(Duration::from_millis(300));
    let port = meter_peer(
        &rt,
        CLOCK + 40,
        kwh(576_252, 40),
        Duration::from_millis(500),
    );
    let before = sub.all().len();
    let b = Bridge::start(&config(&broker, "g1", port));
    sub.wait_until("energy_import_t1 back after a retained spike", T, |m| {
        !values(&m[before..], &topic).is_empty()
    });
    let after = values(&sub.all()[before..], &topic);
    assert!(after[0].starts_with("576.2"), "{after:?}");
    let log = b.log_text();
    assert_eq!(
        log.matches("retained state read back at start disagrees with the meter")
            .count(),
        1,
        "{log}"
    );
}

#[test]
fn a_foreign_retained_99999999_does_not_freeze_the_counter() {
    let broker = Broker::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let topic = format!("g2/{METER}/state");
    let sub = Subscriber::connect(broker.port, "g2-sub", &["g2/#"]);
    // Somebody publishes a retained state for the meter before the bridge ever ran.
    sub.publish(&topic, r#"{"energy_import_t1": 99999999}"#, true);
    std::thread::sleep(Duration::from_millis(300));
    let port = meter_peer(&rt, CLOCK, kwh(576_239, 40), Duration::from_millis(500));
    let before = sub.all().len();
    let _b = Bridge::start(&config(&broker, "g2", port));
    sub.wait_until("energy_import_t1 published", T, |m| {
        !values(&m[before..], &topic).is_empty()
    });
    // Held while fewer than 5 readings over 10 s agreed, then the meter's values, in order.
    let all = published(&sub.all()[before..], &topic);
    let first = all.iter().position(Option::is_some).unwrap_or(0);
    assert!(first >= 5, "taken after {first} readings: {all:?}");
    sub.wait_until("three more", T, |m| values(&m[before..], &topic).len() >= 3);
    let seen = values(&sub.all()[before..], &topic);
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert!(seen.iter().all(|v| v.starts_with("576.")), "{seen:?}");
}
