//! The web page in a real browser: headless Chromium (Debian's `chromium`) driven by
//! Playwright for Python (`scripts/page-check.py`, in the venv `scripts/test.sh` makes at
//! `target/pyenv`), against the real binary: `meter2mqtt demo` with its embedded broker, and
//! `meter2mqtt run` reading a P1 telegram full of markup over a real TCP socket.
//!
//! `PYENV` names another venv, `CHROMIUM` another browser. The demo's whole page is saved as
//! `target/page-demo.png`, its top as `target/page-demo-top.png` or, with
//! `PAGE_SCREENSHOT=docs/screenshot.png`, where the README shows it.
//! `PAGE_BROWSER_SKIP=1` (set by `scripts/test.sh` only when pip could not install Playwright)
//! skips with a loud message.

mod common;
mod harness;

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{Bridge, Broker};
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use meter2mqtt::sim::serve::SimStats;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The venv's python and the browser, or `None` when told to skip.
fn tools() -> Option<(PathBuf, PathBuf)> {
    if std::env::var_os("PAGE_BROWSER_SKIP").is_some_and(|v| v == "1") {
        eprintln!(
            "\n!!! page_browser SKIPPED: PAGE_BROWSER_SKIP=1 (pip could not install playwright) !!!\n"
        );
        return None;
    }
    let venv = std::env::var_os("PYENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(ROOT).join("target/pyenv"));
    let venv = if venv.is_relative() {
        Path::new(ROOT).join(venv)
    } else {
        venv
    };
    let python = venv.join("bin/python");
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let has_playwright = Command::new(&python)
        .args(["-c", "import playwright.sync_api"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_playwright,
        "no Playwright in {}: run scripts/test.sh, or \
         python3 -m venv target/pyenv && target/pyenv/bin/pip install playwright",
        venv.display()
    );
    assert!(
        chromium.exists(),
        "no browser at {}: apt-get install chromium (scripts/test.sh does)",
        chromium.display()
    );
    Some((python, chromium))
}

/// Run `scripts/page-check.py URL args...`; panics with its output unless every check held.
fn page_check(python: &Path, chromium: &Path, url: &str, args: &[&str]) -> String {
    let out = Command::new(python)
        .arg(Path::new(ROOT).join("scripts/page-check.py"))
        .arg(url)
        .arg("--chromium")
        .arg(chromium)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/page-check.py");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{text}");
    assert!(out.status.success(), "page-check failed:\n{text}");
    text
}

fn wait_for_addr(what: &str, log: impl Fn() -> String) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(a) = harness::http_listen_addr(&log()) {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: no `http listening` line:\n{}",
            log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn demo_page_in_chromium() {
    let Some((python, chromium)) = tools() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let err = dir.path().join("stderr");
    let mut demo = Command::new(env!("CARGO_BIN_EXE_meter2mqtt"))
        // Info level: the `http listening addr=` line tells the port it got.
        .args(["--log-level", "info"])
        .args([
            "demo",
            "--quiet",
            "--duration",
            "600",
            "--http",
            "127.0.0.1:0",
        ])
        .args(["--port", &harness::free_port().to_string()])
        .env("XDG_DATA_HOME", dir.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.path().join("stdout")).expect("stdout"))
        .stderr(std::fs::File::create(&err).expect("stderr"))
        .spawn()
        .expect("start meter2mqtt demo");
    let log = || std::fs::read_to_string(&err).unwrap_or_default();
    let addr = wait_for_addr("demo", log);
    let shot = Path::new(ROOT).join("target/page-demo.png");
    let top = std::env::var("PAGE_SCREENSHOT")
        .map(|p| Path::new(ROOT).join(p))
        .unwrap_or_else(|_| Path::new(ROOT).join("target/page-demo-top.png"));
    // Every simulated input has shown its meters before the browser looks (the polled heat
    // meters answer within their first 10 s poll).
    page_check(
        &python,
        &chromium,
        &format!("http://{addr}/"),
        &[
            "--wait-meters",
            "60",
            // The demo backfills its P1 meters; the polled heat meters have history once their
            // first minute is written (until then it answers 404: a console error).
            "--wait-history",
            "120",
            "--screenshot",
            &shot.display().to_string(),
            "--readme-shot",
            &top.display().to_string(),
        ],
    );
    let _ = demo.kill();
    let _ = demo.wait();
}

/// Markup a telegram can carry, in every place a meter puts text: the header (the model),
/// the equipment id (hex-encoded, as DSMR sends it) and the text message.
const MODEL: &str = "M550T-\"><img src=x onerror=window.__pwned=1>";
const ID: &str = "E<script>window.__pwned=2</script>1";
const MESSAGE: &str =
    "\"><img src=x onerror=\"window.__pwned=3\"><script>window.__pwned=4</script>";

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02X}")).collect()
}

/// The telegram for second `s` (each a new meter time, as a real meter sends).
fn telegram(s: u32) -> Vec<u8> {
    common::with_crc(&format!(
        "/ISK5\\2{MODEL}\n\n1-3:0.2.8(50)\n0-0:1.0.0(24013112{:02}{:02}W)\n0-0:96.1.1({})\n\
1-0:1.8.1(000123.450*kWh)\n1-0:1.8.2(000001.000*kWh)\n1-0:1.7.0(01.193*kW)\n\
0-0:96.13.0({})\n",
        (s / 60) % 60,
        s % 60,
        hex(ID),
        hex(MESSAGE)
    ))
}

#[test]
fn markup_from_a_telegram_shows_as_text() {
    let Some((python, chromium)) = tools() else {
        return;
    };
    let broker = Broker::start();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let stop = Arc::new(AtomicBool::new(false));
    let relay = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let Ok((mut s, _)) = listener.accept() else {
                return;
            };
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) && s.write_all(&telegram(n)).is_ok() {
                n += 1;
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };
    let bridge = Bridge::start(&format!(
        "mqtt:\n  url: {}\n  base_topic: inject\n  client_id: inject\n\
http:\n  listen: \"127.0.0.1:0\"\n\
inputs:\n  - name: p1_inject\n    type: p1\n    host: 127.0.0.1\n    port: {port}\n",
        broker.url()
    ));
    let addr = wait_for_addr("bridge", || bridge.log_text());
    page_check(
        &python,
        &chromium,
        &format!("http://{addr}/"),
        &[
            "--wait-meters",
            "30",
            // The history has the meter once its first minute is written (until then it
            // answers 404, which the browser logs as an error).
            "--wait-history",
            "90",
            "--inject",
            MESSAGE,
            "--inject",
            MODEL,
            "--inject",
            ID,
            "--screenshot",
            &Path::new(ROOT)
                .join("target/page-inject.png")
                .display()
                .to_string(),
        ],
    );
    stop.store(true, Ordering::SeqCst);
    drop(bridge);
    let _ = relay.join();
}

/// Opened as `/?token=T` (`http.auth_token` set), the page loads, keeps the token on every
/// API call and on its event stream: the meter is shown, it updates, and nothing the page
/// asked for was refused (a 401 is a console error).
#[test]
fn page_opened_with_a_token_keeps_it() {
    let Some((python, chromium)) = tools() else {
        return;
    };
    let broker = Broker::start();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    rt.spawn(meter2mqtt::sim::serve::dsmr_on_tcp(
        listener,
        DsmrMeter::new(Flavour::Dsmr5, 1_705_320_000, 1),
        Duration::from_millis(500),
        Arc::new(SimStats::default()),
    ));
    let token = "page-test-token-0123456789";
    let bridge = Bridge::start(&format!(
        "mqtt:\n  url: {}\n  base_topic: tok\n  client_id: tok\n\
http:\n  listen: \"127.0.0.1:0\"\n  auth_token: \"{token}\"\n\
inputs:\n  - name: p1_tcp\n    type: p1\n    host: 127.0.0.1\n    port: {port}\n",
        broker.url()
    ));
    let addr = wait_for_addr("bridge", || bridge.log_text());
    page_check(
        &python,
        &chromium,
        &format!("http://{addr}/?token={token}"),
        &[
            "--wait-meters",
            "30",
            "--wait-history",
            "90",
            "--skip-charts",
        ],
    );
}
