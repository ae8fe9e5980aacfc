//! The Home Assistant Supervisor's services API: which MQTT broker the add-on should use.
//!
//! An add-on that declares `services: [mqtt:need]` may ask the Supervisor for the broker
//! that provides the `mqtt` service (the Mosquitto add-on): `GET http://supervisor/services/mqtt`
//! with the add-on's `SUPERVISOR_TOKEN` as a bearer token (Home Assistant developer docs,
//! "Add-on communication" and "Add-on configuration", `services`). The Supervisor answers
//! `{"result": "ok", "data": {"host", "port", "ssl", "username", "password", "protocol"}}`
//! (home-assistant/supervisor `supervisor/services/modules/mqtt.py`, `SCHEMA_SERVICE_MQTT`:
//! host and port required, username and password optional, ssl defaults to false), or
//! `{"result": "error", "message": ...}` with a 4xx status.
//!
//! The client is plain HTTP/1.1 over one tokio `TcpStream`: the Supervisor is a local host on
//! the add-on network, there is one request per start, and an HTTP client crate would add a
//! dozen crates for it. The answer is parsed with `httparse` (already in the tree, under
//! hyper), bounded in size ([`MAX_RESPONSE`]) and in time ([`TIMEOUT`]).

use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::Secret;

/// The Supervisor's address inside an add-on container.
pub const DEFAULT_URL: &str = "http://supervisor";
/// Far more than the few hundred bytes of a service answer; a larger one is refused.
pub const MAX_RESPONSE: usize = 64 * 1024;
/// For the whole exchange: connect, request and answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The broker the Supervisor named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MqttService {
    pub host: String,
    pub port: u16,
    pub ssl: bool,
    pub username: Option<String>,
    pub password: Option<Secret>,
}

impl MqttService {
    /// `mqtt://host:port` (`mqtts://` with `ssl`); an IPv6 address in brackets.
    pub fn url(&self) -> String {
        let scheme = if self.ssl { "mqtts" } else { "mqtt" };
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// Why the Supervisor could not tell us the broker. No variant carries the token or the
/// password.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("the Supervisor URL `{0}` is not http://host[:port][/path]")]
    Url(String),
    #[error("SUPERVISOR_TOKEN is not set: is this running as a Home Assistant add-on with `services: [mqtt:need]`? Or set mqtt_url in the options")]
    NoToken,
    #[error("SUPERVISOR_TOKEN holds characters an HTTP header cannot carry")]
    BadToken,
    #[error("cannot reach the Supervisor at {at}: {source}")]
    Io {
        at: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the Supervisor at {0} did not answer within {TIMEOUT:?}")]
    Timeout(String),
    #[error("the Supervisor's answer is larger than {MAX_RESPONSE} bytes")]
    TooLarge,
    #[error("the Supervisor's answer is not valid HTTP: {0}")]
    Http(String),
    #[error("the Supervisor answered HTTP {status}: {message}")]
    Status { status: u16, message: String },
    #[error("the Supervisor's MQTT service answer is not usable: {0}")]
    Service(String),
}

/// `http://host[:port][/prefix]` split into the address to connect to, the `Host` header and
/// the path prefix.
#[derive(Debug, PartialEq, Eq)]
struct Base {
    host: String,
    port: u16,
    prefix: String,
}

fn parse_base(url: &str) -> Result<Base, SupervisorError> {
    let bad = || SupervisorError::Url(url.to_string());
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let (authority, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.ends_with(']') => {
            (h, p.parse::<u16>().map_err(|_| bad())?)
        }
        _ => (authority, 80),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || port == 0 || prefix.contains(['?', '#', ' ']) {
        return Err(bad());
    }
    Ok(Base {
        host: host.to_string(),
        port,
        prefix: prefix.to_string(),
    })
}

/// Ask the Supervisor at `base_url` for the `mqtt` service.
pub async fn mqtt_service(base_url: &str, token: &Secret) -> Result<MqttService, SupervisorError> {
    let base = parse_base(base_url)?;
    if token.expose().is_empty() {
        return Err(SupervisorError::NoToken);
    }
    if token
        .expose()
        .bytes()
        .any(|b| b.is_ascii_control() || !b.is_ascii())
    {
        return Err(SupervisorError::BadToken);
    }
    let at = format!("{}:{}", base.host, base.port);
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect((base.host.as_str(), base.port))
            .await
            .map_err(|source| SupervisorError::Io {
                at: at.clone(),
                source,
            })?;
        let host_header = if base.host.contains(':') {
            format!("[{}]", base.host)
        } else {
            base.host.clone()
        };
        let request = format!(
            "GET {}/services/mqtt HTTP/1.1\r\nHost: {host_header}\r\nAuthorization: Bearer {}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
            base.prefix,
            token.expose()
        );
        let io = |source| SupervisorError::Io {
            at: at.clone(),
            source,
        };
        stream.write_all(request.as_bytes()).await.map_err(io)?;
        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(answer) = complete(&buf)? {
                return Ok(answer);
            }
            let n = stream.read(&mut chunk).await.map_err(io)?;
            if n == 0 {
                return finish(&buf);
            }
            if buf.len() + n > MAX_RESPONSE {
                return Err(SupervisorError::TooLarge);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    let (status, body) = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| SupervisorError::Timeout(at.clone()))??;
    parse_service(status, &body)
}

/// A parsed response: the status and the body.
type Answer = (u16, Vec<u8>);

/// The head of a response: status, where the body starts, and how its length is known.
fn head(buf: &[u8]) -> Result<Option<(u16, usize, Framing)>, SupervisorError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let start = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(SupervisorError::Http(e.to_string())),
    };
    let status = resp.code.unwrap_or(0);
    let mut framing = Framing::UntilClose;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| SupervisorError::Http("bad Content-Length".into()))?;
            framing = Framing::Length(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding")
            && h.value.eq_ignore_ascii_case(b"chunked")
        {
            framing = Framing::Chunked;
        }
    }
    Ok(Some((status, start, framing)))
}

#[derive(Debug, Clone, Copy)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// The answer, if `buf` already holds all of it.
fn complete(buf: &[u8]) -> Result<Option<Answer>, SupervisorError> {
    let Some((status, start, framing)) = head(buf)? else {
        return Ok(None);
    };
    let body = &buf[start..];
    Ok(match framing {
        Framing::Length(n) if body.len() >= n => Some((status, body[..n].to_vec())),
        Framing::Chunked => dechunk(body)?.map(|b| (status, b)),
        _ => None,
    })
}

/// The answer after the Supervisor closed the connection.
fn finish(buf: &[u8]) -> Result<Answer, SupervisorError> {
    let truncated =
        || SupervisorError::Http("the connection closed before the answer ended".into());
    let (status, start, framing) = head(buf)?.ok_or_else(truncated)?;
    match framing {
        Framing::UntilClose => Ok((status, buf[start..].to_vec())),
        _ => complete(buf)?.ok_or_else(truncated),
    }
}

/// A chunked body (RFC 9112 §7.1), if complete; chunk extensions and trailers are skipped.
fn dechunk(mut body: &[u8]) -> Result<Option<Vec<u8>>, SupervisorError> {
    let bad = || SupervisorError::Http("bad chunked encoding".into());
    let mut out = Vec::new();
    loop {
        let Some(eol) = body.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&body[..eol]).map_err(|_| bad())?;
        let size_text = size_text.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad())?;
        body = &body[eol + 2..];
        if size == 0 {
            return Ok(Some(out));
        }
        if size > MAX_RESPONSE {
            return Err(SupervisorError::TooLarge);
        }
        if body.len() < size + 2 {
            return Ok(None);
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[derive(Deserialize)]
struct Envelope {
    result: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    data: Option<ServiceData>,
}

#[derive(Deserialize)]
struct ServiceData {
    host: String,
    port: u16,
    #[serde(default)]
    ssl: bool,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// The service from the answer's status and JSON body.
fn parse_service(status: u16, body: &[u8]) -> Result<MqttService, SupervisorError> {
    let envelope: Result<Envelope, _> = serde_json::from_slice(body);
    if status != 200 {
        let message = envelope
            .ok()
            .and_then(|e| e.message)
            .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
        return Err(SupervisorError::Status { status, message });
    }
    // serde_json's message names the position, never the value: the password stays out.
    let envelope = envelope.map_err(|e| SupervisorError::Service(e.to_string()))?;
    if envelope.result != "ok" {
        return Err(SupervisorError::Service(
            envelope.message.unwrap_or(envelope.result),
        ));
    }
    let data = envelope
        .data
        .ok_or_else(|| SupervisorError::Service("no `data`".into()))?;
    if data.host.is_empty() || data.port == 0 {
        return Err(SupervisorError::Service(
            "an empty host or port 0 (is the Mosquitto add-on started?)".into(),
        ));
    }
    Ok(MqttService {
        host: data.host,
        port: data.port,
        ssl: data.ssl,
        username: data.username.filter(|u| !u.is_empty()),
        password: data.password.filter(|p| !p.is_empty()).map(Secret::new),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        let b = parse_base("http://supervisor").unwrap();
        assert_eq!(
            (b.host.as_str(), b.port, b.prefix.as_str()),
            ("supervisor", 80, "")
        );
        let b = parse_base("http://127.0.0.1:8123/api/").unwrap();
        assert_eq!(
            (b.host.as_str(), b.port, b.prefix.as_str()),
            ("127.0.0.1", 8123, "/api")
        );
        let b = parse_base("http://[::1]:99").unwrap();
        assert_eq!((b.host.as_str(), b.port), ("::1", 99));
        for bad in [
            "https://supervisor",
            "supervisor",
            "http://",
            "http://h:0",
            "http://h:x",
        ] {
            assert!(parse_base(bad).is_err(), "{bad}");
        }
    }

    const OK: &str = r#"{"result":"ok","data":{"host":"core-mosquitto","port":1883,"ssl":false,"protocol":"3.1.1","username":"addons","password":"Pa55"}}"#;

    #[test]
    fn framings_give_the_same_service() {
        let by_length = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{OK}",
            OK.len()
        );
        let (s, b) = complete(by_length.as_bytes()).unwrap().unwrap();
        let svc = parse_service(s, &b).unwrap();
        assert_eq!(svc.url(), "mqtt://core-mosquitto:1883");
        assert_eq!(svc.username.as_deref(), Some("addons"));
        assert_eq!(svc.password.as_ref().map(Secret::expose), Some("Pa55"));
        let (a, z) = OK.split_at(10);
        let chunked = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x};x=y\r\n{z}\r\n0\r\n\r\n",
            a.len(),
            z.len()
        );
        assert_eq!(
            complete(chunked.as_bytes()).unwrap().unwrap().1,
            OK.as_bytes()
        );
        // Incomplete answers wait for more bytes, then fail if the connection closed.
        assert!(complete(&chunked.as_bytes()[..60]).unwrap().is_none());
        assert!(finish(&chunked.as_bytes()[..60]).is_err());
        let close = format!("HTTP/1.0 200 OK\r\n\r\n{OK}");
        assert!(complete(close.as_bytes()).unwrap().is_none());
        assert_eq!(finish(close.as_bytes()).unwrap().1, OK.as_bytes());
    }

    #[test]
    fn errors_are_explained_without_secrets() {
        let e = parse_service(400, br#"{"result":"error","message":"No mqtt service"}"#);
        assert!(e.unwrap_err().to_string().contains("400: No mqtt service"));
        let e = parse_service(
            200,
            br#"{"result":"ok","data":{"host":"h","port":"x","password":"Pa55"}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(!e.contains("Pa55"), "{e}");
        assert!(parse_service(200, br#"{"result":"ok","data":{"host":"","port":1883}}"#).is_err());
        assert!(complete(b"NOT HTTP\r\n\r\n").is_err());
        let v6 = MqttService {
            host: "fd00::1".into(),
            port: 8883,
            ssl: true,
            username: None,
            password: None,
        };
        assert_eq!(v6.url(), "mqtts://[fd00::1]:8883");
    }
}
