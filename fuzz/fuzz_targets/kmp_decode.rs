//! Fuzz the KMP reply path: one-shot and streaming frame decoding, reply decoding, register
//! mapping, and a whole poll session fed the input as the meter's answers.
//!
//! `cargo +nightly fuzz run kmp_decode -- -max_total_time=600`

#![no_main]

use libfuzzer_sys::fuzz_target;
use meter2mqtt::protocol::kmp::codec::{self, Reply};
use meter2mqtt::protocol::kmp::frame::{self, Push, Received, Receiver, MAX_FRAME_LEN};
use meter2mqtt::protocol::kmp::{mapping, KmpPollConfig, KmpSession, RegisterSet};
use meter2mqtt::protocol::{Action, Event, PollSession};
use meter2mqtt::reading::MeterKind;
use meter2mqtt::time::Timestamp;

fn check_reply(reply: &Reply) {
    if let Reply::Registers(entries) = reply {
        for e in entries {
            let _ = e.value.to_string();
            for kind in [MeterKind::Heat, MeterKind::Water, MeterKind::Electricity] {
                let _ = mapping::map_entry(kind, e);
            }
        }
    }
}

fn streaming(data: &[u8], chunk: usize) {
    let mut rx = Receiver::from_meter();
    for mut piece in data.chunks(chunk) {
        loop {
            match rx.push(piece) {
                Push::NeedMore => break,
                Push::Complete { received, consumed } => {
                    assert!(consumed >= 1 && consumed <= piece.len());
                    if let Received::Frame(f) = received {
                        // A frame that decoded re-encodes to bytes that decode to it again.
                        assert_eq!(frame::decode_frame(&f.encode()), Ok(f.clone()));
                        if let Ok(reply) = codec::decode_reply(&f) {
                            check_reply(&reply);
                        }
                    }
                    piece = &piece[consumed..];
                }
                Push::Failed { consumed, .. } => {
                    assert!(consumed >= 1 && consumed <= piece.len());
                    piece = &piece[consumed..];
                }
            }
            assert!(rx.buffered() <= MAX_FRAME_LEN);
        }
    }
}

fn session(data: &[u8], chunk: usize) {
    let Ok(set) = RegisterSet::preset("multical_60x") else {
        return;
    };
    let now = Timestamp::from_unix_seconds(1_700_000_000);
    let mut s = KmpSession::new(KmpPollConfig::new(set.add(0x03EA).add(0x1234)), now);
    let mut pieces = data.chunks(chunk);
    let mut action = s.step(Event::Start);
    for _ in 0..10_000 {
        action = match action {
            Action::Finished(_) => return,
            Action::Read { .. } | Action::ContinueRead => match pieces.next() {
                Some(p) => s.step(Event::Input(p)),
                None => s.step(Event::Timeout),
            },
            _ => s.step(Event::Done),
        };
    }
    panic!("session did not finish");
}

fuzz_target!(|data: &[u8]| {
    let _ = frame::decode_frame(data);
    let _ = codec::decode_register_reply(data);
    if let Ok((_, reply)) = codec::decode_reply_bytes(data) {
        check_reply(&reply);
    }
    let chunk = usize::from(data.first().copied().unwrap_or(1)).max(1);
    streaming(data, chunk);
    session(data, chunk);
});
