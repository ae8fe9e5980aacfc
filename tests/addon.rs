//! `meter2mqtt addon` (issue 16), through the real binary: the add-on's options give the
//! configuration `check-config` shows, and the broker and credentials come from a stand-in
//! for the Home Assistant Supervisor's services API over a real socket, to a Mosquitto that
//! requires them. No secret reaches the log.

mod harness;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::{Bridge, Broker, Subscriber};
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use meter2mqtt::sim::serve::SimStats;

const T: Duration = Duration::from_secs(30);
const TOKEN: &str = "tok-7f3a9c1e-Supervisor";
const PASSWORD: &str = "Mqtt-Pa55-from-the-Supervisor";

fn fixture(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/addon")
        .join(name)
}

/// `meter2mqtt addon --check` with a data directory of its own and port 0 for the page.
fn addon_check(options: &Path, env: &[(&str, &str)]) -> (bool, String, String) {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_meter2mqtt"))
        .args([
            "addon",
            "--check",
            "--http-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data.path())
        .arg("--options")
        .arg(options)
        .env_remove("SUPERVISOR_TOKEN")
        .envs(env.iter().copied())
        .output()
        .expect("run meter2mqtt addon --check");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One sample `options.json` per input kind is a valid configuration with that input, and
/// the output is `check-config`'s, secrets masked.
#[test]
fn sample_options_of_every_input_kind_are_valid() {
    let cases = [
        ("p1_serial.json", "input p1: P1 on /dev/serial/by-id/"),
        (
            "p1_tcp_encrypted.json",
            "input smarty: P1 via tcp://192.168.1.50:8088",
        ),
        (
            "kmp.json",
            "input heat: Kamstrup KMP (multical_60x) on /dev/ttyUSB1",
        ),
        ("multical.json", "input mc401: MULTICAL /#n on /dev/ttyUSB2"),
        (
            "iec62056.json",
            "input uh50: IEC 62056-21 (ultraheat) on /dev/ttyUSB3",
        ),
    ];
    for (file, line) in cases {
        let (ok, out, err) = addon_check(&fixture(file), &[]);
        assert!(ok, "{file}: {err}");
        assert!(out.contains("is valid"), "{file}: {out}");
        assert!(out.contains(line), "{file}: no `{line}` in\n{out}");
        let printed: serde_json::Value =
            serde_json::from_str(out.split("---").nth(1).unwrap_or_default()).expect("JSON");
        assert_eq!(
            printed["inputs"].as_array().map(Vec::len),
            Some(1),
            "{file}"
        );
        for secret in ["Secret-Pa55", "00112233445566778899AABBCCDDEEFF"] {
            assert!(
                !out.contains(secret) && !err.contains(secret),
                "{file}: {secret}"
            );
        }
    }
    // A wrong option is refused by name, as `run` refuses a wrong key.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("options.json");
    let text = std::fs::read_to_string(fixture("kmp.json"))
        .unwrap()
        .replace("multical_60x", "dsmr5");
    std::fs::write(&bad, text).unwrap();
    let (ok, _, err) = addon_check(&bad, &[]);
    assert!(!ok && err.contains("inputs[0].preset"), "{err}");
}

/// The far end of the Supervisor's services API: answers `GET /services/mqtt` with the
/// broker when the bearer token is right, 401 otherwise; records every request head.
struct Supervisor {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

fn supervisor(mqtt_port: u16, user: &str, password: &str) -> Supervisor {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    let ok = format!(
        r#"{{"result":"ok","data":{{"host":"127.0.0.1","port":{mqtt_port},"ssl":false,"protocol":"3.1.1","username":"{user}","password":"{password}"}}}}"#
    );
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                match conn.read(&mut b) {
                    Ok(1) => head.push(b[0]),
                    _ => break,
                }
            }
            let head = String::from_utf8_lossy(&head).into_owned();
            let authorized = head.starts_with("GET /services/mqtt ")
                && head
                    .lines()
                    .any(|l| l.eq_ignore_ascii_case(&format!("authorization: Bearer {TOKEN}")));
            seen.lock().unwrap().push(head);
            let (status, body) = if authorized {
                ("200 OK", ok.clone())
            } else {
                (
                    "401 Unauthorized",
                    r#"{"result":"error","message":"Unauthorized"}"#.to_string(),
                )
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    Supervisor { url, requests }
}

/// A P1 meter behind a TCP relay, on a runtime the caller keeps alive.
fn p1_relay(rt: &tokio::runtime::Runtime) -> u16 {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind(("127.0.0.1", 0)))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    rt.spawn(meter2mqtt::sim::serve::dsmr_on_tcp(
        listener,
        DsmrMeter::new(Flavour::Dsmr5, 1_705_320_000, 1),
        Duration::from_millis(200),
        Arc::new(SimStats::default()),
    ));
    port
}

fn options(relay: u16) -> String {
    format!(
        r#"{{"inputs":[{{"name":"p1","type":"p1","host":"127.0.0.1","port":{relay}}}],"base_topic":"ha","discovery":true,"log_level":"info","history":true}}"#
    )
}

/// Without `mqtt_url` the add-on asks the Supervisor (with its token) and connects with the
/// credentials it gave to a broker that takes no anonymous clients; readings arrive. Neither
/// the token nor the password is logged, even at debug level.
#[test]
fn broker_and_credentials_come_from_the_supervisor() {
    let (broker, auth_port) = Broker::start_with_password("addons", PASSWORD);
    let sup = supervisor(auth_port, "addons", PASSWORD);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let relay = p1_relay(&rt);
    let sub = Subscriber::connect(broker.port, "t-addon", &["ha/#"]);
    let mut bridge = Bridge::start_addon(
        &options(relay),
        &[("SUPERVISOR_URL", &sup.url), ("SUPERVISOR_TOKEN", TOKEN)],
    );
    sub.wait_until("states through the password listener", T, |m| {
        m.iter()
            .any(|x| x.topic.starts_with("ha/E") && x.topic.ends_with("/state"))
    });
    assert!(sub.on("ha/status").iter().any(|m| m.payload == "online"));
    let requests = sup.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert!(requests[0].starts_with("GET /services/mqtt HTTP/1.1\r\n"));
    assert_eq!(bridge.terminate(), Some(0), "{}", bridge.log_text());
    let log = bridge.log_text();
    assert!(log.contains("MQTT broker from the Supervisor"), "{log}");
    assert!(
        log.contains(&format!("mqtt://127.0.0.1:{auth_port}")),
        "{log}"
    );
    assert!(
        !log.contains(PASSWORD),
        "the password is in the log:\n{log}"
    );
    assert!(!log.contains(TOKEN), "the token is in the log:\n{log}");
}

/// A wrong token: the Supervisor refuses, the add-on says why and stops (after its retries
/// are used up it exits non-zero); nothing is published and no secret is printed.
#[test]
fn a_refused_token_is_explained() {
    let sup = supervisor(1, "addons", PASSWORD);
    let dir = tempfile::tempdir().unwrap();
    let opts = dir.path().join("options.json");
    std::fs::write(&opts, options(1)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_meter2mqtt"))
        .args([
            "addon",
            "--check",
            "--http-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir.path())
        .arg("--options")
        .arg(&opts)
        .env("SUPERVISOR_URL", &sup.url)
        .env("SUPERVISOR_TOKEN", "wrong-token-123")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The first refusal is logged at once; the rest of the retries are not waited for.
    let deadline = std::time::Instant::now() + T;
    while sup.requests.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no request");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("HTTP 401: Unauthorized"), "{err}");
    assert!(
        !err.contains("wrong-token-123") && !err.contains(PASSWORD),
        "{err}"
    );
}
