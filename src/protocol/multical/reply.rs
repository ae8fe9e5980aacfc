//! Parsers for the `/#1`, `/#2` and `/#C` reply lines.
//!
//! A reply is one line of space-separated decimal fields ended by CR (MC66C capture). The
//! fields are fixed-width: 7 digits, except the 11-digit customer number that opens `/#2`.
//! Anything else (a field too many or too few, an 8-digit field, a letter) is rejected with the
//! reason: the format has no other meaning, and a shifted field would publish a temperature
//! as an energy.

use super::scaling::ProgramNumber;
use super::CR;

/// Replies are short (the longest, `/#B`, is 97 bytes in the capture); anything much longer
/// without a CR is not a `/#n` reply.
pub const MAX_REPLY_LEN: usize = 256;

/// Why a reply line was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("reply is not terminated by CR")]
    Unterminated,
    #[error("reply longer than {MAX_REPLY_LEN} bytes")]
    TooLong,
    #[error("expected {expected} fields, got {got}")]
    FieldCount { expected: usize, got: usize },
    #[error("field {index} ({name}) is {got:?}: expected {width} digits")]
    FieldWidth {
        index: usize,
        name: &'static str,
        width: usize,
        got: String,
    },
    #[error("field {index} ({name}) is {got:?}: not a number")]
    NotANumber {
        index: usize,
        name: &'static str,
        got: String,
    },
    #[error("program number {0:?} is not A-B-CCC")]
    Program(String),
}

/// The `/#1` reply: raw integers as sent, before scaling (MC66C manual 5511-634: E1-E2, Vol1,
/// Op.hrs, T1, T2, T1-T2, Power1, Flow1, Peak power act., Info).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hash1 {
    pub energy: u64,
    pub volume: u64,
    pub hours: u64,
    pub t1: u64,
    pub t2: u64,
    pub t1_t2: u64,
    pub power: u64,
    pub flow: u64,
    pub peak_power: u64,
    pub info: u64,
}

/// Field names of `/#1`, in order (manual 5511-634).
pub const HASH1_FIELDS: [&str; 10] = [
    "energy",
    "volume V1",
    "hour counter",
    "T1",
    "T2",
    "T1-T2",
    "power",
    "flow",
    "peak power",
    "info code",
];

/// The `/#2` reply (manual 5511-634: Cust.no (11 digits), TA2, TL2, TA3, TL3, In-A, In-B,
/// ABCCC, DDEFFGG, date 0YYMMDD).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hash2 {
    /// The 11-digit customer number as sent (leading zeros kept: it is an identifier).
    pub customer: String,
    pub ta2: u64,
    pub tl2: u64,
    pub ta3: u64,
    pub tl3: u64,
    pub input_a: u64,
    pub input_b: u64,
    pub program: ProgramNumber,
    /// DD-E-FF-GG configuration as sent (7 digits).
    pub config: String,
    /// `0YYMMDD` as sent.
    pub date: String,
}

/// Field names of `/#2`, in order.
pub const HASH2_FIELDS: [&str; 10] = [
    "customer number",
    "TA2",
    "TL2",
    "TA3",
    "TL3",
    "input A",
    "input B",
    "program number",
    "config",
    "date",
];

/// The `/#C` reply (manual 5511-634: T1, T3, T2, P1, P2, Flow1, Flow2, Power1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashC {
    pub t1: u64,
    pub t3: u64,
    pub t2: u64,
    pub p1: u64,
    pub p2: u64,
    pub flow1: u64,
    pub flow2: u64,
    pub power1: u64,
}

/// Field names of `/#C`, in order.
pub const HASH_C_FIELDS: [&str; 8] = ["T1", "T3", "T2", "P1", "P2", "flow 1", "flow 2", "power 1"];

/// The fields of one reply line. The line must end in CR (anything after the first CR is
/// ignored). The 8th bit is masked off first: a reader whose port runs 8N1 instead of 7E2 sees
/// the parity bit there. Leading and trailing spaces and NULs are dropped (the capture shows
/// one extra character per reply besides CR; the meter may send a stray NUL on wake-up).
pub fn split_fields(line: &[u8]) -> Result<Vec<String>, ReplyError> {
    let cr = match line.iter().position(|&b| b & 0x7F == CR) {
        Some(i) => i,
        None if line.len() > MAX_REPLY_LEN => return Err(ReplyError::TooLong),
        None => return Err(ReplyError::Unterminated),
    };
    if cr > MAX_REPLY_LEN {
        return Err(ReplyError::TooLong);
    }
    let text: String = line[..cr].iter().map(|&b| (b & 0x7F) as char).collect();
    Ok(text
        .trim_matches(|c| c == ' ' || c == '\0')
        .split(' ')
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect())
}

/// Check a field's width and digits and return its value.
fn number(
    fields: &[String],
    index: usize,
    names: &[&'static str],
    width: usize,
) -> Result<u64, ReplyError> {
    let name = names.get(index).copied().unwrap_or("field");
    let f = fields.get(index).ok_or(ReplyError::FieldCount {
        expected: names.len(),
        got: fields.len(),
    })?;
    if !f.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ReplyError::NotANumber {
            index: index + 1,
            name,
            got: f.clone(),
        });
    }
    if f.len() != width {
        return Err(ReplyError::FieldWidth {
            index: index + 1,
            name,
            width,
            got: f.clone(),
        });
    }
    // At most 11 ASCII digits: always fits a u64.
    f.parse::<u64>().map_err(|_| ReplyError::NotANumber {
        index: index + 1,
        name,
        got: f.clone(),
    })
}

fn fields_exact(line: &[u8], names: &[&'static str]) -> Result<Vec<String>, ReplyError> {
    let fields = split_fields(line)?;
    if fields.len() != names.len() {
        return Err(ReplyError::FieldCount {
            expected: names.len(),
            got: fields.len(),
        });
    }
    Ok(fields)
}

/// Parse a `/#1` reply: exactly ten 7-digit fields.
pub fn parse_hash1(line: &[u8]) -> Result<Hash1, ReplyError> {
    let f = fields_exact(line, &HASH1_FIELDS)?;
    let n = |i| number(&f, i, &HASH1_FIELDS, 7);
    Ok(Hash1 {
        energy: n(0)?,
        volume: n(1)?,
        hours: n(2)?,
        t1: n(3)?,
        t2: n(4)?,
        t1_t2: n(5)?,
        power: n(6)?,
        flow: n(7)?,
        peak_power: n(8)?,
        info: n(9)?,
    })
}

/// Parse a `/#2` reply: an 11-digit customer number and nine 7-digit fields.
pub fn parse_hash2(line: &[u8]) -> Result<Hash2, ReplyError> {
    let f = fields_exact(line, &HASH2_FIELDS)?;
    number(&f, 0, &HASH2_FIELDS, 11)?;
    let n = |i| number(&f, i, &HASH2_FIELDS, 7);
    for i in 1..10 {
        n(i)?;
    }
    let text = |i: usize| f.get(i).cloned().unwrap_or_default();
    let program_text = text(7);
    let program =
        ProgramNumber::parse(&program_text).ok_or(ReplyError::Program(program_text.clone()))?;
    Ok(Hash2 {
        customer: text(0),
        ta2: n(1)?,
        tl2: n(2)?,
        ta3: n(3)?,
        tl3: n(4)?,
        input_a: n(5)?,
        input_b: n(6)?,
        program,
        config: text(8),
        date: text(9),
    })
}

/// Parse a `/#C` reply: exactly eight 7-digit fields.
pub fn parse_hash_c(line: &[u8]) -> Result<HashC, ReplyError> {
    let f = fields_exact(line, &HASH_C_FIELDS)?;
    let n = |i| number(&f, i, &HASH_C_FIELDS, 7);
    Ok(HashC {
        t1: n(0)?,
        t3: n(1)?,
        t2: n(2)?,
        p1: n(3)?,
        p2: n(4)?,
        flow1: n(5)?,
        flow2: n(6)?,
        power1: n(7)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &[u8] =
        b"0507109 1296626 0032673 0006811 0003366 0003445 0000031 0000079 0000093 0000000\r";

    #[test]
    fn hash1_fields_in_order() {
        let r = parse_hash1(H1).unwrap();
        assert_eq!((r.energy, r.volume, r.hours), (507109, 1296626, 32673));
        assert_eq!((r.t1, r.t2, r.t1_t2, r.info), (6811, 3366, 3445, 0));
    }

    #[test]
    fn parity_bit_and_trailing_space_tolerated() {
        let mut v: Vec<u8> = H1.iter().map(|b| b | 0x80).collect();
        v.insert(v.len() - 1, b' ');
        assert!(parse_hash1(&v).is_ok());
    }

    #[test]
    fn rejects_with_reason() {
        let nine = b"0507109 1296626 0032673 0006811 0003366 0003445 0000031 0000079 0000093\r";
        assert_eq!(
            parse_hash1(nine),
            Err(ReplyError::FieldCount {
                expected: 10,
                got: 9
            })
        );
        let bad =
            b"0507109 12966X6 0032673 0006811 0003366 0003445 0000031 0000079 0000093 0000000\r";
        assert!(matches!(
            parse_hash1(bad),
            Err(ReplyError::NotANumber { index: 2, .. })
        ));
        assert_eq!(parse_hash1(&H1[..20]), Err(ReplyError::Unterminated));
    }
}
