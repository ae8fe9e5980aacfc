//! Property tests: generated data sets round-trip through formatter → framing → parser;
//! arbitrary bytes never panic any parser or session.

use proptest::prelude::*;

use meter2mqtt::protocol::iec62056::block::frame;
use meter2mqtt::protocol::iec62056::dataset::format_data_block;
use meter2mqtt::protocol::iec62056::{
    find_message, parse_data_block, BccMode, DataSet, Identification, Iec62056Options,
    Iec62056Session, Profile, SubValue,
};
use meter2mqtt::protocol::multical::{
    parse_hash1, parse_hash2, parse_hash_c, MulticalOptions, MulticalSession,
};
use meter2mqtt::protocol::{Action, Event, PollSession};
use meter2mqtt::time::Timestamp;

fn address() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,2}(\\.[0-9]{1,3}){1,2}(\\*[0-9]{1,3})?",
        "[0-9]-[0-9]:[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}(\\*255)?",
        "[A-Z]",
    ]
}

fn sub_value() -> impl Strategy<Value = SubValue> {
    (
        "[0-9A-Za-z .,:#+-]{0,32}",
        proptest::option::of("[A-Za-z0-9%]{0,16}"),
    )
        .prop_map(|(value, unit)| SubValue { value, unit })
}

fn data_set() -> impl Strategy<Value = DataSet> {
    (address(), proptest::collection::vec(sub_value(), 1..4))
        .prop_map(|(address, values)| DataSet { address, values })
}

fn mode() -> impl Strategy<Value = BccMode> {
    prop_oneof![Just(BccMode::Xor), Just(BccMode::Sum7)]
}

proptest! {
    #[test]
    fn data_sets_round_trip(
        lines in proptest::collection::vec(proptest::collection::vec(data_set(), 1..5), 0..8),
        mode in mode(),
    ) {
        let block = format_data_block(&lines);
        let msg = frame(&block, mode);
        let m = find_message(&msg).unwrap().unwrap();
        prop_assert!(m.verify(mode).is_ok());
        let parsed = parse_data_block(m.block).unwrap();
        let flat: Vec<DataSet> = lines.into_iter().flatten().collect();
        prop_assert_eq!(parsed, flat);
    }

    #[test]
    fn a_flipped_bit_is_caught_by_xor(
        sets in proptest::collection::vec(data_set(), 1..5),
        pos in any::<prop::sample::Index>(),
        bit in 0u8..7,
    ) {
        let mut msg = frame(&format_data_block(&[sets]), BccMode::Xor);
        let i = 1 + pos.index(msg.len() - 3);
        msg[i] ^= 1 << bit;
        if let Ok(Some(m)) = find_message(&msg) {
            prop_assert!(m.verify(BccMode::Xor).is_err() || m.end < msg.len());
        }
    }

    #[test]
    fn hash1_fields_round_trip(v in proptest::collection::vec(0u64..10_000_000, 10)) {
        let line: Vec<String> = v.iter().map(|x| format!("{x:07}")).collect();
        let h = parse_hash1(format!("{}\r", line.join(" ")).as_bytes()).unwrap();
        prop_assert_eq!(
            vec![h.energy, h.volume, h.hours, h.t1, h.t2, h.t1_t2, h.power, h.flow, h.peak_power, h.info],
            v
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse_data_block(&data);
        let _ = find_message(&data);
        let _ = Identification::parse(&data);
        let _ = parse_hash1(&data);
        let _ = parse_hash2(&data);
        let _ = parse_hash_c(&data);
    }

    #[test]
    fn sessions_survive_arbitrary_input(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..12),
        timeouts in proptest::collection::vec(any::<bool>(), 12),
    ) {
        let now = Timestamp::from_unix_seconds(0);
        let sessions: Vec<Box<dyn PollSession>> = vec![
            Box::new(MulticalSession::new(MulticalOptions::default(), None, now)),
            Box::new(Iec62056Session::new(Iec62056Options::new(Profile::Ultraheat), now)),
            Box::new(Iec62056Session::new(Iec62056Options::new(Profile::Kamstrup382), now)),
        ];
        for mut s in sessions {
            let mut a = s.step(Event::Start);
            let mut i = 0;
            for _ in 0..200 {
                a = match a {
                    Action::Finished(_) => break,
                    Action::Read { .. } | Action::ContinueRead => {
                        let ev = match chunks.get(i) {
                            Some(c) if !timeouts[i % 12] => Event::Input(c),
                            _ => Event::Timeout,
                        };
                        i += 1;
                        s.step(ev)
                    }
                    _ => s.step(Event::Done),
                };
            }
            prop_assert!(matches!(a, Action::Finished(_)), "{:?}", a);
        }
    }
}
