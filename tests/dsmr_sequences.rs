//! A telegram decodes the same whatever came before it: a decoder that has seen other telegrams
//! gives exactly what a fresh decoder gives for each telegram (only parsed object codes, the
//! value list's size and the meters' identities carry over, `protocol::dsmr` module docs; an
//! edited id, header or version line must give a new identity, issue 17). These tests once guarded the memo that replayed
//! unchanged lines (removed, issue 13); they stay as the guard that no state leaks between
//! telegrams.

mod common;

use common::*;
use meter2mqtt::protocol::dsmr::{crc16_arc, DecoderOptions, P1Decoder, P1Event};
use proptest::prelude::*;

/// Every event `telegrams` give when pushed one after the other into `d`.
fn decode_all(mut d: P1Decoder, telegrams: &[Vec<u8>]) -> Vec<String> {
    let mut out = Vec::new();
    for t in telegrams {
        d.push(t);
        d.finish();
        while let Some(e) = d.next_event(now()) {
            out.push(format!("{e:?}"));
        }
    }
    out
}

/// Through one decoder (whatever it keeps carries over).
fn one_decoder(telegrams: &[Vec<u8>]) -> Vec<String> {
    decode_all(P1Decoder::new(DecoderOptions::default()), telegrams)
}

/// Each telegram in a decoder of its own (nothing carried over).
fn fresh_decoders(telegrams: &[Vec<u8>]) -> Vec<String> {
    telegrams
        .iter()
        .flat_map(|t| {
            decode_all(
                P1Decoder::new(DecoderOptions::default()),
                std::slice::from_ref(t),
            )
        })
        .collect()
}

/// `/…!` of `t` with a freshly computed CRC (so edited telegrams still pass the CRC check).
fn resign(t: &[u8]) -> Vec<u8> {
    let mut t = match t.iter().position(|&b| b == b'!') {
        Some(bang) => t[..=bang].to_vec(),
        None => [t, b"!"].concat(),
    };
    let crc = crc16_arc(&t);
    t.extend_from_slice(format!("{crc:04X}\r\n").as_bytes());
    t
}

#[test]
fn real_capture_decodes_as_with_fresh_decoders() {
    let telegrams = split_telegrams(&read(
        "nielsbasjes_dsmr_tools/streams/ttyUSB0-raw.full_stream.bin",
    ));
    assert_eq!(telegrams.len(), 566);
    let (a, b) = (one_decoder(&telegrams), fresh_decoders(&telegrams));
    assert_eq!(a.len(), 566);
    assert_eq!(a, b);
}

#[test]
fn every_fixture_after_every_other_decodes_as_alone() {
    let mut files = Vec::new();
    let mut dirs = vec![fixtures()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "txt") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() > 150, "{} fixtures", files.len());
    // Each twice in a row, and the whole list twice (each after another meter's telegram).
    let mut telegrams = Vec::new();
    for _ in 0..2 {
        for f in &files {
            let t = std::fs::read(f).unwrap();
            telegrams.push(t.clone());
            telegrams.push(t);
        }
    }
    let fresh = fresh_decoders(&telegrams);
    assert_eq!(one_decoder(&telegrams), fresh);
}

/// Edits a meter's next telegram could have: a value's digits, a unit, an id, a version, the
/// clock, an M-Bus device type, a line removed, duplicated, split (also after a stray CR) or
/// joined with the next one.
fn edit(t: &[u8], line: usize, kind: u8, byte: u8) -> Vec<u8> {
    let text = String::from_utf8_lossy(t).into_owned();
    let mut lines: Vec<String> = text.split("\r\n").map(str::to_string).collect();
    // Not the header (0) and not the `!` line (the last but one; the last is empty).
    let n = lines.len().saturating_sub(3).max(1);
    let i = 1 + line % n;
    let l = lines[i].clone();
    let digit = (b'0' + byte % 10) as char;
    match kind % 9 {
        0 => {
            // A digit of the value.
            if let Some(p) = l.rfind(|c: char| c.is_ascii_digit()) {
                lines[i].replace_range(p..=p, &digit.to_string());
            }
        }
        1 => lines[i] = l.replace("kWh", "Wh").replace("kW", "W"),
        2 => lines[i] = l.replace('(', "(("),
        3 => {
            lines.remove(i);
        }
        4 => lines.insert(i, l),
        5 => lines[i] = format!("{l}\r\n({digit})"),
        // A continuation after a stray CR: the line `\r(…)` trims to `(…)`.
        8 => lines[i] = format!("{l}\r\n\r({digit})"),
        6 => lines[i] = l.replace(")(", &format!("){digit}(")),
        _ => {
            if i + 1 < lines.len() {
                let next = lines.remove(i + 1);
                lines[i] = format!("{l}{next}");
            }
        }
    }
    resign(lines.join("\r\n").as_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn edited_telegram_sequences_decode_as_with_fresh_decoders(
        base in prop::sample::select(vec![
            "wassasin_dsmr5/01_isk.txt",
            "ndokter_dsmr_parser/05_iskra_am550_dsmr5.0_two_mbus.txt",
            "ndokter_dsmr_parser/06_nwa_warmtelink_dsmr5.0_unpadded_crc.txt",
            "ndokter_dsmr_parser/13_sagemcom_eon_hungary_dsmr5.txt",
            "athombv_node_dsmr_parser/16_dsmr-luxembourgh-spec-example.txt",
        ]),
        edits in prop::collection::vec((0usize..80, 0u8..9, any::<u8>()), 1..12),
    ) {
        let first = resign(&read(base));
        let mut telegrams = vec![first.clone()];
        let mut current = first;
        for (line, kind, byte) in edits {
            // Mostly small changes to the telegram before, sometimes back to the original.
            current = if byte % 5 == 0 { resign(&read(base)) } else { edit(&current, line, kind, byte) };
            telegrams.push(current.clone());
        }
        let (a, b) = (one_decoder(&telegrams), fresh_decoders(&telegrams));
        prop_assert_eq!(a, b);
    }
}

/// A line that starts with a stray CR and then `(` continues the object before it (lines end at
/// LF and are trimmed). The memo once replayed the object before it and left `(0001)` as a line
/// of its own; found by the differential check on the grown fuzz corpus (stop 3).
#[test]
fn a_stray_cr_before_a_continuation_is_not_a_blank_line() {
    let t = resign(&read("wassasin_dsmr5/01_isk.txt"));
    let text = String::from_utf8_lossy(&t).into_owned();
    let tariff = "0-0:96.14.0(0002)\r\n";
    assert!(text.contains(tariff));
    let cont = resign(
        text.replace(tariff, &format!("{tariff}\r(0001)\r\n"))
            .as_bytes(),
    );
    let telegrams = [t, cont];
    let (a, b) = (one_decoder(&telegrams), fresh_decoders(&telegrams));
    assert_eq!(a, b);
    // `(0001)` is read as part of the tariff object, not as a line of its own ("not an OBIS
    // object").
    assert!(b[1].starts_with("Telegram"), "{}", b[1]);
    assert!(!b[1].contains("not an OBIS object"), "{}", b[1]);
}

#[test]
fn telegrams_are_decoded_at_all() {
    // Guard for the tests above: the sequences are real telegrams, not rejections.
    let t = resign(&read("wassasin_dsmr5/01_isk.txt"));
    let e = one_decoder(&[t.clone(), t]);
    assert_eq!(e.len(), 2);
    assert!(e.iter().all(|e| e.starts_with("Telegram")), "{e:?}");
    let _ = P1Event::Telegram;
}
