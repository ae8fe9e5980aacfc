//! What one KMP poll is asked to do: the registers, the line, the address, the retries and
//! what an earlier poll learned (so [`super::KmpSession`] can skip GetSerialNo/GetType).

use super::codec::MeterType;
use super::frame::ADDRESS_METER;
use super::registers::RegisterSet;
use crate::protocol::LineSettings;

/// Repeats of a request after the first try.
pub const DEFAULT_RETRIES: u8 = 3;
/// What an earlier poll learned about the meter; pass it back to skip GetSerialNo/GetType.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Identity {
    pub serial: u32,
    /// `None` if the meter did not answer GetType.
    pub meter_type: Option<MeterType>,
}

/// Everything a poll needs besides the time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmpPollConfig {
    pub registers: RegisterSet,
    /// Defaults to the register set's family line (1200 8N2, or 9600 for the 382).
    pub line: LineSettings,
    /// Defaults to [`ADDRESS_METER`].
    pub address: u8,
    /// Defaults to [`DEFAULT_RETRIES`].
    pub retries: u8,
    /// Known identity from an earlier poll; `None` makes the session ask for it.
    pub identity: Option<Identity>,
    /// Meter id to use when no serial number is available.
    pub fallback_id: Option<String>,
}

impl KmpPollConfig {
    pub fn new(registers: RegisterSet) -> Self {
        KmpPollConfig {
            line: registers.line(),
            registers,
            address: ADDRESS_METER,
            retries: DEFAULT_RETRIES,
            identity: None,
            fallback_id: None,
        }
    }
}
