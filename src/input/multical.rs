//! The MULTICAL `/#n` adapter (MULTICAL 401/66C): a [`MulticalSession`] per poll, run by the
//! generic poll loop ([`super::poll::run`]). What it keeps between polls: the program number
//! read with `/#2`, trusted for a day.

use std::time::Duration;

use tokio::time::Instant;

use super::poll::Poller;
use crate::config::MulticalConfig;
use crate::protocol::multical::{MulticalIdentity, MulticalOptions, MulticalSession};
use crate::time::Timestamp;

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
