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
        let mut i = 0;
        let mut fields = [0u8; 5];
        // Separators expected after A, B, C and D.
        const SEPS: [u8; 4] = [b'-', b':', b'.', b'.'];
        for (n, field) in fields.iter_mut().enumerate() {
            let start = i;
            let mut v: u16 = 0;
            while let Some(&c) = line.get(i) {
                if !c.is_ascii_digit() {
                    break;
                }
                v = v * 10 + (c - b'0') as u16;
                if v > 255 {
                    return None;
                }
                i += 1;
            }
            if i == start {
                return None;
            }
            *field = v as u8;
            if let Some(&sep) = SEPS.get(n) {
                if line.get(i) != Some(&sep) {
                    return None;
                }
                i += 1;
            }
        }
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
        let [a, b, c, d, e] = fields;
        Some((Obis { a, b, c, d, e }, line.get(i..).unwrap_or(&[])))
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
