//! One served input: its listening socket, who may connect, and its clients.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ipnet::IpNet;
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::AbortHandle;

use super::client::{Client, Offer, QUEUE_BYTES, QUEUE_TELEGRAMS};
use super::wire;
use super::ServeSettings;

/// The kernel's send buffer of every client socket (set on the listener, which accepted
/// sockets inherit on Linux; the kernel doubles it for its bookkeeping). Setting it turns off
/// the kernel's autotuning, which would let a client that does not read hold megabytes: with
/// it, a client costs at most this plus its queue. A minute of DSMR 5 telegrams fits.
pub const SOCKET_SEND_BUFFER: u32 = 32 * 1024;
/// The kernel's receive buffer of every client socket: what a client sends is read and
/// dropped, so a client that floods us costs at most this in the kernel, not the megabytes
/// receive autotuning allows.
pub const SOCKET_RECV_BUFFER: u32 = 4 * 1024;

/// A listening socket for `addr`, with the buffer sizes above and address reuse (a restarted
/// bridge gets its port back while old connections linger in TIME_WAIT).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_send_buffer_size(SOCKET_SEND_BUFFER)?;
    socket.set_recv_buffer_size(SOCKET_RECV_BUFFER)?;
    socket.bind(addr)?;
    socket.listen(128)
}

/// Whether `serve_allow` lets `ip` in (everyone when it is empty). IPv4 clients of a `[::]`
/// listener arrive as IPv4-mapped IPv6 addresses (`::ffff:192.168.1.5`, RFC 4291 §2.5.5.2)
/// and are checked as the IPv4 address they are.
pub fn allowed(allow: &[IpNet], ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    allow.is_empty() || allow.iter().any(|n| n.contains(&ip))
}

/// A served input.
pub struct Server {
    pub input: Arc<str>,
    pub addr: SocketAddr,
    clients: Arc<Mutex<Vec<Client>>>,
    accept: AbortHandle,
}

fn lock(clients: &Mutex<Vec<Client>>) -> MutexGuard<'_, Vec<Client>> {
    // The list stays consistent whatever panicked while holding it (a push or a retain).
    clients.lock().unwrap_or_else(|e| e.into_inner())
}

impl Server {
    /// Start accepting clients on `listener`.
    pub fn start(s: &ServeSettings, listener: TcpListener, addr: SocketAddr) -> Server {
        let input: Arc<str> = s.input.as_str().into();
        let clients = Arc::new(Mutex::new(Vec::new()));
        let accept = tokio::spawn(accept_loop(
            input.clone(),
            listener,
            s.allow.clone(),
            s.clients,
            clients.clone(),
        ));
        Server {
            input,
            addr,
            clients,
            accept: accept.abort_handle(),
        }
    }

    /// Hand one accepted telegram to every client, waiting for none; returns how many got it.
    /// A client whose queue is full is disconnected here with one log line.
    pub fn send(&self, raw: &[u8]) -> usize {
        let mut clients = lock(&self.clients);
        if clients.is_empty() {
            return 0;
        }
        let bytes = wire::telegram_bytes(raw);
        clients.retain(|c| match c.offer(&bytes) {
            Offer::Queued => true,
            Offer::Full { telegrams, bytes } => {
                tracing::warn!(input = %self.input, peer = %c.peer, queued_telegrams = telegrams, queued_bytes = bytes,
                    "P1 client does not read: disconnected (its queue holds at most {QUEUE_TELEGRAMS} telegrams or {QUEUE_BYTES} bytes)");
                false
            }
            Offer::Gone => false,
        });
        clients.len()
    }

    /// Connected clients.
    pub fn clients(&self) -> usize {
        let mut clients = lock(&self.clients);
        clients.retain(|c| !c.is_gone());
        clients.len()
    }
}

impl Drop for Server {
    /// Stop listening and disconnect every client.
    fn drop(&mut self) {
        self.accept.abort();
        lock(&self.clients).clear();
    }
}

/// Refused connections: the first is logged, then one line per 100 (a scanner or a client
/// reconnecting in a loop must not flood the log).
#[derive(Default)]
struct Refusals(u64);

impl Refusals {
    fn refuse(&mut self, input: &str, peer: SocketAddr, why: &str) {
        self.0 += 1;
        if self.0 == 1 || self.0 % 100 == 0 {
            tracing::warn!(input, %peer, refused = self.0, "P1 client refused: {why}");
        }
    }
}

async fn accept_loop(
    input: Arc<str>,
    listener: TcpListener,
    allow: Vec<IpNet>,
    max: usize,
    clients: Arc<Mutex<Vec<Client>>>,
) {
    let mut refused = Refusals::default();
    let mut failing = false;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => {
                failing = false;
                c
            }
            Err(e) => {
                // Out of file descriptors and the like: wait, rather than spin on the error.
                if !failing {
                    tracing::warn!(input = %input, error = %e, "cannot accept a P1 client");
                    failing = true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if !allowed(&allow, peer.ip()) {
            refused.refuse(&input, peer, "its address is not in serve_allow");
            continue;
        }
        let mut list = lock(&clients);
        list.retain(|c| !c.is_gone());
        if list.len() >= max {
            refused.refuse(&input, peer, "serve_clients clients are connected already");
            continue;
        }
        // Telegrams go out as they come, not held back to fill a segment.
        let _ = stream.set_nodelay(true);
        list.push(Client::start(input.clone(), peer, stream));
        tracing::info!(input = %input, %peer, clients = list.len(), "P1 client connected");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_allow_checks_blocks_and_mapped_addresses() {
        let allow: Vec<IpNet> = ["192.168.1.0/24", "fd00::/8", "10.0.0.7/32"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(allowed(&allow, ip("192.168.1.200")));
        assert!(allowed(&allow, ip("::ffff:192.168.1.5")));
        assert!(allowed(&allow, ip("fd12::1")));
        assert!(allowed(&allow, ip("10.0.0.7")));
        assert!(!allowed(&allow, ip("10.0.0.8")));
        assert!(!allowed(&allow, ip("192.168.2.1")));
        assert!(!allowed(&allow, ip("::ffff:127.0.0.1")));
        assert!(allowed(&[], ip("203.0.113.9")));
    }
}
