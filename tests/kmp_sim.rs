//! The sans-IO KMP meter simulator on its own.

use meter2mqtt::decimal::Decimal;
use meter2mqtt::protocol::kmp::codec::{self, RegisterValue, Reply};
use meter2mqtt::protocol::kmp::frame::{self, Direction, Frame, FrameError};
use meter2mqtt::sim::kmp::KmpSimulator;
use meter2mqtt::time::Timestamp;

fn registers(reply: &[u8]) -> Vec<(u16, Decimal)> {
    match codec::decode_reply_bytes(reply) {
        Ok((_, Reply::Registers(entries))) => entries
            .into_iter()
            .map(|e| match e.value {
                RegisterValue::Number(d) => (e.id, d),
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

fn get(sim: &mut KmpSimulator, ids: &[u16]) -> Vec<(u16, Decimal)> {
    let out = sim.on_input(&codec::get_register_request(0x3F, ids).unwrap());
    registers(&out)
}

#[test]
fn answers_identity_requests() {
    let mut sim = KmpSimulator::multical_603();
    let (_, serial) =
        codec::decode_reply_bytes(&sim.on_input(&codec::get_serial_request(0x3F))).unwrap();
    assert_eq!(serial, Reply::Serial(sim.serial));
    let (_, t) = codec::decode_reply_bytes(&sim.on_input(&codec::get_type_request(0x3F))).unwrap();
    assert_eq!(t, Reply::Type(sim.meter_type));
}

#[test]
fn partial_requests_are_buffered() {
    let mut sim = KmpSimulator::multical_603();
    let request = codec::get_register_request(0x3F, &[0x003C, 0x0044]).unwrap();
    let (last, head) = request.split_last().unwrap();
    for b in head {
        assert!(sim.on_input(std::slice::from_ref(b)).is_empty());
    }
    let out = sim.on_input(std::slice::from_ref(last));
    let regs = registers(&out);
    assert_eq!(
        regs.iter().map(|r| r.0).collect::<Vec<_>>(),
        [0x003C, 0x0044]
    );
    assert_eq!(regs[0].1.to_string(), "55.006");
    assert_eq!(regs[1].1.to_string(), "1875.56");
}

#[test]
fn unknown_registers_are_left_out_in_the_order_asked() {
    let mut sim = KmpSimulator::multical_603();
    let regs = get(&mut sim, &[0x0044, 0x0058, 0x003C, 0x7777]);
    assert_eq!(
        regs.iter().map(|r| r.0).collect::<Vec<_>>(),
        [0x0044, 0x003C]
    );
    sim.remove_register(0x0044);
    assert_eq!(get(&mut sim, &[0x0044, 0x003C]).len(), 1);
}

#[test]
fn bad_requests_get_no_answer() {
    let mut sim = KmpSimulator::multical_603();
    let mut request = codec::get_serial_request(0x3F);
    let n = request.len();
    request[n - 2] ^= 0x01; // CRC
    assert!(sim.on_input(&request).is_empty());
    assert!(sim.on_input(&codec::get_serial_request(0x7F)).is_empty());
    let nine = Frame::new(
        Direction::ToMeter,
        0x3F,
        codec::CMD_GET_REGISTER,
        [&[9u8][..], &[0u8, 0x3C].repeat(9)].concat(),
    )
    .encode();
    assert!(sim.on_input(&nine).is_empty());
    // Endless garbage inside a frame is bounded and the meter still answers afterwards.
    let mut junk = vec![0x80];
    junk.extend(std::iter::repeat_n(0x11, 10_000));
    assert!(sim.on_input(&junk).is_empty());
    assert_eq!(get(&mut sim, &[0x003C]).len(), 1);
    // The 9-register request was well-formed at the frame level, so it counts.
    assert_eq!(sim.requests_received(), 2);
}

#[test]
fn set_clock_is_acknowledged() {
    let mut sim = KmpSimulator::multical_603();
    let t = Timestamp::new(2024, 2, 3, 4, 5, 6, 0).unwrap();
    assert_eq!(
        sim.on_input(&codec::set_clock_request(0x3F, &t)),
        [frame::ACK]
    );
}

#[test]
fn fault_knobs() {
    let mut sim = KmpSimulator::multical_603();
    let request = codec::get_serial_request(0x3F);

    sim.echo = true;
    let out = sim.on_input(&request);
    assert!(out.starts_with(&request));
    assert!(codec::decode_reply_bytes(&out).is_ok());

    sim.drop_replies = true;
    assert_eq!(sim.on_input(&request), request, "echo only");
    sim.echo = false;
    assert!(sim.on_input(&request).is_empty());
    sim.drop_replies = false;

    sim.corrupt_crc_every = Some(2);
    let results: Vec<bool> = (0..4)
        .map(|_| frame::decode_frame(&sim.on_input(&request)).is_ok())
        .collect();
    // Replies so far: 1 (echo test); then 2 (bad), 3, 4 (bad), 5.
    assert_eq!(results, [false, true, false, true]);
    let damaged = {
        sim.corrupt_crc_every = Some(1);
        sim.on_input(&request)
    };
    assert!(matches!(
        frame::decode_frame(&damaged),
        Err(FrameError::BadCrc { .. })
    ));
}

#[test]
fn advancing_moves_counters_up_only() {
    let mut sim = KmpSimulator::multical_603();
    let ids = [0x003C, 0x0044, 0x03EC, 0x0056, 0x004A, 0x0050];
    let mut previous = get(&mut sim, &ids);
    for step in [1, 59, 60, 600, 3600, 86_400] {
        sim.advance(step);
        let now = get(&mut sim, &ids);
        for i in 0..3 {
            assert!(now[i].1 >= previous[i].1, "{:#06x} went down", now[i].0);
        }
        previous = now;
    }
    let start = KmpSimulator::multical_603();
    let e0 = start.register(0x003C).unwrap().value;
    let v0 = start.register(0x0044).unwrap().value;
    let h0 = start.register(0x03EC).unwrap().value;
    // After a day: roughly 2.2 kW × 24 h ≈ 50 kWh more, and 24 more operating hours.
    assert!(previous[0].1 > e0);
    assert!(previous[1].1 > v0);
    let hours = previous[2].1.mantissa() - h0.mantissa();
    assert!((24..=25).contains(&hours), "{hours}");
    let kwh = previous[0].1.mantissa() - e0.mantissa();
    assert!((40..=80).contains(&kwh), "{kwh} kWh in a day");
    // Instantaneous values stay plausible.
    assert!(previous[3].1 > Decimal::new(40, 0) && previous[3].1 < Decimal::new(70, 0));
}

#[test]
fn huge_jumps_terminate_and_saturate() {
    let mut sim = KmpSimulator::multical_603();
    sim.advance(u64::MAX / 2);
    sim.advance(u64::MAX);
    // Counters saturate instead of wrapping; the meter still answers.
    assert_eq!(get(&mut sim, &[0x003C, 0x0044]).len(), 2);
}
