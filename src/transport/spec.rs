//! What a link is, in the transport's own terms: the endpoint, the serial settings it opens
//! with, the P1 request line and the connect timeout. The configuration converts into a
//! [`LinkSpec`]; inputs hand it to [`open`] and never open sockets or ports themselves
//! (issue 13: the opening was written twice, and KMP's `connect_timeout` was parsed but a
//! fixed 10 s was used).

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{serial, tcp, Link};
use crate::protocol::LineSettings;

/// Where a link's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A local serial port (symlinks such as `/dev/serial/by-id/...` are followed).
    Serial(PathBuf),
    /// A TCP relay of a serial line (ser2net, socat, ESP dongles).
    Tcp { host: String, port: u16 },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Serial(p) => write!(f, "{}", p.display()),
            Endpoint::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
        }
    }
}

/// Which modem line drives the P1 "Data Request" pin (RJ12 pin 2, DSMR P1 companion standard
/// 5.0.2 §5.2), for cables that wire it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestLine {
    None,
    Dtr,
    Rts,
}

/// Everything needed to open one link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSpec {
    pub endpoint: Endpoint,
    /// Serial settings the port is opened with; a poll session may change them later
    /// ([`Link::configure`]). Not used over TCP, where the relay owns them.
    pub line: LineSettings,
    /// Raised as soon as a serial port is open (P1 cables that wire Data Request).
    pub request_line: RequestLine,
    /// How long a TCP connect may take.
    pub connect_timeout: Duration,
}

impl std::fmt::Display for LinkSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.endpoint.fmt(f)
    }
}

/// Open the link `spec` describes.
pub async fn open(spec: &LinkSpec) -> io::Result<Link> {
    match &spec.endpoint {
        Endpoint::Serial(path) => {
            let mut port = Link::Serial(serial::open(path, spec.line)?);
            if let Err(e) = port.set_request_line(spec.request_line, true) {
                tracing::debug!(error = %e, "could not raise the request line (not a real UART?)");
            }
            Ok(port)
        }
        Endpoint::Tcp { host, port } => Ok(Link::Tcp(
            tcp::connect(host, *port, spec.connect_timeout).await?,
        )),
    }
}
