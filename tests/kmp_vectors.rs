//! Every frame of `tests/fixtures/kmp/kmp_vectors.json` (copied from `shared/corpus/kmp/`)
//! rebuilds or decodes exactly as the file says.

use meter2mqtt::decimal::Decimal;
use meter2mqtt::protocol::kmp::codec::{self, MeterType, RegisterEntry, RegisterValue, Reply};
use meter2mqtt::protocol::kmp::frame::{self, Direction, FrameError, Push, Received, Receiver};
use meter2mqtt::protocol::kmp::{number, units};
use meter2mqtt::reading::Unit;
use meter2mqtt::time::Timestamp;
use serde_json::Value;

const VECTORS: &str = include_str!("fixtures/kmp/kmp_vectors.json");
const METERLOGGER: &str = include_str!("fixtures/kmp/kmp_meterlogger_test_reply.txt");

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap_or_else(|_| panic!("bad hex {b:?}")))
        .collect()
}

fn vectors() -> Vec<Value> {
    let v: Value = serde_json::from_str(VECTORS).unwrap();
    v["vectors"].as_array().unwrap().clone()
}

fn vector(id: &str) -> Value {
    vectors()
        .into_iter()
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("no vector {id}"))
}

fn crc_expected_ok(v: &Value) -> bool {
    v["crc_expected_ok"].as_bool().unwrap_or(true)
}

/// The JSON token of a number exactly as written ("55.006", "0.0").
fn json_decimal(v: &Value) -> Decimal {
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => panic!("not a number: {other}"),
    };
    Decimal::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn unit_of(name: &str) -> Unit {
    match name {
        "MWh" => Unit::MWh,
        "Wh" => Unit::Wh,
        "kW" => Unit::KW,
        "C" => Unit::Celsius,
        "K" => Unit::Kelvin,
        "l/h" => Unit::LiterPerHour,
        "m3" => Unit::CubicMeter,
        other => panic!("unit {other} not in this test's table"),
    }
}

fn entry_unit(e: &RegisterEntry) -> Unit {
    match units::lookup(e.unit_code).kind {
        units::UnitKind::Number { unit, shift: 0 } => unit,
        other => panic!("unexpected unit kind {other:?}"),
    }
}

fn number(e: &RegisterEntry) -> Decimal {
    match &e.value {
        RegisterValue::Number(d) => *d,
        other => panic!("register {:#06x} is {other:?}", e.id),
    }
}

fn register_id(key: &str) -> u16 {
    u16::from_str_radix(key.trim_start_matches("0x"), 16).unwrap()
}

/// Decode a reply through the streaming receiver, with the request's echo, a stray 0x00 and
/// noise in front, fed one byte at a time.
fn receive(request: &[u8], reply: &[u8]) -> Result<frame::Frame, FrameError> {
    let mut line = request.to_vec();
    line.extend_from_slice(&[0x00, 0xFF, 0x00]);
    line.extend_from_slice(reply);
    let mut rx = Receiver::from_meter();
    for (i, b) in line.iter().enumerate() {
        match rx.push(std::slice::from_ref(b)) {
            Push::NeedMore => {}
            Push::Complete {
                received: Received::Frame(f),
                consumed: 1,
            } => {
                assert_eq!(i, line.len() - 1, "frame ended early");
                return Ok(f);
            }
            Push::Failed { error, .. } => return Err(error),
            other => panic!("unexpected {other:?}"),
        }
    }
    panic!("no frame")
}

#[test]
fn stuffing_example() {
    let v = vector("doc_stuffing_example");
    let datalink = hex(v["datalink"].as_str().unwrap());
    let stuffed = hex(v["stuffed"].as_str().unwrap());
    assert_eq!(frame::stuff(&datalink), stuffed);
    assert_eq!(frame::destuff(&stuffed), Ok(datalink));
}

#[test]
fn requests_rebuild_exactly() {
    let address = frame::ADDRESS_METER;
    for (id, built) in [
        ("doc_GetType", codec::get_type_request(address)),
        ("doc_GetSerialNo", codec::get_serial_request(address)),
        (
            "doc_GetRegister_0080",
            codec::get_register_request(address, &[0x0080]).unwrap(),
        ),
    ] {
        let v = vector(id);
        let phys = hex(v["phys"].as_str().unwrap());
        assert_eq!(built, phys, "{id}");
        let f = frame::decode_frame(&phys).unwrap();
        assert_eq!(f.direction, Direction::ToMeter);
        if let Some(dl) = v["datalink"].as_str() {
            assert_eq!(frame::destuff(&phys[1..phys.len() - 1]).unwrap(), hex(dl));
        }
        if let Some(crc) = v["crc"].as_str() {
            let crc = u16::from_str_radix(crc, 16).unwrap();
            let mut body = vec![f.address, f.command];
            body.extend_from_slice(&f.data);
            assert_eq!(frame::crc16(&body), crc, "{id}");
        }
    }
}

#[test]
fn frames_with_wrong_printed_crc_are_rejected() {
    let bad: Vec<Value> = vectors()
        .into_iter()
        .filter(|v| !crc_expected_ok(v))
        .collect();
    assert_eq!(bad.len(), 2);
    for v in bad {
        let phys = hex(v["phys"].as_str().unwrap());
        assert!(
            matches!(frame::decode_frame(&phys), Err(FrameError::BadCrc { .. })),
            "{} must fail its CRC",
            v["id"]
        );
        if phys[0] == frame::START_FROM_METER {
            assert!(matches!(
                receive(&[], &phys),
                Err(FrameError::BadCrc { .. })
            ));
        }
    }
}

#[test]
fn set_clock_builder_matches_the_document_except_its_crc() {
    // The document's bytes are right up to the CRC; CRC-16/XMODEM over them is 77 4E
    // (corpus note on `doc_SetClock`).
    let v = vector("doc_SetClock");
    let phys = hex(v["phys"].as_str().unwrap());
    let time = Timestamp::new(2007, 7, 30, 16, 15, 57, 0).unwrap();
    let built = codec::set_clock_request(frame::ADDRESS_METER, &time);
    assert_eq!(built.len(), phys.len());
    assert_eq!(built[..built.len() - 3], phys[..phys.len() - 3]);
    assert_eq!(built[built.len() - 3..], [0x77, 0x4E, 0x0D]);
    assert!(frame::decode_frame(&built).is_ok());
}

#[test]
fn document_replies_decode() {
    let v = vector("doc_GetType_resp");
    let phys = hex(v["phys"].as_str().unwrap());
    let f = receive(&codec::get_type_request(0x3F), &phys).unwrap();
    let mut dl = vec![f.address, f.command];
    dl.extend_from_slice(&f.data);
    assert!(hex(v["datalink"].as_str().unwrap()).starts_with(&dl));
    let t = codec::decode_type_reply(&f.data).unwrap();
    assert_eq!(
        t,
        MeterType {
            code: 0x0004,
            revision: 0x0601
        }
    );
    assert_eq!(t.revision_string().as_deref(), Some("F1"));

    let v = vector("doc_GetSerialNo_resp");
    let phys = hex(v["phys"].as_str().unwrap());
    let f = receive(&codec::get_serial_request(0x3F), &phys).unwrap();
    assert_eq!(
        u64::from(codec::decode_serial_reply(&f.data).unwrap()),
        v["expect"]["serial"].as_u64().unwrap()
    );

    let v = vector("doc_GetRegister_0080_resp_pykmp");
    let phys = hex(v["phys"].as_str().unwrap());
    let (_, reply) = codec::decode_reply_bytes(&phys).unwrap();
    let Reply::Registers(entries) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].id, 0x0080);
    assert_eq!(entries[0].unit_code, 0x16);
    assert_eq!(entry_unit(&entries[0]), Unit::KW);
    assert_eq!(number(&entries[0]), Decimal::new(19_591_204, 17));
}

#[test]
fn real_request_response_pairs() {
    let pairs: Vec<Value> = vectors()
        .into_iter()
        .filter(|v| v["request"].is_string() && v["response"].is_string())
        .collect();
    // The corpus README speaks of 8 tasmota38 pairs; the file holds 9 (E1, power, T1, T2, dT,
    // flow, V1, min/max flow of the month) plus mc602_highres_009B.
    assert_eq!(pairs.len(), 10);
    for v in pairs {
        let id = v["id"].as_str().unwrap();
        let request = hex(v["request"].as_str().unwrap());
        let response = hex(v["response"].as_str().unwrap());
        let expect = v["expect"].as_object().unwrap();
        let ids: Vec<u16> = expect.keys().map(|k| register_id(k)).collect();
        assert_eq!(
            codec::get_register_request(0x3F, &ids).unwrap(),
            request,
            "{id}"
        );
        let f = receive(&request, &response).unwrap_or_else(|e| panic!("{id}: {e}"));
        let entries = codec::decode_register_reply(&f.data).unwrap();
        assert_eq!(entries.len(), ids.len(), "{id}");
        for (key, want) in expect {
            let rid = register_id(key);
            let e = entries.iter().find(|e| e.id == rid).unwrap();
            assert_eq!(
                entry_unit(e),
                unit_of(want["unit"].as_str().unwrap()),
                "{id}"
            );
            let value = json_decimal(&want["value"]);
            // Exact: same digits, not merely close.
            assert_eq!(number(e).to_string(), value.to_string(), "{id}");
        }
    }
}

#[test]
fn tasmota_values_as_published() {
    // The values the issue reports (E1 55.006 MWh, V1 1875.56 m³, T1 53.65 °C).
    let v = vector("tasmota38_E1");
    let f = frame::decode_frame(&hex(v["response"].as_str().unwrap())).unwrap();
    let e = &codec::decode_register_reply(&f.data).unwrap()[0];
    assert_eq!(number(e), Decimal::parse("55.006").unwrap());
    let v = vector("tasmota38_T1");
    let f = frame::decode_frame(&hex(v["response"].as_str().unwrap())).unwrap();
    let e = &codec::decode_register_reply(&f.data).unwrap()[0];
    assert_eq!(number(e).to_string(), "53.65");
}

#[test]
fn eight_register_request_from_golles188() {
    let v = vector("golles188_8reg_request");
    let ids: Vec<u16> = v["expect"]["registers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| register_id(s.as_str().unwrap()))
        .collect();
    let request = hex(v["request"].as_str().unwrap());
    let built = codec::get_register_request(0x3F, &ids).unwrap();
    assert_eq!(built, request);
    assert_eq!(built[built.len() - 3..], [0xC1, 0x38, 0x0D]);
}

#[test]
fn meterlogger_replies() {
    let v = vector("meterlogger_sim_serial");
    let (_, reply) = codec::decode_reply_bytes(&hex(v["response"].as_str().unwrap())).unwrap();
    assert_eq!(
        reply,
        Reply::Serial(v["expect"]["serial"].as_u64().unwrap() as u32)
    );

    for id in ["meterlogger_sim_8regs", "meterlogger_sim_hours"] {
        let v = vector(id);
        let phys = hex(v["response"].as_str().unwrap());
        let (_, reply) = codec::decode_reply_bytes(&phys).unwrap();
        let Reply::Registers(entries) = reply else {
            panic!("{reply:?}")
        };
        let expect = v["expect"].as_object().unwrap();
        assert_eq!(entries.len(), expect.len(), "{id}");
        for (key, want) in expect {
            let e = entries.iter().find(|e| e.id == register_id(key)).unwrap();
            // Same value; the JSON writes 200.0 where the meter sends 200.00.
            assert_eq!(
                number(e).cmp(&json_decimal(want)),
                std::cmp::Ordering::Equal,
                "{id} {key}"
            );
        }
    }
    // The hour counter 7127 = 0x1BD7 travels as `1B E4 D7`.
    let phys = hex(vector("meterlogger_sim_hours")["response"]
        .as_str()
        .unwrap());
    assert!(phys.windows(3).any(|w| w == [0x1B, 0xE4, 0xD7]));
}

#[test]
fn meterlogger_text_file_matches_the_vectors() {
    // The shell lines in the original file carry the same frames as `\xNN` escapes.
    let frames: Vec<Vec<u8>> = METERLOGGER
        .lines()
        .filter_map(|l| l.split('\'').nth(1))
        .map(|s| {
            s.split("\\x")
                .filter(|h| !h.is_empty())
                .map(|h| u8::from_str_radix(h, 16).unwrap())
                .collect()
        })
        .collect();
    let ids = [
        "meterlogger_sim_serial",
        "meterlogger_sim_8regs",
        "meterlogger_sim_hours",
    ];
    assert_eq!(frames.len(), ids.len());
    for (f, id) in frames.iter().zip(ids) {
        assert_eq!(*f, hex(vector(id)["response"].as_str().unwrap()), "{id}");
        assert!(frame::decode_frame(f).is_ok());
    }
}

#[test]
fn chained_replace_case_1b_e4_f9() {
    // A value whose bytes contain 1B F9 is sent as `1B E4 F9`. Decoding left to right gives
    // 1B F9 (0x1BF9 = 7161); chaining replacements would turn it into 06 and fail the CRC.
    let mut data = Vec::new();
    codec::encode_register_entry(&mut data, 0x03EC, 0x2E, Decimal::new(0x1BF9, 0), 4).unwrap();
    let wire = frame::Frame::new(Direction::FromMeter, 0x3F, 0x10, data).encode();
    assert!(wire.windows(3).any(|w| w == [0x1B, 0xE4, 0xF9]));
    let (_, reply) = codec::decode_reply_bytes(&wire).unwrap();
    let Reply::Registers(entries) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(number(&entries[0]), Decimal::new(7161, 0));
    assert_eq!(frame::destuff(&[0x1B, 0xE4, 0xF9]), Ok(vec![0x1B, 0xF9]));
}

#[test]
fn float_examples() {
    let v = vector("doc_float_examples");
    for f in v["floats"].as_array().unwrap() {
        let bytes = hex(f["bytes"].as_str().unwrap());
        let len = usize::from(bytes[0]);
        assert_eq!(bytes.len(), 2 + len);
        let d = number::decode(bytes[1], &bytes[2..]).unwrap();
        assert_eq!(d.to_string(), f["value"].as_str().unwrap());
        // And back: the same SiEx and bytes.
        assert_eq!(
            number::encode(d, len).unwrap(),
            (bytes[1], bytes[2..].to_vec())
        );
    }
}

#[test]
fn bad_escape_is_an_error() {
    // 1B followed by 00: !00 = FF is not one of the five stuffed bytes.
    let wire = [0x40, 0x3F, 0x10, 0x1B, 0x00, 0x12, 0x34, 0x0D];
    assert_eq!(frame::decode_frame(&wire), Err(FrameError::BadEscape(0x00)));
    assert_eq!(receive(&[], &wire), Err(FrameError::BadEscape(0x00)));
}

#[test]
fn lone_ack_is_recognised() {
    let mut rx = Receiver::from_meter();
    assert_eq!(
        rx.push(&[0x00, 0x06]),
        Push::Complete {
            received: Received::Ack,
            consumed: 2
        }
    );
    assert_eq!(codec::decode_reply_bytes(&[0x06]).unwrap().1, Reply::Ack);
}

#[test]
fn every_vector_is_covered() {
    // Fails when the corpus gains a vector that no test above looks at.
    let covered = [
        "doc_stuffing_example",
        "doc_GetType",
        "doc_GetType_resp",
        "doc_GetSerialNo",
        "doc_GetSerialNo_resp",
        "doc_SetClock",
        "doc_GetRegister_0080",
        "doc_GetRegister_0080_resp_as_printed",
        "doc_GetRegister_0080_resp_pykmp",
        "golles188_8reg_request",
        "meterlogger_sim_serial",
        "meterlogger_sim_8regs",
        "meterlogger_sim_hours",
        "doc_float_examples",
    ];
    for v in vectors() {
        let id = v["id"].as_str().unwrap();
        let pair = v["request"].is_string() && v["response"].is_string();
        assert!(pair || covered.contains(&id), "vector {id} is not tested");
    }
}
