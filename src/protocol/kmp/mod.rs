//! Kamstrup KMP (Kamstrup Meter Protocol), the optical-eye protocol of MULTICAL heat meters
//! and Kamstrup 382 electricity meters, as a sans-IO core.
//!
//! - [`frame`]: start/stop bytes, byte stuffing, CRC-16/XMODEM, a bounded streaming receiver.
//! - [`codec`]: GetType / GetSerialNo / GetRegister / SetClock requests and their replies.
//! - [`number`]: the SiEx decimal number format, exact both ways.
//! - [`units`]: the unit table.
//! - [`registers`]: the register map and presets per meter family.
//! - [`mapping`]: a decoded register to a [`Measurement`] (units, `register_<id>` keys).
//! - [`session`]: one poll of one meter as a [`crate::protocol::PollSession`].
//!
//! Main source: Kamstrup doc 5512-447 "KMP Kamstrup Heat Meter Protocol" (MULTICAL 601/801),
//! with corrections from real frames (`tests/fixtures/kmp/kmp_vectors.json`).
//!
//! [`Measurement`]: crate::reading::Measurement

pub mod codec;
mod failure;
pub mod frame;
pub mod mapping;
pub mod number;
mod poll_config;
pub mod registers;
mod request;
pub mod session;
pub mod units;

pub use codec::{MeterType, RegisterEntry, RegisterValue, Reply};
pub use failure::KmpFailure;
pub use frame::{FrameError, Receiver, ADDRESS_METER, DEFAULT_LINE, KAMSTRUP_382_LINE};
pub use registers::{RegisterSet, UnknownPreset};
pub use session::{Identity, KmpPollConfig, KmpSession, Request, DEFAULT_RETRIES, ERROR_REST};
