//! Configuration of a Kamstrup KMP input (optical head on a serial port, or TCP).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{check_interval, fifteen_min, link_of, polled_link, ten_s, Problem, SerialLine};
use crate::config::duration_serde as dur;
use crate::protocol::kmp::registers::RegisterSet;
use crate::transport::LinkSpec;

fn multical_60x() -> String {
    "multical_60x".into()
}
fn kmp_address() -> u8 {
    crate::protocol::kmp::frame::ADDRESS_METER
}
fn three() -> u8 {
    3
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

impl KmpConfig {
    /// The link, opened with the configured `connect_timeout`.
    pub fn link(&self) -> Result<LinkSpec, Problem> {
        link_of("", &self.device, &self.host, self.port)
            .map(|l| polled_link(l, self.connect_timeout))
    }

    /// The register set: the preset with the user's additions and removals. The problem's
    /// key is `preset`, relative to the input ([`Problem::under`]).
    pub fn registers(&self) -> Result<RegisterSet, Problem> {
        let mut set = RegisterSet::preset(&self.preset).map_err(|_| {
            Problem::new(
                "preset",
                format!(
                    "unknown preset `{}` (use multical_60x, multical_40x, multical_21 or kamstrup_382)",
                    self.preset
                ),
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
        let set = self.registers().map_err(|p| p.under(key))?;
        if set.ids().is_empty() {
            return Err(Problem::new(
                format!("{key}.registers_remove"),
                "no registers left to read",
            ));
        }
        crate::config::duration::check(
            &format!("{key}.connect_timeout"),
            self.connect_timeout,
            Duration::from_secs(1),
            Duration::from_secs(300),
        )?;
        check_interval(key, self.poll_interval)
    }
}
