//! meter2mqtt: read household utility meters and publish their readings to MQTT.
//!
//! The library holds the sans-IO protocol cores (no sockets, no timers, no async runtime), so
//! they can be used, tested, fuzzed and benchmarked on their own:
//! - [`protocol::dsmr`]: P1 telegrams (DSMR 2.2 to 5, e-MUCS, Smarty, encrypted P1)
//!
//! Every core turns bytes into [`reading::Reading`]s: one normalised model with exact decimal
//! values ([`decimal::Decimal`]) and fixed units.

#[cfg(feature = "bridge")]
pub mod bridge;
#[cfg(feature = "bridge")]
pub mod config;
pub mod decimal;
#[cfg(feature = "bridge")]
pub mod fault_log;
pub mod guard;
#[cfg(feature = "bridge")]
pub mod input;
#[cfg(feature = "bridge")]
pub mod mqtt;
pub mod protocol;
pub mod reading;
pub mod sim;
pub mod time;
#[cfg(feature = "bridge")]
pub mod transport;
#[cfg(feature = "bridge")]
pub mod url;
