//! Readings → MQTT messages. Nothing here knows any meter protocol: inputs hand over
//! [`crate::reading::Reading`]s and this layer turns them into state, availability and
//! discovery messages ([`publish`], [`discovery`]) and delivers them ([`outbox`] over
//! [`connection`]).

pub mod connection;
pub mod discovery;
pub mod outbox;
pub mod publish;
pub mod topics;

pub use crate::url::{BrokerUrl, UrlError};
