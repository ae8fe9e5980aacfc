//! TLS with a client certificate (test CA made by the test with openssl) and
//! username/password authentication, against a real Mosquitto; the password never appears in
//! logs or `check-config` output.

mod harness;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::{Bridge, Subscriber};
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use meter2mqtt::sim::serve::{dsmr_on_pty, SimStats};

const T: Duration = Duration::from_secs(30);

fn openssl(dir: &Path, args: &[&str]) {
    let st = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl (install it: apt-get install openssl)");
    assert!(st.success(), "openssl {args:?}");
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA.
fn make_pki(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=meter2mqtt test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
        ],
    );
    // X.509 v3 with the extensions rustls (webpki) insists on: SAN for the server, key usage
    // for both (a v1 certificate is rejected as UnsupportedCertVersion).
    std::fs::write(
        dir.join("san.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("client.ext"),
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.crt",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=meter2mqtt",
            "-keyout",
            "client.key",
            "-out",
            "client.csr",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "client.ext",
            "-out",
            "client.crt",
        ],
    );
}

struct Mosq(std::process::Child);
impl Drop for Mosq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn mosquitto(dir: &Path, conf: &str, port: u16) -> Mosq {
    let path = dir.join("m.conf");
    std::fs::write(&path, conf).unwrap();
    let bin = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("mosquitto");
    let child = Command::new(bin)
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "mosquitto did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Mosq(child)
}

fn meter() -> (
    std::path::PathBuf,
    std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (path, _h) = dsmr_on_pty(
        DsmrMeter::new(Flavour::Dsmr5, 1_705_320_000, 1),
        Duration::from_millis(200),
        std::sync::Arc::new(SimStats::default()),
        stop.clone(),
    )
    .unwrap();
    (path, stop)
}

#[test]
fn tls_with_client_certificate_and_password() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    make_pki(d);
    let plain = harness::free_port();
    let tls = harness::free_port();
    let pw = d.join("passwd");
    std::fs::write(&pw, "bridge:s3cret-Pa55\nwatcher:w\n").unwrap();
    let st = Command::new("mosquitto_passwd")
        .arg("-U")
        .arg(&pw)
        .status()
        .unwrap();
    assert!(st.success());
    let _m = mosquitto(
        d,
        &format!(
            "user root\nper_listener_settings true\n\
listener {tls} 127.0.0.1\ncafile {d}/ca.crt\ncertfile {d}/server.crt\nkeyfile {d}/server.key\nrequire_certificate true\npassword_file {pw}\nallow_anonymous false\n\
listener {plain} 127.0.0.1\npassword_file {pw}\nallow_anonymous false\n",
            d = d.display(),
            pw = pw.display()
        ),
        plain,
    );
    let (path, _stop) = meter();
    std::fs::write(d.join("password.txt"), "s3cret-Pa55\n").unwrap();
    let config = format!(
        "mqtt:\n  url: mqtts://127.0.0.1:{tls}\n  username: bridge\n  password_file: {d}/password.txt\n  base_topic: sec\n  tls:\n    ca_file: {d}/ca.crt\n    client_cert_file: {d}/client.crt\n    client_key_file: {d}/client.key\n\
inputs:\n  - {{name: p1, type: p1, device: {p}}}\n",
        d = d.display(),
        p = path.display()
    );
    // The watcher reads over the plain listener with its own account.
    let sub = watcher(plain);
    let bridge = Bridge::start(&config);
    sub.wait_until("states over TLS", T, |m| {
        m.iter().filter(|x| x.topic.ends_with("/state")).count() >= 3
    });
    assert!(!bridge.log_text().contains("s3cret-Pa55"));

    // check-config prints the effective config without the password.
    std::fs::write(
        d.join("c.yaml"),
        config.replace("password_file: ", "password: s3cret-Pa55\n  #"),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_meter2mqtt"))
        .args(["check-config", "--config"])
        .arg(d.join("c.yaml"))
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(!all.contains("s3cret-Pa55"), "{all}");
    assert!(all.contains("***"), "{all}");

    // A wrong password is refused and logged without the password.
    let bad = config.replace("password_file: ", "password: wrong-one\n  #");
    let bridge2 = Bridge::start(&bad);
    std::thread::sleep(Duration::from_secs(2));
    let log = bridge2.log_text();
    assert!(log.contains("refused"), "{log}");
    assert!(!log.contains("wrong-one"), "{log}");
}

/// A subscriber on the plain listener with the `watcher` account.
fn watcher(port: u16) -> Subscriber {
    use rumqttc::{Client, Event, MqttOptions, Packet, QoS};
    let mut o = MqttOptions::new("watcher", "127.0.0.1", port);
    o.set_credentials("watcher", "w");
    o.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut conn) = Client::new(o, 100);
    client.subscribe("sec/#", QoS::AtLeastOnce).unwrap();
    let msgs = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = msgs.clone();
    std::thread::spawn(move || {
        for ev in conn.iter() {
            match ev {
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    sink.lock().unwrap().push(harness::Msg {
                        topic: p.topic.clone(),
                        payload: String::from_utf8_lossy(&p.payload).into_owned(),
                        retain: p.retain,
                    })
                }
                Ok(_) => {}
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    });
    Subscriber { client, msgs }
}

#[cfg(unix)]
#[test]
fn world_readable_config_with_secret_gets_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.yaml");
    std::fs::write(
        &cfg,
        "mqtt:\n  password: x\ninputs:\n  - {name: p1, type: p1, device: /dev/null}\n",
    )
    .unwrap();
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = || {
        let out = Command::new(env!("CARGO_BIN_EXE_meter2mqtt"))
            .args(["check-config", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(run().contains("chmod 600"));
    std::fs::set_permissions(&cfg, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(!run().contains("chmod 600"));
}

/// Issue 18 §3: the password reaches the broker exactly as typed: unquoted `0x1F` in the file
/// (once sent as 31) and `+007` from the environment (once sent as 7).
#[test]
fn password_is_sent_exactly_as_typed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = harness::free_port();
    let pw = d.join("passwd");
    std::fs::write(&pw, "hex:0x1F\nenv:+007\nwatcher:w\n").unwrap();
    let st = Command::new("mosquitto_passwd")
        .arg("-U")
        .arg(&pw)
        .status()
        .unwrap();
    assert!(st.success());
    let _m = mosquitto(
        d,
        &format!(
            "user root\nlistener {port} 127.0.0.1\npassword_file {}\nallow_anonymous false\n",
            pw.display()
        ),
        port,
    );
    let config = |user: &str, password: &str, device: &Path| {
        format!(
            "mqtt:\n  url: mqtt://127.0.0.1:{port}\n  username: {user}\n{password}  base_topic: sec/{user}\n\
inputs:\n  - {{name: p1, type: p1, device: {}}}\n",
            device.display()
        )
    };
    let sub = watcher(port);
    let (path, _stop) = meter();
    let from_file = Bridge::start(&config("hex", "  password: 0x1F\n", &path));
    sub.wait_until("states with the password from the file", T, |m| {
        m.iter()
            .any(|x| x.topic.starts_with("sec/hex/") && x.topic.ends_with("/state"))
    });
    drop(from_file);
    let (path, _stop) = meter();
    let from_env = Bridge::start_with_env(
        &config("env", "", &path),
        &[("METER2MQTT_MQTT__PASSWORD", "+007")],
    );
    sub.wait_until("states with the password from the environment", T, |m| {
        m.iter()
            .any(|x| x.topic.starts_with("sec/env/") && x.topic.ends_with("/state"))
    });
    assert!(!from_env.log_text().contains("refused"));
}

/// Issue 18 §11: a self-signed broker certificate given as `ca_file` gets an explanation in the
/// log, not only rustls' `Other(OtherError(CaUsedAsEndEntity))`.
#[test]
fn self_signed_broker_certificate_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // `req -x509` marks the certificate as a CA (basicConstraints CA:TRUE).
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            "self.key",
            "-out",
            "self.crt",
        ],
    );
    let tls = harness::free_port();
    let _m = mosquitto(
        d,
        &format!(
            "user root\nlistener {tls} 127.0.0.1\ncertfile {d}/self.crt\nkeyfile {d}/self.key\nallow_anonymous true\n",
            d = d.display()
        ),
        tls,
    );
    let (path, _stop) = meter();
    let bridge = Bridge::start(&format!(
        "mqtt:\n  url: mqtts://127.0.0.1:{tls}\n  tls:\n    ca_file: {}/self.crt\ninputs:\n  - {{name: p1, type: p1, device: {}}}\n",
        d.display(),
        path.display()
    ));
    let deadline = Instant::now() + T;
    while !bridge
        .log_text()
        .contains("presents a CA certificate as its own")
    {
        assert!(Instant::now() < deadline, "{}", bridge.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
}
