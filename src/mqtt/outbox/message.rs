//! One message for the [`super::Outbox`], and what the queue may drop.

/// What a message is to the queue when it must drop something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A reading (state, per-quantity value, raw telegram): the next one supersedes it, so the
    /// oldest go first while the broker is unreachable.
    Reading,
    /// Discovery, availability, status, removals: never dropped for readings.
    Control,
}

/// One message to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
    pub kind: Kind,
}

impl Message {
    /// A retained control message (discovery, availability, a removal).
    pub fn retained(topic: String, payload: impl Into<Vec<u8>>) -> Self {
        Message {
            topic,
            payload: payload.into(),
            retain: true,
            kind: Kind::Control,
        }
    }

    /// A retained reading (a meter's state or one quantity's value).
    pub fn reading(topic: String, payload: impl Into<Vec<u8>>) -> Self {
        Message {
            kind: Kind::Reading,
            ..Self::retained(topic, payload)
        }
    }

    /// A reading that is not retained (a raw telegram).
    pub fn transient(topic: String, payload: impl Into<Vec<u8>>) -> Self {
        Message {
            topic,
            payload: payload.into(),
            retain: false,
            kind: Kind::Reading,
        }
    }
}
