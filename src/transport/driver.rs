//! Runs a sans-IO [`PollSession`] over a [`Link`]: executes its actions with real I/O and
//! real time, and feeds back what happened. This is the only place polled protocols meet
//! tokio.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::Link;
use crate::protocol::{Action, Event, LineSettings, PollError, PollSession};
use crate::reading::Reading;

/// Why a poll ended without readings.
#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    /// The link itself failed (port gone, connection closed): reopen it.
    #[error("link error: {0}")]
    Link(#[from] io::Error),
    /// The meter did not answer properly; the link is fine.
    #[error(transparent)]
    Poll(#[from] PollError),
    #[error("protocol session did not finish (bug): gave up after {0} steps")]
    Runaway(usize),
}

/// A session that never finishes is a bug; this keeps it from spinning forever.
const MAX_STEPS: usize = 100_000;

/// Time for `n` characters to leave the UART at `line` (nothing known: no wait).
fn transmit_time(n: usize, line: Option<LineSettings>) -> Duration {
    line.map_or(Duration::ZERO, |l| l.char_time(n))
}

/// Execute `session` on `link` until it finishes.
pub async fn drive<S: PollSession + ?Sized>(
    session: &mut S,
    link: &mut Link,
) -> Result<Vec<Reading>, DriveError> {
    let mut buf = [0u8; 2048];
    let mut line: Option<LineSettings> = None;
    let mut deadline = Instant::now();
    let mut action = session.step(Event::Start);
    for _ in 0..MAX_STEPS {
        action = match action {
            Action::Configure(l) => {
                match (&link, line) {
                    // Over TCP the relay (ser2net) owns the serial settings; the session's
                    // first request for settings is the relay's configuration to match.
                    (Link::Tcp(_), None) => line = Some(l),
                    (_, Some(cur)) if cur == l => {}
                    _ => {
                        link.configure(l)?;
                        line = Some(l);
                    }
                }
                session.step(Event::Done)
            }
            Action::Write(bytes) => {
                link.write_all(&bytes).await?;
                link.flush().await?;
                // The OS buffers the write; a baud switch right after must wait until the
                // characters have left the UART, or the tail goes out at the new speed.
                if matches!(link, Link::Serial(_)) {
                    tokio::time::sleep(transmit_time(bytes.len(), line)).await;
                }
                session.step(Event::Done)
            }
            Action::Flush => {
                link.discard_input()?;
                session.step(Event::Done)
            }
            Action::Read { timeout } => {
                deadline = super::deadline(Instant::now(), timeout);
                read_once(session, link, &mut buf, deadline).await?
            }
            Action::ContinueRead => read_once(session, link, &mut buf, deadline).await?,
            Action::Sleep(d) => {
                tokio::time::sleep(d).await;
                session.step(Event::Done)
            }
            Action::Finished(result) => return Ok(result?),
        };
    }
    Err(DriveError::Runaway(MAX_STEPS))
}

async fn read_once<S: PollSession + ?Sized>(
    session: &mut S,
    link: &mut Link,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<Action, DriveError> {
    match tokio::time::timeout_at(deadline, link.read(buf)).await {
        Err(_) => Ok(session.step(Event::Timeout)),
        Ok(Ok(0)) => Err(DriveError::Link(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ))),
        Ok(Ok(n)) => Ok(session.step(Event::Input(buf.get(..n).unwrap_or_default()))),
        Ok(Err(e)) => Err(DriveError::Link(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Parity;

    #[test]
    fn uart_time() {
        let l = LineSettings::new(300, 7, Parity::Even, 2);
        // "/#1\r" = 4 chars × 11 bits at 300 baud ≈ 146.7 ms
        assert_eq!(transmit_time(4, Some(l)).as_millis(), 146);
        assert_eq!(transmit_time(4, None), Duration::ZERO);
    }
}
