//! From a framed telegram to a [`Telegram`]: CRC check, decryption, parsing, readings.

use super::crc::{crc16_arc, crc16_arc_crlf, has_bare_lf};
use super::framer::{declares_crc, End, Frame, Framer};
use super::identity::Identities;
use super::mapping::Builder;
use super::parser::ThreadCodes;
use super::{drop_reason, encrypted, manufacturer, mbus, parser, reject, resync};
use super::{CrcStatus, DecoderOptions, RejectReason, Rejection, Telegram, TelegramWarning};

use crate::reading::{sanitize_id, MeterInfo, MeterKind, Reading};
use crate::time::Timestamp;

/// What decoding a telegram leaves for the next one; neither changes what a telegram decodes
/// to, only how much work it takes (so a decoder that has seen other telegrams gives exactly
/// what a new one gives, `tests/dsmr_sequences.rs`).
#[derive(Debug, Default)]
pub(crate) struct Caches {
    /// How many values the last telegram's electricity reading had: its value list is
    /// allocated at that size (a meter's telegrams have the same lines, and a 20-value list of
    /// 800 bytes stays within glibc's per-thread cache where a guess from the length, 40
    /// values, does not; ≈ 1 250 instructions per DSMR 5 telegram).
    pub values: Option<usize>,
    /// The identities of the meters seen last ([`super::identity`]).
    pub identities: Identities,
}

/// At most this many values are reserved from the hint (a broken telegram must not make the
/// next reserve without end; 64 raw fields and ≈ 1 value per 24 bytes of an 8 KiB telegram).
const MAX_VALUES_HINT: usize = 384;

/// Decode one complete telegram (or encrypted frame): CRC checked, like the streaming decoder.
/// Trailing line ends are fine; anything before the `/` is skipped.
pub fn parse_telegram(
    bytes: &[u8],
    opts: &DecoderOptions,
    now: Timestamp,
) -> Result<Telegram, Rejection> {
    let mut f = Framer::new(true);
    f.push(bytes);
    f.finish();
    let mut last = None;
    let mut caches = Caches::default();
    for frame in f.out {
        match decode_frame(frame, opts, now, &mut caches) {
            Ok(t) => return Ok(t),
            Err(r) => last = Some(r),
        }
    }
    Err(last.unwrap_or(reject(RejectReason::NoTelegram, bytes.len())))
}

/// Parse a telegram without checking its CRC: for tests against published examples whose CRC
/// was broken by anonymisation, and for tools. Never use it on live input.
pub fn parse_unchecked(bytes: &[u8], opts: &DecoderOptions, now: Timestamp) -> Telegram {
    let start = memchr::memchr(b'/', bytes).unwrap_or(0);
    let t = &bytes[start..];
    let end = memchr::memrchr(b'!', t).unwrap_or(t.len());
    let mut caches = Caches::default();
    build(
        t.to_vec(),
        end,
        CrcStatus::Absent,
        false,
        opts,
        now,
        &mut caches,
    )
}

/// Decode one frame.
pub(crate) fn decode_frame(
    frame: Frame,
    opts: &DecoderOptions,
    now: Timestamp,
    caches: &mut Caches,
) -> Result<Telegram, Rejection> {
    match frame {
        Frame::Plain {
            mut bytes,
            mut bang,
            end,
        } => {
            let (start, crc) = start_and_crc(&bytes, bang, end)?;
            if start > 0 {
                bytes.drain(..start);
                bang -= start;
            }
            if crc == CrcStatus::Absent && declares_crc(&bytes[..bang]) {
                return Err(reject(RejectReason::CrcMissing, bytes.len()));
            }
            let mut t = build(bytes, bang, crc, false, opts, now, caches);
            if !has_data(&t) {
                return Err(reject(RejectReason::NoData, t.raw.len()));
            }
            if start > 0 {
                t.warnings.push(TelegramWarning::LineNoise { bytes: start });
            }
            Ok(t)
        }
        Frame::Encrypted(bytes) => {
            let n = bytes.len();
            let keys = opts
                .decryption
                .as_ref()
                .ok_or(reject(encrypted::DecryptError::NoKey.into(), n))?;
            let plain = encrypted::decrypt(&bytes, keys).map_err(|e| reject(e.into(), n))?;
            let mut f = Framer::new(false);
            f.push(&plain);
            f.finish();
            match f.out.pop_front() {
                Some(Frame::Plain { bytes, bang, end }) => {
                    let crc = match end {
                        End::Crc(given) => match check_crc(&bytes[..=bang], given) {
                            Ok(c) => c,
                            Err(Rejection {
                                reason: RejectReason::CrcMismatch { expected, given },
                                ..
                            }) => CrcStatus::Authenticated { expected, given },
                            Err(r) => return Err(r),
                        },
                        End::NoCrc => CrcStatus::Absent,
                        End::Unterminated => CrcStatus::Unterminated,
                    };
                    let mut t = build(bytes, bang, crc, true, opts, now, caches);
                    if let CrcStatus::Authenticated { expected, given } = crc {
                        t.warnings
                            .push(TelegramWarning::InnerCrcMismatch { expected, given });
                    }
                    Ok(t)
                }
                _ => Err(reject(encrypted::DecryptError::NotATelegram.into(), n)),
            }
        }
        Frame::Dropped { reason, bytes } => Err(reject(drop_reason(reason), bytes)),
    }
}

/// Where the telegram in a plain frame starts and how its integrity was established: from the
/// frame's first byte when its CRC matches, else from a `/` inside it whose CRC does; without a
/// CRC, from the last `/` that begins an identification line ([`resync`] has the rules and the
/// bound on the work).
fn start_and_crc(bytes: &[u8], bang: usize, end: End) -> Result<(usize, CrcStatus), Rejection> {
    let body = &bytes[..bang.min(bytes.len())];
    let given = match end {
        End::Crc(given) => given,
        End::NoCrc | End::Unterminated => {
            let crc = match end {
                End::NoCrc => CrcStatus::Absent,
                _ => CrcStatus::Unterminated,
            };
            return match resync::starts(body).next() {
                Some(j) => Ok((j, crc)),
                None if resync::header_form(body) => Ok((0, crc)),
                None => Err(reject(RejectReason::NoHeader, bytes.len())),
            };
        }
    };
    let first = match check_crc(&bytes[..=bang], given) {
        Ok(crc) => return Ok((0, crc)),
        Err(r) => r,
    };
    resync::starts(body)
        .take(resync::MAX_RESCANS)
        .find_map(|j| Some((j, check_crc(&bytes[j..=bang], given).ok()?)))
        .ok_or(first)
}

/// Whether a telegram has something of a meter in it: an equipment id, a value, an unknown code
/// kept raw, or a sub-meter. Junk that happens to frame like a telegram (`/A\r\n!\r\n`,
/// issue 12 §1) has none and must not become a meter.
fn has_data(t: &Telegram) -> bool {
    t.readings.len() > 1
        || t.readings
            .first()
            .is_some_and(|r| !r.values.is_empty() || !r.raw.is_empty() || r.meter.serial.is_some())
}

fn check_crc(span: &[u8], given: u16) -> Result<CrcStatus, Rejection> {
    let expected = crc16_arc(span);
    if expected == given {
        return Ok(CrcStatus::Valid);
    }
    if has_bare_lf(span) && crc16_arc_crlf(span) == given {
        return Ok(CrcStatus::ValidAfterCrlf);
    }
    Err(reject(
        RejectReason::CrcMismatch { expected, given },
        span.len(),
    ))
}

/// Parse the telegram `raw[..bang]` (header and body) into readings.
fn build(
    raw: Vec<u8>,
    bang: usize,
    crc: CrcStatus,
    encrypted: bool,
    opts: &DecoderOptions,
    now: Timestamp,
    caches: &mut Caches,
) -> Telegram {
    let (header, body) = parser::split_header(&raw[..bang.min(raw.len())]);
    // As many values as the telegram before had; else about one per line (lines are 20 to 30
    // bytes) and a few more.
    let mut b = Builder::new(caches.values.unwrap_or(body.len() / 24 + 8));
    // Object codes already parsed: shared by the decoders of this thread.
    let mut codes = ThreadCodes::take();
    for o in parser::objects(body, &mut codes) {
        match o {
            Ok(o) => b.object(&o),
            Err(line) => {
                b.warn(|| TelegramWarning::NotAnObject {
                    line: String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned(),
                });
            }
        }
    }
    b.computed_totals();
    b.computed_net_power();
    caches.values = Some(b.values.len().min(MAX_VALUES_HINT));
    let serial = b.ids.iter().find_map(|id| *id);
    // Everything `meter_info` reads: the same bytes give the same identity.
    let crc_class: &[u8] = match crc {
        CrcStatus::Absent | CrcStatus::Unterminated => b"-",
        _ => b"c",
    };
    let info = caches.identities.meter(
        &[
            serial,
            Some(header.flag),
            Some(header.ident),
            b.dsmr_version,
            b.emucs_version,
            Some(crc_class),
            Some(opts.fallback_meter_id.as_bytes()),
        ],
        || meter_info(&header, serial, &b, crc, opts),
    );

    let time = b.time.unwrap_or(now);
    let mut r = Reading::new(info, time);
    r.values = std::mem::take(&mut b.values);
    r.raw = std::mem::take(&mut b.raw);
    // Sub-meters first (they borrow the electricity meter's identity), then the meter in front.
    let n = 1 + b.channels.len();
    let mut readings = Vec::with_capacity(n);
    let mut channels = Vec::with_capacity(n);
    mbus::readings(
        &mut b,
        &r.meter,
        &mut caches.identities,
        time,
        &mut readings,
        &mut channels,
    );
    readings.insert(0, r);
    channels.insert(0, None);
    let warnings = b.warnings;
    Telegram {
        raw,
        crc,
        encrypted,
        readings,
        channels,
        warnings,
    }
}

/// The electricity meter's identity: its equipment id (`0-0:96.1.1`, else the other id
/// codes in [`Builder::ids`] order, else the configured fallback), maker and model from the
/// identification line, protocol from the version line. `serial`: the id group chosen.
fn meter_info(
    header: &parser::Header<'_>,
    serial: Option<&[u8]>,
    b: &Builder<'_>,
    crc: CrcStatus,
    opts: &DecoderOptions,
) -> MeterInfo {
    let serial = serial.and_then(parser::id);
    let id = sanitize_id(serial.as_deref().unwrap_or(&opts.fallback_meter_id));
    let manufacturer = manufacturer::name(header.flag)
        .map(str::to_string)
        .or_else(|| {
            let flag: String = header
                .flag
                .iter()
                .filter(|c| c.is_ascii_alphanumeric())
                .map(|&c| c as char)
                .collect();
            (!flag.is_empty()).then_some(flag)
        });
    MeterInfo {
        id,
        kind: MeterKind::Electricity,
        manufacturer,
        model: parser::model(header.ident),
        serial,
        protocol: Some(protocol(b, crc)),
        firmware: None,
        parent: None,
    }
}

/// `DSMR 5.0` from `1-3:0.2.8(50)` (DSMR 5.0.2 §6.12: two digits, major and minor);
/// `e-MUCS 1.7` from `0-0:96.1.4(50217)` (digits 4 and 5: major, minor; corpus ndokter 07 is
/// an e-MUCS 1.7.1 telegram, athombv 17 with `50221` an e-MUCS 2.1.1 one); `DSMR 2.2` for a
/// telegram without version line and without CRC (DSMR 2.2/3.0 have neither).
fn protocol(b: &Builder<'_>, crc: CrcStatus) -> String {
    if let Some(v) = b.emucs_version {
        let v = parser::text(v);
        let d = v.as_bytes();
        return match d {
            [b'5', b'0', b'2', major, minor]
                if major.is_ascii_digit() && minor.is_ascii_digit() =>
            {
                version("e-MUCS ", *major, *minor)
            }
            _ => format!("e-MUCS (version {v})"),
        };
    }
    if let Some(v) = b.dsmr_version {
        // The lossy text is two ASCII digits exactly when the bytes are.
        return match v {
            [major, minor] if major.is_ascii_digit() && minor.is_ascii_digit() => {
                version("DSMR ", *major, *minor)
            }
            _ => format!("DSMR (version {})", String::from_utf8_lossy(v)),
        };
    }
    match crc {
        CrcStatus::Absent | CrcStatus::Unterminated => "DSMR 2.2".into(),
        _ => "DSMR".into(),
    }
}

/// `{name}{major}.{minor}` without the formatting machinery (once per telegram).
fn version(name: &str, major: u8, minor: u8) -> String {
    let mut s = String::with_capacity(name.len() + 3);
    s.push_str(name);
    s.push(major as char);
    s.push('.');
    s.push(minor as char);
    s
}
