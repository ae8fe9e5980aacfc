//! Splitting a byte stream into telegrams (and encrypted frames).
//!
//! A plain telegram runs from `/` to `!` followed by a CRC (DSMR 4+) or by the line end
//! (DSMR 2.2/3: no CRC). An encrypted frame starts with 0xDB and carries its own length
//! (see [`super::encrypted`]). The framer keeps at most [`MAX_TELEGRAM`] bytes: a stream without
//! `!` never makes it grow past that. Line noise can open a frame before the real `/`; where
//! the telegram in a frame really starts is decided once the frame is complete (`resync`).

use std::collections::VecDeque;

use super::{encrypted, resync};

/// The largest telegram (or encrypted frame) we buffer. The biggest real telegram in the corpus
/// is the Luxembourg spec example (1485 bytes), wassasin's `05_overflow` test has 2485 bytes;
/// DSMR 5.0.2 §6.12 allows a 1024-character message, which hex-encoded is 2048 bytes on its own.
pub const MAX_TELEGRAM: usize = 8 * 1024;

/// Completed frames waiting for [`super::P1Decoder::next_event`]; beyond this the oldest is
/// dropped (a caller that never drains must not grow memory).
pub const MAX_QUEUED: usize = 64;

/// What the framer hands on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A telegram from `/` to its CRC (`bytes[bang]` is the `!`), plus what ended it.
    Plain {
        bytes: Vec<u8>,
        bang: usize,
        end: End,
    },
    /// A complete 0xDB frame, still encrypted.
    Encrypted(Vec<u8>),
    /// Bytes that started like a frame but were dropped.
    Dropped { reason: Drop, bytes: usize },
}

/// How a plain telegram ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// `!` followed by 3 or 4 hex digits.
    Crc(u16),
    /// `!` followed by the line end (DSMR 2.2/3).
    NoCrc,
    /// No `!` at all: the telegram ended with a line end, then a new `/` (or the end of input)
    /// came. Only DSMR 2.2/3-style telegrams (no `1-3:0.2.8`/`0-0:96.1.4` version line) are
    /// passed on like this: athombv's Iskra MT382 captures (`19_…`, `20_…`, INVENTORY `no-end`).
    Unterminated,
}

/// Why bytes were dropped by the framer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    /// More than [`MAX_TELEGRAM`] bytes without an end.
    Overflow,
    /// A new `/` (or the end of input) came before the `!`.
    Incomplete,
    /// `!` was followed by something that is neither a CRC nor a line end.
    MalformedCrc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Body,
    /// After `!`: hex digits seen so far and their value.
    Crc {
        digits: u8,
        value: u16,
    },
    /// Inside a 0xDB frame; `need` is its total length once the header is known.
    Encrypted {
        need: Option<usize>,
    },
}

/// The streaming framer. Feed it any chunks; completed frames queue up in `out`.
#[derive(Debug)]
pub struct Framer {
    state: State,
    buf: Vec<u8>,
    /// Whether encrypted (0xDB) frames are looked for.
    encrypted: bool,
    pub(crate) out: VecDeque<Frame>,
    /// Bytes skipped outside any frame (line ends not counted).
    pub(crate) discarded: u64,
    /// Frames dropped because the queue was full.
    pub(crate) queue_drops: u64,
    /// The length of the last plain telegram, to size the next one's buffer.
    last_len: Option<usize>,
}

impl Framer {
    pub fn new(encrypted: bool) -> Self {
        Framer {
            state: State::Idle,
            buf: Vec::new(),
            encrypted,
            out: VecDeque::new(),
            discarded: 0,
            queue_drops: 0,
            last_len: None,
        }
    }

    /// Bytes currently buffered (never more than [`MAX_TELEGRAM`]).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    fn emit(&mut self, f: Frame) {
        if self.out.len() >= MAX_QUEUED {
            self.out.pop_front();
            self.queue_drops += 1;
        }
        self.out.push_back(f);
    }

    fn start_plain(&mut self) {
        self.buf.clear();
        if self.buf.capacity() == 0 {
            // A meter's telegrams are about as long every time: the last one's length and a
            // little room is one allocation that rarely grows (1 KiB before the first).
            self.buf.reserve(self.last_len.map_or(1024, |n| n + 64));
        }
        self.buf.push(b'/');
        self.state = State::Body;
    }

    /// Hand the buffered body on as an unterminated telegram if it qualifies, else drop it.
    /// Junk before it (a `/` and a `(` that made the real `/` look like data) does not cost it:
    /// the body is looked at again from its last `/` that begins an identification line (one
    /// more pass over at most [`MAX_TELEGRAM`] bytes; see [`super::resync`]).
    fn end_body_without_bang(&mut self) {
        let mut bytes = std::mem::take(&mut self.buf);
        let mut qualifies = looks_like_complete_v2(&bytes);
        if !qualifies {
            let from = resync::starts(&bytes).next();
            if let Some(j) = from.filter(|&j| looks_like_complete_v2(&bytes[j..])) {
                self.discarded += j as u64;
                bytes.drain(..j);
                qualifies = true;
            }
        }
        if qualifies {
            let bang = bytes.len();
            self.emit(Frame::Plain {
                bytes,
                bang,
                end: End::Unterminated,
            });
        } else {
            self.emit(Frame::Dropped {
                reason: Drop::Incomplete,
                bytes: bytes.len(),
            });
        }
        self.state = State::Idle;
    }

    /// The telegram ends `digits` CRC digits after its `!`.
    fn finish_plain(&mut self, end: End, digits: u8) {
        // The buffer itself becomes the frame (no copy), and an idle framer holds nothing: at
        // 10 000 P1 inputs a kept buffer was ≈ 1–3 KB per input between telegrams (issue 17).
        let bytes = std::mem::take(&mut self.buf);
        self.last_len = Some(bytes.len());
        let bang = bytes.len() - 1 - digits as usize;
        debug_assert_eq!(bytes[bang], b'!');
        self.emit(Frame::Plain { bytes, bang, end });
        self.state = State::Idle;
    }

    fn drop_buf(&mut self, reason: Drop) {
        let bytes = self.buf.len();
        self.buf.clear();
        self.emit(Frame::Dropped { reason, bytes });
        self.state = State::Idle;
    }

    /// Feed bytes until one frame completes (or the input is used up); returns how many bytes
    /// were used. Completed frames are in `out`.
    pub fn feed(&mut self, input: &[u8]) -> usize {
        let mut used = 0;
        while used < input.len() && self.out.is_empty() {
            used += self.feed_one_step(&input[used..]);
        }
        used
    }

    /// Feed all of `input` (frames queue up in `out`, at most [`MAX_QUEUED`]).
    pub fn push(&mut self, mut input: &[u8]) {
        while !input.is_empty() {
            let n = self.feed_one_step(input);
            input = input.get(n..).unwrap_or(&[]);
        }
    }

    /// One state-machine step over `input` (which must not be empty); returns bytes used.
    pub fn feed_one_step(&mut self, input: &[u8]) -> usize {
        match self.state {
            State::Idle => self.idle(input),
            State::Body => self.body(input),
            State::Crc { digits, value } => self.crc(input, digits, value),
            State::Encrypted { need } => self.encrypted_frame(input, need),
        }
    }

    /// The input ended: complete or drop whatever is buffered.
    pub fn finish(&mut self) {
        match self.state {
            State::Idle => {}
            State::Body => self.end_body_without_bang(),
            State::Crc { digits: 0, .. } => self.finish_plain(End::NoCrc, 0),
            State::Crc { digits: 3, value } => self.finish_plain(End::Crc(value), 3),
            State::Crc { .. } => self.drop_buf(Drop::MalformedCrc),
            State::Encrypted { .. } => self.drop_buf(Drop::Incomplete),
        }
    }

    fn idle(&mut self, input: &[u8]) -> usize {
        for (i, &b) in input.iter().enumerate() {
            if b == b'/' {
                self.start_plain();
                return i + 1;
            }
            if b == encrypted::START && self.encrypted {
                self.buf.clear();
                self.buf.push(b);
                self.state = State::Encrypted { need: None };
                return i + 1;
            }
            if b != b'\r' && b != b'\n' {
                self.discarded += 1;
            }
        }
        input.len()
    }

    fn body(&mut self, input: &[u8]) -> usize {
        // Room for the `!` and up to four CRC digits stays within MAX_TELEGRAM.
        let room = (MAX_TELEGRAM - 4).saturating_sub(self.buf.len());
        let window = &input[..input.len().min(room)];
        let mut from = 0;
        while let Some(off) = memchr::memchr2(b'/', b'!', &window[from..]) {
            let i = from + off;
            from = i + 1;
            if self.is_data(window, i) {
                continue;
            }
            if window[i] == b'/' {
                self.buf.extend_from_slice(&window[..i]);
                self.end_body_without_bang();
                self.start_plain();
                return i + 1;
            }
            self.buf.extend_from_slice(&window[..=i]);
            self.state = State::Crc {
                digits: 0,
                value: 0,
            };
            return i + 1;
        }
        self.buf.extend_from_slice(window);
        if window.len() < input.len() {
            // No end within MAX_TELEGRAM bytes; the rest is looked at from Idle.
            self.drop_buf(Drop::Overflow);
        }
        window.len()
    }

    /// Whether the `/` or `!` at `window[i]` is data: inside parentheses opened earlier on the
    /// same line (`0-0:96.13.0(test-/-test)`, corpus athombv 19). At the start of a line, or
    /// outside parentheses, it is a telegram start or end.
    fn is_data(&self, window: &[u8], i: usize) -> bool {
        let head = &window[..i];
        let prev = head.last().or(self.buf.last()).copied().unwrap_or(b'\n');
        if prev == b'\n' || prev == b'\r' {
            return false;
        }
        let last = match memchr::memrchr3(b'(', b')', b'\n', head) {
            Some(j) => head[j],
            None => match memchr::memrchr3(b'(', b')', b'\n', &self.buf) {
                Some(j) => self.buf[j],
                None => b'\n',
            },
        };
        last == b'('
    }

    fn crc(&mut self, input: &[u8], mut digits: u8, mut value: u16) -> usize {
        for (i, &b) in input.iter().enumerate() {
            let nibble = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                b'A'..=b'F' => b - b'A' + 10,
                _ => {
                    let line_end = b == b'\r' || b == b'\n';
                    match digits {
                        0 if line_end || b == b'/' => self.finish_plain(End::NoCrc, 0),
                        3 if line_end => self.finish_plain(End::Crc(value), 3),
                        _ => self.drop_buf(Drop::MalformedCrc),
                    }
                    // The byte is looked at again from Idle (it may be the next `/`).
                    return i;
                }
            };
            value = (value << 4) | nibble as u16;
            digits += 1;
            self.buf.push(b);
            if digits == 4 {
                self.finish_plain(End::Crc(value), 4);
                return i + 1;
            }
        }
        self.state = State::Crc { digits, value };
        input.len()
    }

    fn encrypted_frame(&mut self, input: &[u8], need: Option<usize>) -> usize {
        let need = match need {
            Some(n) => n,
            None => {
                // Take header bytes one at a time until the length is known.
                let Some(&b) = input.first() else { return 0 };
                self.buf.push(b);
                match encrypted::frame_len(&self.buf) {
                    Ok(Some(n)) if n <= MAX_TELEGRAM => {
                        self.state = State::Encrypted { need: Some(n) };
                    }
                    Ok(Some(_)) | Err(_) => {
                        // Not a frame after all: count the 0xDB as noise and rescan the rest.
                        let rest = self.buf.split_off(1);
                        self.buf.clear();
                        self.discarded += 1;
                        self.state = State::Idle;
                        self.push(&rest);
                    }
                    Ok(None) => {}
                }
                return 1;
            }
        };
        let take = (need - self.buf.len()).min(input.len());
        self.buf.extend_from_slice(&input[..take]);
        if self.buf.len() == need {
            let bytes = std::mem::take(&mut self.buf);
            self.emit(Frame::Encrypted(bytes));
            self.state = State::Idle;
        }
        take
    }
}

/// A telegram that never got its `!` is passed on only if it looks like a whole DSMR 2.2/3
/// telegram: it ends with a line end, has at least one data line, every line has balanced
/// parentheses (a cut inside a value is caught), and it has no version line (`1-3:0.2.8`
/// DSMR 4+, `0-0:96.1.4` e-MUCS): meters that send those always send `!` and a CRC.
/// A DSMR 2.2 telegram cut exactly at a line end cannot be told from a whole one; its missing
/// values are simply absent.
fn looks_like_complete_v2(bytes: &[u8]) -> bool {
    if bytes.last() != Some(&b'\n') {
        return false;
    }
    let mut has_data_line = false;
    for line in bytes.split(|&b| b == b'\n').skip(1) {
        let open = line.iter().filter(|&&b| b == b'(').count();
        let close = line.iter().filter(|&&b| b == b')').count();
        if open != close {
            return false;
        }
        has_data_line |= line.first().is_some_and(u8::is_ascii_digit);
    }
    has_data_line && !declares_crc(bytes)
}

/// Whether a telegram has a line that only telegrams with a CRC have (issue 18 §2):
/// - the P1 version `1-3:0.2.8`, which DSMR 4.0 introduced together with the CRC16 after `!`
///   (DSMR 5.0.2 §6.2, the CRC's definition cited in `crc.rs`; DSMR 4.0, 4.2 and 5.0 spec
///   examples carry both: corpus athombv 05, 08, 15), while DSMR 2.2 and 3.0 have neither
///   (corpus ndokter 01, 02; athombv 01, 02). Luxembourg Smarty (`1-3:0.2.8(42)`, corpus
///   dsmrreader 18) and Austria (`1-3:0.2.8(50)`, corpus ndokter 11) send it too;
/// - the e-MUCS version `0-0:96.1.4` (Belgium): every e-MUCS telegram in the corpus ends in a
///   CRC (ndokter 07, 08; dsmrreader 07-11; athombv 17, 18).
///
/// Meters without either line (Sweden `/KAM5`, E.ON Hungary `/SAG5`) cannot be told from
/// DSMR 2.2 once their CRC is gone.
pub(crate) fn declares_crc(bytes: &[u8]) -> bool {
    [&b"\n1-3:0.2.8("[..], b"\n0-0:96.1.4("]
        .iter()
        .any(|code| memchr::memmem::find(bytes, code).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(chunks: &[&[u8]]) -> Vec<Frame> {
        let mut f = Framer::new(true);
        for c in chunks {
            f.push(c);
        }
        f.finish();
        f.out.into_iter().collect()
    }

    #[test]
    fn crc_forms() {
        let out = frames(&[b"/a!1234\r\n/b!b9f\r\n/c!\r\n/d!"]);
        let ends: Vec<_> = out
            .iter()
            .map(|f| match f {
                Frame::Plain { end, .. } => *end,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            ends,
            [End::Crc(0x1234), End::Crc(0xB9F), End::NoCrc, End::NoCrc]
        );
    }

    #[test]
    fn slash_in_parens_is_data_but_restarts_at_line_start() {
        let out = frames(&[b"/a\r\n0-0:96.13.0(x-/-y)\r\n!0000"]);
        assert!(matches!(
            &out[..],
            [Frame::Plain {
                end: End::Crc(0),
                ..
            }]
        ));
        let out = frames(&[b"/a\r\n1-0:1.7.0(00.3\r\n/b\r\n!0000"]);
        assert!(matches!(
            &out[..],
            [
                Frame::Dropped {
                    reason: Drop::Incomplete,
                    ..
                },
                Frame::Plain { .. }
            ]
        ));
        // Without '!', a whole-looking DSMR 2.2 telegram is passed on as unterminated.
        let out = frames(&[b"/a\r\n\r\n1-0:1.7.0(00.3)\r\n/b\r\n!0000"]);
        assert!(matches!(
            &out[..],
            [
                Frame::Plain {
                    end: End::Unterminated,
                    ..
                },
                Frame::Plain { .. }
            ]
        ));
        let out = frames(&[b"/a\r\n1-3:0.2.8(50)\r\n1-0:1.7.0(00.3)\r\n/b\r\n!0000"]);
        assert!(matches!(
            &out[..],
            [
                Frame::Dropped {
                    reason: Drop::Incomplete,
                    ..
                },
                Frame::Plain { .. }
            ]
        ));
    }

    #[test]
    fn overflow_is_bounded() {
        let mut f = Framer::new(false);
        f.push(b"/");
        for _ in 0..100 {
            f.push(&[b'x'; 1000]);
            assert!(f.buffered() <= MAX_TELEGRAM);
        }
        assert!(f.out.iter().any(|fr| matches!(
            fr,
            Frame::Dropped {
                reason: Drop::Overflow,
                ..
            }
        )));
    }
}
