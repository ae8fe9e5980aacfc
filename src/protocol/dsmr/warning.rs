//! What a telegram's decoding skipped or replaced ([`super::Telegram::warnings`]): typed, so a
//! caller can tell them apart (count, filter, show), with the texts the logs always had.
//!
//! A warning never stops the other values of the telegram; the caller logs it (once per
//! distinct text is enough). The texts are built only when shown: a telegram with a bad clock
//! costs a few bytes of copied input, not a formatted line.

use std::fmt;

use super::timestamp::TimeError;
use crate::decimal::Decimal;
use crate::reading::MeterKind;

/// One thing a telegram's decoding skipped or replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TelegramWarning {
    /// An object whose value did not parse (or not in a unit its code allows): skipped.
    /// `line` is the object's text (at most 256 bytes, lossy UTF-8, trimmed).
    MalformedLine { line: String },
    /// A line of the telegram that is not an OBIS object (at most 80 bytes, lossy UTF-8).
    NotAnObject { line: String },
    /// A timestamp that did not parse, or a device's "no clock" marker: the value is kept
    /// with the telegram's (or the receive) time instead. `what` names whose time it was
    /// (`meter`, `M-Bus channel 1`, `peak power`); `time` is the group (at most 20 bytes).
    BadTime {
        what: &'static str,
        time: String,
        error: TimeError,
    },
    /// More M-Bus channels than a telegram may have (`mbus::MAX_CHANNELS`): ignored.
    TooManyChannels { channel: u8 },
    /// An M-Bus value whose unit does not fit the channel's device type: skipped. `unit` is
    /// the unit as the decoder read it.
    UnitDoesNotFit {
        channel: u8,
        kind: MeterKind,
        value: Decimal,
        unit: String,
    },
    /// Bytes before the telegram's `/` that the framer took in (line noise).
    LineNoise { bytes: usize },
    /// An encrypted frame whose inner CRC did not match, accepted because its GCM tag
    /// verified ([`super::CrcStatus::Authenticated`]).
    InnerCrcMismatch { expected: u16, given: u16 },
}

impl fmt::Display for TelegramWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TelegramWarning::MalformedLine { line } => write!(f, "skipped malformed line {line:?}"),
            TelegramWarning::NotAnObject { line } => {
                write!(f, "skipped line that is not an OBIS object: {line:?}")
            }
            TelegramWarning::BadTime { what, time, error } => {
                write!(f, "dropped {what} time {time:?}: {error}")
            }
            TelegramWarning::TooManyChannels { channel } => {
                write!(f, "ignored M-Bus channel {channel}: too many channels")
            }
            TelegramWarning::UnitDoesNotFit {
                channel,
                kind,
                value,
                unit,
            } => write!(
                f,
                "M-Bus channel {channel} ({}): value {value} in unit {unit} does not fit",
                kind.as_str()
            ),
            TelegramWarning::LineNoise { bytes } => write!(
                f,
                "skipped {bytes} bytes of line noise before the telegram's '/'"
            ),
            TelegramWarning::InnerCrcMismatch { expected, given } => write!(
                f,
                "inner CRC mismatch (computed {expected:04X}, telegram says {given:04X}); accepted because the frame's GCM tag verified"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The texts are the ones the logs showed when warnings were strings.
    #[test]
    fn texts_as_before() {
        let w = |w: TelegramWarning| w.to_string();
        assert_eq!(
            w(TelegramWarning::MalformedLine {
                line: "1-0:1.8.1(0001x.000*kWh)".into()
            }),
            r#"skipped malformed line "1-0:1.8.1(0001x.000*kWh)""#
        );
        assert_eq!(
            w(TelegramWarning::NotAnObject {
                line: "garbage \"line\"".into()
            }),
            r#"skipped line that is not an OBIS object: "garbage \"line\"""#
        );
        assert_eq!(
            w(TelegramWarning::BadTime {
                what: "M-Bus channel 1",
                time: "632525252525S".into(),
                error: TimeError::Impossible
            }),
            r#"dropped M-Bus channel 1 time "632525252525S": impossible date or time"#
        );
        assert_eq!(
            w(TelegramWarning::TooManyChannels { channel: 9 }),
            "ignored M-Bus channel 9: too many channels"
        );
        assert_eq!(
            w(TelegramWarning::UnitDoesNotFit {
                channel: 1,
                kind: MeterKind::Gas,
                value: "12.5".parse().expect("decimal"),
                unit: "KWh".into()
            }),
            "M-Bus channel 1 (gas): value 12.5 in unit KWh does not fit"
        );
        assert_eq!(
            w(TelegramWarning::LineNoise { bytes: 3 }),
            "skipped 3 bytes of line noise before the telegram's '/'"
        );
        assert_eq!(
            w(TelegramWarning::InnerCrcMismatch {
                expected: 0xAB,
                given: 0x1234
            }),
            "inner CRC mismatch (computed 00AB, telegram says 1234); accepted because the frame's GCM tag verified"
        );
    }
}
