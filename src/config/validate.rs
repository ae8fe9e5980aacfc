//! [`Config::validate`]: the checks serde cannot express, run by `check-config` and before
//! `run` starts anything. Every error names the key; every limit is documented next to its key
//! in `config.example.yaml`.

use std::collections::HashMap;
use std::time::Duration;

use super::duration::check as check_duration;
use super::files::{self, Shown};
use super::inputs::Link;
use super::{invalid, Config, ConfigError};

/// MQTT 3.1.1 §1.5.3 and §4.7.3: a topic is a UTF-8 string of at most 65,535 bytes. Our
/// topics are a configured prefix plus a meter id, a key and a suffix; capping each
/// configured part at 1 KiB keeps every topic built from them far inside the protocol's limit
/// (a longer one would be refused by the broker on every publish, forever).
pub const TOPIC_PART_LIMIT: usize = 1024;

/// MQTT 3.1.1 §3.1.2.10: Keep Alive is a 16-bit number of seconds (0 turns it off).
const KEEPALIVE_MAX: Duration = Duration::from_secs(65_535);
const DAY: Duration = Duration::from_secs(86_400);

fn topic_chars(key: &str, topic: &str) -> Result<(), ConfigError> {
    if topic.len() > TOPIC_PART_LIMIT {
        return Err(invalid(
            key,
            format!(
                "is {} bytes long; at most {TOPIC_PART_LIMIT} (MQTT topics are limited to 65,535 bytes)",
                topic.len()
            ),
        ));
    }
    if topic.is_empty() {
        return Err(invalid(key, "must not be empty"));
    }
    // MQTT 3.1.1 §4.7.1: + and # are wildcards, never part of a topic name we publish or the
    // birth topic we listen to; §4.7.3: no NUL.
    if topic.contains(['+', '#', '\0']) {
        return Err(invalid(
            key,
            format!("`{topic}` is not a valid topic: + and # are wildcards, NUL is not allowed"),
        ));
    }
    Ok(())
}

fn check_topic_part(key: &str, topic: &str) -> Result<(), ConfigError> {
    topic_chars(key, topic)?;
    if topic.starts_with('/') || topic.ends_with('/') {
        return Err(invalid(
            key,
            format!("`{topic}` is not a valid topic prefix (no leading or trailing /)"),
        ));
    }
    Ok(())
}

/// `log.level`: what `tracing_subscriber`'s `Targets` accepts (a level, or `target=level`
/// pairs), and no bare word that is not a level. A bare word is a target to `Targets`
/// (`verbose` would log nothing but a target named "verbose").
fn check_log_level(level: &str) -> Result<(), ConfigError> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let bare_word = level.split(',').map(str::trim).find(|d| {
        !d.is_empty()
            && !d.contains(['=', '[', ':'])
            && !LEVELS.contains(&d.to_ascii_lowercase().as_str())
    });
    let parsed = level.parse::<tracing_subscriber::filter::Targets>();
    if bare_word.is_some() || parsed.is_err() {
        return Err(invalid(
            "log.level",
            format!(
                "`{level}` is not a level or filter: use error, warn, info, debug, trace, or \
                 target=level pairs such as `meter2mqtt=debug,info`"
            ),
        ));
    }
    Ok(())
}

/// A PEM file must hold what its key says: the CA file certificates a TLS client can trust,
/// the client certificate file a certificate, the key file a private key.
fn check_pem(key: &str, path: &std::path::Path, want_key: bool) -> Result<(), ConfigError> {
    let data = files::read_limited(key, path, files::PEM_FILE_LIMIT, Shown::Path)?;
    let bad = |m: String| invalid(key, format!("{}: {m}", path.display()));
    if want_key {
        return match rustls_pemfile::private_key(&mut data.as_slice()) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err(bad(
                "holds no PEM private key (-----BEGIN ... PRIVATE KEY-----)".into(),
            )),
            Err(e) => Err(bad(format!("is not valid PEM: {e}"))),
        };
    }
    let mut roots = rustls::RootCertStore::empty();
    let mut count = 0;
    for cert in rustls_pemfile::certs(&mut data.as_slice()) {
        let cert = cert.map_err(|e| bad(format!("is not valid PEM: {e}")))?;
        count += 1;
        if key == "mqtt.tls.ca_file" {
            roots
                .add(cert)
                .map_err(|e| bad(format!("certificate {count} cannot be used as a CA: {e}")))?;
        }
    }
    if count == 0 {
        return Err(bad(
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----): is it a key or another file?"
                .into(),
        ));
    }
    Ok(())
}

/// Two inputs on one serial port or one TCP endpoint would steal each other's bytes.
/// Serial paths are compared after resolving symlinks (`/dev/serial/by-id/…` → `/dev/ttyUSB0`),
/// host names without regard to case.
fn link_identity(link: &Link) -> String {
    match link {
        Link::Serial(p) => {
            let p = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
            format!("serial device {}", p.display())
        }
        Link::Tcp { host, port } => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            format!("TCP endpoint {}:{port}", host.to_ascii_lowercase())
        }
    }
}

impl Config {
    /// Checks serde cannot express. Every error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.http.validate()?;
        let url = crate::url::BrokerUrl::parse(&self.mqtt.url)
            .map_err(|e| invalid("mqtt.url", e.to_string()))?;
        if self.mqtt.password.is_some() && self.mqtt.password_file.is_some() {
            return Err(invalid(
                "mqtt.password_file",
                "give either mqtt.password or mqtt.password_file, not both",
            ));
        }
        let tls = &self.mqtt.tls;
        if tls.client_cert_file.is_some() != tls.client_key_file.is_some() {
            return Err(invalid(
                "mqtt.tls.client_key_file",
                "client_cert_file and client_key_file go together",
            ));
        }
        if !url.tls && (tls.ca_file.is_some() || tls.client_cert_file.is_some()) {
            return Err(invalid(
                "mqtt.tls.ca_file",
                "TLS files are given but mqtt.url is not mqtts://",
            ));
        }
        if let Some(f) = &tls.ca_file {
            check_pem("mqtt.tls.ca_file", f, false)?;
        }
        if let Some(f) = &tls.client_cert_file {
            check_pem("mqtt.tls.client_cert_file", f, false)?;
        }
        if let Some(f) = &tls.client_key_file {
            check_pem("mqtt.tls.client_key_file", f, true)?;
        }
        // Reads password_file now (regular file, size limit), not at the first connect.
        self.mqtt_password()?;
        check_topic_part("mqtt.base_topic", &self.mqtt.base_topic)?;
        check_topic_part("homeassistant.prefix", &self.homeassistant.prefix)?;
        topic_chars(
            "homeassistant.status_topic",
            &self.homeassistant.status_topic,
        )?;
        if self.mqtt.client_id.is_empty() || self.mqtt.client_id.len() > 23 * 4 {
            return Err(invalid("mqtt.client_id", "must be 1 to 92 characters"));
        }
        let to_config = ConfigError::from;
        self.history.check().map_err(to_config)?;
        check_duration(
            "mqtt.keepalive",
            self.mqtt.keepalive,
            Duration::from_secs(5),
            KEEPALIVE_MAX,
        )
        .map_err(to_config)?;
        check_duration(
            "homeassistant.stale_meter_timeout",
            self.homeassistant.stale_meter_timeout,
            // 0 would clear every retained meter at start, before any could be seen.
            Duration::from_secs(1),
            365 * DAY,
        )
        .map_err(to_config)?;
        check_duration(
            "publish.min_interval",
            self.publish.min_interval,
            Duration::ZERO,
            DAY,
        )
        .map_err(to_config)?;
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
        check_log_level(&self.log.level)?;
        if self.inputs.is_empty() {
            return Err(invalid(
                "inputs",
                "no inputs configured: add at least one meter (see config.example.yaml)",
            ));
        }
        let mut names = std::collections::HashSet::new();
        let mut links: HashMap<String, String> = HashMap::new();
        let mut served = HashMap::new();
        for (i, input) in self.inputs.iter().enumerate() {
            let key = format!("inputs[{i}]");
            if !names.insert(input.name()) {
                return Err(invalid(
                    format!("{key}.name"),
                    format!("duplicate input name `{}`", input.name()),
                ));
            }
            input.validate(&key).map_err(to_config)?;
            if let super::InputConfig::P1(p) = input {
                let addr = p.serve_addr(&key).map_err(to_config)?.map(|s| s.addr);
                if let Some(first) = addr
                    .filter(|a| a.port() != 0)
                    .and_then(|a| served.insert(a, input.name()))
                {
                    return Err(invalid(
                        format!("{key}.serve"),
                        format!("input `{first}` already serves on this address"),
                    ));
                }
            }
            if let Some(link) = input.link() {
                let id = link_identity(&link);
                if let Some(first) = links.insert(id.clone(), input.name().to_string()) {
                    return Err(invalid(
                        format!(
                            "{key}.{}",
                            if matches!(link, Link::Serial(_)) {
                                "device"
                            } else {
                                "host"
                            }
                        ),
                        format!(
                            "input `{}` uses the same {id} as input `{first}`: one connection \
                             can serve only one input",
                            input.name()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}
