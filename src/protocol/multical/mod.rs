//! Kamstrup MULTICAL 401 / 66C `/#n` readout over the optical eye.
//!
//! This is not KMP and not IEC 62056-21: the reader sends a three-character request such as
//! `/#1` at 300 baud, switches its port to 1200 baud at once and reads a line of space-separated
//! 7-digit decimal fields up to CR. The reply carries no decimal point and no unit: both follow
//! from the meter's program number A-B-CCC (`/#2` field 8) or from configuration ([`Scaling`]).
//!
//! Sources: Kamstrup MULTICAL 66C technical description 5511-634 (§2.2 program number and CCC
//! table, §4 data strings), the MULTICAL 401 technical description 5512-091 (§3.2 PROG
//! (A-B-CCC), known here only by its table of contents), the team notes
//! (`shared/notes/kamstrup.md`, "MULTICAL 401 / 66C") and the real MC66C capture in
//! `tests/fixtures/iec62056/mc66c_kenanv_demo_output.txt`.
//!
//! Code map: [`reply`] parses the strings, [`scaling`] turns the program number into decimals
//! and units with the manual's CCC table in [`ccc`], [`mod@decode`] builds [`crate::reading::Reading`]s, [`session`] is the
//! [`crate::protocol::PollSession`].

pub mod ccc;
pub mod decode;
mod failure;
pub mod reply;
pub mod scaling;
pub mod session;

pub use ccc::{CccRow, CCC_TABLE};
pub use decode::{decode, heat_meter_info, Decoded, MulticalIdentity, Replies};
pub use failure::MulticalFailure;
pub use reply::{parse_hash1, parse_hash2, parse_hash_c, Hash1, Hash2, HashC, ReplyError};
pub use scaling::{EnergyUnit, FlowUnit, PowerUnit, ProgramNumber, Scaling, ScalingError};
pub use session::{MulticalOptions, MulticalSession};

use crate::protocol::{LineSettings, Parity};

/// The request is sent at 300 baud, 7 data bits, even parity, 2 stop bits (MULTICAL 66C manual
/// 5511-634 "optical readout"; KenanV's MC66C sketch `Serial.begin(300, SERIAL_7E2)`).
pub const REQUEST_LINE: LineSettings = LineSettings::new(300, 7, Parity::Even, 2);

/// The meter answers at 1200 baud 7E2; the reader must switch right after the request because
/// the reply can start after about 0.3 s (team notes; KenanV's sketch switches to 1200 7E2
/// immediately after writing). A reader configured 7E1 receives 7E2 fine: a UART only checks
/// the first stop bit.
pub const REPLY_LINE: LineSettings = LineSettings::new(1200, 7, Parity::Even, 2);

/// Carriage return ends every reply line (MC66C capture: each reply ends in CR, no LF).
pub const CR: u8 = 0x0D;
/// Line feed, sent after CR by some readers (KenanV sends `/#n` CR LF).
pub const LF: u8 = 0x0A;

/// What follows the three request characters. The notes list all three as seen in the wild:
/// KenanV sends CR LF, PyKamstrup-derived scripts CR, some send nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Terminator {
    #[default]
    Cr,
    CrLf,
    None,
}

/// One `/#<c>` request. `/#1`, `/#2` and `/#C` are decoded; others can be sent and their
/// fields read raw with [`reply::split_fields`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Request {
    /// `/#1`: energy, volume, hours, T1, T2, T1-T2, power, flow, peak power, info.
    Hash1,
    /// `/#2`: customer number, tariff registers, inputs A/B, program number, config, date.
    Hash2,
    /// `/#C`: T1, T3, T2, P1, P2, flow 1, flow 2, power 1.
    HashC,
    /// Any other request character (`/#3` ... `/#9`, `/#B`, `/#D`, `/#J` in the capture).
    Other(u8),
}

impl Request {
    /// The request character after `/#`.
    pub fn code(self) -> u8 {
        match self {
            Request::Hash1 => b'1',
            Request::Hash2 => b'2',
            Request::HashC => b'C',
            Request::Other(c) => c,
        }
    }

    /// The bytes to send: `/`, `#`, the code, then the terminator.
    pub fn encode(self, terminator: Terminator) -> Vec<u8> {
        let mut v = vec![b'/', b'#', self.code()];
        match terminator {
            Terminator::Cr => v.push(CR),
            Terminator::CrLf => v.extend_from_slice(&[CR, LF]),
            Terminator::None => {}
        }
        v
    }

    /// Parse a request as a meter sees it: `/#<c>` followed by CR, CR LF or nothing. Returns
    /// the request and how many bytes it used, or `None` if `bytes` does not start with one.
    pub fn decode(bytes: &[u8]) -> Option<(Request, usize)> {
        match bytes {
            [b'/', b'#', c, rest @ ..] if c.is_ascii_alphanumeric() => {
                let req = match *c {
                    b'1' => Request::Hash1,
                    b'2' => Request::Hash2,
                    b'C' => Request::HashC,
                    other => Request::Other(other),
                };
                let used = match rest {
                    [CR, LF, ..] => 5,
                    [CR, ..] => 4,
                    _ => 3,
                };
                Some((req, used))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_encode_with_each_terminator() {
        assert_eq!(Request::Hash1.encode(Terminator::Cr), b"/#1\r");
        assert_eq!(Request::HashC.encode(Terminator::CrLf), b"/#C\r\n");
        assert_eq!(Request::Hash2.encode(Terminator::None), b"/#2");
        assert_eq!(Request::decode(b"/#1\r\n"), Some((Request::Hash1, 5)));
        assert_eq!(Request::decode(b"/#C"), Some((Request::HashC, 3)));
        assert_eq!(Request::decode(b"/?!\r\n"), None);
    }
}
