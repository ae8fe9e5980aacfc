//! Input supervision: an input task that panics or returns is logged and started again with
//! backoff, so the bridge never says `online` over an input that is silently gone
//! (issue 18 §7).
//!
//! Each input runs inside its supervisor's tokio task, one task per input: a second task per
//! input cost its task cell (≈ 250 bytes per meter, issue 17). A panic in the input is caught
//! where the supervisor polls it (`catch_unwind`, as tokio itself catches a task's panic); the
//! supervisor drops what is left of the input, logs the panic with its message and starts the
//! input again from its configuration. Restarts back off from
//! 1 s to 5 min, and their log lines go through a [`FaultLog`], so an input that can never run
//! logs a line, a summary every few minutes, and a line once it has run for a minute.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::event::InputEvent;
use crate::fault_log::{FaultLog, Report};
use crate::transport::backoff::Backoff;

/// An input's task, as the supervisor starts it.
pub type InputFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// First restart delay: a panic on one bad telegram costs one second of readings.
const RESTART_FIRST: Duration = Duration::from_secs(1);
/// Last restart delay: an input that dies at once is started every 5 min, not every second.
const RESTART_MAX: Duration = Duration::from_secs(300);
/// An input that has run this long since its restart is healthy again: the restart fault
/// ends (one log line) and the next restart waits [`RESTART_FIRST`] again.
const STABLE_AFTER: Duration = Duration::from_secs(60);

/// A supervised input. Dropping it stops the supervisor and the input's task with it.
#[derive(Debug)]
pub struct Supervised {
    handle: JoinHandle<()>,
    restarts: Arc<AtomicU64>,
}

impl Supervised {
    /// How often the input's task was started again.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    /// Tells supervisions apart in tests (the address of the shared restart counter).
    #[cfg(test)]
    pub(crate) fn task_key(&self) -> usize {
        Arc::as_ptr(&self.restarts) as usize
    }

    /// Stop the supervisor and the input now.
    pub fn abort(&self) {
        self.handle.abort();
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

/// The text of a panic's payload (`panic!("...")` gives `&str` or `String`).
fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// Run the input `start` makes under supervision. `start` is called again for every restart
/// with a clone of `tx`; the supervisor stops for good when the bridge closes the channel.
pub fn supervise<F>(name: String, tx: mpsc::Sender<InputEvent>, mut start: F) -> Supervised
where
    F: FnMut(mpsc::Sender<InputEvent>) -> InputFuture + Send + 'static,
{
    let restarts = Arc::new(AtomicU64::new(0));
    let counter = restarts.clone();
    let handle = tokio::spawn(async move {
        let mut backoff = Backoff::new(RESTART_FIRST, RESTART_MAX);
        let mut faults = FaultLog::default();
        loop {
            // Dropped with this task: an aborted supervisor takes its input with it.
            let mut input = AssertUnwindSafe(start(tx.clone())).catch_unwind();
            let stable_at = crate::transport::deadline(Instant::now(), STABLE_AFTER);
            let outcome = loop {
                tokio::select! {
                    outcome = &mut input => break outcome,
                    _ = tokio::time::sleep_until(stable_at), if faults.is_failing() => {
                        backoff.reset();
                        if let Some(end) = faults.ok(Instant::now().into_std()) {
                            tracing::info!(input = %name, restarts = end.count, after = ?end.lasted,
                                "input runs again after its restarts");
                        }
                    }
                }
            };
            drop(input);
            if tx.is_closed() {
                return;
            }
            let why = match outcome {
                Ok(()) => "the input task returned".to_string(),
                Err(p) => format!("the input task panicked: {}", panic_message(&*p)),
            };
            let delay = backoff.next_delay();
            counter.fetch_add(1, Ordering::Relaxed);
            match faults.fail(Instant::now().into_std()) {
                Report::Started => {
                    tracing::error!(input = %name, reason = %why, restart_in = ?delay,
                    "input stopped; restarting it with backoff (further restarts are summarised every 5 min)")
                }
                Report::Summary {
                    count,
                    since_last,
                    lasted,
                } => tracing::error!(input = %name, reason = %why,
                    restarts = count, since_last_line = since_last, failing_for = ?lasted, restart_in = ?delay,
                    "input keeps stopping; still restarting it"),
                Report::Quiet => {
                    tracing::debug!(input = %name, reason = %why, restart_in = ?delay, "input restarted")
                }
            }
            tokio::time::sleep(delay).await;
        }
    });
    Supervised { handle, restarts }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// An input that panics on its first two starts is started again each time, and its
    /// third start delivers (tokio's paused clock skips the backoff sleeps).
    #[tokio::test(start_paused = true)]
    async fn a_panicking_input_is_restarted() {
        let (tx, mut rx) = mpsc::channel(8);
        let starts = Arc::new(AtomicUsize::new(0));
        let s = starts.clone();
        let sup = supervise("p1".into(), tx, move |tx| {
            let n = s.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if n < 2 {
                    panic!("overflow when adding duration to instant");
                }
                let _ = tx
                    .send(InputEvent::Unavailable {
                        meters: vec!["m".into()],
                        reason: format!("start {n}"),
                    })
                    .await;
                std::future::pending::<()>().await;
            })
        });
        let ev = tokio::time::timeout(Duration::from_secs(60), rx.recv()).await;
        assert!(
            matches!(ev, Ok(Some(InputEvent::Unavailable { ref reason, .. })) if reason == "start 2"),
            "{ev:?}"
        );
        assert_eq!(sup.restarts(), 2);
        assert_eq!(starts.load(Ordering::SeqCst), 3);
    }

    /// An input that returns is restarted too, with growing delays; closing the channel
    /// (the bridge stopping) ends the supervision.
    #[tokio::test(start_paused = true)]
    async fn a_returning_input_is_restarted_with_backoff_until_the_bridge_stops() {
        let (tx, rx) = mpsc::channel::<InputEvent>(8);
        let starts = Arc::new(std::sync::Mutex::new(Vec::new()));
        let s = starts.clone();
        let sup = supervise("kmp".into(), tx, move |_tx| {
            if let Ok(mut v) = s.lock() {
                v.push(Instant::now());
            }
            Box::pin(async {})
        });
        tokio::time::sleep(Duration::from_secs(20)).await;
        let gaps: Vec<u64> = {
            let v = starts.lock().unwrap();
            v.windows(2)
                .map(|w| (w[1] - w[0]).as_secs_f64().round() as u64)
                .collect()
        };
        assert_eq!(gaps, [1, 2, 4, 8]);
        drop(rx);
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert!(sup.handle.is_finished(), "supervision outlived the bridge");
    }

    /// Dropping the supervision stops the input's own task (a reload removes an input).
    #[tokio::test]
    async fn dropping_the_supervision_stops_the_input() {
        let (tx, _rx) = mpsc::channel::<InputEvent>(8);
        let (alive_tx, mut alive_rx) = mpsc::channel::<()>(1);
        let sup = supervise("p1".into(), tx, move |_tx| {
            let alive = alive_tx.clone();
            Box::pin(async move {
                let _keep = alive;
                std::future::pending::<()>().await;
            })
        });
        tokio::task::yield_now().await;
        drop(sup);
        // The input's task held the only other sender: it is gone once the task is.
        let gone = tokio::time::timeout(Duration::from_secs(5), alive_rx.recv()).await;
        assert!(matches!(gone, Ok(None)), "the input task kept running");
    }
}
