//! meter2mqtt: read household utility meters and publish their readings to MQTT (and, through
//! one seam, to any other output).
//!
//! The library holds the sans-IO protocol cores (no sockets, no timers, no async runtime), so
//! they can be used, tested, fuzzed and benchmarked on their own (`default-features = false`):
//! - [`protocol::dsmr`]: P1 telegrams (DSMR 2.2 to 5, e-MUCS, Smarty, encrypted P1), a decoder
//!   fed with bytes;
//! - [`protocol::kmp`], [`protocol::multical`], [`protocol::iec62056`]: Kamstrup KMP, the
//!   MULTICAL `/#n` protocol and IEC 62056-21 readout, poll sessions
//!   ([`protocol::PollSession`]) that say what to do next and are told what happened; a
//!   failed poll says why in the protocol's own terms ([`protocol::PollError`]).
//!
//! Every core turns bytes into [`reading::Reading`]s: one normalised model with exact decimal
//! values ([`decimal::Decimal`]) and fixed units ([`reading::Unit`], one conversion table).
//! [`guard`] (the counter guard) and [`sim`] (meter simulators) are sans-IO too.
//!
//! With the `bridge` feature (the default) the rest of the service is here too, and data flows
//! one way (`docs/architecture.md` draws it, with the module graph):
//!
//! ```text
//! bytes     transport   serial ports, TCP relays, the poll driver (owns ports and the clock)
//! frames    protocol    the sans-IO cores above
//! readings  input       one supervised task per configured input: a core over a transport,
//!                       one file per protocol (input/p1.rs, kmp.rs, multical.rs, iec62056.rs)
//! events    event       the rules every consumer relies on (counter guard, availability),
//!                       run once; each input's health (event::status)
//! outputs   mqtt, ...   subscribed to the events (bridge/outputs.rs lists them)
//! ```
//!
//! `bridge` wires it; `config` describes it all and converts into each layer's own types
//! (it depends on nothing downstream); `url` parses broker URLs for both `config` and `mqtt`;
//! `fault_log` keeps lasting faults to a few log lines.

#[cfg(feature = "bridge")]
pub mod addon;
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
#[cfg(feature = "bridge")]
pub mod serve;
pub mod sim;
pub mod time;
#[cfg(feature = "bridge")]
pub mod transport;
#[cfg(feature = "bridge")]
pub mod url;
