//! TCP relays of a serial line (ser2net, socat, ESP-Link and other P1 dongles).

use std::io;
use std::time::Duration;

use tokio::net::TcpStream;

/// Keepalive probes: a dongle that lost power leaves a half-open socket; the OS notices after
/// about 30 s + 3 × 10 s instead of the default two hours. The idle watchdog above catches a
/// connection that is alive but silent.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(30);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// Connect with a timeout, TCP keepalive on and Nagle off (requests are tiny and
/// latency-sensitive for polled meters).
pub async fn connect(host: &str, port: u16, timeout: Duration) -> io::Result<TcpStream> {
    let stream = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connecting to {host}:{port} timed out after {timeout:?}"),
            )
        })??;
    let _ = stream.set_nodelay(true);
    let sock = socket2::SockRef::from(&stream);
    let ka = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(3);
    let _ = sock.set_tcp_keepalive(&ka);
    Ok(stream)
}
