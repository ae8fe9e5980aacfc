//! KMP physical and data-link layer: start/stop bytes, byte stuffing, CRC, and a streaming
//! receiver for frames coming from the meter.
//!
//! A frame on the wire is `start, stuffed(address, command, data..., crc_hi, crc_lo), stop`
//! (Kamstrup doc 5512-447 "KMP Kamstrup Heat Meter Protocol", data link layer; corpus
//! `kmp_vectors.json` `doc_*`).

use crc::{Crc, CRC_16_XMODEM};

use crate::protocol::{LineSettings, Parity};

/// The optical eye's line: 1200 baud 8N2, half duplex (5512-447; MULTICAL 601/403
/// manuals; notes "KMP"). Some heads also work with 8N1.
pub const DEFAULT_LINE: LineSettings = LineSettings::new(1200, 8, Parity::None, 2);
/// Kamstrup 382 electricity meters talk KMP at 9600 baud (notes "KMP"). Two stop bits as on
/// the heat meters: a receiver set for one stop bit still reads them.
pub const KAMSTRUP_382_LINE: LineSettings = LineSettings::new(9600, 8, Parity::None, 2);

/// First byte of a frame sent to the meter (5512-447 sec. 3.1; corpus `doc_GetType`).
pub const START_TO_METER: u8 = 0x80;
/// First byte of a frame sent by the meter (5512-447 sec. 3.1; corpus `doc_GetType_resp`).
pub const START_FROM_METER: u8 = 0x40;
/// Last byte of every frame (5512-447 sec. 3.1).
pub const STOP: u8 = 0x0D;
/// A lone acknowledge byte; the meter's whole answer to SetClock (5512-447 sec. 6.2.3,
/// corpus `doc_SetClock` "reply: single byte 06").
pub const ACK: u8 = 0x06;
/// Escape byte of the stuffing scheme: `0x1B, !b` stands for `b` (5512-447 sec. 3.1,
/// corpus `doc_stuffing_example`).
pub const ESCAPE: u8 = 0x1B;
/// The bytes that must be stuffed between start and stop, CRC included (5512-447 sec. 3.1).
pub const STUFFED_BYTES: [u8; 5] = [START_TO_METER, START_FROM_METER, STOP, ACK, ESCAPE];

/// Data-link address of the meter itself (5512-447; every corpus frame uses it).
pub const ADDRESS_METER: u8 = 0x3F;
/// Address of a communication module in the top slot (5512-447, notes "KMP").
pub const ADDRESS_TOP_MODULE: u8 = 0x7F;
/// Address of a communication module in the base slot (5512-447, notes "KMP").
pub const ADDRESS_BASE_MODULE: u8 = 0xBF;

/// Upper bound for the stuffed bytes between start and stop that the receiver buffers.
/// A GetRegister reply for 8 registers with 8-byte values is 110 bytes before stuffing and at
/// most 220 after; 1024 leaves room for longer module replies while keeping memory bounded
/// against a line that never sends a stop byte.
pub const MAX_FRAME_LEN: usize = 1024;

/// CRC-16/XMODEM (poly 0x1021, init 0, no reflection, no xor-out), sent MSB first over
/// address..data (5512-447; verified against every corpus frame, see the corpus README).
const CRC16: Crc<u16> = Crc::<u16>::new(&CRC_16_XMODEM);

/// CRC-16/XMODEM of `bytes`.
pub fn crc16(bytes: &[u8]) -> u16 {
    CRC16.checksum(bytes)
}

/// Why bytes are not a valid KMP frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("bad CRC: frame carries {received:#06x}, computed {computed:#06x}")]
    BadCrc { received: u16, computed: u16 },
    #[error(
        "bad escape: 0x1B followed by {0:#04x}, whose complement is not a stuffed byte \
         (80 40 0D 06 1B)"
    )]
    BadEscape(u8),
    #[error("frame ends inside an escape sequence (0x1B as its last byte)")]
    TruncatedEscape,
    #[error("unescaped reserved byte {0:#04x} inside a frame")]
    Unescaped(u8),
    #[error("frame has {0} bytes after destuffing; at least 4 needed (address, command, CRC)")]
    TooShort(usize),
    #[error("frame longer than {MAX_FRAME_LEN} bytes without a stop byte")]
    TooLong,
    #[error("frame starts with {0:#04x}, expected 0x80 (to meter) or 0x40 (from meter)")]
    BadStart(u8),
    #[error("frame does not end with the stop byte 0x0D")]
    MissingStop,
}

/// Which way a frame travels; decides its start byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    ToMeter,
    FromMeter,
}

impl Direction {
    pub const fn start_byte(self) -> u8 {
        match self {
            Direction::ToMeter => START_TO_METER,
            Direction::FromMeter => START_FROM_METER,
        }
    }
}

/// A checked, destuffed data-link frame (CRC removed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub direction: Direction,
    pub address: u8,
    pub command: u8,
    pub data: Vec<u8>,
}

impl Frame {
    pub fn new(direction: Direction, address: u8, command: u8, data: Vec<u8>) -> Self {
        Frame {
            direction,
            address,
            command,
            data,
        }
    }

    /// The bytes on the wire: start, stuffed address..CRC, stop.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(self.data.len() + 4);
        body.push(self.address);
        body.push(self.command);
        body.extend_from_slice(&self.data);
        let crc = crc16(&body);
        body.extend_from_slice(&crc.to_be_bytes());
        let mut out = Vec::with_capacity(body.len() * 2 + 2);
        out.push(self.direction.start_byte());
        stuff_into(&body, &mut out);
        out.push(STOP);
        out
    }
}

/// Whether `b` has to be sent as `0x1B, !b`.
pub fn needs_stuffing(b: u8) -> bool {
    STUFFED_BYTES.contains(&b)
}

/// Append `data` to `out` with the five reserved bytes stuffed.
pub fn stuff_into(data: &[u8], out: &mut Vec<u8>) {
    for &b in data {
        if needs_stuffing(b) {
            out.push(ESCAPE);
            out.push(!b);
        } else {
            out.push(b);
        }
    }
}

/// `data` with the five reserved bytes stuffed.
pub fn stuff(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() * 2);
    stuff_into(data, &mut out);
    out
}

/// Undo the stuffing in one left-to-right pass: the byte produced by an escape is never looked
/// at again, so `1B E4 F9` is `1B F9` (a peer that chains replacements turns it into `06`).
/// Reserved bytes that arrive unescaped are rejected.
pub fn destuff(data: &[u8]) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::with_capacity(data.len());
    let mut iter = data.iter();
    while let Some(&b) = iter.next() {
        if b == ESCAPE {
            let next = *iter.next().ok_or(FrameError::TruncatedEscape)?;
            let original = !next;
            if !needs_stuffing(original) {
                return Err(FrameError::BadEscape(next));
            }
            out.push(original);
        } else if needs_stuffing(b) {
            return Err(FrameError::Unescaped(b));
        } else {
            out.push(b);
        }
    }
    Ok(out)
}

/// Destuff and check the bytes between start and stop; the CRC must match.
pub fn decode_body(direction: Direction, stuffed: &[u8]) -> Result<Frame, FrameError> {
    let body = destuff(stuffed)?;
    if body.len() < 4 {
        return Err(FrameError::TooShort(body.len()));
    }
    let (payload, crc) = body.split_at(body.len() - 2);
    let received = u16::from_be_bytes([crc[0], crc[1]]);
    let computed = crc16(payload);
    if received != computed {
        return Err(FrameError::BadCrc { received, computed });
    }
    Ok(Frame {
        direction,
        address: payload[0],
        command: payload[1],
        data: payload[2..].to_vec(),
    })
}

/// Decode one complete frame, start byte through stop byte, in either direction.
pub fn decode_frame(bytes: &[u8]) -> Result<Frame, FrameError> {
    let (&start, rest) = bytes.split_first().ok_or(FrameError::TooShort(0))?;
    let direction = match start {
        START_TO_METER => Direction::ToMeter,
        START_FROM_METER => Direction::FromMeter,
        other => return Err(FrameError::BadStart(other)),
    };
    let (&stop, inner) = rest.split_last().ok_or(FrameError::MissingStop)?;
    if stop != STOP {
        return Err(FrameError::MissingStop);
    }
    if inner.len() > MAX_FRAME_LEN {
        return Err(FrameError::TooLong);
    }
    decode_body(direction, inner)
}

/// What the receiver recognised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    Frame(Frame),
    /// A lone 0x06 outside a frame.
    Ack,
}

/// Outcome of [`Receiver::push`]. `consumed` counts the input bytes used up to and including
/// the byte that completed (or broke) the frame; push the rest again to continue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Push {
    /// All input was consumed and no frame is complete yet.
    NeedMore,
    Complete {
        received: Received,
        consumed: usize,
    },
    Failed {
        error: FrameError,
        consumed: usize,
    },
}

/// Streaming frame receiver with a bounded buffer.
///
/// Outside a frame it skips everything up to the expected start byte: that drops the echo of
/// our own request that cheap optical heads produce (notes: PyKamstrup #8; the echo starts with
/// 0x80 and cannot contain 0x40 because of the stuffing), line noise, and the stray 0x00 some
/// meters send (notes, "KMP"). A lone 0x06 there is reported as an ACK.
#[derive(Clone, Debug)]
pub struct Receiver {
    direction: Direction,
    in_frame: bool,
    buf: Vec<u8>,
    skipped: usize,
}

impl Default for Receiver {
    fn default() -> Self {
        Receiver::from_meter()
    }
}

impl Receiver {
    /// Receives replies (start byte 0x40) and ACKs: the client side.
    pub fn from_meter() -> Self {
        Receiver::new(Direction::FromMeter)
    }

    /// Receives requests (start byte 0x80): the meter side, used by the simulator.
    pub fn to_meter() -> Self {
        Receiver::new(Direction::ToMeter)
    }

    fn new(direction: Direction) -> Self {
        Receiver {
            direction,
            in_frame: false,
            buf: Vec::new(),
            skipped: 0,
        }
    }

    /// Forget any partial frame.
    pub fn reset(&mut self) {
        self.in_frame = false;
        self.buf.clear();
    }

    /// Whether a frame has started and not yet ended.
    pub fn in_frame(&self) -> bool {
        self.in_frame
    }

    /// Bytes of the current partial frame (never more than [`MAX_FRAME_LEN`]).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Bytes skipped outside frames since creation (echo, noise, stray 0x00).
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// Feed bytes; stops at the first complete frame, ACK or error.
    pub fn push(&mut self, bytes: &[u8]) -> Push {
        let start = self.direction.start_byte();
        for (i, &b) in bytes.iter().enumerate() {
            let consumed = i + 1;
            if !self.in_frame {
                if b == start {
                    self.in_frame = true;
                    self.buf.clear();
                } else if b == ACK && self.direction == Direction::FromMeter {
                    return Push::Complete {
                        received: Received::Ack,
                        consumed,
                    };
                } else {
                    self.skipped = self.skipped.saturating_add(1);
                }
                continue;
            }
            if b == STOP {
                self.in_frame = false;
                let result = decode_body(self.direction, &self.buf);
                self.buf.clear();
                return match result {
                    Ok(frame) => Push::Complete {
                        received: Received::Frame(frame),
                        consumed,
                    },
                    Err(error) => Push::Failed { error, consumed },
                };
            }
            if b == start {
                // A new start byte cannot occur inside a stuffed frame: the previous one was
                // cut off. Resynchronise on the new one.
                self.skipped = self.skipped.saturating_add(self.buf.len() + 1);
                self.buf.clear();
                continue;
            }
            if self.buf.len() >= MAX_FRAME_LEN {
                self.reset();
                return Push::Failed {
                    error: FrameError::TooLong,
                    consumed,
                };
            }
            self.buf.push(b);
        }
        Push::NeedMore
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuffing_example_from_the_document() {
        // 5512-447 sec. 3.1 (corpus `doc_stuffing_example`).
        assert_eq!(
            stuff(&[0x04, 0x0D, 0x00, 0x06]),
            vec![0x04, 0x1B, 0xF2, 0x00, 0x1B, 0xF9]
        );
        assert_eq!(
            destuff(&[0x04, 0x1B, 0xF2, 0x00, 0x1B, 0xF9]),
            Ok(vec![0x04, 0x0D, 0x00, 0x06])
        );
    }

    #[test]
    fn single_pass_destuffing() {
        // 1B E4 is an escaped 1B; the following F9 is plain data, not part of a new escape.
        assert_eq!(destuff(&[0x1B, 0xE4, 0xF9]), Ok(vec![0x1B, 0xF9]));
    }

    #[test]
    fn bad_escapes_are_errors() {
        assert_eq!(destuff(&[0x1B, 0x00]), Err(FrameError::BadEscape(0x00)));
        assert_eq!(destuff(&[0x01, 0x1B]), Err(FrameError::TruncatedEscape));
        assert_eq!(destuff(&[0x01, 0x06]), Err(FrameError::Unescaped(0x06)));
    }

    #[test]
    fn receiver_caps_its_buffer() {
        let mut rx = Receiver::from_meter();
        let junk = vec![0x11u8; MAX_FRAME_LEN + 10];
        assert_eq!(rx.push(&[START_FROM_METER]), Push::NeedMore);
        match rx.push(&junk) {
            Push::Failed {
                error: FrameError::TooLong,
                consumed,
            } => assert_eq!(consumed, MAX_FRAME_LEN + 1),
            other => panic!("unexpected {other:?}"),
        }
        assert!(rx.buffered() <= MAX_FRAME_LEN);
        assert!(!rx.in_frame());
    }
}
