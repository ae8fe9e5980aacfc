//! `meter2mqtt demo`'s history: the simulated household's last days, written into the
//! history before its meters go live, so that the page's charts show days at once.
//!
//! The values come from the simulators' own model (`sim::household`): the same meters, run
//! from [`DAYS`] ago to now, a telegram a minute (the last hours) or every ten minutes, decoded by the real P1 decoder. The live
//! meters then go on from where the backfill ended, so counters continue without a step.
//! It is logged as a backfill: these are not measurements.

use std::path::Path;
use std::sync::{Mutex, PoisonError};

use meter2mqtt::config::{Config, InputConfig};
use meter2mqtt::input::kmp::KmpPoller;
use meter2mqtt::input::multical::MulticalPoller;
use meter2mqtt::input::poll::Poller;
use meter2mqtt::sim::kmp::KmpSimulator;
use meter2mqtt::sim::offline;
use meter2mqtt::sim::MulticalSimulator;

use meter2mqtt::history::backfill::backfill;
use meter2mqtt::protocol::dsmr::{DecoderOptions, P1Decoder, P1Event};
use meter2mqtt::reading::Reading;
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use meter2mqtt::time::Timestamp;

/// The demo's own temporary data directory, `meter2mqtt-demo-<pid>` under the system's
/// temp directory. A demo that was killed (SIGKILL: no clean-up) left one behind: those
/// whose process is gone are removed first, so killed demos do not pile up files.
pub fn temp_data_dir() -> std::path::PathBuf {
    let tmp = std::env::temp_dir();
    if let Ok(entries) = std::fs::read_dir(&tmp) {
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix("meter2mqtt-demo-"))
            else {
                continue;
            };
            let gone = pid
                .parse::<u32>()
                .is_ok_and(|p| !Path::new(&format!("/proc/{p}")).exists());
            if gone && Path::new("/proc/self").exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    tmp.join(format!("meter2mqtt-demo-{}", std::process::id()))
}

/// Days of history the demo starts with.
pub const DAYS: i64 = 3;
/// The last part of it with a telegram a minute (the history keeps minute rows of it).
const RECENT: i64 = 6 * 3600;

/// A polled meter of the demo for the backfill: called once per step with the step's UTC
/// time and its length (s), it lets the simulator's time pass and polls it (in memory,
/// through the real session: [`meter2mqtt::sim::offline`]).
pub type PolledMeter<'a> = Box<dyn FnMut(i64, u32) -> Vec<Reading> + 'a>;

/// The meters `specs` (input name, flavour, seed) at `clock` (the meters' local time,
/// `utc_offset` seconds ahead of UTC), after writing their last [`DAYS`] into the history
/// file at `path` (if it has none yet), the `polled` meters' too (heat meters: each is
/// polled at every step, so its simulator is [`DAYS`] on when the live meter starts); and a
/// line saying what was written.
pub fn backfilled(
    path: &Path,
    clock: i64,
    utc_offset: i64,
    specs: &[(&str, Flavour, u64)],
    mut polled: Vec<PolledMeter<'_>>,
) -> (Vec<DsmrMeter>, String) {
    let start = clock - DAYS * 86_400;
    let mut meters: Vec<(P1Decoder, DsmrMeter)> = specs
        .iter()
        .map(|(name, flavour, seed)| {
            let opts = DecoderOptions {
                // As the P1 input does: a meter without an id is named after its input.
                fallback_meter_id: (*name).to_string(),
                ..DecoderOptions::default()
            };
            (P1Decoder::new(opts), DsmrMeter::new(*flavour, start, *seed))
        })
        .collect();
    let mut readings = Vec::new();
    let mut t = start;
    while t < clock {
        // A telegram a minute for the last hours (the page's minute chart), one every 10
        // minutes before (hours and days: counters are exact at any rate).
        let step = if clock - t <= RECENT { 60 } else { 600 };
        t += step;
        for (decoder, meter) in &mut meters {
            decoder.push(&meter.telegram(step as u32));
            let now = meter.house.clock - utc_offset;
            while let Some(ev) = decoder.next_event(Timestamp::from_unix_seconds(now)) {
                if let P1Event::Telegram(t) = ev {
                    readings.extend(t.readings.into_iter().map(|r| (now, r)));
                }
            }
        }
        let now = t - utc_offset;
        for poll in &mut polled {
            readings.extend(poll(now, step as u32).into_iter().map(|r| (now, r)));
        }
    }
    // In time order, as the backfill sums them up (a DSMR meter's clock and the step's differ
    // by the seconds its telegrams take).
    readings.sort_by_key(|(t, _)| *t);
    let started = std::time::Instant::now();
    let note = match backfill(path, clock - utc_offset, readings) {
        Ok(Some(b)) => {
            tracing::info!(
                days = DAYS,
                hours = b.hours,
                minutes = b.minutes,
                readings = b.readings,
                ms = started.elapsed().as_millis() as u64,
                "history: backfilled from the simulated household (demo values, not measured)"
            );
            format!("history: {DAYS} days backfilled from the simulated household (demo values, not measured) in {}", path.display())
        }
        Ok(None) => format!("history: {} has data already; no backfill", path.display()),
        Err(e) => {
            tracing::warn!(error = %e, "history: no backfill");
            format!("history: no backfill: {e}")
        }
    };
    (meters.into_iter().map(|(_, m)| m).collect(), note)
}

/// The demo's heat meters for [`backfilled`]: for each KMP and MULTICAL input of `cfg`, the
/// bridge's own poller (same registers, options and meter id as the live input) polling
/// `kmp` or `mc` offline. A poll that fails is skipped (logged at debug), as a live one is.
pub fn heat_meters<'a>(
    cfg: &Config,
    kmp: &'a Mutex<KmpSimulator>,
    mc: &'a Mutex<MulticalSimulator>,
) -> Vec<PolledMeter<'a>> {
    let mut out: Vec<PolledMeter<'a>> = Vec::new();
    for input in &cfg.inputs {
        match input {
            InputConfig::Kmp(c) => {
                let Ok(mut poller) = KmpPoller::new(c) else {
                    continue;
                };
                let name = c.name.clone();
                out.push(Box::new(move |now, step| {
                    let mut sim = kmp.lock().unwrap_or_else(PoisonError::into_inner);
                    sim.advance(u64::from(step));
                    let mut s = poller.session(Timestamp::from_unix_seconds(now));
                    let r = offline::poll(&mut s, |_, bytes| sim.on_input(bytes));
                    poller.learn(&s, &name);
                    r.unwrap_or_else(|e| {
                        tracing::debug!(input = %name, error = %e, "backfill: poll failed");
                        Vec::new()
                    })
                }));
            }
            InputConfig::Multical(c) => {
                let mut poller = MulticalPoller::new(c);
                let name = c.name.clone();
                out.push(Box::new(move |now, step| {
                    let mut sim = mc.lock().unwrap_or_else(PoisonError::into_inner);
                    sim.advance(u64::from(step));
                    let mut s = poller.session(Timestamp::from_unix_seconds(now));
                    let r = offline::poll(&mut s, |line, bytes| match line {
                        Some(line) => sim
                            .on_input(line, bytes)
                            .into_iter()
                            .flat_map(|r| r.bytes)
                            .collect(),
                        None => Vec::new(),
                    });
                    poller.learn(&s, &name);
                    r.unwrap_or_else(|e| {
                        tracing::debug!(input = %name, error = %e, "backfill: poll failed");
                        Vec::new()
                    })
                }));
            }
            _ => {}
        }
    }
    out
}
