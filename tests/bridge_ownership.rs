//! Exact ownership between bridges (issue 18 §4): four real bridges on one real Mosquitto, with
//! nested (`m2m` vs `m2m/garage`), equal-prefix (`m2m` vs `m2m2`) and alike-sanitizing
//! (`m2m/garage` vs `m2m_garage`) base topics, all reading meters with the same ids from
//! simulated DSMR 5 meters on real TCP sockets. None touches another's discovery, state or
//! availability, also when one restarts and removes its own stale meters.

mod harness;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use harness::{json, Bridge, Broker, Msg, Subscriber};
use meter2mqtt::mqtt::topics;
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use tokio::io::AsyncWriteExt;

const T: Duration = Duration::from_secs(30);
const CLOCK: i64 = 1_705_320_000;
const BASES: [&str; 4] = ["m2m", "m2m/garage", "m2m2", "m2m_garage"];
const METERS: [&str; 2] = ["E0043007052870319", "G0012345678901235"];

fn config(broker: &Broker, base: &str, port: u16) -> String {
    format!(
        "mqtt:\n  url: {}\n  base_topic: {base}\n  client_id: c-{}\n\
homeassistant:\n  stale_meter_timeout: 3s\n\
inputs:\n  - {{name: p1, type: p1, host: 127.0.0.1, port: {port}, idle_timeout: 60s}}\n",
        broker.url(),
        topics::node_id(base, "x")
    )
}

/// A simulated meter (always the same ids) sending a telegram a second to one bridge.
fn meter_peer(rt: &tokio::runtime::Runtime) -> u16 {
    let port = harness::free_port();
    let l = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", port)))
        .unwrap();
    rt.spawn(async move {
        if let Ok((mut s, _)) = l.accept().await {
            let mut m = DsmrMeter::new(Flavour::Dsmr5, CLOCK, 1);
            for _ in 0..120 {
                if s.write_all(&m.telegram(1)).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    });
    port
}

/// Retained discovery configs on the broker now: topic → the bridge status topic it names.
fn retained_configs(broker: &Broker, id: &str) -> BTreeMap<String, String> {
    let sub = Subscriber::connect(broker.port, id, &["homeassistant/#"]);
    std::thread::sleep(Duration::from_millis(1500));
    sub.all()
        .iter()
        .filter(|m| m.retain && !m.payload.is_empty())
        .map(|m| {
            let owner = json(m)["availability"][0]["topic"]
                .as_str()
                .unwrap_or("?")
                .to_string();
            (m.topic.clone(), owner)
        })
        .collect()
}

fn owners_of_each_topic(msgs: &[Msg]) -> BTreeMap<String, BTreeSet<String>> {
    let mut owners: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in msgs
        .iter()
        .filter(|m| m.topic.starts_with("homeassistant/"))
    {
        if let Some(o) = json(m)["availability"][0]["topic"].as_str() {
            owners.entry(m.topic.clone()).or_default().insert(o.into());
        }
    }
    owners
}

#[test]
fn bridges_with_nested_and_equal_prefix_bases_never_touch_each_other() {
    let broker = Broker::start();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let sub = Subscriber::connect(broker.port, "own-sub", &["#"]);
    // A stale meter of the bridge on `m2m` from an earlier run: that one it must remove.
    let stale = topics::discovery("homeassistant", &topics::node_id("m2m", "E9"), "gas");
    let stale_cfg = serde_json::json!({
        "state_topic": "m2m/E9/state",
        "availability": [{"topic": "m2m/status"}, {"topic": "m2m/E9/availability"}]
    });
    sub.publish(&stale, &stale_cfg.to_string(), true);
    sub.publish("m2m/E9/state", r#"{"gas":1.5}"#, true);
    let mut bridges: Vec<Bridge> = BASES
        .iter()
        .map(|base| Bridge::start(&config(&broker, base, meter_peer(&rt))))
        .collect();
    sub.wait_until("every bridge's states and configs", T, |m| {
        BASES.iter().all(|base| {
            METERS.iter().all(|meter| {
                let state = topics::state(base, meter);
                let node = format!("/{}/", topics::node_id(base, meter));
                m.iter().any(|x| x.topic == state) && m.iter().any(|x| x.topic.contains(&node))
            })
        })
    });
    // Restart the bridge on `m2m`: it reads back everybody's retained configs and, after its
    // 3 s stale_meter_timeout, removes what it owns and no longer sees.
    bridges[0].terminate();
    bridges[0] = Bridge::start(&config(&broker, "m2m", meter_peer(&rt)));
    sub.wait_until("the stale meter E9 removed", T, |m| {
        m.iter().any(|x| x.topic == stale && x.payload.is_empty())
    });
    std::thread::sleep(Duration::from_secs(2));

    let all = sub.all();
    // 1. Only `m2m`'s own stale meter was cleared; nothing of any other bridge.
    let cleared: BTreeSet<&str> = all
        .iter()
        .filter(|m| m.payload.is_empty())
        .map(|m| m.topic.as_str())
        .collect();
    let want: BTreeSet<&str> = [stale.as_str(), "m2m/E9/state", "m2m/E9/availability"].into();
    assert_eq!(cleared, want);
    // 2. No discovery topic was ever written by two bridges (node ids differ per base).
    let owners = owners_of_each_topic(&all);
    let shared: Vec<_> = owners.iter().filter(|(_, o)| o.len() > 1).collect();
    assert!(shared.is_empty(), "{shared:#?}");
    // 3. Every bridge's configs are still on the broker, each under its own node ids.
    let retained = retained_configs(&broker, "own-check");
    for base in BASES {
        let status = topics::status(base);
        for meter in METERS {
            let node = format!("/{}/", topics::node_id(base, meter));
            let n = retained
                .iter()
                .filter(|(t, o)| t.contains(&node) && **o == status)
                .count();
            assert!(
                n > 0,
                "no retained config of {base} for {meter}: {retained:#?}"
            );
        }
    }
    assert!(retained.values().all(|o| o != "?"), "{retained:#?}");
    for b in &mut bridges {
        b.terminate();
    }
}
