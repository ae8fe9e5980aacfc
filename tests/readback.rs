//! The start-up read-back's end marker (issue 17, `mqtt/output.rs` `ReadbackMarker`) against
//! a real Mosquitto: when the broker's ACL denies the marker's topic, the bridge still starts
//! publishing (after the fallback wait) and says why in its log. That retained hints are
//! still applied when the marker works is `tests/counter_guard.rs` (the restart step).

mod harness;

use std::time::Duration;

use harness::{Bridge, Broker, Subscriber};
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use tokio::io::AsyncWriteExt;

const T: Duration = Duration::from_secs(30);
const CLOCK: i64 = 1_705_320_000;

#[test]
fn a_broker_that_denies_the_marker_gets_the_fallback_wait_and_one_log_line() {
    // Everything allowed but the marker's topics (a deny rule wins in Mosquitto's ACL check).
    let broker = Broker::start_with_acl("topic readwrite #\ntopic deny rb1/_readback/#\n");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let l = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
        .unwrap();
    let port = l.local_addr().unwrap().port();
    rt.spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut meter = DsmrMeter::new(Flavour::Dsmr5, CLOCK, 1);
                while s.write_all(&meter.telegram(1)).await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            });
        }
    });
    let sub = Subscriber::connect(broker.port, "rb1-sub", &["rb1/+/state"]);
    let bridge = Bridge::start(&format!(
        "mqtt:\n  url: {}\n  base_topic: rb1\n  client_id: rb1\nhttp:\n  enabled: false\nhistory:\n  enabled: false\ninputs:\n  - {{name: p1, type: p1, host: 127.0.0.1, port: {port}}}\n",
        broker.url()
    ));
    sub.wait_until("a state", T, |m| !m.is_empty());
    let log = bridge.log_text();
    assert_eq!(
        log.matches("the read-back's end marker did not come back")
            .count(),
        1,
        "{log}"
    );
    assert!(
        !log.contains("read-back complete (its end marker came back)"),
        "{log}"
    );
}
