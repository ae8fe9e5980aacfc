//! `power_net` (issue 15): import minus export power, computed from the registers of real
//! telegrams in the corpus (`tests/fixtures/dsmr`), exact and signed.

mod common;

use common::*;
use meter2mqtt::decimal::Decimal;

/// The electricity meter's reading of a single-telegram fixture (its CRC must be valid).
fn meter(rel: &str) -> meter2mqtt::reading::Reading {
    let evs = events(&read(rel));
    let t = telegrams(&evs);
    assert_eq!(t.len(), 1, "{rel}: one valid telegram");
    t[0].readings[0].clone()
}

/// Values read off the fixtures' text by hand: `1-0:1.7.0` minus `1-0:2.7.0` in W.
#[test]
fn corpus_telegrams_with_export_give_the_signed_net_power() {
    // Iskra AM550 exporting on L1 while L2 and L3 import (athombv 13: 1.7.0 00.000, 2.7.0
    // 00.498; 21.7.0 00.000 / 22.7.0 00.676, 41.7.0 00.033 / 42.7.0 00.000, 61.7.0 00.132 /
    // 62.7.0 00.000 kW).
    let r = meter("athombv_node_dsmr_parser/13_dsmr-5.0-isk-1.txt");
    assert_eq!(number(&r, "power_net"), Some(dec("-498")));
    assert_eq!(number(&r, "power_net_l1"), Some(dec("-676")));
    assert_eq!(number(&r, "power_net_l2"), Some(dec("33")));
    assert_eq!(number(&r, "power_net_l3"), Some(dec("132")));
    // Belgian Fluvius meter exporting, no per-phase power (dsmrreader 07: 2.7.0 00.611 kW).
    let r = meter("dsmrreader/07_fluvius_TestDatalogger.txt");
    assert_eq!(number(&r, "power_net"), Some(dec("-611")));
    assert_eq!(number(&r, "power_net_l1"), None);
    // Importing (nielsbasjes 22: 1.7.0 00.430, phases 00.049, 00.011, 00.369 kW, export 0).
    let r = meter("nielsbasjes_dsmr_tools/22_ttyUSB0-raw.txt");
    assert_eq!(number(&r, "power_net"), Some(dec("430")));
    assert_eq!(number(&r, "power_net_l1"), Some(dec("49")));
    assert_eq!(number(&r, "power_net_l2"), Some(dec("11")));
    assert_eq!(number(&r, "power_net_l3"), Some(dec("369")));
}

/// `d` in millionths, exactly (an independent check of the decoder's decimal arithmetic).
fn micro(d: Decimal) -> i128 {
    let e = i32::from(d.exponent()) + 6;
    assert!((0..30).contains(&e), "{d}");
    i128::from(d.mantissa()) * 10i128.pow(e as u32)
}

/// Over every telegram of the corpus that decodes: `power_net` is there exactly when both
/// directions are, and equals import minus export (per phase likewise).
#[test]
fn power_net_is_import_minus_export_wherever_both_are_sent() {
    let mut files = Vec::new();
    let mut dirs = vec![fixtures()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "txt" || x == "bin") {
                files.push(p);
            }
        }
    }
    let (mut with, mut without) = (0, 0);
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for t in telegrams(&events(&bytes)) {
            let r = &t.readings[0];
            for (net, imp, exp) in [
                ("power_net", "power_import", "power_export"),
                ("power_net_l1", "power_import_l1", "power_export_l1"),
                ("power_net_l2", "power_import_l2", "power_export_l2"),
                ("power_net_l3", "power_import_l3", "power_export_l3"),
            ] {
                match (number(r, imp), number(r, exp)) {
                    (Some(i), Some(e)) => {
                        let got = number(r, net).unwrap_or_else(|| panic!("{f:?}: no {net}"));
                        assert_eq!(micro(got), micro(i) - micro(e), "{f:?} {net}");
                        with += 1;
                    }
                    _ => {
                        assert_eq!(number(r, net), None, "{f:?}: {net} without both");
                        without += 1;
                    }
                }
            }
        }
    }
    assert!(with > 100 && without > 10, "{with} with, {without} without");
}
