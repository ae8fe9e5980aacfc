//! OBIS codes (IEC 62056-61): `A-B:C.D.E`, optionally with `*F` (EasyMeter Q3D sends `*255`,
//! the IEC 62056-61 "current value" wildcard; corpus `ndokter_dsmr_parser/09_easymeter…`).

use std::fmt;

/// One OBIS code. In P1 telegrams A is the medium (0 abstract, 1 electricity) and B the channel
/// (0 the meter itself, 1..4 its M-Bus sub-meters: DSMR 5.0.2 §6.12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Obis {
    pub a: u8,
    pub b: u8,
    pub c: u8,
    pub d: u8,
    pub e: u8,
}

impl Obis {
    pub const fn new(a: u8, b: u8, c: u8, d: u8, e: u8) -> Self {
        Obis { a, b, c, d, e }
    }

    /// Parse the code at the start of `line`. Returns the code and the rest of the line after
    /// it (and after any spaces: esphome's test "whitespace after OBIS id" shows meters that
    /// put one there). `None` if the line does not start with a full `A-B:C.D.E` code.
    pub fn parse_prefix(line: &[u8]) -> Option<(Obis, &[u8])> {
        let mut w = [0u8; 32];
        let n = line.len().min(32);
        w[..n].copy_from_slice(&line[..n]);
        if let Some((code, i)) = Self::parse_plain(&w) {
            return Some((code, &line[i..]));
        }
        /// A field of 1+ digits worth at most 255, then `sep` (none after E).
        #[inline(always)]
        fn field(line: &[u8], i: &mut usize, sep: Option<u8>) -> Option<u8> {
            let start = *i;
            let mut v: u32 = 0;
            while let Some(&c) = line.get(*i) {
                let d = c.wrapping_sub(b'0');
                if d > 9 {
                    break;
                }
                v = v * 10 + d as u32;
                if v > 255 {
                    return None;
                }
                *i += 1;
            }
            if *i == start {
                return None;
            }
            if let Some(sep) = sep {
                if line.get(*i) != Some(&sep) {
                    return None;
                }
                *i += 1;
            }
            Some(v as u8)
        }
        let mut i = 0;
        let a = field(line, &mut i, Some(b'-'))?;
        let b = field(line, &mut i, Some(b':'))?;
        let c = field(line, &mut i, Some(b'.'))?;
        let d = field(line, &mut i, Some(b'.'))?;
        let e = field(line, &mut i, None)?;
        // Optional `*F` group (value ignored: only the current value is ever sent).
        if line.get(i) == Some(&b'*') {
            let start = i + 1;
            let mut j = start;
            while line.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            if j > start {
                i = j;
            }
        }
        while line.get(i).is_some_and(|&c| c == b' ' || c == b'\t') {
            i += 1;
        }
        Some((Obis { a, b, c, d, e }, line.get(i..).unwrap_or(&[])))
    }
}

impl Obis {
    /// The common form, quickly: fields of one to three digits (at most 255) and `(` right
    /// after E, within the first 32 bytes of `w`. Returns the code and the index of the `(`, or
    /// `None` for anything else, which [`Obis::parse_prefix`] then parses in full (same result:
    /// this only skips the general loop and its bounds checks).
    #[inline(always)]
    pub(crate) fn parse_plain(w: &[u8; 32]) -> Option<(Obis, usize)> {
        // Indices are masked to the window (at most 20 are used): no bounds checks.
        let digit = |k: usize| w[k & 31].wrapping_sub(b'0');
        let mut f = [0u8; 5];
        let mut i = 0;
        for (n, sep) in [b'-', b':', b'.', b'.', b'('].into_iter().enumerate() {
            let d0 = digit(i);
            if d0 > 9 {
                return None;
            }
            let d1 = digit(i + 1);
            let (v, j) = if d1 > 9 {
                (d0 as u32, i + 1)
            } else {
                let d2 = digit(i + 2);
                if d2 > 9 {
                    (d0 as u32 * 10 + d1 as u32, i + 2)
                } else {
                    (d0 as u32 * 100 + d1 as u32 * 10 + d2 as u32, i + 3)
                }
            };
            if v > 255 || w[j & 31] != sep {
                return None;
            }
            f[n] = v as u8;
            i = j + 1;
        }
        let [a, b, c, d, e] = f;
        Some((Obis { a, b, c, d, e }, i - 1))
    }
}

impl fmt::Display for Obis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}:{}.{}.{}", self.a, self.b, self.c, self.d, self.e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_codes() {
        let (o, rest) = Obis::parse_prefix(b"1-0:1.8.1(000123.456*kWh)").unwrap();
        assert_eq!(o, Obis::new(1, 0, 1, 8, 1));
        assert_eq!(rest, b"(000123.456*kWh)");
        let (o, rest) = Obis::parse_prefix(b"0-0:96.1.255*255(1ESY)").unwrap();
        assert_eq!(o, Obis::new(0, 0, 96, 1, 255));
        assert_eq!(rest, b"(1ESY)");
        let (_, rest) = Obis::parse_prefix(b"0-1:24.2.1 (x)").unwrap();
        assert_eq!(rest, b"(x)");
        assert_eq!(Obis::new(1, 0, 99, 97, 0).to_string(), "1-0:99.97.0");
    }

    #[test]
    fn rejects_partial_codes() {
        assert!(Obis::parse_prefix(b"1-0:1.8(1)").is_none());
        assert!(Obis::parse_prefix(b"(00752.852)").is_none());
        assert!(Obis::parse_prefix(b"1-0:1.8.256(1)").is_none());
        assert!(Obis::parse_prefix(b"").is_none());
    }
}
