use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::*;
use crate::event::CounterHint;

fn marker(i: usize) -> Event {
    Event::Availability {
        meter: i.to_string(),
        online: true,
    }
}

fn ids(events: &[Event]) -> Vec<usize> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Availability { meter, .. } => meter.parse().ok(),
            _ => None,
        })
        .collect()
}

type Seen = Arc<Mutex<Vec<Event>>>;

/// An output that records what it gets; it takes nothing before `gate` opens (if given),
/// then everything until its channel ends, and reports how many it got.
fn recorder(
    name: &'static str,
    stopping: &watch::Receiver<bool>,
    ended: &mpsc::UnboundedSender<&'static str>,
    gate: Option<oneshot::Receiver<()>>,
) -> (Output, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let out = Output::spawn(name, stopping, ended, move |mut inbox: Inbox| async move {
        drop(inbox.ready);
        if let Some(gate) = gate {
            let _ = gate.await;
        }
        while let Some(ev) = inbox.events.recv().await {
            s.lock().unwrap().push(ev);
        }
        let delivered = s.lock().unwrap().len() as u64;
        OutputSummary {
            delivered,
            dropped: 0,
            flushed: true,
        }
    });
    (out, seen)
}

/// Back-pressure through the seam: an output that takes nothing makes the fan-out wait once
/// its channel is full (the MQTT outbox while connected, issue 18 §5); nothing is dropped,
/// and when it takes events again every output has every event once, in order, although
/// the waiting `send` was cancelled (as the bridge's `select!` with shutdown does).
#[tokio::test(start_paused = true)]
async fn a_full_output_makes_the_fan_out_wait_and_nothing_is_lost() {
    let (open, gate) = oneshot::channel();
    let mut seen = Vec::new();
    let mut bus = Bus::start(|stopping, ended| {
        let (slow, a) = recorder("slow", stopping, ended, Some(gate));
        let (fast, b) = recorder("fast", stopping, ended, None);
        seen = vec![a, b];
        Ok::<_, ()>(vec![slow, fast])
    })
    .unwrap();
    let n = OUTPUT_CHANNEL + 10;
    let mut pending: VecDeque<Event> = (0..n).map(marker).collect();
    let waited = tokio::time::timeout(Duration::from_secs(5), bus.send(&mut pending)).await;
    assert!(
        waited.is_err(),
        "the fan-out did not wait for the full output"
    );
    // The slow output's channel is full; the fast one got every event the slow one has.
    assert_eq!(pending.len(), n - OUTPUT_CHANNEL);
    assert_eq!(
        ids(&seen[1].lock().unwrap()),
        (0..OUTPUT_CHANNEL).collect::<Vec<_>>()
    );
    let _ = open.send(());
    bus.send(&mut pending).await;
    assert!(pending.is_empty());
    let summary = bus.close().await;
    let all: Vec<usize> = (0..n).collect();
    assert_eq!(ids(&seen[0].lock().unwrap()), all);
    assert_eq!(ids(&seen[1].lock().unwrap()), all);
    assert_eq!(summary.delivered, 2 * n as u64);
    assert!(summary.flushed);
}

/// The rules start only when every output has read back its hints; the hints are merged, and
/// an output with none (it drops its `ready`) does not hold them up.
#[tokio::test(start_paused = true)]
async fn ready_waits_for_every_output_and_merges_their_hints() {
    let mut bus = Bus::start(|stopping, ended| {
        let (plain, _) = recorder("plain", stopping, ended, None);
        let slow = Output::spawn("readback", stopping, ended, |inbox: Inbox| async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            let mut hints = Hints::default();
            hints.counters.insert("E1".into(), CounterHint::default());
            let _ = inbox.ready.send(hints);
            let mut events = inbox.events;
            while events.recv().await.is_some() {}
            OutputSummary::default()
        });
        Ok::<_, ()>(vec![plain, slow])
    })
    .unwrap();
    let t0 = tokio::time::Instant::now();
    let hints = bus.ready().await;
    assert!(t0.elapsed() >= Duration::from_secs(2));
    assert!(hints.counters.contains_key("E1"));
    // Asked again (at shutdown), it returns at once.
    assert!(bus.ready().await.counters.is_empty());
    bus.close().await;
}

/// `stopping` reaches every output, and an output whose task ends early is reported (the
/// bridge then stops) while the fan-out still serves the others.
#[tokio::test(start_paused = true)]
async fn an_output_that_ends_is_reported_and_the_others_keep_their_events() {
    let mut told = None;
    let mut bus = Bus::start(|stopping, ended| {
        let (kept, seen) = recorder("kept", stopping, ended, None);
        told = Some(seen);
        let gone = Output::spawn("gone", stopping, ended, |mut inbox: Inbox| async move {
            let _ = inbox.stopping.changed().await;
            OutputSummary::default()
        });
        Ok::<_, ()>(vec![gone, kept])
    })
    .unwrap();
    bus.stopping();
    assert_eq!(bus.ended().await, Some("gone"));
    let mut pending: VecDeque<Event> = (0..3).map(marker).collect();
    bus.send(&mut pending).await;
    bus.close().await;
    let seen = told.unwrap();
    assert_eq!(ids(&seen.lock().unwrap()), [0, 1, 2]);
}
