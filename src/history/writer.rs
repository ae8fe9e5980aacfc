//! The store's own thread: it opens the file, writes each finished minute in one
//! transaction, and applies retention at start and once an hour (with or without minutes
//! to write). SQLite blocks (disk, `fsync` at a
//! checkpoint), so it never runs on the async runtime; the output hands it minutes through a
//! bounded queue and drops a minute rather than wait ([`Writer::send`]).

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;

use super::minute::MinuteBatch;
use super::store::{Retention, Store};
use super::{Health, Shared};
use std::sync::Arc;

/// Finished minutes the queue holds while the store is busy: a slow disk may stall for
/// minutes before the history loses one.
pub const QUEUE: usize = 16;

/// Seconds between retention runs (and one at start).
const RETAIN_EVERY: i64 = 3600;

/// The output's side of the queue.
pub struct Writer {
    tx: Option<SyncSender<MinuteBatch>>,
    thread: Option<JoinHandle<()>>,
}

/// What [`Writer::send`] did with a minute.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    Queued,
    /// The queue is full: the store falls behind.
    Full,
    /// The store is not there (it failed to open, or failed for good).
    Gone,
}

impl Writer {
    /// Start the thread that opens `path` and writes what it is sent.
    pub fn start(path: PathBuf, keep: Retention, shared: Arc<Shared>) -> Writer {
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let thread = std::thread::Builder::new()
            .name("history".into())
            .spawn(move || write_loop(&path, keep, &shared, rx));
        match thread {
            Ok(t) => Writer {
                tx: Some(tx),
                thread: Some(t),
            },
            Err(e) => {
                tracing::error!(error = %e, "history: cannot start its thread; no history is kept");
                Writer {
                    tx: None,
                    thread: None,
                }
            }
        }
    }

    /// Queue a finished minute without waiting.
    pub fn send(&self, batch: MinuteBatch) -> Sent {
        let Some(tx) = &self.tx else {
            return Sent::Gone;
        };
        match tx.try_send(batch) {
            Ok(()) => Sent::Queued,
            Err(TrySendError::Full(_)) => Sent::Full,
            Err(TrySendError::Disconnected(_)) => Sent::Gone,
        }
    }

    /// Close the queue and wait (blocking) for the thread to write what is queued.
    pub fn finish(mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn write_loop(path: &std::path::Path, keep: Retention, shared: &Shared, rx: Receiver<MinuteBatch>) {
    let mut store = match Store::open(path) {
        Ok(s) => s,
        Err(e) => {
            // One clear line; the bridge goes on publishing to MQTT without a history.
            tracing::error!(
                error = %e,
                "history: cannot open the history database; MQTT goes on without it \
                 (move the file away or fix the directory, then restart)"
            );
            shared.set(Health::Failed(format!(
                "the history database cannot be used: {e}"
            )));
            return;
        }
    };
    tracing::info!(file = %path.display(), "history: writing per-minute rows");
    shared.set(Health::Ready);
    let mut next_retain = 0i64;
    let mut failing = false;
    loop {
        let now = now_secs();
        if now >= next_retain {
            next_retain = now + RETAIN_EVERY;
            match store.retain(now, keep) {
                Ok(n) if n > 0 => tracing::debug!(rows = n, "history: retention deleted old rows"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "history: retention failed"),
            }
        }
        // Wake for the next retention run even when no minute comes (no meter read: the
        // old rows still go at start and hourly, not only when a minute is written).
        let wait = u64::try_from((next_retain - now).max(1)).unwrap_or(1);
        let batch = match rx.recv_timeout(std::time::Duration::from_secs(wait)) {
            Ok(b) => b,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let started = std::time::Instant::now();
        match store.write(&batch) {
            Ok(w) => {
                // How long a minute takes to write (≈ 200 000 rows at 10 000 meters): it runs
                // on this thread, next to the MQTT path, not in it (issue 17).
                tracing::debug!(rows = w.rows, took = ?started.elapsed(), "history: minute written");
                if failing {
                    failing = false;
                    tracing::info!("history: writing again");
                    shared.set(Health::Ready);
                }
                if w.skipped > 0 {
                    tracing::debug!(skipped = w.skipped, "history: rows skipped");
                }
            }
            Err(e) => {
                // Logged once per failing stretch (a full disk fails every minute).
                if !failing {
                    failing = true;
                    tracing::error!(
                        error = %e,
                        "history: writing a minute failed; MQTT goes on, the history has a gap"
                    );
                }
                shared.set(Health::Failed(format!("writing the history failed: {e}")));
            }
        }
    }
}
