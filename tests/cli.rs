//! The command line at its edges: closed pipes, environment overrides.

use std::io::Read;
use std::process::{Command, Stdio};

#[test]
fn decode_into_a_closed_pipe_exits_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meter2mqtt"))
        .args([
            "decode",
            "tests/fixtures/dsmr/nielsbasjes_dsmr_tools/streams/ttyUSB0-raw.full_stream.bin",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 64];
    child.stdout.take().unwrap().read_exact(&mut first).unwrap();
    // The read end is dropped here, like `| head -c 64`.
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn meter2mqtt_config_names_the_file_and_other_variables_override_keys() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        "inputs:\n  - {name: p1, type: p1, device: /dev/null}\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_meter2mqtt"))
        .arg("check-config")
        .env("METER2MQTT_CONFIG", &cfg)
        .env("METER2MQTT_MQTT__URL", "mqtt://broker.lan:1884")
        .env("METER2MQTT_MQTT__PASSWORD", "from-env-secret")
        .env("METER2MQTT_MQTT__QOS", "2")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("mqtt://broker.lan:1884"), "{text}");
    assert!(!text.contains("from-env-secret"), "{text}");
    assert!(text.contains("\"qos\": 2"), "{text}");
    let out = Command::new(env!("CARGO_BIN_EXE_meter2mqtt"))
        .arg("check-config")
        .env("METER2MQTT_CONFIG", &cfg)
        .env("METER2MQTT_MQTT__QOS", "3")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("mqtt.qos"), "{err}");
}
