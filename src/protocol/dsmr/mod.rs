//! DSMR / P1 telegrams: Dutch DSMR 2.2 to 5.0.2, Belgian e-MUCS, Luxembourg Smarty (plain and
//! encrypted), and the Swedish, Austrian, Hungarian, EasyMeter and Iskra IE variants.
//!
//! Sans-IO: bytes in, [`Reading`]s out. The caller owns the port and the clock; it passes the
//! receive time (`now`) for meters that send no clock of their own.
//!
//! # For the bridge
//!
//! ```
//! use meter2mqtt::protocol::dsmr::{DecoderOptions, P1Decoder, P1Event};
//! use meter2mqtt::time::Timestamp;
//!
//! let mut dec = P1Decoder::new(DecoderOptions::default());
//! dec.push(b"/ISK5\\2M550T-1012\r\n\r\n1-0:1.8.1(000123.456*kWh)\r\n!");
//! dec.push(b"\r\n"); // a telegram without CRC ends at its line end
//! let now = Timestamp::new(2024, 1, 1, 0, 0, 0, 0).unwrap();
//! while let Some(event) = dec.next_event(now) {
//!     match event {
//!         P1Event::Telegram(t) => assert_eq!(t.readings[0].meter.id, "p1"),
//!         P1Event::Rejected(r) => eprintln!("rejected: {r}"),
//!     }
//! }
//! ```
//!
//! - [`P1Decoder::push`] any chunk (1 byte to 64 KiB), then drain [`P1Decoder::next_event`]
//!   until `None`. [`P1Decoder::finish`] at the end of a finite input (a file) completes a last
//!   telegram that has no line end after it.
//! - [`P1Event::Telegram`] carries the readings (electricity meter first, then one per M-Bus
//!   sub-meter by channel), the [`CrcStatus`] and warnings to log once;
//!   [`P1Event::Rejected`] says why bytes were dropped ([`RejectReason`]).
//! - [`CrcStatus::is_verified`] is what auto-detection of line settings wants: a telegram with
//!   a valid CRC, or a well-formed DSMR 2.2/3 telegram (those have no CRC).
//! - [`parse_telegram`] decodes one complete telegram in one call.
//!
//! Memory is bounded: one telegram buffer of at most [`MAX_TELEGRAM`] bytes, the bytes pushed
//! since the last drain (framing happens in `next_event`; a caller that never drains is cut
//! at 1 MiB), at most [`MAX_QUEUED`] frames; and per thread, shared by its decoders, a cache of
//! at most 256 object codes (6 KiB; 1.5 KiB for a DSMR 5 meter's ≈ 30).
//!
//! Each telegram is decoded on its own: nothing of one telegram carries over to the next but
//! the parsed object codes, the size of its value list and the meters' identities (the same
//! `Arc<MeterInfo>` while the identifying lines are byte for byte the same), so a decoder that has seen other
//! telegrams gives exactly what a new one gives (`tests/dsmr_sequences.rs`).

mod crc;
mod encrypted;
mod framer;
mod identity;
mod manufacturer;
mod mapping;
mod mbus;
mod obis;
mod parser;
pub mod quantities;
mod resync;
mod scan;
mod telegram;
mod timestamp;
mod units;
mod values;
mod warning;

pub use self::crc::{crc16_arc, crc16_arc_crlf};
pub use encrypted::{decrypt, DecryptError, KeyError, Keys};
pub use framer::{MAX_QUEUED, MAX_TELEGRAM};
pub use obis::Obis;
pub use telegram::{parse_telegram, parse_unchecked};
pub use timestamp::TimeError;
pub use warning::TelegramWarning;

use std::fmt;

use framer::{Drop, Framer};

use crate::reading::Reading;
use crate::time::Timestamp;

/// How the decoder is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderOptions {
    /// The meter id used when a telegram carries no equipment id (DSMR 2.2 meters with an empty
    /// `0-0:96.1.1`, EasyMeter without id, …): typically the input's name. Default `p1`.
    pub fallback_meter_id: String,
    /// Keys for encrypted P1 (Luxembourg Smarty, Austria). Without them, encrypted frames are
    /// rejected with [`DecryptError::NoKey`].
    pub decryption: Option<Keys>,
}

impl Default for DecoderOptions {
    fn default() -> Self {
        DecoderOptions {
            fallback_meter_id: "p1".into(),
            decryption: None,
        }
    }
}

/// How a telegram's integrity was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrcStatus {
    /// The CRC-16 matched.
    Valid,
    /// The CRC-16 matched once bare LFs were counted as CR LF (a saved capture that lost its CRs).
    ValidAfterCrlf,
    /// DSMR 2.2/3: `!` without CRC (the standard has none).
    Absent,
    /// A DSMR 2.2/3-style telegram that never got its `!` (see `framer::End::Unterminated`).
    Unterminated,
    /// An encrypted frame whose GCM tag verified (a 96-bit MAC, stronger than the CRC) but whose
    /// inner CRC did not match: the published Luxembourg spec example has such a CRC.
    Authenticated { expected: u16, given: u16 },
}

impl CrcStatus {
    /// A valid CRC, an authenticated frame, or a well-formed CRC-less DSMR 2.2/3 telegram.
    pub fn is_verified(self) -> bool {
        !matches!(self, CrcStatus::Unterminated)
    }
}

/// One decoded telegram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Telegram {
    /// The telegram bytes from `/` to `!` and its CRC (decrypted, for encrypted frames).
    pub raw: Vec<u8>,
    pub crc: CrcStatus,
    /// Whether it came in an encrypted frame.
    pub encrypted: bool,
    /// Electricity meter first, then one reading per M-Bus sub-meter in channel order.
    pub readings: Vec<Reading>,
    /// The M-Bus channel of each reading (`None` for the electricity meter), same order.
    pub channels: Vec<Option<u8>>,
    /// Things that were skipped or replaced (malformed lines, bad sub-meter clocks). The caller
    /// logs them (once per distinct text is enough); they never stop the other values.
    pub warnings: Vec<TelegramWarning>,
}

/// Why bytes did not become a telegram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RejectReason {
    #[error("CRC mismatch: computed {expected:04X}, telegram says {given:04X}")]
    CrcMismatch { expected: u16, given: u16 },
    #[error("'!' followed by neither a CRC nor a line end")]
    MalformedCrc,
    #[error("no telegram end within {limit} bytes (wrong baud rate or parity, or not a P1 port?)")]
    Overflow { limit: usize },
    #[error("telegram cut off (a new telegram or the end of input came before its '!')")]
    Incomplete,
    #[error("{0}")]
    Decrypt(#[from] DecryptError),
    #[error("input holds no telegram")]
    NoTelegram,
    /// Issue 18 §2: only DSMR 2.2/3 telegrams may lack a CRC (see `framer::declares_crc`).
    #[error("telegram declares DSMR 4+ or e-MUCS (version line) but has no CRC after its '!'")]
    CrcMissing,
    /// A frame without CRC and without an identification line `/XXXZ…` (IEC 62056-21 §6.3.14):
    /// line noise, or a DSMR 2.2 telegram whose start was lost.
    #[error("no identification line ('/XXXZ…') before the data of a telegram without CRC")]
    NoHeader,
    /// A frame with no data object of a meter (no equipment id, no value, no sub-meter).
    #[error("no data object in the telegram (line noise framed like a telegram?)")]
    NoData,
}

impl RejectReason {
    /// Every [`RejectReason::key`], for outputs that list all counters (zero ones too).
    pub const KEYS: [&'static str; 9] = [
        "crc_mismatch",
        "malformed_crc",
        "overflow",
        "incomplete",
        "decrypt_failed",
        "no_telegram",
        "crc_missing",
        "no_header",
        "no_data",
    ];

    /// A stable snake_case name of the reason, without its details: the key rejections are
    /// counted under (an input's status, `/metrics` labels). Ours, not a spec's; a key once
    /// published is never renamed.
    pub fn key(&self) -> &'static str {
        match self {
            RejectReason::CrcMismatch { .. } => "crc_mismatch",
            RejectReason::MalformedCrc => "malformed_crc",
            RejectReason::Overflow { .. } => "overflow",
            RejectReason::Incomplete => "incomplete",
            RejectReason::Decrypt(_) => "decrypt_failed",
            RejectReason::NoTelegram => "no_telegram",
            RejectReason::CrcMissing => "crc_missing",
            RejectReason::NoHeader => "no_header",
            RejectReason::NoData => "no_data",
        }
    }
}

/// A rejection and how many bytes it covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub reason: RejectReason,
    pub bytes: usize,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} bytes)", self.reason, self.bytes)
    }
}

impl std::error::Error for Rejection {}

/// What the decoder produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum P1Event {
    Telegram(Telegram),
    Rejected(Rejection),
}

/// Counters for diagnostics (`availability`, auto-detection, logs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecoderStats {
    /// Telegrams decoded.
    pub telegrams: u64,
    /// Telegrams rejected for a CRC mismatch, a malformed CRC or a CRC missing (DSMR 4+).
    pub crc_errors: u64,
    /// Bytes outside any telegram, line ends not counted (garbage means wrong line settings).
    pub discarded_bytes: u64,
    /// Telegrams dropped for exceeding [`MAX_TELEGRAM`].
    pub overflows: u64,
    /// Telegrams cut off before their end.
    pub incomplete: u64,
    /// Encrypted frames that could not be decrypted.
    pub decrypt_errors: u64,
    /// Frames dropped because more than [`MAX_QUEUED`] waited to be drained.
    pub queue_drops: u64,
    /// Frames rejected as not a telegram: no identification line (without CRC) or no data
    /// object (line noise that framed like one).
    pub not_telegrams: u64,
}

/// Input held for framing beyond this is framed at once, queueing at most [`MAX_QUEUED`] frames
/// (only a caller that pushes without draining gets there).
const MAX_PENDING: usize = 1024 * 1024;

/// The streaming P1 decoder: framing, decryption, CRC check and parsing.
#[derive(Debug)]
pub struct P1Decoder {
    opts: DecoderOptions,
    framer: Framer,
    stats: DecoderStats,
    /// Pushed bytes not framed yet (`input[pos..]`): framing runs in `next_event`, one frame at
    /// a time, so a 64 KiB chunk holding a hundred telegrams loses none.
    input: Vec<u8>,
    pos: usize,
    finishing: bool,
    /// The size of the last value list and the meters' identities (the parsed codes are kept
    /// per thread, `parser::ThreadCodes`); nothing else carries over from one telegram to the
    /// next, and none of it changes what a telegram decodes to.
    caches: telegram::Caches,
}

impl P1Decoder {
    pub fn new(opts: DecoderOptions) -> Self {
        P1Decoder {
            opts,
            // 0xDB frames are always recognised, so a missing key gets a clear error.
            framer: Framer::new(true),
            stats: DecoderStats::default(),
            input: Vec::new(),
            pos: 0,
            finishing: false,
            caches: telegram::Caches::default(),
        }
    }

    pub fn options(&self) -> &DecoderOptions {
        &self.opts
    }

    /// Feed received bytes, then drain [`next_event`](Self::next_event) until `None`.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            self.input.drain(..self.pos);
            self.pos = 0;
        }
        self.input.extend_from_slice(bytes);
        if self.input.len() > MAX_PENDING {
            // Not drained: frame the oldest half now (the queue keeps the newest frames).
            let target = self.input.len() - MAX_PENDING / 2;
            while self.pos < target {
                let n = self.framer.feed_one_step(&self.input[self.pos..target]);
                self.pos += n;
                if self.framer.out.len() > MAX_QUEUED {
                    self.framer.out.pop_front();
                    self.framer.queue_drops += 1;
                }
            }
            self.sync_stats();
        }
    }

    /// The input ended (end of file): once the pushed bytes are drained, whatever is buffered
    /// is completed (a last telegram without line end) or rejected.
    pub fn finish(&mut self) {
        self.finishing = true;
    }

    fn sync_stats(&mut self) {
        self.stats.discarded_bytes = self.framer.discarded;
        self.stats.queue_drops = self.framer.queue_drops;
    }

    /// Drop any partial telegram (after a reconnect or a change of line settings).
    pub fn reset(&mut self) {
        self.framer = Framer::new(true);
        self.input.clear();
        self.pos = 0;
        self.finishing = false;
        self.sync_stats_after_reset();
    }

    fn sync_stats_after_reset(&mut self) {
        // The new framer counts from zero; keep the totals.
        self.framer.discarded = self.stats.discarded_bytes;
        self.framer.queue_drops = self.stats.queue_drops;
    }

    /// Bytes held for an incomplete telegram (never more than [`MAX_TELEGRAM`]).
    pub fn buffered(&self) -> usize {
        self.framer.buffered()
    }

    /// The next telegram or rejection, decoded with `now` as the time of meters without clock.
    pub fn next_event(&mut self, now: Timestamp) -> Option<P1Event> {
        let frame = loop {
            if let Some(f) = self.framer.out.pop_front() {
                break f;
            }
            if self.pos < self.input.len() {
                self.pos += self.framer.feed(&self.input[self.pos..]);
            } else if self.finishing {
                self.finishing = false;
                self.framer.finish();
            } else {
                // Everything pushed is framed: an idle decoder keeps no copy buffer (one
                // allocation per push instead; at 10 000 inputs a kept one was ≈ 2.5 KB each).
                self.input = Vec::new();
                self.pos = 0;
                self.sync_stats();
                return None;
            }
        };
        self.sync_stats();
        let event = match telegram::decode_frame(frame, &self.opts, now, &mut self.caches) {
            Ok(t) => {
                self.stats.telegrams += 1;
                P1Event::Telegram(t)
            }
            Err(r) => {
                match r.reason {
                    RejectReason::CrcMismatch { .. }
                    | RejectReason::MalformedCrc
                    | RejectReason::CrcMissing => self.stats.crc_errors += 1,
                    RejectReason::NoHeader | RejectReason::NoData => self.stats.not_telegrams += 1,
                    RejectReason::Overflow { .. } => self.stats.overflows += 1,
                    RejectReason::Incomplete => self.stats.incomplete += 1,
                    RejectReason::Decrypt(_) => self.stats.decrypt_errors += 1,
                    RejectReason::NoTelegram => {}
                }
                P1Event::Rejected(r)
            }
        };
        Some(event)
    }

    pub fn stats(&self) -> &DecoderStats {
        &self.stats
    }
}

fn reject(reason: RejectReason, bytes: usize) -> Rejection {
    Rejection { reason, bytes }
}

fn drop_reason(d: Drop) -> RejectReason {
    match d {
        Drop::Overflow => RejectReason::Overflow {
            limit: MAX_TELEGRAM,
        },
        Drop::Incomplete => RejectReason::Incomplete,
        Drop::MalformedCrc => RejectReason::MalformedCrc,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reason has its own key, listed in [`RejectReason::KEYS`], in snake_case.
    #[test]
    fn reject_keys_are_distinct_snake_case_and_listed() {
        let all = [
            RejectReason::CrcMismatch {
                expected: 1,
                given: 2,
            },
            RejectReason::MalformedCrc,
            RejectReason::Overflow { limit: 9 },
            RejectReason::Incomplete,
            RejectReason::Decrypt(DecryptError::WrongKey),
            RejectReason::NoTelegram,
            RejectReason::CrcMissing,
            RejectReason::NoHeader,
            RejectReason::NoData,
        ];
        let keys: Vec<&str> = all.iter().map(RejectReason::key).collect();
        assert_eq!(keys, RejectReason::KEYS);
        let distinct: std::collections::BTreeSet<&str> = keys.iter().copied().collect();
        assert_eq!(distinct.len(), keys.len(), "{keys:?}");
        for k in keys {
            assert!(
                !k.is_empty() && k.bytes().all(|c| c.is_ascii_lowercase() || c == b'_'),
                "{k}"
            );
        }
    }
}
