//! The KMP poll session wired to the simulator through a small virtual driver: `Write` bytes
//! go to the simulator, its output comes back as `Input`, and `Sleep` / read deadlines move a
//! virtual clock instead of waiting.

use std::time::Duration;

use meter2mqtt::decimal::Decimal;
use meter2mqtt::protocol::kmp::codec::{self, MeterType};
use meter2mqtt::protocol::kmp::frame::{self, Direction};
use meter2mqtt::protocol::kmp::{
    Identity, KmpFailure, KmpPollConfig, KmpSession, RegisterSet, DEFAULT_LINE, ERROR_REST,
    KAMSTRUP_382_LINE,
};
use meter2mqtt::protocol::{Action, Event, PollError, PollSession};
use meter2mqtt::reading::{Class, MeterKind, Reading, Unit, Value};
use meter2mqtt::sim::kmp::KmpSimulator;
use meter2mqtt::time::Timestamp;

/// The meter's awake window after a reply and its maximum answer time (5512-447; notes "Timing").
const METER_WINDOW: Duration = Duration::from_millis(1600);

#[derive(Debug)]
struct Run {
    actions: Vec<Action>,
    writes: Vec<Vec<u8>>,
    sleeps: Vec<Duration>,
    read_timeouts: Vec<Duration>,
    result: Result<Vec<Reading>, PollError>,
    /// Virtual time from the last completed reply frame to the next write, for each write
    /// that followed a reply.
    gaps_after_reply: Vec<Duration>,
}

enum Next {
    Start,
    Done,
    Input(Vec<u8>),
    Timeout,
}

/// Drive `session`; `respond(i, bytes)` answers the i-th write (usually the simulator's
/// `on_input`). Output is delivered in `chunk`-byte pieces.
fn drive(
    session: &mut KmpSession,
    chunk: usize,
    mut respond: impl FnMut(usize, &[u8]) -> Vec<u8>,
) -> Run {
    let mut run = Run {
        actions: Vec::new(),
        writes: Vec::new(),
        sleeps: Vec::new(),
        read_timeouts: Vec::new(),
        // A placeholder until the session finishes (the failure is typed: any will do).
        result: Err(PollError::NoAnswer(KmpFailure::Finished.into())),
        gaps_after_reply: Vec::new(),
    };
    let mut pending: Vec<u8> = Vec::new();
    let mut next = Next::Start;
    let mut clock = Duration::ZERO;
    let mut last_reply_end: Option<Duration> = None;
    for _ in 0..10_000 {
        let action = {
            let event = match &next {
                Next::Start => Event::Start,
                Next::Done => Event::Done,
                Next::Input(b) => Event::Input(b),
                Next::Timeout => Event::Timeout,
            };
            session.step(event)
        };
        run.actions.push(action.clone());
        next = match action {
            Action::Configure(_) => Next::Done,
            Action::Flush => {
                pending.clear();
                Next::Done
            }
            Action::Write(bytes) => {
                if let Some(t) = last_reply_end.take() {
                    run.gaps_after_reply.push(clock - t);
                }
                pending.extend(respond(run.writes.len(), &bytes));
                run.writes.push(bytes);
                Next::Done
            }
            Action::Read { timeout } => {
                run.read_timeouts.push(timeout);
                deliver(&mut pending, chunk, &mut clock, timeout)
            }
            Action::ContinueRead => deliver(&mut pending, chunk, &mut clock, Duration::ZERO),
            Action::Sleep(d) => {
                run.sleeps.push(d);
                clock += d;
                Next::Done
            }
            Action::Finished(result) => {
                run.result = result;
                return run;
            }
            other => panic!("an action this test driver does not know: {other:?}"),
        };
        if matches!(next, Next::Input(_)) && pending.is_empty() {
            // The whole reply has been handed over; the session answers at once.
            last_reply_end = Some(clock);
        }
    }
    panic!("session did not finish: {:?}", run.actions.last());
}

fn deliver(pending: &mut Vec<u8>, chunk: usize, clock: &mut Duration, timeout: Duration) -> Next {
    if pending.is_empty() {
        *clock += timeout;
        return Next::Timeout;
    }
    let n = chunk.min(pending.len());
    Next::Input(pending.drain(..n).collect())
}

fn now() -> Timestamp {
    Timestamp::new(2024, 5, 1, 12, 0, 0, 120).unwrap()
}

fn session(registers: RegisterSet) -> KmpSession {
    KmpSession::new(KmpPollConfig::new(registers), now())
}

fn only_reading(run: &Run) -> &Reading {
    match &run.result {
        Ok(readings) => {
            assert_eq!(readings.len(), 1);
            &readings[0]
        }
        Err(e) => panic!("poll failed: {e}; actions {:?}", run.actions),
    }
}

fn number(r: &Reading, key: &str) -> Decimal {
    match r.get(key) {
        Some(Value::Number(d)) => *d,
        other => panic!("{key}: {other:?}"),
    }
}

fn unit(r: &Reading, key: &str) -> Unit {
    r.values
        .iter()
        .find(|m| m.quantity.key == key)
        .map(|m| m.quantity.unit)
        .unwrap_or_else(|| panic!("no {key}"))
}

/// Register ids of every GetRegister request written.
fn requested_ids(run: &Run) -> Vec<Vec<u16>> {
    run.writes
        .iter()
        .filter_map(|w| {
            let f = frame::decode_frame(w).unwrap();
            assert_eq!(f.direction, Direction::ToMeter);
            (f.command == codec::CMD_GET_REGISTER).then(|| {
                assert_eq!(usize::from(f.data[0]) * 2 + 1, f.data.len());
                f.data[1..]
                    .chunks(2)
                    .map(|p| u16::from_be_bytes([p[0], p[1]]))
                    .collect()
            })
        })
        .collect()
}

fn commands(run: &Run) -> Vec<u8> {
    run.writes
        .iter()
        .map(|w| frame::decode_frame(w).unwrap().command)
        .collect()
}

#[test]
fn clean_poll_of_a_multical_603() {
    let mut sim = KmpSimulator::multical_603();
    let mut s = session(RegisterSet::preset("multical_60x").unwrap());
    let run = drive(&mut s, 64, |_, b| sim.on_input(b));
    assert_eq!(run.actions[0], Action::Configure(DEFAULT_LINE));
    assert_eq!(run.actions[1], Action::Flush);
    assert!(run.sleeps.is_empty(), "{:?}", run.actions);
    // Serial, type, then 9 registers in 8 + 1.
    assert_eq!(commands(&run), [0x02, 0x01, 0x10, 0x10]);
    assert_eq!(
        requested_ids(&run).iter().map(Vec::len).collect::<Vec<_>>(),
        [8, 1]
    );
    // Every request after a reply goes out inside the meter's awake window.
    assert_eq!(run.gaps_after_reply.len(), 3);
    assert!(run.gaps_after_reply.iter().all(|g| *g < METER_WINDOW));
    assert!(run.read_timeouts.iter().all(|t| *t > METER_WINDOW));

    let r = only_reading(&run);
    assert_eq!(r.meter.id, format!("kamstrup_{}", sim.serial));
    assert_eq!(r.meter.kind, MeterKind::Heat);
    assert_eq!(r.meter.manufacturer.as_deref(), Some("Kamstrup"));
    assert_eq!(r.meter.model.as_deref(), Some("MULTICAL 601"));
    assert_eq!(r.meter.serial, Some(sim.serial.to_string()));
    assert_eq!(r.meter.protocol.as_deref(), Some("KMP"));
    // GetType's software revision 0x0601 is firmware "F1" (issue 12 §3: `sw_version`).
    assert_eq!(r.meter.firmware.as_deref(), Some("F1"));
    assert_eq!(r.time, now());
    // Every preset register, in preset order, with the simulator's exact digits.
    let keys: Vec<&str> = r.values.iter().map(|m| m.quantity.key.as_ref()).collect();
    assert_eq!(
        keys,
        [
            "heat_energy",
            "volume",
            "temperature_flow",
            "temperature_return",
            "temperature_difference",
            "flow",
            "power",
            "operating_hours",
            "info_code"
        ]
    );
    for (key, id) in [
        ("heat_energy", 0x003C),
        ("volume", 0x0044),
        ("temperature_flow", 0x0056),
        ("power", 0x0050),
    ] {
        assert_eq!(number(r, key), sim.register(id).unwrap().value, "{key}");
    }
    assert_eq!(number(r, "heat_energy").to_string(), "55.006");
    assert_eq!(unit(r, "heat_energy"), Unit::MWh);
    assert_eq!(unit(r, "volume"), Unit::CubicMeter);
    assert_eq!(unit(r, "flow"), Unit::CubicMeterPerHour);
    assert_eq!(unit(r, "power"), Unit::KW);
    assert!(s.missing().is_empty());
    assert!(s.warnings().is_empty(), "{:?}", s.warnings());
    assert_eq!(
        s.identity(),
        Some(Identity {
            serial: sim.serial,
            meter_type: Some(sim.meter_type)
        })
    );
}

#[test]
fn echoing_head_and_one_byte_chunks() {
    let mut sim = KmpSimulator::multical_603();
    sim.echo = true;
    let mut s = session(RegisterSet::preset("multical_60x").unwrap());
    let run = drive(&mut s, 1, |_, b| sim.on_input(b));
    assert!(run.sleeps.is_empty());
    assert!(run.actions.contains(&Action::ContinueRead));
    assert_eq!(only_reading(&run).values.len(), 9);
    assert_eq!(run.writes.len(), 4);
}

#[test]
fn dropped_replies_give_no_answer_after_the_retries() {
    for echo in [false, true] {
        let mut sim = KmpSimulator::multical_603();
        sim.drop_replies = true;
        sim.echo = echo;
        let mut s = session(RegisterSet::preset("multical_60x").unwrap());
        let run = drive(&mut s, 16, |_, b| sim.on_input(b));
        assert!(
            matches!(run.result, Err(PollError::NoAnswer(_))),
            "{:?}",
            run.result
        );
        // 1 try + 3 retries of the first request, then give up (do not wake the meter further).
        assert_eq!(run.writes.len(), 4);
        assert!(run.writes.windows(2).all(|w| w[0] == w[1]));
        assert_eq!(run.sleeps.len(), 3);
        assert!(run.sleeps.iter().all(|d| *d >= METER_WINDOW));
        assert_eq!(sim.requests_received(), 4);
    }
}

#[test]
fn meter_comes_back_after_two_silent_tries() {
    let mut sim = KmpSimulator::multical_603();
    sim.drop_replies = true;
    let mut s = session(RegisterSet::preset("multical_60x").unwrap());
    let run = drive(&mut s, 16, |i, b| {
        sim.drop_replies = i < 2;
        sim.on_input(b)
    });
    assert_eq!(run.sleeps, [ERROR_REST, ERROR_REST]);
    assert_eq!(only_reading(&run).values.len(), 9);
}

#[test]
fn a_corrupted_crc_is_retried_once() {
    let mut sim = KmpSimulator::multical_603();
    let mut s = session(RegisterSet::preset("multical_60x").unwrap());
    // Damage the reply to the first GetRegister only.
    let run = drive(&mut s, 8, |i, b| {
        sim.corrupt_crc_every = (i == 2).then_some(1);
        sim.on_input(b)
    });
    assert_eq!(run.sleeps.len(), 1);
    assert!(run.sleeps[0] >= METER_WINDOW);
    assert_eq!(commands(&run), [0x02, 0x01, 0x10, 0x10, 0x10]);
    assert_eq!(run.writes[2], run.writes[3]);
    let r = only_reading(&run);
    assert_eq!(r.values.len(), 9);
    assert_eq!(
        number(r, "heat_energy"),
        sim.register(0x003C).unwrap().value
    );
}

#[test]
fn crc_errors_every_time_end_in_bad_reply() {
    let mut sim = KmpSimulator::multical_603();
    sim.corrupt_crc_every = Some(1);
    let mut s = session(RegisterSet::preset("multical_60x").unwrap());
    let run = drive(&mut s, 8, |_, b| sim.on_input(b));
    match &run.result {
        Err(PollError::BadReply(m)) => assert!(m.to_string().contains("CRC"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(run.writes.len(), 4);
}

#[test]
fn unknown_register_is_missing_and_others_intact() {
    let mut sim = KmpSimulator::multical_603();
    // T3 (0x0058) is not in the simulated meter's table.
    assert!(sim.register(0x0058).is_none());
    let set = RegisterSet::new(MeterKind::Heat)
        .add(0x003C)
        .add(0x0058)
        .add(0x0044);
    let mut s = session(set);
    let run = drive(&mut s, 64, |_, b| sim.on_input(b));
    let r = only_reading(&run);
    assert_eq!(s.missing(), [0x0058]);
    assert!(r.get("temperature_t3").is_none());
    assert_eq!(
        number(r, "heat_energy"),
        sim.register(0x003C).unwrap().value
    );
    assert_eq!(number(r, "volume"), sim.register(0x0044).unwrap().value);
}

#[test]
fn twelve_registers_take_two_requests() {
    let mut sim = KmpSimulator::multical_603();
    let ids = [
        0x003C, 0x003F, 0x0044, 0x0056, 0x0057, 0x0059, 0x004A, 0x0050, 0x03EC, 0x0063, 0x0071,
        0x00AF,
    ];
    let set = ids
        .iter()
        .fold(RegisterSet::new(MeterKind::Heat), |s, &id| s.add(id));
    let mut config = KmpPollConfig::new(set);
    config.identity = Some(Identity {
        serial: 42,
        meter_type: None,
    });
    let mut s = KmpSession::new(config, now());
    let run = drive(&mut s, 32, |_, b| sim.on_input(b));
    let requests = requested_ids(&run);
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.len() <= 8));
    assert_eq!(requests.concat(), ids);
    // Identity known: no GetSerialNo / GetType, id from the cached serial.
    assert_eq!(commands(&run), [0x10, 0x10]);
    let r = only_reading(&run);
    assert_eq!(r.meter.id, "kamstrup_42");
    assert_eq!(r.meter.model, None);
    assert_eq!(r.values.len(), 12);
}

#[test]
fn unsupported_get_type_is_skipped() {
    let mut sim = KmpSimulator::multical_603();
    let mut s = session(RegisterSet::preset("multical_60x").unwrap());
    let run = drive(&mut s, 64, |_, b| {
        let command = frame::decode_frame(b).unwrap().command;
        sim.drop_replies = command == codec::CMD_GET_TYPE;
        sim.on_input(b)
    });
    let r = only_reading(&run);
    assert_eq!(r.meter.model, None);
    assert_eq!(r.values.len(), 9);
    assert!(s.warnings().iter().any(|w| w.contains("GetType")));
    assert_eq!(s.identity().map(|i| i.meter_type), Some(None));
    // Four tries of GetType, each followed by a rest, then the registers.
    assert_eq!(run.sleeps.len(), 4);
}

#[test]
fn register_request_failing_after_answers_reports_missing() {
    let mut sim = KmpSimulator::multical_603();
    let mut s = session(RegisterSet::preset("multical_60x").unwrap());
    // The meter stops answering after the first GetRegister.
    let run = drive(&mut s, 64, |i, b| {
        sim.drop_replies = i >= 3;
        sim.on_input(b)
    });
    let r = only_reading(&run);
    assert_eq!(r.values.len(), 8);
    assert_eq!(s.missing(), [0x0063]);
    assert!(s.warnings().iter().any(|w| w.contains("0x0063")));
}

#[test]
fn units_that_do_not_fit_fall_back_to_register_keys() {
    let mut sim = KmpSimulator::multical_603();
    // T1 sent in m³ (0x28): not a temperature.
    sim.set_register(0x0056, 0x28, Decimal::new(5365, -2));
    // A register the map does not know, in litres (0x27).
    sim.set_register(0x1234, 0x27, Decimal::new(42, 0));
    let set = RegisterSet::new(MeterKind::Heat).add(0x0056).add(0x1234);
    let mut s = session(set);
    let run = drive(&mut s, 64, |_, b| sim.on_input(b));
    let r = only_reading(&run);
    assert!(r.get("temperature_flow").is_none());
    assert_eq!(number(r, "register_86"), Decimal::new(5365, -2));
    assert_eq!(unit(r, "register_86"), Unit::CubicMeter);
    assert!(s.warnings().iter().any(|w| w.contains("register_86")));
    let m = r
        .values
        .iter()
        .find(|m| m.quantity.key == "register_4660")
        .unwrap();
    assert_eq!(m.quantity.unit, Unit::Liter);
    assert_eq!(m.quantity.class, Class::Volume);
    assert_eq!(m.value, Value::Number(Decimal::new(42, 0)));
}

#[test]
fn clock_and_date_registers_are_text() {
    let mut sim = KmpSimulator::multical_603();
    sim.advance(3 * 3600 + 61);
    let set = RegisterSet::new(MeterKind::Heat).add(0x03EA).add(0x03EB);
    let mut s = session(set);
    let run = drive(&mut s, 64, |_, b| sim.on_input(b));
    let r = only_reading(&run);
    // The simulated clock starts 2024-01-15 10:00:00.
    assert_eq!(r.get("meter_clock"), Some(&Value::Text("13:01:01".into())));
    assert_eq!(r.get("meter_date"), Some(&Value::Text("2024-01-15".into())));
}

#[test]
fn kamstrup_382_converts_to_core_electricity_units() {
    let mut sim = KmpSimulator::new(
        5_000_123,
        MeterType {
            code: 0x1234,
            revision: 0x0102,
        },
    );
    sim.set_register(0x0001, 0x02, Decimal::new(1_234_567, -1)); // kWh
    sim.set_register(0x0002, 0x01, Decimal::new(2_500_000, 0)); // Wh
    sim.set_register(0x03FF, 0x16, Decimal::new(1193, -3)); // kW
    sim.set_register(0x041E, 0x21, Decimal::new(2301, -1)); // V
    sim.set_register(0x0434, 0x22, Decimal::new(523, -2)); // A
    let mut s = session(RegisterSet::preset("kamstrup_382").unwrap());
    let run = drive(&mut s, 64, |_, b| sim.on_input(b));
    assert_eq!(run.actions[0], Action::Configure(KAMSTRUP_382_LINE));
    let r = only_reading(&run);
    assert_eq!(r.meter.kind, MeterKind::Electricity);
    assert_eq!(r.meter.model.as_deref(), Some("type 0x1234"));
    assert_eq!(number(r, "energy_import_total").to_string(), "123456.7");
    assert_eq!(unit(r, "energy_import_total"), Unit::KWh);
    assert_eq!(number(r, "energy_export_total").to_string(), "2500.000");
    assert_eq!(number(r, "power_import").to_string(), "1193");
    assert_eq!(unit(r, "power_import"), Unit::W);
    assert_eq!(number(r, "voltage_l1").to_string(), "230.1");
    assert_eq!(number(r, "current_l1").to_string(), "5.23");
    assert_eq!(s.missing().len(), 13 - 5);
}

#[test]
fn multical_21_volume_is_water() {
    let mut sim = KmpSimulator::multical_603();
    let mut s = session(RegisterSet::preset("multical_21").unwrap());
    let run = drive(&mut s, 64, |_, b| sim.on_input(b));
    let r = only_reading(&run);
    assert_eq!(r.meter.kind, MeterKind::Water);
    let m = r.values.iter().find(|m| m.quantity.key == "water").unwrap();
    assert_eq!(m.quantity.class, Class::Water);
    assert_eq!(m.value, Value::Number(sim.register(0x0044).unwrap().value));
}

#[test]
fn fallback_id_when_the_serial_is_unusable() {
    let mut sim = KmpSimulator::multical_603();
    let mut config = KmpPollConfig::new(RegisterSet::new(MeterKind::Heat).add(0x003C));
    config.fallback_id = Some("heat_meter_cellar".into());
    let mut s = KmpSession::new(config, now());
    // GetSerialNo answered with 3 data bytes instead of 4: alive, but no usable serial.
    let run = drive(&mut s, 64, |i, b| {
        if i == 0 {
            frame::Frame::new(
                Direction::FromMeter,
                0x3F,
                codec::CMD_GET_SERIAL,
                vec![1, 2, 3],
            )
            .encode()
        } else {
            sim.on_input(b)
        }
    });
    let r = only_reading(&run);
    assert_eq!(r.meter.id, "heat_meter_cellar");
    assert_eq!(r.meter.serial, None);
    assert_eq!(r.meter.model.as_deref(), Some("MULTICAL 601"));
    assert!(run.sleeps.is_empty(), "a well-formed reply is not retried");
    assert!(s.warnings().iter().any(|w| w.contains("GetSerialNo")));
    assert_eq!(s.identity(), None);
}

#[test]
fn unexpected_events_end_the_poll_without_panicking() {
    let mut s = session(RegisterSet::preset("multical_60x").unwrap());
    assert!(matches!(
        s.step(Event::Timeout),
        Action::Finished(Err(PollError::BadReply(_)))
    ));
    // Once finished it keeps saying so.
    assert!(matches!(s.step(Event::Start), Action::Finished(Err(_))));

    let mut s = session(RegisterSet::preset("multical_60x").unwrap());
    assert!(matches!(s.step(Event::Start), Action::Configure(_)));
    assert!(matches!(
        s.step(Event::Input(&[0x40])),
        Action::Finished(Err(_))
    ));
}

#[test]
fn input_garbage_never_panics() {
    // Arbitrary bytes as replies: the session ends with an error or a reading, never panics.
    let mut seed = 0x1234_5678u32;
    for _ in 0..300 {
        let mut s = session(RegisterSet::preset("multical_60x").unwrap());
        let mut action = s.step(Event::Start);
        for _ in 0..200 {
            action = match action {
                Action::Read { .. } | Action::ContinueRead => {
                    let mut buf = [0u8; 24];
                    for b in &mut buf {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        *b = [0x40, 0x0D, 0x1B, 0x3F, 0x10, (seed >> 8) as u8][(seed % 6) as usize];
                    }
                    if seed % 7 == 0 {
                        s.step(Event::Timeout)
                    } else {
                        s.step(Event::Input(&buf))
                    }
                }
                Action::Finished(_) => break,
                _ => s.step(Event::Done),
            };
        }
    }
}

#[test]
fn a_line_spewing_acks_does_not_grow_memory() {
    let mut sim = KmpSimulator::multical_603();
    let mut s = session(RegisterSet::preset("multical_60x").unwrap());
    let run = drive(&mut s, 4096, |_, b| {
        let mut out = vec![frame::ACK; 20_000];
        out.extend(sim.on_input(b));
        out
    });
    assert_eq!(only_reading(&run).values.len(), 9);
    assert!(s.warnings().len() <= 33, "{}", s.warnings().len());
    assert_eq!(
        s.warnings().last().map(String::as_str),
        Some("further warnings suppressed")
    );
}
