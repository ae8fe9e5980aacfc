//! IEC 62056-21 readout sessions driven against the simulators on a virtual clock.

mod iec_common;
use iec_common as common;

use std::time::Duration;

use common::{drive, drive_with, line, now, num, written, NoSwitch};
use meter2mqtt::protocol::iec62056::ident::Mode;
use meter2mqtt::protocol::iec62056::session::{REACTION_TIME, WAKE_UP_PAUSE};
use meter2mqtt::protocol::iec62056::{Iec62056Options, Iec62056Session, MappingIssue, Profile};
use meter2mqtt::protocol::{Action, PollError};
use meter2mqtt::sim::Iec62056Simulator;

fn session(profile: Profile) -> Iec62056Session {
    Iec62056Session::new(Iec62056Options::new(profile), now())
}

#[test]
fn multical_401_mode_c_acknowledges_after_the_reaction_time() {
    let mut sim = Iec62056Simulator::multical_401();
    let mut s = session(Profile::Multical401);
    let t = drive(&mut s, &mut sim);
    let r = t.result.clone().unwrap().remove(0);
    assert_eq!(num(&r, "heat_energy"), "456.631");
    assert_eq!(
        written(&t),
        vec![b"/?!\r\n".to_vec(), b"\x06000\r\n".to_vec()]
    );
    assert!(t.writes.iter().all(|(_, _, l)| *l == line(300, 2)));
    let ack = t
        .actions
        .iter()
        .position(|(_, a)| matches!(a, Action::Write(b) if b[0] == 0x06))
        .unwrap();
    assert_eq!(t.actions[ack - 1].1, Action::Sleep(REACTION_TIME));
    assert_eq!(s.identification().unwrap().manufacturer, "KAM");
}

#[test]
fn mode_c_switches_to_the_offered_speed_or_the_readers_limit() {
    let mut sim = Iec62056Simulator::multical_401().with_speed(9600);
    let t = drive(&mut session(Profile::Multical401), &mut sim);
    assert!(t.result.is_ok(), "{:?}", t.result);
    assert_eq!(written(&t)[1], b"\x06050\r\n".to_vec());
    let ack = t
        .actions
        .iter()
        .position(|(_, a)| matches!(a, Action::Write(b) if b[0] == 0x06))
        .unwrap();
    assert_eq!(t.actions[ack + 1].1, Action::Configure(line(9600, 2)));

    let opts = Iec62056Options {
        max_baud: 4000, // not a standard speed: the next lower one, 2400, is used
        ..Iec62056Options::new(Profile::Multical401)
    };
    let t = drive(&mut Iec62056Session::new(opts, now()), &mut sim);
    assert!(t.result.is_ok(), "{:?}", t.result);
    assert_eq!(written(&t)[1], b"\x06030\r\n".to_vec());

    // A reader that acknowledges 9600 but stays at 300 never sees the data.
    let t = drive(&mut NoSwitch(session(Profile::Multical401)), &mut sim);
    assert!(
        matches!(t.result, Err(PollError::NoAnswer(_))),
        "{:?}",
        t.result
    );
    assert!(t.lost.iter().any(|r| r.line.baud == 9600));
}

#[test]
fn kamstrup_382_mode_a_stays_at_300_with_sum_bcc() {
    let mut sim = Iec62056Simulator::kamstrup_382();
    let t = drive_with(&mut session(Profile::Kamstrup382), &mut sim, 1, false);
    let r = t.result.clone().unwrap().remove(0);
    assert_eq!(r.meter.id, "kam_00054042");
    assert_eq!(written(&t), vec![b"/?!\r\n".to_vec()]);
    assert!(!t
        .actions
        .iter()
        .any(|(_, a)| matches!(a, Action::Configure(l) if l.baud != 300)));
    // The same meter read with the standard's XOR is rejected.
    let opts = Iec62056Options {
        bcc: meter2mqtt::protocol::iec62056::BccMode::Xor,
        ..Iec62056Options::new(Profile::Kamstrup382)
    };
    let t = drive(&mut Iec62056Session::new(opts, now()), &mut sim);
    assert!(matches!(t.result, Err(PollError::BadReply(ref m)) if m.to_string().contains("BCC")));
}

#[test]
fn ultraheat_wakes_up_then_mode_b_at_2400() {
    let mut sim = Iec62056Simulator::ultraheat();
    // The simulator's BCC over the corpus readout is the capture's own 'h'.
    assert_eq!(sim.data_message().last(), Some(&b'h'));
    let mut s = session(Profile::Ultraheat);
    let t = drive(&mut s, &mut sim);
    let r = t.result.clone().unwrap().remove(0);
    assert_eq!(num(&r, "heat_energy"), "328.871");
    let w = written(&t);
    assert_eq!(w.len(), 2);
    assert!(
        w[0].iter().all(|&b| b == 0) && w[0].len() == 60,
        "{}",
        w[0].len()
    );
    assert_eq!(w[1], b"/?!\r\n".to_vec());
    // 60 NULs at 300 7E2 take 2.2 s; then the 1.6 s pause.
    let signon = t.writes[1].0;
    assert!(signon - t.writes[0].0 >= WAKE_UP_PAUSE);
    assert!(t
        .actions
        .iter()
        .any(|(_, a)| *a == Action::Configure(line(2400, 2))));
    assert!(
        !w.iter().any(|b| b.first() == Some(&0x06)),
        "no ACK in mode B"
    );

    // Without the wake-up the battery meter does not answer.
    let opts = Iec62056Options {
        wake_up: false,
        ..Iec62056Options::new(Profile::Ultraheat)
    };
    let t = drive(&mut Iec62056Session::new(opts, now()), &mut sim);
    assert!(matches!(t.result, Err(PollError::NoAnswer(_))));
    assert!(sim.ignored.iter().any(|m| m.contains("without wake-up")));
}

#[test]
fn mode_b_reader_that_does_not_switch_gets_no_data() {
    let mut sim = Iec62056Simulator::ultraheat();
    let t = drive(&mut NoSwitch(session(Profile::Ultraheat)), &mut sim);
    match &t.result {
        Err(PollError::NoAnswer(m)) => {
            assert!(m.to_string().contains("no data message at 2400"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(sim.readouts, 3);
    assert!(t.lost.iter().all(|r| r.line.baud == 2400));
}

#[test]
fn slow_meter_within_and_beyond_the_reaction_time_limit() {
    let mut sim = Iec62056Simulator::kamstrup_382();
    sim.slow_reply(Duration::from_millis(1200));
    assert!(drive(&mut session(Profile::Kamstrup382), &mut sim)
        .result
        .is_ok());
    sim.slow_reply(Duration::from_secs(3));
    let t = drive(&mut session(Profile::Kamstrup382), &mut sim);
    assert!(
        matches!(t.result, Err(PollError::NoAnswer(ref m)) if m.to_string().contains("no identification"))
    );
}

#[test]
fn corrupt_bcc_is_rejected_after_bounded_retries() {
    let mut sim = Iec62056Simulator::ultraheat();
    sim.set_corrupt_bcc(true);
    let t = drive(&mut session(Profile::Ultraheat), &mut sim);
    match &t.result {
        Err(PollError::BadReply(m)) => {
            let m = m.to_string();
            assert!(
                m.contains("BCC mismatch") && m.contains("3 attempts"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        written(&t).iter().filter(|w| w.starts_with(b"/?")).count(),
        3
    );
}

#[test]
fn non_number_value_is_reported_not_published() {
    let mut sim = Iec62056Simulator::multical_401();
    sim.set_non_number(true);
    let mut s = session(Profile::Multical401);
    let t = drive(&mut s, &mut sim);
    let r = t.result.clone().unwrap().remove(0);
    assert!(r.get("heat_energy").is_none());
    assert_eq!(num(&r, "volume"), "3447.381");
    assert!(matches!(s.issues(), [MappingIssue::NotANumber { code, .. }] if code == "6.8"));
}

#[test]
fn silent_meter_gives_no_answer_after_bounded_retries() {
    let mut sim = Iec62056Simulator::multical_401().with_mode(Mode::A);
    sim.set_silent(true);
    let t = drive(&mut session(Profile::Multical401), &mut sim);
    assert!(
        matches!(t.result, Err(PollError::NoAnswer(ref m)) if m.to_string().contains("3 attempts"))
    );
    assert_eq!(t.writes.len(), 3);
    sim.set_silent(false);
    let t = drive(&mut session(Profile::Multical401), &mut sim);
    assert_eq!(written(&t), vec![b"/?!\r\n".to_vec()], "mode A: no ACK");
    assert!(t.result.is_ok());
}

#[test]
fn counters_advance_between_polls() {
    let mut sim = Iec62056Simulator::ultraheat();
    let a = drive(&mut session(Profile::Ultraheat), &mut sim)
        .result
        .unwrap()
        .remove(0);
    sim.advance(7200);
    let b = drive(&mut session(Profile::Ultraheat), &mut sim)
        .result
        .unwrap()
        .remove(0);
    for k in ["heat_energy", "volume", "operating_hours"] {
        let (x, y) = (num(&a, k), num(&b, k));
        assert!(
            y.parse::<f64>().unwrap() > x.parse::<f64>().unwrap(),
            "{k}: {x} -> {y}"
        );
    }
    assert_eq!(num(&b, "operating_hours"), "107990");
}

#[test]
fn device_address_goes_into_the_sign_on() {
    let opts = Iec62056Options {
        address: Some("12345678".into()),
        ..Iec62056Options::new(Profile::Generic)
    };
    assert_eq!(opts.sign_on(), b"/?12345678!\r\n".to_vec());
}
