//! Filling the history from readings of the past, as `meter2mqtt demo` does with its
//! simulated household so that the page's charts show days at once.

use std::path::Path;

use super::minute::{Minute, MinuteBatch};
use super::store::{Resolution, Store, StoreError};
use crate::reading::Reading;

/// Minute rows are written for this last part of a backfill only (the page draws minutes
/// for the last hour); hours and days for all of it. Keeps a demo's start quick.
const MINUTES_FOR: i64 = 6 * 3600;

/// What a backfill wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Backfilled {
    pub minutes: u64,
    pub hours: u64,
    pub readings: u64,
}

/// Write `readings` (each with its time, Unix seconds, in time order, ending at `end`) into
/// the file at `path`, in one transaction, if the file has no history yet (`None`
/// otherwise: a history that exists is never mixed with made-up values).
pub fn backfill(
    path: &Path,
    end: i64,
    readings: impl IntoIterator<Item = (i64, Reading)>,
) -> Result<Option<Backfilled>, StoreError> {
    let mut store = Store::open(path)?;
    if !store.is_empty() {
        return Ok(None);
    }
    let mut steps = [
        (Minute::new(), Resolution::Minute, Vec::<MinuteBatch>::new()),
        (Minute::with_step(3600), Resolution::Hour, Vec::new()),
        (Minute::with_step(86_400), Resolution::Day, Vec::new()),
    ];
    let mut done = Backfilled::default();
    for (t, r) in readings {
        done.readings += 1;
        for (acc, res, out) in &mut steps {
            if *res != Resolution::Minute || t >= end - MINUTES_FOR {
                out.extend(acc.add(&r, t));
            }
        }
    }
    for (acc, res, out) in &mut steps {
        out.extend(acc.take());
        store.write_to(out, &[*res])?;
    }
    done.minutes = steps[0].2.len() as u64;
    done.hours = steps[1].2.len() as u64;
    Ok(Some(done))
}
