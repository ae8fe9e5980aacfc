//! A KMP meter simulator, sans-IO: bytes in, bytes out. The IO side (pty, TCP) wraps it.
//!
//! [`KmpSimulator::multical_603`] is a MULTICAL 603-like heat meter whose counters move when
//! [`KmpSimulator::advance`] is called. Fault knobs imitate what real set-ups do: an optical
//! head that echoes what it sends, a meter that has switched its eye off, a damaged reply.

use std::collections::BTreeMap;

use crate::decimal::Decimal;
use crate::protocol::kmp::codec::{self, MeterType};
use crate::protocol::kmp::frame::{
    self, Direction, Frame, Push, Received, Receiver, ACK, ADDRESS_METER, STOP,
};
use crate::time::Timestamp;

/// One register as the simulated meter stores it. The SiEx byte follows from the value's
/// exponent; `len` is the integer's byte length on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimRegister {
    pub unit: u8,
    pub value: Decimal,
    pub len: u8,
}

/// The simulator's live model (integers, so counters never go down).
#[derive(Clone, Debug)]
struct Model {
    elapsed_s: u64,
    /// E1 in mWh.
    energy_mwh: u64,
    /// V1 in ml.
    volume_ml: u64,
    hours_base: u64,
    /// Unix time of the meter clock at `elapsed_s == 0`.
    clock_base: i64,
}

impl Model {
    /// 0..=30..=0 over an hour: slow swings in temperatures and flow.
    fn wave(&self) -> u64 {
        let m = (self.elapsed_s / 60) % 60;
        if m <= 30 {
            m
        } else {
            60 - m
        }
    }
    fn t1_centi(&self) -> u64 {
        5365 + self.wave() * 5
    }
    fn t2_centi(&self) -> u64 {
        4579 + self.wave() * 2
    }
    fn flow_lph(&self) -> u64 {
        245 + self.wave() * 3
    }
    /// Heat power from V1 flow and T1-T2 with water's 1.163 Wh/(l·K).
    fn power_w(&self) -> u64 {
        let dt = self.t1_centi().saturating_sub(self.t2_centi());
        self.flow_lph() * dt * 1163 / 100_000
    }
}

/// A simulated KMP meter. See the module docs.
#[derive(Clone, Debug)]
pub struct KmpSimulator {
    pub address: u8,
    pub serial: u32,
    pub meter_type: MeterType,
    /// Echo every input byte back before any reply, as cheap optical heads do.
    pub echo: bool,
    /// Answer nothing (the eye is off); clear it to let the meter "come back".
    pub drop_replies: bool,
    /// Send every n-th reply with a damaged CRC (`Some(1)`: all of them).
    pub corrupt_crc_every: Option<u32>,
    registers: BTreeMap<u16, SimRegister>,
    rx: Receiver,
    model: Option<Model>,
    requests: u32,
    replies: u32,
}

const E1: u16 = 0x003C;
const V1: u16 = 0x0044;
const T1: u16 = 0x0056;
const T2: u16 = 0x0057;
const DT: u16 = 0x0059;
const FLOW: u16 = 0x004A;
const POWER: u16 = 0x0050;
const HOURS: u16 = 0x03EC;
const CLOCK: u16 = 0x03EA;
const DATE: u16 = 0x03EB;

impl KmpSimulator {
    /// A meter with no registers.
    pub fn new(serial: u32, meter_type: MeterType) -> Self {
        KmpSimulator {
            address: ADDRESS_METER,
            serial,
            meter_type,
            echo: false,
            drop_replies: false,
            corrupt_crc_every: None,
            registers: BTreeMap::new(),
            rx: Receiver::to_meter(),
            model: None,
            requests: 0,
            replies: 0,
        }
    }

    /// A MULTICAL 603-like heat meter with values close to the real meter of corpus
    /// `tasmota38_*` (E1 55.006 MWh, V1 1875.56 m³, T1 53.65 °C, T2 45.79 °C). The type code
    /// is the one of the 5512-447 GetType example (0x0004, revision F1): real 603 codes are
    /// not published.
    pub fn multical_603() -> Self {
        let mut sim = KmpSimulator::new(
            67_211_183,
            MeterType {
                code: 0x0004,
                revision: 0x0601,
            },
        );
        let d = Decimal::new;
        // Units: 0x03 MWh, 0x28 m³, 0x25 °C, 0x26 K, 0x29 l/h, 0x16 kW, 0x2E h, 0x33 number,
        // 0x2F clock, 0x30 date (see `protocol::kmp::units`).
        for (id, unit, value) in [
            (E1, 0x03, d(55_006, -3)),
            (0x003F, 0x03, d(0, -3)),
            (V1, 0x28, d(187_556, -2)),
            (T1, 0x25, d(5365, -2)),
            (T2, 0x25, d(4579, -2)),
            (DT, 0x26, d(786, -2)),
            (FLOW, 0x29, d(245, 0)),
            (POWER, 0x16, d(22, -1)),
            (HOURS, 0x2E, d(41_234, 0)),
            (0x0063, 0x33, d(0, 0)),
            (0x0071, 0x33, d(3, 0)),
            (0x00AF, 0x2E, d(0, 0)),
            (CLOCK, 0x2F, d(0, 0)),
            (DATE, 0x30, d(0, 0)),
            (0x03E9, 0x33, d(67_211_183, 0)),
        ] {
            sim.set_register(id, unit, value);
        }
        sim.model = Some(Model {
            elapsed_s: 0,
            energy_mwh: 55_006_000_000,
            volume_ml: 1_875_560_000,
            hours_base: 41_234,
            clock_base: Timestamp::new(2024, 1, 15, 10, 0, 0, 0).map_or(0, |t| t.unix_seconds()),
        });
        sim.refresh();
        sim
    }

    /// Set (or add) a register with a 4-byte integer, the length real meters use.
    pub fn set_register(&mut self, id: u16, unit: u8, value: Decimal) {
        self.set_register_len(id, unit, value, 4);
    }

    pub fn set_register_len(&mut self, id: u16, unit: u8, value: Decimal, len: u8) {
        self.registers.insert(id, SimRegister { unit, value, len });
    }

    /// Make the meter not know `id` (it is then left out of replies).
    pub fn remove_register(&mut self, id: u16) -> Option<SimRegister> {
        self.registers.remove(&id)
    }

    pub fn register(&self, id: u16) -> Option<&SimRegister> {
        self.registers.get(&id)
    }

    /// Complete requests received (valid CRC, our address).
    pub fn requests_received(&self) -> u32 {
        self.requests
    }

    /// Frames sent (damaged ones included).
    pub fn replies_sent(&self) -> u32 {
        self.replies
    }

    /// Let `seconds` pass: energy, volume and hours go up, temperatures and flow drift.
    /// Registers removed from the table stay removed.
    pub fn advance(&mut self, seconds: u64) {
        let Some(model) = self.model.as_mut() else {
            return;
        };
        // Minute steps follow the hourly wave closely; very long jumps take larger steps so
        // the loop stays under about 10 000 rounds.
        let max_step = (seconds / 10_000).max(60);
        let mut left = seconds;
        while left > 0 {
            let step = left.min(max_step);
            let power = model.power_w();
            let flow = model.flow_lph();
            // W·s → mWh: × 1000 / 3600. l/h·s → ml: × 1000 / 3600.
            let energy = power.saturating_mul(step).saturating_mul(1000) / 3600;
            let volume = flow.saturating_mul(step).saturating_mul(1000) / 3600;
            model.energy_mwh = model.energy_mwh.saturating_add(energy);
            model.volume_ml = model.volume_ml.saturating_add(volume);
            model.elapsed_s = model.elapsed_s.saturating_add(step);
            left -= step;
        }
        self.refresh();
    }

    fn refresh(&mut self) {
        let Some(m) = self.model.clone() else {
            return;
        };
        let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        let now = Timestamp::from_unix_seconds(
            m.clock_base
                .saturating_add(i64::try_from(m.elapsed_s).unwrap_or(i64::MAX)),
        );
        let clock =
            i64::from(now.hour) * 10_000 + i64::from(now.minute) * 100 + i64::from(now.second);
        let date =
            i64::from(now.year % 100) * 10_000 + i64::from(now.month) * 100 + i64::from(now.day);
        let t1 = m.t1_centi();
        let t2 = m.t2_centi();
        let updates = [
            // MWh with 3 decimals = whole kWh = 10^6 mWh.
            (E1, Decimal::new(clamp(m.energy_mwh / 1_000_000), -3)),
            // m³ with 2 decimals = 10 l = 10^4 ml.
            (V1, Decimal::new(clamp(m.volume_ml / 10_000), -2)),
            (T1, Decimal::new(clamp(t1), -2)),
            (T2, Decimal::new(clamp(t2), -2)),
            (DT, Decimal::new(clamp(t1.saturating_sub(t2)), -2)),
            (FLOW, Decimal::new(clamp(m.flow_lph()), 0)),
            // kW with 1 decimal = 100 W.
            (POWER, Decimal::new(clamp(m.power_w() / 100), -1)),
            (
                HOURS,
                Decimal::new(clamp(m.hours_base + m.elapsed_s / 3600), 0),
            ),
            (CLOCK, Decimal::new(clock, 0)),
            (DATE, Decimal::new(date, 0)),
        ];
        for (id, value) in updates {
            if let Some(r) = self.registers.get_mut(&id) {
                r.value = value;
            }
        }
    }

    /// Feed bytes from the line; returns what the meter (and the head's echo) sends back.
    /// Partial requests are buffered (bounded by the frame receiver); damaged requests and
    /// requests for other addresses get no answer, as on a real meter.
    pub fn on_input(&mut self, bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        if self.echo {
            out.extend_from_slice(bytes);
        }
        let mut rest = bytes;
        while !rest.is_empty() {
            match self.rx.push(rest) {
                Push::NeedMore => break,
                Push::Failed { consumed, .. } => rest = rest.get(consumed..).unwrap_or(&[]),
                Push::Complete { received, consumed } => {
                    rest = rest.get(consumed..).unwrap_or(&[]);
                    if let Received::Frame(f) = received {
                        if f.address == self.address {
                            self.requests += 1;
                            if !self.drop_replies {
                                self.answer(&f, &mut out);
                            }
                        }
                    }
                }
            }
        }
        out
    }

    fn answer(&mut self, request: &Frame, out: &mut Vec<u8>) {
        let data = match request.command {
            codec::CMD_GET_TYPE if request.data.is_empty() => {
                let mut d = self.meter_type.code.to_be_bytes().to_vec();
                d.extend_from_slice(&self.meter_type.revision.to_be_bytes());
                d
            }
            codec::CMD_GET_SERIAL if request.data.is_empty() => self.serial.to_be_bytes().to_vec(),
            codec::CMD_GET_REGISTER => match self.register_reply(&request.data) {
                Some(d) => d,
                None => return,
            },
            codec::CMD_SET_CLOCK if request.data.len() == 8 => {
                out.push(ACK);
                return;
            }
            _ => return,
        };
        self.replies += 1;
        let reply = Frame::new(Direction::FromMeter, self.address, request.command, data);
        let corrupt = matches!(self.corrupt_crc_every, Some(n) if n > 0 && self.replies % n == 0);
        if corrupt {
            out.extend_from_slice(&encode_with_bad_crc(&reply));
        } else {
            out.extend_from_slice(&reply.encode());
        }
    }

    /// Registers in the order asked, unknown ones left out (5512-447 sec. 6.2.4).
    fn register_reply(&self, data: &[u8]) -> Option<Vec<u8>> {
        let (&n, ids) = data.split_first()?;
        let n = usize::from(n);
        if n == 0 || n > codec::MAX_REGISTERS_PER_REQUEST || ids.len() != 2 * n {
            return None;
        }
        let mut out = Vec::new();
        for pair in ids.chunks_exact(2) {
            let id = u16::from_be_bytes([pair[0], pair[1]]);
            let Some(r) = self.registers.get(&id) else {
                continue;
            };
            if codec::encode_register_entry(&mut out, id, r.unit, r.value, usize::from(r.len))
                .is_err()
            {
                // Too large for its length: send it in as many bytes as it needs.
                let _ = codec::encode_register_entry(&mut out, id, r.unit, r.value, 8);
            }
        }
        Some(out)
    }
}

/// `frame` on the wire with its CRC inverted (still correctly stuffed).
fn encode_with_bad_crc(f: &Frame) -> Vec<u8> {
    let mut body = vec![f.address, f.command];
    body.extend_from_slice(&f.data);
    let crc = !frame::crc16(&body);
    body.extend_from_slice(&crc.to_be_bytes());
    let mut out = vec![f.direction.start_byte()];
    frame::stuff_into(&body, &mut out);
    out.push(STOP);
    out
}
