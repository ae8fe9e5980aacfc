//! KMP register values: a big-endian unsigned integer of `length` bytes plus a SiEx byte,
//! value = (-1)^s × integer × 10^(±exponent) (5512-447 sec. 4.2; corpus `doc_float_examples`).
//!
//! Decoded straight into [`Decimal`] so `63.44` stays `63.44`.

use crate::decimal::Decimal;

/// SiEx bit 7: the value is negative (5512-447 sec. 4.2; corpus `-123.45` = SiEx 0xC2).
pub const SIGN_VALUE: u8 = 0x80;
/// SiEx bit 6: the exponent is negative (5512-447 sec. 4.2; corpus `63.44` = SiEx 0x42).
pub const SIGN_EXPONENT: u8 = 0x40;
/// SiEx bits 0-5: the exponent's magnitude (5512-447 sec. 4.2; corpus `255000` = SiEx 0x03).
pub const EXPONENT_MASK: u8 = 0x3F;

/// Longest integer part we encode: `Decimal` holds an `i64` mantissa.
pub const MAX_ENCODED_LEN: usize = 8;

/// Why a value cannot be decoded or encoded exactly.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("{len}-byte integer does not fit in a 64-bit mantissa")]
    TooLarge { len: usize },
    #[error("exponent {0} is outside the SiEx range -63..=63")]
    Exponent(i8),
    #[error("mantissa {mantissa} does not fit in {len} bytes")]
    DoesNotFit { mantissa: i64, len: usize },
    #[error("encoded length must be 1..=8 bytes, not {0}")]
    Length(usize),
}

/// The exact value of a SiEx byte and its integer bytes. Leading zero bytes are allowed
/// (meters pad to the register's length); integers above the `i64` range are an error.
pub fn decode(siex: u8, bytes: &[u8]) -> Result<Decimal, NumberError> {
    let mut magnitude: u64 = 0;
    for &b in bytes {
        magnitude = magnitude
            .checked_mul(256)
            .map(|m| m | u64::from(b))
            .ok_or(NumberError::TooLarge { len: bytes.len() })?;
    }
    let negative = siex & SIGN_VALUE != 0;
    let mantissa = if negative {
        // -(2^63) is still representable.
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
    .ok_or(NumberError::TooLarge { len: bytes.len() })?;
    // The mask keeps the magnitude within 0..=63, so the cast cannot wrap.
    let magnitude_exp = (siex & EXPONENT_MASK) as i8;
    let exponent = if siex & SIGN_EXPONENT != 0 {
        -magnitude_exp
    } else {
        magnitude_exp
    };
    Ok(Decimal::new(mantissa, exponent))
}

/// The SiEx byte for `value`.
pub fn siex_for(value: Decimal) -> Result<u8, NumberError> {
    let exp = value.exponent();
    if !(-63..=63).contains(&exp) {
        return Err(NumberError::Exponent(exp));
    }
    let mut siex = exp.unsigned_abs();
    if exp < 0 {
        siex |= SIGN_EXPONENT;
    }
    if value.is_negative() {
        siex |= SIGN_VALUE;
    }
    Ok(siex)
}

/// Encode `value` as SiEx plus a `len`-byte big-endian integer (the register's length).
pub fn encode(value: Decimal, len: usize) -> Result<(u8, Vec<u8>), NumberError> {
    if !(1..=MAX_ENCODED_LEN).contains(&len) {
        return Err(NumberError::Length(len));
    }
    let siex = siex_for(value)?;
    let magnitude = value.mantissa().unsigned_abs();
    let bytes = magnitude.to_be_bytes();
    let (padding, tail) = bytes.split_at(MAX_ENCODED_LEN - len);
    if padding.iter().any(|&b| b != 0) {
        return Err(NumberError::DoesNotFit {
            mantissa: value.mantissa(),
            len,
        });
    }
    Ok((siex, tail.to_vec()))
}

/// Encode `value` in as few bytes as its mantissa needs (at least one).
pub fn encode_minimal(value: Decimal) -> Result<(u8, Vec<u8>), NumberError> {
    let magnitude = value.mantissa().unsigned_abs();
    let len = (MAX_ENCODED_LEN - (magnitude.leading_zeros() / 8) as usize).max(1);
    encode(value, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_examples() {
        // Corpus `doc_float_examples` (5512-447 sec. 4.2/4.4.4, PyKMP test_codec.py).
        let cases: [(u8, &[u8], &str); 5] = [
            (0xC2, &[0x00, 0x00, 0x30, 0x39], "-123.45"),
            (0x03, &[0x05, 0x39, 0x7F, 0xB1], "87654321000"),
            (0x03, &[0xFF], "255000"),
            (0x43, &[0x00, 0x00, 0x00, 0xFB], "0.251"),
            (0x42, &[0x18, 0xC8], "63.44"),
        ];
        for (siex, bytes, text) in cases {
            assert_eq!(decode(siex, bytes).map(|d| d.to_string()), Ok(text.into()));
        }
    }

    #[test]
    fn extremes() {
        assert_eq!(
            decode(0x80, &[0x80, 0, 0, 0, 0, 0, 0, 0]),
            Ok(Decimal::new(i64::MIN, 0))
        );
        assert_eq!(
            decode(0x00, &[0x80, 0, 0, 0, 0, 0, 0, 0]),
            Err(NumberError::TooLarge { len: 8 })
        );
        assert_eq!(
            decode(0x00, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            Ok(Decimal::new(1, 0))
        );
        assert_eq!(
            decode(0x00, &[1, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(NumberError::TooLarge { len: 9 })
        );
        assert_eq!(decode(0x7F, &[]), Ok(Decimal::new(0, -63)));
        assert_eq!(
            encode(Decimal::new(256, 0), 1),
            Err(NumberError::DoesNotFit {
                mantissa: 256,
                len: 1
            })
        );
        assert_eq!(
            encode(Decimal::new(1, -64), 1),
            Err(NumberError::Exponent(-64))
        );
    }
}
