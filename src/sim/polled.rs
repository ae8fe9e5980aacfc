//! Polled-meter simulators (KMP, MULTICAL `/#n`, IEC 62056-21) on real wires.
//!
//! The simulator cores are sans-IO; this module gives them a pseudo-terminal (or, for KMP, a
//! TCP listener like ser2net in front of an IR head). For the baud-switching protocols the
//! pty's current line settings are read from the terminal itself, so a reply is only
//! delivered when the bridge really switched its port to the speed the meter sends at.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::kmp::KmpSimulator;
use super::pty::Pty;
use super::{receives, SimReply};
use crate::protocol::LineSettings;

/// A shared simulator, so tests and the demo can flip its fault knobs while it runs.
pub type Shared<T> = Arc<Mutex<T>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Wait up to 100 ms for the master side to become readable.
fn readable(pty: &Pty) -> bool {
    let mut fds = libc::pollfd {
        fd: pty.master.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let n = unsafe { libc::poll(&mut fds, 1, 100) };
    n > 0 && fds.revents & libc::POLLIN != 0
}

/// Serve a request/response simulator on a new pty until `stop` is set. `respond` gets the
/// line settings the bridge has set and the bytes it sent.
///
/// Linux ptys keep the speed a program sets but not the character format (the kernel ignores
/// CSIZE and PARENB on a pty), so only the speed is enforced: `format` is the meter's own
/// data bits, parity and stop bits, assumed on both sides.
pub fn serve_on_pty<F>(
    format: (u8, crate::protocol::Parity, u8),
    mut respond: F,
    stop: Arc<AtomicBool>,
) -> std::io::Result<(PathBuf, std::thread::JoinHandle<()>)>
where
    F: FnMut(LineSettings, &[u8]) -> Vec<SimReply> + Send + 'static,
{
    let pty = Pty::open()?;
    let path = pty.slave_path.clone();
    let handle = std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        while !stop.load(Ordering::Relaxed) {
            if !readable(&pty) {
                continue;
            }
            let n = match (&pty.master).read(&mut buf) {
                Ok(0) | Err(_) => {
                    // Nobody has the port open (EIO on a pty master): wait for the bridge.
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                Ok(n) => n,
            };
            let speed = |pty: &Pty| {
                let baud = pty.line_settings().map(|l| l.baud).unwrap_or(0);
                LineSettings::new(baud, format.0, format.1, format.2)
            };
            let line = speed(&pty);
            for reply in respond(line, buf.get(..n).unwrap_or_default()) {
                std::thread::sleep(reply.delay);
                if receives(speed(&pty), reply.line) {
                    let _ = (&pty.master).write_all(&reply.bytes);
                }
            }
        }
    });
    Ok((path, handle))
}

/// The KMP simulator on a pty. KMP does not switch speed, so replies go out as they are.
pub fn kmp_on_pty(
    sim: Shared<KmpSimulator>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<(PathBuf, std::thread::JoinHandle<()>)> {
    let mut last = Instant::now();
    let f = crate::protocol::kmp::DEFAULT_LINE;
    serve_on_pty(
        (f.data_bits, f.parity, f.stop_bits),
        move |line, bytes| {
            let mut s = lock(&sim);
            s.advance(last.elapsed().as_secs());
            last = Instant::now();
            let out = s.on_input(bytes);
            if out.is_empty() {
                Vec::new()
            } else {
                vec![SimReply {
                    bytes: out,
                    line,
                    delay: Duration::from_millis(20),
                }]
            }
        },
        stop,
    )
}

/// The KMP simulator behind a TCP listener (an IR head on a remote Pi with ser2net).
pub async fn kmp_on_tcp(listener: TcpListener, sim: Shared<KmpSimulator>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let sim = sim.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            loop {
                let n = match sock.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let out = lock(&sim).on_input(buf.get(..n).unwrap_or_default());
                if !out.is_empty() && sock.write_all(&out).await.is_err() {
                    break;
                }
            }
        });
    }
}
