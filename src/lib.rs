//! meter2mqtt: read household utility meters and publish their readings to MQTT.
//!
//! The library holds the sans-IO protocol cores (no sockets, no timers, no async runtime), so
//! they can be used, tested, fuzzed and benchmarked on their own (`default-features = false`):
//! - [`protocol::dsmr`]: P1 telegrams (DSMR 2.2 to 5, e-MUCS, Smarty, encrypted P1), a decoder
//!   fed with bytes;
//! - [`protocol::kmp`], [`protocol::multical`], [`protocol::iec62056`]: Kamstrup KMP, the
//!   MULTICAL `/#n` protocol and IEC 62056-21 readout, poll sessions
//!   ([`protocol::PollSession`]) that say what to do next and are told what happened.
//!
//! Every core turns bytes into [`reading::Reading`]s: one normalised model with exact decimal
//! values ([`decimal::Decimal`]) and fixed units ([`reading::Unit`], one conversion table).
//!
//! With the `bridge` feature (the default) the rest of the service is here too, layered so
//! data flows one way: `transport` (serial ports, TCP relays, the poll driver) → `input`
//! (a core over a transport) → `bridge` → `mqtt`; `config` describes it all and converts into
//! each layer's own types, and `url` parses broker URLs for both `config` and `mqtt`.

#[cfg(feature = "bridge")]
pub mod bridge;
#[cfg(feature = "bridge")]
pub mod config;
pub mod decimal;
#[cfg(feature = "bridge")]
pub mod event;
#[cfg(feature = "bridge")]
pub mod fault_log;
pub mod guard;
#[cfg(feature = "bridge")]
pub mod history;
#[cfg(feature = "bridge")]
pub mod http;
#[cfg(feature = "bridge")]
pub mod input;
#[cfg(feature = "bridge")]
pub mod mqtt;
#[cfg(feature = "bridge")]
pub mod naming;
pub mod protocol;
pub mod reading;
pub mod sim;
pub mod time;
#[cfg(feature = "bridge")]
pub mod transport;
#[cfg(feature = "bridge")]
pub mod url;
