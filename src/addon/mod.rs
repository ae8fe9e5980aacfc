//! `meter2mqtt addon`: the Home Assistant add-on's start-up, done by the binary itself.
//!
//! The image is `FROM scratch` (no shell, no bashio), so the binary reads what the Supervisor
//! gives an add-on: the user's options as `/data/options.json` (Home Assistant developer docs,
//! "Add-on configuration": options are written there as JSON), and the MQTT broker from the
//! services API ([`supervisor`]) unless the options name one. From these it writes the same
//! configuration tree a `config.yaml` would hold and hands it to the configuration loader
//! ([`Config::from_yaml`]; the tree is JSON text, which is YAML 1.2 flow style), so every check
//! `meter2mqtt run` makes applies here too and there is one source of truth for defaults.
//!
//! The option names of an input are the configuration's own keys (`device`, `preset`,
//! `decryption_key`, ...), so an error about `inputs[0].preset` names the option the user set.
//! The few top-level options are flat (`mqtt_url`, `base_topic`) because the add-on UI shows
//! flat forms best; [`TOP_LEVEL`] says where each goes.
//!
//! `METER2MQTT_*` environment variables are not applied: the image sets some for plain Docker
//! (the HTTP listener), and in the add-on the options are the one source.

pub mod fields;
pub mod supervisor;

use std::path::Path;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::config::{files, Config, ConfigError, Secret};
pub use supervisor::{MqttService, SupervisorError};

/// Where the Supervisor writes the options.
pub const DEFAULT_OPTIONS: &str = "/data/options.json";
/// The add-on's persistent directory (history lives here; the Supervisor backs it up).
pub const DATA_DIR: &str = "/data";
/// The web page's listener in the add-on: all interfaces of the add-on's own network, on the
/// port `ingress_port` names in `ha-addon/meter2mqtt/config.yaml` (ingress proxies to it).
pub const INGRESS_LISTEN: &str = "0.0.0.0:8099";

/// The add-on's options, as `ha-addon/meter2mqtt/config.yaml`'s `schema` describes them.
/// Unknown fields are refused: an option the parser ignored would silently do nothing.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddonOptions {
    /// The meters' connections.
    #[serde(default)]
    pub inputs: Vec<InputOptions>,
    /// A broker of the user's own (`mqtt://host:1883`); without it the Supervisor's `mqtt`
    /// service (the Mosquitto add-on) is used.
    #[serde(default)]
    pub mqtt_url: Option<String>,
    #[serde(default)]
    pub mqtt_username: Option<String>,
    #[serde(default)]
    pub mqtt_password: Option<Secret>,
    #[serde(default)]
    pub base_topic: Option<String>,
    #[serde(default)]
    pub discovery: Option<bool>,
    #[serde(default)]
    pub min_interval: Option<String>,
    #[serde(default)]
    pub log_level: Option<String>,
    /// Keep the readings' history in `/data` for the web page (the `history` section).
    #[serde(default)]
    pub history: Option<bool>,
}

/// One input. The names are the configuration's keys of an input (`config.example.yaml`);
/// which of them apply depends on `type`, and the loader refuses the others by name.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputOptions {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub device: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    /// P1: auto, dsmr22, dsmr4, dsmr5. KMP: multical_60x, multical_40x, multical_21,
    /// kamstrup_382.
    #[serde(default)]
    pub preset: Option<String>,
    #[serde(default)]
    pub request_line: Option<String>,
    #[serde(default)]
    pub request_mode: Option<String>,
    #[serde(default)]
    pub decryption_key: Option<Secret>,
    #[serde(default)]
    pub authentication_key: Option<Secret>,
    #[serde(default)]
    pub meter_id: Option<String>,
    #[serde(default)]
    pub device_name: Option<String>,
    #[serde(default)]
    pub poll_interval: Option<String>,
    /// IEC 62056-21: ultraheat, kamstrup_382, multical_401, generic.
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub wake_up: Option<bool>,
}

/// The top-level options and the configuration key each one sets.
pub const TOP_LEVEL: [(&str, &str); 8] = [
    ("mqtt_url", "mqtt.url"),
    ("mqtt_username", "mqtt.username"),
    ("mqtt_password", "mqtt.password"),
    ("base_topic", "mqtt.base_topic"),
    ("discovery", "homeassistant.discovery"),
    ("min_interval", "publish.min_interval"),
    ("log_level", "log.level"),
    ("history", "history.enabled"),
];

/// Why the add-on cannot start. No variant carries a password, key or token.
#[derive(Debug, thiserror::Error)]
pub enum AddonError {
    #[error("{0}")]
    Read(#[source] ConfigError),
    #[error("the add-on options are not valid: {0}")]
    Options(String),
    /// A configuration problem, named by the option that caused it.
    #[error("add-on option `{option}`: {message}")]
    Config { option: String, message: String },
    #[error(transparent)]
    Supervisor(#[from] SupervisorError),
}

/// Read and parse the options file (at most [`files::CONFIG_FILE_LIMIT`] bytes).
pub fn read_options(path: &Path) -> Result<AddonOptions, AddonError> {
    let bytes = files::read_limited(
        "--options",
        path,
        files::CONFIG_FILE_LIMIT,
        files::Shown::Path,
    )
    .map_err(AddonError::Read)?;
    parse_options(&bytes)
}

/// Parse options JSON. An optional text option the UI left empty (`""`) counts as unset.
pub fn parse_options(json: &[u8]) -> Result<AddonOptions, AddonError> {
    let mut o: AddonOptions =
        serde_json::from_slice(json).map_err(|e| AddonError::Options(e.to_string()))?;
    let unset = |s: &mut Option<String>| {
        if s.as_deref().is_some_and(|v| v.trim().is_empty()) {
            *s = None;
        }
    };
    for s in [
        &mut o.mqtt_url,
        &mut o.mqtt_username,
        &mut o.base_topic,
        &mut o.min_interval,
        &mut o.log_level,
    ] {
        unset(s);
    }
    if o.mqtt_password
        .as_ref()
        .is_some_and(|p| p.expose().is_empty())
    {
        o.mqtt_password = None;
    }
    for i in &mut o.inputs {
        for s in [
            &mut i.device,
            &mut i.host,
            &mut i.preset,
            &mut i.request_line,
            &mut i.request_mode,
            &mut i.meter_id,
            &mut i.device_name,
            &mut i.poll_interval,
            &mut i.profile,
        ] {
            unset(s);
        }
        for k in [&mut i.decryption_key, &mut i.authentication_key] {
            if k.as_ref().is_some_and(|s| s.expose().is_empty()) {
                *k = None;
            }
        }
    }
    Ok(o)
}

impl AddonOptions {
    /// Whether the broker must come from the Supervisor (no `mqtt_url` in the options).
    pub fn needs_supervisor(&self) -> bool {
        self.mqtt_url.is_none()
    }
}

/// Whether the configuration has a top-level section `name` on this build (`http`,
/// `history` and `data_dir` belong to the web and history modules).
fn config_has(name: &str) -> bool {
    fields::struct_fields::<Config>().contains(&name)
}

fn put(map: &mut Map<String, Value>, path: &str, value: Value) {
    let mut map = map;
    let mut parts = path.split('.').peekable();
    while let Some(p) = parts.next() {
        if parts.peek().is_none() {
            map.insert(p.to_string(), value);
            return;
        }
        let entry = map
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        match entry {
            Value::Object(m) => map = m,
            _ => return,
        }
    }
}

fn text(s: &str) -> Value {
    Value::String(s.to_string())
}

/// Where the add-on keeps its files and serves its page: [`DATA_DIR`] and [`INGRESS_LISTEN`]
/// in Home Assistant; tests give a temporary directory and port 0 so that parallel runs
/// never share a file or a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub data_dir: String,
    pub http_listen: String,
}

impl Default for Placement {
    fn default() -> Self {
        Placement {
            data_dir: DATA_DIR.into(),
            http_listen: INGRESS_LISTEN.into(),
        }
    }
}

/// The configuration tree for `opts`, with the broker from the Supervisor when the options
/// name none. It holds the passwords and keys: never log or print it.
pub fn config_tree(opts: &AddonOptions, broker: Option<&MqttService>, at: &Placement) -> Value {
    let mut root = Map::new();
    match (&opts.mqtt_url, broker) {
        (Some(url), _) => {
            put(&mut root, "mqtt.url", text(url));
            if let Some(u) = &opts.mqtt_username {
                put(&mut root, "mqtt.username", text(u));
            }
            if let Some(p) = &opts.mqtt_password {
                put(&mut root, "mqtt.password", text(p.expose()));
            }
        }
        (None, Some(b)) => {
            put(&mut root, "mqtt.url", text(&b.url()));
            if let Some(u) = &b.username {
                put(&mut root, "mqtt.username", text(u));
            }
            if let Some(p) = &b.password {
                put(&mut root, "mqtt.password", text(p.expose()));
            }
        }
        (None, None) => {}
    }
    if let Some(t) = &opts.base_topic {
        put(&mut root, "mqtt.base_topic", text(t));
    }
    if let Some(d) = opts.discovery {
        put(&mut root, "homeassistant.discovery", Value::Bool(d));
    }
    if let Some(m) = &opts.min_interval {
        put(&mut root, "publish.min_interval", text(m));
    }
    if let Some(l) = &opts.log_level {
        put(&mut root, "log.level", text(l));
    }
    // The web page behind ingress and the history in /data, once this build has them.
    if config_has("data_dir") {
        put(&mut root, "data_dir", text(&at.data_dir));
    }
    if config_has("http") {
        put(&mut root, "http.listen", text(&at.http_listen));
    }
    if let (Some(h), true) = (opts.history, config_has("history")) {
        put(&mut root, "history.enabled", Value::Bool(h));
    }
    let inputs = opts.inputs.iter().map(input_tree).collect();
    root.insert("inputs".into(), Value::Array(inputs));
    Value::Object(root)
}

fn input_tree(i: &InputOptions) -> Value {
    let mut m = Map::new();
    // `type` first, as the loader's input dispatch reads it first anyway.
    m.insert("type".into(), text(&i.kind));
    m.insert("name".into(), text(&i.name));
    let texts = [
        ("device", &i.device),
        ("host", &i.host),
        ("preset", &i.preset),
        ("request_line", &i.request_line),
        ("request_mode", &i.request_mode),
        ("meter_id", &i.meter_id),
        ("device_name", &i.device_name),
        ("poll_interval", &i.poll_interval),
        ("profile", &i.profile),
    ];
    for (k, v) in texts {
        if let Some(v) = v {
            m.insert(k.into(), text(v));
        }
    }
    if let Some(p) = i.port {
        m.insert("port".into(), Value::from(p));
    }
    if let Some(w) = i.wake_up {
        m.insert("wake_up".into(), Value::Bool(w));
    }
    for (k, v) in [
        ("decryption_key", &i.decryption_key),
        ("authentication_key", &i.authentication_key),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), text(v.expose()));
        }
    }
    Value::Object(m)
}

/// The option a configuration key came from (`mqtt.url` -> `mqtt_url`; inputs keep their
/// names).
fn option_of(key: &str) -> String {
    TOP_LEVEL
        .iter()
        .find(|(_, k)| *k == key)
        .map(|(o, _)| o.to_string())
        .unwrap_or_else(|| key.to_string())
}

/// The configuration `run` would build from the same settings in a `config.yaml`.
pub fn build_config(
    opts: &AddonOptions,
    broker: Option<&MqttService>,
    at: &Placement,
) -> Result<Config, AddonError> {
    let tree = config_tree(opts, broker, at);
    let text =
        serde_json::to_string_pretty(&tree).map_err(|e| AddonError::Options(e.to_string()))?;
    Config::from_yaml(&text).map_err(|e| match e {
        ConfigError::Value { key, message, .. } | ConfigError::Invalid { key, message }
            if !key.is_empty() =>
        {
            AddonError::Config {
                option: option_of(&key),
                message,
            }
        }
        // Line numbers of the generated text mean nothing to the user: drop them.
        ConfigError::Value { message, .. } | ConfigError::Syntax { message, .. } => {
            AddonError::Options(message)
        }
        other => AddonError::Options(other.to_string()),
    })
}

#[cfg(test)]
mod tests;
