//! Test harness for the bridge: a real Mosquitto on a free loopback port, a real MQTT
//! subscriber, and the real `meter2mqtt` binary as a child process.
#![allow(dead_code)]

pub mod http;
pub mod qos2;
pub mod wire;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port")
}

fn which(tool: &str) -> Option<PathBuf> {
    for dir in [
        "/usr/sbin",
        "/usr/bin",
        "/usr/local/sbin",
        "/usr/local/bin",
        "/sbin",
    ] {
        let p = Path::new(dir).join(tool);
        if p.exists() {
            return Some(p);
        }
    }
    None
}

/// A Mosquitto broker owned by one test. Persistence is on so a restart keeps retained
/// messages and persistent sessions, as a real installation does.
pub struct Broker {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    conf: PathBuf,
}

impl Broker {
    pub fn start() -> Broker {
        Self::start_with(true)
    }

    /// A broker that keeps retained messages in memory only (`persistence false`): load
    /// benches, where saving every retained config each second would be most of its work.
    pub fn start_in_memory() -> Broker {
        Self::start_with(false)
    }

    fn start_with(persistence: bool) -> Broker {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let text = format!(
            "user root\nlistener {port} 127.0.0.1\nallow_anonymous true\npersistence {persistence}\npersistence_location {}/\nautosave_interval 1\nmax_queued_messages 100000\n",
            dir.path().display()
        );
        Self::spawn_with(dir, port, &text)
    }

    /// Write `text` (plus the log file line) as `dir`'s mosquitto.conf and start the broker.
    fn spawn_with(dir: tempfile::TempDir, port: u16, text: &str) -> Broker {
        let conf = dir.path().join("mosquitto.conf");
        let log = format!("log_dest file {}/mosquitto.log\n", dir.path().display());
        std::fs::write(&conf, format!("{text}{log}")).expect("write conf");
        let mut b = Broker {
            port,
            dir,
            child: None,
            conf,
        };
        b.spawn();
        b
    }

    /// An in-memory broker for anonymous clients with Mosquitto ACL file lines `acl` (e.g.
    /// `topic readwrite #` and a `topic deny ...`).
    pub fn start_with_acl(acl: &str) -> Broker {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let acl_file = dir.path().join("acl");
        std::fs::write(&acl_file, acl).expect("acl");
        let text = format!(
            "user root\nlistener {port} 127.0.0.1\nallow_anonymous true\nacl_file {}\n",
            acl_file.display()
        );
        Self::spawn_with(dir, port, &text)
    }

    /// A broker with two listeners: [`port`](Self::port) open to anonymous clients (the
    /// test's subscribers), and the returned port that takes only `user`/`password` (what a
    /// Home Assistant Mosquitto add-on does).
    pub fn start_with_password(user: &str, password: &str) -> (Broker, u16) {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let auth_port = free_port();
        let pw = dir.path().join("passwd");
        std::fs::write(&pw, format!("{user}:{password}\n")).expect("passwd");
        let st = Command::new(which("mosquitto_passwd").expect("mosquitto_passwd"))
            .arg("-U")
            .arg(&pw)
            .status()
            .expect("mosquitto_passwd");
        assert!(st.success(), "mosquitto_passwd -U");
        let text = format!(
            "user root\nper_listener_settings true\nlistener {port} 127.0.0.1\nallow_anonymous true\nlistener {auth_port} 127.0.0.1\nallow_anonymous false\npassword_file {}\n",
            pw.display()
        );
        (Self::spawn_with(dir, port, &text), auth_port)
    }

    fn spawn(&mut self) {
        let bin = which("mosquitto").expect(
            "mosquitto is not installed: run the README test command (scripts/test.sh), which installs it",
        );
        let child = Command::new(bin)
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Stop the broker (SIGTERM, so it saves its persistence file like a service restart).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            signal(c.id(), 15);
            let _ = c.wait();
        }
    }

    /// Start again after [`stop`](Self::stop), on the same port and persistence file.
    pub fn start_again(&mut self) {
        self.spawn();
    }

    /// The broker's process id while it runs (for its CPU in the load benches).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn signal(pid: u32, sig: i32) {
    // SAFETY: sending a signal to a child process we started.
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

/// One received message.
#[derive(Debug, Clone)]
pub struct Msg {
    pub topic: String,
    pub payload: String,
    pub retain: bool,
}

/// A real MQTT client that records everything on its subscriptions.
pub struct Subscriber {
    pub client: Client,
    pub msgs: Arc<Mutex<Vec<Msg>>>,
}

impl Subscriber {
    pub fn connect(port: u16, id: &str, topics: &[&str]) -> Subscriber {
        Self::connect_with(port, id, topics, true)
    }

    /// `clean = false`: a persistent session that the broker keeps across our disconnects.
    pub fn connect_with(port: u16, id: &str, topics: &[&str], clean: bool) -> Subscriber {
        let mut o = MqttOptions::new(id, "127.0.0.1", port);
        o.set_keep_alive(Duration::from_secs(5));
        o.set_clean_session(clean);
        o.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut conn) = Client::new(o, 10_000);
        for t in topics {
            client.subscribe(*t, QoS::AtLeastOnce).expect("subscribe");
        }
        let msgs = Arc::new(Mutex::new(Vec::new()));
        let sink = msgs.clone();
        let subscribed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = subscribed.clone();
        let again = client.clone();
        let topics_again: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        let mut connections = 0;
        std::thread::spawn(move || {
            for ev in conn.iter() {
                match ev {
                    Ok(Event::Incoming(Packet::ConnAck(_))) => {
                        connections += 1;
                        // rumqttc does not resubscribe after a reconnect; a broker that
                        // restored the session keeps its queue either way.
                        if connections > 1 {
                            for t in &topics_again {
                                let _ = again.try_subscribe(t.clone(), QoS::AtLeastOnce);
                            }
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        if let Ok(mut v) = sink.lock() {
                            v.push(Msg {
                                topic: p.topic.clone(),
                                payload: String::from_utf8_lossy(&p.payload).into_owned(),
                                retain: p.retain,
                            });
                        }
                    }
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        flag.store(true, std::sync::atomic::Ordering::SeqCst)
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while !subscribed.load(std::sync::atomic::Ordering::SeqCst) {
            assert!(Instant::now() < deadline, "subscriber could not subscribe");
            std::thread::sleep(Duration::from_millis(10));
        }
        Subscriber { client, msgs }
    }

    pub fn all(&self) -> Vec<Msg> {
        self.msgs.lock().unwrap().clone()
    }

    pub fn on(&self, topic: &str) -> Vec<Msg> {
        self.all()
            .into_iter()
            .filter(|m| m.topic == topic)
            .collect()
    }

    /// Wait until `pred` holds over the messages so far; panics with `what` on timeout.
    pub fn wait_until(&self, what: &str, timeout: Duration, pred: impl Fn(&[Msg]) -> bool) {
        wait_for(&self.msgs, what, timeout, pred)
    }

    pub fn publish(&self, topic: &str, payload: &str, retain: bool) {
        self.client
            .publish(topic, QoS::AtLeastOnce, retain, payload.as_bytes().to_vec())
            .expect("publish");
    }
}

/// Wait until `pred` holds over the messages so far; panics with `what` on timeout.
pub fn wait_for(
    msgs: &Mutex<Vec<Msg>>,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&[Msg]) -> bool,
) {
    let all = || msgs.lock().unwrap().clone();
    let deadline = Instant::now() + timeout;
    loop {
        if pred(&all()) {
            return;
        }
        if Instant::now() > deadline {
            let msgs = all();
            let tail: Vec<String> = msgs
                .iter()
                .rev()
                .take(15)
                .map(|m| {
                    format!(
                        "{} {}",
                        m.topic,
                        m.payload.chars().take(120).collect::<String>()
                    )
                })
                .collect();
            panic!(
                "timed out waiting for {what}; {} messages, last: {tail:#?}",
                msgs.len()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The real binary running `meter2mqtt run` with a config written for the test.
pub struct Bridge {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub log: PathBuf,
}

impl Bridge {
    pub fn start(config_yaml: &str) -> Bridge {
        Self::start_logging_to(config_yaml, &[], None)
    }

    /// Like [`start`](Self::start), with stderr a pipe (`child.stderr`) instead of the log
    /// file, as under `meter2mqtt run 2>&1 | logger`.
    pub fn start_piped(config_yaml: &str) -> Bridge {
        Self::start_logging_to(config_yaml, &[], Some(Stdio::piped()))
    }

    /// [`Bridge::start`] with extra `METER2MQTT_*` environment variables for the child only.
    pub fn start_with_env(config_yaml: &str, env: &[(&str, &str)]) -> Bridge {
        Self::start_logging_to(config_yaml, env, None)
    }

    fn start_logging_to(config_yaml: &str, env: &[(&str, &str)], stderr: Option<Stdio>) -> Bridge {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = dir.path().join("config.yaml");
        std::fs::write(&cfg, config_yaml).expect("write config");
        let log = dir.path().join("bridge.log");
        let stderr =
            stderr.unwrap_or_else(|| std::fs::File::create(&log).expect("log file").into());
        // Tests start many bridges at once: the web output listens on a port of its own
        // (logged as `http listening addr=...`), unless the test chooses one.
        let http = (!env.iter().any(|(k, _)| *k == "METER2MQTT_HTTP__LISTEN"))
            .then_some(("METER2MQTT_HTTP__LISTEN", "127.0.0.1:0"));
        let child = Command::new(env!("CARGO_BIN_EXE_meter2mqtt"))
            .args(["--log-level", "meter2mqtt=debug,info", "run", "--config"])
            .arg(&cfg)
            // Each bridge its own history file, in its temp dir (never the user's home).
            .env("METER2MQTT_DATA_DIR", dir.path().join("data"))
            .envs(http)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start meter2mqtt");
        Bridge { child, dir, log }
    }

    /// The bridge's history file (under its `data_dir`, a temp dir).
    pub fn history_path(&self) -> PathBuf {
        self.dir.path().join("data").join("history.sqlite3")
    }

    /// `meter2mqtt addon` with `options_json` as its options file and extra environment
    /// variables (`SUPERVISOR_URL`, `SUPERVISOR_TOKEN`), logging at debug level; its data
    /// directory is the test's temp dir and its web page on a free port (never `/data` or
    /// 8099, which parallel tests would share).
    pub fn start_addon(options_json: &str, env: &[(&str, &str)]) -> Bridge {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = dir.path().join("options.json");
        std::fs::write(&options, options_json).expect("write options");
        let log = dir.path().join("bridge.log");
        let child = Command::new(env!("CARGO_BIN_EXE_meter2mqtt"))
            .args([
                "--log-level",
                "debug",
                "addon",
                "--http-listen",
                "127.0.0.1:0",
            ])
            .arg("--data-dir")
            .arg(dir.path())
            .arg("--options")
            .arg(&options)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start meter2mqtt addon");
        Bridge { child, dir, log }
    }

    /// The configuration file the bridge was started with (rewrite it, then SIGHUP).
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    /// Lines of the log so far that contain `needle`.
    pub fn log_lines_with(&self, needle: &str) -> usize {
        self.log_text()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// Wait until the log contains `needle`; panics with the log on timeout.
    pub fn wait_log(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.log_text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {needle:?} in the log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// QoS 2 PUBLISHes and PUBRELs resent in resumed sessions: the sums over the bridge's
    /// "QoS 2 exchanges to resume publishes=.. pubrels=.." debug lines.
    pub fn resumed_qos2_exchanges(&self) -> (u64, u64) {
        let field = |line: &str, key: &str| -> u64 {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        self.log_text()
            .lines()
            .filter(|l| l.contains("QoS 2 exchanges to resume"))
            .fold((0, 0), |(p, r), l| {
                (p + field(l, "publishes="), r + field(l, "pubrels="))
            })
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait; returns the exit code.
    pub fn terminate(&mut self) -> Option<i32> {
        signal(self.child.id(), 15);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident set size of a process in KiB (`VmRSS`), 0 if it is gone.
pub fn rss_kib(pid: u32) -> u64 {
    proc_status(pid, "VmRSS:")
}

/// A `kB` field of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`).
pub fn proc_status(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU time of a process in clock ticks (1/100 s).
pub fn cpu_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_string();
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

/// Parse a JSON payload.
pub fn json(m: &Msg) -> serde_json::Value {
    serde_json::from_str(&m.payload).unwrap_or(serde_json::Value::Null)
}

/// `GET path` from an HTTP server at `addr` (`127.0.0.1:8089`), over a fresh connection:
/// the status and the body (HTTP/1.1, `Connection: close`, so the body ends with the stream).
#[allow(dead_code)]
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect(addr).expect("connect to the HTTP server");
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .expect("request");
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("response");
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The web server's address from a log's `http listening addr=...` line (tests let it listen
/// on port 0), once the line is there.
pub fn http_listen_addr(log: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains("http listening"))?;
    let rest = line.split("addr=").nth(1)?;
    Some(rest.split_whitespace().next()?.to_string())
}
