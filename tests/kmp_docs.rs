//! `docs/kmp.md` names every register key and preset the code has.

use meter2mqtt::protocol::kmp::registers::{PRESETS, REGISTERS};

const DOC: &str = include_str!("../docs/kmp.md");

#[test]
fn every_register_is_documented() {
    for d in REGISTERS {
        let row =
            format!("| `{:#06X}` | {} | `{}` |", d.id, d.id, d.quantity.key).replace("0X", "0x");
        assert!(
            DOC.contains(&row),
            "docs/kmp.md lacks the row for {}",
            d.quantity.key
        );
    }
}

#[test]
fn every_preset_is_documented() {
    for p in PRESETS {
        assert!(
            DOC.contains(&format!("| `{}` |", p.name)),
            "docs/kmp.md lacks {}",
            p.name
        );
    }
}
