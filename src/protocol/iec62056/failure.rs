//! Why an IEC 62056-21 readout failed ([`Iec62056Failure`], inside a
//! [`crate::protocol::PollError`]).

use std::time::Duration;

use super::block::BlockError;
use super::ident::IdentError;
use crate::protocol::{Failure, LineSettings};

/// What went wrong in an IEC 62056-21 readout.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Iec62056Failure {
    /// No line end within the identification's longest length.
    #[error("identification line too long")]
    IdentTooLong,
    /// The identification line (lossy UTF-8, without CR LF) is not one (§6.3.14).
    #[error("identification {line:?}: {error}")]
    Ident { line: String, error: IdentError },
    /// The data message could not be framed (STX ... ETX BCC).
    #[error("{0}")]
    Message(BlockError),
    /// The data message is framed but its BCC or data block is wrong.
    #[error("data message: {0}")]
    Data(BlockError),
    /// A data message came before any identification.
    #[error("data before identification")]
    DataBeforeIdent,
    /// The driver stepped a session that had already finished (a driver bug).
    #[error("poll already finished")]
    Finished,
    /// No identification within the reply time after the sign-on.
    #[error("no identification at {line} within {timeout:?}")]
    NoIdent {
        line: LineSettings,
        timeout: Duration,
    },
    /// More bytes than the longest data message.
    #[error("data message too long")]
    DataTooLong,
    /// The data message started (STX) but did not end.
    #[error("data message cut off after {bytes} bytes at {baud} baud")]
    DataCutOff { bytes: usize, baud: u32 },
    /// No data message after the acknowledgement.
    #[error("no data message at {baud} baud")]
    NoData { baud: u32 },
    /// The driver sent an event the session did not expect in its state (a driver bug).
    #[error("driver sent {event} while the session was in state {state}")]
    UnexpectedEvent { event: String, state: String },
    /// Every attempt of the readout failed.
    #[error("{failure} ({attempts} attempts)")]
    Retried { failure: Box<Failure>, attempts: u8 },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::PollError;

    /// The texts are the ones the logs and availability showed when failures were strings.
    #[test]
    fn texts_as_before() {
        let retried = PollError::NoAnswer(Iec62056Failure::NoData { baud: 2400 }.into()).map(|f| {
            Iec62056Failure::Retried {
                failure: Box::new(f),
                attempts: 3,
            }
            .into()
        });
        assert_eq!(
            retried.to_string(),
            "meter did not answer: no data message at 2400 baud (3 attempts)"
        );
        assert_eq!(
            Iec62056Failure::DataCutOff {
                bytes: 12,
                baud: 4800
            }
            .to_string(),
            "data message cut off after 12 bytes at 4800 baud"
        );
        assert_eq!(
            Iec62056Failure::Ident {
                line: "/LUGCUH50".into(),
                error: IdentError::TooShort,
            }
            .to_string(),
            format!("identification \"/LUGCUH50\": {}", IdentError::TooShort)
        );
    }
}
