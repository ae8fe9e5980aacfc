//! The list of outputs: every [`crate::event::Event`] goes to each of them, in this order.
//!
//! Adding an output: write it in its own folder as a task over an
//! [`crate::event::output::Inbox`] (see `crate::mqtt::output::run`), and add one line here.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::{connect_settings, publish_settings, StartError};
use crate::config::Config;
use crate::event::output::Output;
use crate::event::status::InputStatuses;
use crate::mqtt::output::MqttOutputSettings;

/// Start every output of `cfg`.
pub(super) fn start(
    cfg: &Config,
    _statuses: &Arc<InputStatuses>,
    stopping: &watch::Receiver<bool>,
    ended: &mpsc::UnboundedSender<&'static str>,
) -> Result<Vec<Output>, StartError> {
    let mqtt = MqttOutputSettings {
        connect: connect_settings(cfg)?,
        publish: publish_settings(cfg),
        queue_size: cfg.mqtt.queue_size,
        qos: cfg.mqtt.qos,
        ha_status_topic: cfg.homeassistant.status_topic.clone(),
    };
    let (history, history_reader) = crate::history::from_config(cfg);
    let mut outputs = vec![Output::spawn("mqtt", stopping, ended, |inbox| {
        crate::mqtt::output::run(mqtt, inbox)
    })];
    if let Some(h) = history {
        let r = history_reader.clone();
        outputs.push(Output::spawn("history", stopping, ended, |inbox| {
            crate::history::run(h, r, inbox)
        }));
    }
    // http, metrics, raw TCP: one line each here.
    Ok(outputs)
}
