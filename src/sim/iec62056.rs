//! IEC 62056-21 meters built from the corpus readouts: MULTICAL 401 (mode C), Kamstrup 382
//! (mode A, 7-bit sum BCC) and Landis+Gyr Ultraheat UH50 (wake-up, mode B at 2400, XOR BCC).

use std::time::Duration;

use super::{transmit_time, Counter, SimReply};
use crate::protocol::iec62056::block::frame;
use crate::protocol::iec62056::ident::{BaudCode, Mode};
use crate::protocol::iec62056::{BccMode, Profile, ACK};
use crate::protocol::{LineSettings, Parity};

/// The meter's reaction time before it answers: within 200 ms..1.5 s (IEC 62056-21 §6.3 tr).
pub const REACTION: Duration = Duration::from_millis(250);

/// The Ultraheat UH50 readout (corpus, GJ variant), data lines only.
const UH50: &str =
    include_str!("../../tests/fixtures/iec62056/iec62056_ultraheat_LUGCUH50_dummy_utf8.txt");

/// Fewest wake-up NULs the Ultraheat simulator wants before a sign-on (the ultraheat library
/// sends 40).
pub const WAKE_UP_NULS: usize = 40;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Idle,
    AwaitAck,
}

/// A simulated IEC 62056-21 meter.
#[derive(Clone, Debug)]
pub struct Iec62056Simulator {
    pub profile: Profile,
    manufacturer: &'static str,
    baud_code: u8,
    ident: &'static str,
    /// Data block template: `{E}`, `{V}`, `{H}` are replaced by the counters.
    template: String,
    counters: [Counter; 3],
    bcc: BccMode,
    format: (u8, Parity, u8),
    needs_wake_up: bool,
    nuls: usize,
    elapsed_s: u64,
    state: State,
    buf: Vec<u8>,
    slow: Duration,
    corrupt_bcc: bool,
    non_number: bool,
    silent: bool,
    /// Readouts sent, for tests.
    pub readouts: usize,
    /// Why input was ignored, for tests.
    pub ignored: Vec<String>,
}

fn counter(base: u64, per_hour: u64, int_digits: usize, decimals: usize) -> Counter {
    Counter {
        base,
        per_hour,
        int_digits,
        decimals,
    }
}

impl Iec62056Simulator {
    fn build(
        profile: Profile,
        manufacturer: &'static str,
        baud_code: u8,
        ident: &'static str,
    ) -> Self {
        Iec62056Simulator {
            profile,
            manufacturer,
            baud_code,
            ident,
            template: String::new(),
            counters: [counter(0, 0, 1, 0); 3],
            bcc: profile.bcc(),
            format: profile.data_format(),
            needs_wake_up: false,
            nuls: 0,
            elapsed_s: 0,
            state: State::Idle,
            buf: Vec::new(),
            slow: Duration::ZERO,
            corrupt_bcc: false,
            non_number: false,
            silent: false,
            readouts: 0,
            ignored: Vec::new(),
        }
    }

    /// MULTICAL 401: `/KAM0MCC`, mode C at 300 baud, 7E2 (corpus `mc401_iec62056`).
    pub fn multical_401() -> Self {
        let mut s = Self::build(Profile::Multical401, "KAM", b'0', "MCC");
        s.template = "0.0(00002742640)6.8({E}*GJ)6.26({V}*m3)6.31({H}*h)!\r\n".into();
        s.counters = [
            counter(456_631, 10, 4, 3),
            counter(3_447_381, 30, 4, 3),
            counter(40_345, 1, 7, 0),
        ];
        s
    }

    /// Kamstrup 382: `/KAM 685-382-OK-15`, mode A, 7-bit sum BCC (382 specification example).
    pub fn kamstrup_382() -> Self {
        let mut s = Self::build(Profile::Kamstrup382, "KAM", b' ', "685-382-OK-15");
        s.template = "0.0(00054042)\r\n1.20({E}*kWh)\r\n1.20.1(0000033*kWh)\r\n\
                      1.20.2(0000020*kWh)\r\n1.31({H}*h)\r\n1.26(0000000)\r\n\
                      1.6(000018,3*kW)\r\n1.6*1(000000,0)!\r\n"
            .into();
        s.counters = [
            counter(53, 1, 7, 0),
            counter(0, 0, 1, 0),
            counter(482, 1, 7, 0),
        ];
        s
    }

    /// Landis+Gyr Ultraheat UH50: wake-up required, `/LUGCUH50`, mode B at 2400, XOR BCC.
    pub fn ultraheat() -> Self {
        let mut s = Self::build(Profile::Ultraheat, "LUG", b'C', "UH50");
        let lines: Vec<&str> = UH50.lines().skip(1).take_while(|l| *l != "!").collect();
        let mut t = lines.join("\r\n");
        t.push_str("\r\n!\r\n");
        s.template = t
            .replacen("6.8(0328.871*GJ)", "6.8({E}*GJ)", 1)
            .replacen("6.26(03329.67*m3)", "6.26({V}*m3)", 1)
            .replacen("6.31(0107988*h)", "6.31({H}*h)", 1);
        s.counters = [
            counter(328_871, 10, 4, 3),
            counter(332_967, 5, 5, 2),
            counter(107_988, 1, 7, 0),
        ];
        s.needs_wake_up = true;
        s
    }

    /// Announce another mode: A (Z = space), B (letter) or C (digit) for the same speed.
    pub fn with_mode(mut self, mode: Mode) -> Self {
        let baud = BaudCode(self.baud_code).baud().unwrap_or(300);
        let digit = BaudCode::mode_c_for(baud).map_or(b'0', |c| c.0);
        self.baud_code = match mode {
            Mode::A => b' ',
            Mode::B if baud > 300 => digit - b'0' - 1 + b'A',
            Mode::B => b'A',
            Mode::C => digit,
        };
        self
    }

    /// Offer another speed in the same mode (mode C `0`-`6`, mode B `A`-`F`).
    pub fn with_speed(mut self, baud: u32) -> Self {
        let mode = BaudCode(self.baud_code).mode();
        if let Some(c) = BaudCode::mode_c_for(baud) {
            self.baud_code = match mode {
                Mode::A => self.baud_code,
                Mode::B => (c.0 - b'1') + b'A',
                Mode::C => c.0,
            };
        }
        self
    }

    pub fn advance(&mut self, seconds: u64) {
        self.elapsed_s = self.elapsed_s.saturating_add(seconds);
    }
    pub fn slow_reply(&mut self, extra: Duration) {
        self.slow = extra;
    }
    pub fn set_corrupt_bcc(&mut self, on: bool) {
        self.corrupt_bcc = on;
    }
    /// Send the energy value with a letter in it (as the Ultraheat `_error_` capture).
    pub fn set_non_number(&mut self, on: bool) {
        self.non_number = on;
    }
    pub fn set_silent(&mut self, on: bool) {
        self.silent = on;
    }

    fn line(&self, baud: u32) -> LineSettings {
        let (d, p, s) = self.format;
        LineSettings::new(baud, d, p, s)
    }

    /// The identification line with CR LF.
    pub fn ident_line(&self) -> Vec<u8> {
        format!(
            "/{}{}{}\r\n",
            self.manufacturer, self.baud_code as char, self.ident
        )
        .into_bytes()
    }

    /// The data block (between STX and ETX) as it would be sent now.
    pub fn data_block(&self) -> Vec<u8> {
        let e = self.elapsed_s;
        let mut energy = self.counters[0].render(e);
        if self.non_number {
            energy.replace_range(1..2, "A");
        }
        self.template
            .replace("{E}", &energy)
            .replace("{V}", &self.counters[1].render(e))
            .replace("{H}", &self.counters[2].render(e))
            .into_bytes()
    }

    /// The complete data message STX ... ETX BCC.
    pub fn data_message(&mut self) -> Vec<u8> {
        let mut m = frame(&self.data_block(), self.bcc);
        if self.corrupt_bcc {
            if let Some(b) = m.last_mut() {
                *b ^= 0x01;
            }
        }
        self.readouts += 1;
        m
    }

    /// Feed what arrived while the port was at `line`; returns the replies.
    pub fn on_input(&mut self, line: LineSettings, bytes: &[u8]) -> Vec<SimReply> {
        if line.baud != 300 || line.data_bits != 7 || line.parity != Parity::Even {
            self.ignored
                .push(format!("input at {line}: not understood"));
            self.state = State::Idle;
            return Vec::new();
        }
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        loop {
            let lead_nuls = self.buf.iter().take_while(|&&b| b == 0).count();
            self.nuls += lead_nuls;
            self.buf.drain(..lead_nuls);
            let Some(lf) = self.buf.iter().position(|&b| b == b'\n') else {
                if self.buf.len() > 256 {
                    self.buf.clear();
                }
                return out;
            };
            let msg: Vec<u8> = self.buf.drain(..=lf).collect();
            if let Some(r) = self.on_message(&msg) {
                out.extend(r);
            }
        }
    }

    fn on_message(&mut self, msg: &[u8]) -> Option<Vec<SimReply>> {
        if self.silent {
            self.ignored.push("silent".into());
            return None;
        }
        if msg.starts_with(b"/?") && msg.ends_with(b"!\r\n") {
            let woken = !self.needs_wake_up || self.nuls >= WAKE_UP_NULS;
            self.nuls = 0;
            if !woken {
                self.ignored.push("sign-on without wake-up".into());
                return None;
            }
            return Some(self.on_sign_on());
        }
        match (self.state, msg) {
            (State::AwaitAck, [ACK, b'0', z, b'0', b'\r', b'\n']) => {
                self.state = State::Idle;
                let want = BaudCode(*z)
                    .baud()
                    .filter(|_| BaudCode(*z).mode() == Mode::C);
                let max = BaudCode(self.baud_code).baud().unwrap_or(300);
                match want {
                    Some(b) if b <= max => {
                        let bytes = self.data_message();
                        Some(vec![SimReply {
                            bytes,
                            line: self.line(b),
                            delay: REACTION + self.slow,
                        }])
                    }
                    _ => {
                        self.ignored.push(format!("bad ACK speed {:?}", *z as char));
                        None
                    }
                }
            }
            _ => {
                self.ignored
                    .push(format!("unexpected {:?}", String::from_utf8_lossy(msg)));
                None
            }
        }
    }

    fn on_sign_on(&mut self) -> Vec<SimReply> {
        let ident = self.ident_line();
        let initial = self.line(300);
        let delay = REACTION + self.slow;
        match BaudCode(self.baud_code).mode() {
            Mode::A => {
                let mut bytes = ident;
                bytes.extend(self.data_message());
                vec![SimReply {
                    bytes,
                    line: initial,
                    delay,
                }]
            }
            Mode::B => {
                let baud = BaudCode(self.baud_code).baud().unwrap_or(300);
                let after = delay + transmit_time(initial, ident.len()) + REACTION;
                let data = self.data_message();
                vec![
                    SimReply {
                        bytes: ident,
                        line: initial,
                        delay,
                    },
                    SimReply {
                        bytes: data,
                        line: self.line(baud),
                        delay: after,
                    },
                ]
            }
            Mode::C => {
                self.state = State::AwaitAck;
                vec![SimReply {
                    bytes: ident,
                    line: initial,
                    delay,
                }]
            }
        }
    }
}
