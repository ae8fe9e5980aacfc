//! The `http:` section: the web page, the JSON API, server-sent events and `/metrics`
//! (issue 14). Validation lives here too, so the section is one file.

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError, Secret};

/// Most simultaneous connections a client may hold open; every connection keeps a task and
/// buffers, so the cap bounds the server's memory.
pub const MAX_CONNECTIONS_LIMIT: usize = 4096;
/// An auth token shorter than this is refused: it would be guessable.
pub const MIN_TOKEN_LEN: usize = 16;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Serve the page, the API and `/metrics`.
    pub enabled: bool,
    /// `address:port` to listen on. Loopback by default: the API is read-only, but it shows
    /// the meters' readings and raw telegrams to anyone who can reach it.
    pub listen: String,
    /// When set, every request for data (the API, the events, `/metrics`) needs
    /// `Authorization: Bearer <token>` or `?token=<token>` (`http/auth.rs`).
    pub auth_token: Option<Secret>,
    /// Connections served at once; more wait in the kernel's accept queue.
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            listen: "127.0.0.1:8089".into(),
            auth_token: None,
            max_connections: 64,
        }
    }
}

impl HttpConfig {
    /// The listen address as a socket address (validated: never fails after `validate`).
    pub fn listen_addr(&self) -> Result<std::net::SocketAddr, ConfigError> {
        self.listen.parse().map_err(|_| {
            invalid(
                "http.listen",
                format!(
                    "`{}` is not an address:port (e.g. 127.0.0.1:8089, 0.0.0.0:8089, [::]:8089)",
                    self.listen
                ),
            )
        })
    }

    /// The checks serde cannot express.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        if self.max_connections == 0 || self.max_connections > MAX_CONNECTIONS_LIMIT {
            return Err(invalid(
                "http.max_connections",
                format!("must be 1 to {MAX_CONNECTIONS_LIMIT}"),
            ));
        }
        if let Some(t) = &self.auth_token {
            let t = t.expose();
            if t.len() < MIN_TOKEN_LEN {
                return Err(invalid(
                    "http.auth_token",
                    format!(
                        "must be at least {MIN_TOKEN_LEN} characters (e.g. `openssl rand -hex 16`)"
                    ),
                ));
            }
            // The token travels in a header and a URL: printable ASCII without spaces, so it
            // needs no quoting in either.
            if !t.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(invalid(
                    "http.auth_token",
                    "must be printable ASCII without spaces",
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const P1: &str = "inputs:\n  - {name: a, type: p1, host: h, port: 1}\n";

    fn load(yaml: &str) -> Result<Config, crate::config::ConfigError> {
        Config::from_yaml(&format!("{yaml}{P1}"))
    }

    #[test]
    fn defaults_and_checks() {
        let cfg = load("").unwrap();
        assert!(cfg.http.enabled);
        assert_eq!(cfg.http.listen, "127.0.0.1:8089");
        assert_eq!(cfg.http.max_connections, 64);
        for (yaml, key) in [
            ("http:\n  listen: localhost\n", "http.listen"),
            ("http:\n  max_connections: 0\n", "http.max_connections"),
            ("http:\n  auth_token: short\n", "http.auth_token"),
            (
                "http:\n  auth_token: \"has a space in it ok\"\n",
                "http.auth_token",
            ),
        ] {
            let err = load(yaml).unwrap_err().to_string();
            assert!(err.contains(key), "{yaml}: {err}");
        }
        let cfg = load("http:\n  listen: \"[::1]:0\"\n  auth_token: 0123456789abcdef\n").unwrap();
        assert_eq!(cfg.http.listen_addr().unwrap().port(), 0);
    }
}
