//! The IEC 62056-21 readout as a [`PollSession`].
//!
//! `Configure(300)` → `Flush` → (wake-up) → `Write("/?!" CR LF)` → `Read` the identification → mode A:
//! keep 300 / mode B: `Configure(Z)` / mode C: wait the reaction time, `Write(ACK 0 Z 0 CR LF)`,
//! `Configure(Z)` → `Read` the data message up to ETX + BCC → check BCC → parse → map.

use std::time::Duration;

use super::block::{find_message, BccMode, MAX_MESSAGE};
use super::dataset::parse_data_block;
use super::failure::Iec62056Failure;
use super::ident::{BaudCode, Identification, Mode, MAX_IDENT_LEN};
use super::mapping::{map_readout, MappingIssue};
use super::profile::Profile;
use super::{ACK, CR, LF};
use crate::protocol::{Action, Event, LineSettings, Parity, PollError, PollSession};
use crate::time::Timestamp;

/// Initial speed of every mode (IEC 62056-21 §6.4: sign-on and identification at 300 baud).
pub const INITIAL_BAUD: u32 = 300;
/// Wake-up train length for battery meters: 2.1–2.3 s of NULs (team notes; Landis+Gyr UH50).
pub const WAKE_UP_TIME: Duration = Duration::from_millis(2200);
/// Pause after the wake-up train: 1.5–1.7 s (team notes).
pub const WAKE_UP_PAUSE: Duration = Duration::from_millis(1600);
/// Reaction time tr the reader waits before its acknowledgement: ≥ 200 ms, or ≥ 20 ms when the
/// manufacturer flag's third letter is lower case (IEC 62056-21 §6.3 timing, tr).
pub const REACTION_TIME: Duration = Duration::from_millis(200);
pub const SHORT_REACTION_TIME: Duration = Duration::from_millis(20);

/// Poll options; `Iec62056Options::new(profile)` fills in the profile's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iec62056Options {
    pub profile: Profile,
    /// Device address for `/?<address>!` (meters sharing one bus); `None` → `/?!`.
    pub address: Option<String>,
    pub bcc: BccMode,
    pub wake_up: bool,
    /// Character format (data bits, parity, stop bits) at every speed.
    pub data_format: (u8, Parity, u8),
    /// Highest speed the reader proposes in mode C (the optical head's limit).
    pub max_baud: u32,
    pub fallback_id: String,
    /// Extra attempts after the first failed one.
    pub retries: u8,
    /// Wait for the identification and for the first data byte: the meter answers within
    /// tr ≤ 1.5 s (§6.3 timing); 0.5 s margin for USB heads.
    pub reply_timeout: Duration,
    /// Longest silence inside a message: ta ≤ 1.5 s (§6.3 timing) plus margin.
    pub char_timeout: Duration,
    /// Pause before a new attempt: longer than the 1.5 s after which the meter drops an
    /// unfinished exchange (§6.3 timing, ta), so it is back waiting for a sign-on.
    pub retry_pause: Duration,
}

impl Iec62056Options {
    pub fn new(profile: Profile) -> Self {
        Iec62056Options {
            profile,
            address: None,
            bcc: profile.bcc(),
            wake_up: profile.wake_up(),
            data_format: profile.data_format(),
            max_baud: 19200,
            fallback_id: "iec62056".into(),
            retries: 2,
            reply_timeout: Duration::from_secs(2),
            char_timeout: Duration::from_secs(2),
            retry_pause: Duration::from_secs(2),
        }
    }

    fn line(&self, baud: u32) -> LineSettings {
        let (d, p, s) = self.data_format;
        LineSettings::new(baud, d, p, s)
    }

    /// The request message `/?<address>!` CR LF (§6.3 "request message").
    pub fn sign_on(&self) -> Vec<u8> {
        let mut v = b"/?".to_vec();
        if let Some(a) = &self.address {
            v.extend(a.bytes().filter(|&b| super::dataset::is_address_char(b)));
        }
        v.extend_from_slice(b"!\r\n");
        v
    }

    /// NUL bytes filling [`WAKE_UP_TIME`] at 300 baud with this character format.
    pub fn wake_up_bytes(&self) -> Vec<u8> {
        let (d, p, s) = self.data_format;
        let bits = 1 + d as u64 + u64::from(p != Parity::None) + s as u64;
        let n = WAKE_UP_TIME.as_millis() as u64 * INITIAL_BAUD as u64 / 1000 / bits.max(1);
        vec![0u8; n as usize]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    ConfigInitial,
    Flushing,
    WakeWrite,
    WakePause,
    SignOnWrite,
    ReadIdent,
    ReactionWait,
    AckWrite,
    ConfigData,
    ReadData,
    RetryPause,
    Finished,
}

/// One IEC 62056-21 readout of one meter.
pub struct Iec62056Session {
    opts: Iec62056Options,
    now: Timestamp,
    state: State,
    attempt: u8,
    buf: Vec<u8>,
    ident: Option<Identification>,
    data_baud: u32,
    issues: Vec<MappingIssue>,
    result: Option<Result<Vec<crate::reading::Reading>, PollError>>,
}

impl Iec62056Session {
    pub fn new(opts: Iec62056Options, now: Timestamp) -> Self {
        Iec62056Session {
            opts,
            now,
            state: State::Idle,
            attempt: 0,
            buf: Vec::new(),
            ident: None,
            data_baud: INITIAL_BAUD,
            issues: Vec::new(),
            result: None,
        }
    }

    /// The meter's identification, once received.
    pub fn identification(&self) -> Option<&Identification> {
        self.ident.as_ref()
    }

    /// Data sets that could not be published (non-numbers, units): for the log.
    pub fn issues(&self) -> &[MappingIssue] {
        &self.issues
    }

    fn begin(&mut self) -> Action {
        self.buf.clear();
        self.ident = None;
        self.state = State::ConfigInitial;
        Action::Configure(self.opts.line(INITIAL_BAUD))
    }

    fn finish(&mut self, r: Result<Vec<crate::reading::Reading>, PollError>) -> Action {
        self.state = State::Finished;
        self.result = Some(r.clone());
        Action::Finished(r)
    }

    fn failed(&mut self, e: PollError) -> Action {
        self.attempt = self.attempt.saturating_add(1);
        if self.attempt > self.opts.retries {
            let attempts = self.attempt;
            return self.finish(Err(e.map(|failure| {
                Iec62056Failure::Retried {
                    failure: Box::new(failure),
                    attempts,
                }
                .into()
            })));
        }
        self.state = State::RetryPause;
        Action::Sleep(self.opts.retry_pause)
    }

    fn read(&mut self, state: State, timeout: Duration) -> Action {
        self.state = state;
        Action::Read { timeout }
    }

    fn on_ident_input(&mut self, bytes: &[u8]) -> Action {
        self.buf.extend(bytes.iter().map(|b| b & 0x7F));
        loop {
            // Skip NULs, our own echo's leftovers and noise before the '/'.
            match self.buf.iter().position(|&b| b == b'/') {
                Some(i) => drop(self.buf.drain(..i)),
                None => {
                    self.buf.clear();
                    return Action::Read {
                        timeout: self.opts.char_timeout,
                    };
                }
            }
            let Some(lf) = self.buf.iter().position(|&b| b == LF) else {
                if self.buf.len() > MAX_IDENT_LEN {
                    return self.failed(PollError::BadReply(Iec62056Failure::IdentTooLong.into()));
                }
                return Action::Read {
                    timeout: self.opts.char_timeout,
                };
            };
            let line: Vec<u8> = self.buf.drain(..=lf).collect();
            let line = line.strip_suffix(&[CR, LF]).unwrap_or(&line).to_vec();
            // An optical head echoing the sign-on: `/?!` is a request, not an identification.
            if line.starts_with(b"/?") {
                continue;
            }
            return match Identification::parse(&line) {
                Ok(id) => self.after_ident(id),
                Err(error) => self.failed(PollError::BadReply(
                    Iec62056Failure::Ident {
                        line: String::from_utf8_lossy(&line).into_owned(),
                        error,
                    }
                    .into(),
                )),
            };
        }
    }

    fn after_ident(&mut self, id: Identification) -> Action {
        let mode = id.baud_code.mode();
        let meter_baud = id.baud_code.baud().unwrap_or(INITIAL_BAUD);
        let short = id.short_reaction;
        self.ident = Some(id);
        match mode {
            Mode::A => {
                // Data follows at 300 right after the identification, maybe already buffered.
                self.data_baud = INITIAL_BAUD;
                self.on_data_input(&[])
            }
            Mode::B => {
                self.data_baud = meter_baud;
                self.buf.clear();
                self.state = State::ConfigData;
                Action::Configure(self.opts.line(meter_baud))
            }
            Mode::C => {
                // The highest standard speed both the meter and the reader's head allow.
                let limit = meter_baud.min(self.opts.max_baud);
                self.data_baud = [19200, 9600, 4800, 2400, 1200, 600]
                    .into_iter()
                    .find(|&b| b <= limit)
                    .unwrap_or(INITIAL_BAUD);
                self.buf.clear();
                self.state = State::ReactionWait;
                Action::Sleep(if short {
                    SHORT_REACTION_TIME
                } else {
                    REACTION_TIME
                })
            }
        }
    }

    /// `ACK 0 Z 0` CR LF: protocol control 0 (normal), baud Z, mode 0 = data readout (§6.3
    /// "acknowledgement/option select message").
    fn ack(&self) -> Vec<u8> {
        let z = BaudCode::mode_c_for(self.data_baud).map_or(b'0', |c| c.0);
        vec![ACK, b'0', z, b'0', CR, LF]
    }

    fn on_data_input(&mut self, bytes: &[u8]) -> Action {
        self.buf.extend(bytes.iter().map(|b| b & 0x7F));
        let msg = match find_message(&self.buf) {
            Ok(Some(m)) => m,
            Ok(None) => {
                // Until the STX arrives the meter is still within its reaction time.
                let t = if self.buf.contains(&super::STX) {
                    self.opts.char_timeout
                } else {
                    self.opts.reply_timeout
                };
                return self.read(State::ReadData, t);
            }
            Err(e) => return self.failed(PollError::BadReply(Iec62056Failure::Message(e).into())),
        };
        let checked = msg
            .verify(self.opts.bcc)
            .and_then(|()| parse_data_block(msg.block));
        let sets = match checked {
            Ok(s) => s,
            Err(e) => return self.failed(PollError::BadReply(Iec62056Failure::Data(e).into())),
        };
        let Some(ident) = self.ident.as_ref() else {
            return self.failed(PollError::BadReply(Iec62056Failure::DataBeforeIdent.into()));
        };
        let mapped = map_readout(
            ident,
            &sets,
            self.opts.profile,
            &self.opts.fallback_id,
            self.now,
        );
        self.issues = mapped.issues;
        self.finish(Ok(vec![mapped.reading]))
    }
}

impl PollSession for Iec62056Session {
    fn step(&mut self, event: Event<'_>) -> Action {
        match (self.state, event) {
            (State::Finished, _) => Action::Finished(
                self.result
                    .clone()
                    .unwrap_or(Err(PollError::BadReply(Iec62056Failure::Finished.into()))),
            ),
            (State::Idle, Event::Start) | (State::RetryPause, Event::Done) => self.begin(),
            (State::ConfigInitial, Event::Done) => {
                // Drop what a previous attempt left in the driver (a late data message).
                self.state = State::Flushing;
                Action::Flush
            }
            (State::Flushing, Event::Done) if self.opts.wake_up => {
                self.state = State::WakeWrite;
                Action::Write(self.opts.wake_up_bytes())
            }
            (State::WakeWrite, Event::Done) => {
                self.state = State::WakePause;
                Action::Sleep(WAKE_UP_PAUSE)
            }
            (State::Flushing, Event::Done) | (State::WakePause, Event::Done) => {
                self.state = State::SignOnWrite;
                Action::Write(self.opts.sign_on())
            }
            (State::SignOnWrite, Event::Done) => {
                self.read(State::ReadIdent, self.opts.reply_timeout)
            }
            (State::ReadIdent, Event::Input(b)) => self.on_ident_input(b),
            (State::ReadIdent, Event::Timeout) => self.failed(PollError::NoAnswer(
                Iec62056Failure::NoIdent {
                    line: self.opts.line(INITIAL_BAUD),
                    timeout: self.opts.reply_timeout,
                }
                .into(),
            )),
            (State::ReactionWait, Event::Done) => {
                self.state = State::AckWrite;
                Action::Write(self.ack())
            }
            (State::AckWrite, Event::Done) => {
                self.state = State::ConfigData;
                Action::Configure(self.opts.line(self.data_baud))
            }
            (State::ConfigData, Event::Done) => self.read(State::ReadData, self.opts.reply_timeout),
            (State::ReadData, Event::Input(b)) => {
                if self.buf.len() > MAX_MESSAGE * 2 {
                    return self.failed(PollError::BadReply(Iec62056Failure::DataTooLong.into()));
                }
                self.on_data_input(b)
            }
            (State::ReadData, Event::Timeout) => {
                let e = if self.buf.contains(&super::STX) {
                    PollError::BadReply(
                        Iec62056Failure::DataCutOff {
                            bytes: self.buf.len(),
                            baud: self.data_baud,
                        }
                        .into(),
                    )
                } else {
                    PollError::NoAnswer(
                        Iec62056Failure::NoData {
                            baud: self.data_baud,
                        }
                        .into(),
                    )
                };
                self.failed(e)
            }
            (state, ev) => self.finish(Err(PollError::BadReply(
                Iec62056Failure::UnexpectedEvent {
                    event: format!("{ev:?}"),
                    state: format!("{state:?}"),
                }
                .into(),
            ))),
        }
    }
}
