//! Sans-IO protocol cores: pure code over bytes, no sockets, no timers, no async runtime.
//!
//! Push protocols (DSMR P1) are a decoder you feed bytes into. Request/response protocols
//! (KMP, MULTICAL `/#n`, IEC 62056-21) implement [`PollSession`]: a state machine that tells a
//! transport driver what to do next ([`Action`]) and is told what happened ([`Event`]). The
//! driver (in `transport`) owns the port and the clock; the session owns the protocol. That
//! split is what lets every protocol run over serial or TCP and be tested without hardware.

pub mod dsmr;
pub mod iec62056;
pub mod kmp;
pub mod multical;

use std::time::Duration;

use crate::reading::Reading;

/// Serial parity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    None,
    Even,
    Odd,
}

/// Serial line settings a protocol needs (baud rate and character format).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LineSettings {
    pub baud: u32,
    pub data_bits: u8,
    pub parity: Parity,
    pub stop_bits: u8,
}

impl LineSettings {
    pub const fn new(baud: u32, data_bits: u8, parity: Parity, stop_bits: u8) -> Self {
        LineSettings {
            baud,
            data_bits,
            parity,
            stop_bits,
        }
    }

    /// Bits one character takes on the line: a start bit, the data bits, a parity bit unless
    /// there is none, and the stop bits: the asynchronous UART frame behind every `7E1`/`8N2`
    /// in the notes (`shared/notes/kamstrup.md`, `shared/notes/dsmr.md`): 7E2 is 11 bits.
    pub const fn bits_per_char(self) -> u64 {
        1 + self.data_bits as u64
            + (!matches!(self.parity, Parity::None)) as u64
            + self.stop_bits as u64
    }

    /// How long `n` characters take to leave a UART at these settings (whole microseconds,
    /// rounded down). The one place this is computed: the driver waits for a write to drain
    /// before a baud switch, KMP sizes its read deadline, and the simulators pace replies.
    pub fn char_time(self, n: usize) -> Duration {
        let bits = n as u64 * self.bits_per_char();
        Duration::from_micros(bits.saturating_mul(1_000_000) / u64::from(self.baud.max(1)))
    }
}

impl std::fmt::Display for LineSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = match self.parity {
            Parity::None => 'N',
            Parity::Even => 'E',
            Parity::Odd => 'O',
        };
        write!(f, "{} {}{}{}", self.baud, self.data_bits, p, self.stop_bits)
    }
}

/// What a poll session asks its driver to do next.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Set the serial line to these settings now (baud switch of IEC 62056-21 mode C, the
    /// 300 → 1200 baud switch of MULTICAL `/#n`). Over TCP this is only possible with RFC 2217,
    /// so drivers without it fail the poll with a clear error when settings change mid-session.
    Configure(LineSettings),
    /// Send these bytes; the driver answers with [`Event::Done`] once they are written
    /// (drained to the line, so a following `Configure` does not cut them off).
    Write(Vec<u8>),
    /// Discard anything received so far that has not been delivered yet, then answer
    /// [`Event::Done`].
    Flush,
    /// Wait for input: the driver delivers each chunk as [`Event::Input`] or, when nothing
    /// arrives within `timeout`, [`Event::Timeout`]. The timeout starts when this action is
    /// returned.
    Read { timeout: Duration },
    /// Keep waiting under the deadline of the last [`Action::Read`] (used after a partial frame).
    ContinueRead,
    /// Pause, then answer [`Event::Done`] (KMP's ≥ 1.6 s rest after an error, IEC wake-up pause).
    Sleep(Duration),
    /// The poll is over. `Ok` carries the readings (one per meter reached); `Err` says why the
    /// meter could not be read, for the log and the availability topic.
    Finished(Result<Vec<Reading>, PollError>),
}

/// What the driver tells the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Begin the poll.
    Start,
    /// The last `Configure`, `Write`, `Flush` or `Sleep` completed.
    Done,
    /// Bytes arrived while reading.
    Input(&'a [u8]),
    /// The read deadline passed.
    Timeout,
}

/// Why a poll failed. Sessions retry inside a poll where their protocol allows; this is what
/// is left when they gave up: the meter did not answer, or what it sent was not a valid
/// reply, and in both cases what exactly, in the protocol's own terms ([`Failure`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    #[error("meter did not answer: {0}")]
    NoAnswer(Failure),
    #[error("invalid reply: {0}")]
    BadReply(Failure),
}

impl PollError {
    /// What failed, whichever way.
    pub fn failure(&self) -> &Failure {
        match self {
            PollError::NoAnswer(f) | PollError::BadReply(f) => f,
        }
    }

    /// The same kind of error with its failure replaced (a session adding how often it tried).
    pub fn map(self, f: impl FnOnce(Failure) -> Failure) -> Self {
        match self {
            PollError::NoAnswer(x) => PollError::NoAnswer(f(x)),
            PollError::BadReply(x) => PollError::BadReply(f(x)),
        }
    }
}

/// What made a poll fail, by protocol. The `Display` text is the protocol's own.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Failure {
    #[error(transparent)]
    Kmp(#[from] kmp::KmpFailure),
    #[error(transparent)]
    Multical(#[from] multical::MulticalFailure),
    #[error(transparent)]
    Iec62056(#[from] iec62056::Iec62056Failure),
}

/// A request/response protocol as a state machine. See the module docs.
pub trait PollSession {
    fn step(&mut self, event: Event<'_>) -> Action;
}
