//! CRC-16 of P1 telegrams.
//!
//! DSMR P1 Companion Standard 5.0.2 §6.2: "CRC16 … polynomial x^16 + x^15 + x^2 + 1 … least
//! significant bit first … computed over the characters from `/` up to and including `!`",
//! initial value 0, no final XOR. That is CRC-16/ARC in the CRC catalogue (check value 0xBB3D),
//! sent as four upper-case hex digits (some meters send lower case, NWA Warmtelink sends three
//! digits without zero padding: corpus `ndokter_dsmr_parser/06_nwa_warmtelink…`).

use crc::{Crc, Table, CRC_16_ARC};

/// Slice-by-16 table: the CRC runs over every byte of every telegram, so it is on the hot path.
const ARC: Crc<u16, Table<16>> = Crc::<u16, Table<16>>::new(&CRC_16_ARC);

/// CRC-16/ARC of `bytes`.
pub fn crc16_arc(bytes: &[u8]) -> u16 {
    ARC.checksum(bytes)
}

/// CRC-16/ARC of `bytes` with every bare LF counted as CR LF.
///
/// Saved captures often lose the CR (git's LF normalisation, copy and paste); the meter computed
/// its CRC over CR LF line ends (DSMR 5.0.2 §6.2 defines CR LF as the line end), so restoring
/// them recovers the meter's CRC. Corpus: `twistedfall_dsmr_parse/*`, `mthmulders_dsmr_rs/*`,
/// `nielsbasjes_dsmr_tools/01_ttyUSB0-mini.txt` (INVENTORY verdict `ok-if-LF->CRLF`).
pub fn crc16_arc_crlf(bytes: &[u8]) -> u16 {
    let mut digest = ARC.digest();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'\n' && (i == 0 || bytes[i - 1] != b'\r') {
            digest.update(&bytes[start..i]);
            digest.update(b"\r");
            start = i;
        }
    }
    digest.update(&bytes[start..]);
    digest.finalize()
}

/// True if `bytes` has an LF not preceded by CR.
pub fn has_bare_lf(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arc_check_value() {
        // CRC catalogue check value for CRC-16/ARC over "123456789".
        assert_eq!(crc16_arc(b"123456789"), 0xBB3D);
    }

    #[test]
    fn crlf_restore_matches_crlf_text() {
        let lf = b"/X\n\n1-0:1.8.1(1)\n!";
        let crlf = b"/X\r\n\r\n1-0:1.8.1(1)\r\n!";
        assert_eq!(crc16_arc_crlf(lf), crc16_arc(crlf));
        assert_eq!(crc16_arc_crlf(crlf), crc16_arc(crlf));
        assert!(has_bare_lf(lf));
        assert!(!has_bare_lf(crlf));
    }
}
