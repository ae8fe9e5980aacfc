//! Configuration of a MULTICAL 401 / 66C `/#n` input.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{check_interval, fifteen_min, link_of, polled_link, serial_only, ten_s, two, Problem};
use crate::config::duration_serde as dur;
use crate::protocol::multical::scaling::Scaling;
use crate::protocol::multical::{MulticalOptions, Terminator};
use crate::transport::LinkSpec;

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
