//! A polled simulator without a wire: the real poll session (`protocol::*::session`) driven
//! against a sans-IO simulator in memory, at no time cost. `meter2mqtt demo` fills its heat
//! meters' history this way (the same sessions and decoders the bridge runs, so the history
//! holds what the live meter would have given), before the meters go live on their ptys.
//!
//! Timing is not simulated: `Sleep` and `Configure` complete at once, a `Read` gets every
//! byte the simulator answered so far (or a timeout when it answered nothing). The line
//! settings are passed to the simulator as the session set them.

use crate::protocol::{Action, Event, LineSettings, PollError, PollSession};
use crate::reading::Reading;

/// Steps one poll may take; a session that never finishes is cut off (no real session
/// needs more than a few dozen).
pub const MAX_STEPS: usize = 1000;

/// Why an offline poll has no readings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfflineError {
    #[error(transparent)]
    Poll(#[from] PollError),
    #[error("the session did not finish within {MAX_STEPS} steps")]
    Unfinished,
}

/// Run one poll of `session`; `respond(line, bytes)` is the meter (its replies' bytes) for
/// each write, at the line settings of the last `Configure`.
pub fn poll(
    session: &mut dyn PollSession,
    mut respond: impl FnMut(Option<LineSettings>, &[u8]) -> Vec<u8>,
) -> Result<Vec<Reading>, OfflineError> {
    let mut line = None;
    let mut pending: Vec<u8> = Vec::new();
    let mut input: Vec<u8> = Vec::new();
    enum Next {
        Start,
        Done,
        Input,
        Timeout,
    }
    let mut next = Next::Start;
    for _ in 0..MAX_STEPS {
        let event = match next {
            Next::Start => Event::Start,
            Next::Done => Event::Done,
            Next::Input => Event::Input(&input),
            Next::Timeout => Event::Timeout,
        };
        let action = session.step(event);
        next = match action {
            Action::Configure(l) => {
                line = Some(l);
                Next::Done
            }
            Action::Flush => {
                pending.clear();
                Next::Done
            }
            Action::Write(bytes) => {
                pending.extend(respond(line, &bytes));
                Next::Done
            }
            Action::Read { .. } | Action::ContinueRead => {
                if pending.is_empty() {
                    Next::Timeout
                } else {
                    input = std::mem::take(&mut pending);
                    Next::Input
                }
            }
            Action::Sleep(_) => Next::Done,
            Action::Finished(r) => return Ok(r?),
            // Any other action completes at once (nothing in memory to wait for).
            #[allow(unreachable_patterns)]
            _ => Next::Done,
        };
    }
    Err(OfflineError::Unfinished)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::kmp::{KmpPollConfig, KmpSession, RegisterSet};
    use crate::protocol::multical::{MulticalOptions, MulticalSession};
    use crate::sim::kmp::KmpSimulator;
    use crate::sim::multical::MulticalSimulator;
    use crate::time::Timestamp;

    const NOW: i64 = 1_705_320_000;

    #[test]
    fn a_kmp_poll_reads_the_simulated_multical_603() {
        let mut sim = KmpSimulator::multical_603();
        let set = RegisterSet::preset("multical_60x").unwrap();
        let mut s = KmpSession::new(KmpPollConfig::new(set), Timestamp::from_unix_seconds(NOW));
        let r = poll(&mut s, |_, b| sim.on_input(b)).unwrap();
        assert_eq!(r.len(), 1);
        assert!(
            r[0].values.iter().any(|v| v.quantity.key == "heat_energy"),
            "{:?}",
            r[0].values
        );
    }

    #[test]
    fn a_multical_poll_reads_the_simulated_401() {
        let mut sim = MulticalSimulator::new();
        let mut s = MulticalSession::new(
            MulticalOptions::default(),
            None,
            Timestamp::from_unix_seconds(NOW),
        );
        let r = poll(&mut s, |line, b| {
            let Some(line) = line else { return Vec::new() };
            sim.on_input(line, b)
                .into_iter()
                .flat_map(|r| r.bytes)
                .collect()
        })
        .unwrap();
        assert_eq!(r.len(), 1);
        assert!(r[0].values.iter().any(|v| v.quantity.key == "heat_energy"));
    }

    #[test]
    fn a_silent_meter_is_a_poll_error_not_a_hang() {
        let mut s = KmpSession::new(
            KmpPollConfig::new(RegisterSet::preset("multical_60x").unwrap()),
            Timestamp::from_unix_seconds(NOW),
        );
        assert!(matches!(
            poll(&mut s, |_, _| Vec::new()),
            Err(OfflineError::Poll(_))
        ));
    }
}
