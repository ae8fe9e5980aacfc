//! Why a KMP poll failed ([`KmpFailure`], inside a [`crate::protocol::PollError`]).

use super::codec::CodecError;
use super::frame::FrameError;
use super::request::Request;
use crate::protocol::Failure;

/// What went wrong in a KMP poll, with the request it concerned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KmpFailure {
    /// The request could not be built (too many registers for one frame).
    #[error("{0}")]
    Request(CodecError),
    /// Nothing came back within the reply time.
    #[error("no reply to {0}")]
    NoReply(Request),
    /// A frame started but its stop byte never came.
    #[error("{0}: reply cut off before its stop byte")]
    CutOff(Request),
    /// The reply is not a valid KMP frame (CRC, stuffing, address, command).
    #[error("{request}: {error}")]
    Frame { request: Request, error: FrameError },
    /// The frame is valid but its data is not a reply to the request.
    #[error("{request}: {error}")]
    Reply { request: Request, error: CodecError },
    /// None of the register requests was answered.
    #[error("no register reply")]
    NoRegisterReply,
    /// The driver stepped a session that had already finished (a driver bug).
    #[error("session finished")]
    Finished,
    /// The driver sent an event the session did not expect in its state (a driver bug).
    #[error("driver sent {event} while the KMP session was {state}")]
    UnexpectedEvent { event: String, state: String },
    /// The first request failed on every try (the meter was never reached).
    #[error("{failure} (after {tries} tries)")]
    Retried { failure: Box<Failure>, tries: u32 },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::PollError;

    /// The texts are the ones the logs and availability showed when failures were strings.
    #[test]
    fn texts_as_before() {
        let no_reply = PollError::NoAnswer(KmpFailure::NoReply(Request::Serial).into());
        let retried = no_reply.map(|f| {
            KmpFailure::Retried {
                failure: Box::new(f),
                tries: 3,
            }
            .into()
        });
        assert_eq!(
            retried.to_string(),
            "meter did not answer: no reply to GetSerialNo (after 3 tries)"
        );
        let cut = KmpFailure::CutOff(Request::Registers(vec![0x3C, 0x44]));
        assert_eq!(
            PollError::BadReply(cut.into()).to_string(),
            "invalid reply: GetRegister [0x003c, 0x0044]: reply cut off before its stop byte"
        );
        let odd = KmpFailure::UnexpectedEvent {
            event: "Timeout".into(),
            state: "idle".into(),
        };
        assert_eq!(
            odd.to_string(),
            "driver sent Timeout while the KMP session was idle"
        );
        assert!(matches!(
            retried.failure(),
            Failure::Kmp(KmpFailure::Retried { tries: 3, .. })
        ));
    }
}
