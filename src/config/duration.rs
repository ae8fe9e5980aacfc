//! Durations in configuration files: `10s`, `1500ms`, `15m`, `2h`, `1d`, or a plain number of
//! seconds, so users never have to guess the unit of a timeout.

use std::time::Duration;

use crate::config::Problem;

use serde::Deserializer;

/// No duration in the configuration is longer than this (about 31 years): every key has a
/// narrower range (see [`check`]), and this bound keeps `Duration::from_secs_f64` from
/// panicking on `1e300` before that range is checked.
const SANE_SECS: f64 = 1e9;

/// Why a configured duration was not taken; each names the text as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    #[error("`{0}` is not a duration (examples: 500ms, 10s, 15m, 2h)")]
    NotADuration(String),
    #[error("unknown duration unit `{unit}` in `{text}` (use ms, s, m, h or d)")]
    UnknownUnit { unit: String, text: String },
    #[error("duration `{0}` is out of range (each key's range is in config.example.yaml)")]
    OutOfRange(String),
}

/// Parse `500ms`, `10s`, `15m`, `2h`, `1d` or a bare number of seconds (`1.5`, `1e3`).
pub fn parse_duration(s: &str) -> Result<Duration, DurationError> {
    let s = s.trim();
    if let Some(secs) = super::scalar::parse_float(s) {
        return from_secs(secs, s);
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| DurationError::NotADuration(s.to_string()))?;
    let factor = match unit.trim() {
        "ms" => 0.001,
        "" | "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        other => {
            return Err(DurationError::UnknownUnit {
                unit: other.to_string(),
                text: s.to_string(),
            })
        }
    };
    from_secs(value * factor, s)
}

fn from_secs(secs: f64, text: &str) -> Result<Duration, DurationError> {
    if !secs.is_finite() || !(0.0..=SANE_SECS).contains(&secs) {
        return Err(DurationError::OutOfRange(text.to_string()));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Serde adapter: `#[serde(deserialize_with = "duration::deserialize")]`. The text is asked
/// for (not a number), so `1e300` and `18446744073709551615` get the same range check as `10s`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    struct V;
    impl serde::de::Visitor<'_> for V {
        type Value = Duration;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a duration such as 500ms, 10s, 15m, 2h or a number of seconds")
        }
        fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Duration, E> {
            parse_duration(s).map_err(E::custom)
        }
        fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<Duration, E> {
            from_secs(n as f64, &n.to_string()).map_err(E::custom)
        }
        fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<Duration, E> {
            from_secs(n as f64, &n.to_string()).map_err(E::custom)
        }
        fn visit_f64<E: serde::de::Error>(self, f: f64) -> Result<Duration, E> {
            from_secs(f, &f.to_string()).map_err(E::custom)
        }
    }
    d.deserialize_str(V)
}

/// The range of one duration key, checked at load so that no timer or deadline computed from
/// it can overflow (`Instant + Duration` panics on overflow).
pub fn check(key: &str, d: Duration, min: Duration, max: Duration) -> Result<(), Problem> {
    if d < min || d > max {
        return Err(Problem::new(
            key.to_string(),
            format!(
                "{} is out of range: give {} to {}",
                format(d),
                format(min),
                format(max)
            ),
        ));
    }
    Ok(())
}

/// Human form for `check-config` output.
pub fn format(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 3_600_000 == 0 && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms % 60_000 == 0 && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert_eq!(format(Duration::from_secs(900)), "15m");
        assert_eq!(parse_duration("1e3"), Ok(Duration::from_secs(1000)));
        assert_eq!(parse_duration(".5"), Ok(Duration::from_millis(500)));
        for huge in [
            "1e300",
            "1e20",
            "18446744073709551615",
            "-1",
            ".inf",
            ".nan",
            "1e9m",
        ] {
            assert!(parse_duration(huge).is_err(), "{huge}");
        }
    }

    /// The errors are typed and read as they always did in `check-config`.
    #[test]
    fn errors_are_typed_with_their_texts() {
        assert_eq!(
            parse_duration("10 parsecs"),
            Err(DurationError::UnknownUnit {
                unit: "parsecs".into(),
                text: "10 parsecs".into()
            })
        );
        assert_eq!(
            parse_duration("x").map_err(|e| e.to_string()),
            Err("`x` is not a duration (examples: 500ms, 10s, 15m, 2h)".to_string())
        );
        assert_eq!(
            parse_duration("1e300").map_err(|e| e.to_string()),
            Err(
                "duration `1e300` is out of range (each key's range is in config.example.yaml)"
                    .to_string()
            )
        );
    }
}
