//! The MQTT connection's health, for the outputs that show it (`/metrics`): shared counters
//! the MQTT output writes and others read, as [`super::status`] does for the inputs. Here
//! rather than in `mqtt` so that no output imports another.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Written by the MQTT output (once a second and on every connect); read by `/metrics`.
#[derive(Debug, Default)]
pub struct BrokerStatus {
    connected: AtomicBool,
    connects: AtomicU64,
    queued: AtomicU64,
    delivered: AtomicU64,
    dropped: AtomicU64,
}

/// A copy of [`BrokerStatus`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct BrokerSnapshot {
    pub connected: bool,
    /// Connections made after the first one.
    pub reconnects: u64,
    /// Messages waiting in the outbox (queued and not yet acknowledged).
    pub queued: u64,
    pub delivered: u64,
    /// Messages dropped because the outbox was full while the broker was unreachable.
    pub dropped: u64,
}

impl BrokerStatus {
    /// A connection to the broker is up (the first or a new one).
    pub fn connected(&self) {
        self.connected.store(true, Ordering::Relaxed);
        self.connects.fetch_add(1, Ordering::Relaxed);
    }

    /// The outbox's current figures.
    pub fn update(&self, connected: bool, queued: u64, delivered: u64, dropped: u64) {
        self.connected.store(connected, Ordering::Relaxed);
        self.queued.store(queued, Ordering::Relaxed);
        self.delivered.store(delivered, Ordering::Relaxed);
        self.dropped.store(dropped, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> BrokerSnapshot {
        BrokerSnapshot {
            connected: self.connected.load(Ordering::Relaxed),
            reconnects: self.connects.load(Ordering::Relaxed).saturating_sub(1),
            queued: self.queued.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
        }
    }
}
