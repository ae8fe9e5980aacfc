//! Filling the history from readings of the past, as `meter2mqtt demo` does with its
//! simulated household so that the page's charts show days at once.

use std::path::Path;

use super::minute::Minute;
use super::store::{Store, StoreError};
use crate::reading::Reading;

/// What a backfill wrote.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Backfilled {
    pub minutes: u64,
    pub readings: u64,
}

/// Write `readings` (each with its time, Unix seconds, in time order) into the file at
/// `path`, in one transaction, if the file has no history yet (`None` otherwise: a history
/// that exists is never mixed with made-up values).
pub fn backfill(
    path: &Path,
    readings: impl IntoIterator<Item = (i64, Reading)>,
) -> Result<Option<Backfilled>, StoreError> {
    let mut store = Store::open(path)?;
    if !store.is_empty() {
        return Ok(None);
    }
    let mut minute = Minute::new();
    let mut batches = Vec::new();
    let mut done = Backfilled::default();
    for (t, r) in readings {
        done.readings += 1;
        batches.extend(minute.add(&r, t));
    }
    batches.extend(minute.take());
    done.minutes = batches.len() as u64;
    store.write_all(&batches)?;
    Ok(Some(done))
}
