//! The core quantities every input maps to. Their keys are the public contract of the state
//! payload (documented in `docs/readings.md`); changing one breaks users' automations.

use super::{Class, Quantity, QuantityDef, Unit};

pub const ENERGY_IMPORT_TOTAL: Quantity = Quantity::Static(&QuantityDef::new(
    "energy_import_total",
    "Energy import",
    Unit::KWh,
    Class::Energy,
));
pub const ENERGY_IMPORT_T1: Quantity = Quantity::Static(&QuantityDef::new(
    "energy_import_t1",
    "Energy import tariff 1",
    Unit::KWh,
    Class::Energy,
));
pub const ENERGY_IMPORT_T2: Quantity = Quantity::Static(&QuantityDef::new(
    "energy_import_t2",
    "Energy import tariff 2",
    Unit::KWh,
    Class::Energy,
));
pub const ENERGY_EXPORT_TOTAL: Quantity = Quantity::Static(&QuantityDef::new(
    "energy_export_total",
    "Energy export",
    Unit::KWh,
    Class::Energy,
));
pub const ENERGY_EXPORT_T1: Quantity = Quantity::Static(&QuantityDef::new(
    "energy_export_t1",
    "Energy export tariff 1",
    Unit::KWh,
    Class::Energy,
));
pub const ENERGY_EXPORT_T2: Quantity = Quantity::Static(&QuantityDef::new(
    "energy_export_t2",
    "Energy export tariff 2",
    Unit::KWh,
    Class::Energy,
));
pub const POWER_IMPORT: Quantity = Quantity::Static(&QuantityDef::new(
    "power_import",
    "Power import",
    Unit::W,
    Class::Power,
));
pub const POWER_EXPORT: Quantity = Quantity::Static(&QuantityDef::new(
    "power_export",
    "Power export",
    Unit::W,
    Class::Power,
));
pub const POWER_IMPORT_L1: Quantity = Quantity::Static(
    &QuantityDef::new("power_import_l1", "Power import L1", Unit::W, Class::Power).disabled(),
);
pub const POWER_IMPORT_L2: Quantity = Quantity::Static(
    &QuantityDef::new("power_import_l2", "Power import L2", Unit::W, Class::Power).disabled(),
);
pub const POWER_IMPORT_L3: Quantity = Quantity::Static(
    &QuantityDef::new("power_import_l3", "Power import L3", Unit::W, Class::Power).disabled(),
);
pub const POWER_EXPORT_L1: Quantity = Quantity::Static(
    &QuantityDef::new("power_export_l1", "Power export L1", Unit::W, Class::Power).disabled(),
);
pub const POWER_EXPORT_L2: Quantity = Quantity::Static(
    &QuantityDef::new("power_export_l2", "Power export L2", Unit::W, Class::Power).disabled(),
);
pub const POWER_EXPORT_L3: Quantity = Quantity::Static(
    &QuantityDef::new("power_export_l3", "Power export L3", Unit::W, Class::Power).disabled(),
);
pub const VOLTAGE_L1: Quantity = Quantity::Static(
    &QuantityDef::new("voltage_l1", "Voltage L1", Unit::V, Class::Voltage).diagnostic(),
);
pub const VOLTAGE_L2: Quantity = Quantity::Static(
    &QuantityDef::new("voltage_l2", "Voltage L2", Unit::V, Class::Voltage)
        .diagnostic()
        .disabled(),
);
pub const VOLTAGE_L3: Quantity = Quantity::Static(
    &QuantityDef::new("voltage_l3", "Voltage L3", Unit::V, Class::Voltage)
        .diagnostic()
        .disabled(),
);
pub const CURRENT_L1: Quantity = Quantity::Static(
    &QuantityDef::new("current_l1", "Current L1", Unit::A, Class::Current).diagnostic(),
);
pub const CURRENT_L2: Quantity = Quantity::Static(
    &QuantityDef::new("current_l2", "Current L2", Unit::A, Class::Current)
        .diagnostic()
        .disabled(),
);
pub const CURRENT_L3: Quantity = Quantity::Static(
    &QuantityDef::new("current_l3", "Current L3", Unit::A, Class::Current)
        .diagnostic()
        .disabled(),
);
pub const TARIFF: Quantity = Quantity::Static(&QuantityDef::new(
    "tariff",
    "Tariff",
    Unit::None,
    Class::Enumeration,
));
pub const POWER_FAILURES: Quantity = Quantity::Static(
    &QuantityDef::new("power_failures", "Power failures", Unit::None, Class::Count).diagnostic(),
);
pub const LONG_POWER_FAILURES: Quantity = Quantity::Static(
    &QuantityDef::new(
        "long_power_failures",
        "Long power failures",
        Unit::None,
        Class::Count,
    )
    .diagnostic(),
);

// Sub-meters and heat meters.
pub const GAS: Quantity = Quantity::Static(&QuantityDef::new(
    "gas",
    "Gas",
    Unit::CubicMeter,
    Class::Gas,
));
pub const WATER: Quantity = Quantity::Static(&QuantityDef::new(
    "water",
    "Water",
    Unit::CubicMeter,
    Class::Water,
));
/// Heat energy in GJ, as Dutch/Belgian M-Bus heat meters send it.
pub const HEAT_ENERGY_GJ: Quantity = Quantity::Static(&QuantityDef::new(
    "heat_energy",
    "Heat energy",
    Unit::GJ,
    Class::Energy,
));
