//! Configuration: `config.yaml` plus `METER2MQTT_...` environment overrides.
//!
//! Every option is documented in `config.example.yaml`. Values are taken as typed: the file is
//! read into a tree that keeps each scalar's text (`config/yaml.rs`), the environment is laid
//! over it (`config/env.rs`), and a deserializer driven by each key's type (`config/de.rs`)
//! gives string keys the exact text. Unknown and duplicate keys are errors (a typo must not silently fall back to a
//! default), and [`Config::validate`] checks what serde cannot before anything starts. Every
//! error names the key, and the line or environment variable it came from.

mod de;
pub mod duration;
mod env;
pub mod files;
mod history;
mod http;
mod inputs;
mod scalar;
mod secret;
mod validate;
mod yaml;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use history::{resolve_data_dir, HistoryConfig};
pub use http::HttpConfig;
pub use inputs::{
    BccConfig, Iec62056Config, InputConfig, KmpConfig, Link, MulticalConfig, P1Config, P1Preset,
    RequestLine, RequestMode, SerialLine, ServeAddr, TerminatorConfig, SERVE_CLIENTS_MAX,
};
pub use secret::Secret;

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub mqtt: MqttConfig,
    pub homeassistant: HomeAssistantConfig,
    pub publish: PublishConfig,
    pub inputs: Vec<InputConfig>,
    pub log: LogConfig,
    /// Where the bridge keeps its files (the history database); see [`Config::data_dir`].
    pub data_dir: Option<PathBuf>,
    pub history: HistoryConfig,
    /// The web page, JSON API and `/metrics` (`config/http.rs`).
    pub http: HttpConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConfig {
    /// `mqtt://host:1883` or `mqtts://host:8883`.
    pub url: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Read the password from this file (Docker/Kubernetes secrets); trailing newline ignored.
    pub password_file: Option<PathBuf>,
    pub client_id: String,
    #[serde(with = "dur")]
    pub keepalive: Duration,
    /// All bridge topics live under this prefix.
    pub base_topic: String,
    pub tls: TlsConfig,
    /// Messages kept while the broker is unreachable; the oldest are dropped beyond this.
    pub queue_size: usize,
    /// QoS of everything published: 1 (at-least-once, clean sessions) or 2 (exactly-once over
    /// a persistent session; needs a broker that persists sessions, see docs/reliability.md).
    pub qos: u8,
    /// Also publish every quantity as a plain number on `<base>/<meter>/<key>`.
    pub per_quantity_topics: bool,
    /// Also publish every raw telegram on `<base>/<input>/raw`.
    pub raw_topic: bool,
}

impl Default for MqttConfig {
    fn default() -> Self {
        MqttConfig {
            url: "mqtt://localhost:1883".into(),
            username: None,
            password: None,
            password_file: None,
            client_id: "meter2mqtt".into(),
            keepalive: Duration::from_secs(30),
            base_topic: "meter2mqtt".into(),
            tls: TlsConfig::default(),
            queue_size: 10_000,
            qos: 1,
            per_quantity_topics: false,
            raw_topic: false,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM CA certificate(s) that signed the broker's certificate; system roots when absent.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and key, for brokers that require client authentication.
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HomeAssistantConfig {
    /// Publish Home Assistant / Domoticz discovery configs.
    pub discovery: bool,
    /// Discovery prefix (`homeassistant` in HA and Domoticz by default).
    pub prefix: String,
    /// HA's (and Domoticz's) birth topic: `online` there means "republish discovery and states".
    pub status_topic: String,
    /// Entities of a meter not seen for this long after start are removed from discovery.
    #[serde(with = "dur")]
    pub stale_meter_timeout: Duration,
}

impl Default for HomeAssistantConfig {
    fn default() -> Self {
        HomeAssistantConfig {
            discovery: true,
            prefix: "homeassistant".into(),
            status_topic: "homeassistant/status".into(),
            stale_meter_timeout: Duration::from_secs(24 * 3600),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublishConfig {
    /// At most one state message per meter per this interval; the newest reading in between is
    /// published when it ends (Domoticz users: 10s).
    #[serde(with = "dur")]
    pub min_interval: Duration,
    /// Skip a state whose values equal the last published one.
    pub on_change: bool,
    /// A meter goes `offline` after this many expected intervals without a reading.
    pub offline_after_intervals: u32,
}

impl Default for PublishConfig {
    fn default() -> Self {
        PublishConfig {
            min_interval: Duration::ZERO,
            on_change: false,
            offline_after_intervals: 3,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug`, `trace` or `target=level` pairs
    /// (`meter2mqtt=debug,info`; `tracing_subscriber::filter::Targets` syntax).
    pub level: String,
    /// `text` (human) or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// `Duration` fields as human strings (`10s`) in both directions.
pub(crate) mod dur {
    use std::time::Duration;

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        super::duration::deserialize(d)
    }

    pub fn serialize<S: serde::Serializer>(v: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::duration::format(*v))
    }
}
pub(crate) use dur as duration_serde;

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file is not valid YAML, or uses YAML this program refuses (duplicate keys, aliases).
    #[error("{at}: {message}")]
    Syntax { at: String, message: String },
    /// A value of the wrong type or out of its range; `at` is the line or the variable.
    #[error("{}", located(key, at, message))]
    Value {
        key: String,
        at: String,
        message: String,
    },
    /// A `METER2MQTT_*` variable that names no key.
    #[error("{var}: {message}")]
    Env { var: String, message: String },
    #[error("`{key}`: {message}")]
    Invalid { key: String, message: String },
}

fn located(key: &str, at: &str, message: &str) -> String {
    if key.is_empty() {
        format!("{at}: {message}")
    } else {
        format!("`{key}` ({at}): {message}")
    }
}

/// One problem with one key, found by validation: the key's path (`inputs[0].port`) and what
/// is wrong with it. Becomes [`ConfigError::Invalid`] (same text) at the configuration's edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}`: {message}")]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl Problem {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The same problem one level down: `preset` under `inputs[0]` is `inputs[0].preset`
    /// (a check that knows its own key but not where its section is).
    pub fn under(mut self, section: &str) -> Self {
        if !section.is_empty() {
            self.key = format!("{section}.{}", self.key);
        }
        self
    }
}

impl From<Problem> for ConfigError {
    fn from(p: Problem) -> Self {
        ConfigError::Invalid {
            key: p.key,
            message: p.message,
        }
    }
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

impl From<de::DeError> for ConfigError {
    fn from(e: de::DeError) -> Self {
        ConfigError::Value {
            key: e.key.unwrap_or_default(),
            at: e.at.map(|a| a.to_string()).unwrap_or_default(),
            message: e.message,
        }
    }
}

fn parse_yaml(text: &str) -> Result<yaml::Node, ConfigError> {
    yaml::parse(text, None).map_err(|e| ConfigError::Syntax {
        at: e.at.to_string(),
        message: e.message,
    })
}

/// Deserialize and validate; a validation error gets the line (or variable) of its key.
fn from_tree(root: &yaml::Node) -> Result<Config, ConfigError> {
    let cfg = Config::deserialize(de::NodeDe::new(root, String::new()))?;
    cfg.validate().map_err(|e| match e {
        ConfigError::Invalid { key, message } => match root.origin_of(&key) {
            Some(at) => ConfigError::Value {
                key,
                at: at.to_string(),
                message,
            },
            None => ConfigError::Invalid { key, message },
        },
        other => other,
    })?;
    Ok(cfg)
}

impl Config {
    /// `data_dir`, or the per-user default (`$XDG_DATA_HOME/meter2mqtt`,
    /// `~/.local/share/meter2mqtt`); `None` if neither is known.
    pub fn data_dir(&self) -> Option<PathBuf> {
        resolve_data_dir(self.data_dir.as_ref(), |k| std::env::var_os(k))
    }

    /// Load `path` (if given) and `METER2MQTT_*` environment variables, then validate.
    /// Nested keys use `__` in the environment: `METER2MQTT_MQTT__PASSWORD`.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(path, std::env::vars_os())
    }

    /// [`Config::load`] with the given environment instead of the process's.
    pub fn load_with_env(
        path: Option<&Path>,
        vars: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> Result<Config, ConfigError> {
        let mut root = match path {
            Some(p) => {
                let bytes = files::read_config(p)?;
                let text = String::from_utf8(bytes).map_err(|_| {
                    invalid("--config", format!("{} is not UTF-8 text", p.display()))
                })?;
                parse_yaml(&text)?
            }
            None => yaml::Node::empty_map(yaml::Origin::File { line: 1, col: 1 }),
        };
        env::overlay(&mut root, vars)?;
        from_tree(&root)
    }

    /// Load from a YAML string (tests, embedded demo config).
    pub fn from_yaml(yaml: &str) -> Result<Config, ConfigError> {
        from_tree(&parse_yaml(yaml)?)
    }

    /// The MQTT password from `password`, `password_file`, in that order. The file must be a
    /// regular file of at most [`files::PASSWORD_FILE_LIMIT`] bytes; one trailing newline
    /// (`\n` or `\r\n`, as `echo` and editors leave) is not part of the password.
    pub fn mqtt_password(&self) -> Result<Option<Secret>, ConfigError> {
        if let Some(p) = &self.mqtt.password {
            return Ok(Some(p.clone()));
        }
        if let Some(f) = &self.mqtt.password_file {
            let key = "mqtt.password_file";
            let bytes =
                files::read_limited(key, f, files::PASSWORD_FILE_LIMIT, files::Shown::Hidden)?;
            let text =
                String::from_utf8(bytes).map_err(|_| invalid(key, "the file is not UTF-8 text"))?;
            let text = text.strip_suffix('\n').unwrap_or(&text);
            let text = text.strip_suffix('\r').unwrap_or(text);
            return Ok(Some(Secret::new(text.to_string())));
        }
        Ok(None)
    }
}

/// Warn when a config file holding secrets is readable by other users (a Pi is often shared).
/// Only secrets written *in the file* count: a password given by `METER2MQTT_MQTT__PASSWORD`
/// is not exposed by the file's mode.
#[cfg(unix)]
pub fn world_readable_secret_warning(path: &Path, _cfg: &Config) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).ok()?;
    let mode = meta.permissions().mode();
    if mode & 0o004 == 0 || !owned_by_us(&meta) {
        return None;
    }
    let text = String::from_utf8(files::read_config(path).ok()?).ok()?;
    file_holds_secret(&parse_yaml(&text).ok()?).then(|| {
        format!(
            "{} contains secrets and is readable by other users (mode {:o}); run: chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        )
    })
}

/// The secrets a configuration file can hold: `mqtt.password`, `http.auth_token` and a P1 input's
/// `decryption_key` and `authentication_key`.
fn file_holds_secret(root: &yaml::Node) -> bool {
    root.origin_of("mqtt.password").is_some()
        || root.origin_of("http.auth_token").is_some()
        || (0..)
            .map_while(|i| root.origin_of(&format!("inputs[{i}]")).map(|_| i))
            .any(|i| {
                ["decryption_key", "authentication_key"]
                    .iter()
                    .any(|k| root.origin_of(&format!("inputs[{i}].{k}")).is_some())
            })
}

/// The file belongs to the user the bridge runs as: only then is `chmod 600` a fix. A
/// Docker/Kubernetes secret is mounted root-owned and mode 0444 on purpose (the bridge, as
/// uid 1000, reads it through the "other" bits); warning there would ask for a change that
/// locks the bridge out.
#[cfg(unix)]
fn owned_by_us(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: geteuid has no preconditions and cannot fail (POSIX.1-2008).
    meta.uid() == unsafe { libc::geteuid() }
}

/// Warn when `mqtt.password_file` is readable by other users: the password in it is then
/// no more secret than in a world-readable configuration file.
#[cfg(unix)]
pub fn password_file_warning(cfg: &Config) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let path = cfg.mqtt.password_file.as_ref()?;
    let meta = std::fs::metadata(path).ok()?;
    let mode = meta.permissions().mode();
    (meta.is_file() && mode & 0o004 != 0 && owned_by_us(&meta)).then(|| {
        format!(
            "mqtt.password_file {} is readable by other users (mode {:o}); run: chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        )
    })
}

#[cfg(not(unix))]
pub fn password_file_warning(_cfg: &Config) -> Option<String> {
    None
}

#[cfg(not(unix))]
pub fn world_readable_secret_warning(_path: &Path, _cfg: &Config) -> Option<String> {
    None
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod example_tests {
    /// The documented example must stay a valid configuration.
    #[test]
    fn example_config_is_valid() {
        let cfg = super::Config::from_yaml(include_str!("../../config.example.yaml"))
            .expect("config.example.yaml");
        assert_eq!(cfg.inputs.len(), 1);
    }

    /// The commented examples of the polled inputs are valid when uncommented.
    #[test]
    fn example_polled_inputs_are_valid() {
        let text = include_str!("../../config.example.yaml");
        let start = text.find("  # - name: heat").expect("kmp example");
        let uncommented: String = text[start..]
            .lines()
            .filter(|l| l.starts_with("  # - ") || l.starts_with("  #   "))
            .map(|l| l.replacen("  # ", "  ", 1))
            .map(|l| match l.find(" #") {
                Some(i) if !l.trim_start().starts_with('#') => l[..i].to_string(),
                _ => l,
            })
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        let cfg = super::Config::from_yaml(&format!("inputs:\n{uncommented}\n"))
            .unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
        assert_eq!(cfg.inputs.len(), 3);
    }
}
