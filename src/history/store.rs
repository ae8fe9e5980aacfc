//! The SQLite file: schema, one transaction per minute, rollups and retention. Blocking code:
//! the output runs it on a thread of its own (`history::writer`), never on the async runtime.
//!
//! Layout (schema version 1, `PRAGMA user_version`):
//! - `series(id, meter, key, unit, counter, scale)`: one row per quantity of a meter; values
//!   of that series are integers at `scale` decimals ([`super::minute::scaled`]).
//! - `minute`, `hour`, `day`: `(series, t, n, sum, min, max, last)`, `t` the step's start in
//!   Unix seconds (UTC steps), `WITHOUT ROWID` on the primary key `(series, t)` (no second
//!   copy of the key in a rowid table: smaller and one B-tree lookup per query). A
//!   measurement fills `n, sum, min, max` (the mean is `sum / n`, exact over any step, not a
//!   mean of means); a counter fills `last` only.
//!
//! Each finished minute is merged into its minute, hour and day rows in the same
//! transaction (`ON CONFLICT DO UPDATE`: counts and sums add up, min and max widen, `last` is
//! the newer value), so the current hour and day are always there, and a minute written
//! twice (a restart within the minute) merges instead of failing. WAL mode with
//! `synchronous = NORMAL`: a committed minute survives `kill -9` (the WAL is in the file
//! system, SQLite's documentation, "Write-Ahead Logging" §"Durability"); only a power cut
//! may lose the last commits, never corrupt the file.

use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::minute::{rescale, MinuteBatch, Row};
use crate::reading::Unit;

/// The schema this code writes.
const SCHEMA_VERSION: i64 = 1;

/// A resolution of the history: the table and the length of its steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    Minute,
    Hour,
    Day,
}

impl Resolution {
    pub const ALL: [Resolution; 3] = [Resolution::Minute, Resolution::Hour, Resolution::Day];

    pub const fn table(self) -> &'static str {
        match self {
            Resolution::Minute => "minute",
            Resolution::Hour => "hour",
            Resolution::Day => "day",
        }
    }

    /// Seconds per step (UTC days: a day row is 00:00 to 24:00 UTC).
    pub const fn step(self) -> i64 {
        match self {
            Resolution::Minute => 60,
            Resolution::Hour => 3600,
            Resolution::Day => 86_400,
        }
    }

    pub fn parse(s: &str) -> Option<Resolution> {
        Resolution::ALL.into_iter().find(|r| r.table() == s)
    }
}

/// Why the store cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the data directory {path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Sqlite {
        path: String,
        source: rusqlite::Error,
    },
    #[error(
        "{path}: written by a newer meter2mqtt (schema {found}, this one knows {SCHEMA_VERSION})"
    )]
    Newer { path: String, found: i64 },
}

/// How long each resolution is kept, in seconds (`None`: forever).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub minutes: i64,
    pub hours: i64,
    pub days: Option<i64>,
}

/// What one minute's write did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub rows: u64,
    /// Rows skipped: a unit other than the series' (logged once per series), or a value that
    /// no longer fits after a change of decimals.
    pub skipped: u64,
}

/// One series of the file, as the writer's books keep it (one per meter and quantity: 20 per
/// DSMR 5 meter, 200 000 at 10 000 meters, so it is kept small: issue 17).
#[derive(Debug, Clone)]
struct Series {
    /// The quantity's key; a key the bridge knows at compile time is borrowed, not copied
    /// (a series read back from the file is interned on its first row: [`series_for`]).
    key: Cow<'static, str>,
    id: i64,
    /// The unit stored with the series, one byte; `None`: a unit this bridge does not know
    /// (a file written by another version; its text is in [`Store::other_units`]), which no
    /// row of this bridge matches. 40 bytes a series (was 64 with the unit's `Cow`).
    unit: Option<Unit>,
    scale: u8,
    /// The unit mismatch was logged.
    warned: bool,
}

/// The writer's books: per meter its series, in the order first seen (a meter has a few
/// dozen, and a linear search by key beats hashing them, as in [`super::minute::Minute`]).
/// The meter id is kept once per meter, not once per series.
type Books = HashMap<Box<str>, Vec<Series>>;

/// The history file, open for writing.
pub struct Store {
    conn: Connection,
    path: String,
    series: Books,
    /// The units of the file this bridge does not know, by series id (for the log line).
    other_units: HashMap<i64, Box<str>>,
}

/// Open a connection with the settings every connection uses.
pub(crate) fn connect(path: &Path, read_only: bool) -> Result<Connection, rusqlite::Error> {
    use rusqlite::OpenFlags;
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    // A reader and the writer never wait long for each other in WAL mode; this only covers
    // a checkpoint in progress.
    conn.busy_timeout(std::time::Duration::from_secs(2))?;
    Ok(conn)
}

impl Store {
    /// Open (or create) the file at `path`, creating its directory. A file that is not an
    /// SQLite database (or is corrupt) fails here, on the first statement.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let shown = path.display().to_string();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let sql = |source| StoreError::Sqlite {
            path: shown.clone(),
            source,
        };
        let conn = connect(path, false).map_err(sql)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Newer {
                path: shown,
                found: version,
            });
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(sql)?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(file = %shown, mode, "history: WAL mode not available");
        }
        conn.execute_batch(
            "PRAGMA synchronous = NORMAL;
             CREATE TABLE IF NOT EXISTS series (
                 id INTEGER PRIMARY KEY, meter TEXT NOT NULL, key TEXT NOT NULL,
                 unit TEXT NOT NULL, counter INTEGER NOT NULL, scale INTEGER NOT NULL,
                 UNIQUE (meter, key));
             CREATE TABLE IF NOT EXISTS minute (series INTEGER NOT NULL, t INTEGER NOT NULL,
                 n INTEGER, sum INTEGER, min INTEGER, max INTEGER, last INTEGER,
                 PRIMARY KEY (series, t)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS hour (series INTEGER NOT NULL, t INTEGER NOT NULL,
                 n INTEGER, sum INTEGER, min INTEGER, max INTEGER, last INTEGER,
                 PRIMARY KEY (series, t)) WITHOUT ROWID;
             CREATE TABLE IF NOT EXISTS day (series INTEGER NOT NULL, t INTEGER NOT NULL,
                 n INTEGER, sum INTEGER, min INTEGER, max INTEGER, last INTEGER,
                 PRIMARY KEY (series, t)) WITHOUT ROWID;
             PRAGMA user_version = 1;",
        )
        .map_err(sql)?;
        let mut store = Store {
            conn,
            path: shown.clone(),
            series: HashMap::new(),
            other_units: HashMap::new(),
        };
        store.load_series().map_err(sql)?;
        Ok(store)
    }

    fn load_series(&mut self) -> Result<(), rusqlite::Error> {
        self.series.clear();
        self.other_units.clear();
        let mut stmt = self
            .conn
            .prepare("SELECT id, meter, key, unit, scale FROM series")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(1)?,
                r.get::<_, String>(3)?,
                Series {
                    key: Cow::Owned(r.get(2)?),
                    id: r.get(0)?,
                    unit: None,
                    scale: r.get::<_, u8>(4)?,
                    warned: false,
                },
            ))
        })?;
        for row in rows {
            let (meter, unit, mut s) = row?;
            s.unit = Unit::ALL.iter().copied().find(|u| u.as_str() == unit);
            if s.unit.is_none() {
                self.other_units.insert(s.id, unit.into());
            }
            self.series.entry(meter.into()).or_default().push(s);
        }
        for list in self.series.values_mut() {
            list.shrink_to_fit();
        }
        Ok(())
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Write one finished minute, merged into its hour and day, in one transaction.
    pub fn write(&mut self, batch: &MinuteBatch) -> Result<Written, StoreError> {
        self.write_all(std::slice::from_ref(batch))
    }

    /// Write several minutes in one transaction (a benchmark).
    pub fn write_all(&mut self, batches: &[MinuteBatch]) -> Result<Written, StoreError> {
        self.write_to(batches, &Resolution::ALL)
    }

    /// Write batches into the tables of `into` only, in one transaction: a backfill sums
    /// up its hours and days itself ([`super::minute::Minute::with_step`]) and writes each
    /// step's row once instead of merging every minute into it.
    pub fn write_to(
        &mut self,
        batches: &[MinuteBatch],
        into: &[Resolution],
    ) -> Result<Written, StoreError> {
        let result = self.write_inner(batches, into);
        if result.is_err() {
            // The transaction rolled back: the cached series may name rows that are gone.
            let _ = self.load_series();
        }
        result.map_err(|e| self.err(e))
    }

    fn write_inner(
        &mut self,
        batches: &[MinuteBatch],
        into: &[Resolution],
    ) -> Result<Written, rusqlite::Error> {
        let tx = self.conn.transaction()?;
        let mut done = Written::default();
        // Prepared once per transaction, not looked up per row: a minute at 10 000 meters is
        // ≈ 210 000 rows × 3 tables (issue 17).
        let mut upserts = into
            .iter()
            .map(|&res| Ok((res, tx.prepare_cached(upsert_sql(res))?)))
            .collect::<Result<Vec<_>, rusqlite::Error>>()?;
        for (batch, row) in batches
            .iter()
            .flat_map(|b| b.rows.iter().map(move |r| (b, r)))
        {
            let Some((id, scale)) = series_for(&tx, &mut self.series, &self.other_units, row)?
            else {
                done.skipped += 1;
                continue;
            };
            let Some(values) = RowValues::at(row, scale) else {
                done.skipped += 1;
                continue;
            };
            for (res, stmt) in &mut upserts {
                let t = batch.start - batch.start.rem_euclid(res.step());
                let v = &values;
                stmt.execute(params![id, t, v.n, v.sum, v.min, v.max, v.last])?;
            }
            done.rows += 1;
        }
        drop(upserts);
        tx.commit()?;
        Ok(done)
    }

    /// Delete what is older than its resolution keeps, as of `now` (Unix seconds): the clock
    /// is passed in, so retention is tested without waiting. Returns the rows deleted.
    pub fn retain(&mut self, now: i64, keep: Retention) -> Result<u64, StoreError> {
        self.retain_inner(now, keep).map_err(|e| self.err(e))
    }

    fn retain_inner(&mut self, now: i64, keep: Retention) -> Result<u64, rusqlite::Error> {
        let tx = self.conn.transaction()?;
        let ids: Vec<i64> = self.series.values().flatten().map(|s| s.id).collect();
        let mut deleted = 0u64;
        for (res, keep) in [
            (Resolution::Minute, Some(keep.minutes)),
            (Resolution::Hour, Some(keep.hours)),
            (Resolution::Day, keep.days),
        ] {
            let Some(keep) = keep else { continue };
            // A row is deleted once its whole step is older than the retention.
            let before = now.saturating_sub(keep).saturating_sub(res.step());
            let sql = format!("DELETE FROM {} WHERE series = ?1 AND t < ?2", res.table());
            let mut stmt = tx.prepare_cached(&sql)?;
            for id in &ids {
                deleted += stmt.execute(params![id, before])? as u64;
            }
        }
        tx.commit()?;
        Ok(deleted)
    }

    /// Whether the file holds no series yet (a new file).
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// The connection, for tests and the size bench (`PRAGMA page_count`, checkpoints).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

/// A row's values at the series' scale, as stored.
struct RowValues {
    n: Option<i64>,
    sum: Option<i64>,
    min: Option<i64>,
    max: Option<i64>,
    last: Option<i64>,
}

impl RowValues {
    fn at(row: &Row, scale: u8) -> Option<RowValues> {
        let a = &row.acc;
        let r = |v: i64| rescale(i128::from(v), a.scale, scale).and_then(|v| i64::try_from(v).ok());
        if row.counter() {
            return Some(RowValues {
                n: None,
                sum: None,
                min: None,
                max: None,
                last: Some(r(a.last)?),
            });
        }
        Some(RowValues {
            n: Some(i64::from(a.n)),
            sum: Some(r(a.sum)?),
            min: Some(r(a.min)?),
            max: Some(r(a.max)?),
            last: None,
        })
    }
}

/// The statement merging one row into `res`'s table: a new step is inserted, an existing one
/// adds count and sum, keeps the extremes and the last value. Static text per table, so
/// nothing is formatted per row.
fn upsert_sql(res: Resolution) -> &'static str {
    macro_rules! upsert {
        ($table:literal) => {
            concat!(
                "INSERT INTO ",
                $table,
                " (series, t, n, sum, min, max, last) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (series, t) DO UPDATE SET n = n + excluded.n,
                     sum = sum + excluded.sum, min = min(min, excluded.min),
                     max = max(max, excluded.max), last = excluded.last"
            )
        };
    }
    match res {
        Resolution::Minute => upsert!("minute"),
        Resolution::Hour => upsert!("hour"),
        Resolution::Day => upsert!("day"),
    }
}

/// The series of `row` (created at the row's scale if new) and the scale to write at.
/// `None`: skip the row (its unit differs from the series', or a change to more decimals
/// would not fit the stored values).
fn series_for(
    tx: &Transaction<'_>,
    cache: &mut Books,
    other_units: &HashMap<i64, Box<str>>,
    row: &Row,
) -> Result<Option<(i64, u8)>, rusqlite::Error> {
    let unit = row.quantity.unit.as_str();
    let key = &row.quantity.key;
    // Looked up without building a key: no allocation per row of a known series.
    let list = match cache.get_mut(&*row.meter) {
        Some(l) => l,
        None => cache.entry(Box::from(&*row.meter)).or_default(),
    };
    let Some(s) = list.iter_mut().find(|s| s.key == *key) else {
        tx.prepare_cached(
            "INSERT INTO series (meter, key, unit, counter, scale) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![
            &*row.meter,
            &**key,
            unit,
            row.counter(),
            row.acc.scale
        ])?;
        let id = tx.last_insert_rowid();
        list.push(Series {
            key: key.clone(),
            id,
            unit: Some(row.quantity.unit),
            scale: row.acc.scale,
            warned: false,
        });
        list.shrink_to_fit();
        return Ok(Some((id, row.acc.scale)));
    };
    if let (Cow::Owned(_), Cow::Borrowed(k)) = (&s.key, key) {
        // Read back from the file: the bridge's own static key replaces the copy.
        s.key = Cow::Borrowed(*k);
    }
    if s.unit != Some(row.quantity.unit) {
        if !s.warned {
            s.warned = true;
            tracing::warn!(
                meter = %row.meter, key = %row.quantity.key, stored = s.unit.map_or_else(
                    || other_units.get(&s.id).map_or("?", |u| &**u),
                    |u| u.as_str(),
                ), now = unit,
                "history: this quantity changed its unit; its new values are not stored \
                 (they would be mixed with the old ones)"
            );
        }
        return Ok(None);
    }
    if row.acc.scale > s.scale {
        // The meter now sends more decimals: the stored values move to the finer scale.
        let factor = 10i64.pow(u32::from(row.acc.scale - s.scale));
        let mut largest = 0i64;
        for res in Resolution::ALL {
            let sql = format!(
                "SELECT max(max(abs(coalesce(sum, 0)), abs(coalesce(min, 0)),
                                abs(coalesce(max, 0)), abs(coalesce(last, 0))))
                 FROM {} WHERE series = ?1",
                res.table()
            );
            let m: Option<i64> = tx
                .query_row(&sql, [s.id], |r| r.get(0))
                .optional()?
                .flatten();
            largest = largest.max(m.unwrap_or(0));
        }
        if largest.checked_mul(factor).is_none() {
            return Ok(None);
        }
        for res in Resolution::ALL {
            let sql = format!(
                "UPDATE {} SET sum = sum * ?1, min = min * ?1, max = max * ?1,
                     last = last * ?1 WHERE series = ?2",
                res.table()
            );
            tx.execute(&sql, params![factor, s.id])?;
        }
        tx.execute(
            "UPDATE series SET scale = ?1 WHERE id = ?2",
            params![row.acc.scale, s.id],
        )?;
        s.scale = row.acc.scale;
    }
    Ok(Some((s.id, s.scale)))
}
