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
    /// The exact text given: the configuration's deserializer hands over a scalar's source
    /// text, so `007`, `0x1F` and `.5` are the password, not the number they look like.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}
