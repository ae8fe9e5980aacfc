//! Simulated P1 meters on real wires: a pseudo-terminal or a TCP listener on loopback.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use super::dsmr::DsmrMeter;
use super::pty::Pty;

/// Counters a test or the demo can read while a simulator runs.
#[derive(Debug, Default)]
pub struct SimStats {
    pub telegrams: AtomicU64,
    pub paused: AtomicBool,
}

/// Write a telegram every `every` into a new pseudo-terminal; the bridge opens `path`.
/// Runs on its own thread (pty writes are blocking) until `stop` is set.
pub fn dsmr_on_pty(
    mut meter: DsmrMeter,
    every: Duration,
    stats: Arc<SimStats>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<(PathBuf, std::thread::JoinHandle<()>)> {
    let pty = Pty::open()?;
    let path = pty.slave_path.clone();
    let handle = std::thread::spawn(move || {
        let mut master = &pty.master;
        let step = every.as_secs().max(1) as u32;
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(every);
            if stats.paused.load(Ordering::Relaxed) {
                continue;
            }
            let t = meter.telegram(step);
            if master.write_all(&t).is_err() {
                break;
            }
            stats.telegrams.fetch_add(1, Ordering::Relaxed);
        }
    });
    Ok((path, handle))
}

/// Serve telegrams to every TCP client of `listener` (like ser2net), each client getting the
/// same meter's telegrams every `every`.
pub async fn dsmr_on_tcp(
    listener: TcpListener,
    meter: DsmrMeter,
    every: Duration,
    stats: Arc<SimStats>,
) {
    let meter = Arc::new(tokio::sync::Mutex::new(meter));
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let meter = meter.clone();
        let stats = stats.clone();
        tokio::spawn(async move {
            let step = every.as_secs().max(1) as u32;
            loop {
                tokio::time::sleep(every).await;
                if stats.paused.load(Ordering::Relaxed) {
                    continue;
                }
                let t = meter.lock().await.telegram(step);
                if sock.write_all(&t).await.is_err() {
                    break;
                }
                stats.telegrams.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
}

/// Bind a loopback listener on a free port.
pub async fn loopback_listener() -> std::io::Result<(TcpListener, SocketAddr)> {
    let l = TcpListener::bind("127.0.0.1:0").await?;
    let a = l.local_addr()?;
    Ok((l, a))
}
