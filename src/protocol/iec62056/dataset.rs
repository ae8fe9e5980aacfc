//! Data sets `address(value*unit)` and the data block parser.
//!
//! IEC 62056-21 §6.3 "data block": data lines ended by CR LF, each holding one or more data
//! sets; a data set is an address, `(`, a value, optionally `*` and a unit, `)`. The address
//! may be a short code (`6.8`, `0.0`, `F`), OBIS-like (`1.8.0`, `1-0:1.8.0*255`) or carry a
//! historical index (`6.8*01`, `1.6*1`); it excludes `( ) / !`. Values exclude `( ) * / !`
//! and need not be numbers (`9.22(R)`, dates). Landis+Gyr Ultraheat puts several sub-values
//! in one data set separated by `&`, each with its own unit (`9.4(098.5*C&096.1*C)`).

use super::block::BlockError;
use super::{CR, END, LF};

/// One value of a data set with its unit as sent (`None` when there was no `*`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SubValue {
    pub value: String,
    pub unit: Option<String>,
}

/// One data set.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DataSet {
    pub address: String,
    /// At least one; more when the meter uses `&`.
    pub values: Vec<SubValue>,
}

impl DataSet {
    /// The text between the parentheses, as sent (for raw fields).
    pub fn value_text(&self) -> String {
        self.values
            .iter()
            .map(|v| match &v.unit {
                Some(u) => format!("{}*{}", v.value, u),
                None => v.value.clone(),
            })
            .collect::<Vec<_>>()
            .join("&")
    }
}

/// Address characters: printable ASCII except `( ) / !` (§6.3).
pub fn is_address_char(b: u8) -> bool {
    (0x21..0x7F).contains(&b) && !matches!(b, b'(' | b')' | b'/' | b'!')
}

/// Value characters: printable ASCII (space included) except `( ) * / !` (§6.3) and `&`
/// (the Ultraheat sub-value separator).
pub fn is_value_char(b: u8) -> bool {
    (0x20..0x7F).contains(&b) && !matches!(b, b'(' | b')' | b'*' | b'/' | b'!' | b'&')
}

/// Unit characters: as values (`kWh`, `m3ph`, `C`).
pub fn is_unit_char(b: u8) -> bool {
    is_value_char(b)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: usize,
    line_start: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).map(|b| b & 0x7F)
    }
    fn err(&self, what: impl Into<String>) -> BlockError {
        BlockError::Syntax {
            line: self.line,
            column: self.pos.saturating_sub(self.line_start) + 1,
            what: what.into(),
        }
    }
}

fn describe(b: u8) -> String {
    match b {
        CR => "CR".into(),
        LF => "LF".into(),
        0x20..=0x7E => format!("'{}'", b as char),
        _ => format!("byte 0x{b:02x}"),
    }
}

/// Parse a data block (the bytes between STX and ETX): data lines, then `!` CR LF.
pub fn parse_data_block(block: &[u8]) -> Result<Vec<DataSet>, BlockError> {
    let mut c = Cursor {
        bytes: block,
        pos: 0,
        line: 1,
        line_start: 0,
    };
    let mut sets = Vec::new();
    loop {
        match c.peek() {
            None => return Err(BlockError::NoEnd),
            Some(CR) => c.pos += 1,
            Some(LF) => {
                c.pos += 1;
                c.line += 1;
                c.line_start = c.pos;
            }
            Some(END) => {
                let rest = block.get(c.pos + 1..).unwrap_or_default();
                if rest.iter().all(|&b| matches!(b & 0x7F, CR | LF)) {
                    return Ok(sets);
                }
                return Err(c.err("data after the closing '!'"));
            }
            Some(_) => sets.push(parse_set(&mut c)?),
        }
    }
}

fn parse_set(c: &mut Cursor<'_>) -> Result<DataSet, BlockError> {
    let start = c.pos;
    while let Some(b) = c.peek() {
        if b == b'(' {
            break;
        }
        if !is_address_char(b) {
            let partial = text(c.bytes.get(start..c.pos));
            return Err(c.err(format!(
                "{} after {partial:?}: expected a data set address and '('",
                describe(b)
            )));
        }
        c.pos += 1;
    }
    if c.peek().is_none() {
        return Err(c.err("data set address without '('"));
    }
    if c.pos == start {
        return Err(c.err("data set without an address"));
    }
    let address = text(c.bytes.get(start..c.pos));
    c.pos += 1; // '('
    let mut values = Vec::new();
    let mut part_start = c.pos;
    let mut star: Option<usize> = None;
    loop {
        let Some(b) = c.peek() else {
            return Err(c.err("data set not closed by ')'"));
        };
        match b {
            b')' | b'&' => {
                let (v, u) = match star {
                    Some(s) => (
                        text(c.bytes.get(part_start..s)),
                        Some(text(c.bytes.get(s + 1..c.pos))),
                    ),
                    None => (text(c.bytes.get(part_start..c.pos)), None),
                };
                values.push(SubValue { value: v, unit: u });
                c.pos += 1;
                if b == b')' {
                    return Ok(DataSet { address, values });
                }
                part_start = c.pos;
                star = None;
            }
            b'*' if star.is_none() => {
                star = Some(c.pos);
                c.pos += 1;
            }
            _ if is_value_char(b) => c.pos += 1,
            _ => return Err(c.err(format!("{} inside a data set value", describe(b)))),
        }
    }
}

fn text(b: Option<&[u8]>) -> String {
    b.unwrap_or_default()
        .iter()
        .map(|&b| (b & 0x7F) as char)
        .collect()
}

/// Format one data set as a meter sends it (inverse of the parser).
pub fn format_data_set(set: &DataSet) -> String {
    format!("{}({})", set.address, set.value_text())
}

/// Format a data block: each inner list is one data line, ended by CR LF, then `!` CR LF.
pub fn format_data_block(lines: &[Vec<DataSet>]) -> Vec<u8> {
    let mut out = String::new();
    for line in lines {
        for set in line {
            out.push_str(&format_data_set(set));
        }
        out.push_str("\r\n");
    }
    out.push_str("!\r\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_sets_per_line_and_sub_values() {
        let b = b"6.8(0328.871*GJ)6.26(03329.67*m3)\r\n9.4(098.5*C&096.1*C)6.8.1()\r\n!\r\n";
        let sets = parse_data_block(b).unwrap();
        assert_eq!(sets.len(), 4);
        assert_eq!(sets[2].values[1].value, "096.1");
        assert_eq!(
            sets[3].values,
            vec![SubValue {
                value: String::new(),
                unit: None
            }]
        );
        assert_eq!(
            format_data_block(&[sets[..2].to_vec(), sets[2..].to_vec()]),
            b.to_vec()
        );
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse_data_block(b"6.8(1*GJ)\r\n9.4(1*C)\\\n!\r\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"line 2, column 10: LF after "\\": expected a data set address and '('"#
        );
        assert_eq!(parse_data_block(b"6.8(1*GJ)\r\n"), Err(BlockError::NoEnd));
    }
}
