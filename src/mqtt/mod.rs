//! The MQTT output. Nothing here knows any meter protocol nor any input: it receives
//! [`crate::event::Event`]s (readings that passed the rules, availability changes) through
//! the output interface ([`output`]) and turns them into state, availability and discovery
//! messages ([`publish`], [`discovery`]) and delivers them ([`outbox`] over [`connection`]).

pub mod connection;
pub mod discovery;
pub mod outbox;
pub mod output;
pub mod publish;
pub mod topics;

pub use crate::url::{BrokerUrl, UrlError};
