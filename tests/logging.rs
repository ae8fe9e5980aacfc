//! The log filter (`--log-level`, `log.level`): a level, or `target=level` pairs
//! (`tracing_subscriber`'s `Targets`, `src/main.rs` `init_logging`). Every other test's bridge
//! runs with `meter2mqtt=debug,info`; this one checks that such a filter really lets the
//! bridge's own debug lines through (an unparsable filter falls back to `info`, which would
//! hide them) while the default level for everything else stays `info`.

mod harness;

use std::time::Duration;

use harness::{Bridge, Broker};

const T: Duration = Duration::from_secs(30);

#[test]
fn a_target_filter_shows_the_bridges_debug_lines() {
    let broker = Broker::start();
    let bridge = Bridge::start(&format!(
        "mqtt:\n  url: {}\n  base_topic: lg1\n  client_id: lg1\nhistory:\n  enabled: false\ninputs:\n  - {{name: p1, type: p1, host: 127.0.0.1, port: {}}}\n",
        broker.url(),
        harness::free_port()
    ));
    // info, from meter2mqtt::http
    bridge.wait_log("http listening", T);
    // debug, from meter2mqtt::mqtt::output (once connected to the broker)
    bridge.wait_log("read back retained discovery and states", T);
    let log = bridge.log_text();
    assert!(
        log.lines()
            .filter(|l| l.contains("DEBUG"))
            .all(|l| l.contains("meter2mqtt")),
        "a debug line from another target:\n{log}"
    );
}
