//! Re-serving P1 telegrams over TCP (issue 15), end to end: the real `meter2mqtt` binary
//! reading a real pseudo-terminal, a real Mosquitto, and real clients on the served port:
//! Python's `dsmr_parser` (the library Home Assistant's DSMR integration uses) with its own
//! TCP reader, `socat`, and plain sockets.
//!
//! The Python client runs from the venv `scripts/test.sh` creates (`PYENV`, default
//! `target/pyenv`, with `dsmr-parser`). Prints one `SERVE` line with the bridge's memory with
//! 33 clients: `cargo test --test p1_serve -- --nocapture`.

mod common;
mod harness;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use harness::{json, Bridge, Broker, Subscriber};
use meter2mqtt::decimal::Decimal;
use meter2mqtt::protocol::dsmr::crc16_arc;
use meter2mqtt::serve::{QUEUE_BYTES, QUEUE_TELEGRAMS};
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use meter2mqtt::sim::pty::Pty;

const T: Duration = Duration::from_secs(30);
/// 2024-01-15 12:00:00 (meter local time): the simulated house exports around noon.
const CLOCK: i64 = 1_705_320_000;

fn config(broker: &Broker, base: &str, inputs: &str) -> String {
    format!(
        "mqtt:\n  url: {}\n  base_topic: {base}\n  client_id: {base}\n  keepalive: 5s\n\
homeassistant:\n  discovery: false\n\
inputs:\n{inputs}",
        broker.url()
    )
}

fn p1_input(name: &str, pty: &Pty, extra: &str) -> String {
    format!(
        "  - name: {name}\n    type: p1\n    device: {}\n    preset: dsmr5\n    serve: \"127.0.0.1:0\"\n{extra}",
        pty.slave_path.display()
    )
}

/// The address the bridge serves `input` on, from its `serving P1 ... addr=` log line.
fn served_port(bridge: &Bridge, input: &str) -> u16 {
    let needle = format!("serving P1 telegrams over TCP input={input} ");
    bridge.wait_log(&needle, T);
    let log = bridge.log_text();
    let line = log.lines().find(|l| l.contains(&needle)).unwrap();
    line.split_whitespace()
        .find_map(|w| w.strip_prefix("addr=127.0.0.1:"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no addr= in {line:?}"))
}

/// Wait until the bridge logged `n` lines containing `needle`.
fn wait_lines(bridge: &Bridge, needle: &str, n: usize) {
    let deadline = Instant::now() + T;
    while bridge.log_lines_with(needle) < n {
        assert!(
            Instant::now() < deadline,
            "waiting for {n} x {needle:?}:\n{}",
            bridge.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A plain TCP client reading into a buffer on its own thread until the server closes.
struct Reader {
    handle: std::thread::JoinHandle<Vec<u8>>,
}

impl Reader {
    fn connect(port: u16) -> Reader {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(T)).unwrap();
        Reader::from_stream(s)
    }

    /// [`Reader::connect`], and a thread that sends `n` bytes of junk on the same connection
    /// (returning how many it could send).
    fn connect_talking(port: u16, n: usize) -> (Reader, std::thread::JoinHandle<usize>) {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(T)).unwrap();
        let mut w = s.try_clone().unwrap();
        w.set_write_timeout(Some(T)).unwrap();
        let talker = std::thread::spawn(move || {
            let chunk = b"/junk!\r\n0-0:96.1.1(xx)\r\n".repeat(2048);
            let mut sent = 0;
            while sent < n {
                let k = chunk.len().min(n - sent);
                if w.write_all(&chunk[..k]).is_err() {
                    break;
                }
                sent += k;
            }
            sent
        });
        (Reader::from_stream(s), talker)
    }

    fn from_stream(mut s: TcpStream) -> Reader {
        let handle = std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        Reader { handle }
    }

    /// Everything read until the bridge closed the connection (the bridge must be stopped or
    /// have dropped this client).
    fn bytes(self) -> Vec<u8> {
        self.handle.join().unwrap()
    }
}

fn feed(pty: &mut Pty, bytes: &[u8]) {
    pty.master.write_all(bytes).unwrap();
    pty.master.flush().unwrap();
}

/// A DSMR 5 telegram of `meter` with a text message of `chars` characters (DSMR 5.0.2 §6.12:
/// `0-0:96.13.0`, hex-encoded, up to 1024 characters), its CRC recomputed.
fn with_message(t: &[u8], chars: usize) -> Vec<u8> {
    let text = String::from_utf8(t.to_vec()).unwrap();
    let hex: String = "meter2mqtt "
        .bytes()
        .cycle()
        .take(chars)
        .map(|b| format!("{b:02X}"))
        .collect();
    let body = text.replace("0-0:96.13.0()", &format!("0-0:96.13.0({hex})"));
    let bang = body.rfind('!').unwrap();
    let head = &body.as_bytes()[..=bang];
    [head, format!("{:04X}\r\n", crc16_arc(head)).as_bytes()].concat()
}

fn pyenv_python() -> PathBuf {
    let env = std::env::var("PYENV").unwrap_or_else(|_| "target/pyenv".into());
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(env);
    dir.join("bin/python")
}

/// `dsmr_parser`'s own TCP reader (`dsmr_parser.clients.socket_.SocketReader`, DSMR 5
/// specification) on the served port: one JSON object per telegram it accepted (CRC checked by
/// it), `{name: [value, unit]}`.
const DSMR_PARSER_CLIENT: &str = r#"
import json, sys
from dsmr_parser import telegram_specifications
from dsmr_parser.clients.socket_ import SocketReader
reader = SocketReader(sys.argv[1], int(sys.argv[2]), telegram_specifications.V5)
n = int(sys.argv[3])
print("connecting", flush=True)
for i, t in enumerate(reader.read()):
    out = {}
    for name, obj in t:
        v = getattr(obj, "value", None)
        if v is not None and not isinstance(obj, list):
            out[name] = [str(v), getattr(obj, "unit", None)]
    for dev in getattr(t, "MBUS_DEVICES", []):
        for name, obj in dev:
            out["CH%d_%s" % (dev.channel_id, name)] = [str(obj.value), getattr(obj, "unit", None)]
    out["UNIX_TIME"] = [str(int(t.P1_MESSAGE_TIMESTAMP.value.timestamp())), "s"]
    print(json.dumps(out), flush=True)
    if i + 1 >= n:
        break
"#;

fn dsmr_parser_client(port: u16, n: usize) -> Option<Child> {
    let py = pyenv_python();
    let ok = py.exists()
        && Command::new(&py)
            .args(["-c", "import dsmr_parser"])
            .status()
            .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var_os("PYENV_OFFLINE").is_some() {
            eprintln!("\n\n!!! SKIPPED the dsmr_parser client: pip had no network (PYENV_OFFLINE) !!!\n\n");
            return None;
        }
        panic!(
            "{} has no dsmr_parser: run scripts/test.sh once (it creates the venv with pip install dsmr-parser)",
            py.display()
        );
    }
    Some(
        Command::new(py)
            .args([
                "-c",
                DSMR_PARSER_CLIENT,
                "127.0.0.1",
                &port.to_string(),
                &n.to_string(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start python"),
    )
}

fn socat_client(port: u16, out: &std::path::Path) -> Child {
    let socat = ["/usr/bin/socat", "/usr/local/bin/socat"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("socat is not installed: run scripts/test.sh, which installs it");
    Command::new(socat)
        .args([
            "-u",
            &format!("TCP:127.0.0.1:{port}"),
            &format!("CREATE:{}", out.display()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start socat")
}

fn dec(s: &str) -> Decimal {
    Decimal::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

/// What `dsmr_parser` read, against the state the bridge published for the same telegram:
/// dsmr_parser keeps kW, the bridge publishes W.
fn same_values(py: &serde_json::Value, state: &serde_json::Value, gas: &serde_json::Value) {
    let v = |name: &str| -> Decimal {
        dec(py[name][0]
            .as_str()
            .unwrap_or_else(|| panic!("{name} missing in {py}")))
    };
    let s = |obj: &serde_json::Value, key: &str| -> Decimal { dec(&obj[key].to_string()) };
    for (name, key, shift) in [
        ("ELECTRICITY_USED_TARIFF_1", "energy_import_t1", 0),
        ("ELECTRICITY_USED_TARIFF_2", "energy_import_t2", 0),
        ("ELECTRICITY_DELIVERED_TARIFF_1", "energy_export_t1", 0),
        ("ELECTRICITY_DELIVERED_TARIFF_2", "energy_export_t2", 0),
        ("CURRENT_ELECTRICITY_USAGE", "power_import", 3),
        ("CURRENT_ELECTRICITY_DELIVERY", "power_export", 3),
        (
            "INSTANTANEOUS_ACTIVE_POWER_L1_POSITIVE",
            "power_import_l1",
            3,
        ),
        (
            "INSTANTANEOUS_ACTIVE_POWER_L1_NEGATIVE",
            "power_export_l1",
            3,
        ),
        ("INSTANTANEOUS_VOLTAGE_L1", "voltage_l1", 0),
        ("INSTANTANEOUS_CURRENT_L1", "current_l1", 0),
        ("SHORT_POWER_FAILURE_COUNT", "power_failures", 0),
        ("LONG_POWER_FAILURE_COUNT", "long_power_failures", 0),
    ] {
        let want = v(name).shift(shift).unwrap();
        assert_eq!(
            want.cmp(&s(state, key)),
            std::cmp::Ordering::Equal,
            "{name} / {key}: {py} vs {state}"
        );
    }
    let time = state["time"].as_str().unwrap();
    assert_eq!(
        v("UNIX_TIME"),
        Decimal::from_int(common::iso(time).0),
        "time {time}"
    );
    // The bridge's own computed net power, from what dsmr_parser read (kW with 3 decimals:
    // whole watts).
    let watts = |name: &str| {
        let w = v(name).shift(3).unwrap();
        assert_eq!(w.exponent(), 0, "{name}: {w}");
        w.mantissa()
    };
    let net = watts("CURRENT_ELECTRICITY_USAGE") - watts("CURRENT_ELECTRICITY_DELIVERY");
    assert_eq!(
        s(state, "power_net"),
        Decimal::from_int(net),
        "power_net: {state}"
    );
    assert_eq!(
        v("CH1_MBUS_METER_READING").cmp(&s(gas, "gas")),
        std::cmp::Ordering::Equal,
        "gas: {py} vs {gas}"
    );
}

/// dsmr_parser, socat and a plain socket each get every accepted telegram byte for byte, and
/// nothing of the junk between them (line noise, a telegram with a broken CRC, a telegram cut
/// off by the next one); dsmr_parser decodes the same values the bridge published on MQTT.
#[test]
fn socat_dsmr_parser_and_a_plain_client_get_the_accepted_telegrams_byte_for_byte() {
    const N: usize = 8;
    let broker = Broker::start();
    let mut pty = Pty::open().unwrap();
    let sub = Subscriber::connect(broker.port, "t-sub", &["srv/#"]);
    let mut bridge = Bridge::start(&config(&broker, "srv", &p1_input("p1", &pty, "")));
    let port = served_port(&bridge, "p1");
    let dir = tempfile::tempdir().unwrap();
    let socat_out = dir.path().join("socat.out");
    let mut socat = socat_client(port, &socat_out);
    // The plain client also talks: 16 MiB the bridge must read and drop (were they not read,
    // the client's writes would block once the socket buffers, at most 4 MiB here, are full).
    let (plain, talker) = Reader::connect_talking(port, 16 << 20);
    let mut python = dsmr_parser_client(port, N);
    let clients = 2 + usize::from(python.is_some());
    wait_lines(&bridge, "P1 client connected", clients);

    let mut meter = DsmrMeter::new(Flavour::Dsmr5, CLOCK, 1);
    let (eid, gid) = (meter.equipment_id.clone(), meter.gas_id.clone());
    let mut expected = Vec::new();
    for i in 0..N {
        let t = meter.telegram(1);
        let junk: Vec<u8> = match i % 4 {
            0 => b"\x00\xff garbage \r\n/!\r\n".to_vec(),
            1 => {
                // A telegram whose CRC is wrong: rejected, never served.
                let mut bad = meter.telegram(1);
                let k = bad.len() - 8;
                bad[k] ^= 0x01;
                bad
            }
            // Cut off: the next telegram starts on a new line before its `!`.
            2 => [&meter.telegram(1)[..300], b"\r\n"].concat(),
            _ => Vec::new(),
        };
        feed(&mut pty, &junk);
        std::thread::sleep(Duration::from_millis(50));
        feed(&mut pty, &t);
        expected.extend_from_slice(&t);
        std::thread::sleep(Duration::from_millis(250));
    }
    let state_topic = format!("srv/{eid}/state");
    sub.wait_until("every reading on MQTT", T, |m| {
        m.iter().filter(|m| m.topic == state_topic).count() >= N
    });
    std::thread::sleep(Duration::from_millis(300));
    let py_lines = python.take().map(|p| {
        let out = p.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    });
    bridge.terminate();
    assert_eq!(
        talker.join().unwrap(),
        16 << 20,
        "the bridge read what the client sent"
    );
    let got = plain.bytes();
    let _ = socat.wait();
    let socat_got = std::fs::read(&socat_out).unwrap();
    assert_eq!(got.len(), expected.len(), "plain client");
    assert!(
        got == expected,
        "the plain client's bytes differ from the meter's"
    );
    assert!(
        socat_got == expected,
        "socat's bytes differ from the meter's ({} vs {} bytes)",
        socat_got.len(),
        expected.len()
    );

    let states: Vec<_> = sub.on(&state_topic).iter().map(json).collect();
    let gas: Vec<_> = sub
        .on(&format!("srv/{gid}/state"))
        .iter()
        .map(json)
        .collect();
    assert_eq!(states.len(), N, "one state per accepted telegram");
    if let Some(lines) = py_lines {
        let py: Vec<serde_json::Value> = lines
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(py.len(), N, "dsmr_parser read every telegram: {lines}");
        for ((p, s), g) in py.iter().zip(&states).zip(&gas) {
            same_values(p, s, g);
        }
    }
}

/// 33 clients at once (`serve_clients: 33`) while one more never reads: the 32 readers and
/// MQTT get every telegram, the stalled one is dropped once its queue is full (one log line
/// with what it held, within [`QUEUE_TELEGRAMS`] and [`QUEUE_BYTES`]), and a 34th client is
/// refused. Telegrams of 3 KiB (a 1024-character text message) fill the stalled client's
/// buffers within seconds; they come at 9 a second, under the input's rate cap.
#[test]
fn thirty_two_readers_lose_nothing_while_a_stalled_client_is_dropped() {
    const N: usize = 60;
    const READERS: usize = 32;
    let broker = Broker::start();
    let mut pty = Pty::open().unwrap();
    let sub = Subscriber::connect(broker.port, "t-sub", &["srv/#"]);
    let mut bridge = Bridge::start(&config(
        &broker,
        "srv",
        &p1_input("p1", &pty, "    serve_clients: 33\n"),
    ));
    let port = served_port(&bridge, "p1");
    let pid = bridge.child.id();
    std::thread::sleep(Duration::from_millis(500));
    let rss_before = harness::rss_kib(pid);
    // The stalled client: a small receive buffer, and it never reads.
    let stalled = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    stalled.set_recv_buffer_size(4096).unwrap();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    stalled.connect(&addr.into()).unwrap();
    let stalled: TcpStream = stalled.into();
    let stalled_peer = stalled.local_addr().unwrap().to_string();
    let readers: Vec<Reader> = (0..READERS).map(|_| Reader::connect(port)).collect();
    wait_lines(&bridge, "P1 client connected", READERS + 1);
    // One too many: accepted by the kernel, closed by the bridge at once.
    let mut extra = TcpStream::connect(("127.0.0.1", port)).unwrap();
    extra.set_read_timeout(Some(T)).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(
        extra.read(&mut buf).unwrap_or(0),
        0,
        "the 34th client is refused"
    );
    bridge.wait_log("P1 client refused: serve_clients", T);

    let mut meter = DsmrMeter::new(Flavour::Dsmr5, CLOCK, 1);
    let eid = meter.equipment_id.clone();
    let mut expected = Vec::new();
    let mut rss_peak = 0;
    let start = Instant::now();
    for i in 0..N {
        let t = with_message(&meter.telegram(1), 1024);
        assert!(t.len() > 2048);
        feed(&mut pty, &t);
        expected.extend_from_slice(&t);
        let due = start + Duration::from_millis(110 * (i as u64 + 1));
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        rss_peak = rss_peak.max(harness::rss_kib(pid));
    }
    let state_topic = format!("srv/{eid}/state");
    sub.wait_until("every reading on MQTT", T, |m| {
        m.iter().filter(|m| m.topic == state_topic).count() >= N
    });
    let line = bridge
        .log_text()
        .lines()
        .find(|l| l.contains("P1 client does not read") && l.contains(&stalled_peer))
        .unwrap_or_else(|| panic!("the stalled client was not dropped:\n{}", bridge.log_text()))
        .to_string();
    assert_eq!(
        bridge.log_lines_with("P1 client does not read"),
        1,
        "only the stalled one"
    );
    let field = |k: &str| -> usize {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k)?.strip_prefix('=')?.parse().ok())
            .unwrap_or_else(|| panic!("no {k} in {line}"))
    };
    assert!(field("queued_telegrams") <= QUEUE_TELEGRAMS, "{line}");
    assert!(field("queued_bytes") <= QUEUE_BYTES, "{line}");
    // What the stalled client can still read is what the kernel held for it: then the end.
    let mut stalled = stalled;
    stalled.set_read_timeout(Some(T)).unwrap();
    let mut held = Vec::new();
    stalled.read_to_end(&mut held).unwrap();
    assert!(
        held.len() < expected.len() / 2,
        "{} of {} bytes",
        held.len(),
        expected.len()
    );
    assert!(expected.starts_with(&held[..held.len().min(64)]));
    std::thread::sleep(Duration::from_millis(300));
    let rss_33 = harness::rss_kib(pid);
    bridge.terminate();
    for (i, r) in readers.into_iter().enumerate() {
        let got = r.bytes();
        assert!(
            got == expected,
            "reader {i}: {} of {} bytes",
            got.len(),
            expected.len()
        );
    }
    assert_eq!(sub.on(&state_topic).len(), N, "MQTT lost nothing");
    println!(
        "SERVE rss_kib before_clients={rss_before} with_33_clients={rss_33} peak={rss_peak} \
         telegram_bytes={} telegrams={N} stalled_held_bytes={} {line}",
        expected.len() / N,
        held.len()
    );
}

/// A client that connects while a telegram is half-way through the input gets that telegram
/// whole (it is served only once complete) and the ones after it: the stream starts at `/`.
#[test]
fn a_client_connecting_mid_telegram_gets_only_whole_telegrams() {
    let broker = Broker::start();
    let mut pty = Pty::open().unwrap();
    let sub = Subscriber::connect(broker.port, "t-sub", &["srv/#"]);
    let mut bridge = Bridge::start(&config(&broker, "srv", &p1_input("p1", &pty, "")));
    let port = served_port(&bridge, "p1");
    let early = Reader::connect(port);
    wait_lines(&bridge, "P1 client connected", 1);
    let mut meter = DsmrMeter::new(Flavour::Dsmr5, CLOCK, 1);
    let topic = format!("srv/{}/state", meter.equipment_id);
    let published = |n: usize| {
        sub.wait_until("the state", T, |m| {
            m.iter().filter(|m| m.topic == topic).count() >= n
        })
    };
    let (t1, t2, t3) = (meter.telegram(1), meter.telegram(1), meter.telegram(1));
    feed(&mut pty, &t1);
    published(1);
    feed(&mut pty, &t2[..t2.len() / 2]);
    std::thread::sleep(Duration::from_millis(300));
    let late = Reader::connect(port);
    wait_lines(&bridge, "P1 client connected", 2);
    feed(&mut pty, &t2[t2.len() / 2..]);
    published(2);
    feed(&mut pty, &t3);
    published(3);
    std::thread::sleep(Duration::from_millis(300));
    bridge.terminate();
    assert!(early.bytes() == [&t1[..], &t2, &t3].concat());
    let got = late.bytes();
    assert!(
        got == [&t2[..], &t3].concat(),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
}

/// `serve_allow` lets in only the listed blocks; a busy port is an error in the log and the
/// bridge still publishes that input's readings on MQTT.
#[test]
fn serve_allow_refuses_others_and_a_busy_port_leaves_the_bridge_running() {
    let broker = Broker::start();
    let (mut open, mut closed, mut busy) = (
        Pty::open().unwrap(),
        Pty::open().unwrap(),
        Pty::open().unwrap(),
    );
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port();
    let sub = Subscriber::connect(broker.port, "t-sub", &["srv/#"]);
    let inputs = [
        p1_input("open", &open, "    serve_allow: [\"127.0.0.0/8\"]\n"),
        p1_input("closed", &closed, "    serve_allow: [\"192.0.2.0/24\", \"2001:db8::/32\"]\n"),
        format!(
            "  - name: busy\n    type: p1\n    device: {}\n    preset: dsmr5\n    serve: \"127.0.0.1:{taken_port}\"\n",
            busy.slave_path.display()
        ),
    ]
    .concat();
    let mut bridge = Bridge::start(&config(&broker, "srv", &inputs));
    let (open_port, closed_port) = (served_port(&bridge, "open"), served_port(&bridge, "closed"));
    bridge.wait_log("cannot serve P1 telegrams over TCP", T);
    let allowed = Reader::connect(open_port);
    let refused = Reader::connect(closed_port);
    bridge.wait_log("P1 client refused: its address is not in serve_allow", T);
    wait_lines(&bridge, "P1 client connected", 1);
    let meters: Vec<DsmrMeter> = (1..=3)
        .map(|s| DsmrMeter::new(Flavour::Dsmr5, CLOCK, s))
        .collect();
    let ids: Vec<String> = meters.iter().map(|m| m.equipment_id.clone()).collect();
    let mut sent = Vec::new();
    for (pty, mut m) in [&mut open, &mut closed, &mut busy].into_iter().zip(meters) {
        let t = m.telegram(1);
        feed(pty, &t);
        sent.push(t);
    }
    for id in &ids {
        let topic = format!("srv/{id}/state");
        sub.wait_until(&topic, T, |m| m.iter().any(|m| m.topic == topic));
    }
    assert!(bridge.alive());
    std::thread::sleep(Duration::from_millis(300));
    bridge.terminate();
    assert!(allowed.bytes() == sent[0]);
    assert!(refused.bytes().is_empty(), "a refused client gets nothing");
    drop(taken);
}

/// An encrypted input (Luxembourg Smarty) serves the decrypted telegram: the plain text from
/// `/` to its CRC that the GCM frame carries, and the line end after it (the frame has none).
/// The frame is the Luxembourg specification's example (corpus athombv `encrypted/`, with the
/// keys its tests use).
#[test]
fn an_encrypted_input_serves_the_decrypted_telegram() {
    use meter2mqtt::protocol::dsmr::{decrypt, Keys};
    let (dkey, akey) = (
        "0123456789abcdef0123456789abcdef",
        "ffeeddccbbaa99887766554433221100",
    );
    let hex = String::from_utf8(common::read(
        "athombv_node_dsmr_parser/encrypted/dsmr-luxembourgh-spec-example-with-aad.txt",
    ))
    .unwrap();
    let hex: String = hex.split_whitespace().collect();
    let frame: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let plain = decrypt(&frame, &Keys::from_hex(dkey, Some(akey)).unwrap()).unwrap();
    assert!(plain.starts_with(b"/Lux5") && plain.ends_with(b"!8B52"));
    let broker = Broker::start();
    let mut pty = Pty::open().unwrap();
    let keys = format!("    decryption_key: {dkey}\n    authentication_key: {akey}\n");
    let mut bridge = Bridge::start(&config(&broker, "srv", &p1_input("lux", &pty, &keys)));
    let port = served_port(&bridge, "lux");
    let client = Reader::connect(port);
    wait_lines(&bridge, "P1 client connected", 1);
    feed(&mut pty, &frame);
    bridge.wait_log("inner CRC mismatch", T);
    std::thread::sleep(Duration::from_millis(500));
    bridge.terminate();
    let got = client.bytes();
    assert!(
        got == [&plain[..], b"\r\n"].concat(),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
}
