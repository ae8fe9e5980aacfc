//! IEC 62056-21 data message: framing, BCC, data block parser, mapping. Must never panic;
//! a block that parses must survive format → parse unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meter2mqtt::protocol::iec62056::dataset::format_data_block;
use meter2mqtt::protocol::iec62056::{
    find_message, map_readout, parse_data_block, BccMode, Identification, Profile,
};
use meter2mqtt::time::Timestamp;

fuzz_target!(|data: &[u8]| {
    let ts = Timestamp::from_unix_seconds(0);
    if let Ok(Some(m)) = find_message(data) {
        let _ = m.verify(BccMode::Xor);
        let _ = m.verify(BccMode::Sum7);
    }
    if let Ok(sets) = parse_data_block(data) {
        let again = format_data_block(&[sets.clone()]);
        assert_eq!(parse_data_block(&again).ok(), Some(sets.clone()));
        let id = Identification::parse(b"/LUGCUH50").ok();
        if let Some(id) = id {
            let _ = map_readout(&id, &sets, Profile::Generic, "fuzz", ts);
        }
    }
    let _ = Identification::parse(data);
});
