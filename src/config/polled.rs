//! Configuration of the polled inputs: Kamstrup KMP, MULTICAL `/#n` and IEC 62056-21.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration_serde as dur;
use super::inputs::{link_of, ten_s, Link, SerialLine};
use crate::protocol::iec61107::{BccMode, Iec61107Options, Profile};
use crate::protocol::kmp::registers::RegisterSet;
use crate::protocol::multical::scaling::Scaling;
use crate::protocol::multical::{MulticalOptions, Terminator};
use crate::protocol::{LineSettings, Parity};
use crate::transport::{LinkSpec, RequestLine};

/// Battery heat meters switch their optical eye off to save power and every read costs
/// battery (`shared/notes/kamstrup.md`): poll in minutes, not seconds.
fn fifteen_min() -> Duration {
    Duration::from_secs(15 * 60)
}
fn multical_60x() -> String {
    "multical_60x".into()
}
fn kmp_address() -> u8 {
    crate::protocol::kmp::frame::ADDRESS_METER
}
fn three() -> u8 {
    3
}
fn two() -> u8 {
    2
}

/// Kamstrup KMP over an optical head (serial, or TCP to a remote head behind ser2net).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KmpConfig {
    pub name: String,
    /// The Home Assistant device name of this meter (default: its kind, "Heat meter").
    #[serde(default)]
    pub device_name: Option<String>,
    #[serde(default)]
    pub device: Option<PathBuf>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    /// `multical_60x`, `multical_40x`, `multical_21` or `kamstrup_382`.
    #[serde(default = "multical_60x")]
    pub preset: String,
    /// Extra register ids (decimal or 0x hex) on top of the preset.
    #[serde(default)]
    pub registers_add: Vec<u16>,
    /// Register ids to leave out of the preset.
    #[serde(default)]
    pub registers_remove: Vec<u16>,
    /// Serial settings; default 1200 8N2 (9600 8N2 for `kamstrup_382`).
    #[serde(default)]
    pub line: Option<SerialLine>,
    #[serde(default = "kmp_address")]
    pub address: u8,
    #[serde(default = "fifteen_min", with = "dur")]
    pub poll_interval: Duration,
    #[serde(default = "three")]
    pub retries: u8,
    #[serde(default = "ten_s", with = "dur")]
    pub connect_timeout: Duration,
    /// Meter id before the serial number is known.
    #[serde(default)]
    pub meter_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TerminatorConfig {
    Cr,
    Crlf,
    None,
}

/// MULTICAL 401 / 66C `/#n` protocol (serial only: it switches baud mid-request).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MulticalConfig {
    pub name: String,
    /// The Home Assistant device name of this meter (default: its kind, "Heat meter").
    #[serde(default)]
    pub device_name: Option<String>,
    #[serde(default)]
    pub device: Option<PathBuf>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default = "fifteen_min", with = "dur")]
    pub poll_interval: Duration,
    /// Explicit scaling; without it the program number is read with `/#2`.
    #[serde(default)]
    pub scaling: Option<Scaling>,
    /// Also read `/#C` (T3, P1, P2, flow V2).
    #[serde(default)]
    pub read_hash_c: bool,
    #[serde(default = "cr")]
    pub terminator: TerminatorConfig,
    #[serde(default = "two")]
    pub retries: u8,
    #[serde(default)]
    pub meter_id: Option<String>,
}

fn cr() -> TerminatorConfig {
    TerminatorConfig::Cr
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BccConfig {
    Xor,
    Sum7,
    None,
}

/// IEC 62056-21 (IEC 61107) optical readout (serial only: it switches baud after sign-on).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Iec62056Config {
    pub name: String,
    /// The Home Assistant device name of this meter (default: its kind, "Heat meter").
    #[serde(default)]
    pub device_name: Option<String>,
    #[serde(default)]
    pub device: Option<PathBuf>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    /// `kamstrup_382`, `multical_401`, `ultraheat` (Landis+Gyr UH50/T550) or `generic`.
    pub profile: String,
    /// Override the profile's block check: `xor`, `sum7` or `none`.
    #[serde(default)]
    pub bcc: Option<BccConfig>,
    /// Override the profile's wake-up (2.2 s of NULs before the sign-on, for battery meters).
    #[serde(default)]
    pub wake_up: Option<bool>,
    /// Device address for `/?<address>!`.
    #[serde(default)]
    pub address: Option<String>,
    /// Highest speed proposed in mode C (the optical head's limit).
    #[serde(default)]
    pub max_baud: Option<u32>,
    #[serde(default = "fifteen_min", with = "dur")]
    pub poll_interval: Duration,
    #[serde(default = "two")]
    pub retries: u8,
    #[serde(default)]
    pub meter_id: Option<String>,
}

type Problem = (String, String);

fn serial_only(key: &str, link: &Link, what: &str) -> Result<(), Problem> {
    if matches!(link, Link::Tcp { .. }) {
        return Err((
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
fn check_interval(key: &str, d: Duration) -> Result<(), Problem> {
    super::duration::check(
        &format!("{key}.poll_interval"),
        d,
        Duration::from_secs(5),
        Duration::from_secs(7 * 86_400),
    )
}

/// The link of a polled input in the transport's terms. A serial port opens at 1200 8N2 (the
/// KMP default, `shared/notes/kamstrup.md`); every poll session then configures the speed
/// and format it needs before its first request.
fn polled_link(link: Link, connect_timeout: Duration) -> LinkSpec {
    LinkSpec {
        endpoint: link,
        line: LineSettings::new(1200, 8, Parity::None, 2),
        request_line: RequestLine::None,
        connect_timeout,
    }
}

impl KmpConfig {
    /// The link, opened with the configured `connect_timeout`.
    pub fn link(&self) -> Result<LinkSpec, Problem> {
        link_of("", &self.device, &self.host, self.port)
            .map(|l| polled_link(l, self.connect_timeout))
    }

    /// The register set: the preset with the user's additions and removals.
    pub fn registers(&self) -> Result<RegisterSet, String> {
        let mut set = RegisterSet::preset(&self.preset).map_err(|_| {
            format!(
                "unknown preset `{}` (use multical_60x, multical_40x, multical_21 or kamstrup_382)",
                self.preset
            )
        })?;
        for id in &self.registers_add {
            set = set.add(*id);
        }
        for id in &self.registers_remove {
            set = set.remove(*id);
        }
        Ok(set)
    }

    pub(super) fn validate(&self, key: &str) -> Result<(), Problem> {
        link_of(key, &self.device, &self.host, self.port)?;
        let set = self.registers().map_err(|m| (format!("{key}.preset"), m))?;
        if set.ids().is_empty() {
            return Err((
                format!("{key}.registers_remove"),
                "no registers left to read".into(),
            ));
        }
        super::duration::check(
            &format!("{key}.connect_timeout"),
            self.connect_timeout,
            Duration::from_secs(1),
            Duration::from_secs(300),
        )?;
        check_interval(key, self.poll_interval)
    }
}

impl MulticalConfig {
    /// The link (serial only, validated; no connect timeout of its own, so the default).
    pub fn link(&self) -> Result<LinkSpec, Problem> {
        link_of("", &self.device, &self.host, self.port).map(|l| polled_link(l, ten_s()))
    }

    pub fn options(&self) -> MulticalOptions {
        MulticalOptions {
            terminator: match self.terminator {
                TerminatorConfig::Cr => Terminator::Cr,
                TerminatorConfig::Crlf => Terminator::CrLf,
                TerminatorConfig::None => Terminator::None,
            },
            scaling: self.scaling,
            read_hash_c: self.read_hash_c,
            fallback_id: self.meter_id.clone().unwrap_or_else(|| self.name.clone()),
            retries: self.retries,
            ..MulticalOptions::default()
        }
    }

    pub(super) fn validate(&self, key: &str) -> Result<(), Problem> {
        let link = link_of(key, &self.device, &self.host, self.port)?;
        serial_only(key, &link, "the MULTICAL /#n protocol")?;
        check_interval(key, self.poll_interval)
    }
}

impl Iec62056Config {
    /// The link (serial only, validated; no connect timeout of its own, so the default).
    pub fn link(&self) -> Result<LinkSpec, Problem> {
        link_of("", &self.device, &self.host, self.port).map(|l| polled_link(l, ten_s()))
    }

    pub fn options(&self) -> Result<Iec61107Options, String> {
        let profile = Profile::from_name(&self.profile).ok_or_else(|| {
            format!(
                "unknown profile `{}` (use kamstrup_382, multical_401, ultraheat or generic)",
                self.profile
            )
        })?;
        let mut o = Iec61107Options::new(profile);
        if let Some(b) = self.bcc {
            o.bcc = match b {
                BccConfig::Xor => BccMode::Xor,
                BccConfig::Sum7 => BccMode::Sum7,
                BccConfig::None => BccMode::None,
            };
        }
        if let Some(w) = self.wake_up {
            o.wake_up = w;
        }
        if let Some(b) = self.max_baud {
            o.max_baud = b;
        }
        o.address = self.address.clone();
        o.retries = self.retries;
        o.fallback_id = self.meter_id.clone().unwrap_or_else(|| self.name.clone());
        Ok(o)
    }

    pub(super) fn validate(&self, key: &str) -> Result<(), Problem> {
        let link = link_of(key, &self.device, &self.host, self.port)?;
        serial_only(key, &link, "the IEC 62056-21 readout")?;
        self.options().map_err(|m| (format!("{key}.profile"), m))?;
        check_interval(key, self.poll_interval)
    }
}
