//! The one interface between the rules and the outputs, and the fan-out over it.
//!
//! An output is a task that receives [`Event`]s from a bounded channel ([`Inbox`]). It starts,
//! reads back what it needs, hands the rules its [`Hints`] (or nothing), and runs until its
//! channel closes; then it flushes and returns an [`OutputSummary`]. The bridge lists its
//! outputs in one place (`bridge::outputs`) and fans every event out to each ([`Bus`]).
//!
//! Back-pressure: the fan-out waits for room in *every* output's channel, in order. MQTT must
//! not drop a reading while connected (issue 18 §5, `tests/outbox_burst.rs`): it stops taking
//! events while its outbox is full, its channel fills, the fan-out waits, the rules stop taking
//! input events and the bounded input channel makes the inputs wait. An output that may lose
//! events for a slow consumer (a web page's server-sent events) must keep taking events and
//! drop on its own side, so it never holds back the others.

use std::collections::VecDeque;
use std::future::Future;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::{Event, Hints};

/// Events an output's channel holds before the fan-out waits for it. Small: the input
/// channel (1 024 events) is the bridge's buffer; this only keeps an output busy.
pub const OUTPUT_CHANNEL: usize = 64;

/// What an output's task gets.
pub struct Inbox {
    /// The events after the rules; `None` once the bridge stops (flush, then return).
    pub events: mpsc::Receiver<Event>,
    /// Send the hints read back at start (once). The rules take no input event before every
    /// output has sent or dropped this.
    pub ready: oneshot::Sender<Hints>,
    /// Becomes `true` when the bridge stops: take every remaining event at once (stop
    /// holding back for room) until `events` ends.
    pub stopping: watch::Receiver<bool>,
}

/// What an output did, returned when it stops.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutputSummary {
    pub delivered: u64,
    pub dropped: u64,
    /// Everything queued was delivered before the output stopped.
    pub flushed: bool,
}

/// A running output, as the fan-out sees it.
pub struct Output {
    pub name: &'static str,
    events: mpsc::Sender<Event>,
    ready: Option<oneshot::Receiver<Hints>>,
    done: JoinHandle<OutputSummary>,
}

impl Output {
    /// Start an output's task. `ended` is told the output's name when its task returns
    /// before the bridge stops (the bridge then stops: an output that is gone for good, such
    /// as a lost MQTT connection task, must not leave it running blind).
    pub fn spawn<F, Fut>(
        name: &'static str,
        stopping: &watch::Receiver<bool>,
        ended: &mpsc::UnboundedSender<&'static str>,
        run: F,
    ) -> Output
    where
        F: FnOnce(Inbox) -> Fut,
        Fut: Future<Output = OutputSummary> + Send + 'static,
    {
        let (events, rx) = mpsc::channel(OUTPUT_CHANNEL);
        let (ready_tx, ready) = oneshot::channel();
        let fut = run(Inbox {
            events: rx,
            ready: ready_tx,
            stopping: stopping.clone(),
        });
        let ended = ended.clone();
        let done = tokio::spawn(async move {
            let summary = fut.await;
            let _ = ended.send(name);
            summary
        });
        Output {
            name,
            events,
            ready: Some(ready),
            done,
        }
    }
}

/// The fan-out: every event to every output, in order.
pub struct Bus {
    outputs: Vec<Output>,
    /// How many outputs already have the front event of the pending queue.
    next: usize,
    stopping: watch::Sender<bool>,
    ended: mpsc::UnboundedReceiver<&'static str>,
}

impl Bus {
    /// A bus for outputs that `start` spawns with [`Output::spawn`] (given the stopping
    /// signal and the end notice it needs).
    pub fn start<E>(
        start: impl FnOnce(
            &watch::Receiver<bool>,
            &mpsc::UnboundedSender<&'static str>,
        ) -> Result<Vec<Output>, E>,
    ) -> Result<Bus, E> {
        let (stopping, stopping_rx) = watch::channel(false);
        let (ended_tx, ended) = mpsc::unbounded_channel();
        let outputs = start(&stopping_rx, &ended_tx)?;
        Ok(Bus {
            outputs,
            next: 0,
            stopping,
            ended,
        })
    }

    /// Wait until every output has handed over its hints (the first call only; later calls
    /// return empty hints at once).
    pub async fn ready(&mut self) -> Hints {
        let mut hints = Hints::default();
        for o in &mut self.outputs {
            if let Some(rx) = o.ready.take() {
                if let Ok(h) = rx.await {
                    hints.merge(h);
                }
            }
        }
        hints
    }

    /// Send `pending` to every output, front first, waiting for room. Cancel-safe: an event
    /// leaves `pending` only when every output has it, and no output gets it twice.
    pub async fn send(&mut self, pending: &mut VecDeque<Event>) {
        while let Some(ev) = pending.front() {
            while let Some(o) = self.outputs.get(self.next) {
                // An output whose task has ended refuses; the others still get the event.
                if let Ok(permit) = o.events.reserve().await {
                    permit.send(ev.clone());
                }
                self.next += 1;
            }
            self.next = 0;
            pending.pop_front();
        }
    }

    /// An output's task returned while the bridge runs: its name.
    pub async fn ended(&mut self) -> Option<&'static str> {
        self.ended.recv().await
    }

    /// Tell every output that the bridge stops (they take what is left without waiting).
    pub fn stopping(&self) {
        let _ = self.stopping.send(true);
    }

    /// Close every output's channel and wait for each to flush; their summaries added up
    /// (`flushed` only if every output flushed).
    pub async fn close(self) -> OutputSummary {
        let mut total = OutputSummary {
            flushed: true,
            ..Default::default()
        };
        for o in self.outputs {
            drop(o.events);
            match o.done.await {
                Ok(s) => {
                    total.delivered += s.delivered;
                    total.dropped += s.dropped;
                    total.flushed &= s.flushed;
                }
                Err(e) => {
                    tracing::error!(output = o.name, error = %e, "output task failed");
                    total.flushed = false;
                }
            }
        }
        total
    }
}

#[cfg(test)]
mod tests;
