//! MULTICAL `/#n` reply parsers and decoding. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meter2mqtt::protocol::multical::{
    decode, parse_hash1, parse_hash2, parse_hash_c, Replies,
};
use meter2mqtt::time::Timestamp;

fuzz_target!(|data: &[u8]| {
    let h2 = parse_hash2(data).ok();
    let hc = parse_hash_c(data).ok();
    if let Ok(h1) = parse_hash1(data) {
        let replies = Replies {
            hash1: &h1,
            hash2: h2.as_ref(),
            hash_c: hc.as_ref(),
        };
        let _ = decode(replies, None, None, "fuzz", Timestamp::from_unix_seconds(0));
    }
    if let Some(h2) = h2 {
        let _ = meter2mqtt::protocol::multical::Scaling::from_program(h2.program);
    }
});
