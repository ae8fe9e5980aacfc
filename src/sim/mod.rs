//! Meter simulators: the far end of a real wire for tests and `meter2mqtt demo`.
//!
//! The generators are pure (bytes out, no I/O); [`pty`] and [`serve`] put them behind a real
//! pseudo-terminal or TCP socket.

pub mod dsmr;
pub mod household;
pub mod iec62056;
pub mod kmp;
pub mod multical;
pub mod offline;
#[cfg(feature = "bridge")]
pub mod polled;

pub use self::iec62056::Iec62056Simulator;
pub use self::multical::MulticalSimulator;
#[cfg(feature = "bridge")]
pub mod pty;
#[cfg(feature = "bridge")]
pub mod serve;

use std::time::Duration;

use crate::protocol::LineSettings;

/// One transmission of a simulated meter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimReply {
    /// What the meter sends.
    pub bytes: Vec<u8>,
    /// The line settings it sends them at. The reader's port must be at these settings when
    /// the transmission starts, or the bytes are lost.
    pub line: LineSettings,
    /// Time from the end of the input that caused this reply to its first byte.
    pub delay: Duration,
}

/// Whether a port at `port` receives characters sent at `sent`: same speed, data bits and
/// parity. Stop bits may differ: a UART only checks the first stop bit, so a 7E1 port reads
/// 7E2 characters (MULTICAL replies) and vice versa.
pub fn receives(port: LineSettings, sent: LineSettings) -> bool {
    port.baud == sent.baud && port.data_bits == sent.data_bits && port.parity == sent.parity
}

/// How long `n` characters take on `line` (start bit, data bits, parity, stop bits).
pub fn transmit_time(line: LineSettings, n: usize) -> Duration {
    line.char_time(n)
}

/// A counter printed with fixed digits, advanced at a fixed rate: `raw` is in units of the
/// last printed digit, so values stay exact and only go up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counter {
    pub base: u64,
    /// Increase per hour, in units of the last digit.
    pub per_hour: u64,
    pub int_digits: usize,
    pub decimals: usize,
}

impl Counter {
    pub fn value(&self, elapsed_s: u64) -> u64 {
        self.base + self.per_hour.saturating_mul(elapsed_s) / 3600
    }

    /// `0456.631` style text (or `0040345` with no decimals).
    pub fn render(&self, elapsed_s: u64) -> String {
        let v = self.value(elapsed_s);
        if self.decimals == 0 {
            return format!("{v:0w$}", w = self.int_digits);
        }
        let p = 10u64.pow(self.decimals as u32);
        format!(
            "{:0w$}.{:0d$}",
            v / p,
            v % p,
            w = self.int_digits,
            d = self.decimals
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Parity;

    #[test]
    fn counters_render_and_grow() {
        let c = Counter {
            base: 456_631,
            per_hour: 3_600,
            int_digits: 4,
            decimals: 3,
        };
        assert_eq!(c.render(0), "0456.631");
        assert_eq!(c.render(10), "0456.641");
        let l = LineSettings::new(1200, 7, Parity::Even, 2);
        assert_eq!(transmit_time(l, 120), Duration::from_millis(1100));
        assert!(receives(LineSettings::new(1200, 7, Parity::Even, 1), l));
        assert!(!receives(LineSettings::new(300, 7, Parity::Even, 2), l));
    }
}
