//! `GET /api/meters/{id}/history`: the parameters, checked, and the answer from the file.
//! Blocking code (SQLite); the route runs it on tokio's blocking pool.
//!
//! Contract (`/tmp/assign2/api-contract.md`, `docs/http-api.md`): `key` (required), `from`,
//! `to` (Unix ms or RFC 3339), `resolution` (`minute` default, `hour`, `day`); at most
//! [`MAX_POINTS`] steps. Steps without data are left out (a gap is a missing point).

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use super::minute::{decimal, mean};
use super::store::Resolution;
use crate::decimal::Decimal;

/// The most steps one answer may span.
pub const MAX_POINTS: i64 = 10_000;

/// Why a query has no answer; the route maps these to 400, 404 and 503.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unavailable(String),
}

/// A checked query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub key: String,
    /// Unix ms, `from < to`.
    pub from_ms: i64,
    pub to_ms: i64,
    pub resolution: Resolution,
}

fn bad(m: impl Into<String>) -> QueryError {
    QueryError::BadRequest(m.into())
}

impl Query {
    /// Check the query string's parameters (`now_ms` for the default `to`).
    pub fn parse<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
        now_ms: i64,
    ) -> Result<Query, QueryError> {
        let (mut key, mut from, mut to, mut res) = (None, None, None, None);
        for (k, v) in pairs {
            let slot = match k {
                "key" => &mut key,
                "from" => &mut from,
                "to" => &mut to,
                "resolution" => &mut res,
                // The page keeps `?token=` on its API calls (auth is the server's).
                "token" => continue,
                other => return Err(bad(format!("unknown parameter `{other}`"))),
            };
            if slot.replace(v).is_some() {
                return Err(bad(format!("parameter `{k}` given twice")));
            }
        }
        let key = key
            .filter(|k| !k.is_empty())
            .ok_or_else(|| bad("parameter `key` is required (a quantity key, e.g. power_import)"))?
            .to_string();
        let resolution = match res {
            None => Resolution::Minute,
            Some(r) => Resolution::parse(r)
                .ok_or_else(|| bad(format!("resolution `{r}`: give minute, hour or day")))?,
        };
        let to_ms = match to {
            Some(t) => parse_time("to", t)?,
            None => now_ms,
        };
        let span = match resolution {
            Resolution::Minute => 3_600_000,
            Resolution::Hour => 48 * 3_600_000,
            Resolution::Day => 30 * 86_400_000,
        };
        let from_ms = match from {
            Some(t) => parse_time("from", t)?,
            None => to_ms.saturating_sub(span),
        };
        if from_ms >= to_ms {
            return Err(bad("`from` must be before `to`"));
        }
        let step_ms = resolution.step() * 1000;
        let span_ms = to_ms - floor(from_ms, step_ms);
        let steps = span_ms / step_ms + i64::from(span_ms % step_ms != 0);
        if steps > MAX_POINTS {
            return Err(bad(format!(
                "{steps} {} steps asked for, at most {MAX_POINTS}: narrow from/to or take a coarser resolution",
                resolution.table()
            )));
        }
        Ok(Query {
            key,
            from_ms,
            to_ms,
            resolution,
        })
    }
}

fn floor(v: i64, step: i64) -> i64 {
    v - v.rem_euclid(step)
}

/// `T` as Unix ms: an integer, or RFC 3339 (`2024-01-15T12:00:00Z`,
/// `2024-01-15T13:00:00.5+01:00`).
pub fn parse_time(name: &str, s: &str) -> Result<i64, QueryError> {
    let err = || {
        bad(format!(
            "`{name}`: `{s}` is neither Unix milliseconds nor an RFC 3339 time (2024-01-15T12:00:00Z)"
        ))
    };
    if let Ok(ms) = s.parse::<i64>() {
        // Up to year 9999, so every step computed from it stays far from overflow.
        return if (0..=253_402_300_799_999).contains(&ms) {
            Ok(ms)
        } else {
            Err(err())
        };
    }
    rfc3339_ms(s).ok_or_else(err)
}

/// RFC 3339 §5.6 `date-time`, with `T`, `t` or a space between date and time.
fn rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = b.get(r)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut ms = 0i64;
    if sep(i, b".") {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        // Milliseconds: the first three digits (the rest is below the API's resolution).
        let digits = &s[start..i.min(start + 3)];
        ms = digits.parse::<i64>().ok()? * 10i64.pow(3 - digits.len() as u32);
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0i32,
        // A `+` left unencoded in a query string arrives as a space (form encoding).
        b'+' | b'-' | b' ' if i + 6 == b.len() && sep(i + 3, b":") => {
            let m = (num(i + 1..i + 3)? * 60 + num(i + 4..i + 6)?) as i32;
            if b[i] == b'-' {
                -m
            } else {
                m
            }
        }
        _ => return None,
    };
    let t = crate::time::Timestamp::new(
        u16::try_from(year).ok()?,
        u8::try_from(month).ok()?,
        u8::try_from(day).ok()?,
        u8::try_from(hour).ok()?,
        u8::try_from(minute).ok()?,
        u8::try_from(second).ok()?,
        i16::try_from(offset).ok()?,
    )?;
    let secs = t.unix_seconds();
    (secs >= 0).then(|| secs * 1000 + ms)
}

fn num(d: Option<Decimal>) -> Value {
    d.map_or(Value::Null, |d| Value::Number(d.to_json_number()))
}

/// Answer `q` for `meter` from `conn`.
pub fn run(conn: &Connection, meter: &str, q: &Query) -> Result<Value, QueryError> {
    run_inner(conn, meter, q).map_err(|e| match e {
        Inner::Query(e) => e,
        Inner::Sql(e) => QueryError::Unavailable(format!("reading the history failed: {e}")),
    })
}

enum Inner {
    Query(QueryError),
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for Inner {
    fn from(e: rusqlite::Error) -> Self {
        Inner::Sql(e)
    }
}

fn run_inner(conn: &Connection, meter: &str, q: &Query) -> Result<Value, Inner> {
    let series: Option<(i64, String, bool, u8)> = conn
        .query_row(
            "SELECT id, unit, counter, scale FROM series WHERE meter = ?1 AND key = ?2",
            params![meter, q.key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?;
    let Some((id, unit, counter, scale)) = series else {
        let known: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM series WHERE meter = ?1)",
            [meter],
            |r| r.get(0),
        )?;
        return Err(Inner::Query(QueryError::NotFound(if known {
            format!("meter `{meter}` has no history for key `{}`", q.key)
        } else {
            format!("no history for meter `{meter}`")
        })));
    };
    let step = q.resolution.step();
    let from = floor(q.from_ms.div_euclid(1000), step);
    let to = q.to_ms.div_euclid(1000) + i64::from(q.to_ms.rem_euclid(1000) != 0);
    let table = q.resolution.table();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT t, n, sum, min, max, last FROM {table} WHERE series = ?1 AND t >= ?2 AND t < ?3
         ORDER BY t"
    ))?;
    type Raw = (
        i64,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<i64>,
    );
    let rows = stmt.query_map(params![id, from, to], |r| -> rusqlite::Result<Raw> {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
        ))
    })?;
    let mut points = Vec::new();
    if counter {
        // The value before the first step, so that its consumption is known too.
        let mut prev: Option<i64> = conn
            .query_row(
                &format!(
                    "SELECT last FROM {table} WHERE series = ?1 AND t < ?2 AND last IS NOT NULL
                     ORDER BY t DESC LIMIT 1"
                ),
                params![id, from],
                |r| r.get(0),
            )
            .optional()?;
        for row in rows {
            let (t, _, _, _, _, last) = row?;
            let Some(last) = last else { continue };
            // A counter only falls when the guard accepted a lasting drop (meter replaced):
            // that step's consumption is unknown, not negative.
            let delta = prev
                .and_then(|p| last.checked_sub(p))
                .filter(|d| *d >= 0)
                .and_then(|d| decimal(d, scale));
            points.push(
                json!({"t": t * 1000, "last": num(decimal(last, scale)), "delta": num(delta)}),
            );
            prev = Some(last);
        }
    } else {
        for row in rows {
            let (t, n, sum, min, max, _) = row?;
            let (Some(n), Some(sum)) = (n, sum) else {
                continue;
            };
            points.push(json!({
                "t": t * 1000,
                "min": num(min.and_then(|v| decimal(v, scale))),
                "mean": num(mean(i128::from(sum), n, scale)),
                "max": num(max.and_then(|v| decimal(v, scale))),
            }));
        }
    }
    Ok(json!({
        "meter": meter,
        "key": q.key,
        "unit": unit,
        "resolution": table,
        "counter": counter,
        "points": points,
    }))
}
