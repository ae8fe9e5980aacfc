//! What an idle P1-over-TCP input keeps on the heap between telegrams (issue 17: "idle memory
//! per input matters as much as CPU: read buffers sized to what a meter sends, nothing kept
//! per meter that is not needed"). Real TCP sockets, the real P1 input task, real DSMR 5
//! telegrams with a gas meter from the simulator; bytes counted with a counting allocator on
//! the test's own thread (a one-thread runtime, as the bridge runs: `src/main.rs` `runtime`).
//! Bytes, not time: they do not depend on the machine.

mod counting;

use counting::live;
use std::sync::Arc;
use std::time::Duration;

use meter2mqtt::config::{Config, InputConfig};
use meter2mqtt::event::status::InputStatuses;
use meter2mqtt::event::InputEvent;
use meter2mqtt::sim::dsmr::{DsmrMeter, Flavour};
use tokio::io::AsyncWriteExt;

#[global_allocator]
static A: counting::Counting = counting::Counting;

const INPUTS: usize = 40;
const CLOCK: i64 = 1_705_320_000;

/// The heap an idle P1 input keeps, once it has decoded two telegrams (so every buffer that
/// grows with a telegram has grown), without the readings it sent (dropped here).
#[test]
fn an_idle_p1_tcp_input_keeps_no_read_buffer() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // The meters: each writes two telegrams at once, then stays connected and silent.
        let mut ports = Vec::new();
        let mut size = 0;
        for i in 0..INPUTS {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            ports.push(l.local_addr().unwrap().port());
            let mut meter = DsmrMeter::new(Flavour::Dsmr5, CLOCK, i as u64 + 1);
            let (a, b) = (meter.telegram(1), meter.telegram(1));
            size = a.len();
            tokio::spawn(async move {
                let (mut s, _) = l.accept().await.unwrap();
                let _ = s.write_all(&a).await;
                let _ = s.write_all(&b).await;
                tokio::time::sleep(Duration::from_secs(3600)).await;
            });
        }
        // Two telegrams at once (a relay's backlog, or the first telegram of a connection
        // landing with the next) fill 1 KiB: a read buffer per input that started at 1 KiB
        // and doubled on a full read ended at 2 KiB per input.
        assert!(2 * size > 1024, "telegram of {size} bytes");
        let mut yaml = String::from("mqtt:\n  url: mqtt://127.0.0.1:1\ninputs:\n");
        for (i, p) in ports.iter().enumerate() {
            yaml += &format!("  - {{name: m{i}, type: p1, host: 127.0.0.1, port: {p}}}\n");
        }
        let cfg = Config::from_yaml(&yaml).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<InputEvent>(4 * INPUTS);
        let statuses = Arc::new(InputStatuses::default());
        let before = live();
        let mut inputs = Vec::new();
        for input in &cfg.inputs {
            let InputConfig::P1(p1) = input.clone() else {
                unreachable!()
            };
            let status = statuses.register(&p1.name, "p1", "tcp");
            inputs.push(tokio::spawn(meter2mqtt::input::p1::run(
                Arc::new(p1),
                tx.clone(),
                status,
            )));
        }
        for _ in 0..2 * INPUTS {
            let ev = tokio::time::timeout(Duration::from_secs(20), rx.recv()).await;
            drop(
                ev.expect("a telegram from every input")
                    .expect("channel open"),
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let per_input = (live() - before) / INPUTS as i64;
        // What is left per input: the task and its future (the decoder's state inside it,
        // its code cache and meter identity), the counters of its status, the socket's
        // registration: 5,169 bytes in a debug build. With a read buffer of its own (until
        // issue 17) it was 14,262; 12,845 without it; 8,601 with the smaller code cache and
        // kept identity; the framer's and decoder's telegram buffers kept between telegrams
        // were ≈ 2.3 KB of the next 6,323; the parts of the input's future used now and then
        // (opening the link, a backoff, a full channel), boxed for that moment, 1,154 of those.
        println!("heap per idle P1 TCP input: {per_input} bytes (telegram {size} bytes)");
        assert!(
            per_input < 6 * 1024,
            "an idle input keeps {per_input} bytes on the heap"
        );
        drop(inputs);
    });
}

/// Back-pressure: a P1 input that finds the bridge's channel full waits for room before it
/// decodes its next telegram, and loses none of them. Six telegrams arrive at once while the
/// channel (room for one) is not read; once it is, all six come out, in the meter's order.
/// Prints the live heap while blocked and what one decoded telegram takes.
#[test]
fn a_full_channel_keeps_the_telegrams_as_bytes_and_loses_none() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let mut meter = DsmrMeter::new(Flavour::Dsmr5, CLOCK, 7);
        let all: Vec<u8> = (0..6).flat_map(|_| meter.telegram(1)).collect();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let _ = s.write_all(&all).await;
            tokio::time::sleep(Duration::from_secs(3600)).await;
        });
        let yaml = format!(
            "mqtt:\n  url: mqtt://127.0.0.1:1\ninputs:\n  - {{name: m, type: p1, host: 127.0.0.1, port: {port}}}\n"
        );
        let cfg = Config::from_yaml(&yaml).unwrap();
        let InputConfig::P1(p1) = cfg.inputs[0].clone() else {
            unreachable!()
        };
        let (tx, mut rx) = tokio::sync::mpsc::channel::<InputEvent>(1);
        let status = Arc::new(InputStatuses::default()).register("m", "p1", "tcp");
        let before = live();
        let input = tokio::spawn(meter2mqtt::input::p1::run(Arc::new(p1), tx, status));
        // Long enough for the input to read all six and fill the channel.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let blocked = live() - before;
        let mut times = Vec::new();
        let mut decoded = 0;
        for _ in 0..6 {
            let ev = tokio::time::timeout(Duration::from_secs(10), rx.recv()).await;
            let Ok(Some(InputEvent::Readings { readings, .. })) = ev else {
                panic!("telegram {} of 6 missing: {ev:?}", times.len() + 1);
            };
            times.push(readings[0].time.unix_seconds());
            drop(readings);
            if times.len() == 1 {
                // What one decoded telegram held (the input has not run since: one thread).
                decoded = blocked - (live() - before);
            }
        }
        let mut sorted = times.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(times, sorted, "telegrams out of order or repeated");
        println!("blocked: {blocked} bytes live, one decoded telegram ≈ {decoded} bytes");
        assert!(decoded > 0, "taking an event freed nothing ({decoded})");
        input.abort();
    });
}
