//! The corpus readouts (MULTICAL 401, Kamstrup 382, Landis+Gyr Ultraheat) decode exactly.

mod iec_common;
use iec_common as common;

use common::{fixture, now, num, unescape, unit, vectors};
use meter2mqtt::decimal::Decimal;
use meter2mqtt::protocol::iec62056::block::{bcc, frame};
use meter2mqtt::protocol::iec62056::{
    find_message, map_readout, parse_data_block, BccMode, BlockError, Identification, Mapped,
    MappingIssue, Profile,
};

/// Check and decode `message` (STX ... ETX BCC) after identification `ident`.
fn decode(
    ident: &str,
    message: &[u8],
    profile: Profile,
    mode: BccMode,
) -> Result<Mapped, BlockError> {
    let id = Identification::parse(ident.as_bytes()).unwrap();
    let m = find_message(message)?.expect("complete message");
    m.verify(mode)?;
    let sets = parse_data_block(m.block)?;
    Ok(map_readout(&id, &sets, profile, "fallback", now()))
}

/// Ultraheat fixture: (ident, data block with CR LF line ends, the line after `!` if any).
fn ultraheat(name: &str) -> (String, Vec<u8>, Option<String>) {
    let text = fixture(name);
    let lines: Vec<&str> = text.lines().collect();
    let end = lines.iter().position(|l| *l == "!").unwrap();
    // The files keep one data line per line; the blank lines after the ident in the T550
    // files are not data (the standard's data block has no empty lines; they are dropped).
    let data: Vec<&str> = lines[1..end]
        .iter()
        .copied()
        .filter(|l| !l.is_empty())
        .collect();
    let mut block = data.join("\r\n").into_bytes();
    block.extend_from_slice(b"\r\n!\r\n");
    (
        lines[0].to_string(),
        block,
        lines.get(end + 1).map(|s| s.to_string()),
    )
}

#[test]
fn kamstrup_382_doc_example_only_verifies_as_7_bit_sum() {
    let v = vectors();
    let reply = v["kamstrup382_modeA_doc"]["reply"].as_str().unwrap();
    // The printed example ends with '>' where <BCC> stands (corpus README).
    let bytes = unescape(&reply.replace("<BCC>", ">"));
    let split = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
    let ident = std::str::from_utf8(&bytes[..split - 2]).unwrap();
    let msg = &bytes[split..];
    let m = find_message(msg).unwrap().unwrap();
    assert_eq!(bcc(BccMode::Sum7, m.checked), Some(0x3E));
    assert_eq!(bcc(BccMode::Xor, m.checked), Some(0x12));
    assert!(matches!(
        decode(ident, msg, Profile::Kamstrup382, BccMode::Xor),
        Err(BlockError::Bcc { .. })
    ));
    let d = decode(ident, msg, Profile::Kamstrup382, Profile::Kamstrup382.bcc()).unwrap();
    let r = &d.reading;
    assert_eq!(r.meter.id, "kam_00054042");
    assert_eq!(r.meter.protocol.as_deref(), Some("IEC 62056-21 mode A"));
    // Kamstrup's own codes (1.20 energy register, 1.6 max power) are not OBIS: kept raw, as
    // sent, including the decimal comma, which Decimal reads exactly.
    let raw = |c: &str| r.raw.iter().find(|f| f.code == c).unwrap().value.clone();
    assert_eq!(raw("1.20"), "0000053*kWh");
    assert_eq!(raw("1.6"), "000018,3*kW");
    assert_eq!(raw("1.6*1"), "000000,0");
    assert_eq!(Decimal::parse("000018,3").unwrap().to_string(), "18.3");
    assert!(d.issues.is_empty());
}

#[test]
fn kamstrup_382c_user_readout_maps_obis_codes() {
    let v = vectors();
    let lines: Vec<&str> = v["kamstrup382C_modeA_user"]["reply_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    // The README shows the lines only: STX/ETX/BCC are framed here with the 382's sum.
    let mut block = lines[1..].join("\r\n").into_bytes();
    block.extend_from_slice(b"\r\n!\r\n");
    let msg = frame(&block, BccMode::Sum7);
    let d = decode(lines[0], &msg, Profile::Kamstrup382, BccMode::Sum7).unwrap();
    let r = &d.reading;
    assert_eq!(r.meter.id, "kam_14410000");
    assert_eq!(num(r, "energy_import_total"), "36886");
    assert_eq!(unit(r, "energy_import_total"), "kWh");
    assert_eq!(num(r, "energy_import_t1"), "36886");
    assert_eq!(num(r, "energy_import_t2"), "0");
    assert!(r
        .raw
        .iter()
        .any(|f| f.code == "1.6.0" && f.value == "1.078*kW"));
    assert!(r.raw.iter().any(|f| f.code == "96.8.0"));
}

#[test]
fn multical_401_readout() {
    let v = vectors();
    let seq = &v["mc401_iec62056"]["sequence"];
    let ident = seq[1]
        .as_str()
        .unwrap()
        .trim_start_matches("<- ")
        .replace("<CR><LF>", "");
    let data = seq[3].as_str().unwrap().trim_start_matches("<- ");
    // Frame the logged data block with the profile's BCC (the log shows <BCC> only).
    let inner = unescape(
        data.trim_start_matches("<STX>")
            .trim_end_matches("<ETX><BCC>"),
    );
    let msg = frame(&inner, Profile::Multical401.bcc());
    let d = decode(
        &ident,
        &msg,
        Profile::Multical401,
        Profile::Multical401.bcc(),
    )
    .unwrap();
    let r = &d.reading;
    let e = &v["mc401_iec62056"]["expect"];
    assert_eq!(num(r, "heat_energy"), e["energy_GJ"].to_string());
    assert_eq!(unit(r, "heat_energy"), "GJ");
    assert_eq!(num(r, "volume"), e["volume_m3"].to_string());
    assert_eq!(num(r, "operating_hours"), e["hours"].to_string());
    assert_eq!(r.meter.serial.as_deref(), e["customer_no"].as_str());
    assert_eq!(r.meter.id, "kam_00002742640");
    assert_eq!(r.meter.protocol.as_deref(), Some("IEC 62056-21 mode C"));
}

#[test]
fn ultraheat_uh50_bcc_in_the_capture_is_the_xor() {
    let (ident, block, after) = ultraheat("iec62056_ultraheat_LUGCUH50_dummy_utf8.txt");
    let bcc_char = after.unwrap().into_bytes()[0];
    let mut msg = vec![0x02];
    msg.extend_from_slice(&block);
    msg.extend_from_slice(&[0x03, bcc_char]);
    assert!(matches!(
        decode(&ident, &msg, Profile::Ultraheat, BccMode::Sum7),
        Err(BlockError::Bcc { .. })
    ));
    let d = decode(&ident, &msg, Profile::Ultraheat, Profile::Ultraheat.bcc()).unwrap();
    let r = &d.reading;
    let v = vectors();
    let e = &v["ultraheat"]["expect_LUGCUH50_dummy_utf8"];
    assert_eq!(
        format!("{} GJ", num(r, "heat_energy")),
        e["6.8"].as_str().unwrap().replace("0328", "328")
    );
    assert_eq!(num(r, "volume"), "3329.67");
    assert_eq!(num(r, "operating_hours"), "107988");
    // 9.4 are the maximum flow/return temperatures (corpus), published as such.
    assert_eq!(num(r, "temperature_flow_max"), "98.5");
    assert_eq!(num(r, "temperature_return_max"), "96.1");
    assert!(r.get("temperature_flow").is_none());
    assert_eq!(num(r, "peak_power"), "22.4");
    // 6.33 max flow 000.744 m³/h, published in m³/h as sent (issue 12 §2: m³/h is the flow
    // unit every supported Home Assistant accepts).
    assert_eq!(num(r, "peak_flow"), "0.744");
    assert_eq!(r.meter.id, "lug_66153690");
    assert_eq!(r.meter.manufacturer.as_deref(), Some("Landis+Gyr"));
    // Historical values are kept raw, not mapped.
    assert!(r
        .raw
        .iter()
        .any(|f| f.code == "6.8*01" && f.value == "0314.658*GJ"));
    assert!(d.issues.is_empty());
}

#[test]
fn ultraheat_kwh_capture_was_edited_so_it_is_rejected_as_sent() {
    // This dummy file was hand-edited from the GJ one: its trailing 'h' is the GJ file's BCC
    // and line 5 gained a stray '\'. Per IEC 62056-21 a block whose BCC does not match is
    // rejected, and '\' outside a data set is a syntax error; we do not guess around either.
    let (ident, block, after) = ultraheat("iec62056_ultraheat_LUGCUH50_dummy_utf8_kwh.txt");
    let mut msg = vec![0x02];
    msg.extend_from_slice(&block);
    msg.extend_from_slice(&[0x03, after.unwrap().into_bytes()[0]]);
    assert!(matches!(
        decode(&ident, &msg, Profile::Ultraheat, BccMode::Xor),
        Err(BlockError::Bcc { .. })
    ));
    let e = decode(&ident, &msg, Profile::Ultraheat, BccMode::None).unwrap_err();
    assert!(e.to_string().starts_with("line 4, column"), "{e}");
    // Repaired (stray '\' removed, BCC recomputed) it decodes to the kWh values exactly.
    let fixed: Vec<u8> = block.iter().copied().filter(|&b| b != b'\\').collect();
    let d = decode(
        &ident,
        &frame(&fixed, BccMode::Xor),
        Profile::Ultraheat,
        BccMode::Xor,
    )
    .unwrap();
    let r = &d.reading;
    assert_eq!(
        (num(r, "heat_energy"), unit(r, "heat_energy")),
        ("71813".into(), "kWh")
    );
    assert_eq!(num(r, "volume"), "1084.58");
    assert_eq!(num(r, "operating_hours"), "32214");
    assert_eq!(num(r, "temperature_flow_max"), "114.9");
    assert_eq!(num(r, "peak_flow"), "0.300"); // 000.300 m3ph, in m³/h as sent
}

#[test]
fn ultraheat_t550_mwh_readout() {
    let (ident, block, _) = ultraheat("iec62056_ultraheat_LGUHT550_dummy_utf8.txt");
    let d = decode(
        &ident,
        &frame(&block, BccMode::Xor),
        Profile::Ultraheat,
        BccMode::Xor,
    )
    .unwrap();
    let r = &d.reading;
    assert_eq!(
        (num(r, "heat_energy"), unit(r, "heat_energy")),
        ("326.062".into(), "MWh")
    );
    assert_eq!(num(r, "volume"), "7939.56");
    assert_eq!(num(r, "operating_hours"), "88324");
    assert_eq!(num(r, "peak_power"), "28.0");
    assert_eq!(r.meter.id, "lug_00073600");
}

#[test]
fn ultraheat_error_capture_reports_the_non_number_and_keeps_the_rest() {
    // `6.8(032A.062*MWh)` is a well-formed data set (§6.3 allows any printable value text) in
    // a block whose BCC is right, so the message is accepted; the value is not a number, so
    // heat_energy is left out, the data set is kept raw and reported as an issue.
    let (ident, block, _) = ultraheat("iec62056_ultraheat_LGUHT550_dummy_error_utf8.txt");
    let d = decode(
        &ident,
        &frame(&block, BccMode::Xor),
        Profile::Ultraheat,
        BccMode::Xor,
    )
    .unwrap();
    assert!(d.reading.get("heat_energy").is_none());
    assert_eq!(
        d.issues,
        vec![MappingIssue::NotANumber {
            code: "6.8".into(),
            value: "032A.062".into()
        }]
    );
    assert!(d
        .reading
        .raw
        .iter()
        .any(|f| f.code == "6.8" && f.value == "032A.062*MWh"));
    // Everything else is exactly as in the good capture.
    let (_, good, _) = ultraheat("iec62056_ultraheat_LGUHT550_dummy_utf8.txt");
    let g = decode(
        &ident,
        &frame(&good, BccMode::Xor),
        Profile::Ultraheat,
        BccMode::Xor,
    )
    .unwrap();
    let others: Vec<_> = g
        .reading
        .values
        .iter()
        .filter(|m| m.quantity.key != "heat_energy")
        .collect();
    assert_eq!(others, d.reading.values.iter().collect::<Vec<_>>());
}
