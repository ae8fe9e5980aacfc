//! The real MULTICAL 66C replies decode to the values the corpus derives with the meter's own
//! program number.

mod iec_common;
use iec_common as common;

use common::{fixture, now, num, unit, vectors};
use meter2mqtt::protocol::multical::{
    decode, parse_hash1, parse_hash2, parse_hash_c, ProgramNumber, Replies, ReplyError, Scaling,
    ScalingError,
};

/// The reply printed after `/#<code>` in the capture, with the terminal's " CR " turned back
/// into a CR byte (the capture shows one extra space before it, which the meter sent).
fn capture_reply(code: &str) -> Vec<u8> {
    let text = fixture("mc66c_kenanv_demo_output.txt");
    let mut lines = text.lines();
    lines.find(|l| l.trim() == format!("/#{code}")).unwrap();
    assert!(lines.next().unwrap().starts_with("Received:"));
    lines.next().unwrap().replacen(" CR ", "\r", 1).into_bytes()
}

#[test]
fn capture_matches_the_vectors_reply_strings() {
    let v = vectors();
    for (i, code) in ["1", "C", "2"].iter().enumerate() {
        let want = v["mc66c_hash1"][i]["reply"]
            .as_str()
            .unwrap()
            .replace("<CR>", "\r");
        let got = String::from_utf8(capture_reply(code)).unwrap();
        assert_eq!(got.replace(" \r", "\r"), want, "/#{code}");
    }
}

#[test]
fn hash1_decodes_with_the_meters_own_program_number() {
    let h1 = parse_hash1(&capture_reply("1")).unwrap();
    let h2 = parse_hash2(&capture_reply("2")).unwrap();
    assert_eq!(h2.program.to_string(), "4-4-119");
    let replies = Replies {
        hash1: &h1,
        hash2: Some(&h2),
        hash_c: None,
    };
    let d = decode(replies, None, None, "fallback", now()).unwrap();
    let r = &d.reading;
    let v = vectors();
    let want = &v["mc66c_hash1"][0]["derived_decode_using_this_meters_own_hash2"];
    let w = |k: &str| want[k].to_string();
    assert_eq!(num(r, "heat_energy"), w("energy_MWh"));
    assert_eq!(unit(r, "heat_energy"), "MWh");
    assert_eq!(num(r, "volume"), w("volume_m3"));
    assert_eq!(num(r, "operating_hours"), w("hours"));
    assert_eq!(num(r, "temperature_flow"), w("t1_C"));
    assert_eq!(num(r, "temperature_return"), w("t2_C"));
    assert_eq!(num(r, "temperature_difference"), w("dt_K"));
    assert_eq!(num(r, "power"), w("power_kW"));
    // The vector's flow is in l/h; published exactly in m³/h (issue 12 §2).
    assert_eq!(w("flow_l_h"), "79");
    assert_eq!(num(r, "flow"), "0.079");
    assert_eq!(unit(r, "flow"), "m³/h");
    assert_eq!(num(r, "peak_power"), w("peak_power_kW"));
    assert_eq!(num(r, "info_code"), w("info"));
    assert_eq!(r.meter.id, "multical_00000060017");
    assert_eq!(r.meter.protocol.as_deref(), Some("Kamstrup /#n"));
    assert_eq!(r.meter.manufacturer.as_deref(), Some("Kamstrup"));
}

#[test]
fn hash_c_adds_t3_and_flow_v2_and_keeps_pressures_raw() {
    let h1 = parse_hash1(&capture_reply("1")).unwrap();
    let hc = parse_hash_c(&capture_reply("C")).unwrap();
    assert_eq!(
        (hc.t1, hc.t3, hc.t2, hc.flow1, hc.power1),
        (6812, 21875, 3376, 79, 31)
    );
    let cfg = Scaling::from_program(ProgramNumber::parse("0044119").unwrap()).unwrap();
    let replies = Replies {
        hash1: &h1,
        hash2: None,
        hash_c: Some(&hc),
    };
    let r = decode(replies, Some(&cfg), None, "mc66c_kitchen", now())
        .unwrap()
        .reading;
    assert_eq!(num(&r, "temperature_t3"), "218.75");
    assert_eq!(num(&r, "flow_v2"), "0");
    assert!(r.get("pressure_p1").is_none());
    assert!(r.raw.iter().any(|f| f.code == "/#C P1"));
    assert_eq!(r.meter.id, "mc66c_kitchen");
}

#[test]
fn no_scaling_and_no_program_is_an_error_that_says_how_to_configure() {
    let h1 = parse_hash1(&capture_reply("1")).unwrap();
    let replies = Replies {
        hash1: &h1,
        hash2: None,
        hash_c: None,
    };
    let e = decode(replies, None, None, "x", now()).unwrap_err();
    assert_eq!(e, ScalingError::NotConfigured);
    assert!(e.to_string().contains("configure `scaling`"));
}

#[test]
fn user_test_string_with_an_8_digit_field_is_rejected() {
    let v = vectors();
    let toks: Vec<&str> = v["mc401_hash1_user_test_string"]["reply_tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let line = format!("{}\r", toks.join(" "));
    assert!(matches!(
        parse_hash1(line.as_bytes()),
        Err(ReplyError::FieldWidth {
            index: 1,
            width: 7,
            ..
        })
    ));
}

#[test]
fn ten_fields_only() {
    let base = "0507109 1296626 0032673 0006811 0003366 0003445 0000031 0000079 0000093";
    let eleven = format!("{base} 0000000 0000000\r");
    let e = parse_hash1(eleven.as_bytes()).unwrap_err();
    assert_eq!(
        e,
        ReplyError::FieldCount {
            expected: 10,
            got: 11
        }
    );
    assert!(e.to_string().contains("expected 10 fields, got 11"));
}
