//! Configuration: `config.yaml` plus `METER2MQTT_...` environment overrides (figment).
//!
//! Every option is documented in `config.example.yaml`. Unknown keys are errors (a typo must not
//! silently fall back to a default), and [`Config::validate`] checks what serde cannot before
//! anything starts, naming the offending key.

pub mod duration;
mod inputs;
mod polled;
mod secret;

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Serialized, Yaml};
use figment::Figment;
use serde::{Deserialize, Serialize};

pub use inputs::{InputConfig, Link, P1Config, P1Preset, RequestLine, RequestMode, SerialLine};
pub use polled::{BccConfig, Iec62056Config, KmpConfig, MulticalConfig, TerminatorConfig};
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
    /// `error`, `warn`, `info`, `debug`, `trace` or a tracing filter (`meter2mqtt=debug`).
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
    #[error(transparent)]
    Figment(#[from] Box<figment::Error>),
    #[error("`{key}`: {message}")]
    Invalid { key: String, message: String },
}

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

impl Config {
    /// Load `path` (if given) and `METER2MQTT_*` environment variables, then validate.
    /// Nested keys use `__` in the environment: `METER2MQTT_MQTT__PASSWORD`.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(p) = path {
            if !p.exists() {
                return Err(invalid(
                    "--config",
                    format!("file {} does not exist", p.display()),
                ));
            }
            fig = fig.merge(Yaml::file(p));
        }
        // METER2MQTT_CONFIG names the file itself (the CLI's --config), it is not a key.
        fig = fig.merge(Env::prefixed("METER2MQTT_").ignore(&["CONFIG"]).split("__"));
        let cfg: Config = fig.extract().map_err(Box::new)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Load from a YAML string (tests, embedded demo config).
    pub fn from_yaml(yaml: &str) -> Result<Config, ConfigError> {
        let cfg: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Yaml::string(yaml))
            .extract()
            .map_err(Box::new)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks serde cannot express. Every error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = crate::mqtt::BrokerUrl::parse(&self.mqtt.url)
            .map_err(|e| invalid("mqtt.url", e.to_string()))?;
        if self.mqtt.password.is_some() && self.mqtt.password_file.is_some() {
            return Err(invalid(
                "mqtt.password_file",
                "give either mqtt.password or mqtt.password_file, not both",
            ));
        }
        if (self.mqtt.tls.client_cert_file.is_some()) != (self.mqtt.tls.client_key_file.is_some()) {
            return Err(invalid(
                "mqtt.tls.client_key_file",
                "client_cert_file and client_key_file go together",
            ));
        }
        let tls_files = [
            ("mqtt.tls.ca_file", &self.mqtt.tls.ca_file),
            ("mqtt.tls.client_cert_file", &self.mqtt.tls.client_cert_file),
            ("mqtt.tls.client_key_file", &self.mqtt.tls.client_key_file),
            ("mqtt.password_file", &self.mqtt.password_file),
        ];
        for (key, file) in tls_files {
            if let Some(f) = file {
                if !f.exists() {
                    return Err(invalid(key, format!("file {} does not exist", f.display())));
                }
            }
        }
        if !url.tls && self.mqtt.tls.ca_file.is_some() {
            return Err(invalid(
                "mqtt.tls.ca_file",
                "TLS files are given but mqtt.url is not mqtts://",
            ));
        }
        check_topic_part("mqtt.base_topic", &self.mqtt.base_topic)?;
        check_topic_part("homeassistant.prefix", &self.homeassistant.prefix)?;
        if self.mqtt.client_id.is_empty() || self.mqtt.client_id.len() > 23 * 4 {
            return Err(invalid("mqtt.client_id", "must be 1 to 92 characters"));
        }
        if self.mqtt.keepalive < Duration::from_secs(5) {
            return Err(invalid("mqtt.keepalive", "must be at least 5s"));
        }
        if self.mqtt.queue_size == 0 {
            return Err(invalid("mqtt.queue_size", "must be at least 1"));
        }
        if !matches!(self.mqtt.qos, 1 | 2) {
            return Err(invalid(
                "mqtt.qos",
                format!("must be 1 or 2, not {}", self.mqtt.qos),
            ));
        }
        if self.publish.offline_after_intervals == 0 {
            return Err(invalid(
                "publish.offline_after_intervals",
                "must be at least 1",
            ));
        }
        if self.inputs.is_empty() {
            return Err(invalid(
                "inputs",
                "no inputs configured: add at least one meter (see config.example.yaml)",
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, input) in self.inputs.iter().enumerate() {
            let key = format!("inputs[{i}]");
            if !names.insert(input.name()) {
                return Err(invalid(
                    format!("{key}.name"),
                    format!("duplicate input name `{}`", input.name()),
                ));
            }
            input.validate(&key).map_err(|(k, m)| invalid(k, m))?;
        }
        Ok(())
    }

    /// The MQTT password from `password`, `password_file`, in that order.
    pub fn mqtt_password(&self) -> Result<Option<Secret>, ConfigError> {
        if let Some(p) = &self.mqtt.password {
            return Ok(Some(p.clone()));
        }
        if let Some(f) = &self.mqtt.password_file {
            let text = std::fs::read_to_string(f)
                .map_err(|e| invalid("mqtt.password_file", format!("{}: {e}", f.display())))?;
            return Ok(Some(Secret::new(
                text.trim_end_matches(['\r', '\n']).to_string(),
            )));
        }
        Ok(None)
    }
}

fn check_topic_part(key: &str, topic: &str) -> Result<(), ConfigError> {
    if topic.is_empty()
        || topic.contains(['+', '#', '\0'])
        || topic.starts_with('/')
        || topic.ends_with('/')
    {
        return Err(invalid(
            key,
            format!("`{topic}` is not a valid topic prefix (no +, #, leading or trailing /)"),
        ));
    }
    Ok(())
}

/// Warn when a config file holding secrets is readable by other users (a Pi is often shared).
#[cfg(unix)]
pub fn world_readable_secret_warning(path: &Path, cfg: &Config) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let has_secret = cfg.mqtt.password.is_some() || cfg.inputs.iter().any(|i| i.has_secret());
    let mode = std::fs::metadata(path).ok()?.permissions().mode();
    (has_secret && mode & 0o004 != 0).then(|| {
        format!(
            "{} contains secrets and is readable by other users (mode {:o}); run: chmod 600 {}",
            path.display(),
            mode & 0o777,
            path.display()
        )
    })
}

#[cfg(not(unix))]
pub fn world_readable_secret_warning(_path: &Path, _cfg: &Config) -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_config_validates() {
        let cfg =
            Config::from_yaml("inputs:\n  - name: p1\n    type: p1\n    device: /dev/ttyUSB0\n")
                .unwrap();
        assert_eq!(cfg.mqtt.base_topic, "meter2mqtt");
        assert_eq!(cfg.inputs[0].name(), "p1");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_yaml("mqtt:\n  urll: x\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("urll"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let err = Config::from_yaml(
            "mqtt:\n  url: http://x\ninputs:\n  - {name: a, type: p1, host: h, port: 1}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("mqtt.url"), "{err}");
        let err = Config::from_yaml(
            "inputs:\n  - {name: a, type: p1, host: h, port: 1}\n  - {name: a, type: p1, host: h, port: 2}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("inputs[1].name"), "{err}");
        let err = Config::from_yaml(
            "mqtt:\n  qos: 0\ninputs:\n  - {name: a, type: p1, host: h, port: 1}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("mqtt.qos") && err.contains("1 or 2"), "{err}");
        let err = Config::from_yaml("publish:\n  min_interval: 3 fortnights\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("min_interval"), "{err}");
    }

    #[test]
    fn password_never_printed() {
        let cfg = Config::from_yaml(
            "mqtt:\n  password: hunter2\ninputs:\n  - {name: a, type: p1, host: h, port: 1}\n",
        )
        .unwrap();
        let dbg = format!("{cfg:?}");
        let yaml = serde_json::to_string(&cfg).unwrap();
        assert!(!dbg.contains("hunter2") && !yaml.contains("hunter2"));
        assert_eq!(cfg.mqtt_password().unwrap().unwrap().expose(), "hunter2");
    }
}

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
