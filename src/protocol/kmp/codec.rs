//! KMP application layer: building requests and decoding replies.

use std::fmt;

use super::frame::{self, Direction, Frame, FrameError, Push, Received, Receiver};
use super::number::{self, NumberError};
use super::units::{self, UnitKind};
use crate::decimal::Decimal;
use crate::time::Timestamp;

/// GetType: meter type and software revision (5512-447 sec. 6.2.1; corpus `doc_GetType`).
pub const CMD_GET_TYPE: u8 = 0x01;
/// GetSerialNo: the serial number as u32 (5512-447 sec. 6.2.2; corpus `doc_GetSerialNo`).
pub const CMD_GET_SERIAL: u8 = 0x02;
/// SetClock: date and time; the meter answers with a lone ACK (5512-447 sec. 6.2.3; corpus
/// `doc_SetClock`).
pub const CMD_SET_CLOCK: u8 = 0x09;
/// GetRegister: up to 8 registers per request (5512-447 sec. 6.2.4; corpus
/// `doc_GetRegister_0080`, `golles188_8reg_request`).
pub const CMD_GET_REGISTER: u8 = 0x10;
/// PutRegister (5512-447 command list, notes "KMP"); not used by the bridge, named for logs.
pub const CMD_PUT_REGISTER: u8 = 0x11;

/// Most register ids one GetRegister request may carry (5512-447 sec. 6.2.4; corpus
/// `golles188_8reg_request` is a real 8-register request).
pub const MAX_REGISTERS_PER_REQUEST: usize = 8;

/// Why a request cannot be built or a reply is not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("GetRegister asks for {0} registers; KMP allows 1 to 8 per request")]
    RegisterCount(usize),
    #[error("{command} reply has {len} data bytes, expected {expected}")]
    Length {
        command: &'static str,
        len: usize,
        expected: usize,
    },
    #[error("GetRegister reply truncated: register at byte {offset} needs {needed} bytes, {available} left")]
    Truncated {
        offset: usize,
        needed: usize,
        available: usize,
    },
    #[error("no frame in the input")]
    NoFrame,
    #[error(transparent)]
    Frame(#[from] FrameError),
}

/// Short name of a command, for messages.
pub fn command_name(command: u8) -> &'static str {
    match command {
        CMD_GET_TYPE => "GetType",
        CMD_GET_SERIAL => "GetSerialNo",
        CMD_SET_CLOCK => "SetClock",
        CMD_GET_REGISTER => "GetRegister",
        CMD_PUT_REGISTER => "PutRegister",
        _ => "unknown command",
    }
}

fn request(address: u8, command: u8, data: Vec<u8>) -> Vec<u8> {
    Frame::new(Direction::ToMeter, address, command, data).encode()
}

/// `80 <address> 01 <crc> 0D`.
pub fn get_type_request(address: u8) -> Vec<u8> {
    request(address, CMD_GET_TYPE, Vec::new())
}

/// `80 <address> 02 <crc> 0D`.
pub fn get_serial_request(address: u8) -> Vec<u8> {
    request(address, CMD_GET_SERIAL, Vec::new())
}

/// `80 <address> 10 <n> <id_hi id_lo>... <crc> 0D` for 1 to 8 register ids.
pub fn get_register_request(address: u8, ids: &[u16]) -> Result<Vec<u8>, CodecError> {
    if ids.is_empty() || ids.len() > MAX_REGISTERS_PER_REQUEST {
        return Err(CodecError::RegisterCount(ids.len()));
    }
    let mut data = Vec::with_capacity(1 + ids.len() * 2);
    // The length check above keeps this at most 8.
    data.push(ids.len() as u8);
    for id in ids {
        data.extend_from_slice(&id.to_be_bytes());
    }
    Ok(request(address, CMD_GET_REGISTER, data))
}

/// SetClock with the meter's local wall-clock time: date `yymmdd` then time `hhmmss`, each a
/// big-endian u32 (5512-447 sec. 6.2.3: 2007-07-30 16:15:57 is `00 01 14 4A 00 02 77 15`).
pub fn set_clock_request(address: u8, time: &Timestamp) -> Vec<u8> {
    let date =
        u32::from(time.year % 100) * 10_000 + u32::from(time.month) * 100 + u32::from(time.day);
    let clock =
        u32::from(time.hour) * 10_000 + u32::from(time.minute) * 100 + u32::from(time.second);
    let mut data = Vec::with_capacity(8);
    data.extend_from_slice(&date.to_be_bytes());
    data.extend_from_slice(&clock.to_be_bytes());
    request(address, CMD_SET_CLOCK, data)
}

/// Meter type and software revision from GetType.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MeterType {
    pub code: u16,
    /// High byte: letter (1 = A); low byte: number. 0x0601 is "F1" (5512-447 sec. 6.2.1,
    /// PyKMP `tests/test_messages.py`).
    pub revision: u16,
}

impl MeterType {
    /// The software revision as Kamstrup prints it ("F1"); `None` when the letter byte is not
    /// 1..=26 (0x0000 means "not available" per PyKMP).
    pub fn revision_string(&self) -> Option<String> {
        let [letter, number] = self.revision.to_be_bytes();
        if !(1..=26).contains(&letter) {
            return None;
        }
        Some(format!("{}{}", char::from(b'A' + letter - 1), number))
    }

    /// The product name for type codes we can cite, else `None`.
    pub fn model_name(&self) -> Option<&'static str> {
        match self.code {
            // 5512-447 sec. 6.2.1 example answer of a MULTICAL 601 (corpus `doc_GetType_resp`).
            0x0004 => Some("MULTICAL 601"),
            _ => None,
        }
    }

    /// Model name, or `type 0x....` for codes we cannot name.
    pub fn model(&self) -> String {
        match self.model_name() {
            Some(name) => name.to_string(),
            None => format!("type {:#06x}", self.code),
        }
    }
}

fn expect_len(command: &'static str, data: &[u8], expected: usize) -> Result<(), CodecError> {
    if data.len() == expected {
        Ok(())
    } else {
        Err(CodecError::Length {
            command,
            len: data.len(),
            expected,
        })
    }
}

/// GetType reply data: type u16, revision u16 (5512-447 sec. 6.2.1).
pub fn decode_type_reply(data: &[u8]) -> Result<MeterType, CodecError> {
    expect_len("GetType", data, 4)?;
    Ok(MeterType {
        code: u16::from_be_bytes([data[0], data[1]]),
        revision: u16::from_be_bytes([data[2], data[3]]),
    })
}

/// GetSerialNo reply data: u32 (5512-447 sec. 6.2.2; corpus `doc_GetSerialNo_resp`).
pub fn decode_serial_reply(data: &[u8]) -> Result<u32, CodecError> {
    expect_len("GetSerialNo", data, 4)?;
    Ok(u32::from_be_bytes([data[0], data[1], data[2], data[3]]))
}

/// A value whose digits could not be used as sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error(transparent)]
    Number(#[from] NumberError),
    #[error("{0} is not a clock value hhmmss")]
    Clock(Decimal),
    #[error("{0} is not a date value")]
    Date(Decimal),
}

/// The value of one register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegisterValue {
    Number(Decimal),
    /// Unit 0x2F: `hhmmss` digits.
    Clock {
        hour: u8,
        minute: u8,
        second: u8,
    },
    /// Units 0x30 (`yymmdd`, years taken as 20yy: KMP meters postdate 2000) and 0x31.
    Date {
        year: u16,
        month: u8,
        day: u8,
    },
    /// Kept as sent because it cannot be represented (see `error`).
    Invalid {
        siex: u8,
        bytes: Vec<u8>,
        error: ValueError,
    },
}

impl fmt::Display for RegisterValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterValue::Number(d) => write!(f, "{d}"),
            RegisterValue::Clock {
                hour,
                minute,
                second,
            } => write!(f, "{hour:02}:{minute:02}:{second:02}"),
            RegisterValue::Date { year, month, day } => {
                write!(f, "{year:04}-{month:02}-{day:02}")
            }
            RegisterValue::Invalid { siex, bytes, .. } => {
                write!(f, "siex {siex:02X} bytes ")?;
                for b in bytes {
                    write!(f, "{b:02X}")?;
                }
                Ok(())
            }
        }
    }
}

/// One `rid(2) unit(1) length(1) siex(1) value(length)` entry of a GetRegister reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterEntry {
    pub id: u16,
    pub unit_code: u8,
    pub value: RegisterValue,
}

/// An integer with exponent 0 (or exact after shifting) split into three 2-digit groups.
fn digit_groups(d: Decimal, limit: i64) -> Option<(i64, u8, u8)> {
    let n = d.normalize();
    if n.exponent() != 0 || n.mantissa() < 0 || n.mantissa() >= limit {
        return None;
    }
    let v = n.mantissa();
    Some((v / 10_000, ((v / 100) % 100) as u8, (v % 100) as u8))
}

fn clock_value(d: Decimal) -> Result<RegisterValue, ValueError> {
    match digit_groups(d, 1_000_000) {
        Some((h, minute, second)) if h < 24 && minute < 60 && second < 60 => {
            Ok(RegisterValue::Clock {
                hour: h as u8,
                minute,
                second,
            })
        }
        _ => Err(ValueError::Clock(d)),
    }
}

fn date_value(d: Decimal, long: bool) -> Result<RegisterValue, ValueError> {
    let limit = if long { 100_000_000 } else { 1_000_000 };
    match digit_groups(d, limit) {
        Some((y, month, day)) if (1..=12).contains(&month) && (1..=31).contains(&day) => {
            let year = if long { y as u16 } else { 2000 + y as u16 };
            Ok(RegisterValue::Date { year, month, day })
        }
        _ => Err(ValueError::Date(d)),
    }
}

fn decode_value(unit_code: u8, siex: u8, bytes: &[u8]) -> RegisterValue {
    let decoded = number::decode(siex, bytes)
        .map_err(ValueError::from)
        .and_then(|d| match units::lookup(unit_code).kind {
            UnitKind::Clock => clock_value(d),
            UnitKind::Date => date_value(d, false),
            UnitKind::LongDate => date_value(d, true),
            _ => Ok(RegisterValue::Number(d)),
        });
    decoded.unwrap_or_else(|error| RegisterValue::Invalid {
        siex,
        bytes: bytes.to_vec(),
        error,
    })
}

/// GetRegister reply data (after the command byte): the registers the meter knows, in the
/// order it sent them. Unknown registers are simply absent (5512-447 sec. 6.2.4), so callers
/// must match by id, never by position.
pub fn decode_register_reply(data: &[u8]) -> Result<Vec<RegisterEntry>, CodecError> {
    let mut entries = Vec::new();
    let mut offset = 0;
    while offset < data.len() {
        let rest = &data[offset..];
        let header = rest.get(..5).ok_or(CodecError::Truncated {
            offset,
            needed: 5,
            available: rest.len(),
        })?;
        let id = u16::from_be_bytes([header[0], header[1]]);
        let unit_code = header[2];
        let len = usize::from(header[3]);
        let siex = header[4];
        let bytes = rest.get(5..5 + len).ok_or(CodecError::Truncated {
            offset,
            needed: 5 + len,
            available: rest.len(),
        })?;
        entries.push(RegisterEntry {
            id,
            unit_code,
            value: decode_value(unit_code, siex, bytes),
        });
        offset += 5 + len;
    }
    Ok(entries)
}

/// Encode one register entry the way a meter does (used by the simulator and tests).
pub fn encode_register_entry(
    out: &mut Vec<u8>,
    id: u16,
    unit_code: u8,
    value: Decimal,
    len: usize,
) -> Result<(), NumberError> {
    let (siex, bytes) = number::encode(value, len)?;
    out.extend_from_slice(&id.to_be_bytes());
    out.push(unit_code);
    // `number::encode` returns at most 8 bytes.
    out.push(bytes.len() as u8);
    out.push(siex);
    out.extend_from_slice(&bytes);
    Ok(())
}

/// A decoded reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Type(MeterType),
    Serial(u32),
    Registers(Vec<RegisterEntry>),
    Ack,
    /// A valid frame for a command this crate does not decode.
    Other {
        command: u8,
        data: Vec<u8>,
    },
}

/// Decode the application data of a checked frame.
pub fn decode_reply(frame: &Frame) -> Result<Reply, CodecError> {
    match frame.command {
        CMD_GET_TYPE => decode_type_reply(&frame.data).map(Reply::Type),
        CMD_GET_SERIAL => decode_serial_reply(&frame.data).map(Reply::Serial),
        CMD_GET_REGISTER => decode_register_reply(&frame.data).map(Reply::Registers),
        command => Ok(Reply::Other {
            command,
            data: frame.data.clone(),
        }),
    }
}

/// Decode the first reply in raw input (echo and noise before it are skipped).
pub fn decode_reply_bytes(bytes: &[u8]) -> Result<(u8, Reply), CodecError> {
    let mut rx = Receiver::from_meter();
    match rx.push(bytes) {
        Push::NeedMore => Err(CodecError::NoFrame),
        Push::Failed { error, .. } => Err(error.into()),
        Push::Complete {
            received: Received::Ack,
            ..
        } => Ok((frame::ADDRESS_METER, Reply::Ack)),
        Push::Complete {
            received: Received::Frame(f),
            ..
        } => decode_reply(&f).map(|r| (f.address, r)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_count_is_checked() {
        assert_eq!(
            get_register_request(0x3F, &[]),
            Err(CodecError::RegisterCount(0))
        );
        assert_eq!(
            get_register_request(0x3F, &[1; 9]),
            Err(CodecError::RegisterCount(9))
        );
    }

    #[test]
    fn revision_letters() {
        let t = MeterType {
            code: 4,
            revision: 0x0601,
        };
        assert_eq!(t.revision_string().as_deref(), Some("F1"));
        assert_eq!(t.model(), "MULTICAL 601");
        let t = MeterType {
            code: 0x1234,
            revision: 0,
        };
        assert_eq!(t.revision_string(), None);
        assert_eq!(t.model(), "type 0x1234");
    }

    #[test]
    fn clock_and_date_digits() {
        assert_eq!(
            decode_value(0x2F, 0x00, &[0x00, 0x02, 0x77, 0x15]).to_string(),
            "16:15:57"
        );
        assert_eq!(
            decode_value(0x30, 0x00, &[0x00, 0x01, 0x14, 0x4A]).to_string(),
            "2007-07-30"
        );
        assert!(matches!(
            decode_value(0x2F, 0x00, &[0x00, 0x03, 0xD0, 0x90]),
            RegisterValue::Invalid { .. }
        ));
    }
}
