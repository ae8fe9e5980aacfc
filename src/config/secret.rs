//! Secrets (MQTT password, P1 decryption keys) that must never reach a log or `check-config`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string whose `Debug`, `Display` and `Serialize` all print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Self {
        Secret(s)
    }

    /// The secret itself, for the one place that needs it (the MQTT CONNECT, the cipher).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Numbers too: a YAML password `1234` arrives as an integer.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            S(String),
            I(i64),
        }
        Ok(match Raw::deserialize(d)? {
            Raw::S(s) => Secret(s),
            Raw::I(i) => Secret(i.to_string()),
        })
    }
}
