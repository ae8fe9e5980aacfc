//! Quiet logging of lasting faults: one line when a fault starts, a summary at most every
//! [`SUMMARY_EVERY`], one line when it ends.
//!
//! A relay that accepts and closes at once, a stream of garbage, a meter that never answers:
//! each repeats its error every second or so, for days. Logging every repetition fills
//! journald and hides the one line that matters (issue 18 §14). [`FaultLog`] only decides
//! *whether* to log; the caller writes the line with its own fields, so the messages stay
//! next to the code they describe. Pure code over the instants it is given, so it is tested
//! without sleeping.

use std::time::{Duration, Instant};

/// How often a fault that goes on is summarised. Five minutes keeps a week-long fault at
/// about 2 000 lines instead of 600 000, and is short enough that `journalctl -f` shows a
/// fault is still there.
pub const SUMMARY_EVERY: Duration = Duration::from_secs(300);

/// What to log for one occurrence of a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// The first occurrence: log it in full.
    Started,
    /// The fault goes on and the last line is [`SUMMARY_EVERY`] old: log a summary.
    Summary {
        /// Occurrences since the fault started, this one included.
        count: u64,
        /// Occurrences since the last line, this one included.
        since_last: u64,
        /// How long the fault has lasted.
        lasted: Duration,
    },
    /// Log nothing (at most a debug line).
    Quiet,
}

/// A fault that ended: log it once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// Occurrences while it lasted.
    pub count: u64,
    /// From the first occurrence to the end.
    pub lasted: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Fault {
    since: Instant,
    count: u64,
    last_line: Instant,
    since_last: u64,
}

/// The state of one kind of fault of one input (or connection).
#[derive(Debug, Clone)]
pub struct FaultLog {
    every: Duration,
    fault: Option<Fault>,
}

impl Default for FaultLog {
    fn default() -> Self {
        FaultLog::new(SUMMARY_EVERY)
    }
}

impl FaultLog {
    /// A fault log that summarises every `every`.
    pub fn new(every: Duration) -> Self {
        FaultLog { every, fault: None }
    }

    /// The fault happened (again) at `now`.
    pub fn fail(&mut self, now: Instant) -> Report {
        match &mut self.fault {
            None => {
                self.fault = Some(Fault {
                    since: now,
                    count: 1,
                    last_line: now,
                    since_last: 0,
                });
                Report::Started
            }
            Some(f) => {
                f.count = f.count.saturating_add(1);
                f.since_last = f.since_last.saturating_add(1);
                if now.saturating_duration_since(f.last_line) >= self.every {
                    let report = Report::Summary {
                        count: f.count,
                        since_last: f.since_last,
                        lasted: now.saturating_duration_since(f.since),
                    };
                    f.last_line = now;
                    f.since_last = 0;
                    report
                } else {
                    Report::Quiet
                }
            }
        }
    }

    /// Things work again at `now`: the fault, if there was one, ended.
    pub fn ok(&mut self, now: Instant) -> Option<Ended> {
        self.fault.take().map(|f| Ended {
            count: f.count,
            lasted: now.saturating_duration_since(f.since),
        })
    }

    /// Whether a fault is going on.
    pub fn is_failing(&self) -> bool {
        self.fault.is_some()
    }

    /// Occurrences of the fault going on (0 when there is none).
    pub fn count(&self) -> u64 {
        self.fault.map_or(0, |f| f.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fault every second for an hour logs its start, 11 summaries and its end: 13 lines
    /// instead of 3 600.
    #[test]
    fn an_hour_of_faults_every_second_is_thirteen_lines() {
        let t0 = Instant::now();
        let mut log = FaultLog::default();
        let mut lines = 0;
        let mut summaries = Vec::new();
        for s in 0..3600 {
            match log.fail(t0 + Duration::from_secs(s)) {
                Report::Started => lines += 1,
                Report::Summary {
                    count, since_last, ..
                } => {
                    lines += 1;
                    summaries.push((count, since_last));
                }
                Report::Quiet => {}
            }
        }
        assert_eq!(summaries.len(), 11);
        assert_eq!(summaries[0], (301, 300));
        assert_eq!(summaries[1], (601, 300));
        let end = log.ok(t0 + Duration::from_secs(3600));
        assert_eq!(
            end,
            Some(Ended {
                count: 3600,
                lasted: Duration::from_secs(3600)
            })
        );
        lines += 1;
        assert_eq!(lines, 13);
        assert!(!log.is_failing());
        assert_eq!(log.ok(t0), None, "an end is reported once");
    }

    #[test]
    fn a_new_fault_after_an_end_starts_again() {
        let t0 = Instant::now();
        let mut log = FaultLog::new(Duration::from_secs(10));
        assert_eq!(log.fail(t0), Report::Started);
        assert_eq!(log.fail(t0), Report::Quiet);
        assert_eq!(log.count(), 2);
        assert!(log.ok(t0).is_some());
        assert_eq!(log.fail(t0), Report::Started);
        assert_eq!(log.count(), 1);
    }

    /// Instants handed over out of order (two clocks read in two tasks) do not panic.
    #[test]
    fn earlier_instants_do_not_panic() {
        let t0 = Instant::now();
        let mut log = FaultLog::new(Duration::from_secs(1));
        log.fail(t0 + Duration::from_secs(5));
        assert_eq!(log.fail(t0), Report::Quiet);
        assert_eq!(log.ok(t0).map(|e| e.lasted), Some(Duration::ZERO));
    }
}
