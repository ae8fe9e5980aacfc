//! Re-serving P1 telegrams over TCP (issue 15): an output on the seam
//! ([`crate::event::output`]) that hands every accepted telegram of a P1 input with `serve:`
//! to any number of TCP clients, so Home Assistant's DSMR integration, Domoticz, DSMR-reader
//! or a logger can read the meter next to MQTT. A P1 port has one reader; without this, users
//! put ser2net in front of it, which serves one client and passes line noise on.
//!
//! - Clients get exactly the telegrams the decoder accepted ([`crate::event::Event::Raw`]),
//!   byte for byte from `/` to the CRC and its line end ([`wire::telegram_bytes`]): never line
//!   noise, a rejected or a half telegram. A client that connects in the middle of one gets the
//!   next whole one. Encrypted inputs (Luxembourg Smarty, Austria) serve the decrypted
//!   telegram: no other program has the key.
//! - Never back-pressure: the fan-out waits for room in every output's channel, so this
//!   output takes every event at once and drops on its own side. Each client has a small
//!   bounded queue ([`client::QUEUE_TELEGRAMS`], [`client::QUEUE_BYTES`]) and a bounded socket
//!   send buffer ([`server::SOCKET_SEND_BUFFER`]); one that does not keep up is disconnected
//!   with one log line.
//! - `serve_allow` (CIDR blocks) and `serve_clients` (default 32) bound who and how many may
//!   connect. What clients send is read and dropped.
//! - A port that cannot be bound (in use, no permission) is logged as an error and the bridge
//!   runs on without serving that input.

mod client;
mod server;
mod wire;

use std::collections::HashMap;
use std::net::SocketAddr;

pub use client::{QUEUE_BYTES, QUEUE_TELEGRAMS};
pub use server::{SOCKET_RECV_BUFFER, SOCKET_SEND_BUFFER};
pub use wire::telegram_bytes;

use crate::config::{Config, InputConfig};
use crate::event::output::{Inbox, OutputSummary};
use crate::event::Event;

/// One P1 input to serve.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    /// The input's name (as in [`crate::event::RawTelegram::input`]).
    pub input: String,
    pub addr: SocketAddr,
    pub allow: Vec<ipnet::IpNet>,
    /// Clients kept at once.
    pub clients: usize,
}

/// The served inputs of `cfg` (validated: an entry that does not parse is left out).
pub fn settings(cfg: &Config) -> Vec<ServeSettings> {
    cfg.inputs
        .iter()
        .enumerate()
        .filter_map(|(i, input)| match input {
            InputConfig::P1(p) => {
                let s = p.serve_addr(&format!("inputs[{i}]")).ok()??;
                Some(ServeSettings {
                    input: p.name.clone(),
                    addr: s.addr,
                    allow: s.allow,
                    clients: s.clients,
                })
            }
            _ => None,
        })
        .collect()
}

/// The output's task: serve every input of `settings` until the bridge stops.
pub async fn run(settings: Vec<ServeSettings>, inbox: Inbox) -> OutputSummary {
    let Inbox {
        mut events, ready, ..
    } = inbox;
    // Nothing read back at start: the rules need not wait for this output.
    drop(ready);
    let mut servers = HashMap::new();
    for s in &settings {
        match server::bind(s.addr).and_then(|l| Ok((l.local_addr()?, l))) {
            Ok((addr, listener)) => {
                tracing::info!(input = %s.input, %addr, clients = s.clients, allow = ?s.allow,
                    "serving P1 telegrams over TCP");
                servers.insert(s.input.clone(), server::Server::start(s, listener, addr));
            }
            Err(e) => {
                tracing::error!(input = %s.input, addr = %s.addr, error = %e,
                    "cannot serve P1 telegrams over TCP (serve:); the bridge runs on without it");
            }
        }
    }
    let mut telegrams = 0u64;
    while let Some(ev) = events.recv().await {
        if let Event::Raw(raw) = ev {
            if let Some(server) = servers.get(&*raw.input) {
                server.send(&raw.bytes);
                telegrams += 1;
            }
        }
    }
    for s in servers.values() {
        tracing::debug!(input = %s.input, addr = %s.addr, clients = s.clients(), telegrams, "P1 serving stopped");
    }
    // The summary counts what the bridge delivers to its broker; clients are not that.
    OutputSummary {
        flushed: true,
        ..Default::default()
    }
}
