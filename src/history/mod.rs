//! The embedded history (issue 14): per-minute, hourly and daily rows of every numeric
//! quantity in one SQLite file, `<data_dir>/history.sqlite3`, for the web page's charts and
//! `GET /api/meters/{id}/history`.
//!
//! An output on the seam (`bridge::outputs`): it sees exactly the readings the counter guard
//! lets through (`Event::Reading`; held-back counter values are not in them), so a chart never
//! shows a counter going backwards that MQTT did not publish.
//!
//! ```text
//! Event::Reading ──► Minute (in memory, on the async task: a few integer adds per value)
//!                      │ a minute ends (next reading or timer)
//!                      ▼
//!                bounded queue (writer::QUEUE minutes; full → the minute is dropped, logged)
//!                      ▼
//!                history thread: Store::write, one transaction per minute (store.rs)
//! ```
//!
//! Never holds back MQTT: the output always takes its next event at once, and the blocking
//! SQLite work is on its own thread. A `kill -9` loses the minute in progress and nothing
//! committed. A database that cannot be opened (corrupt, not SQLite, unwritable) is logged
//! once; MQTT goes on and the endpoint answers 503 with the reason ([`HistoryReader`]).
//!
//! Steps are UTC minutes, hours and days of the *bridge's* clock at reception, not the
//! meter's: meter clocks drift or are unset (DSMR 2.2 meters without a clock get the receive
//! time anyway), and a DSMR gas value carries its capture time (DSMR 5.0.2 §7.3: the last
//! 5 minutes; DSMR 4: the last hour), which would land it in a minute already written.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::config::Config;
use crate::event::output::{Inbox, OutputSummary};
use crate::event::Event;

pub mod backfill;
pub mod http;
pub mod minute;
pub mod query;
pub mod seen;
pub mod store;
mod writer;

pub use minute::{Minute, MinuteBatch};
pub use query::{Query, QueryError};
pub use store::{Resolution, Retention, Store, StoreError};

/// The file under `data_dir`.
pub const FILE_NAME: &str = "history.sqlite3";

/// Whether the history can be read, as the endpoint reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// The writer thread is opening the file.
    Starting,
    Ready,
    /// The reason, as the 503 answer gives it.
    Failed(String),
    Disabled(String),
}

/// What the output and the endpoint share.
#[derive(Debug)]
pub struct Shared {
    path: Option<PathBuf>,
    health: Mutex<Health>,
    /// Queries at once (each is a blocking task reading the file).
    queries: tokio::sync::Semaphore,
    /// Meters and keys seen by the output, written or not yet (`seen.rs`).
    seen: seen::Seen,
}

impl Shared {
    fn set(&self, h: Health) {
        *self.health.lock().unwrap_or_else(PoisonError::into_inner) = h;
    }

    fn health(&self) -> Health {
        self.health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Queries that may read the file at once; more wait for a turn.
const CONCURRENT_QUERIES: usize = 2;

/// The endpoint's handle on the history: cheap to clone.
#[derive(Debug, Clone)]
pub struct HistoryReader {
    shared: Arc<Shared>,
}

impl HistoryReader {
    fn new(path: Option<PathBuf>, health: Health) -> HistoryReader {
        HistoryReader {
            shared: Arc::new(Shared {
                path,
                health: Mutex::new(health),
                queries: tokio::sync::Semaphore::new(CONCURRENT_QUERIES),
                seen: seen::Seen::default(),
            }),
        }
    }

    /// A reader of no history (the endpoint answers 503 with `reason`).
    pub fn disabled(reason: impl Into<String>) -> HistoryReader {
        HistoryReader::new(None, Health::Disabled(reason.into()))
    }

    /// A reader of the file at `path`, already written (tests, tools).
    pub fn open(path: PathBuf) -> HistoryReader {
        HistoryReader::new(Some(path), Health::Ready)
    }

    pub fn health(&self) -> Health {
        self.shared.health()
    }

    /// Answer `q` for `meter`, reading the file on the blocking pool.
    pub async fn query(&self, meter: String, q: Query) -> Result<serde_json::Value, QueryError> {
        let path = match (self.shared.health(), &self.shared.path) {
            (Health::Ready, Some(p)) => p.clone(),
            (Health::Starting, _) => {
                return Err(QueryError::Unavailable(
                    "the history is being opened".into(),
                ))
            }
            (Health::Failed(r) | Health::Disabled(r), _) => return Err(QueryError::Unavailable(r)),
            (Health::Ready, None) => return Err(QueryError::Unavailable("no history file".into())),
        };
        let _turn = self
            .shared
            .queries
            .acquire()
            .await
            .map_err(|_| QueryError::Unavailable("the bridge is stopping".into()))?;
        let (meter_id, key, resolution) = (meter.clone(), q.key.clone(), q.resolution);
        let task = tokio::task::spawn_blocking(move || {
            let conn = store::connect(&path, true).map_err(|e| {
                QueryError::Unavailable(format!("cannot open {}: {e}", path.display()))
            })?;
            query::run(&conn, &meter, &q)
        });
        let answer = task
            .await
            .map_err(|e| QueryError::Unavailable(format!("the query failed: {e}")))?;
        match answer {
            // Seen by the output but its first minute is not written yet: an empty series,
            // not "never seen" (the page asks for a new meter's chart at once).
            Err(QueryError::NotFound(reason)) => match self.shared.seen.get(&meter_id, &key) {
                Some(Some(k)) => Ok(serde_json::json!({
                    "meter": meter_id,
                    "key": key,
                    "unit": k.unit,
                    "resolution": resolution.table(),
                    "counter": k.counter,
                    "points": [],
                })),
                Some(None) => Err(QueryError::NotFound(format!(
                    "meter `{meter_id}` has no history for key `{key}`"
                ))),
                None => Err(QueryError::NotFound(reason)),
            },
            other => other,
        }
    }
}

/// The history output's settings.
#[derive(Debug, Clone)]
pub struct HistorySettings {
    pub path: PathBuf,
    pub keep: Retention,
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl HistorySettings {
    /// From the configuration; `Err` names why there is no history (disabled, or no
    /// `data_dir` and no home directory).
    pub fn from_config(cfg: &Config) -> Result<HistorySettings, String> {
        if !cfg.history.enabled {
            return Err("the history is disabled (history.enabled: false)".into());
        }
        let dir = cfg.data_dir().ok_or_else(|| {
            "no data_dir configured and neither XDG_DATA_HOME nor HOME is set".to_string()
        })?;
        Ok(HistorySettings {
            path: dir.join(FILE_NAME),
            keep: Retention {
                minutes: secs(cfg.history.keep_minutes),
                hours: secs(cfg.history.keep_hours),
                days: cfg.history.keep_days.map(secs),
            },
        })
    }
}

/// The history of `cfg`: the output to run (if any) and the endpoint's reader.
pub fn from_config(cfg: &Config) -> (Option<HistorySettings>, HistoryReader) {
    match HistorySettings::from_config(cfg) {
        Ok(s) => {
            let reader = HistoryReader::new(Some(s.path.clone()), Health::Starting);
            (Some(s), reader)
        }
        Err(reason) => {
            if cfg.history.enabled {
                tracing::warn!("history: {reason}; no history is kept");
            }
            (None, HistoryReader::disabled(reason))
        }
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The output: sum up each minute and hand it to the writer thread when it ends.
pub async fn run(settings: HistorySettings, reader: HistoryReader, inbox: Inbox) -> OutputSummary {
    let Inbox {
        mut events, ready, ..
    } = inbox;
    // No hints: MQTT's retained states seed the guard.
    drop(ready);
    let w = writer::Writer::start(settings.path, settings.keep, reader.shared.clone());
    let mut minute = Minute::new();
    let mut out = Output::default();
    // One timer for the end of the minute in progress, set when that minute changes (not a
    // timer made and dropped per event: 10 000 events a second at issue 17's 10 000 meters).
    let timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(timer);
    let mut armed: Option<i64> = None;
    loop {
        let start = minute.start();
        if start != armed {
            if let Some(s) = start {
                // Wake at the end of the minute (+ a little, so the clock has moved on).
                let ms = u64::try_from((s + 60 - now_secs()).max(0)).unwrap_or(0) * 1000 + 50;
                timer
                    .as_mut()
                    .reset(tokio::time::Instant::now() + Duration::from_millis(ms));
            }
            armed = start;
        }
        tokio::select! {
            biased;
            ev = events.recv() => match ev {
                Some(Event::Reading(r)) => {
                    reader.shared.seen.note(&r.reading);
                    if let Some(done) = minute.add(&r.reading, now_secs()) {
                        out.send(&w, done);
                    }
                }
                Some(_) => {}
                None => break,
            },
            () = &mut timer, if armed.is_some() => {
                // Set again next turn, whether or not the minute has ended by this clock.
                armed = None;
                if let Some(done) = minute.take_ended(now_secs()) {
                    out.send(&w, done);
                }
            }
        }
        if minute.skipped > 0 {
            tracing::debug!(
                values = minute.skipped,
                "history: values with too many digits skipped"
            );
            minute.skipped = 0;
        }
    }
    // The bridge stops: the minute in progress is written too.
    if let Some(done) = minute.take() {
        out.send(&w, done);
    }
    // Bounded: a store stuck on a dead disk must not keep the bridge from stopping.
    let finish = tokio::task::spawn_blocking(move || w.finish());
    let flushed = matches!(
        tokio::time::timeout(FINISH_TIMEOUT, finish).await,
        Ok(Ok(()))
    );
    if !flushed {
        tracing::warn!("history: the last minute was not written before the bridge stopped");
    }
    // MQTT's counts are the bridge's summary; the history's drops are in its log lines.
    OutputSummary {
        delivered: 0,
        dropped: 0,
        flushed,
    }
}

/// How long the bridge waits at shutdown for the last minute to be written.
const FINISH_TIMEOUT: Duration = Duration::from_secs(5);

/// The output's count of readings dropped when the store fell behind.
#[derive(Default)]
struct Output {
    dropped: u64,
    behind: bool,
}

impl Output {
    fn send(&mut self, w: &writer::Writer, batch: MinuteBatch) {
        let n = batch.readings;
        let start = batch.start;
        match w.send(batch) {
            writer::Sent::Queued => {
                if self.behind {
                    self.behind = false;
                    tracing::info!(dropped = self.dropped, "history: the store caught up");
                }
            }
            writer::Sent::Full => {
                self.dropped += n;
                if !self.behind {
                    self.behind = true;
                    tracing::warn!(
                        minute = start,
                        "history: the store falls behind; minutes are dropped (MQTT is not held back)"
                    );
                }
            }
            // Already logged by the writer when it failed.
            writer::Sent::Gone => self.dropped += n,
        }
    }
}

#[cfg(test)]
mod output_tests;
#[cfg(test)]
mod tests;
