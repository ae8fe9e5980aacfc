//! The poll loop every polled meter shares (KMP in [`super::kmp`], MULTICAL `/#n` in
//! [`super::multical`], IEC 62056-21 in [`super::iec62056`]): one poll session per interval
//! over a link that is opened when needed and reopened after it fails. A protocol plugs in
//! as a [`Poller`].
//!
//! A poll that fails marks the meter `offline` at once (for every output); the next poll that
//! succeeds brings it back. Identity learned in one poll (serial number, program number) is
//! kept for the next, so battery meters are asked as little as possible.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::health::LinkHealth;
use crate::event::status::InputStatus;
use crate::event::InputEvent;
use crate::protocol::PollSession;
use crate::reading::Reading;
use crate::time::Timestamp;
use crate::transport::driver::{drive, DriveError};
use crate::transport::{deadline, Link, LinkSpec};

/// One protocol's way of making poll sessions and learning from them.
pub trait Poller: Send + 'static {
    type Session: PollSession + Send;
    fn session(&mut self, now: Timestamp) -> Self::Session;
    /// Called after every poll, successful or not.
    fn learn(&mut self, session: &Self::Session, input: &str);
}

/// Run one polled input forever, reporting its health into `status`: the link opened
/// (`link_up`) or lost (`link_down`), a poll answered (`accepted`) or not (`poll_failed`; a
/// link lost during a poll is both).
pub async fn run<P: Poller>(
    name: String,
    link_cfg: LinkSpec,
    poll_interval: Duration,
    mut poller: P,
    tx: mpsc::Sender<InputEvent>,
    status: Arc<InputStatus>,
) {
    let mut link: Option<Link> = None;
    let mut meters: Vec<String> = Vec::new();
    // Backoff and fault logging: reset by an answered poll, not by an open link (a relay
    // that accepts and closes would otherwise be reopened every second).
    let mut health = LinkHealth::new(&name, &link_cfg);
    let mut first_open = true;
    loop {
        let started = Instant::now();
        if link.is_none() {
            match crate::transport::open(&link_cfg).await {
                Ok(l) => {
                    status.link_up(super::line_in_use(&link_cfg), first_open);
                    first_open = false;
                    link = Some(l);
                }
                Err(e) => {
                    status.link_down(&format!("cannot open the meter's link: {e}"));
                    let delay = health.fault("cannot open the meter's link", &e.to_string());
                    unavailable(&tx, &meters, format!("link: {e}")).await;
                    tokio::time::sleep(delay.min(poll_interval)).await;
                    continue;
                }
            }
        }
        let Some(l) = link.as_mut() else { continue };
        let mut session = poller.session(Timestamp::now_utc());
        let result = drive(&mut session, l).await;
        poller.learn(&session, &name);
        match result {
            Ok(readings) => {
                health.data();
                status.accepted();
                meters = readings
                    .iter()
                    .map(|r: &Reading| r.meter.id.clone())
                    .collect();
                tracing::debug!(input = %name, meters = ?meters, took = ?started.elapsed(), "poll done");
                let ev = InputEvent::Readings {
                    input: name.clone(),
                    readings,
                    interval: poll_interval,
                    raw: None,
                };
                if tx.send(ev).await.is_err() {
                    return;
                }
            }
            Err(DriveError::Link(e)) => {
                status.poll_failed(&e.to_string());
                status.link_down(&format!("link failed during a poll: {e}"));
                let delay = health.fault("link failed during a poll; reopening", &e.to_string());
                link = None;
                unavailable(&tx, &meters, e.to_string()).await;
                tokio::time::sleep(delay.min(poll_interval)).await;
                continue;
            }
            Err(e) => {
                status.poll_failed(&e.to_string());
                // The next poll is the retry; the backoff delay is not used.
                let _ = health.fault(
                    "meter did not answer; trying again next poll",
                    &e.to_string(),
                );
                unavailable(&tx, &meters, e.to_string()).await;
            }
        }
        tokio::time::sleep_until(deadline(started, poll_interval)).await;
    }
}

async fn unavailable(tx: &mpsc::Sender<InputEvent>, meters: &[String], reason: String) {
    if !meters.is_empty() {
        let _ = tx
            .send(InputEvent::Unavailable {
                meters: meters.to_vec(),
                reason,
            })
            .await;
    }
}
