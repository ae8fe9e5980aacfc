//! `METER2MQTT_<SECTION>__<KEY>` environment variables, laid over the file's tree.
//!
//! A value is kept as the exact text of the variable (no trimming, no number parsing): a
//! password `007` stays `007`. Only where the key is typed (a port, a bool, a duration, a list)
//! is the text parsed, by the same rules as the file (see [`super::de`]). A number in the path
//! picks an input that the file already has (`METER2MQTT_INPUTS__0__PORT`); the environment
//! changes keys, it does not add inputs.

use std::ffi::OsString;

use super::yaml::{Entry, Kind, Node, Origin};
use super::ConfigError;

const PREFIX: &str = "METER2MQTT_";
/// Not keys: `METER2MQTT_CONFIG` names the file itself (the CLI's `--config`).
const NOT_KEYS: [&str; 1] = ["CONFIG"];

fn error(var: &str, message: String) -> ConfigError {
    ConfigError::Env {
        var: var.to_string(),
        message,
    }
}

/// Apply every `METER2MQTT_*` variable of `vars` to `root`, in name order.
pub(crate) fn overlay(
    root: &mut Node,
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<(), ConfigError> {
    let mut mine: Vec<(String, OsString)> = vars
        .into_iter()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v)))
        .filter(|(k, _)| k.starts_with(PREFIX))
        .filter(|(k, _)| !NOT_KEYS.contains(&&k[PREFIX.len()..]))
        .collect();
    mine.sort();
    for (var, value) in mine {
        let value = value
            .into_string()
            .map_err(|_| error(&var, "the value is not valid UTF-8".into()))?;
        let path: Vec<String> = var[PREFIX.len()..]
            .split("__")
            .map(str::to_ascii_lowercase)
            .collect();
        if path.iter().any(String::is_empty) {
            return Err(error(
                &var,
                "an empty key: sections and keys are joined with `__` (METER2MQTT_MQTT__URL)"
                    .into(),
            ));
        }
        set(
            root,
            &path,
            &var,
            Node::scalar(value, true, Origin::Env(var.clone())),
        )?;
    }
    Ok(())
}

fn set(root: &mut Node, path: &[String], var: &str, value: Node) -> Result<(), ConfigError> {
    let mut node = root;
    let mut done = String::new();
    for (i, seg) in path.iter().enumerate() {
        let last = i + 1 == path.len();
        if node.is_null() {
            *node = Node::empty_map(Origin::Env(var.to_string()));
        }
        node = match &mut node.kind {
            Kind::Map(entries) => {
                let pos = match entries.iter().position(|e| e.key == *seg) {
                    Some(p) => p,
                    None => {
                        entries.push(Entry {
                            key: seg.clone(),
                            key_at: Origin::Env(var.to_string()),
                            value: Node::scalar(String::new(), true, Origin::Env(var.into())),
                        });
                        entries.len() - 1
                    }
                };
                &mut entries[pos].value
            }
            Kind::Seq(items) => {
                let len = items.len();
                match seg.parse::<usize>().ok().and_then(|n| items.get_mut(n)) {
                    Some(item) => item,
                    None => {
                        return Err(error(
                            var,
                            format!(
                                "`{done}` has {len} entries, numbered from 0: `{seg}` is not one \
                                 of them (the environment changes the file's inputs, it does \
                                 not add any)"
                            ),
                        ))
                    }
                }
            }
            Kind::Scalar { .. } => {
                return Err(error(
                    var,
                    format!("`{done}` is a single value, it has no key `{seg}`"),
                ))
            }
        };
        done = if done.is_empty() {
            seg.clone()
        } else if seg.bytes().all(|b| b.is_ascii_digit()) {
            format!("{done}[{seg}]")
        } else {
            format!("{done}.{seg}")
        };
        if last {
            *node = value;
            return Ok(());
        }
    }
    Ok(())
}
