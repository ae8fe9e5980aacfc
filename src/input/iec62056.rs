//! The IEC 62056-21 readout adapter: an [`Iec62056Session`] per poll, run by the generic poll
//! loop ([`super::poll::run`]). Nothing is kept between polls (every readout starts with the
//! sign-on and identification anyway).

use super::poll::Poller;
use crate::config::{Iec62056Config, Problem};
use crate::protocol::iec62056::{Iec62056Options, Iec62056Session};
use crate::time::Timestamp;

pub struct Iec62056Poller {
    opts: Iec62056Options,
}

impl Iec62056Poller {
    pub fn new(cfg: &Iec62056Config) -> Result<Self, Problem> {
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
