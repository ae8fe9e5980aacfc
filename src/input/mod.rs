//! Adapters: a protocol core composed with a transport, producing [`InputEvent`]s.
//! Each configured input runs as its own task; none knows about MQTT.

pub mod p1;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::InputConfig;
use crate::mqtt::publish::InputEvent;

/// Start one task per configured input.
pub fn spawn_all(inputs: &[InputConfig], tx: &mpsc::Sender<InputEvent>) -> Vec<JoinHandle<()>> {
    inputs
        .iter()
        .map(|input| {
            let tx = tx.clone();
            match input.clone() {
                InputConfig::P1(cfg) => tokio::spawn(p1::run(cfg, tx)),
            }
        })
        .collect()
}
