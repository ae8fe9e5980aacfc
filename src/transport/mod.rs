//! Transports: how bytes reach a protocol core. Generic over the protocol: a serial port
//! (tokio-serial) or a TCP socket (ser2net, socat, ESP dongles), behind one [`Link`] type,
//! opened from the transport's own description ([`LinkSpec`], [`open`]).

pub mod backoff;
pub mod driver;
pub mod serial;
pub mod spec;
pub mod tcp;

pub use spec::{open, Endpoint, LinkSpec, RequestLine};

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::protocol::LineSettings;

/// Where deadlines go that are further away than the clock can count: about 30 years, as
/// tokio's own timers do.
const FAR_FUTURE: Duration = Duration::from_secs(86_400 * 365 * 30);

/// `from + after`, saturating: a configured timeout of `18446744073709551615` seconds means
/// "never", not a panic ("overflow when adding duration to instant", issue 18 §7). Every
/// deadline computed from a configured or protocol-supplied duration goes through this.
pub fn deadline(from: tokio::time::Instant, after: Duration) -> tokio::time::Instant {
    from.checked_add(after)
        .or_else(|| from.checked_add(FAR_FUTURE))
        .unwrap_or(from)
}

/// An open connection to a meter.
pub enum Link {
    Serial(tokio_serial::SerialStream),
    Tcp(tokio::net::TcpStream),
}

impl Link {
    /// Change baud rate and character format. Over TCP this needs RFC 2217, which we do not
    /// speak, so it is an error (the caller's message tells the user what to do).
    pub fn configure(&mut self, line: LineSettings) -> io::Result<()> {
        match self {
            Link::Serial(s) => serial::configure(s, line),
            Link::Tcp(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "changing serial settings over TCP needs RFC 2217, which is not supported: \
                 connect the optical head to a local serial port",
            )),
        }
    }

    /// Drive the P1 Data Request line (DTR or RTS) high or low. No-op over TCP.
    pub fn set_request_line(&mut self, line: RequestLine, high: bool) -> io::Result<()> {
        match self {
            Link::Serial(s) => serial::set_request_line(s, line, high),
            Link::Tcp(_) => Ok(()),
        }
    }

    /// Drop whatever the OS has buffered on input (stale bytes before a request).
    pub fn discard_input(&mut self) -> io::Result<()> {
        match self {
            Link::Serial(s) => {
                use tokio_serial::SerialPort;
                s.clear(tokio_serial::ClearBuffer::Input)
                    .map_err(io::Error::other)
            }
            Link::Tcp(_) => Ok(()),
        }
    }
}

/// The size of the read buffer every link on a thread shares ([`Link::read_with`]): an
/// encrypted frame or a DSMR telegram is at most `MAX_TELEGRAM` = 8 KiB (docs/benchmarks.md
/// "Memory bounds"); twice that drains a backlog in few reads.
pub const SCRATCH_SIZE: usize = 16 * 1024;

thread_local! {
    /// One read buffer per thread instead of one per input (issue 17): with 10,000 TCP
    /// meters, a buffer per input of 1-2 KiB (a DSMR 5 telegram with gas does not fit in
    /// 1 KiB) was 10-20 MB that only ever carried bytes from the socket to the decoder.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; SCRATCH_SIZE]);
}

impl Link {
    /// Read what the link has (waiting until it has something) and hand the bytes to `sink`
    /// before returning their count; 0 is the end of the stream, as for `read`.
    ///
    /// The bytes pass through the thread's shared buffer: it is borrowed only inside one
    /// `poll_read` (no `.await` in between), so no two inputs ever hold it at once, on any
    /// runtime. An input keeps no read buffer of its own while it waits.
    pub async fn read_with(&mut self, mut sink: impl FnMut(&[u8])) -> io::Result<usize> {
        std::future::poll_fn(|cx| {
            SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
                Ok(mut buf) => self.poll_read_into(cx, &mut buf, &mut sink),
                // Cannot happen (nothing borrows it across a poll); a buffer of our own then.
                Err(_) => self.poll_read_into(cx, &mut vec![0; SCRATCH_SIZE], &mut sink),
            })
        })
        .await
    }

    fn poll_read_into(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        sink: &mut impl FnMut(&[u8]),
    ) -> Poll<io::Result<usize>> {
        let mut rb = ReadBuf::new(buf);
        match Pin::new(self).poll_read(cx, &mut rb) {
            Poll::Ready(Ok(())) => {
                let got = rb.filled();
                sink(got);
                Poll::Ready(Ok(got.len()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Link {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Link::Serial(s) => Pin::new(s).poll_read(cx, buf),
            Link::Tcp(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Link {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Link::Serial(s) => Pin::new(s).poll_write(cx, buf),
            Link::Tcp(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Link::Serial(s) => Pin::new(s).poll_flush(cx),
            Link::Tcp(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Link::Serial(s) => Pin::new(s).poll_shutdown(cx),
            Link::Tcp(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_saturate() {
        let now = tokio::time::Instant::now();
        assert_eq!(
            deadline(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert_eq!(deadline(now, Duration::MAX), now + FAR_FUTURE);
        assert_eq!(
            deadline(now, Duration::from_secs(u64::MAX)),
            now + FAR_FUTURE
        );
    }
}
