//! Polled meters (KMP, MULTICAL `/#n`, IEC 62056-21): one poll session per interval over a
//! link that is opened when needed and reopened after it fails.
//!
//! A poll that fails marks the meter `offline` at once (for every output); the next poll that
//! succeeds brings it back. Identity learned in one poll (serial number, program number) is
//! kept for the next, so battery meters are asked as little as possible.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::health::LinkHealth;
use crate::config::{Iec62056Config, KmpConfig, MulticalConfig};
use crate::event::InputEvent;
use crate::protocol::iec62056::{Iec62056Options, Iec62056Session};
use crate::protocol::kmp::{Identity, KmpPollConfig, KmpSession, RegisterSet};
use crate::protocol::multical::{MulticalIdentity, MulticalOptions, MulticalSession};
use crate::protocol::{LineSettings, PollSession};
use crate::reading::Reading;
use crate::time::Timestamp;
use crate::transport::driver::{drive, DriveError};
use crate::transport::{deadline, Link, LinkSpec};

/// One protocol's way of making poll sessions and learning from them.
pub trait Poller: Send + 'static {
    type Session: PollSession + Send;
    fn session(&mut self, now: Timestamp) -> Self::Session;
    /// Called after every poll, successful or not.
    fn learn(&mut self, session: &Self::Session, input: &str);
}

pub struct KmpPoller {
    registers: RegisterSet,
    line: Option<LineSettings>,
    address: u8,
    retries: u8,
    fallback_id: String,
    identity: Option<Identity>,
}

impl KmpPoller {
    pub fn new(cfg: &KmpConfig) -> Result<Self, String> {
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

pub struct MulticalPoller {
    opts: MulticalOptions,
    known: Option<MulticalIdentity>,
    /// The program number is read again daily (the notes: "on start and then daily").
    known_since: Option<Instant>,
}

/// How long a MULTICAL program number read with `/#2` is trusted.
const PROGRAM_NUMBER_TTL: Duration = Duration::from_secs(24 * 3600);

impl MulticalPoller {
    pub fn new(cfg: &MulticalConfig) -> Self {
        MulticalPoller {
            opts: cfg.options(),
            known: None,
            known_since: None,
        }
    }
}

impl Poller for MulticalPoller {
    type Session = MulticalSession;

    fn session(&mut self, now: Timestamp) -> MulticalSession {
        if self
            .known_since
            .is_some_and(|t| t.elapsed() > PROGRAM_NUMBER_TTL)
        {
            self.known = None;
        }
        MulticalSession::new(self.opts.clone(), self.known.clone(), now)
    }

    fn learn(&mut self, s: &MulticalSession, _input: &str) {
        if let Some(id) = s.identity() {
            if self.known.as_ref() != Some(&id) {
                self.known_since = Some(Instant::now());
            }
            self.known = Some(id);
        }
    }
}

pub struct Iec62056Poller {
    opts: Iec62056Options,
}

impl Iec62056Poller {
    pub fn new(cfg: &Iec62056Config) -> Result<Self, String> {
        Ok(Iec62056Poller {
            opts: cfg.options()?,
        })
    }
}

impl Poller for Iec62056Poller {
    type Session = Iec62056Session;

    fn session(&mut self, now: Timestamp) -> Iec62056Session {
        Iec62056Session::new(self.opts.clone(), now)
    }

    fn learn(&mut self, s: &Iec62056Session, input: &str) {
        for issue in s.issues() {
            tracing::debug!(input, issue = ?issue, "IEC 62056-21 readout");
        }
    }
}

/// Run one polled input forever.
pub async fn run<P: Poller>(
    name: String,
    link_cfg: LinkSpec,
    poll_interval: Duration,
    mut poller: P,
    tx: mpsc::Sender<InputEvent>,
) {
    let mut link: Option<Link> = None;
    let mut meters: Vec<String> = Vec::new();
    // Backoff and fault logging: reset by an answered poll, not by an open link (a relay
    // that accepts and closes would otherwise be reopened every second).
    let mut health = LinkHealth::new(&name, &link_cfg);
    loop {
        let started = Instant::now();
        if link.is_none() {
            match crate::transport::open(&link_cfg).await {
                Ok(l) => link = Some(l),
                Err(e) => {
                    let delay = health.fault("cannot open the meter's link", &e.to_string());
                    unavailable(&tx, &meters, format!("link: {e}")).await;
                    tokio::time::sleep(delay.min(poll_interval)).await;
                    continue;
                }
            }
        }
        let Some(l) = link.as_mut() else { continue };
        let mut session = poller.session(Timestamp::now_utc());
        let result = drive(&mut session, l).await;
        poller.learn(&session, &name);
        match result {
            Ok(readings) => {
                health.data();
                meters = readings
                    .iter()
                    .map(|r: &Reading| r.meter.id.clone())
                    .collect();
                tracing::debug!(input = %name, meters = ?meters, took = ?started.elapsed(), "poll done");
                let ev = InputEvent::Readings {
                    input: name.clone(),
                    readings,
                    interval: poll_interval,
                    raw: None,
                };
                if tx.send(ev).await.is_err() {
                    return;
                }
            }
            Err(DriveError::Link(e)) => {
                let delay = health.fault("link failed during a poll; reopening", &e.to_string());
                link = None;
                unavailable(&tx, &meters, e.to_string()).await;
                tokio::time::sleep(delay.min(poll_interval)).await;
                continue;
            }
            Err(e) => {
                // The next poll is the retry; the backoff delay is not used.
                let _ = health.fault(
                    "meter did not answer; trying again next poll",
                    &e.to_string(),
                );
                unavailable(&tx, &meters, e.to_string()).await;
            }
        }
        tokio::time::sleep_until(deadline(started, poll_interval)).await;
    }
}

async fn unavailable(tx: &mpsc::Sender<InputEvent>, meters: &[String], reason: String) {
    if !meters.is_empty() {
        let _ = tx
            .send(InputEvent::Unavailable {
                meters: meters.to_vec(),
                reason,
            })
            .await;
    }
}
