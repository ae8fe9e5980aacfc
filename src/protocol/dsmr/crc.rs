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

/// Below this length the table alone is as cheap as setting up the folding.
#[cfg(target_arch = "x86_64")]
const FOLD_MIN: usize = 64;

/// CRC-16/ARC of `bytes`.
///
/// Why two ways: the table costs ≈ 2.8 instructions a byte, ≈ 2 400 per DSMR 5 telegram, the
/// largest single cost of decoding one (issue 17, `docs/benchmarks.md` "Stop 7"); folding 16
/// bytes at a time with carry-less multiplication (`fold`) costs ≈ 0.5 a byte. Both give
/// the same CRC for every input (tested against each other below).
pub fn crc16_arc(bytes: &[u8]) -> u16 {
    #[cfg(target_arch = "x86_64")]
    if bytes.len() >= FOLD_MIN && std::arch::is_x86_feature_detected!("pclmulqdq") {
        // SAFETY: the CPU has PCLMULQDQ (checked just above); SSE2 is part of x86_64.
        return unsafe { fold::crc16_arc(bytes) };
    }
    ARC.checksum(bytes)
}

/// CRC-16/ARC by folding (Gopal et al., "Fast CRC Computation for Generic Polynomials Using
/// PCLMULQDQ Instruction", Intel white paper 323102, 2009, §4: folding by one 128-bit lane).
///
/// The CRC (initial value 0, no final XOR) is linear: the CRC of a message is that of any
/// shorter one congruent to it modulo P = x¹⁶ + x¹⁵ + x² + 1. The first 16 bytes are the state
/// X = H·x⁶⁴ + L; each next 16 bytes N make it X·x¹²⁸ + N ≡
/// H·(x¹⁹² mod P) + L·(x¹²⁸ mod P) + N, two 64 × 16-bit carry-less products and two XORs, again under 128 bits. The final
/// state, as 16 bytes, then goes through the table with the bytes left over: no Barrett
/// reduction, so no constant but the two folding ones.
///
/// Bit order: the CRC is reflected (DSMR 5.0.2 §6.2: least significant bit first), so a
/// little-endian 128-bit load holds x¹²⁷ in bit 0. In that order a 64 × 64 product lands one
/// bit low (bit k holds x¹²⁶⁻ᵏ), which the constants absorb: bit-reversed x¹⁹¹ and x¹²⁷
/// mod P (the white paper's "reflected" constants are shifted the same way).
#[cfg(target_arch = "x86_64")]
mod fold {
    use std::arch::x86_64::{
        __m128i, _mm_clmulepi64_si128, _mm_loadu_si128, _mm_set_epi64x, _mm_storeu_si128,
        _mm_xor_si128,
    };

    /// xⁿ mod P, P = 0x1_8005 (CRC-16/ARC's polynomial, unreflected), bit d for xᵈ.
    const fn x_pow_mod(n: u32) -> u64 {
        let mut r: u32 = 1;
        let mut i = 0;
        while i < n {
            r <<= 1;
            if r & 0x1_0000 != 0 {
                r ^= 0x1_8005;
            }
            i += 1;
        }
        r as u64
    }

    /// Multiplies the high-degree half H (the low 64 bits of the state).
    const K_H: u64 = x_pow_mod(191).reverse_bits();
    /// Multiplies the low-degree half L (the high 64 bits).
    const K_L: u64 = x_pow_mod(127).reverse_bits();

    /// # Safety
    /// The CPU must have PCLMULQDQ (and SSE2, which every x86_64 has).
    #[target_feature(enable = "pclmulqdq,sse2")]
    pub(super) unsafe fn crc16_arc(bytes: &[u8]) -> u16 {
        let mut blocks = bytes.chunks_exact(16);
        let Some(first) = blocks.next() else {
            return super::ARC.checksum(bytes);
        };
        let k = _mm_set_epi64x(K_L as i64, K_H as i64);
        // SAFETY (both loads): each block is 16 bytes; `loadu` takes any alignment.
        let mut s = _mm_loadu_si128(first.as_ptr().cast::<__m128i>());
        for b in &mut blocks {
            let n = _mm_loadu_si128(b.as_ptr().cast::<__m128i>());
            let h = _mm_clmulepi64_si128::<0x00>(s, k);
            let l = _mm_clmulepi64_si128::<0x11>(s, k);
            s = _mm_xor_si128(_mm_xor_si128(h, l), n);
        }
        let mut folded = [0u8; 16];
        // SAFETY: `folded` is 16 bytes; `storeu` takes any alignment.
        _mm_storeu_si128(folded.as_mut_ptr().cast::<__m128i>(), s);
        let mut d = super::ARC.digest();
        d.update(&folded);
        d.update(blocks.remainder());
        d.finalize()
    }
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

    /// The folding and the table agree for every length around the 16-byte blocks and the
    /// threshold, on bytes from a fixed pseudo-random sequence (xorshift) and on all-ones.
    #[test]
    fn folding_matches_the_table() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let bytes: Vec<u8> = (0..1200)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        for n in (0..200).chain([511, 512, 513, 1023, 1200]) {
            for data in [&bytes[..n], &vec![0xFF; n][..]] {
                assert_eq!(crc16_arc(data), ARC.checksum(data), "length {n}");
            }
        }
        // A real telegram (the corpus's DSMR 5 Iskra example, CRC 67B1 on its `!` line).
        let t = include_bytes!("../../../tests/fixtures/dsmr/wassasin_dsmr5/01_isk.txt");
        let bang = t.iter().rposition(|&b| b == b'!').unwrap_or(0);
        assert_eq!(crc16_arc(&t[..=bang]), 0x67B1);
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
