//! Each input's health (link up or down, detected line settings, what it accepted and
//! rejected, its last error), for the outputs that show it: the web page's inputs panel,
//! `GET /api/inputs` and `/metrics`.
//!
//! Shared counters, not events: an input bumps its own [`InputStatus`] and an output reads a
//! [`StatusSnapshot`] when someone asks. A status event per telegram would double the bus's
//! traffic for 10,000 meters (issue 17's fan-in) to feed a page nobody may be looking at.
//! Data still flows one way: inputs write, outputs only read; nothing here reaches back into
//! an input. The hot path (a telegram accepted) is two relaxed atomic stores; everything
//! rarer (a rejection, a link change, an error) takes a short lock.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// Milliseconds since the Unix epoch, now (0 if the clock is before 1970).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The rarely changing part of an input's status (behind a lock).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct StatusDetail {
    /// The link is open (serial port open, TCP connected).
    pub connected: bool,
    /// The line settings in use, e.g. `115200 8N1` (serial; after auto-detection, the ones
    /// found). `None` for TCP, where the relay owns them.
    pub line_settings: Option<String>,
    /// Telegrams (P1) rejected, by reason key (`crc_mismatch`, `no_header`, ...).
    pub rejected: BTreeMap<&'static str, u64>,
    /// Polls (KMP, MULTICAL, IEC 62056-21) that got no valid answer.
    pub failed_polls: u64,
    /// Times the link was opened again after it failed or was lost.
    pub reconnects: u64,
    /// The last error, as logged.
    pub last_error: Option<String>,
    /// When the last error happened (Unix ms).
    pub last_error_ms: Option<u64>,
}

/// One input's status, written by the input's task.
#[derive(Debug)]
pub struct InputStatus {
    name: String,
    kind: &'static str,
    link: String,
    /// Telegrams (P1) or polls accepted.
    accepted: AtomicU64,
    /// When data last arrived (Unix ms; 0 = never).
    last_data_ms: AtomicU64,
    detail: Mutex<StatusDetail>,
}

/// A copy of one input's status, as outputs show it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StatusSnapshot {
    pub name: String,
    /// `p1`, `kmp`, `multical` or `iec62056` (the config's input kind).
    pub kind: &'static str,
    /// Where the input reads from (`/dev/ttyUSB0`, `tcp://host:port`), credentials never.
    pub link: String,
    pub accepted: u64,
    pub last_data_ms: Option<u64>,
    #[serde(flatten)]
    pub detail: StatusDetail,
}

impl InputStatus {
    pub fn new(name: &str, kind: &'static str, link: &str) -> Self {
        InputStatus {
            name: name.to_string(),
            kind,
            link: link.to_string(),
            accepted: AtomicU64::new(0),
            last_data_ms: AtomicU64::new(0),
            detail: Mutex::new(StatusDetail::default()),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn with_detail(&self, f: impl FnOnce(&mut StatusDetail)) {
        // A panic elsewhere while holding the lock leaves plain counters behind: still usable.
        let mut d = self.detail.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut d);
    }

    /// A telegram or poll answer was accepted.
    pub fn accepted(&self) {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        self.last_data_ms.store(now_ms(), Ordering::Relaxed);
    }

    /// A telegram was rejected (`reason`: a stable snake_case key).
    pub fn rejected(&self, reason: &'static str, error: &str) {
        self.with_detail(|d| {
            *d.rejected.entry(reason).or_default() += 1;
            d.last_error = Some(error.to_string());
            d.last_error_ms = Some(now_ms());
        });
    }

    /// A poll failed.
    pub fn poll_failed(&self, error: &str) {
        self.with_detail(|d| {
            d.failed_polls += 1;
            d.last_error = Some(error.to_string());
            d.last_error_ms = Some(now_ms());
        });
    }

    /// The link opened (`line_settings` as in [`StatusDetail::line_settings`]). Every open
    /// after the first counts as a reconnect.
    pub fn link_up(&self, line_settings: Option<String>, first: bool) {
        self.with_detail(|d| {
            d.connected = true;
            d.line_settings = line_settings;
            if !first {
                d.reconnects += 1;
            }
        });
    }

    /// The link failed or was lost (`error` says why).
    pub fn link_down(&self, error: &str) {
        self.with_detail(|d| {
            d.connected = false;
            d.last_error = Some(error.to_string());
            d.last_error_ms = Some(now_ms());
        });
    }

    /// A copy for an output.
    pub fn snapshot(&self) -> StatusSnapshot {
        let last = self.last_data_ms.load(Ordering::Relaxed);
        StatusSnapshot {
            name: self.name.clone(),
            kind: self.kind,
            link: self.link.clone(),
            accepted: self.accepted.load(Ordering::Relaxed),
            last_data_ms: (last != 0).then_some(last),
            detail: self
                .detail
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
        }
    }
}

/// Every input's status, by name: the bridge registers an input when it starts it (and
/// removes it when a reload drops it); outputs read.
#[derive(Debug, Default)]
pub struct InputStatuses {
    inputs: RwLock<BTreeMap<String, Arc<InputStatus>>>,
}

impl InputStatuses {
    /// Register (or replace, on a reload) an input's status and return the input's handle.
    pub fn register(&self, name: &str, kind: &'static str, link: &str) -> Arc<InputStatus> {
        let s = Arc::new(InputStatus::new(name, kind, link));
        self.inputs
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_string(), s.clone());
        s
    }

    /// Forget an input a reload removed.
    pub fn remove(&self, name: &str) {
        self.inputs
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(name);
    }

    /// One input's status.
    pub fn get(&self, name: &str) -> Option<StatusSnapshot> {
        let map = self.inputs.read().unwrap_or_else(PoisonError::into_inner);
        map.get(name).map(|s| s.snapshot())
    }

    /// Every input's status, by name.
    pub fn snapshot(&self) -> Vec<StatusSnapshot> {
        let map = self.inputs.read().unwrap_or_else(PoisonError::into_inner);
        map.values().map(|s| s.snapshot()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_the_input_reports() {
        let all = InputStatuses::default();
        let s = all.register("meter", "p1", "/dev/ttyUSB0");
        assert_eq!(all.get("meter").map(|s| s.accepted), Some(0));
        assert_eq!(all.get("meter").and_then(|s| s.last_data_ms), None);
        s.link_up(Some("115200 8N1".into()), true);
        s.accepted();
        s.accepted();
        s.rejected("crc_mismatch", "CRC mismatch");
        s.link_down("end of stream");
        s.link_up(None, false);
        let snap = all.get("meter").expect("registered");
        assert_eq!(snap.accepted, 2);
        assert!(snap.last_data_ms.is_some());
        assert_eq!(snap.detail.rejected.get("crc_mismatch"), Some(&1));
        assert_eq!(snap.detail.reconnects, 1);
        assert!(snap.detail.connected);
        assert_eq!(snap.detail.last_error.as_deref(), Some("end of stream"));
        all.remove("meter");
        assert!(all.snapshot().is_empty());
    }
}
