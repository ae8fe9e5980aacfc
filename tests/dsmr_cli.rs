//! `meter2mqtt decode` run as a real process on fixtures (plain, encrypted, error stream).

mod common;

use std::process::{Command, Output};

use common::fixtures;
use serde_json::Value;

fn decode(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meter2mqtt"))
        .arg("decode")
        .args(args)
        .output()
        .expect("run meter2mqtt")
}

fn fixture(rel: &str) -> String {
    fixtures().join(rel).to_string_lossy().into_owned()
}

fn lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn plain_telegram_with_two_sub_meters() {
    let out = decode(&[&fixture("ndokter_dsmr_parser/07_fluvius_emucs1.7.1.txt")]);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let msgs = lines(&out);
    assert_eq!(msgs.len(), 3, "{stdout}");
    assert_eq!(msgs[0]["topic"], "meter2mqtt/1SAG3101021605/state");
    assert_eq!(msgs[1]["topic"], "meter2mqtt/7FLO2119033733/state");
    assert_eq!(msgs[2]["topic"], "meter2mqtt/8SAG1234567890/state");
    let p = &msgs[0]["payload"];
    assert_eq!(p["time"], "2020-05-12T13:54:09+02:00");
    assert_eq!(p["power_average_15min"].to_string(), "2351");
    // Exact digits survive: the meter's `000015.758` stays 15.758, never 15.758000000000001.
    assert!(stdout.contains(r#""energy_import_t2":15.758"#), "{stdout}");
    assert!(stdout.contains(r#""energy_export_t1":0.000"#), "{stdout}");
    // e-MUCS `0-n:24.2.3`, the only gas value Belgian meters send, is `gas` (issue 12 §3).
    assert_eq!(msgs[1]["payload"]["gas"].to_string(), "112.384");
    assert!(msgs[1]["payload"].get("gas_uncorrected").is_none());
    assert_eq!(msgs[2]["payload"]["water"].to_string(), "872.234");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

#[test]
fn base_and_fallback_id_options() {
    let out = decode(&[
        "--base",
        "home/p1",
        "--meter-id",
        "kitchen",
        &fixture("ndokter_dsmr_parser/10_easymeter_q3d_a1004_com1gw.txt"),
    ]);
    assert!(out.status.success());
    let msgs = lines(&out);
    // The EasyMeter sends its id as `0-0:96.1.255`; the fallback is not needed.
    assert_eq!(msgs[0]["topic"], "home/p1/1ESY1336001560/state");
    let out = decode(&[
        "--meter-id",
        "kitchen",
        &fixture("athombv_node_dsmr_parser/12_dsmr-5.0-est-units.txt"),
    ]);
    // That telegram's CRC is wrong: rejected, reported on stderr, exit 0.
    assert!(out.status.success());
    assert!(lines(&out).is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "rejected: CRC mismatch: computed 17FF, telegram says FFFF (475 bytes)\n"
    );
}

#[test]
fn error_stream_reports_rejections_on_stderr() {
    let out = decode(&[&fixture(
        "esphome_libs_dsmr_parser/10_accumulator_garbage_stream.txt",
    )]);
    assert!(out.status.success());
    // The four "/some !" packets with a valid CRC hold no data object: no state, no meter
    // (issue 12 §1; they were published as four states of a meter "p1" before).
    assert_eq!(lines(&out).len(), 0);
    let stderr = String::from_utf8(out.stderr).unwrap();
    let rejected: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("rejected: "))
        .collect();
    let no_data =
        "rejected: no data object in the telegram (line noise framed like a telegram?) (11 bytes)";
    assert_eq!(
        rejected,
        [
            no_data,
            "rejected: CRC mismatch: computed A3D4, telegram says A3D3 (7 bytes)",
            "rejected: telegram cut off (a new telegram or the end of input came before its '!') (3 bytes)",
            no_data,
            "rejected: '!' followed by neither a CRC nor a line end (9 bytes)",
            no_data,
            "rejected: telegram cut off (a new telegram or the end of input came before its '!') (24 bytes)",
            no_data,
        ]
    );
}

const KEY: &str = "0123456789abcdef0123456789abcdef";
const AUTH: &str = "ffeeddccbbaa99887766554433221100";

#[test]
fn encrypted_frames() {
    let with =
        fixture("athombv_node_dsmr_parser/encrypted/dsmr-luxembourgh-spec-example-with-aad.txt");
    let without =
        fixture("athombv_node_dsmr_parser/encrypted/dsmr-luxembourgh-spec-example-without-aad.txt");
    let out = decode(&["--hex", "--key", KEY, "--auth-key", AUTH, &with]);
    assert!(out.status.success());
    let msgs = lines(&out);
    assert_eq!(msgs.len(), 5, "electricity + 4 M-Bus channels");
    assert_eq!(msgs[0]["topic"], "meter2mqtt/SAG1030790002574/state");
    assert_eq!(
        msgs[0]["payload"]["energy_import_total"].to_string(),
        "25.653"
    );
    assert_eq!(msgs[4]["payload"]["gas"].to_string(), "28.103");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("warning: inner CRC mismatch"), "{stderr}");

    // The "without AAD" frame authenticates with empty additional data.
    let out = decode(&["--hex", "--key", KEY, &without]);
    assert_eq!(lines(&out).len(), 5);

    // Wrong authentication key, missing authentication key, wrong key, no key.
    let cases: [(&[&str], &str); 4] = [
        (
            &["--key", KEY, "--auth-key", AUTH, &without],
            "the authentication key does not match",
        ),
        (
            &["--key", KEY, &with],
            "authenticates with an authentication key",
        ),
        (
            &[
                "--key",
                "0123456789abcdef01234567890abcde",
                "--auth-key",
                AUTH,
                &with,
            ],
            "the decryption key is wrong",
        ),
        (&[&with], "no decryption key is configured"),
    ];
    for (args, msg) in cases {
        let mut a = vec!["--hex"];
        a.extend_from_slice(args);
        let out = decode(&a);
        assert!(out.status.success());
        assert!(lines(&out).is_empty());
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.starts_with("rejected: ") && stderr.contains(msg),
            "{args:?}: {stderr}"
        );
    }

    // A bad key is a usage error.
    let out = decode(&["--key", "0011", &with]);
    assert!(!out.status.success());
}
