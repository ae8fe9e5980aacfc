//! Per-input configuration: one entry per meter connection, each named. What every input
//! shares (the `type` dispatch, `device` xor `host`/`port`, names, explicit serial settings)
//! is here; each protocol's own options and checks are in its own file (issue 13).

mod iec62056;
mod kmp;
mod multical;
mod p1;

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub(crate) use crate::config::Problem;
use crate::protocol::{LineSettings, Parity};
use crate::transport::LinkSpec;
pub use crate::transport::{Endpoint as Link, RequestLine};
pub use iec62056::{BccConfig, Iec62056Config};
pub use kmp::KmpConfig;
pub use multical::{MulticalConfig, TerminatorConfig};
pub use p1::{P1Config, P1Preset, RequestMode, ServeAddr, SERVE_CLIENTS_MAX};

/// One input (one meter connection). `type` selects the protocol; `name` identifies it in logs
/// and is the fallback meter id. Serial and TCP links share one type per protocol: give
/// `device` for a local serial port, or `host` and `port` for a TCP relay.
///
/// `Deserialize` is written out (see below): serde's derived internally tagged enum buffers
/// the input's keys into untyped values first, which turns an unquoted key `0x1F` into 31 and
/// loses the key and line of every error inside an input.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputConfig {
    /// DSMR P1 port, on a USB cable or relayed over TCP (ser2net, socat, ESP dongles).
    P1(P1Config),
    /// Kamstrup KMP (MULTICAL 601/602/603/403/402/302/21, Kamstrup 382) over an optical head.
    Kmp(KmpConfig),
    /// Kamstrup MULTICAL 401 / 66C `/#n` protocol over an optical head.
    Multical(MulticalConfig),
    /// IEC 62056-21 optical readout (Kamstrup 382, MULTICAL 401, Landis+Gyr Ultraheat).
    Iec62056(Iec62056Config),
}

/// The `type` of an input.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum InputType {
    P1,
    Kmp,
    Multical,
    Iec62056,
}

impl<'de> Deserialize<'de> for InputConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(InputVisitor)
    }
}

struct InputVisitor;

impl<'de> serde::de::Visitor<'de> for InputVisitor {
    type Value = InputConfig;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an input: a section with `name` and `type`")
    }

    /// The configuration's deserializer (`config::de`) hands over `type` first, whatever its
    /// place in the file; the rest of the section then goes straight to the typed struct.
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<InputConfig, A::Error> {
        if map.next_key::<String>()?.as_deref() != Some("type") {
            return Err(serde::de::Error::custom(
                "missing `type`: give type: p1, kmp, multical or iec62056",
            ));
        }
        let kind: InputType = map.next_value()?;
        let rest = serde::de::value::MapAccessDeserializer::new(map);
        Ok(match kind {
            InputType::P1 => InputConfig::P1(P1Config::deserialize(rest)?),
            InputType::Kmp => InputConfig::Kmp(KmpConfig::deserialize(rest)?),
            InputType::Multical => InputConfig::Multical(MulticalConfig::deserialize(rest)?),
            InputType::Iec62056 => InputConfig::Iec62056(Iec62056Config::deserialize(rest)?),
        })
    }
}

/// Explicit serial settings.
#[derive(Debug, Clone, Copy, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SerialLine {
    pub baud: u32,
    #[serde(default = "eight")]
    pub data_bits: u8,
    #[serde(default = "no_parity")]
    pub parity: Parity,
    #[serde(default = "one")]
    pub stop_bits: u8,
}

fn eight() -> u8 {
    8
}
fn one() -> u8 {
    1
}
fn no_parity() -> Parity {
    Parity::None
}

impl From<SerialLine> for LineSettings {
    fn from(l: SerialLine) -> Self {
        LineSettings::new(l.baud, l.data_bits, l.parity, l.stop_bits)
    }
}

/// `device` xor `host`+`port`, validated.
pub(crate) fn link_of(
    key: &str,
    device: &Option<PathBuf>,
    host: &Option<String>,
    port: Option<u16>,
) -> Result<Link, Problem> {
    match (device, host, port) {
        (Some(d), None, None) if d.as_os_str().is_empty() => Err(Problem::new(
            format!("{key}.device"),
            "must not be empty: give the serial port, e.g. /dev/serial/by-id/...",
        )),
        (Some(d), None, None) => Ok(Link::Serial(d.clone())),
        (None, Some(h), Some(p)) if !h.is_empty() && p != 0 => Ok(Link::Tcp {
            host: h.clone(),
            port: p,
        }),
        (None, Some(_), Some(_)) => Err(Problem::new(
            format!("{key}.host"),
            "host must not be empty and port must be 1-65535",
        )),
        (None, Some(_), None) => Err(Problem::new(format!("{key}.port"), "host needs a port")),
        (None, None, Some(_)) => Err(Problem::new(format!("{key}.host"), "port needs a host")),
        (None, None, None) => Err(Problem::new(
            format!("{key}.device"),
            "give `device` (serial) or `host` and `port` (TCP)",
        )),
        _ => Err(Problem::new(
            format!("{key}.device"),
            "give either `device` or `host`/`port`, not both",
        )),
    }
}

pub(super) fn ten_s() -> Duration {
    Duration::from_secs(10)
}

/// Battery heat meters switch their optical eye off to save power and every read costs
/// battery (`shared/notes/kamstrup.md`): poll in minutes, not seconds.
pub(super) fn fifteen_min() -> Duration {
    Duration::from_secs(15 * 60)
}
pub(super) fn two() -> u8 {
    2
}

pub(super) fn serial_only(key: &str, link: &Link, what: &str) -> Result<(), Problem> {
    if matches!(link, Link::Tcp { .. }) {
        return Err(Problem::new(
            format!("{key}.host"),
            format!(
                "{what} switches the serial speed in the middle of a reading, which a TCP relay \
                 cannot do without RFC 2217 (not supported): connect the optical head to a local \
                 serial port (`device:`)"
            ),
        ));
    }
    Ok(())
}

/// 5 s to 7 days: battery meters want minutes (see docs/kmp.md); a week is the longest
/// interval that still says anything about a meter being alive.
pub(super) fn check_interval(key: &str, d: Duration) -> Result<(), Problem> {
    crate::config::duration::check(
        &format!("{key}.poll_interval"),
        d,
        Duration::from_secs(5),
        Duration::from_secs(7 * 86_400),
    )
}

/// The link of a polled input in the transport's terms. A serial port opens at 1200 8N2 (the
/// KMP default, `shared/notes/kamstrup.md`); every poll session then configures the speed
/// and format it needs before its first request.
pub(super) fn polled_link(link: Link, connect_timeout: Duration) -> LinkSpec {
    LinkSpec {
        endpoint: link,
        line: LineSettings::new(1200, 8, Parity::None, 2),
        request_line: RequestLine::None,
        connect_timeout,
    }
}

impl InputConfig {
    pub fn name(&self) -> &str {
        match self {
            InputConfig::P1(c) => &c.name,
            InputConfig::Kmp(c) => &c.name,
            InputConfig::Multical(c) => &c.name,
            InputConfig::Iec62056(c) => &c.name,
        }
    }

    /// The `device_name` option (every input type has it).
    pub fn device_name(&self) -> Option<&str> {
        match self {
            InputConfig::P1(c) => c.device_name.as_deref(),
            InputConfig::Kmp(c) => c.device_name.as_deref(),
            InputConfig::Multical(c) => c.device_name.as_deref(),
            InputConfig::Iec62056(c) => c.device_name.as_deref(),
        }
    }

    /// The serial port or TCP endpoint, if the input's settings name one validly.
    pub fn link(&self) -> Option<Link> {
        let (device, host, port) = match self {
            InputConfig::P1(c) => (&c.device, &c.host, c.port),
            InputConfig::Kmp(c) => (&c.device, &c.host, c.port),
            InputConfig::Multical(c) => (&c.device, &c.host, c.port),
            InputConfig::Iec62056(c) => (&c.device, &c.host, c.port),
        };
        link_of("", device, host, port).ok()
    }

    pub(super) fn validate(&self, key: &str) -> Result<(), Problem> {
        let name = self.name();
        if self.device_name().is_some_and(|d| d.trim().is_empty()) {
            return Err(Problem::new(
                format!("{key}.device_name"),
                "must not be empty (leave it out for the default name)",
            ));
        }
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(Problem::new(
                format!("{key}.name"),
                format!("`{name}` must be non-empty and use only a-z, 0-9, _ and -"),
            ));
        }
        match self {
            InputConfig::P1(c) => c.validate(key),
            InputConfig::Kmp(c) => c.validate(key),
            InputConfig::Multical(c) => c.validate(key),
            InputConfig::Iec62056(c) => c.validate(key),
        }
    }

    /// One line for `check-config`.
    pub fn summary(&self) -> String {
        match self {
            InputConfig::P1(c) => {
                let link = c.link();
                match link {
                    Link::Serial(_) => format!("P1 on {link}, preset {:?}", c.preset),
                    Link::Tcp { .. } => format!("P1 via {link}, idle timeout {:?}", c.idle_timeout),
                }
            }
            InputConfig::Kmp(c) => format!(
                "Kamstrup KMP ({}) on {}, every {:?}",
                c.preset,
                c.link().map(|l| l.to_string()).unwrap_or_default(),
                c.poll_interval
            ),
            InputConfig::Multical(c) => format!(
                "MULTICAL /#n on {}, every {:?}",
                c.link().map(|l| l.to_string()).unwrap_or_default(),
                c.poll_interval
            ),
            InputConfig::Iec62056(c) => format!(
                "IEC 62056-21 ({}) on {}, every {:?}",
                c.profile,
                c.link().map(|l| l.to_string()).unwrap_or_default(),
                c.poll_interval
            ),
        }
    }
}
