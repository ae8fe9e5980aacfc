//! A virtual transport driver: runs a `PollSession` against a sans-IO simulator on a virtual
//! clock. It tracks the line settings from `Configure`, tells the simulator at which settings
//! input arrived, and delivers a reply only if the port is at the reply's settings when the
//! reply starts (as the pty wrapper does). Sleeps and timeouts advance the clock; nothing
//! really waits.
#![allow(dead_code)]

use std::time::Duration;

use meter2mqtt::protocol::{Action, Event, LineSettings, Parity, PollError, PollSession};
use meter2mqtt::reading::Reading;
use meter2mqtt::sim::{receives, transmit_time, SimReply};
use meter2mqtt::time::Timestamp;

pub trait Meter {
    fn input(&mut self, line: LineSettings, bytes: &[u8]) -> Vec<SimReply>;
}

impl Meter for meter2mqtt::sim::MulticalSimulator {
    fn input(&mut self, line: LineSettings, bytes: &[u8]) -> Vec<SimReply> {
        self.on_input(line, bytes)
    }
}

impl Meter for meter2mqtt::sim::Iec62056Simulator {
    fn input(&mut self, line: LineSettings, bytes: &[u8]) -> Vec<SimReply> {
        self.on_input(line, bytes)
    }
}

/// What happened during a drive.
#[derive(Debug)]
pub struct Trace {
    pub result: Result<Vec<Reading>, PollError>,
    /// (time, bytes, line settings) of every write.
    pub writes: Vec<(Duration, Vec<u8>, LineSettings)>,
    /// Every action with the virtual time it was returned at.
    pub actions: Vec<(Duration, Action)>,
    /// Replies lost because the port was at other settings.
    pub lost: Vec<SimReply>,
    pub elapsed: Duration,
}

pub fn now() -> Timestamp {
    Timestamp::new(2024, 3, 1, 12, 0, 0, 0).unwrap()
}

pub fn line(baud: u32, stop: u8) -> LineSettings {
    LineSettings::new(baud, 7, Parity::Even, stop)
}

/// Run `session` against `meter`. `chunk` splits replies into pieces of that many bytes;
/// `ignore_configure` makes the driver pretend to switch but keep the port as it was (a
/// reader that never switches speed).
pub fn drive_with(
    session: &mut dyn PollSession,
    meter: &mut dyn Meter,
    chunk: usize,
    ignore_configure: bool,
) -> Trace {
    let mut port = LineSettings::new(9600, 8, Parity::None, 1);
    let mut clock = Duration::ZERO;
    let mut deadline = Duration::ZERO;
    let mut pending: Vec<(Duration, SimReply)> = Vec::new();
    let mut writes = Vec::new();
    let mut actions = Vec::new();
    let mut lost = Vec::new();
    let mut event_bytes: Vec<u8>;
    let mut action = session.step(Event::Start);
    for _ in 0..100_000 {
        actions.push((clock, action.clone()));
        let is_read = match action {
            Action::Finished(result) => {
                return Trace {
                    result,
                    writes,
                    actions,
                    lost,
                    elapsed: clock,
                };
            }
            Action::Configure(l) => {
                if !ignore_configure {
                    port = l;
                }
                false
            }
            Action::Write(b) => {
                clock += transmit_time(port, b.len());
                for r in meter.input(port, &b) {
                    pending.push((clock + r.delay, r));
                }
                writes.push((clock, b, port));
                false
            }
            Action::Flush => {
                pending.retain(|(t, _)| *t > clock);
                false
            }
            Action::Sleep(d) => {
                clock += d;
                false
            }
            Action::Read { timeout } => {
                deadline = clock + timeout;
                true
            }
            Action::ContinueRead => true,
            other => panic!("an action this test driver does not know: {other:?}"),
        };
        let event = match is_read {
            false => Event::Done,
            true => {
                // Deliver the earliest reply that starts before the deadline.
                pending.sort_by_key(|(t, _)| *t);
                let mut got = None;
                while let Some(pos) = pending.iter().position(|(t, _)| *t <= deadline) {
                    let (t, mut r) = pending.remove(pos);
                    clock = clock.max(t);
                    if !receives(port, r.line) {
                        lost.push(r);
                        continue;
                    }
                    let n = chunk.min(r.bytes.len()).max(1);
                    let rest = r.bytes.split_off(n.min(r.bytes.len()));
                    clock += transmit_time(r.line, r.bytes.len());
                    if !rest.is_empty() {
                        pending.push((
                            clock,
                            SimReply {
                                bytes: rest,
                                ..r.clone()
                            },
                        ));
                    }
                    got = Some(r.bytes);
                    break;
                }
                match got {
                    Some(b) => {
                        event_bytes = b;
                        action = session.step(Event::Input(&event_bytes));
                        continue;
                    }
                    None => {
                        clock = clock.max(deadline);
                        Event::Timeout
                    }
                }
            }
        };
        action = session.step(event);
    }
    panic!("session did not finish");
}

pub fn drive(session: &mut dyn PollSession, meter: &mut dyn Meter) -> Trace {
    drive_with(session, meter, 16, false)
}

/// A fixture file from tests/fixtures/iec62056.
pub fn fixture(name: &str) -> String {
    let p = format!(
        "{}/tests/fixtures/iec62056/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

pub fn vectors() -> serde_json::Value {
    serde_json::from_str(&fixture("ascii_vectors.json")).unwrap()
}

/// `<STX>` / `<ETX>` / `<CR>` / `<LF>` / `<ACK>` placeholders → bytes.
pub fn unescape(s: &str) -> Vec<u8> {
    s.replace("<STX>", "\x02")
        .replace("<ETX>", "\x03")
        .replace("<CR>", "\r")
        .replace("<LF>", "\n")
        .replace("<ACK>", "\x06")
        .into_bytes()
}

pub fn num(r: &Reading, key: &str) -> String {
    match r.get(key) {
        Some(meter2mqtt::reading::Value::Number(d)) => d.to_string(),
        other => panic!("{key}: {other:?}"),
    }
}

pub fn unit(r: &Reading, key: &str) -> &'static str {
    r.values
        .iter()
        .find(|m| m.quantity.key == key)
        .map(|m| m.quantity.unit.as_str())
        .unwrap_or_else(|| panic!("no {key}"))
}

/// A reader that never switches away from 300 baud: it swallows every `Configure` to another
/// speed (answering `Done` itself), so the port stays where it was.
pub struct NoSwitch<S>(pub S);

impl<S: PollSession> PollSession for NoSwitch<S> {
    fn step(&mut self, event: Event<'_>) -> Action {
        let mut a = self.0.step(event);
        while let Action::Configure(l) = &a {
            if l.baud == 300 {
                break;
            }
            a = self.0.step(Event::Done);
        }
        a
    }
}

/// The bytes of every write, in order.
pub fn written(t: &Trace) -> Vec<Vec<u8>> {
    t.writes.iter().map(|(_, b, _)| b.clone()).collect()
}
