//! The requests of a KMP poll (GetSerialNo, GetType, GetRegister; their command codes and
//! sections of 5512-447 are in [`super::codec`]).

use std::fmt;

use super::codec::{CMD_GET_REGISTER, CMD_GET_SERIAL, CMD_GET_TYPE};

/// Value length assumed when sizing a read deadline; every register in the corpus uses at
/// most 4 bytes (`tasmota38_*`, `meterlogger_sim_8regs`).
const ASSUMED_VALUE_LEN: usize = 4;

/// One request of a KMP poll (its `Display` names it as the logs do: `GetRegister [0x003c]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// GetSerialNo.
    Serial,
    /// GetType.
    Type,
    /// GetRegister for these register ids.
    Registers(Vec<u16>),
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Serial => f.write_str("GetSerialNo"),
            Request::Type => f.write_str("GetType"),
            Request::Registers(ids) => {
                let list: Vec<String> = ids.iter().map(|id| format!("{id:#06x}")).collect();
                write!(f, "GetRegister [{}]", list.join(", "))
            }
        }
    }
}

impl Request {
    pub(super) fn command(&self) -> u8 {
        match self {
            Request::Serial => CMD_GET_SERIAL,
            Request::Type => CMD_GET_TYPE,
            Request::Registers(_) => CMD_GET_REGISTER,
        }
    }

    /// Upper bound of the reply's bytes on the wire: start, stop and everything between
    /// stuffed (each byte may double).
    pub(super) fn max_reply_len(&self) -> usize {
        let inner = match self {
            Request::Serial | Request::Type => 2 + 4 + 2,
            Request::Registers(ids) => 2 + ids.len() * (5 + ASSUMED_VALUE_LEN) + 2,
        };
        2 + 2 * inner
    }
}
