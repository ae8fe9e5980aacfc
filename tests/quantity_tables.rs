//! The quantity tables are the state payload's contract (`docs/readings.md`): every key is
//! documented, safe as a JSON key and HA `object_id`, and one key never has two meanings or
//! units (Home Assistant breaks an entity's statistics when its unit changes).

use std::collections::HashMap;

use meter2mqtt::protocol::dsmr::quantities as dsmr;
use meter2mqtt::protocol::kmp::registers::REGISTERS;
use meter2mqtt::reading::{heat, q, Quantity, QuantityDef};

fn tables() -> [(&'static str, Vec<Quantity>); 4] {
    [
        ("reading::q", q::ALL.to_vec()),
        ("reading::heat", heat::ALL.to_vec()),
        ("protocol::dsmr::quantities", dsmr::ALL.to_vec()),
        (
            "protocol::kmp::registers",
            REGISTERS.iter().map(|r| r.quantity.clone()).collect(),
        ),
    ]
}

/// KMP's register table uses the shared definitions instead of declaring a key again
/// (issue 13: it re-declared the heat-meter keys, which agreed only by care). Read from the
/// source, since two equal declarations cannot be told apart at run time.
#[test]
fn kmp_declares_no_shared_key_again() {
    let src = include_str!("../src/protocol/kmp/registers.rs");
    let again: Vec<&str> = q::ALL
        .iter()
        .chain(heat::ALL)
        .map(|q| q.key.as_ref())
        .filter(|k| src.contains(&format!("qty!(\"{k}\"")))
        .collect();
    assert!(
        again.is_empty(),
        "declared again in kmp/registers.rs: {again:?}"
    );
}

/// The keys a docs table row names in its first cell. Rows abbreviate the keys after the first:
/// `` `voltage_l1`, `_l2` `` or `` `reactive_power_import`, `_export` `` (the first key's last
/// `_part` replaced), `` `power_factor`, `_l1` `` (appended), so both readings count; and
/// `` `message_2` … `message_5` `` (every number between).
fn row_keys(cell: &str) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let mut first: Option<String> = None;
    let mut last: Option<String> = None;
    let mut range = false;
    for (i, part) in cell.split('`').enumerate() {
        if i % 2 == 0 {
            range |= part.contains('…');
            continue;
        }
        let mut key = part.to_string();
        if let (true, Some(first)) = (part.starts_with('_'), &first) {
            keys.push(format!("{first}{part}"));
            if let Some(at) = first.rfind('_') {
                key = format!("{}{part}", &first[..at]);
            }
        }
        if let (true, Some(prev)) = (std::mem::take(&mut range), &last) {
            let (stem, from) = split_number(prev);
            if let (Some(from), (_, Some(to))) = (from, split_number(&key)) {
                keys.extend((from + 1..to).map(|n| format!("{stem}{n}")));
            }
        }
        first.get_or_insert_with(|| key.clone());
        last = Some(key.clone());
        keys.push(key);
    }
    keys
}

fn split_number(key: &str) -> (&str, Option<u32>) {
    let digits = key.len() - key.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (stem, n) = key.split_at(key.len() - digits);
    (stem, n.parse().ok())
}

#[test]
fn every_key_is_documented() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/docs");
    let mut documented = std::collections::HashSet::new();
    for entry in std::fs::read_dir(dir).expect("docs/") {
        let text = std::fs::read_to_string(entry.expect("docs entry").path()).unwrap_or_default();
        // The keys are in a table's `key` column (docs/kmp.md's register table) or else in
        // its first one.
        let mut column = 1;
        let mut in_table = false;
        for line in text.lines() {
            if !line.starts_with('|') {
                in_table = false;
                continue;
            }
            let cells: Vec<&str> = line.split('|').collect();
            if !std::mem::replace(&mut in_table, true) {
                column = cells.iter().position(|c| c.trim() == "key").unwrap_or(1);
            }
            documented.extend(row_keys(cells.get(column).copied().unwrap_or("")));
        }
    }
    let missing: Vec<String> = tables()
        .iter()
        .flat_map(|(table, all)| all.iter().map(move |q| (table, q)))
        .filter(|(_, q)| !documented.contains(q.key.as_ref()))
        .map(|(table, q)| format!("{table}: {}", q.key))
        .collect();
    assert!(missing.is_empty(), "in no docs table: {missing:?}");
}

#[test]
fn row_abbreviations_expand() {
    let has = |cell: &str, want: &[&str]| {
        let keys = row_keys(cell);
        for w in want {
            assert!(keys.iter().any(|k| k == w), "{cell}: {w} not in {keys:?}");
        }
    };
    has(
        " `voltage_l1`, `_l2`, `_l3` ",
        &["voltage_l1", "voltage_l2", "voltage_l3"],
    );
    has(
        " `power_factor`, `_l1` ",
        &["power_factor", "power_factor_l1"],
    );
    has(
        " `reactive_power_import`, `_export` ",
        &["reactive_power_export"],
    );
    has(" `energy_import_total`, `_t1` ", &["energy_import_t1"]);
    has(
        " `message_2` … `message_5` ",
        &["message_2", "message_3", "message_4", "message_5"],
    );
    has(
        " `reactive_power_import_l1` … `_l3` ",
        &["reactive_power_import_l2", "reactive_power_import_l3"],
    );
    assert!(!row_keys(" `gas` ").contains(&"water".to_string()));
}

#[test]
fn keys_are_safe_and_mean_one_thing() {
    let mut seen: HashMap<&str, (&str, &Quantity)> = HashMap::new();
    let tables = tables();
    for (table, all) in &tables {
        let table: &str = table;
        for q in all {
            assert!(
                !q.key.is_empty()
                    && q.key
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{table}: key {:?} is not [a-z0-9_]",
                q.key
            );
            if let Some((other, first)) = seen.insert(&q.key, (table, q)) {
                // Only the names of an enumeration's values may differ: the tariff numbers
                // mean low/normal in the Netherlands and normal/low in Belgium (issue 12 §3),
                // the key, unit and meaning are the same.
                let mut same = QuantityDef::clone(q);
                same.options = first.options;
                assert_eq!(
                    **first, same,
                    "`{}` differs between {other} and {table}",
                    q.key
                );
            }
        }
    }
    // The core set the issue names, so that a renamed key cannot pass unnoticed.
    for key in [
        "energy_import_t1",
        "energy_import_t2",
        "energy_export_t1",
        "energy_export_t2",
        "energy_import_total",
        "energy_export_total",
        "power_import",
        "power_export",
        "voltage_l1",
        "current_l1",
        "tariff",
        "power_failures",
        "long_power_failures",
        "gas",
        "water",
        "heat_energy",
    ] {
        assert!(seen.contains_key(key), "core key {key} missing");
    }
}
