//! One KMP poll of one meter as a [`PollSession`] state machine.
//!
//! Sequence: `Configure(line)`, `Flush`, then for each request `Write` → `Read`. Requests:
//! GetSerialNo and GetType when the identity is not known yet, then GetRegister with at most 8
//! ids each. A request that gets no reply or a damaged one is repeated after a rest of
//! [`ERROR_REST`] (and a `Flush` to drop late bytes), at most `retries` times.
//!
//! Failure policy: if the meter never answered anything in this poll, the poll fails with
//! [`PollError::NoAnswer`] (or [`PollError::BadReply`] when it only sent damaged frames) as soon
//! as the first request has used up its retries, to spare the battery of a sleeping meter.
//! Once it has answered, a request that still fails is skipped: its registers are reported
//! missing and the poll goes on. The poll fails if none of its register requests succeeded.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::codec::{self, MeterType, RegisterEntry};
use super::failure::KmpFailure;
use super::frame::{Frame, FrameError, Push, Received, Receiver};
use super::registers::{map_entry, Mapped};
pub use super::request::Request;
use crate::protocol::{Action, Event, PollError, PollSession};
use crate::reading::{MeterInfo, Reading};
use crate::time::Timestamp;

pub use super::poll_config::{Identity, KmpPollConfig, DEFAULT_RETRIES};

/// The meter answers a request within 1.6 s (5512-447 timing rules; notes "Timing").
pub const REPLY_WITHIN: Duration = Duration::from_millis(1600);
/// Rest after no reply or a damaged reply before trying again. The meter needs at least 1.6 s
/// (5512-447 timing rules; notes "Timing"); 2 s leaves room for driver and USB latency.
pub const ERROR_REST: Duration = Duration::from_millis(2000);
/// Added to every read deadline for driver, USB-serial and OS scheduling latency.
pub const READ_MARGIN: Duration = Duration::from_millis(400);
/// Warnings kept per poll: a line spewing ACKs or foreign frames must not grow memory.
const MAX_WARNINGS: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    Configuring,
    Flushing,
    Writing,
    Reading,
    Resting,
    Finished,
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            State::Idle => "idle",
            State::Configuring => "configuring",
            State::Flushing => "flushing",
            State::Writing => "writing",
            State::Reading => "reading",
            State::Resting => "resting",
            State::Finished => "finished",
        };
        f.write_str(s)
    }
}

/// A KMP poll. See the module docs.
#[derive(Clone, Debug)]
pub struct KmpSession {
    config: KmpPollConfig,
    now: Timestamp,
    plan: Vec<Request>,
    current: usize,
    attempt: u8,
    state: State,
    rx: Receiver,
    serial: Option<u32>,
    meter_type: Option<MeterType>,
    entries: BTreeMap<u16, RegisterEntry>,
    missing: Vec<u16>,
    warnings: Vec<String>,
    answered: bool,
    register_requests_ok: usize,
    last_error: Option<PollError>,
    requests_sent: usize,
    last_request_len: usize,
    result: Option<Result<Vec<Reading>, PollError>>,
}

impl KmpSession {
    /// A poll at time `now` (the reading's time; the session never reads a clock).
    pub fn new(config: KmpPollConfig, now: Timestamp) -> Self {
        let mut plan = Vec::new();
        if config.identity.is_none() {
            plan.push(Request::Serial);
            plan.push(Request::Type);
        }
        for chunk in config
            .registers
            .ids()
            .chunks(codec::MAX_REGISTERS_PER_REQUEST)
        {
            plan.push(Request::Registers(chunk.to_vec()));
        }
        KmpSession {
            serial: config.identity.map(|i| i.serial),
            meter_type: config.identity.and_then(|i| i.meter_type),
            config,
            now,
            plan,
            current: 0,
            attempt: 0,
            state: State::Idle,
            rx: Receiver::from_meter(),
            entries: BTreeMap::new(),
            missing: Vec::new(),
            warnings: Vec::new(),
            answered: false,
            register_requests_ok: 0,
            last_error: None,
            requests_sent: 0,
            last_request_len: 0,
            result: None,
        }
    }

    /// The identity learned in this poll (or passed in), to cache for the next poll.
    pub fn identity(&self) -> Option<Identity> {
        self.serial.map(|serial| Identity {
            serial,
            meter_type: self.meter_type,
        })
    }

    /// Register ids requested but not in the reading (unknown to the meter, or their
    /// request failed).
    pub fn missing(&self) -> &[u16] {
        &self.missing
    }

    /// Things worth logging that did not fail the poll.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Request frames written, retries included.
    pub fn requests_sent(&self) -> usize {
        self.requests_sent
    }

    /// The read deadline for the current request: the meter's 1.6 s, the echo of our request
    /// and the longest reply at the line's speed, plus a margin.
    fn read_timeout(&self, request_len: usize) -> Duration {
        let chars = request_len + self.plan[self.current].max_reply_len();
        let transfer = self.config.line.char_time(chars);
        REPLY_WITHIN + transfer + READ_MARGIN
    }

    fn request_bytes(&self) -> Result<Vec<u8>, PollError> {
        let address = self.config.address;
        match &self.plan[self.current] {
            Request::Serial => Ok(codec::get_serial_request(address)),
            Request::Type => Ok(codec::get_type_request(address)),
            Request::Registers(ids) => codec::get_register_request(address, ids)
                .map_err(|e| PollError::BadReply(KmpFailure::Request(e).into())),
        }
    }

    fn write_current(&mut self) -> Action {
        self.rx.reset();
        match self.request_bytes() {
            Ok(bytes) => {
                self.requests_sent += 1;
                self.last_request_len = bytes.len();
                self.state = State::Writing;
                Action::Write(bytes)
            }
            Err(e) => self.finish(Err(e)),
        }
    }

    /// Move to the next request, or finish. After a failed request `rest_first` makes the
    /// session rest [`ERROR_REST`] before talking to the meter again.
    fn next_request(&mut self, rest_first: bool) -> Action {
        self.current += 1;
        self.attempt = 0;
        if self.current >= self.plan.len() {
            return self.finish_poll();
        }
        if rest_first {
            self.state = State::Resting;
            Action::Sleep(ERROR_REST)
        } else {
            // Promptly: the meter stays awake 1.6 s after its reply (notes "Timing").
            self.write_current()
        }
    }

    fn failed_attempt(&mut self, error: PollError) -> Action {
        self.last_error = Some(error.clone());
        self.rx.reset();
        if self.attempt < self.config.retries {
            self.attempt += 1;
            self.state = State::Resting;
            return Action::Sleep(ERROR_REST);
        }
        let tries = u32::from(self.config.retries) + 1;
        if !self.answered {
            return self.finish(Err(error.map(|failure| {
                KmpFailure::Retried {
                    failure: Box::new(failure),
                    tries,
                }
                .into()
            })));
        }
        self.warn(format!("{error} (after {tries} tries); request skipped"));
        if let Request::Registers(ids) = &self.plan[self.current] {
            self.missing.extend_from_slice(ids);
        }
        self.next_request(true)
    }

    fn warn(&mut self, warning: impl Into<String>) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(warning.into());
        } else if self.warnings.len() == MAX_WARNINGS {
            self.warnings.push("further warnings suppressed".into());
        }
    }

    /// The request in flight.
    fn current_request(&self) -> Request {
        self.plan[self.current].clone()
    }

    fn on_input(&mut self, mut bytes: &[u8]) -> Action {
        loop {
            match self.rx.push(bytes) {
                Push::NeedMore => return Action::ContinueRead,
                Push::Failed { error, .. } => {
                    return self.failed_attempt(frame_error(self.current_request(), error))
                }
                Push::Complete { received, consumed } => {
                    bytes = bytes.get(consumed..).unwrap_or(&[]);
                    match received {
                        Received::Ack => {
                            self.warn("unexpected ACK while waiting for a reply; ignored")
                        }
                        Received::Frame(f) => {
                            let expected = self.plan[self.current].command();
                            if f.address == self.config.address && f.command == expected {
                                return self.on_reply(f);
                            }
                            self.warn(format!(
                                "ignored a frame for address {:#04x} command {:#04x} while \
                                 waiting for {}",
                                f.address, f.command, self.plan[self.current]
                            ));
                        }
                    }
                    if bytes.is_empty() {
                        return Action::ContinueRead;
                    }
                }
            }
        }
    }

    fn on_reply(&mut self, frame: Frame) -> Action {
        self.answered = true;
        let request = self.plan[self.current].clone();
        match request {
            Request::Serial => match codec::decode_serial_reply(&frame.data) {
                Ok(s) => self.serial = Some(s),
                Err(e) => self
                    .warnings
                    .push(format!("GetSerialNo reply not understood: {e}")),
            },
            Request::Type => match codec::decode_type_reply(&frame.data) {
                Ok(t) => self.meter_type = Some(t),
                Err(e) => self
                    .warnings
                    .push(format!("GetType reply not understood: {e}")),
            },
            Request::Registers(ids) => match codec::decode_register_reply(&frame.data) {
                Ok(entries) => {
                    self.register_requests_ok += 1;
                    for entry in entries {
                        if !ids.contains(&entry.id) {
                            self.warn(format!(
                                "reply carried register {:#06x}, which was not requested; ignored",
                                entry.id
                            ));
                        } else {
                            match self.entries.entry(entry.id) {
                                Entry::Vacant(slot) => {
                                    slot.insert(entry);
                                }
                                Entry::Occupied(_) => self.warn(format!(
                                    "reply carried register {:#06x} twice; kept the first",
                                    entry.id
                                )),
                            }
                        }
                    }
                    for id in ids {
                        if !self.entries.contains_key(&id) {
                            self.missing.push(id);
                        }
                    }
                }
                Err(e) => {
                    let err = PollError::BadReply(
                        KmpFailure::Reply {
                            request: self.current_request(),
                            error: e,
                        }
                        .into(),
                    );
                    self.warn(format!("{err}; registers skipped"));
                    self.last_error = Some(err);
                    self.missing.extend_from_slice(&ids);
                }
            },
        }
        self.next_request(false)
    }

    fn finish(&mut self, result: Result<Vec<Reading>, PollError>) -> Action {
        self.state = State::Finished;
        self.result = Some(result.clone());
        Action::Finished(result)
    }

    fn finish_poll(&mut self) -> Action {
        let register_requests = self
            .plan
            .iter()
            .filter(|r| matches!(r, Request::Registers(_)))
            .count();
        if register_requests > 0 && self.register_requests_ok == 0 {
            let err = self
                .last_error
                .clone()
                .unwrap_or_else(|| PollError::BadReply(KmpFailure::NoRegisterReply.into()));
            return self.finish(Err(err));
        }
        let reading = self.build_reading();
        self.finish(Ok(vec![reading]))
    }

    fn build_reading(&mut self) -> Reading {
        let kind = self.config.registers.kind();
        let id = match (self.serial, &self.config.fallback_id) {
            (Some(s), _) => format!("kamstrup_{s}"),
            (None, Some(f)) => f.clone(),
            (None, None) => {
                self.warn("no serial number and no fallback id: the meter id is only the address");
                format!("kamstrup_kmp_{:02x}", self.config.address)
            }
        };
        let mut info = MeterInfo::new(id, kind);
        info.manufacturer = Some("Kamstrup".into());
        info.model = self.meter_type.map(|t| t.model());
        info.serial = self.serial.map(|s| s.to_string());
        info.protocol = Some("KMP".into());
        // GetType's software revision ("F1", 5512-447 sec. 6.2.1) is the meter's firmware.
        info.firmware = self.meter_type.and_then(|t| t.revision_string());
        let mut reading = Reading::new(info, self.now);
        let mapped: Vec<Mapped> = self
            .config
            .registers
            .ids()
            .iter()
            .filter_map(|id| self.entries.get(id))
            .map(|entry| map_entry(kind, entry))
            .collect();
        for m in mapped {
            match m {
                Mapped::Value(m) => reading.values.push(m),
                Mapped::Fallback {
                    measurement,
                    warning,
                } => {
                    self.warn(warning);
                    reading.values.push(measurement);
                }
                Mapped::Raw { raw, warning } => {
                    self.warn(warning);
                    reading.raw.push(raw);
                }
            }
        }
        reading
    }
}

fn frame_error(request: Request, error: FrameError) -> PollError {
    PollError::BadReply(KmpFailure::Frame { request, error }.into())
}

impl PollSession for KmpSession {
    fn step(&mut self, event: Event<'_>) -> Action {
        match (self.state, event) {
            (State::Finished, _) => Action::Finished(
                self.result
                    .clone()
                    .unwrap_or_else(|| Err(PollError::BadReply(KmpFailure::Finished.into()))),
            ),
            (State::Idle, Event::Start) => {
                if self.plan.is_empty() {
                    return self.finish_poll();
                }
                self.state = State::Configuring;
                Action::Configure(self.config.line)
            }
            (State::Configuring | State::Resting, Event::Done) => {
                self.state = State::Flushing;
                Action::Flush
            }
            (State::Flushing, Event::Done) => self.write_current(),
            (State::Writing, Event::Done) => {
                self.state = State::Reading;
                Action::Read {
                    timeout: self.read_timeout(self.last_request_len),
                }
            }
            (State::Reading, Event::Input(bytes)) => self.on_input(bytes),
            (State::Reading, Event::Timeout) => {
                let what = self.current_request();
                let error = if self.rx.in_frame() {
                    PollError::BadReply(KmpFailure::CutOff(what).into())
                } else {
                    PollError::NoAnswer(KmpFailure::NoReply(what).into())
                };
                self.failed_attempt(error)
            }
            (state, event) => self.finish(Err(PollError::BadReply(
                KmpFailure::UnexpectedEvent {
                    event: format!("{event:?}"),
                    state: state.to_string(),
                }
                .into(),
            ))),
        }
    }
}
