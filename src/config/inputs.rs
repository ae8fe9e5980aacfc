//! Per-input configuration: one entry per meter connection, each named.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::check;
use super::duration_serde as dur;
use super::polled::{Iec62056Config, KmpConfig, MulticalConfig};
use super::Secret;
pub use crate::transport::{Endpoint as Link, RequestLine};
use crate::protocol::{LineSettings, Parity};
use crate::transport::LinkSpec;

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

/// DSMR line presets (DSMR P1 companion standard 2.2 §4, 4.2 §4 and 5.0.2 §4; Kaifa 4.x meters
/// use 7E1 at 115200, see `shared/notes/dsmr.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum P1Preset {
    /// Try dsmr5, dsmr4, dsmr22 in turn until a valid telegram arrives.
    Auto,
    /// DSMR 2.2 / 3.0: 9600 baud 7E1.
    Dsmr22,
    /// DSMR 4.x: 115200 baud 7E1.
    Dsmr4,
    /// DSMR 5.x, e-MUCS, Smarty: 115200 baud 8N1.
    Dsmr5,
    /// The explicit `line` settings.
    Custom,
}

impl P1Preset {
    pub const fn line(self) -> Option<LineSettings> {
        match self {
            P1Preset::Dsmr22 => Some(LineSettings::new(9600, 7, Parity::Even, 1)),
            P1Preset::Dsmr4 => Some(LineSettings::new(115_200, 7, Parity::Even, 1)),
            P1Preset::Dsmr5 => Some(LineSettings::new(115_200, 8, Parity::None, 1)),
            P1Preset::Auto | P1Preset::Custom => None,
        }
    }

    /// The order auto-detection tries: the most common meters first.
    pub const AUTO_ORDER: [P1Preset; 3] = [P1Preset::Dsmr5, P1Preset::Dsmr4, P1Preset::Dsmr22];
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestMode {
    /// Keep the line high: the meter sends every 1 s (DSMR 5) or 10 s (DSMR 4).
    Hold,
    /// Pulse it every `request_interval`: meters that send one telegram per request
    /// (Kamstrup 162 and other DSMR 2.2 meters).
    Pulse,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct P1Config {
    pub name: String,
    /// Serial: `/dev/ttyUSB0` or better a stable `/dev/serial/by-id/...` path.
    #[serde(default)]
    pub device: Option<PathBuf>,
    /// TCP: the relay's host and port.
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    /// Serial only.
    #[serde(default = "auto")]
    pub preset: P1Preset,
    /// Serial only, with `preset: custom`.
    #[serde(default)]
    pub line: Option<SerialLine>,
    /// Serial only.
    #[serde(default = "no_request_line")]
    pub request_line: RequestLine,
    #[serde(default = "hold")]
    pub request_mode: RequestMode,
    #[serde(default = "ten_s", with = "dur")]
    pub request_interval: Duration,
    /// How long auto-detection listens on each preset (DSMR 4 sends every 10 s).
    #[serde(default = "twelve_s", with = "dur")]
    pub detect_timeout: Duration,
    /// TCP only.
    #[serde(default = "ten_s", with = "dur")]
    pub connect_timeout: Duration,
    /// No complete telegram for this long: reconnect (TCP) or reopen the port (serial).
    /// Half-open connections after a dongle reboot are common.
    #[serde(default = "sixty_s", with = "dur")]
    pub idle_timeout: Duration,
    /// Meter id used when the meter sends no equipment id (DSMR 2.2 meters, Austria);
    /// defaults to the input name.
    #[serde(default)]
    pub meter_id: Option<String>,
    /// The Home Assistant device name of the electricity meter (default "Electricity meter").
    #[serde(default)]
    pub device_name: Option<String>,
    /// Encrypted P1 (Luxembourg Smarty, Austria): 32 hex digits from the grid operator.
    #[serde(default)]
    pub decryption_key: Option<Secret>,
    #[serde(default)]
    pub authentication_key: Option<Secret>,
    /// Consecutive rejected telegrams before serial auto-detection starts over.
    #[serde(default = "ten")]
    pub redetect_after: u32,
}

/// `device` xor `host`+`port`, validated.
pub(super) fn link_of(
    key: &str,
    device: &Option<PathBuf>,
    host: &Option<String>,
    port: Option<u16>,
) -> Result<Link, (String, String)> {
    match (device, host, port) {
        (Some(d), None, None) if d.as_os_str().is_empty() => Err((
            format!("{key}.device"),
            "must not be empty: give the serial port, e.g. /dev/serial/by-id/...".into(),
        )),
        (Some(d), None, None) => Ok(Link::Serial(d.clone())),
        (None, Some(h), Some(p)) if !h.is_empty() && p != 0 => Ok(Link::Tcp {
            host: h.clone(),
            port: p,
        }),
        (None, Some(_), Some(_)) => Err((
            format!("{key}.host"),
            "host must not be empty and port must be 1-65535".into(),
        )),
        (None, Some(_), None) => Err((format!("{key}.port"), "host needs a port".into())),
        (None, None, Some(_)) => Err((format!("{key}.host"), "port needs a host".into())),
        (None, None, None) => Err((
            format!("{key}.device"),
            "give `device` (serial) or `host` and `port` (TCP)".into(),
        )),
        _ => Err((
            format!("{key}.device"),
            "give either `device` or `host`/`port`, not both".into(),
        )),
    }
}

impl P1Config {
    pub fn link(&self) -> Link {
        link_of("", &self.device, &self.host, self.port)
            .unwrap_or(Link::Serial(PathBuf::from("/dev/null")))
    }

    /// The link in the transport's terms. It opens at DSMR 5's 115200 8N1 (DSMR P1 companion
    /// standard 5.0.2 §4) unless the input sets `line` for the attempt (presets,
    /// auto-detection).
    pub fn transport(&self, line: Option<LineSettings>) -> LinkSpec {
        LinkSpec {
            endpoint: self.link(),
            line: line.unwrap_or(LineSettings::new(115_200, 8, Parity::None, 1)),
            request_line: self.request_line,
            connect_timeout: self.connect_timeout,
        }
    }
}

fn ten() -> u32 {
    10
}
fn auto() -> P1Preset {
    P1Preset::Auto
}
fn no_request_line() -> RequestLine {
    RequestLine::None
}
fn hold() -> RequestMode {
    RequestMode::Hold
}
pub(super) fn ten_s() -> Duration {
    Duration::from_secs(10)
}
fn twelve_s() -> Duration {
    Duration::from_secs(12)
}
fn sixty_s() -> Duration {
    Duration::from_secs(60)
}

fn check_hex_key(key: &str, value: &Option<Secret>) -> Result<(), (String, String)> {
    if let Some(v) = value {
        let s = v.expose();
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err((
                key.to_string(),
                "must be 32 hex digits (16 bytes), as given by the grid operator".into(),
            ));
        }
    }
    Ok(())
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

    pub(super) fn validate(&self, key: &str) -> Result<(), (String, String)> {
        let name = self.name();
        if self.device_name().is_some_and(|d| d.trim().is_empty()) {
            return Err((
                format!("{key}.device_name"),
                "must not be empty (leave it out for the default name)".into(),
            ));
        }
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err((
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

    pub(super) fn has_secret(&self) -> bool {
        match self {
            InputConfig::P1(c) => c.decryption_key.is_some(),
            _ => false,
        }
    }
}

impl P1Config {
    fn validate(&self, key: &str) -> Result<(), (String, String)> {
        let link = link_of(key, &self.device, &self.host, self.port)?;
        if matches!(link, Link::Serial(_)) {
            if self.preset == P1Preset::Custom && self.line.is_none() {
                return Err((
                    format!("{key}.line"),
                    "preset: custom needs `line: {baud, data_bits, parity, stop_bits}`".into(),
                ));
            }
        } else if self.preset != P1Preset::Auto || self.line.is_some() {
            return Err((
                format!("{key}.preset"),
                "serial settings do not apply to TCP: set them on the relay (ser2net)".into(),
            ));
        }
        if let Some(l) = &self.line {
            if !(5..=8).contains(&l.data_bits) || !(1..=2).contains(&l.stop_bits) || l.baud == 0 {
                return Err((
                    format!("{key}.line"),
                    "baud must be > 0, data_bits 5-8 and stop_bits 1 or 2".into(),
                ));
            }
        }
        let secs = Duration::from_secs;
        let k = |name: &str| format!("{key}.{name}");
        check(&k("idle_timeout"), self.idle_timeout, secs(2), secs(86_400))?;
        check(
            &k("request_interval"),
            self.request_interval,
            secs(1),
            secs(3600),
        )?;
        check(
            &k("detect_timeout"),
            self.detect_timeout,
            secs(1),
            secs(600),
        )?;
        check(
            &k("connect_timeout"),
            self.connect_timeout,
            secs(1),
            secs(300),
        )?;
        if self.redetect_after == 0 {
            return Err((
                k("redetect_after"),
                "must be at least 1 (rejected telegrams before auto-detection starts over)".into(),
            ));
        }
        check_hex_key(&format!("{key}.decryption_key"), &self.decryption_key)?;
        check_hex_key(
            &format!("{key}.authentication_key"),
            &self.authentication_key,
        )?;
        if self.authentication_key.is_some() && self.decryption_key.is_none() {
            return Err((
                format!("{key}.authentication_key"),
                "needs decryption_key too".into(),
            ));
        }
        Ok(())
    }
}
