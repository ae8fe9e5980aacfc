//! Why a MULTICAL `/#n` poll failed ([`MulticalFailure`], inside a
//! [`crate::protocol::PollError`]).

use std::time::Duration;

use super::reply::ReplyError;
use super::scaling::ScalingError;
use super::{Request, Terminator};
use crate::protocol::{Failure, LineSettings};

/// What went wrong in a MULTICAL `/#n` poll.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MulticalFailure {
    /// The poll ended without the `/#1` reply (energy, volume: the readings themselves).
    #[error("no /#1 reply")]
    NoHash1,
    /// The replies came, but no scaling fits them (program number unknown, none configured).
    #[error("{0}")]
    Scaling(ScalingError),
    /// More than `max` bytes without the reply's CR.
    #[error("no CR within {max} bytes")]
    NoCr { max: usize },
    /// A reply line that is not what its request gets; `line` as received (lossy UTF-8,
    /// trailing white space trimmed).
    #[error("/#{} reply {line:?}: {error}", char::from(.request.code()))]
    Reply {
        request: Request,
        line: String,
        error: ReplyError,
    },
    /// The driver stepped a session that had already finished (a driver bug).
    #[error("poll already finished")]
    Finished,
    /// Nothing (or only NULs and spaces) came back within the reply time.
    #[error("no reply at {line} within {timeout:?}")]
    NoReply {
        line: LineSettings,
        timeout: Duration,
    },
    /// A reply started but its CR never came; what arrived, lossy UTF-8.
    #[error("reply cut off before CR: {0:?}")]
    CutOff(String),
    /// The driver sent an event the session did not expect in its state (a driver bug).
    #[error("driver sent {event} while the session was in state {state}")]
    UnexpectedEvent { event: String, state: String },
    /// A request failed on every attempt.
    #[error("{} after {attempts} attempts: {failure}", String::from_utf8_lossy(&.request.encode(Terminator::None)))]
    Retried {
        request: Request,
        attempts: u8,
        failure: Box<Failure>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Parity, PollError};

    /// The texts are the ones the logs and availability showed when failures were strings.
    #[test]
    fn texts_as_before() {
        let no_reply = PollError::NoAnswer(
            MulticalFailure::NoReply {
                line: LineSettings::new(1200, 7, Parity::Even, 2),
                timeout: Duration::from_secs(3),
            }
            .into(),
        );
        let retried = no_reply.map(|f| {
            MulticalFailure::Retried {
                request: Request::Hash1,
                attempts: 4,
                failure: Box::new(f),
            }
            .into()
        });
        assert_eq!(
            retried.to_string(),
            format!(
                "meter did not answer: /#1 after 4 attempts: no reply at {} within 3s",
                LineSettings::new(1200, 7, Parity::Even, 2)
            )
        );
        let reply = MulticalFailure::Reply {
            request: Request::HashC,
            line: "12 x".into(),
            error: ReplyError::FieldCount {
                expected: 8,
                got: 2,
            },
        };
        assert_eq!(
            reply.to_string(),
            r#"/#C reply "12 x": expected 8 fields, got 2"#
        );
        assert_eq!(
            MulticalFailure::CutOff("0012".into()).to_string(),
            r#"reply cut off before CR: "0012""#
        );
    }
}
