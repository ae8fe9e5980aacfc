//! Property tests: stuffing, frames, numbers and the receiver.

use meter2mqtt::decimal::Decimal;
use meter2mqtt::protocol::kmp::codec::{self, RegisterValue};
use meter2mqtt::protocol::kmp::frame::{
    self, Direction, Frame, FrameError, Push, Received, Receiver, MAX_FRAME_LEN, STUFFED_BYTES,
};
use meter2mqtt::protocol::kmp::number;
use proptest::prelude::*;

fn decimal() -> impl Strategy<Value = Decimal> {
    (any::<i64>(), -63i8..=63).prop_map(|(m, e)| Decimal::new(m, e))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn stuffing_round_trips(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let stuffed = frame::stuff(&data);
        // Only the escape byte itself may appear, and only as an escape.
        let mut i = 0;
        while i < stuffed.len() {
            if stuffed[i] == frame::ESCAPE {
                prop_assert!(i + 1 < stuffed.len());
                prop_assert!(STUFFED_BYTES.contains(&!stuffed[i + 1]));
                i += 2;
            } else {
                prop_assert!(!STUFFED_BYTES.contains(&stuffed[i]));
                i += 1;
            }
        }
        prop_assert_eq!(frame::destuff(&stuffed), Ok(data));
    }

    #[test]
    fn frames_round_trip(
        to_meter in any::<bool>(),
        address in any::<u8>(),
        command in any::<u8>(),
        data in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let direction = if to_meter { Direction::ToMeter } else { Direction::FromMeter };
        let f = Frame::new(direction, address, command, data);
        let wire = f.encode();
        prop_assert_eq!(frame::decode_frame(&wire), Ok(f.clone()));
        if !to_meter {
            let mut rx = Receiver::from_meter();
            prop_assert_eq!(
                rx.push(&wire),
                Push::Complete { received: Received::Frame(f), consumed: wire.len() }
            );
        }
    }

    #[test]
    fn a_damaged_byte_is_always_caught(
        data in proptest::collection::vec(any::<u8>(), 1..50),
        pos in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        // Damage one byte of address..CRC (any error burst of up to 16 bits is detected by a
        // CRC-16), stuff it again and decode: must be a CRC error, never a frame.
        let mut body = vec![0x3F, 0x10];
        body.extend_from_slice(&data);
        let crc = frame::crc16(&body);
        body.extend_from_slice(&crc.to_be_bytes());
        let i = pos.index(body.len());
        body[i] ^= flip;
        let mut wire = vec![frame::START_FROM_METER];
        frame::stuff_into(&body, &mut wire);
        wire.push(frame::STOP);
        let result = frame::decode_frame(&wire);
        prop_assert!(matches!(result, Err(FrameError::BadCrc { .. })), "{:?}", result);
    }

    #[test]
    fn numbers_round_trip(d in decimal()) {
        let (siex, bytes) = number::encode_minimal(d).unwrap();
        let back = number::decode(siex, &bytes).unwrap();
        prop_assert_eq!(back.mantissa(), d.mantissa());
        prop_assert_eq!(back.exponent(), d.exponent());
        // With padding to the longest length, too.
        let (siex8, bytes8) = number::encode(d, 8).unwrap();
        prop_assert_eq!(number::decode(siex8, &bytes8).unwrap(), back);
    }

    #[test]
    fn number_decoding_is_total(siex in any::<u8>(), bytes in proptest::collection::vec(any::<u8>(), 0..20)) {
        if let Ok(d) = number::decode(siex, &bytes) {
            prop_assert!((-63..=63).contains(&d.exponent()));
        }
    }

    #[test]
    fn register_replies_round_trip(
        regs in proptest::collection::vec((any::<u16>(), 0u8..=0x2E, decimal()), 0..8)
    ) {
        let mut data = Vec::new();
        for (id, unit, value) in &regs {
            codec::encode_register_entry(&mut data, *id, *unit, *value, 8).unwrap();
        }
        let entries = codec::decode_register_reply(&data).unwrap();
        prop_assert_eq!(entries.len(), regs.len());
        for (e, (id, unit, value)) in entries.iter().zip(&regs) {
            prop_assert_eq!(e.id, *id);
            prop_assert_eq!(e.unit_code, *unit);
            prop_assert_eq!(&e.value, &RegisterValue::Number(*value));
        }
    }

    #[test]
    fn register_decoding_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = codec::decode_register_reply(&data);
    }

    #[test]
    fn receiver_never_panics_and_stays_bounded(
        data in proptest::collection::vec(any::<u8>(), 0..4000),
        chunk in 1usize..64,
        bias in any::<bool>(),
    ) {
        // With `bias`, frame bytes are frequent so real frames and errors happen often.
        let data: Vec<u8> = if bias {
            data.iter().map(|b| match b % 8 { 0 => 0x40, 1 => 0x0D, 2 => 0x1B, _ => *b }).collect()
        } else {
            data
        };
        let mut rx = Receiver::from_meter();
        for mut piece in data.chunks(chunk) {
            loop {
                match rx.push(piece) {
                    Push::NeedMore => break,
                    Push::Complete { consumed, .. } | Push::Failed { consumed, .. } => {
                        prop_assert!(consumed >= 1 && consumed <= piece.len());
                        piece = &piece[consumed..];
                    }
                }
                prop_assert!(rx.buffered() <= MAX_FRAME_LEN);
            }
            prop_assert!(rx.buffered() <= MAX_FRAME_LEN);
        }
    }

    #[test]
    fn receiver_finds_a_frame_after_garbage(
        garbage in proptest::collection::vec(any::<u8>().prop_filter("no start", |b| *b != 0x40 && *b != 0x06), 0..200),
        data in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let f = Frame::new(Direction::FromMeter, 0x3F, 0x10, data);
        let mut line = garbage;
        line.extend_from_slice(&f.encode());
        let streamed = codec::decode_reply_bytes(&line).map(|(_, reply)| reply);
        prop_assert_eq!(streamed, codec::decode_reply(&f));
    }
}
