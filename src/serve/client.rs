//! One connected client: its bounded queue, and the task that writes to it.
//!
//! The output never waits for a client: it puts each telegram into the client's queue without
//! waiting ([`Client::offer`]), and a client whose queue is full (it does not read, or reads
//! slower than the meter sends) is disconnected at once. A slow reader thus costs at most its
//! queue and its socket's send buffer, and never slows the meter, MQTT or another client.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// Telegrams queued for one client before it counts as not reading: 16 s of DSMR 5 (one
/// telegram a second, DSMR 5.0.2 §4), 160 s of DSMR 4.
pub const QUEUE_TELEGRAMS: usize = 16;
/// Bytes queued for one client (the telegram being written included) before it counts as not
/// reading: 16 DSMR 5 telegrams of about 1 KiB, or 4 of the largest the decoder accepts
/// ([`crate::protocol::dsmr::MAX_TELEGRAM`], 8 KiB).
pub const QUEUE_BYTES: usize = 32 * 1024;

/// What the output holds of a client.
pub struct Client {
    pub peer: SocketAddr,
    queue: mpsc::Sender<Arc<[u8]>>,
    /// Bytes offered and not yet written to the socket.
    queued: Arc<AtomicUsize>,
    task: AbortHandle,
}

/// What became of a telegram offered to a client.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    Queued,
    /// Its queue is full: disconnected (the caller logs it and forgets the client).
    Full {
        telegrams: usize,
        bytes: usize,
    },
    /// The client went away by itself.
    Gone,
}

impl Client {
    /// Start the task that writes queued telegrams to `stream` (and reads and discards what
    /// the client sends: nothing goes back to the meter).
    pub fn start(input: Arc<str>, peer: SocketAddr, stream: TcpStream) -> Client {
        let (queue, rx) = mpsc::channel(QUEUE_TELEGRAMS);
        let queued = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(serve_client(input, peer, stream, rx, queued.clone()));
        Client {
            peer,
            queue,
            queued,
            task: task.abort_handle(),
        }
    }

    /// Queue `telegram` without waiting; a full queue disconnects the client.
    pub fn offer(&self, telegram: &Arc<[u8]>) -> Offer {
        // Counted before it is queued: the writer may take and write it at once.
        let bytes = self.queued.fetch_add(telegram.len(), Ordering::AcqRel);
        if bytes + telegram.len() <= QUEUE_BYTES {
            match self.queue.try_send(telegram.clone()) {
                Ok(()) => return Offer::Queued,
                Err(mpsc::error::TrySendError::Closed(_)) => return Offer::Gone,
                Err(mpsc::error::TrySendError::Full(_)) => {}
            }
        }
        self.task.abort();
        Offer::Full {
            telegrams: QUEUE_TELEGRAMS - self.queue.capacity(),
            bytes,
        }
    }

    /// Whether the client's task has ended (it left, or its socket failed).
    pub fn is_gone(&self) -> bool {
        self.queue.is_closed()
    }
}

impl Drop for Client {
    /// Forgetting a client disconnects it (also when the output stops).
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_client(
    input: Arc<str>,
    peer: SocketAddr,
    stream: TcpStream,
    mut rx: mpsc::Receiver<Arc<[u8]>>,
    queued: Arc<AtomicUsize>,
) {
    let (mut reader, mut writer) = stream.into_split();
    let write = async {
        while let Some(t) = rx.recv().await {
            writer.write_all(&t).await?;
            queued.fetch_sub(t.len(), Ordering::AcqRel);
        }
        Ok::<(), std::io::Error>(())
    };
    // Bytes from the client are read and dropped: a P1 port is one-way, and a client that
    // sends (a terminal, a reader that pings) must neither fill our socket buffers nor stop
    // its telegrams. A client that half-closes (`nc` after its stdin ends) still reads.
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) => std::future::pending::<()>().await,
                Ok(_) => {}
                Err(e) => return e,
            }
        }
    };
    let why = tokio::select! {
        r = write => match r {
            Ok(()) => return,
            Err(e) => e,
        },
        e = read => e,
    };
    tracing::info!(input = %input, %peer, error = %why, "P1 client left");
}
