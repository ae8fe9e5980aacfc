//! The list of outputs: every [`crate::event::Event`] goes to each of them, in this order.
//!
//! Adding an output: write it in its own folder as a task over an
//! [`crate::event::output::Inbox`] (see `crate::mqtt::output::run`), and add one line here.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};

use super::{connect_settings, publish_settings, StartError};
use crate::config::Config;
use crate::event::broker::BrokerStatus;
use crate::event::output::Output;
use crate::event::status::InputStatuses;
use crate::http::HttpSettings;
use crate::mqtt::output::MqttOutputSettings;

/// Start every output of `cfg`.
pub(super) fn start(
    cfg: &Config,
    statuses: &Arc<InputStatuses>,
    stopping: &watch::Receiver<bool>,
    ended: &mpsc::UnboundedSender<&'static str>,
) -> Result<Vec<Output>, StartError> {
    let broker = Arc::new(BrokerStatus::default());
    let mqtt = MqttOutputSettings {
        connect: connect_settings(cfg)?,
        publish: publish_settings(cfg),
        queue_size: cfg.mqtt.queue_size,
        qos: cfg.mqtt.qos,
        ha_status_topic: cfg.homeassistant.status_topic.clone(),
        status: broker.clone(),
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
    // raw TCP: one line here.
    if cfg.http.enabled {
        let http = HttpSettings {
            listen: cfg.http.listen_addr()?,
            auth_token: cfg.http.auth_token.clone(),
            max_connections: cfg.http.max_connections,
            naming: publish_settings(cfg).naming,
            statuses: statuses.clone(),
            broker,
            // The history's route (it gets the server's auth and limits).
            extra: crate::history::http::routes(history_reader),
        };
        outputs.push(Output::spawn("http", stopping, ended, |inbox| {
            crate::http::run(http, inbox)
        }));
    }
    Ok(outputs)
}
