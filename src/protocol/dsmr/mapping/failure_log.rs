//! `1-0:99.97.0`, the power failure event log (DSMR 5.0.2 §6.12): only the entry that ended
//! last is published.

use super::super::parser::{self, Groups, Object};
use super::super::quantities as dq;
use super::super::timestamp;
use super::super::units::{self, Kind};
use super::Builder;
use crate::decimal::Decimal;
use crate::reading::Value;
use crate::time::Timestamp;

impl Builder<'_> {
    /// `1-0:99.97.0(n)(0-0:96.7.19)(end)(duration*s)…` (DSMR 5.0.2 §6.12): the entry that
    /// ended last. An empty `()` or `(0)` log has nothing to report.
    pub(super) fn failure_log(&mut self, o: &Object<'_>) {
        let mut g: Groups<'_> = parser::groups(o.values);
        let count = match (g.next(), o.number) {
            (Some(_), Some((d, _))) => Some(d),
            (first, _) => first.and_then(parser::number).map(|(d, _)| d),
        };
        let Some(count) = count else { return };
        if count.is_zero() {
            return;
        }
        g.next(); // the buffer's OBIS code, 0-0:96.7.19
                  // The entry that ended last among those whose time and duration both read (the first
                  // of equal times). The times are ordered by their keys ([`timestamp::sort_key`]: the
                  // Unix time of each that parses); only the latest is parsed, and its duration read,
                  // then the next latest if either fails (DSMR 5.0.2 §6.12: the log holds up to 10
                  // entries; longer ones take the plain loop).
        let mut entries = [(0i64, &[][..], &[][..]); 10];
        let mut n = 0;
        let all = g.clone();
        while let (Some(t), Some(dur)) = (g.next(), g.next()) {
            let Some(key) = timestamp::sort_key(t) else {
                continue;
            };
            if n == entries.len() {
                return self.failure_log_all(all);
            }
            entries[n] = (key, t, dur);
            n += 1;
        }
        let mut candidates = &mut entries[..n];
        while !candidates.is_empty() {
            // The latest; on equal times the first, as the plain loop keeps the first.
            let mut best = 0;
            for (k, e) in candidates.iter().enumerate().skip(1) {
                if e.0 > candidates[best].0 {
                    best = k;
                }
            }
            let (_, t, dur) = candidates[best];
            let read = timestamp::parse(t).ok().and_then(|t| {
                let (d, u) = parser::number(dur)?;
                Some((t, units::convert(d, u, Kind::Second)?))
            });
            match read {
                Some((t, dur)) => {
                    self.push(dq::LAST_POWER_FAILURE, Value::Time(t));
                    self.push(dq::LAST_POWER_FAILURE_DURATION, Value::Number(dur));
                    return;
                }
                // Unreadable: out of the running; the order of the others is kept.
                None => {
                    candidates.copy_within(best + 1.., best);
                    let len = candidates.len() - 1;
                    candidates = &mut candidates[..len];
                }
            }
        }
    }

    /// [`Self::failure_log`] for any length: every entry read in order.
    pub(super) fn failure_log_all(&mut self, mut g: Groups<'_>) {
        let mut last: Option<(Timestamp, i64, Decimal)> = None;
        while let (Some(t), Some(dur)) = (g.next(), g.next()) {
            let Ok(t) = timestamp::parse(t) else { continue };
            let Some(dur) =
                parser::number(dur).and_then(|(d, u)| units::convert(d, u, Kind::Second))
            else {
                continue;
            };
            let secs = t.unix_seconds();
            if last.is_none_or(|(_, last_secs, _)| secs > last_secs) {
                last = Some((t, secs, dur));
            }
        }
        if let Some((t, _, dur)) = last {
            self.push(dq::LAST_POWER_FAILURE, Value::Time(t));
            self.push(dq::LAST_POWER_FAILURE_DURATION, Value::Number(dur));
        }
    }
}
