//! The identification message `/XXXZ<ident>` CR LF and the baud rate code Z.

use std::fmt;

/// Longest identification line we accept: `/` + 3 + Z + up to 16 ident characters (§6.3
/// "identification message") + `\W` + CR LF, with room for meters that send more.
pub const MAX_IDENT_LEN: usize = 64;

/// Communication mode, as told by Z (IEC 62056-21 §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Z is neither `A`-`I` nor `0`-`9`: the data follows at 300 baud (§6.4.1; the 382's
    /// `/KAM 685-382-OK-15` uses a space).
    A,
    /// Z is `A`-`F`: the meter switches to that speed by itself right after the
    /// identification, with no acknowledgement (§6.4.2; Ultraheat `/LUGCUH50` → 2400).
    B,
    /// Z is `0`-`6`: the reader acknowledges with `ACK 0 Z 0` CR LF, then both switch (§6.4.3;
    /// MULTICAL 401 `/KAM0MCC`).
    C,
}

/// The baud rate character Z and what it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BaudCode(pub u8);

impl BaudCode {
    /// The mode Z announces.
    pub fn mode(self) -> Mode {
        match self.0 {
            b'A'..=b'I' => Mode::B,
            b'0'..=b'9' => Mode::C,
            _ => Mode::A,
        }
    }

    /// The speed Z stands for (§6.3 "baud rate identification"): mode B `A`=600 ... `F`=19200,
    /// mode C `0`=300 ... `6`=19200, mode A always 300. `None` for the reserved codes
    /// (`G`-`I`, `7`-`9`).
    pub fn baud(self) -> Option<u32> {
        const RATES: [u32; 7] = [300, 600, 1200, 2400, 4800, 9600, 19200];
        match self.0 {
            b'A'..=b'F' => RATES.get((self.0 - b'A') as usize + 1).copied(),
            b'0'..=b'6' => RATES.get((self.0 - b'0') as usize).copied(),
            b'G'..=b'I' | b'7'..=b'9' => None,
            _ => Some(300),
        }
    }

    /// The mode C code for `baud` (`0`-`6`), for the acknowledgement.
    pub fn mode_c_for(baud: u32) -> Option<BaudCode> {
        [300, 600, 1200, 2400, 4800, 9600, 19200]
            .iter()
            .position(|&b| b == baud)
            .map(|i| BaudCode(b'0' + i as u8))
    }
}

/// A parsed identification message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identification {
    /// The three-letter manufacturer flag (`KAM`, `LUG`, `LGZ` ...).
    pub manufacturer: String,
    /// The third letter in lower case means the meter reacts within 20 ms instead of 200 ms
    /// (IEC 62056-21 §6.3 "manufacturer's identification" note; reaction time tr, §6.3 timing).
    pub short_reaction: bool,
    pub baud_code: BaudCode,
    /// The enhanced capability character W of `\W`, if the ident starts with it (§6.3).
    pub enhanced: Option<u8>,
    /// The rest of the line (model/serial text), without `\W`.
    pub ident: String,
}

/// Why an identification line was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentError {
    #[error("identification line does not start with '/'")]
    NoSlash,
    #[error("identification line too short")]
    TooShort,
    #[error("manufacturer flag {0:?} is not three letters")]
    Manufacturer(String),
    #[error("baud rate character {0:?} is reserved")]
    ReservedBaud(char),
    #[error("identification contains non-printable byte 0x{0:02x}")]
    Unprintable(u8),
}

impl Identification {
    /// Parse the line without its CR LF, e.g. `/LUGCUH50` or `/KAM 685-382-OK-15`.
    pub fn parse(line: &[u8]) -> Result<Self, IdentError> {
        let rest = line.strip_prefix(b"/").ok_or(IdentError::NoSlash)?;
        if let Some(&b) = rest.iter().find(|&&b| !(0x20..0x7F).contains(&b)) {
            return Err(IdentError::Unprintable(b));
        }
        let (man, rest) = match rest {
            [a, b, c, rest @ ..] => ([*a, *b, *c], rest),
            _ => return Err(IdentError::TooShort),
        };
        let manufacturer: String = man.iter().map(|&b| b as char).collect();
        if !man.iter().all(u8::is_ascii_alphabetic) {
            return Err(IdentError::Manufacturer(manufacturer));
        }
        let (z, rest) = rest.split_first().ok_or(IdentError::TooShort)?;
        let baud_code = BaudCode(*z);
        if baud_code.baud().is_none() {
            return Err(IdentError::ReservedBaud(*z as char));
        }
        let (enhanced, rest) = match rest {
            [b'\\', w, rest @ ..] => (Some(*w), rest),
            _ => (None, rest),
        };
        Ok(Identification {
            manufacturer: manufacturer.to_ascii_uppercase(),
            short_reaction: man[2].is_ascii_lowercase(),
            baud_code,
            enhanced,
            ident: String::from_utf8_lossy(rest).trim().to_string(),
        })
    }

    /// The manufacturer's name for the flags we know (FLAG association list).
    pub fn manufacturer_name(&self) -> String {
        match self.manufacturer.as_str() {
            "KAM" => "Kamstrup".into(),
            "LUG" | "LGZ" | "LGB" => "Landis+Gyr".into(),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Identification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}{}", self.manufacturer, self.baud_code.0 as char)?;
        if let Some(w) = self.enhanced {
            write!(f, "\\{}", w as char)?;
        }
        f.write_str(&self.ident)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_idents() {
        let u = Identification::parse(b"/LUGCUH50").unwrap();
        assert_eq!(
            (u.baud_code.mode(), u.baud_code.baud()),
            (Mode::B, Some(2400))
        );
        assert_eq!(u.ident, "UH50");
        let k = Identification::parse(b"/KAM0MCC").unwrap();
        assert_eq!(
            (k.baud_code.mode(), k.baud_code.baud()),
            (Mode::C, Some(300))
        );
        let a = Identification::parse(b"/KAM 685-382-OK-15").unwrap();
        assert_eq!(
            (a.baud_code.mode(), a.ident.as_str()),
            (Mode::A, "685-382-OK-15")
        );
        let e = Identification::parse(b"/ISk5\\2MT382-1000").unwrap();
        assert!(e.short_reaction);
        assert_eq!((e.enhanced, e.baud_code.baud()), (Some(b'2'), Some(9600)));
        assert!(Identification::parse(b"/KA").is_err());
        assert!(Identification::parse(b"/KAM7X").is_err());
        assert_eq!(BaudCode::mode_c_for(2400), Some(BaudCode(b'3')));
    }
}
