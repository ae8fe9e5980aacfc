//! The core quantities every input maps to. Their keys are the public contract of the state
//! payload (documented in `docs/readings.md`); changing one breaks users' automations.

quantities! {
    ENERGY_IMPORT_TOTAL = ("energy_import_total", "Energy import", KWh, Energy);
    ENERGY_IMPORT_T1 = ("energy_import_t1", "Energy import tariff 1", KWh, Energy);
    ENERGY_IMPORT_T2 = ("energy_import_t2", "Energy import tariff 2", KWh, Energy);
    ENERGY_EXPORT_TOTAL = ("energy_export_total", "Energy export", KWh, Energy);
    ENERGY_EXPORT_T1 = ("energy_export_t1", "Energy export tariff 1", KWh, Energy);
    ENERGY_EXPORT_T2 = ("energy_export_t2", "Energy export tariff 2", KWh, Energy);
    POWER_IMPORT = ("power_import", "Power import", W, Power);
    POWER_EXPORT = ("power_export", "Power export", W, Power);
    POWER_IMPORT_L1 = ("power_import_l1", "Power import L1", W, Power).disabled();
    POWER_IMPORT_L2 = ("power_import_l2", "Power import L2", W, Power).disabled();
    POWER_IMPORT_L3 = ("power_import_l3", "Power import L3", W, Power).disabled();
    POWER_EXPORT_L1 = ("power_export_l1", "Power export L1", W, Power).disabled();
    POWER_EXPORT_L2 = ("power_export_l2", "Power export L2", W, Power).disabled();
    POWER_EXPORT_L3 = ("power_export_l3", "Power export L3", W, Power).disabled();
    VOLTAGE_L1 = ("voltage_l1", "Voltage L1", V, Voltage).diagnostic();
    VOLTAGE_L2 = ("voltage_l2", "Voltage L2", V, Voltage).diagnostic().disabled();
    VOLTAGE_L3 = ("voltage_l3", "Voltage L3", V, Voltage).diagnostic().disabled();
    CURRENT_L1 = ("current_l1", "Current L1", A, Current).diagnostic();
    CURRENT_L2 = ("current_l2", "Current L2", A, Current).diagnostic().disabled();
    CURRENT_L3 = ("current_l3", "Current L3", A, Current).diagnostic().disabled();
    /// `0-0:96.14.0`, the tariff in use (DSMR 5.0.2 §6.12 "Tariff indicator electricity"):
    /// 1 is the low (night) tariff and 2 the normal (day) one. Names and numbers as HA's own
    /// DSMR integration has them (`homeassistant/components/dsmr/sensor.py` `translate_tariff`,
    /// 2024.3: "Rate code 1 is used for low rate and rate code 2 is used for normal rate"),
    /// so users moving from it find the same states. Belgium swaps them: `protocol::dsmr`
    /// uses its own definition there.
    TARIFF = ("tariff", "Tariff", None, Enumeration).options(&[(1, "low"), (2, "normal")]);
    POWER_FAILURES = ("power_failures", "Power failures", None, Count).diagnostic();
    LONG_POWER_FAILURES = ("long_power_failures", "Long power failures", None, Count).diagnostic();
    // Sub-meters and heat meters.
    GAS = ("gas", "Gas", CubicMeter, Gas);
    WATER = ("water", "Water", CubicMeter, Water);
    /// Heat energy in GJ, as Dutch/Belgian M-Bus heat meters send it.
    HEAT_ENERGY_GJ = ("heat_energy", "Heat energy", GJ, Energy);
}
