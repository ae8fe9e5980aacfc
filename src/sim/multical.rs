//! A MULTICAL 66C answering `/#1`, `/#2` and `/#C`, built from the real capture
//! (`tests/fixtures/iec62056/mc66c_kenanv_demo_output.txt`, program 4-4-119: MWh with 3
//! decimals, m³ with 2, l/h, kW with 1). [`MulticalSimulator::set_program`] makes it send
//! another program number in `/#2`: the `/#1` digits stay those of the capture, so a test
//! knows the raw numbers and checks where the decimal point goes for that program.

use std::time::Duration;

use super::{Counter, SimReply};
use crate::protocol::multical::{ProgramNumber, Request, REPLY_LINE};
use crate::protocol::{LineSettings, Parity};

/// The meter starts answering about 0.3 s after the request (team notes).
pub const REPLY_DELAY: Duration = Duration::from_millis(300);

/// Simulated MULTICAL 66C. Answers only requests that arrive at 300 baud, 7 data bits, even
/// parity, and always replies at 1200 7E2.
#[derive(Clone, Debug)]
pub struct MulticalSimulator {
    elapsed_s: u64,
    energy: Counter,
    volume: Counter,
    hours: Counter,
    program: ProgramNumber,
    buf: Vec<u8>,
    slow: Duration,
    corrupt: bool,
    silent: bool,
    /// Requests answered, for tests.
    pub answered: usize,
    /// Why input was ignored (wrong speed, unknown request), for tests.
    pub ignored: Vec<String>,
}

impl Default for MulticalSimulator {
    fn default() -> Self {
        Self::new()
    }
}

impl MulticalSimulator {
    /// The meter as captured: energy 507.109 MWh, V1 12966.26 m³, 32673 h, 3.1 kW, 79 l/h.
    pub fn new() -> Self {
        MulticalSimulator {
            elapsed_s: 0,
            // 3.1 kW → 3.1 kWh per hour = 3.1 units of 0.001 MWh (rounded down to 3).
            energy: Counter {
                base: 507_109,
                per_hour: 3,
                int_digits: 7,
                decimals: 0,
            },
            // 79 l/h = 7.9 units of 0.01 m³ per hour (rounded up to 8).
            volume: Counter {
                base: 1_296_626,
                per_hour: 8,
                int_digits: 7,
                decimals: 0,
            },
            hours: Counter {
                base: 32_673,
                per_hour: 1,
                int_digits: 7,
                decimals: 0,
            },
            // The capture's `/#2` field 8, `0044119`.
            program: ProgramNumber {
                a: 4,
                b: 4,
                ccc: 119,
            },
            buf: Vec::new(),
            slow: Duration::ZERO,
            corrupt: false,
            silent: false,
            answered: 0,
            ignored: Vec::new(),
        }
    }

    /// Let time pass: counters go up, never down.
    pub fn advance(&mut self, seconds: u64) {
        self.elapsed_s = self.elapsed_s.saturating_add(seconds);
    }

    /// Add a delay before every reply (the wrapper honours it).
    pub fn slow_reply(&mut self, extra: Duration) {
        self.slow = extra;
    }

    /// Put a non-digit into the `/#1` volume field (the capture's `/#8` shows such `:`s).
    pub fn set_corrupt(&mut self, on: bool) {
        self.corrupt = on;
    }

    /// Send `program` as the program number in `/#2` field 8 (the capture's is 4-4-119).
    pub fn set_program(&mut self, program: ProgramNumber) {
        self.program = program;
    }

    /// Stop (or resume) answering.
    pub fn set_silent(&mut self, on: bool) {
        self.silent = on;
    }

    /// The `/#1` line (without CR) as the meter would send it now.
    pub fn hash1_text(&self) -> String {
        let e = self.elapsed_s;
        let mut volume = self.volume.render(e);
        if self.corrupt {
            volume.replace_range(0..1, ":");
        }
        format!(
            "{} {} {} 0006811 0003366 0003445 0000031 0000079 0000093 0000000",
            self.energy.render(e),
            volume,
            self.hours.render(e)
        )
    }

    fn reply_text(&self, req: Request) -> Option<String> {
        Some(match req {
            Request::Hash1 => self.hash1_text(),
            Request::Hash2 => format!(
                "00000060017 0000000 0000000 0000000 0000000 0000000 0000000 {} 1200000 0171028",
                self.program.hash2_field()
            ),
            Request::HashC => {
                "0006812 0021875 0003376 0000000 0000000 0000079 0000000 0000031".into()
            }
            Request::Other(_) => return None,
        })
    }

    /// Feed what arrived while the port was at `line`; returns the replies.
    pub fn on_input(&mut self, line: LineSettings, bytes: &[u8]) -> Vec<SimReply> {
        if line.baud != 300 || line.data_bits != 7 || line.parity != Parity::Even {
            self.ignored
                .push(format!("request bytes at {line}: not understood"));
            return Vec::new();
        }
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            match self.buf.iter().position(|&b| b == b'/') {
                Some(i) => drop(self.buf.drain(..i)),
                None => {
                    self.buf.clear();
                    break;
                }
            }
            let Some((req, used)) = Request::decode(&self.buf) else {
                if self.buf.len() >= 3 {
                    self.buf.drain(..1);
                    continue;
                }
                break;
            };
            self.buf.drain(..used.min(self.buf.len()));
            if self.silent {
                self.ignored.push("silent".into());
                continue;
            }
            match self.reply_text(req) {
                Some(t) => {
                    self.answered += 1;
                    let mut bytes = t.into_bytes();
                    bytes.push(b'\r');
                    out.push(SimReply {
                        bytes,
                        line: REPLY_LINE,
                        delay: REPLY_DELAY + self.slow,
                    });
                }
                None => self.ignored.push(format!("request {req:?} not simulated")),
            }
        }
        out
    }
}
