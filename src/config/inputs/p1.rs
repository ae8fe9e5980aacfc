//! Configuration of a DSMR P1 input (USB cable or TCP relay).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{link_of, ten_s, Link, RequestLine, SerialLine};
use crate::config::duration::check;
use crate::config::duration_serde as dur;
use crate::config::{Problem, Secret};
use crate::protocol::{LineSettings, Parity};
use crate::transport::LinkSpec;

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
fn twelve_s() -> Duration {
    Duration::from_secs(12)
}
fn sixty_s() -> Duration {
    Duration::from_secs(60)
}

fn check_hex_key(key: &str, value: &Option<Secret>) -> Result<(), Problem> {
    if let Some(v) = value {
        let s = v.expose();
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Problem::new(
                key.to_string(),
                "must be 32 hex digits (16 bytes), as given by the grid operator",
            ));
        }
    }
    Ok(())
}

impl P1Config {
    pub(super) fn validate(&self, key: &str) -> Result<(), Problem> {
        let link = link_of(key, &self.device, &self.host, self.port)?;
        if matches!(link, Link::Serial(_)) {
            if self.preset == P1Preset::Custom && self.line.is_none() {
                return Err(Problem::new(
                    format!("{key}.line"),
                    "preset: custom needs `line: {baud, data_bits, parity, stop_bits}`",
                ));
            }
        } else if self.preset != P1Preset::Auto || self.line.is_some() {
            return Err(Problem::new(
                format!("{key}.preset"),
                "serial settings do not apply to TCP: set them on the relay (ser2net)",
            ));
        }
        if let Some(l) = &self.line {
            if !(5..=8).contains(&l.data_bits) || !(1..=2).contains(&l.stop_bits) || l.baud == 0 {
                return Err(Problem::new(
                    format!("{key}.line"),
                    "baud must be > 0, data_bits 5-8 and stop_bits 1 or 2",
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
            return Err(Problem::new(
                k("redetect_after"),
                "must be at least 1 (rejected telegrams before auto-detection starts over)",
            ));
        }
        check_hex_key(&format!("{key}.decryption_key"), &self.decryption_key)?;
        check_hex_key(
            &format!("{key}.authentication_key"),
            &self.authentication_key,
        )?;
        if self.authentication_key.is_some() && self.decryption_key.is_none() {
            return Err(Problem::new(
                format!("{key}.authentication_key"),
                "needs decryption_key too",
            ));
        }
        Ok(())
    }
}
