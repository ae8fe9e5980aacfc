//! Properties of the streaming decoder: chunking never changes the output; garbage (alone or
//! spliced into real telegrams) never panics and never grows the buffer past the cap.

mod common;

use common::*;
use meter2mqtt::protocol::dsmr::{
    crc16_arc, DecoderOptions, Keys, P1Decoder, P1Event, MAX_TELEGRAM,
};
use proptest::prelude::*;

/// A stream of real telegrams of several kinds, including an encrypted frame.
fn real_stream() -> Vec<u8> {
    let mut s = Vec::new();
    for f in [
        "ndokter_dsmr_parser/05_iskra_am550_dsmr5.0_two_mbus.txt",
        "ndokter_dsmr_parser/01_iskra_mt382_dsmr2.2.txt",
        "ndokter_dsmr_parser/06_nwa_warmtelink_dsmr5.0_unpadded_crc.txt",
        "dsmrreader/04_error_TestDataloggerDuplicateData.txt",
        "ndokter_dsmr_parser/09_easymeter_q3d_b1024_com1gw.txt",
        "ndokter_dsmr_parser/13_sagemcom_eon_hungary_dsmr5.txt",
    ] {
        s.extend_from_slice(&read(f));
    }
    let hex = String::from_utf8(read(
        "athombv_node_dsmr_parser/encrypted/dsmr-luxembourgh-spec-example-with-aad.txt",
    ))
    .unwrap();
    let hex: String = hex.split_whitespace().collect();
    s.extend((0..hex.len() / 2).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()));
    s.extend_from_slice(&read("nielsbasjes_dsmr_tools/03_ttyUSB0-raw.txt"));
    s
}

fn opts() -> DecoderOptions {
    DecoderOptions {
        decryption: Some(
            Keys::from_hex(
                "0123456789abcdef0123456789abcdef",
                Some("ffeeddccbbaa99887766554433221100"),
            )
            .unwrap(),
        ),
        ..DecoderOptions::default()
    }
}

/// Events for `bytes` cut at `cuts` (positions), checking the buffer bound after every push.
fn run(bytes: &[u8], cuts: &[usize]) -> Vec<P1Event> {
    let mut d = P1Decoder::new(opts());
    let mut out = Vec::new();
    let mut pos = 0;
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(bytes.len());
    for c in cuts {
        d.push(&bytes[pos..c.max(pos)]);
        pos = c.max(pos);
        while let Some(e) = d.next_event(now()) {
            out.push(e);
            assert!(d.buffered() <= MAX_TELEGRAM);
        }
        assert!(d.buffered() <= MAX_TELEGRAM);
    }
    d.finish();
    while let Some(e) = d.next_event(now()) {
        out.push(e);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn chunking_never_changes_the_output(cuts in proptest::collection::vec(any::<usize>(), 0..200)) {
        let s = real_stream();
        let whole = run(&s, &[]);
        prop_assert_eq!(telegrams(&whole).len(), 8);
        prop_assert_eq!(run(&s, &cuts), whole);
    }

    #[test]
    fn garbage_never_panics_or_grows(
        garbage in proptest::collection::vec(
            prop_oneof![any::<u8>(), Just(b'/'), Just(b'!'), Just(b'('), Just(b'\n'), Just(0xDBu8)],
            0..8_000,
        ),
        cuts in proptest::collection::vec(any::<usize>(), 0..50),
    ) {
        let _ = run(&garbage, &cuts);
    }

    #[test]
    fn garbage_spliced_into_telegrams(
        at in proptest::collection::vec((any::<usize>(), proptest::collection::vec(any::<u8>(), 0..64)), 1..8),
        cuts in proptest::collection::vec(any::<usize>(), 0..50),
    ) {
        let clean = real_stream();
        let mut s = clean.clone();
        for (pos, junk) in &at {
            let p = pos % (s.len() + 1);
            s.splice(p..p, junk.iter().copied());
        }
        let evs = run(&s, &cuts);
        // Splicing can break telegrams, never make new ones out of nothing: every telegram
        // with a valid CRC that comes out is one of the clean stream's, or its CRC really is
        // that of its bytes. A 16-bit CRC lets one in 65 536 random corruptions through, and
        // junk holding a `/` makes a new telegram that ends at a real CRC: the saved case in
        // `dsmr_proptest.proptest-regressions` is such a collision (a junk `/`, junk bytes, then the
        // tail of the NWA telegram, whose CRC-16 is its `B9F` by chance).
        let clean_raw: Vec<Vec<u8>> = telegrams(&run(&clean, &[])).iter().map(|t| t.raw.clone()).collect();
        for t in telegrams(&evs) {
            if t.crc == meter2mqtt::protocol::dsmr::CrcStatus::Valid && !clean_raw.contains(&t.raw) {
                let bang = t.raw.iter().rposition(|&b| b == b'!');
                let given = bang.and_then(|i| {
                    let digits = std::str::from_utf8(&t.raw[i + 1..]).ok()?;
                    u16::from_str_radix(digits.trim(), 16).ok()
                });
                prop_assert!(bang.is_some() && given.is_some(), "{:?}", t.raw);
                let (bang, given) = (bang.unwrap_or(0), given.unwrap_or(0));
                prop_assert_eq!(crc16_arc(&t.raw[..=bang]), given, "{:?}", String::from_utf8_lossy(&t.raw));
            }
        }
    }
}

#[test]
fn endless_stream_without_end_stays_bounded() {
    let mut d = P1Decoder::new(DecoderOptions::default());
    d.push(b"/XXX5 endless\r\n");
    let line = b"1-0:1.8.1(000001.000*kWh)\r\n";
    let mut overflows = 0;
    for _ in 0..10_000 {
        d.push(line);
        while let Some(e) = d.next_event(now()) {
            overflows += matches!(e, P1Event::Rejected(_)) as u32;
        }
        assert!(d.buffered() <= MAX_TELEGRAM);
    }
    assert_eq!(
        overflows, 1,
        "one overflow, then the bytes are skipped until a '/'"
    );
    assert_eq!(d.stats().overflows, 1);
    assert!(d.stats().discarded_bytes > 200_000);
}

#[test]
fn undrained_pushes_are_bounded() {
    // A caller that never drains: the decoder frames eagerly past 1 MiB and keeps the newest.
    let t = read("ndokter_dsmr_parser/05_iskra_am550_dsmr5.0_two_mbus.txt");
    let mut d = P1Decoder::new(DecoderOptions::default());
    for _ in 0..3000 {
        d.push(&t);
    }
    assert!(d.stats().queue_drops > 0);
    let mut n = 0;
    while d.next_event(now()).is_some() {
        n += 1;
    }
    assert!((64..3000).contains(&n), "{n}");
}
