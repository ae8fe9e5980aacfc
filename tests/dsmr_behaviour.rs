//! Behaviour the team brief asks for, on small hand-made telegrams (each with its reason).

mod common;

use common::*;
use meter2mqtt::protocol::dsmr::{
    crc16_arc, parse_telegram, CrcStatus, DecoderOptions, P1Event, RejectReason,
};
use meter2mqtt::reading::MeterKind;

const DSMR5: &str = "/ISK5\\2M550T-1012\n\n1-3:0.2.8(50)\n0-0:1.0.0(240131235959W)\n0-0:96.1.1(4530303434)\n1-0:1.8.1(000123.456*kWh)\n1-0:1.8.2(000001.000*KWH)\n1-0:1.7.0(01.193*kW)\n";

#[test]
fn kilowatts_become_exact_watts() {
    let t = parse_telegram(&with_crc(DSMR5), &DecoderOptions::default(), now()).unwrap();
    let e = &t.readings[0];
    assert_eq!(t.crc, CrcStatus::Valid);
    assert_eq!(number(e, "power_import").unwrap().to_string(), "1193");
    // Upper-case unit accepted; digits kept as sent; total computed from t1 + t2.
    assert_eq!(number(e, "energy_import_t2").unwrap().to_string(), "1.000");
    assert_eq!(
        number(e, "energy_import_total").unwrap().to_string(),
        "124.456"
    );
    assert_eq!(e.meter.id, "E0044");
    assert_eq!(e.meter.protocol.as_deref(), Some("DSMR 5.0"));
    assert_eq!(e.time.to_string(), "2024-01-31T23:59:59+01:00");
}

#[test]
fn crc_forms_lower_case_and_three_digits() {
    let mut body = DSMR5.replace('\n', "\r\n").into_bytes();
    body.push(b'!');
    let crc = crc16_arc(&body);
    let mut l = body.clone();
    l.extend_from_slice(format!("{crc:04x}\r\n").as_bytes());
    assert_eq!(
        parse_telegram(&l, &DecoderOptions::default(), now())
            .unwrap()
            .crc,
        CrcStatus::Valid
    );
    // A CRC below 0x1000 sent unpadded (NWA Warmtelink `!B9F`) needs its line end to finish.
    let mut short = body.clone();
    short.extend_from_slice(format!("{crc:X}").as_bytes());
    let r = parse_telegram(&short, &DecoderOptions::default(), now());
    if crc >= 0x1000 {
        assert_eq!(r.unwrap().crc, CrcStatus::Valid);
    }
    // A wrong CRC is a rejection carrying both values, never readings.
    let mut bad = body;
    bad.extend_from_slice(format!("{:04X}\r\n", crc ^ 1).as_bytes());
    let r = parse_telegram(&bad, &DecoderOptions::default(), now()).unwrap_err();
    assert_eq!(
        r.reason,
        RejectReason::CrcMismatch {
            expected: crc,
            given: crc ^ 1
        }
    );
}

#[test]
fn noise_blank_lines_and_lf_only() {
    let mut s = vec![0x00, 0xFF, 0xFF, b'\n'];
    s.extend_from_slice(b"1-0:1.8.1(000999.999*kWh)\r\n!ABCD\r\n"); // tail of a cut telegram
    s.extend_from_slice(&with_crc(DSMR5));
    s.extend_from_slice(&[0xFF; 20]);
    // LF-only copy of the same telegram: the CRC holds once CR LF is restored.
    let lf: Vec<u8> = with_crc(DSMR5)
        .into_iter()
        .filter(|&b| b != b'\r')
        .collect();
    s.extend_from_slice(&lf);
    let evs = events(&s);
    let ts = telegrams(&evs);
    assert_eq!(ts.len(), 2, "{evs:?}");
    assert_eq!(ts[0].crc, CrcStatus::Valid);
    assert_eq!(ts[1].crc, CrcStatus::ValidAfterCrlf);
    assert_eq!(ts[0].readings, ts[1].readings);
    assert_eq!(
        evs.len(),
        2,
        "the cut-off tail has no '/', so it is skipped, not rejected"
    );
}

#[test]
fn dsmr22_without_end_is_emitted_when_the_next_telegram_starts() {
    let v22 = "/ISk5\\2MT382-1003\r\n\r\n0-0:96.1.1(4530)\r\n1-0:1.8.1(00001.001*kWh)\r\n0-1:24.1.0(3)\r\n0-1:24.3.0(160410130000)(00)(60)(1)(0-1:24.2.1)(m3)\r\n(00752.852)\r\n";
    let mut s = v22.as_bytes().to_vec();
    s.extend_from_slice(v22.as_bytes());
    let evs = events(&s);
    let ts = telegrams(&evs);
    assert_eq!(ts.len(), 2);
    assert!(ts.iter().all(|t| t.crc == CrcStatus::Unterminated));
    let gas = &ts[0].readings[1];
    assert_eq!(gas.meter.kind, MeterKind::Gas);
    assert_eq!(number(gas, "gas").unwrap().to_string(), "752.852");
    // DSMR 2.2 profile times have no S/W: the Dutch summer-time rule gives +02:00 in April.
    assert_eq!(gas.time.to_string(), "2016-04-10T13:00:00+02:00");
    assert_eq!(
        ts[0].readings[0].meter.protocol.as_deref(),
        Some("DSMR 2.2")
    );
    // A DSMR 5 telegram (version line) without '!' is cut off, not emitted.
    let mut s = with_crc(DSMR5);
    let cut = s.iter().position(|&b| b == b'!').unwrap();
    s.truncate(cut);
    s.extend_from_slice(&with_crc(DSMR5));
    let evs = events(&s);
    assert!(matches!(&evs[0], P1Event::Rejected(r) if r.reason == RejectReason::Incomplete));
    assert_eq!(telegrams(&evs).len(), 1);
}

#[test]
fn sub_meters_by_device_type_not_channel() {
    let body = "/XMX5LGBBFFB231126481\n\n1-3:0.2.8(42)\n0-0:1.0.0(231102121548W)\n\
        0-1:24.1.0(007)\n0-1:96.1.0()\n0-1:24.2.1(231102121532W)(00008.579*m3)\n\
        0-2:24.1.0(003)\n0-2:96.1.0(4730303339)\n0-2:24.2.1(632525252525W)(00246.138*M3)\n\
        0-3:24.1.0(004)\n0-3:24.2.1(231102121500W)(00012.5*GJ)\n";
    let t = parse_telegram(
        &with_crc(body),
        &DecoderOptions {
            fallback_meter_id: "home".into(),
            decryption: None,
        },
        now(),
    )
    .unwrap();
    assert_eq!(t.channels, [None, Some(1), Some(2), Some(3)]);
    let [e, water, gas, heat] = &t.readings[..] else {
        panic!()
    };
    assert_eq!(e.meter.id, "home");
    assert_eq!(
        (water.meter.kind, water.meter.id.as_str()),
        (MeterKind::Water, "home_mbus1")
    );
    assert_eq!(number(water, "water").unwrap().to_string(), "8.579");
    assert_eq!(water.meter.parent.as_deref(), Some("home"));
    assert_eq!(
        (gas.meter.kind, gas.meter.id.as_str()),
        (MeterKind::Gas, "G0039")
    );
    // The bad M-Bus time is dropped (telegram time used, one warning); the value is kept.
    assert_eq!(number(gas, "gas").unwrap().to_string(), "246.138");
    assert_eq!(gas.time, e.time);
    assert_eq!(t.warnings.len(), 1, "{:?}", t.warnings);
    assert_eq!(heat.meter.kind, MeterKind::Heat);
    assert_eq!(number(heat, "heat_energy").unwrap().to_string(), "12.5");
}

#[test]
fn malformed_lines_are_skipped_unknown_codes_kept() {
    let body = "/KFM5KAIFA-METER\n\n1-3:0.2.8(42)\n1-0:1.8.1(0001x.000*kWh)\n1-0:1.8.2(000002.000*kWh)\ngarbage line\n1-0:99.1.0(1)(0-0:96.10.7)\n0-0:96.13.0(48656C6C6F)\n1-0:99.97.0()\n";
    let t = parse_telegram(&with_crc(body), &DecoderOptions::default(), now()).unwrap();
    let e = &t.readings[0];
    assert_eq!(e.get("energy_import_t1"), None);
    assert_eq!(number(e, "energy_import_t2").unwrap().to_string(), "2.000");
    assert_eq!(text(e, "message").as_deref(), Some("Hello"));
    assert_eq!(e.raw.len(), 1);
    assert_eq!(
        (e.raw[0].code.as_str(), e.raw[0].value.as_str()),
        ("1-0:99.1.0", "(1)(0-0:96.10.7)")
    );
    assert_eq!(t.warnings.len(), 2, "{:?}", t.warnings);
    assert!(
        e.get("last_power_failure").is_none(),
        "an empty failure log reports nothing"
    );
}

#[test]
fn austrian_units_convert_exactly() {
    let body = "/EST5\\253710000_A\n\n1-3:0.2.8(50)\n0-0:1.0.0(221006155014S)\n1-0:1.8.0(006545766*Wh)\n1-0:1.7.0(000000286*W)\n1-0:3.8.0(000000747*varh)\n1-0:4.7.0(000000166*var)\n";
    let t = parse_telegram(&with_crc(body), &DecoderOptions::default(), now()).unwrap();
    let e = &t.readings[0];
    assert_eq!(
        number(e, "energy_import_total").unwrap().to_string(),
        "6545.766"
    );
    assert_eq!(number(e, "power_import").unwrap().to_string(), "286");
    assert_eq!(
        number(e, "reactive_energy_import_total")
            .unwrap()
            .to_string(),
        "0.747"
    );
    assert_eq!(
        number(e, "reactive_power_export").unwrap().to_string(),
        "166"
    );
    assert_eq!(e.meter.manufacturer.as_deref(), Some("Sagemcom"));
}

/// A blank M-Bus id (`0-n:96.1.0()`) names no device, so it must not take one of the 8 channel
/// slots: a real sub-meter after eight blank ids is still read, and nothing warns. (Found by
/// the differential check against the pre-memo decoder: the memo's id bookkeeping once let
/// blank ids fill the slots; the memo is gone, issue 13.) Decoded twice by one decoder, so
/// nothing the first telegram left may change the second.
#[test]
fn blank_mbus_ids_take_no_channel_slot() {
    let mut body = String::from(DSMR5);
    for n in 1..=8 {
        body += &format!("0-{n}:96.1.0()\n");
    }
    body += "0-9:24.1.0(003)\n0-9:96.1.0(4730303339303031363532303530323136)\n0-9:24.2.1(240131235500W)(00012.345*m3)\n";
    let t = with_crc(&body);
    let mut d = meter2mqtt::protocol::dsmr::P1Decoder::new(DecoderOptions::default());
    for _ in 0..2 {
        d.push(&t);
        let Some(P1Event::Telegram(tg)) = d.next_event(now()) else {
            panic!("no telegram")
        };
        assert!(tg.warnings.is_empty(), "{:?}", tg.warnings);
        assert_eq!(tg.readings.len(), 2);
        let gas = &tg.readings[1];
        assert_eq!(gas.meter.kind, MeterKind::Gas);
        assert_eq!(number(gas, "gas").unwrap().to_string(), "12.345");
    }
}

/// Issue 12 §3: tariff 1 is "low" on a Dutch meter and "normal" on a Belgian e-MUCS one
/// (its `0-0:96.1.4` version line comes first); the state keeps the number. One decoder reads
/// both, twice, so nothing of one telegram may carry the other country's names into the next.
#[test]
fn tariff_names_follow_the_country() {
    let nl = with_crc(&format!("{DSMR5}0-0:96.14.0(0001)\n"));
    let be = with_crc(
        "/FLU5\\253769484_A\n\n0-0:96.1.4(50217)\n0-0:96.1.1(3153414733313031303231363035)\n0-0:1.0.0(200512135409S)\n1-0:1.8.1(000000.034*kWh)\n0-0:96.14.0(0001)\n",
    );
    let mut d = meter2mqtt::protocol::dsmr::P1Decoder::new(DecoderOptions::default());
    for _ in 0..2 {
        for (bytes, name) in [(&nl, "low"), (&be, "normal")] {
            d.push(bytes);
            let Some(P1Event::Telegram(t)) = d.next_event(now()) else {
                panic!("no telegram");
            };
            assert!(d.next_event(now()).is_none());
            let m = t.readings[0]
                .values
                .iter()
                .find(|m| m.quantity.key == "tariff")
                .expect("tariff");
            assert_eq!(number(&t.readings[0], "tariff").unwrap().to_string(), "1");
            assert_eq!(
                m.quantity.option_name(1),
                Some(name),
                "{:?}",
                t.readings[0].meter
            );
        }
    }
}
