//! Word-at-a-time byte scanning (SWAR): finding delimiters and decoding digit runs eight bytes
//! at a time. The DSMR hot path spends most of its time here (see docs/benchmarks.md).

pub(super) const LO: u64 = 0x0101_0101_0101_0101;
pub(super) const HI: u64 = 0x8080_8080_8080_8080;

/// Eight bytes of `s` from `i` as one little-endian word.
#[inline(always)]
pub(super) fn word(s: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[i..i + 8]);
    u64::from_le_bytes(w)
}

/// The bytes of `w` equal to `b` flagged in their high bit. The lowest flag is exact; flags
/// above a match may be false (a borrow only starts at a matching byte).
#[inline(always)]
pub(super) fn flags(w: u64, b: u8) -> u64 {
    let x = w ^ (LO * b as u64);
    x.wrapping_sub(LO) & !x & HI
}

/// Index of the first byte of `hay` equal to `a` or `b`. Lines and groups are 5 to 40 bytes, so
/// a word at a time beats a SIMD search and its set-up (hot path: several calls per line).
#[inline]
pub(crate) fn find2(a: u8, b: u8, hay: &[u8]) -> Option<usize> {
    let n = hay.len();
    let mut i = 0;
    while i + 8 <= n {
        let w = word(hay, i);
        let m = flags(w, a) | flags(w, b);
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    if i == n {
        return None;
    }
    if n >= 8 {
        // The last eight bytes, with those already looked at masked off.
        let w = word(hay, n - 8);
        let seen = 8 - (n - i);
        let m = (flags(w, a) | flags(w, b)) & (u64::MAX << (8 * seen));
        return (m != 0).then(|| n - 8 + (m.trailing_zeros() / 8) as usize);
    }
    hay[i..]
        .iter()
        .position(|&c| c == a || c == b)
        .map(|p| i + p)
}

/// Index of the first `needle` in `hay` (see [`find2`]).
#[inline]
pub(crate) fn find(needle: u8, hay: &[u8]) -> Option<usize> {
    find2(needle, needle, hay)
}

pub(super) const POW10: [u64; 9] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
];

/// Eight bytes of `s` from `i` as a little-endian word, zero-padded past the end (a zero byte
/// is not a digit, so it ends a number like the end of `s` does).
#[inline(always)]
pub(crate) fn load8(s: &[u8], i: usize) -> u64 {
    let n = s.len();
    if i + 8 <= n {
        word(s, i)
    } else if i >= n {
        0
    } else if n >= 8 {
        // The last eight bytes, shifted down to start at `i`.
        word(s, n - 8) >> (8 * (i + 8 - n))
    } else {
        s[i..].iter().rev().fold(0u64, |w, &b| w << 8 | b as u64)
    }
}

/// How many bytes of `w` (from the lowest) are ASCII digits before the first other byte.
#[inline(always)]
pub(crate) fn first_non_digit(w: u64) -> usize {
    let t = w ^ (LO * b'0' as u64);
    // High bit set exactly for bytes whose value minus '0' is above 9.
    let non_digit = (((t & (LO * 0x7F)) + LO * 0x76) | t) & HI;
    (non_digit.trailing_zeros() / 8) as usize
}

/// The value of the first `n` (0..=8) bytes of `w`, ASCII digits, the first the most
/// significant.
#[inline(always)]
pub(super) fn digits8(w: u64, n: usize) -> u64 {
    if n == 0 {
        return 0;
    }
    // The digits to the top bytes (zeros below them are leading zeros), then pairs, quads,
    // eights (the classic SWAR conversion).
    let v = (w << (8 * (8 - n))) & (LO * 0x0F);
    let v = (v.wrapping_mul(10 << 8 | 1) >> 8) & 0x00FF_00FF_00FF_00FF;
    let v = (v.wrapping_mul(100 << 16 | 1) >> 16) & 0x0000_FFFF_0000_FFFF;
    v.wrapping_mul(10_000 << 32 | 1) >> 32
}

/// What [`trim_line`] removes from the ends of a line.
#[inline(always)]
pub(super) fn trimmable(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | 0 | 0xFF)
}

pub(super) fn trim_line(l: &[u8]) -> &[u8] {
    let start = l
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | 0 | 0xFF))
        .unwrap_or(l.len());
    let end = l
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t' | b'\r' | 0 | 0xFF))
        .map_or(start, |e| e + 1);
    &l[start..end.max(start)]
}
