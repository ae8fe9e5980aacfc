//! Encrypted P1 (Luxembourg Smarty, Austrian meters): DLMS general-global-ciphering frames.
//!
//! Frame layout (DLMS UA Green Book 8.3 §9.2.7.2.4 general-glo-ciphering, as used by the
//! Luxembourg Smarty P1 spec v1.1 §3):
//!
//! | bytes | content |
//! |---|---|
//! | 1 | 0xDB, the general-glo-ciphering tag |
//! | 1 | system title length (8) |
//! | 8 | system title |
//! | 1-3 | length of the rest: < 0x80 itself, 0x81 + 1 byte, 0x82 + 2 bytes (A-XDR length) |
//! | 1 | security control byte: 0x30 = authenticated and encrypted, suite 0 |
//! | 4 | frame counter |
//! | n | AES-128-GCM ciphertext: the plain telegram `/…!CRC\r\n` |
//! | 12 | GCM authentication tag |
//!
//! IV = system title ‖ frame counter (12 bytes); additional authenticated data =
//! security control byte ‖ authentication key (Green Book §9.2.7.4.2, "A = SC ‖ AK").

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::cipher::BlockEncrypt;
use aes_gcm::aes::Aes128;
use aes_gcm::AesGcm;

/// General-glo-ciphering tag (DLMS Green Book, xDLMS APDU tags).
pub const START: u8 = 0xDB;
/// The system title is 8 bytes (Green Book §4.3.4).
const SYSTEM_TITLE_LEN: u8 = 8;
/// Smarty P1 spec: a 12-byte GCM tag.
const TAG_LEN: usize = 12;
/// Security control: bit 4 = authentication, bit 5 = encryption, bits 0-3 = suite (0 =
/// AES-GCM-128) (Green Book §9.2.7.2.2).
const SC_AUTH: u8 = 0x10;
const SC_ENC: u8 = 0x20;
const SC_SUITE_MASK: u8 = 0x0F;

type Aes128Gcm12 = AesGcm<Aes128, U12, U12>;

/// The keys a grid operator hands out for encrypted P1.
#[derive(Clone, PartialEq, Eq)]
pub struct Keys {
    /// The global unicast encryption key (GUEK).
    pub decryption: [u8; 16],
    /// The authentication key (GAK). Without it the tag is checked with empty additional data,
    /// which is how node-dsmr-parser's "without AAD" sample frame was made (corpus
    /// `athombv_node_dsmr_parser/encrypted/…-without-aad.txt`).
    pub authentication: Option<[u8; 16]>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys are secrets: never print them.
        f.debug_struct("Keys")
            .field("authentication", &self.authentication.is_some())
            .finish_non_exhaustive()
    }
}

/// A key given as text that is not 32 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a P1 key must be 32 hex digits (16 bytes), got {0} characters")]
pub struct KeyError(pub usize);

impl Keys {
    /// Keys from hex text (spaces and colons ignored, as operators print them in groups).
    pub fn from_hex(decryption: &str, authentication: Option<&str>) -> Result<Keys, KeyError> {
        Ok(Keys {
            decryption: key_from_hex(decryption)?,
            authentication: authentication.map(key_from_hex).transpose()?,
        })
    }
}

fn key_from_hex(s: &str) -> Result<[u8; 16], KeyError> {
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !matches!(b, b' ' | b':' | b'-'))
        .collect();
    let mut out = [0u8; 16];
    if digits.len() != 32 {
        return Err(KeyError(digits.len()));
    }
    for (o, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        let hi = hex_val(pair[0]).ok_or(KeyError(digits.len()))?;
        let lo = hex_val(pair[1]).ok_or(KeyError(digits.len()))?;
        *o = hi << 4 | lo;
    }
    Ok(out)
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Why an encrypted frame gave no telegram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    #[error("encrypted P1 frame received, but no decryption key is configured")]
    NoKey,
    #[error("malformed encrypted frame header")]
    Header,
    #[error("security control byte {0:#04x} is not supported (only 0x30: authenticated and encrypted, AES-GCM-128)")]
    UnsupportedSecurity(u8),
    #[error("frame too short for its header and 12-byte tag")]
    TooShort,
    #[error("authentication failed: the decryption key is wrong")]
    WrongKey,
    #[error("authentication failed: the decryption key is right but the authentication key does not match (try without it, or check it)")]
    WrongAuthenticationKey,
    #[error("authentication failed: the decryption key is right but the meter authenticates with an authentication key; configure it")]
    MissingAuthenticationKey,
    #[error("decrypted frame is not a P1 telegram")]
    NotATelegram,
}

/// Header fields of a frame.
struct Header<'a> {
    system_title: &'a [u8],
    /// Offset of the security control byte.
    body: usize,
    /// Total frame length.
    total: usize,
}

fn header(buf: &[u8]) -> Result<Option<Header<'_>>, DecryptError> {
    if buf.first() != Some(&START) {
        return Err(DecryptError::Header);
    }
    let Some(&st_len) = buf.get(1) else {
        return Ok(None);
    };
    if st_len != SYSTEM_TITLE_LEN {
        return Err(DecryptError::Header);
    }
    let len_at = 2 + st_len as usize;
    let Some(&l0) = buf.get(len_at) else {
        return Ok(None);
    };
    let (len, body) = match l0 {
        0..=0x7F => (l0 as usize, len_at + 1),
        0x81 => match buf.get(len_at + 1) {
            Some(&l1) => (l1 as usize, len_at + 2),
            None => return Ok(None),
        },
        0x82 => match (buf.get(len_at + 1), buf.get(len_at + 2)) {
            (Some(&h), Some(&l)) => ((h as usize) << 8 | l as usize, len_at + 3),
            _ => return Ok(None),
        },
        _ => return Err(DecryptError::Header),
    };
    if len < 5 + TAG_LEN {
        return Err(DecryptError::TooShort);
    }
    Ok(Some(Header {
        system_title: &buf[2..len_at],
        body,
        total: body + len,
    }))
}

/// The total length of the frame starting at `buf[0]` once enough header bytes are there
/// (`Ok(None)` means "need more"), or an error if these bytes cannot start a frame.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecryptError> {
    Ok(header(buf)?.map(|h| h.total))
}

/// Decrypt and authenticate one complete frame; returns the plain telegram bytes.
pub fn decrypt(frame: &[u8], keys: &Keys) -> Result<Vec<u8>, DecryptError> {
    let h = header(frame)?.ok_or(DecryptError::TooShort)?;
    let body = frame.get(h.body..h.total).ok_or(DecryptError::TooShort)?;
    let (&sc, rest) = body.split_first().ok_or(DecryptError::TooShort)?;
    if sc & (SC_AUTH | SC_ENC) != SC_AUTH | SC_ENC || sc & SC_SUITE_MASK != 0 {
        return Err(DecryptError::UnsupportedSecurity(sc));
    }
    let (fc, rest) = rest.split_at_checked(4).ok_or(DecryptError::TooShort)?;
    let ct_len = rest
        .len()
        .checked_sub(TAG_LEN)
        .ok_or(DecryptError::TooShort)?;
    let (ct, tag) = rest.split_at(ct_len);
    let mut iv = [0u8; 12];
    iv[..8].copy_from_slice(h.system_title);
    iv[8..].copy_from_slice(fc);

    let mut aad = [0u8; 17];
    let aad: &[u8] = match &keys.authentication {
        Some(ak) => {
            aad[0] = sc;
            aad[1..].copy_from_slice(ak);
            &aad
        }
        None => &[],
    };
    let cipher = Aes128Gcm12::new(GenericArray::from_slice(&keys.decryption));
    let mut plain = ct.to_vec();
    let ok = cipher
        .decrypt_in_place_detached(
            GenericArray::from_slice(&iv),
            aad,
            &mut plain,
            GenericArray::from_slice(tag),
        )
        .is_ok();
    if !ok {
        return Err(if starts_with_slash(&keys.decryption, &iv, ct) {
            if keys.authentication.is_some() {
                DecryptError::WrongAuthenticationKey
            } else {
                DecryptError::MissingAuthenticationKey
            }
        } else {
            DecryptError::WrongKey
        });
    }
    if plain.first() != Some(&b'/') {
        return Err(DecryptError::NotATelegram);
    }
    Ok(plain)
}

/// Whether the first ciphertext byte decrypts to `/` (GCM's first data block uses counter 2,
/// NIST SP 800-38D §7.2): tells a wrong decryption key from a wrong authentication key.
fn starts_with_slash(key: &[u8; 16], iv: &[u8; 12], ct: &[u8]) -> bool {
    let Some(&first) = ct.first() else {
        return false;
    };
    let aes = Aes128::new(GenericArray::from_slice(key));
    let mut block = [0u8; 16];
    block[..12].copy_from_slice(iv);
    block[15] = 2;
    let mut block = GenericArray::from(block);
    aes.encrypt_block(&mut block);
    first ^ block[0] == b'/'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_from_hex() {
        let k = Keys::from_hex("00112233 44556677:8899aabbccddeeff", None).unwrap();
        assert_eq!(k.decryption[15], 0xff);
        assert_eq!(Keys::from_hex("0011", None), Err(KeyError(4)));
        assert!(Keys::from_hex(&"zz".repeat(16), None).is_err());
        assert!(!format!("{k:?}").contains("ff"));
    }

    #[test]
    fn header_lengths() {
        let mut f = vec![START, 8, 1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(frame_len(&f), Ok(None));
        f.extend_from_slice(&[0x82, 0x05]);
        assert_eq!(frame_len(&f), Ok(None));
        f.push(0xde);
        assert_eq!(frame_len(&f), Ok(Some(13 + 0x5de)));
        assert_eq!(frame_len(&[START, 7]), Err(DecryptError::Header));
        assert_eq!(
            frame_len(&[START, 8, 0, 0, 0, 0, 0, 0, 0, 0, 3]),
            Err(DecryptError::TooShort)
        );
    }
}
