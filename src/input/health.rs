//! Reconnect pacing and fault logging of one input's link (issue 18 §14).
//!
//! Two rules. The backoff starts over only when *data* arrives (a valid telegram, a poll
//! answered), not when a connection opens: a relay that accepts and closes at once would
//! otherwise be reconnected every second forever. And a lasting fault logs a line when it
//! starts, a summary at most every [`crate::fault_log::SUMMARY_EVERY`], and a line when it
//! ends ([`FaultLog`]), whether it is a dead relay, a stream of garbage or a meter that no
//! longer answers.

use std::time::Duration;

use tokio::time::Instant;

use crate::fault_log::{FaultLog, Report};
use crate::transport::backoff::Backoff;

/// The state of one input's link.
#[derive(Debug)]
pub struct LinkHealth {
    input: String,
    link: String,
    backoff: Backoff,
    faults: FaultLog,
    /// Serial auto-detection cycling through presets without finding the meter.
    search: FaultLog,
}

impl LinkHealth {
    pub fn new(input: &str, link: &impl std::fmt::Display) -> Self {
        LinkHealth {
            input: input.to_string(),
            link: link.to_string(),
            backoff: Backoff::default(),
            faults: FaultLog::default(),
            search: FaultLog::default(),
        }
    }

    /// The link failed (`what` says how, `detail` why). Logs per the [`FaultLog`] rules and
    /// returns how long to wait before the next attempt.
    pub fn fault(&mut self, what: &str, detail: &str) -> Duration {
        let delay = self.backoff.next_delay();
        let (input, link) = (&self.input, &self.link);
        match self.faults.fail(Instant::now().into_std()) {
            Report::Started => tracing::warn!(%input, %link, reason = %detail, retry_in = ?delay,
                "{what}; retrying with backoff (repeats are summarised every 5 min)"),
            Report::Summary {
                count,
                since_last,
                lasted,
            } => {
                tracing::warn!(%input, %link, reason = %detail, faults = count, since_last_line = since_last,
                failing_for = ?lasted, retry_in = ?delay, "input still failing: {what}")
            }
            Report::Quiet => {
                tracing::debug!(%input, %link, reason = %detail, retry_in = ?delay, "{what}")
            }
        }
        delay
    }

    /// Data arrived: the fault (if any) ended, and the backoff starts over.
    pub fn data(&mut self) {
        self.backoff.reset();
        if let Some(end) = self.faults.ok(Instant::now().into_std()) {
            tracing::info!(input = %self.input, link = %self.link, faults = end.count, after = ?end.lasted,
                "input is back: data again");
        }
    }

    /// Auto-detection: `settings` gave nothing valid (`why`).
    pub fn search_failed(&mut self, settings: &str, why: &str) {
        let input = &self.input;
        match self.search.fail(Instant::now().into_std()) {
            Report::Started => tracing::warn!(%input, %settings,
                "auto-detect: {why}; trying the next preset (further tries are summarised every 5 min)"),
            Report::Summary { count, lasted, .. } => {
                tracing::warn!(%input, tries = count, searching_for = ?lasted,
                "auto-detect: still no valid telegram on any preset (wrong speed, or the P1 signal is not inverted)")
            }
            Report::Quiet => tracing::debug!(%input, %settings, "auto-detect: {why}"),
        }
    }

    /// Auto-detection: listening on `settings` (logged for the first round only).
    pub fn searching(&self, settings: &str) {
        if self.search.is_failing() {
            tracing::debug!(input = %self.input, %settings, "auto-detect: listening");
        } else {
            tracing::info!(input = %self.input, %settings, "auto-detect: listening");
        }
    }

    /// Auto-detection found the meter; returns how many presets failed before.
    pub fn found(&mut self) -> u64 {
        self.search
            .ok(Instant::now().into_std())
            .map_or(0, |e| e.count)
    }
}
