//! The KMP register map, meter-family presets, and the mapping from a decoded register to a
//! [`crate::reading::Measurement`].
//!
//! Register ids: Kamstrup doc 5512-447 and the MULTICAL 601 technical description
//! 5512-301 (as collected in the team notes' register table and in PyKamstrup's
//! `kamstrup_MC601_var` / `kamstrup_382_var`); names follow PyKMP `constants.py`.

use super::frame::{DEFAULT_LINE, KAMSTRUP_382_LINE};
use super::units::Dim;
use crate::protocol::LineSettings;
use crate::reading::{heat, q, Class, MeterKind, Quantity, QuantityDef, Unit};

/// How a register's unit is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnitRule {
    /// Published in the unit the meter sends (after exact scaling of units the crate does not
    /// name, such as GWh → MWh), which must have one of these dimensions. A heat meter's E1 is
    /// GJ, kWh, MWh or Gcal depending on its configuration: the meter's unit byte decides.
    AsSent(&'static [Dim]),
    /// Converted exactly (a power of ten) to the quantity's unit: the core electricity keys
    /// have fixed units (kWh, W) that other inputs publish too.
    Convert,
    /// Any unit; the class follows the unit (pulse inputs count water or electricity).
    Any,
    /// A clock or date register, published as text.
    Text,
}

/// One known register.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterDef {
    pub id: u16,
    /// Key, name, class and flags; with [`UnitRule::AsSent`] its unit is only the typical one.
    pub quantity: Quantity,
    pub rule: UnitRule,
}

const ENERGY: &[Dim] = &[Dim::EnergyWh, Dim::EnergyJ, Dim::EnergyCal];
pub(super) const VOLUME: &[Dim] = &[Dim::Volume];
const MASS: &[Dim] = &[Dim::Mass];
const TEMP: &[Dim] = &[Dim::Temperature];
const TEMP_DIFF: &[Dim] = &[Dim::TemperatureDifference];
const FLOW: &[Dim] = &[Dim::Flow];
const POWER: &[Dim] = &[Dim::Power];
const PRESSURE: &[Dim] = &[Dim::Pressure];
const HOURS: &[Dim] = &[Dim::Hours];
const NUMBER: &[Dim] = &[Dim::Number];
const VOL_TEMP: &[Dim] = &[Dim::VolumeTemperature];

/// A table row. A macro, not a `const fn`: the definition behind `qty!` must sit in a struct
/// expression to live in the `static` table.
macro_rules! def {
    ($id:expr, $quantity:expr, $rule:expr) => {
        RegisterDef {
            id: $id,
            quantity: $quantity,
            rule: $rule,
        }
    };
}

/// A register's quantity; `diagnostic`/`disabled` after a `;` (see [`QuantityDef`]).
macro_rules! qty {
    ($key:literal, $name:literal, $unit:expr, $class:expr $(; $m:ident)*) => {
        Quantity::Static(&QuantityDef::new($key, $name, $unit, $class)$(.$m())*)
    };
}

use UnitRule::{Any, AsSent, Convert, Text};

pub use super::mapping::{class_for_unit, map_entry, Mapped};

/// Every register this crate names. A key that `reading::q` or `reading::heat` defines is
/// used from there (one definition per key, checked by `tests/quantity_tables.rs`); the rest
/// are KMP's own. Ids from the notes' register table (5512-447,
/// MULTICAL 601 technical description 5512-301 p. 86 via PyKamstrup).
#[rustfmt::skip]
pub static REGISTERS: &[RegisterDef] = &[
    // Energy registers E1..E9 (5512-301: E1 = V1(T1-T2) heat, E3 = V1(T2-T1) cooling,
    // E4/E5 forward/return energy, E6/E7 tap water, E8/E9 = m³×T1 / m³×T2).
    def!(0x003C, q::HEAT_ENERGY_GJ, AsSent(ENERGY)),
    def!(0x005E, qty!("heat_energy_e2", "Heat energy E2", Unit::GJ, Class::Energy; disabled), AsSent(ENERGY)),
    def!(0x003F, qty!("cooling_energy", "Cooling energy", Unit::GJ, Class::Energy), AsSent(ENERGY)),
    def!(0x003D, qty!("inlet_energy", "Inlet energy E4", Unit::GJ, Class::Energy; disabled), AsSent(ENERGY)),
    def!(0x003E, qty!("outlet_energy", "Outlet energy E5", Unit::GJ, Class::Energy; disabled), AsSent(ENERGY)),
    def!(0x005F, qty!("tap_water_energy", "Tap water energy E6", Unit::GJ, Class::Energy; disabled), AsSent(ENERGY)),
    def!(0x0060, qty!("tap_water_energy_e7", "Tap water energy E7", Unit::GJ, Class::Energy; disabled), AsSent(ENERGY)),
    def!(0x0061, qty!("volume_temperature_flow", "Volume × flow temperature E8", Unit::CubicMeterCelsius, Class::Measurement; diagnostic; disabled), AsSent(VOL_TEMP)),
    def!(0x006E, qty!("volume_temperature_return", "Volume × return temperature E9", Unit::CubicMeterCelsius, Class::Measurement; diagnostic; disabled), AsSent(VOL_TEMP)),
    // Volume and mass.
    def!(0x0044, heat::VOLUME, AsSent(VOLUME)),
    def!(0x0045, qty!("volume_v2", "Volume V2", Unit::CubicMeter, Class::Volume; disabled), AsSent(VOLUME)),
    def!(0x0048, qty!("mass_m1", "Mass M1", Unit::Tonne, Class::Volume; disabled), AsSent(MASS)),
    def!(0x0049, qty!("mass_m2", "Mass M2", Unit::Tonne, Class::Volume; disabled), AsSent(MASS)),
    def!(0x0054, qty!("pulse_input_a", "Pulse input VA", Unit::CubicMeter, Class::Volume; disabled), Any),
    def!(0x0055, qty!("pulse_input_b", "Pulse input VB", Unit::CubicMeter, Class::Volume; disabled), Any),
    // Instantaneous values.
    def!(0x0056, heat::TEMPERATURE_FLOW, AsSent(TEMP)),
    def!(0x0057, heat::TEMPERATURE_RETURN, AsSent(TEMP)),
    def!(0x0058, heat::TEMPERATURE_T3, AsSent(TEMP)),
    def!(0x007A, qty!("temperature_t4", "Temperature T4", Unit::Celsius, Class::Temperature; disabled), AsSent(TEMP)),
    def!(0x0059, heat::TEMPERATURE_DIFFERENCE, AsSent(TEMP_DIFF)),
    def!(0x005B, heat::PRESSURE_P1, AsSent(PRESSURE)),
    def!(0x005C, heat::PRESSURE_P2, AsSent(PRESSURE)),
    def!(0x004A, heat::FLOW, AsSent(FLOW)),
    def!(0x004B, heat::FLOW_V2, AsSent(FLOW)),
    def!(0x0050, heat::POWER, AsSent(POWER)),
    // Counters and state.
    def!(0x03EC, heat::OPERATING_HOURS, AsSent(HOURS)),
    def!(0x0063, heat::INFO_CODE, AsSent(NUMBER)),
    def!(0x0071, qty!("info_event_count", "Info events", Unit::None, Class::Count; diagnostic), AsSent(NUMBER)),
    def!(0x00AF, qty!("error_hours", "Error hours", Unit::Hour, Class::Duration; diagnostic), AsSent(HOURS)),
    def!(0x03EA, qty!("meter_clock", "Meter clock", Unit::None, Class::Text; diagnostic; disabled), Text),
    def!(0x03EB, qty!("meter_date", "Meter date", Unit::None, Class::Text; diagnostic; disabled), Text),
    // Identity and configuration.
    def!(0x03E9, qty!("serial_number", "Serial number", Unit::None, Class::Enumeration; diagnostic; disabled), AsSent(NUMBER)),
    def!(0x0098, qty!("program_number", "Program number", Unit::None, Class::Enumeration; diagnostic; disabled), AsSent(NUMBER)),
    def!(0x0099, qty!("config_number_1", "Config number 1", Unit::None, Class::Enumeration; diagnostic; disabled), AsSent(NUMBER)),
    def!(0x00A8, qty!("config_number_2", "Config number 2", Unit::None, Class::Enumeration; diagnostic; disabled), AsSent(NUMBER)),
    def!(0x03ED, qty!("software_edition", "Software edition", Unit::None, Class::Enumeration; diagnostic; disabled), AsSent(NUMBER)),
    // High-resolution registers. 0x009B is "high-resolution energy register for testing
    // purposes" (5512-301 via PyKamstrup); on an MC602 it counts Wh from its activation, not
    // from zero (esphome_multical402 #5), so it is not E1.
    def!(0x009B, qty!("heat_energy_test_counter", "Heat energy test counter", Unit::Wh, Class::Energy; disabled), AsSent(ENERGY)),
    def!(0x00EF, qty!("volume_high_res", "Volume (high resolution)", Unit::CubicMeter, Class::Volume; disabled), AsSent(VOLUME)),
    def!(0x010A, qty!("heat_energy_high_res", "Heat energy (high resolution)", Unit::KWh, Class::Energy; disabled), AsSent(ENERGY)),
    def!(0x010B, qty!("cooling_energy_high_res", "Cooling energy (high resolution)", Unit::KWh, Class::Energy; disabled), AsSent(ENERGY)),
    // Kamstrup 382 electricity meter (PyKamstrup `kamstrup_382_var`; PyKMP names 1344-1346).
    def!(0x0001, q::ENERGY_IMPORT_TOTAL, Convert),
    def!(0x0002, q::ENERGY_EXPORT_TOTAL, Convert),
    def!(0x000D, qty!("energy_import_high_res", "Energy import (high resolution)", Unit::KWh, Class::Energy; disabled), Convert),
    def!(0x000E, qty!("energy_export_high_res", "Energy export (high resolution)", Unit::KWh, Class::Energy; disabled), Convert),
    def!(0x03FF, q::POWER_IMPORT, Convert),
    def!(0x0400, q::POWER_EXPORT, Convert),
    def!(0x041E, q::VOLTAGE_L1, Convert),
    def!(0x041F, q::VOLTAGE_L2, Convert),
    def!(0x0420, q::VOLTAGE_L3, Convert),
    def!(0x0434, q::CURRENT_L1, Convert),
    def!(0x0435, q::CURRENT_L2, Convert),
    def!(0x0436, q::CURRENT_L3, Convert),
    def!(0x0438, q::POWER_IMPORT_L1, Convert),
    def!(0x0439, q::POWER_IMPORT_L2, Convert),
    def!(0x043A, q::POWER_IMPORT_L3, Convert),
    def!(0x0540, q::POWER_EXPORT_L1, Convert),
    def!(0x0541, q::POWER_EXPORT_L2, Convert),
    def!(0x0542, q::POWER_EXPORT_L3, Convert),
];

/// The definition of register `id`, if it is in [`REGISTERS`].
pub fn lookup(id: u16) -> Option<&'static RegisterDef> {
    REGISTERS.iter().find(|d| d.id == id)
}

/// The register published under `key` (`heat_energy` → 0x003C; `register_<id>` → id).
pub fn id_for_key(key: &str) -> Option<u16> {
    if let Some(n) = key.strip_prefix("register_") {
        return n.parse().ok();
    }
    REGISTERS
        .iter()
        .find(|d| d.quantity.key == key)
        .map(|d| d.id)
}

/// A meter family's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preset {
    pub name: &'static str,
    pub description: &'static str,
    pub kind: MeterKind,
    pub line: LineSettings,
    pub registers: &'static [u16],
}

/// Heat meters: E1, V1, T1, T2, T1-T2, flow, power, hour counter, info code. Nine registers
/// means two GetRegister requests; removing one saves a request (and battery).
const HEAT_DEFAULT: &[u16] = &[
    0x003C, 0x0044, 0x0056, 0x0057, 0x0059, 0x004A, 0x0050, 0x03EC, 0x0063,
];

/// Meter presets, selectable by name in the configuration.
pub static PRESETS: &[Preset] = &[
    Preset {
        name: "multical_60x",
        description: "Kamstrup MULTICAL 601/602/603 heat meter",
        kind: MeterKind::Heat,
        line: DEFAULT_LINE,
        registers: HEAT_DEFAULT,
    },
    Preset {
        name: "multical_40x",
        description: "Kamstrup MULTICAL 402/403 heat meter (and 302/303)",
        kind: MeterKind::Heat,
        line: DEFAULT_LINE,
        registers: HEAT_DEFAULT,
    },
    Preset {
        name: "multical_21",
        description: "Kamstrup MULTICAL 21 water meter",
        kind: MeterKind::Water,
        line: DEFAULT_LINE,
        registers: &[0x0044, 0x0063, 0x03EC],
    },
    Preset {
        name: "kamstrup_382",
        description: "Kamstrup 382 electricity meter",
        kind: MeterKind::Electricity,
        line: KAMSTRUP_382_LINE,
        registers: &[
            0x0001, 0x0002, 0x03FF, 0x0400, 0x041E, 0x041F, 0x0420, 0x0434, 0x0435, 0x0436, 0x0438,
            0x0439, 0x043A,
        ],
    },
];

/// A preset name that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown KMP preset {name:?}; known: multical_60x, multical_40x, multical_21, kamstrup_382"
)]
pub struct UnknownPreset {
    pub name: String,
}

/// The registers one poll reads, in publishing order, without duplicates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterSet {
    kind: MeterKind,
    line: LineSettings,
    ids: Vec<u16>,
}

impl RegisterSet {
    /// An empty set for a meter of `kind` on the default 1200 8N2 line.
    pub fn new(kind: MeterKind) -> Self {
        RegisterSet {
            kind,
            line: DEFAULT_LINE,
            ids: Vec::new(),
        }
    }

    /// The preset's register set, kind and line settings.
    pub fn preset(name: &str) -> Result<Self, UnknownPreset> {
        let p = PRESETS
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| UnknownPreset { name: name.into() })?;
        Ok(RegisterSet {
            kind: p.kind,
            line: p.line,
            ids: p.registers.to_vec(),
        })
    }

    /// Add a register (any id: unknown ones publish as `register_<id>`). No-op if present.
    // `add`/`remove` is the configuration vocabulary; this is not arithmetic.
    #[allow(clippy::should_implement_trait)]
    pub fn add(mut self, id: u16) -> Self {
        if !self.ids.contains(&id) {
            self.ids.push(id);
        }
        self
    }

    pub fn remove(mut self, id: u16) -> Self {
        self.ids.retain(|&i| i != id);
        self
    }

    pub fn contains(&self, id: u16) -> bool {
        self.ids.contains(&id)
    }

    pub fn ids(&self) -> &[u16] {
        &self.ids
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn kind(&self) -> MeterKind {
        self.kind
    }

    /// The line settings the family uses (the session's default).
    pub fn line(&self) -> LineSettings {
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_topic_safe() {
        let mut keys: Vec<&str> = REGISTERS.iter().map(|d| d.quantity.key.as_ref()).collect();
        let n = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), n, "duplicate key");
        for k in keys {
            assert!(k
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        }
        let mut ids: Vec<u16> = REGISTERS.iter().map(|d| d.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate id");
    }

    #[test]
    fn presets_only_use_known_registers() {
        for p in PRESETS {
            for id in p.registers {
                assert!(lookup(*id).is_some(), "{} uses {id:#06x}", p.name);
            }
            assert!(RegisterSet::preset(p.name).is_ok());
        }
        assert!(RegisterSet::preset("multical_999").is_err());
    }

    #[test]
    fn add_and_remove() {
        let set = RegisterSet::preset("multical_60x")
            .unwrap()
            .add(0x003F)
            .add(0x003F)
            .remove(0x0059);
        assert!(set.contains(0x003F));
        assert!(!set.contains(0x0059));
        assert_eq!(set.len(), 9);
        assert_eq!(id_for_key("cooling_energy"), Some(0x003F));
        assert_eq!(id_for_key("register_155"), Some(155));
        assert_eq!(id_for_key("nope"), None);
    }
}
