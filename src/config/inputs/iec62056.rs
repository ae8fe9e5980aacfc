//! Configuration of an IEC 62056-21 optical readout input.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{check_interval, fifteen_min, link_of, polled_link, serial_only, ten_s, two, Problem};
use crate::config::duration_serde as dur;
use crate::protocol::iec62056::{BccMode, Iec62056Options, Profile};
use crate::transport::LinkSpec;

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

impl Iec62056Config {
    /// The link (serial only, validated; no connect timeout of its own, so the default).
    pub fn link(&self) -> Result<LinkSpec, Problem> {
        link_of("", &self.device, &self.host, self.port).map(|l| polled_link(l, ten_s()))
    }

    /// The session options. The problem's key is `profile`, relative to the input
    /// ([`Problem::under`]).
    pub fn options(&self) -> Result<Iec62056Options, Problem> {
        let profile = Profile::from_name(&self.profile).ok_or_else(|| {
            Problem::new(
                "profile",
                format!(
                    "unknown profile `{}` (use kamstrup_382, multical_401, ultraheat or generic)",
                    self.profile
                ),
            )
        })?;
        let mut o = Iec62056Options::new(profile);
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
        self.options().map_err(|p| p.under(key))?;
        check_interval(key, self.poll_interval)
    }
}
