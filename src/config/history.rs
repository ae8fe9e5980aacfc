//! `data_dir` and the `history:` section: where the bridge keeps its files, and how long the
//! embedded history (`crate::history`) keeps each resolution.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::duration::check as check_duration;
use super::{dur, Problem};

const DAY: u64 = 86_400;

/// `history:`: the embedded SQLite history behind `GET /api/meters/{id}/history`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Keep a history at all (one SQLite file, `<data_dir>/history.sqlite3`).
    pub enabled: bool,
    /// Per-minute rows older than this are deleted (default 30 days).
    #[serde(with = "dur")]
    pub keep_minutes: Duration,
    /// Hourly rows older than this are deleted (default 1825 days, five years).
    #[serde(with = "dur")]
    pub keep_hours: Duration,
    /// Daily rows older than this are deleted; kept forever when absent.
    #[serde(with = "opt_dur")]
    pub keep_days: Option<Duration>,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            enabled: true,
            keep_minutes: Duration::from_secs(30 * DAY),
            keep_hours: Duration::from_secs(1825 * DAY),
            keep_days: None,
        }
    }
}

impl HistoryConfig {
    /// Each retention has a range: at least a day (a shorter one would delete the minute
    /// rows a day chart is drawn from) and at most about 27 years for minutes and hours
    /// (the configuration's sane bound on durations).
    pub fn check(&self) -> Result<(), Problem> {
        let day = Duration::from_secs(DAY);
        check_duration(
            "history.keep_minutes",
            self.keep_minutes,
            day,
            Duration::from_secs(3650 * DAY),
        )?;
        check_duration(
            "history.keep_hours",
            self.keep_hours,
            day,
            Duration::from_secs(10_000 * DAY),
        )?;
        if let Some(d) = self.keep_days {
            check_duration(
                "history.keep_days",
                d,
                day,
                Duration::from_secs(10_000 * DAY),
            )?;
        }
        Ok(())
    }
}

/// The directory for the bridge's files: `data_dir` when given, else
/// `$XDG_DATA_HOME/meter2mqtt`, else `~/.local/share/meter2mqtt` (the XDG Base Directory
/// Specification's default for user data). `None` when neither variable is set.
pub fn resolve_data_dir(
    configured: Option<&PathBuf>,
    var: impl Fn(&str) -> Option<std::ffi::OsString>,
) -> Option<PathBuf> {
    if let Some(d) = configured {
        return Some(d.clone());
    }
    let nonempty = |k: &str| var(k).filter(|v| !v.is_empty());
    if let Some(x) = nonempty("XDG_DATA_HOME") {
        return Some(PathBuf::from(x).join("meter2mqtt"));
    }
    nonempty("HOME").map(|h| PathBuf::from(h).join(".local/share/meter2mqtt"))
}

/// `Option<Duration>` as a human string (`30d`) or absent.
mod opt_dur {
    use std::time::Duration;

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        super::super::duration::deserialize(d).map(Some)
    }

    pub fn serialize<S: serde::Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(d) => s.serialize_str(&super::super::duration::format(*d)),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const P1: &str = "inputs:\n  - {name: p1, type: p1, device: /dev/ttyUSB0}\n";

    fn yaml(s: &str) -> Result<Config, crate::config::ConfigError> {
        Config::from_yaml(&format!("{s}{P1}"))
    }

    #[test]
    fn defaults_and_ranges() {
        let cfg = yaml("").unwrap();
        assert!(cfg.history.enabled);
        assert_eq!(cfg.history.keep_minutes, Duration::from_secs(30 * DAY));
        assert_eq!(cfg.history.keep_hours, Duration::from_secs(1825 * DAY));
        assert_eq!(cfg.history.keep_days, None);
        let cfg = yaml("data_dir: /data\nhistory:\n  keep_days: 3650d\n").unwrap();
        assert_eq!(cfg.data_dir, Some(PathBuf::from("/data")));
        assert_eq!(cfg.history.keep_days, Some(Duration::from_secs(3650 * DAY)));
        let err = yaml("history:\n  keep_minutes: 1h\n").unwrap_err();
        assert!(err.to_string().contains("history.keep_minutes"), "{err}");
    }

    #[test]
    fn data_dir_follows_xdg() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| std::ffi::OsString::from(v))
            }
        };
        let given = PathBuf::from("/data");
        assert_eq!(resolve_data_dir(Some(&given), env(&[])), Some(given));
        assert_eq!(
            resolve_data_dir(None, env(&[("XDG_DATA_HOME", "/x"), ("HOME", "/h")])),
            Some(PathBuf::from("/x/meter2mqtt"))
        );
        assert_eq!(
            resolve_data_dir(None, env(&[("XDG_DATA_HOME", ""), ("HOME", "/h")])),
            Some(PathBuf::from("/h/.local/share/meter2mqtt"))
        );
        assert_eq!(resolve_data_dir(None, env(&[])), None);
    }
}
