//! Line noise around real telegrams (issue 12 §1) and DSMR 4+ telegrams without their CRC
//! (issue 18 §2): junk before, between and after the corpus telegrams never costs a telegram,
//! never changes its values and never makes a meter of its own.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::OnceLock;

use common::*;
use meter2mqtt::protocol::dsmr::{
    CrcStatus, DecoderOptions, P1Decoder, P1Event, RejectReason, Telegram,
};
use proptest::prelude::*;

/// Every corpus file that is exactly one telegram which decodes on its own (with a valid
/// CRC, a right CRC after CR LF repair, or none: DSMR 2.2/3, also without its `!`), as sent
/// plus the line end a meter sends after it (`INVENTORY.tsv` lists them; multi-telegram streams
/// and rejected spec examples are left out).
fn variants() -> &'static [(String, Vec<u8>)] {
    static ALL: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    ALL.get_or_init(load_variants)
}

fn load_variants() -> Vec<(String, Vec<u8>)> {
    let inv = String::from_utf8(read("INVENTORY.tsv")).unwrap();
    let mut out = Vec::new();
    for line in inv.lines().skip(1) {
        let file = line.split('\t').next().unwrap();
        if file.starts_with("athombv_node_dsmr_parser_dlms_hex/") || file.contains("/streams/") {
            continue;
        }
        let mut bytes = read(file);
        if !bytes.ends_with(b"\n") {
            bytes.extend_from_slice(b"\r\n");
        }
        let evs = events(&bytes);
        if bytes.first() == Some(&b'/') && evs.len() == 1 && telegrams(&evs).len() == 1 {
            out.push((file.to_string(), bytes));
        }
    }
    assert!(out.len() >= 100, "only {} variants", out.len());
    out
}

/// A telegram without `!`: junk after it would be read as its last lines.
fn unterminated(t: &[u8]) -> bool {
    let t = &events(t)[0];
    matches!(t, P1Event::Telegram(t) if t.crc == CrcStatus::Unterminated)
}

fn decode(bytes: &[u8], chunk: usize) -> Vec<P1Event> {
    events_with(&DecoderOptions::default(), bytes, chunk)
}

/// What a telegram publishes: its bytes, integrity and readings (not its warnings: a rescued
/// telegram says how many bytes of noise were skipped).
fn essence(t: &Telegram) -> (Vec<u8>, CrcStatus, Vec<meter2mqtt::reading::Reading>) {
    (t.raw.clone(), t.crc, t.readings.clone())
}

fn meters(ts: &[&Telegram]) -> BTreeSet<String> {
    ts.iter()
        .flat_map(|t| t.readings.iter().map(|r| r.meter.id.clone()))
        .collect()
}

/// The issue's minimal cases (and the other junk of the same shape it names) before every
/// corpus variant: the telegram comes out as on its own.
#[test]
fn junk_of_the_issue_before_every_variant() {
    let junks: [&[u8]; 4] = [b"/(", b"A(A/(/A/ /", b"/\n(\0\0A", b"/A\r\n!\r\n"];
    for (file, t) in variants() {
        let clean = decode(t, t.len());
        let want = essence(telegrams(&clean)[0]);
        for junk in junks {
            let s = [junk, &t[..]].concat();
            let evs = decode(&s, s.len());
            let got: Vec<_> = telegrams(&evs).into_iter().map(essence).collect();
            assert_eq!(
                got,
                std::slice::from_ref(&want),
                "{file} after {junk:?}: {evs:?}"
            );
        }
    }
}

#[test]
fn junk_frame_without_data_is_no_meter() {
    let t = read("ndokter_dsmr_parser/05_iskra_am550_dsmr5.0_two_mbus.txt");
    let s = [&b"/A\r\n!\r\n"[..], &t].concat();
    let evs = decode(&s, s.len());
    assert!(
        matches!(&evs[0], P1Event::Rejected(r) if r.reason == RejectReason::NoHeader),
        "{evs:?}"
    );
    assert_eq!(telegrams(&evs).len(), 1);
    assert!(!meters(&telegrams(&evs)).contains("p1"));
    // A well-formed identification line and no data object: rejected for that.
    for junk in [&b"/ABC5\r\n\r\n!\r\n"[..], b"/ABC5\r\n\r\n12(3)\r\n!\r\n"] {
        let evs = decode(junk, junk.len());
        assert!(
            matches!(&evs[..], [P1Event::Rejected(r)] if r.reason == RejectReason::NoData),
            "{junk:?}: {evs:?}"
        );
    }
    let mut d = P1Decoder::new(DecoderOptions::default());
    d.push(b"/ABC5\r\n\r\n!\r\n/A\r\n!\r\n");
    while d.next_event(now()).is_some() {}
    assert_eq!(d.stats().not_telegrams, 2);
    assert_eq!(d.stats().telegrams, 0);
}

/// Junk before a DSMR 2.2 telegram (no CRC to fail) does not become its header: the telegram
/// starts at the last `/` that begins an identification line.
#[test]
fn crc_less_telegram_keeps_its_own_header() {
    let t = read("ndokter_dsmr_parser/01_iskra_mt382_dsmr2.2.txt");
    let clean = decode(&t, t.len());
    let want = &telegrams(&clean)[0].readings[0].meter;
    assert_eq!(want.model.as_deref(), Some("MT382-1004"));
    for junk in [
        &b"/("[..],
        b"/ABC5(",
        b"/ABC5\r\n(",
        b"/KMP5 x\r\n1-0:9(",
        b"(/A/",
    ] {
        let s = [junk, &t[..]].concat();
        let evs = decode(&s, 7);
        let ts = telegrams(&evs);
        assert_eq!(ts.len(), 1, "{junk:?}: {evs:?}");
        assert_eq!(&ts[0].readings[0].meter, want, "{junk:?}");
        assert_eq!(ts[0].raw, telegrams(&clean)[0].raw, "{junk:?}");
    }
}

/// A `/` inside a DSMR 2.2 text value is still data (corpus athombv 19).
#[test]
fn slash_in_a_crc_less_value_still_works() {
    let file = "athombv_node_dsmr_parser/19_iskra-mt-382-no-crc-with-text-message.txt";
    let t = read(file);
    assert!(
        t.windows(3).any(|w| w[1] == b'/' && w[0] != b'\n'),
        "{file}"
    );
    let evs = decode(&t, t.len());
    assert_eq!(telegrams(&evs).len(), 1, "{evs:?}");
    assert_eq!(telegrams(&evs)[0].raw, t);
}

/// Issue 18 §2: a DSMR 4/5, e-MUCS or Smarty telegram whose CRC was stripped is rejected.
#[test]
fn dsmr4_plus_without_crc_is_rejected() {
    for file in [
        "ndokter_dsmr_parser/05_iskra_am550_dsmr5.0_two_mbus.txt",
        "ndokter_dsmr_parser/03_kaifa_dsmr4.2.txt",
        "ndokter_dsmr_parser/07_fluvius_emucs1.7.1.txt",
        "ndokter_dsmr_parser/11_sagemcom_t210dr_austria_plain.txt",
        "dsmrreader/18_luxembourg_smarty_TestDatalogger.txt",
    ] {
        let t = read(file);
        let bang = t.iter().rposition(|&b| b == b'!').unwrap();
        let stripped = [&t[..=bang], b"\r\n"].concat();
        let evs = decode(&stripped, stripped.len());
        assert!(
            matches!(&evs[..], [P1Event::Rejected(r)] if r.reason == RejectReason::CrcMissing),
            "{file}: {evs:?}"
        );
        // With its CRC it decodes.
        assert_eq!(telegrams(&decode(&t, t.len())).len(), 1, "{file}");
    }
    // DSMR 2.2/3 have no CRC and no version line.
    for file in [
        "ndokter_dsmr_parser/01_iskra_mt382_dsmr2.2.txt",
        "ndokter_dsmr_parser/02_iskra_mt382_dsmr3.0.txt",
    ] {
        let t = read(file);
        let ts = decode(&t, t.len());
        assert_eq!(telegrams(&ts)[0].crc, CrcStatus::Absent, "{file}");
    }
}

/// `meter2mqtt decode` of any corpus telegram preceded by `/(` prints what the telegram alone
/// gives.
#[test]
fn cli_decodes_a_telegram_after_junk() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_meter2mqtt"))
            .arg("decode")
            .arg(&p)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        (
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let mut n = 0;
    for (file, t) in variants() {
        let (want, _) = run("clean", t);
        let (got, err) = run("junk", &[&b"/("[..], t].concat());
        assert!(!want.is_empty(), "{file}");
        // Without the time: meters without a clock get the receive time, which differs between
        // the two runs (the library tests compare it, with a fixed receive time).
        let strip = |s: &str| -> Vec<String> {
            s.lines()
                .map(|l| {
                    let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                    v["payload"]["time"] = serde_json::Value::Null;
                    v.to_string()
                })
                .collect()
        };
        assert_eq!(strip(&got), strip(&want), "{file}: {err}");
        assert!(
            err.contains("skipped 2 bytes of line noise"),
            "{file}: {err}"
        );
        assert!(!err.contains("rejected"), "{file}: {err}");
        n += 1;
    }
    assert!(n >= 100);
}

/// The bytes that matter to the framer, and some that do not.
fn junk_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        prop::sample::select(&b"/!()\r\n\0\xFF"[..]),
        b'0'..=b'9',
        b'A'..=b'Z',
        b'a'..=b'z',
    ]
}

fn junk() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(junk_byte(), 0..24)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Junk before, between and after telegrams of every corpus variant: every telegram still
    /// decodes, in order, with its values, and no state comes for a meter the stream did not
    /// hold. (After a telegram without `!`, junk would be its last lines; none is put there.)
    #[test]
    fn junk_around_telegrams(
        picks in prop::collection::vec((any::<prop::sample::Index>(), junk()), 1..6),
        tail in junk(),
        chunk in 1usize..4096,
    ) {
        let all = variants();
        let mut stream = Vec::new();
        let mut want = Vec::new();
        let mut prev_unterminated = false;
        for (i, j) in &picks {
            let (_, t) = &all[i.index(all.len())];
            if !prev_unterminated {
                stream.extend_from_slice(j);
            }
            stream.extend_from_slice(t);
            let clean = decode(t, t.len());
            want.push(essence(telegrams(&clean)[0]));
            prev_unterminated = unterminated(t);
        }
        if !prev_unterminated {
            stream.extend_from_slice(&tail);
        }
        let evs = decode(&stream, chunk);
        let ts = telegrams(&evs);
        let got: Vec<_> = ts.iter().map(|t| essence(t)).collect();
        let known: BTreeSet<String> = want
            .iter()
            .flat_map(|(_, _, rs)| rs.iter().map(|r| r.meter.id.clone()))
            .collect();
        prop_assert!(meters(&ts).is_subset(&known), "{:?}", String::from_utf8_lossy(&stream));
        prop_assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&stream));
    }
}
