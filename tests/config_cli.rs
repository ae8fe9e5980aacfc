//! Configuration taken as typed and checked at load (issue 18 §3, §6, §7, §8, §11, §12, §13),
//! through the real binary: `meter2mqtt check-config` and `meter2mqtt run`.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const P1: &str = "inputs:\n  - {name: p1, type: p1, device: /dev/null}\n";

/// Run the binary on `yaml` (written to a file in `dir`) with extra environment variables.
/// A run that takes over 20 s is killed and counts as a failure of the test: a configuration
/// problem must never leave the program hanging.
fn meter2mqtt(dir: &Path, command: &str, yaml: &str, env: &[(&str, &str)]) -> Output {
    let cfg = dir.join("config.yaml");
    std::fs::write(&cfg, yaml).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_meter2mqtt"))
        .args([command, "--config"])
        .arg(&cfg)
        .env("METER2MQTT_DATA_DIR", dir.join("data"))
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!("meter2mqtt {command} still running after 20 s\n{yaml}\n{err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn check(yaml: &str, env: &[(&str, &str)]) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = meter2mqtt(dir.path(), "check-config", yaml, env);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `check-config` fails, names `key`, and does not panic.
fn refused(yaml: &str, env: &[(&str, &str)], key: &str) -> String {
    let (ok, out, err) = check(yaml, env);
    assert!(!ok, "accepted:\n{yaml}\n{out}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.contains(&format!("`{key}`")), "no `{key}` in: {err}");
    err
}

/// §3: string keys are the exact text, from the file (unquoted) and from the environment.
#[test]
fn string_keys_are_taken_as_typed() {
    for (yaml_value, shown) in [
        ("0x1F", "0x1F"),
        (".5", ".5"),
        ("true", "true"),
        ("12345678901234567890", "12345678901234567890"),
        ("007", "007"),
    ] {
        let yaml = format!("mqtt:\n  username: {yaml_value}\n  password: {yaml_value}\n{P1}");
        let (ok, out, err) = check(&yaml, &[]);
        assert!(ok, "{yaml}\n{err}");
        assert!(out.contains(&format!("\"username\": \"{shown}\"")), "{out}");
    }
    for value in ["007", "+5", " padded "] {
        let (ok, out, err) = check(
            P1,
            &[
                ("METER2MQTT_MQTT__CLIENT_ID", value),
                ("METER2MQTT_MQTT__USERNAME", value),
                ("METER2MQTT_MQTT__PASSWORD", value),
            ],
        );
        assert!(ok, "{err}");
        assert!(out.contains(&format!("(client id {value})")), "{out}");
        assert!(out.contains(&format!("\"username\": \"{value}\"")), "{out}");
    }
}

/// §6: a float duration too large for `Duration` is an error naming the key, in
/// `check-config` and in `run`.
#[test]
fn huge_float_durations_are_errors() {
    for (yaml, key) in [
        (format!("mqtt:\n  keepalive: 1e300\n{P1}"), "mqtt.keepalive"),
        (
            format!("publish:\n  min_interval: 1e20\n{P1}"),
            "publish.min_interval",
        ),
    ] {
        refused(&yaml, &[], key);
        let dir = tempfile::tempdir().unwrap();
        let out = meter2mqtt(dir.path(), "run", &yaml, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(!err.contains("panicked") && err.contains(key), "{err}");
    }
}

/// §7: every duration has a range, checked at load.
#[test]
fn durations_out_of_their_range_are_errors() {
    let tcp = "inputs:\n  - name: p1\n    type: p1\n    host: 127.0.0.1\n    port: 9\n";
    let err = refused(
        &format!("{tcp}    idle_timeout: 18446744073709551615\n"),
        &[],
        "inputs[0].idle_timeout",
    );
    assert!(err.contains("line 6"), "{err}");
    let err = refused(
        &format!("{tcp}    idle_timeout: 2d\n"),
        &[],
        "inputs[0].idle_timeout",
    );
    assert!(err.contains("give 2s to 24h"), "{err}");
    refused(
        &format!("homeassistant:\n  stale_meter_timeout: 0s\n{P1}"),
        &[],
        "homeassistant.stale_meter_timeout",
    );
    refused(
        "inputs:\n  - {name: heat, type: kmp, device: /dev/null, poll_interval: 30d}\n",
        &[],
        "inputs[0].poll_interval",
    );
    let (ok, _, err) = check(&format!("{tcp}    idle_timeout: 24h\n"), &[]);
    assert!(ok, "{err}");
}

/// §8: a FIFO or `/dev/zero` as `password_file` is refused at once, not read.
#[cfg(unix)]
#[test]
fn password_file_must_be_a_small_regular_file() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let st = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(st.success());
    let big = dir.path().join("big");
    std::fs::write(&big, vec![b'x'; 70_000]).unwrap();
    for file in [fifo.as_path(), Path::new("/dev/zero"), big.as_path()] {
        let yaml = format!("mqtt:\n  password_file: {}\n{P1}", file.display());
        let started = Instant::now();
        refused(&yaml, &[], "mqtt.password_file");
        let out = meter2mqtt(dir.path(), "run", &yaml, &[]);
        assert!(!out.status.success());
        assert!(started.elapsed() < Duration::from_secs(10));
    }
}

/// §11: what `check-config` used to pass and `run` then retried forever.
#[test]
fn load_time_checks_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("broker.key");
    let st = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&key_file)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(st.success());
    for ca in [key_file.as_path(), Path::new("/etc/hostname")] {
        let yaml = format!(
            "mqtt:\n  url: mqtts://127.0.0.1\n  tls:\n    ca_file: {}\n{P1}",
            ca.display()
        );
        let err = refused(&yaml, &[], "mqtt.tls.ca_file");
        assert!(err.contains("no PEM certificate"), "{err}");
    }
    let long = "a".repeat(70_000);
    refused(
        &format!("mqtt:\n  base_topic: {long}\n{P1}"),
        &[],
        "mqtt.base_topic",
    );
    for url in ["mqtt://localhost/foo", "mqtt://::1", "mqtt://[::1]junk"] {
        refused(&format!("mqtt:\n  url: '{url}'\n{P1}"), &[], "mqtt.url");
    }
    refused(
        &format!("mqtt:\n  keepalive: 65536\n{P1}"),
        &[],
        "mqtt.keepalive",
    );
    let (ok, _, err) = check(&format!("mqtt:\n  keepalive: 65535\n{P1}"), &[]);
    assert!(ok, "{err}");
    refused(
        "inputs:\n  - {name: a, type: p1, device: /dev/null}\n  - {name: b, type: kmp, device: /dev/null}\n",
        &[],
        "inputs[1].device",
    );
    refused(
        "inputs:\n  - {name: a, type: p1, host: Relay.lan, port: 8088}\n  - {name: b, type: kmp, host: relay.LAN, port: 8088}\n",
        &[],
        "inputs[1].host",
    );
    refused(
        &format!("log:\n  level: 'verbose!!'\n{P1}"),
        &[],
        "log.level",
    );
    for topic in ["''", "'ha/+/status'", "'ha/#'"] {
        refused(
            &format!("homeassistant:\n  status_topic: {topic}\n{P1}"),
            &[],
            "homeassistant.status_topic",
        );
    }
    refused(
        "inputs:\n  - {name: p1, type: p1, device: ''}\n",
        &[],
        "inputs[0].device",
    );
    refused(
        "inputs:\n  - {name: p1, type: p1, device: /dev/null, redetect_after: 0}\n",
        &[],
        "inputs[0].redetect_after",
    );
    let (ok, _, err) = check(
        &format!("mqtt:\n  url: mqtt://a:1883\n  qos: 1\n  url: mqtt://b:1883\n{P1}"),
        &[],
    );
    assert!(!ok && err.contains("`url` is given twice"), "{err}");
    assert!(err.contains("line 4") && err.contains("line 2"), "{err}");
}

/// §12: a type error inside an input names the field and its line; an environment variable
/// reaches a key of an input.
#[test]
fn errors_inside_inputs_name_the_field_and_env_reaches_inputs() {
    let tcp = "inputs:\n  - name: p1\n    type: p1\n    host: relay\n";
    let err = refused(&format!("{tcp}    port: 70000\n"), &[], "inputs[0].port");
    assert!(err.contains("line 5"), "{err}");
    let err = refused(
        "inputs:\n  - name: heat\n    type: kmp\n    device: /dev/null\n    registers_add: [0x10, 0x10000]\n",
        &[],
        "inputs[0].registers_add[1]",
    );
    assert!(err.contains("line 5"), "{err}");
    let (ok, out, err) = check(
        &format!("{tcp}    port: 8088\n"),
        &[("METER2MQTT_INPUTS__0__PORT", "1884")],
    );
    assert!(ok, "{err}");
    assert!(out.contains("tcp://relay:1884"), "{out}");
    let err = refused(
        &format!("{tcp}    port: 8088\n"),
        &[("METER2MQTT_INPUTS__0__PORT", "70000")],
        "inputs[0].port",
    );
    assert!(err.contains("METER2MQTT_INPUTS__0__PORT"), "{err}");
    let (ok, _, err) = check(
        &format!("{tcp}    port: 8088\n"),
        &[("METER2MQTT_INPUTS__1__PORT", "1884")],
    );
    assert!(!ok && err.contains("METER2MQTT_INPUTS__1__PORT"), "{err}");
}

/// §13: a password put under `password_file` is not printed; a world-readable password file
/// gets a warning.
#[cfg(unix)]
#[test]
fn password_file_is_not_printed_and_its_mode_is_checked() {
    use std::os::unix::fs::PermissionsExt;
    let (_, out, err) = check(&format!("mqtt:\n  password_file: Hunter2secret\n{P1}"), &[]);
    assert!(err.contains("`mqtt.password_file`"), "{err}");
    assert!(
        !err.contains("Hunter2") && !out.contains("Hunter2"),
        "{err}{out}"
    );
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "s3cret\n").unwrap();
    let yaml = format!("mqtt:\n  password_file: {}\n{P1}", pw.display());
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (ok, _, err) = check(&yaml, &[]);
    assert!(ok, "{err}");
    assert!(
        err.contains("password_file") && err.contains("chmod 600"),
        "{err}"
    );
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (ok, _, err) = check(&yaml, &[]);
    assert!(ok && !err.contains("chmod"), "{err}");
}
