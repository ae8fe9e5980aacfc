//! Data message framing `STX data-block ETX BCC` and the block check character.

use super::{ETX, STX};

/// Longest data message we buffer. Readouts are 100 bytes (MULTICAL 401) to about 1 KiB
/// (Ultraheat corpus); 16 KiB bounds memory against a meter or line that never sends ETX.
pub const MAX_MESSAGE: usize = 16 * 1024;

/// How the BCC after ETX is computed. Both run over the bytes after STX up to and including
/// ETX.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BccMode {
    /// IEC 62056-21 §6.3: XOR of the characters (ISO 1155). Landis+Gyr Ultraheat uses it: the
    /// corpus UH50 readout ends in `h` (0x68), its XOR.
    Xor,
    /// Kamstrup: the 7-bit arithmetic sum. Kamstrup 382 communication interface specification;
    /// its example block ends in `>` (0x3E), which only the sum gives (XOR gives 0x12).
    Sum7,
    /// Do not check (meters that send a constant or wrong BCC; last resort).
    None,
}

/// The BCC of `data` (the bytes after STX through ETX inclusive). Parity bits are ignored:
/// the check covers the 7-bit characters. `None` for [`BccMode::None`].
pub fn bcc(mode: BccMode, data: &[u8]) -> Option<u8> {
    match mode {
        BccMode::Xor => Some(data.iter().fold(0u8, |a, &b| a ^ (b & 0x7F))),
        BccMode::Sum7 => Some(data.iter().fold(0u8, |a, &b| a.wrapping_add(b & 0x7F)) & 0x7F),
        BccMode::None => None,
    }
}

/// Why a data message was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    #[error("no STX within {MAX_MESSAGE} bytes")]
    NoStx,
    #[error("data message longer than {MAX_MESSAGE} bytes without ETX")]
    TooLong,
    #[error("BCC mismatch ({mode:?}): received 0x{got:02x}, computed 0x{expected:02x}")]
    Bcc {
        mode: BccMode,
        got: u8,
        expected: u8,
    },
    #[error("data block does not end with '!' CR LF")]
    NoEnd,
    #[error("line {line}, column {column}: {what}")]
    Syntax {
        line: usize,
        column: usize,
        what: String,
    },
}

/// A framed data message found in a receive buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// The bytes between STX and ETX (both excluded): data lines, `!`, CR LF.
    pub block: &'a [u8],
    /// The bytes the BCC covers: after STX through ETX inclusive.
    pub checked: &'a [u8],
    /// The BCC as received (7 bits).
    pub bcc: u8,
    /// Bytes of the buffer up to and including the BCC.
    pub end: usize,
}

impl Message<'_> {
    /// Check the BCC with `mode`.
    pub fn verify(&self, mode: BccMode) -> Result<(), BlockError> {
        match bcc(mode, self.checked) {
            Some(expected) if expected != self.bcc => Err(BlockError::Bcc {
                mode,
                got: self.bcc,
                expected,
            }),
            _ => Ok(()),
        }
    }
}

/// Find a complete data message in `buf`. Bytes before STX are skipped (an optical head's echo
/// of our acknowledgement, the identification's tail). `Ok(None)`: wait for more bytes.
pub fn find_message(buf: &[u8]) -> Result<Option<Message<'_>>, BlockError> {
    let Some(stx) = buf.iter().position(|&b| b & 0x7F == STX) else {
        return if buf.len() > MAX_MESSAGE {
            Err(BlockError::NoStx)
        } else {
            Ok(None)
        };
    };
    let after = buf.get(stx + 1..).unwrap_or_default();
    let Some(etx) = after.iter().position(|&b| b & 0x7F == ETX) else {
        return if after.len() > MAX_MESSAGE {
            Err(BlockError::TooLong)
        } else {
            Ok(None)
        };
    };
    let (Some(block), Some(checked), Some(&b)) =
        (after.get(..etx), after.get(..=etx), after.get(etx + 1))
    else {
        return Ok(None);
    };
    Ok(Some(Message {
        block,
        checked,
        bcc: b & 0x7F,
        end: stx + etx + 3,
    }))
}

/// Frame a data block as a meter sends it: STX, `block`, ETX, BCC (for simulators and tests).
/// With [`BccMode::None`] the BCC byte is the XOR.
pub fn frame(block: &[u8], mode: BccMode) -> Vec<u8> {
    let mut v = Vec::with_capacity(block.len() + 3);
    v.push(STX);
    v.extend_from_slice(block);
    v.push(ETX);
    let checked = v.get(1..).unwrap_or_default();
    let b = bcc(mode, checked)
        .or(bcc(BccMode::Xor, checked))
        .unwrap_or(0);
    v.push(b);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_then_find_round_trips() {
        for mode in [BccMode::Xor, BccMode::Sum7] {
            let msg = frame(b"6.8(1*GJ)!\r\n", mode);
            let mut buf = b"\x06050\r\n".to_vec();
            buf.extend_from_slice(&msg);
            let m = find_message(&buf).unwrap().unwrap();
            assert_eq!(m.block, b"6.8(1*GJ)!\r\n");
            assert_eq!(m.end, buf.len());
            assert!(m.verify(mode).is_ok());
            assert!(find_message(&buf[..buf.len() - 1]).unwrap().is_none());
        }
    }
}
