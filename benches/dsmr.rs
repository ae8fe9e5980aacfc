//! Framing + CRC + parsing of real telegrams through the streaming decoder, as the bridge runs
//! it: `push` one telegram, drain `next_event`. See docs/benchmarks.md for the figures.
//!
//! - `dsmr5_isk_27_lines`: corpus `wassasin_dsmr5/01_isk.txt`, an Iskra AM550 DSMR 5.0
//!   telegram, 27 lines, 779 bytes, valid CRC.
//! - `luxembourg_65_lines`: the Luxembourg Smarty spec example (corpus athombv 16, 65 lines,
//!   1485 bytes, 4 M-Bus channels). Its published CRC is wrong (anonymised), so the bench
//!   re-computes it; otherwise the decoder would stop at the CRC check.
//! - `luxembourg_encrypted`: the same telegram in its AES-128-GCM frame (decrypt + all of the
//!   above).
//! - `dsmr5_isk_stream_566`: the real capture `nielsbasjes_dsmr_tools/streams/
//!   ttyUSB0-raw.full_stream.bin` (566 consecutive telegrams of an Iskra AM550, 27 lines, 778
//!   bytes each), one telegram per iteration in order, cycling: real values and clocks, where
//!   the single-telegram benches above repeat one telegram (every telegram is decoded in full
//!   either way; the decoder keeps nothing of one telegram for the next but parsed codes).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use meter2mqtt::protocol::dsmr::{crc16_arc, DecoderOptions, Keys, P1Decoder, P1Event};
use meter2mqtt::time::Timestamp;

fn fixture(rel: &str) -> Vec<u8> {
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dsmr")
        .join(rel);
    std::fs::read(p).unwrap()
}

fn resign(mut t: Vec<u8>) -> Vec<u8> {
    let bang = t.iter().position(|&b| b == b'!').unwrap();
    t.truncate(bang + 1);
    let crc = crc16_arc(&t);
    t.extend_from_slice(format!("{crc:04X}\r\n").as_bytes());
    t
}

fn decode_one(d: &mut P1Decoder, bytes: &[u8], now: Timestamp) -> usize {
    d.push(bytes);
    let mut n = 0;
    while let Some(e) = d.next_event(now) {
        match e {
            P1Event::Telegram(t) => n += t.readings.len(),
            P1Event::Rejected(r) => panic!("{r}"),
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let now = Timestamp::new(2025, 1, 1, 0, 0, 0, 0).unwrap();
    let isk = fixture("wassasin_dsmr5/01_isk.txt");
    let lux = resign(fixture(
        "athombv_node_dsmr_parser/16_dsmr-luxembourgh-spec-example.txt",
    ));
    let hex = String::from_utf8(fixture(
        "athombv_node_dsmr_parser/encrypted/dsmr-luxembourgh-spec-example-with-aad.txt",
    ))
    .unwrap();
    let hex: String = hex.split_whitespace().collect();
    let enc: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();

    let mut g = c.benchmark_group("dsmr");
    g.throughput(Throughput::Elements(1));
    let mut d = P1Decoder::new(DecoderOptions::default());
    assert_eq!(decode_one(&mut d, &isk, now), 2);
    g.bench_function("dsmr5_isk_27_lines", |b| {
        b.iter(|| decode_one(&mut d, &isk, now))
    });
    assert_eq!(decode_one(&mut d, &lux, now), 5);
    g.bench_function("luxembourg_65_lines", |b| {
        b.iter(|| decode_one(&mut d, &lux, now))
    });
    let mut de = P1Decoder::new(DecoderOptions {
        decryption: Some(
            Keys::from_hex(
                "0123456789abcdef0123456789abcdef",
                Some("ffeeddccbbaa99887766554433221100"),
            )
            .unwrap(),
        ),
        ..DecoderOptions::default()
    });
    assert_eq!(decode_one(&mut de, &enc, now), 5);
    g.bench_function("luxembourg_encrypted", |b| {
        b.iter(|| decode_one(&mut de, &enc, now))
    });

    let stream = fixture("nielsbasjes_dsmr_tools/streams/ttyUSB0-raw.full_stream.bin");
    let mut starts: Vec<usize> = (0..stream.len()).filter(|&i| stream[i] == b'/').collect();
    starts.push(stream.len());
    let telegrams: Vec<&[u8]> = starts.windows(2).map(|w| &stream[w[0]..w[1]]).collect();
    assert_eq!(telegrams.len(), 566);
    let mut ds = P1Decoder::new(DecoderOptions::default());
    for t in &telegrams {
        assert_eq!(decode_one(&mut ds, t, now), 1);
    }
    let mut i = 0;
    g.bench_function("dsmr5_isk_stream_566", |b| {
        b.iter(|| {
            i = (i + 1) % telegrams.len();
            decode_one(&mut ds, telegrams[i], now)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
