//! Broker URLs (`mqtt://host:port`, `mqtts://host`), parsed where both the configuration
//! (which validates `mqtt.url` before the bridge starts) and the MQTT layer (which connects)
//! can use them: a neutral module, so `config` does not depend on `mqtt` (issue 13).

use std::fmt;

/// A parsed `mqtt://` / `mqtts://` broker URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("`{0}` should start with mqtt:// or mqtts://")]
    Scheme(String),
    #[error("`{0}` has no host")]
    NoHost(String),
    #[error("`{0}` has an invalid port")]
    Port(String),
    #[error("credentials in the URL are not supported: use mqtt.username and mqtt.password (or password_file)")]
    Credentials,
    #[error("`{0}` has a path, query or fragment: MQTT has none, give only mqtt://host:port")]
    Path(String),
    #[error("`{0}`: an IPv6 address goes in brackets, as in mqtt://[::1]:1883")]
    Ipv6(String),
    #[error("`{0}` has text after the host: give mqtt://host or mqtt://host:port")]
    Junk(String),
}

impl BrokerUrl {
    pub fn parse(url: &str) -> Result<Self, UrlError> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("mqtts://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("ssl://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("mqtt://") {
            (false, r)
        } else if let Some(r) = url.strip_prefix("tcp://") {
            (false, r)
        } else {
            return Err(UrlError::Scheme(url.into()));
        };
        // RFC 3986 §3.2: the authority ends at the first `/`, `?` or `#`; one trailing `/`
        // (an empty path) is harmless, anything after it is a path MQTT cannot use.
        let rest = match rest.find(['/', '?', '#']) {
            Some(i) if &rest[i..] == "/" => &rest[..i],
            Some(_) => return Err(UrlError::Path(url.into())),
            None => rest,
        };
        if rest.contains('@') {
            return Err(UrlError::Credentials);
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (h, tail) = v6
                .split_once(']')
                .ok_or_else(|| UrlError::NoHost(url.into()))?;
            let port = match tail {
                "" => None,
                t => Some(
                    t.strip_prefix(':')
                        .ok_or_else(|| UrlError::Junk(url.into()))?,
                ),
            };
            if h.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(UrlError::Ipv6(url.into()));
            }
            (h.to_string(), port)
        } else {
            match rest.split_once(':') {
                Some((_, p)) if p.contains(':') => return Err(UrlError::Ipv6(url.into())),
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (rest.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(UrlError::NoHost(url.into()));
        }
        if host.contains(|c: char| c.is_whitespace() || c == '[' || c == ']') {
            return Err(UrlError::Junk(url.into()));
        }
        let port = match port {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| UrlError::Port(url.into()))?,
            None if tls => 8883,
            None => 1883,
        };
        Ok(BrokerUrl { host, port, tls })
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            BrokerUrl::parse("mqtt://localhost").unwrap(),
            BrokerUrl {
                host: "localhost".into(),
                port: 1883,
                tls: false
            }
        );
        assert_eq!(
            BrokerUrl::parse("mqtts://b.example:8884").unwrap().port,
            8884
        );
        assert_eq!(BrokerUrl::parse("mqtts://b").unwrap().port, 8883);
        assert_eq!(BrokerUrl::parse("mqtt://[::1]:1884").unwrap().host, "::1");
        assert!(BrokerUrl::parse("http://x").is_err());
        assert!(BrokerUrl::parse("mqtt://u:p@x").is_err());
        assert!(BrokerUrl::parse("mqtt://x:0").is_err());
        assert_eq!(BrokerUrl::parse("mqtt://x/").unwrap().host, "x");
        assert_eq!(BrokerUrl::parse("mqtt://[::1]").unwrap().port, 1883);
        for bad in [
            "mqtt://localhost/foo",
            "mqtt://::1",
            "mqtt://[::1]junk",
            "mqtt://x?a",
            "mqtt://[zz]:1",
        ] {
            assert!(BrokerUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
