//! IEC 62056-21 (formerly IEC 61107) optical readout: modes A, B and C, data readout only.
//!
//! The reader signs on with `/?!` CR LF at 300 baud, the meter identifies itself with
//! `/XXXZ<ident>` CR LF, the speed may change (mode B by itself, mode C after the reader's
//! acknowledgement), and the meter sends one data message `STX data-block ! CR LF ETX BCC`.
//!
//! Code map: [`ident`] (identification line, baud codes, modes), [`block`] (data message
//! framing and BCC), [`dataset`] (data sets `C.D(value*unit)` and their formatter),
//! [`mapping`] (data sets → [`crate::reading::Reading`]), [`profile`] (meter profiles),
//! [`session`] (the [`crate::protocol::PollSession`]), [`units`] (units, exact conversions,
//! heat quantities).
//!
//! Sources: IEC 62056-21:2002 §6.3 (message definitions), §6.4 (communication modes A-C) and
//! its timing table; Kamstrup "382 communication interface specification" (7-bit sum BCC);
//! the team notes (`shared/notes/kamstrup.md`) and the captures in
//! `tests/fixtures/iec62056/`.

pub mod block;
pub mod dataset;
mod failure;
pub mod ident;
pub mod mapping;
pub mod profile;
pub mod session;
pub mod units;

pub use block::{bcc, find_message, BccMode, BlockError, Message};
pub use dataset::{format_data_set, parse_data_block, DataSet, SubValue};
pub use failure::Iec62056Failure;
pub use ident::{BaudCode, Identification, Mode};
pub use mapping::{map_readout, Mapped, MappingIssue};
pub use profile::Profile;
pub use session::{Iec62056Options, Iec62056Session};

/// Start of text: opens the data message (IEC 62056-21 §6.3, "data message").
pub const STX: u8 = 0x02;
/// End of text: closes the data message; the BCC follows it (§6.3).
pub const ETX: u8 = 0x03;
/// Acknowledge: first byte of the mode C "acknowledgement/option select" message (§6.3).
pub const ACK: u8 = 0x06;
/// NAK: the reader's request to repeat a message (§6.3); not sent by this reader.
pub const NAK: u8 = 0x15;
/// Carriage return and line feed end the request, identification and data lines (§6.3).
pub const CR: u8 = 0x0D;
pub const LF: u8 = 0x0A;
/// `!`: end of the data block, and end of the request message (§6.3).
pub const END: u8 = b'!';
