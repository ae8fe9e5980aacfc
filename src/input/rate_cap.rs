//! The per-input telegram rate cap (issue 18 §2): a token bucket over one P1 input's telegrams,
//! with its drops logged as one lasting fault ([`FaultLog`]).

use std::time::Instant;

use crate::fault_log::{FaultLog, Report};

/// Telegrams per second one P1 input may publish on average. The fastest meters send one a
/// second (DSMR 5; DSMR 4 every 10 s: shared/notes/dsmr.md "Serial line"; the consecutive
/// captures in corpus hansij66 and nielsbasjes are one second apart), the test simulators ten; a
/// stream of line noise framed `/!\r\n` gave thousands a second (issue 18 §2: 284,408
/// publishes and 125,596 queue drops in 8 s) and must not flood the outbox.
pub const RATE_CAP_PER_SECOND: u32 = 10;

/// Telegrams above [`RATE_CAP_PER_SECOND`] that pass at once (a TCP relay or a USB buffer that
/// delivers what queued up while the bridge was busy).
pub const RATE_CAP_BURST: u32 = 30;

/// What to do with a telegram.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Admit {
    Pass,
    Drop,
}

/// A token bucket over one input's telegrams. Dropped telegrams are one fault episode: a
/// warning when the first is dropped, a summary at most every [`crate::fault_log::SUMMARY_EVERY`]
/// while it lasts, and one line when it ends (the bucket filled up again: the input stayed
/// under the cap for `BURST / RATE` seconds) or the connection does.
#[derive(Debug)]
pub(super) struct RateCap {
    /// Tokens in milli-telegrams (integer arithmetic, no drift).
    milli: u64,
    last: Instant,
    drops: FaultLog,
}

impl RateCap {
    const FULL: u64 = RATE_CAP_BURST as u64 * 1000;

    pub(super) fn new(now: Instant) -> Self {
        RateCap {
            milli: Self::FULL,
            last: now,
            drops: FaultLog::default(),
        }
    }

    pub(super) fn admit(&mut self, input: &str, now: Instant) -> Admit {
        let elapsed = now.saturating_duration_since(self.last);
        self.last = now;
        let refill = (elapsed.as_millis() as u64).saturating_mul(RATE_CAP_PER_SECOND as u64);
        self.milli = self.milli.saturating_add(refill).min(Self::FULL);
        if self.milli == Self::FULL {
            self.end_episode(input, now);
        }
        if self.milli >= 1000 {
            self.milli -= 1000;
            return Admit::Pass;
        }
        match self.drops.fail(now) {
            Report::Started => {
                tracing::warn!(input = %input, cap_per_second = RATE_CAP_PER_SECOND, burst = RATE_CAP_BURST,
                "more telegrams than any meter sends: excess telegrams are dropped, not published (counted; a summary follows)")
            }
            Report::Summary {
                count,
                since_last,
                lasted,
            } => {
                tracing::warn!(input = %input, dropped = since_last, total = count, lasting = ?lasted,
                "still over the telegram rate cap")
            }
            Report::Quiet => {}
        }
        Admit::Drop
    }

    /// The episode (if any) is over: log its summary.
    pub(super) fn end_episode(&mut self, input: &str, now: Instant) {
        if let Some(ended) = self.drops.ok(now) {
            tracing::info!(input = %input, dropped = ended.count, lasted = ?ended.lasted,
                "back under the telegram rate cap");
        }
    }

    /// Telegrams dropped in the episode going on.
    #[cfg(test)]
    fn dropped(&self) -> u64 {
        self.drops.count()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn rate_cap_passes_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut cap = RateCap::new(t0);
        // 1000 telegrams in one instant: the burst passes, the rest is dropped.
        let passed = (0..1000)
            .filter(|_| cap.admit("p1", t0) == Admit::Pass)
            .count();
        assert_eq!(passed, RATE_CAP_BURST as usize);
        assert_eq!(cap.dropped(), 1000 - RATE_CAP_BURST as u64);
        // Then one telegram per millisecond for 2 s: RATE_CAP_PER_SECOND a second pass.
        let mut passed = 0;
        for ms in 1..=2000 {
            passed += (cap.admit("p1", t0 + Duration::from_millis(ms)) == Admit::Pass) as u32;
        }
        assert_eq!(passed, 2 * RATE_CAP_PER_SECOND);
        assert!(cap.drops.is_failing());
        // Quiet long enough to fill the bucket: the episode ends.
        let later = t0 + Duration::from_secs(2 + (RATE_CAP_BURST / RATE_CAP_PER_SECOND) as u64);
        assert_eq!(cap.admit("p1", later), Admit::Pass);
        assert!(!cap.drops.is_failing());
        assert_eq!(cap.dropped(), 0);
    }

    #[test]
    fn rate_cap_never_drops_a_meter_at_its_pace() {
        let t0 = Instant::now();
        let mut cap = RateCap::new(t0);
        // A 10 Hz meter whose telegrams arrive in bunches of 5 every half second.
        for i in 0..10_000u64 {
            let at = t0 + Duration::from_millis(500 * (i / 5));
            assert_eq!(cap.admit("p1", at), Admit::Pass, "telegram {i}");
        }
    }
}
