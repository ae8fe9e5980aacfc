//! The bytes a served client gets for one telegram.

use std::sync::Arc;

/// The telegram as the meter put it on the wire: [`crate::event::RawTelegram::bytes`] (the
/// decoder's accepted frame from `/` to `!` and its CRC, decrypted for encrypted inputs) and
/// the line end after the CRC.
///
/// Why the line end is added here: a telegram ends with `!`, the CRC (DSMR 4+, none on
/// DSMR 2.2/3) and CR LF (DSMR 5.0.2 §6.2; `shared/notes/dsmr.md` "Framing"). The decoder ends
/// a frame at its fourth CRC digit, before that CR LF may even have arrived, so the frame
/// holds no line end (nor does the plain text inside an encrypted frame: the Luxembourg
/// specification's example ends at `!8B52`), and the readers clients run need it (`dsmr_parser`'s buffer looks for
/// `!` + CRC + `\r\n`). The line end is the telegram's own: CR LF, or a bare LF where its lines
/// end in bare LF (a relay or capture that lost the CRs: `CrcStatus::ValidAfterCrlf`). A
/// DSMR 2.2 telegram that never got its `!` (`CrcStatus::Unterminated`) already ends with its
/// last line's end and is sent as it is.
pub fn telegram_bytes(raw: &[u8]) -> Arc<[u8]> {
    let end: &[u8] = match raw.last() {
        Some(b'\n') => b"",
        _ if bare_lf(raw) => b"\n",
        _ => b"\r\n",
    };
    let mut v = Vec::with_capacity(raw.len() + end.len());
    v.extend_from_slice(raw);
    v.extend_from_slice(end);
    v.into()
}

/// Whether the telegram's first line ends in a bare LF (no CR before it).
fn bare_lf(raw: &[u8]) -> bool {
    match memchr::memchr(b'\n', raw) {
        Some(i) => i == 0 || raw.get(i - 1) != Some(&b'\r'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::telegram_bytes;

    #[test]
    fn the_line_end_after_the_crc_is_the_telegrams_own() {
        let crlf = b"/ISK5\\2M550T-1012\r\n\r\n1-0:1.8.1(000123.456*kWh)\r\n!ABCD";
        assert_eq!(&*telegram_bytes(crlf), [&crlf[..], b"\r\n"].concat());
        let lf = b"/ISK5\\2M550T-1012\n\n1-0:1.8.1(000123.456*kWh)\n!ABCD";
        assert_eq!(&*telegram_bytes(lf), [&lf[..], b"\n"].concat());
        // DSMR 2.2: `!` and no CRC.
        assert_eq!(
            &*telegram_bytes(b"/KMP5\r\n\r\n1-0:1.8.1(1)\r\n!"),
            b"/KMP5\r\n\r\n1-0:1.8.1(1)\r\n!\r\n"
        );
        // DSMR 2.2 without `!`: ends with its last line's end already.
        assert_eq!(
            &*telegram_bytes(b"/KMP5\r\n\r\n1-0:1.8.1(1)\r\n"),
            b"/KMP5\r\n\r\n1-0:1.8.1(1)\r\n"
        );
    }
}
