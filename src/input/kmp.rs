//! The Kamstrup KMP adapter: a [`KmpSession`] per poll, run by the generic poll loop
//! ([`super::poll::run`]). What it keeps between polls: the meter's identity (serial number),
//! so a battery meter is not asked for it again.

use super::poll::Poller;
use crate::config::{KmpConfig, Problem};
use crate::protocol::kmp::{Identity, KmpPollConfig, KmpSession, RegisterSet};
use crate::protocol::LineSettings;
use crate::time::Timestamp;

pub struct KmpPoller {
    registers: RegisterSet,
    line: Option<LineSettings>,
    address: u8,
    retries: u8,
    fallback_id: String,
    identity: Option<Identity>,
}

impl KmpPoller {
    pub fn new(cfg: &KmpConfig) -> Result<Self, Problem> {
        Ok(KmpPoller {
            registers: cfg.registers()?,
            line: cfg.line.map(LineSettings::from),
            address: cfg.address,
            retries: cfg.retries,
            fallback_id: cfg.meter_id.clone().unwrap_or_else(|| cfg.name.clone()),
            identity: None,
        })
    }
}

impl Poller for KmpPoller {
    type Session = KmpSession;

    fn session(&mut self, now: Timestamp) -> KmpSession {
        let mut c = KmpPollConfig::new(self.registers.clone());
        if let Some(l) = self.line {
            c.line = l;
        }
        c.address = self.address;
        c.retries = self.retries;
        c.identity = self.identity;
        c.fallback_id = Some(self.fallback_id.clone());
        KmpSession::new(c, now)
    }

    fn learn(&mut self, s: &KmpSession, input: &str) {
        if let Some(id) = s.identity() {
            self.identity = Some(id);
        }
        if !s.missing().is_empty() {
            tracing::info!(input, missing = ?s.missing(), "the meter does not know these registers");
        }
        for w in s.warnings() {
            tracing::debug!(input, warning = %w, "KMP");
        }
    }
}
