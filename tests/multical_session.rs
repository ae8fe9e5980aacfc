//! `/#n` poll sessions driven against the MULTICAL 66C simulator on a virtual clock.

mod iec_common;
use iec_common as common;

use std::time::Duration;

use common::{drive, drive_with, line, now, num, written, NoSwitch};
use meter2mqtt::protocol::multical::{
    MulticalOptions, MulticalSession, ProgramNumber, Scaling, Terminator, REPLY_LINE, REQUEST_LINE,
};
use meter2mqtt::protocol::{Action, Event, PollError, PollSession};
use meter2mqtt::sim::MulticalSimulator;

fn session(opts: MulticalOptions) -> MulticalSession {
    MulticalSession::new(opts, None, now())
}

#[test]
fn first_poll_reads_hash1_and_hash2_then_the_cache_skips_hash2() {
    let mut sim = MulticalSimulator::new();
    let mut s = session(MulticalOptions::default());
    let t = drive(&mut s, &mut sim);
    let r = t.result.clone().unwrap().remove(0);
    assert_eq!(num(&r, "heat_energy"), "507.109");
    assert_eq!(num(&r, "flow"), "0.079"); // 79 l/h in m³/h
    assert_eq!(r.meter.id, "multical_00000060017");
    assert_eq!(written(&t), vec![b"/#1\r".to_vec(), b"/#2\r".to_vec()]);
    // Requests go out at 300 7E2 and the very next action switches to 1200.
    for (i, (_, a)) in t.actions.iter().enumerate() {
        if let Action::Write(_) = a {
            assert_eq!(t.actions[i - 2].1, Action::Configure(REQUEST_LINE));
            assert_eq!(t.actions[i - 1].1, Action::Flush);
            assert_eq!(t.actions[i + 1].1, Action::Configure(REPLY_LINE));
        }
    }
    assert!(t.writes.iter().all(|(_, _, l)| *l == line(300, 2)));
    let known = s.identity().unwrap();
    assert_eq!(known.program, ProgramNumber::parse("0044119").unwrap());

    // Next poll: identity known → only /#1; the meter has moved on an hour.
    sim.advance(3600);
    let mut s2 = MulticalSession::new(MulticalOptions::default(), Some(known), now());
    let t2 = drive(&mut s2, &mut sim);
    let r2 = t2.result.clone().unwrap().remove(0);
    assert_eq!(written(&t2), vec![b"/#1\r".to_vec()]);
    assert_eq!(num(&r2, "operating_hours"), "32674");
    assert_eq!(num(&r2, "heat_energy"), "507.112");
    assert_eq!(r2.meter.id, "multical_00000060017");
}

#[test]
fn configured_scaling_skips_hash2_and_hash_c_is_optional() {
    let mut sim = MulticalSimulator::new();
    let scaling = Scaling::from_program(ProgramNumber::parse("0044119").unwrap()).unwrap();
    let opts = MulticalOptions {
        scaling: Some(scaling),
        read_hash_c: true,
        terminator: Terminator::CrLf,
        fallback_id: "heat_cellar".into(),
        ..MulticalOptions::default()
    };
    let t = drive_with(&mut session(opts), &mut sim, 1, false);
    let r = t.result.clone().unwrap().remove(0);
    assert_eq!(written(&t), vec![b"/#1\r\n".to_vec(), b"/#C\r\n".to_vec()]);
    assert_eq!(r.meter.id, "heat_cellar");
    assert_eq!(num(&r, "temperature_t3"), "218.75");
}

#[test]
fn a_reader_that_does_not_switch_to_1200_gets_no_answer() {
    let mut sim = MulticalSimulator::new();
    let mut s = NoSwitch(session(MulticalOptions::default()));
    let t = drive(&mut s, &mut sim);
    assert!(
        matches!(t.result, Err(PollError::NoAnswer(_))),
        "{:?}",
        t.result
    );
    // The meter did answer, at 1200 baud; the port was still at 300, so it was lost.
    assert_eq!(sim.answered, 3);
    assert_eq!(t.lost.len(), 3);
    assert!(t.lost.iter().all(|r| r.line == REPLY_LINE));
}

#[test]
fn requests_at_the_wrong_speed_are_not_understood() {
    let mut sim = MulticalSimulator::new();
    let replies = sim.on_input(line(1200, 2), b"/#1\r");
    assert!(replies.is_empty());
    assert_eq!(sim.answered, 0);
}

#[test]
fn slow_reply_within_the_timeout_is_read_and_a_slower_one_is_not() {
    let mut sim = MulticalSimulator::new();
    sim.slow_reply(Duration::from_millis(1500));
    let t = drive(&mut session(MulticalOptions::default()), &mut sim);
    assert!(t.result.is_ok(), "{:?}", t.result);

    sim.slow_reply(Duration::from_secs(3));
    let t = drive(&mut session(MulticalOptions::default()), &mut sim);
    assert!(matches!(t.result, Err(PollError::NoAnswer(_))));
    let opts = MulticalOptions {
        reply_timeout: Duration::from_secs(5),
        ..MulticalOptions::default()
    };
    assert!(drive(&mut session(opts), &mut sim).result.is_ok());
}

#[test]
fn non_number_field_is_rejected_after_bounded_retries() {
    let mut sim = MulticalSimulator::new();
    sim.set_corrupt(true);
    let t = drive(&mut session(MulticalOptions::default()), &mut sim);
    match &t.result {
        Err(PollError::BadReply(m)) => {
            let m = m.to_string();
            assert!(
                m.contains("field 2 (volume V1)") && m.contains("not a number"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(written(&t), vec![b"/#1\r".to_vec(); 3]);
}

#[test]
fn silent_meter_gives_no_answer_with_at_least_5_s_between_requests() {
    let mut sim = MulticalSimulator::new();
    sim.set_silent(true);
    let opts = MulticalOptions {
        retries: 3,
        retry_pause: Duration::from_millis(100), // raised to the 5 s minimum
        ..MulticalOptions::default()
    };
    let t = drive(&mut session(opts), &mut sim);
    match &t.result {
        Err(PollError::NoAnswer(m)) => assert!(m.to_string().contains("after 4 attempts"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(t.writes.len(), 4);
    for w in t.writes.windows(2) {
        assert!(
            w[1].0 - w[0].0 >= Duration::from_secs(5),
            "{:?}",
            w[1].0 - w[0].0
        );
    }
    assert!(t
        .actions
        .iter()
        .any(|(_, a)| *a == Action::Sleep(Duration::from_secs(5))));
}

#[test]
fn meter_back_after_silence_is_read_on_retry() {
    // Drive by hand: first attempt times out, then the meter answers.
    let mut sim = MulticalSimulator::new();
    let mut s = MulticalSession::new(MulticalOptions::default(), s_known(), now());
    assert_eq!(s.step(Event::Start), Action::Configure(REQUEST_LINE));
    assert_eq!(s.step(Event::Done), Action::Flush);
    assert!(matches!(s.step(Event::Done), Action::Write(_)));
    assert_eq!(s.step(Event::Done), Action::Configure(REPLY_LINE));
    assert!(matches!(s.step(Event::Done), Action::Read { .. }));
    assert_eq!(
        s.step(Event::Timeout),
        Action::Sleep(Duration::from_secs(5))
    );
    assert_eq!(s.step(Event::Done), Action::Configure(REQUEST_LINE));
    assert_eq!(s.step(Event::Done), Action::Flush);
    let req = match s.step(Event::Done) {
        Action::Write(b) => b,
        a => panic!("{a:?}"),
    };
    let reply = sim.on_input(line(300, 2), &req).remove(0);
    s.step(Event::Done);
    s.step(Event::Done);
    // An optical head's echo of the request arrives first and is skipped.
    let mut input = req.clone();
    input.extend_from_slice(&reply.bytes);
    match s.step(Event::Input(&input)) {
        Action::Finished(Ok(r)) => assert_eq!(num(&r[0], "volume"), "12966.26"),
        a => panic!("{a:?}"),
    }
}

fn s_known() -> Option<meter2mqtt::protocol::multical::MulticalIdentity> {
    Some(meter2mqtt::protocol::multical::MulticalIdentity {
        customer: "00000060017".into(),
        program: ProgramNumber::parse("0044119").unwrap(),
    })
}
