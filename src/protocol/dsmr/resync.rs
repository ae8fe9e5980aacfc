//! Where a telegram really starts when junk came before it.
//!
//! Line noise can hold a `/`, which opens a frame early; a `(` after it makes the framer take
//! the real `/` for data inside a value (issue 12 §1: `/(` before any telegram cost that
//! telegram). The framer cannot tell such a junk start from a real one while bytes arrive, so
//! the decision is made once the frame is complete, from the `/`s inside it that can begin an
//! identification line ([`header_form`]):
//!
//! - a frame with a CRC is tried from its first byte, then from such `/`s, last first (junk
//!   comes before the telegram, so the real start is the last one), at most [`MAX_RESCANS`]
//!   times;
//! - a frame without a CRC (DSMR 2.2/3, nothing to check) starts at the last such `/`, and is no
//!   telegram at all without one.
//!
//! Work per frame stays bounded: frames are at most [`super::MAX_TELEGRAM`] bytes; finding the
//! candidates is one pass over them (each [`header_form`] check stops at the next `/`, which an
//! identification never holds), and at most [`MAX_RESCANS`] CRC-16s are computed besides the
//! frame's own, so 9 × 8 KiB of CRC work at worst.

/// CRC checks from a `/` inside a rejected frame, besides the one from its first byte. Junk
/// rarely holds more than one `/` that begins an identification line; a frame with more is
/// rejected like before (its CRC mismatch is reported).
pub(crate) const MAX_RESCANS: usize = 8;

/// Whether `t` begins with an identification line: `/XXXZ Ident CR LF` (IEC 62056-21 §6.3.14,
/// DSMR 5.0.2 §6.2), where
/// - `XXX` is the FLAG manufacturer id: three letters (upper case; a lower-case third letter
///   marks a fast reaction time, and DSMR meters send `/Ene5`, `/ISk5`, `/Lux5`, so any case);
/// - `Z` the baud-rate character, printable; DSMR meters send `5`, the NWA Warmtelink `-`
///   (corpus ndokter 06, `/NWA-WARMTELINK`);
/// - the identification holds no `/` and no `!` (IEC 62056-21 §6.3.14: "printable characters
///   with the exception of / and !"), nor a parenthesis: no meter's does (see
///   `tests/fixtures/dsmr/INVENTORY.tsv`), and a `(` or `)` there is a data object glued to it;
///   other bytes are allowed (Iskra IE5T's 0x02, Fluvius's 0xAB, corpus ndokter 12 and 07);
/// - and the line ends (a telegram goes on with its data after it).
pub(crate) fn header_form(t: &[u8]) -> bool {
    let [b'/', x1, x2, x3, z, ident @ ..] = t else {
        return false;
    };
    if !(x1.is_ascii_alphabetic() && x2.is_ascii_alphabetic() && x3.is_ascii_alphabetic()) {
        return false;
    }
    if !z.is_ascii_graphic() || matches!(z, b'/' | b'!' | b'(' | b')') {
        return false;
    }
    for &b in ident {
        match b {
            b'\n' => return true,
            b'/' | b'!' | b'(' | b')' => return false,
            _ => {}
        }
    }
    false
}

/// The positions after the first byte of `t` where a `/` begins an identification line, last
/// first.
pub(crate) fn starts(t: &[u8]) -> impl Iterator<Item = usize> + '_ {
    memchr::memrchr_iter(b'/', t.get(1..).unwrap_or(&[]))
        .map(|i| i + 1)
        .filter(|&i| header_form(&t[i..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identification_lines() {
        for ok in [
            &b"/ISK5\\2M550T-1012\r\n"[..],
            b"/KMP5 ZABF001587315111\r\n",
            b"/Ene5\\T210-D ESMR5.0\r\n",
            b"/NWA-WARMTELINK\r\n",
            b"/FLU5\xAB769484_A\r\n",
            b"/ISk5\x02MIE5T-200\n",
            b"/KAM5\r\n",
        ] {
            assert!(header_form(ok), "{:?}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b"/(/ISK5\\2M550T-1012\r\n"[..],
            b"/A\r\n",
            b"/-!",
            b"/ABC5(/KMP5 ZABF\r\n",
            b"/ABC5 x/y\r\n",
            b"/ABC5",
            b"/AB15\r\n",
            b"/ABC\r\n",
            b"/some !a3D4",
        ] {
            assert!(!header_form(bad), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn starts_last_first() {
        let t = b"/(/ABC5\r\n(/KMP5 ZABF\r\n\r\n0-0:96.13.0(x/ABC5)\r\n";
        let s: Vec<usize> = starts(t).collect();
        assert_eq!(s, [10, 2]);
        assert!(starts(b"/ISK5\r\n").next().is_none());
        assert!(starts(b"").next().is_none());
    }
}
