//! Quantities of heat meters read over IEC 62056-21 (Ultraheat, MULTICAL mode C) and the
//! MULTICAL `/#n` protocol. Their keys and units are the state payload's contract like
//! [`super::q`]'s (documented in `docs/readings.md`); the KMP register table
//! (`protocol::kmp::registers`) uses the same keys for the same quantities.

use super::{Quantity, Unit};

/// Heat energy in the unit the meter sends (GJ, MWh, kWh or Gcal, IEC 62056-21 / MULTICAL
/// `/#n`): a meter never changes its unit, so the entity keeps one unit as HA requires.
pub fn heat_energy(unit: Unit) -> Quantity {
    super::q::HEAT_ENERGY_GJ.with_unit(unit)
}

quantities! {
    VOLUME = ("volume", "Volume", CubicMeter, Volume);
    OPERATING_HOURS = ("operating_hours", "Operating hours", Hour, Duration).diagnostic();
    TEMPERATURE_FLOW = ("temperature_flow", "Flow temperature", Celsius, Temperature);
    TEMPERATURE_RETURN = ("temperature_return", "Return temperature", Celsius, Temperature);
    TEMPERATURE_DIFFERENCE = ("temperature_difference", "Temperature difference", Kelvin, TemperatureDifference);
    /// Ultraheat `9.4`: the highest flow/return temperatures, not the current ones.
    TEMPERATURE_FLOW_MAX = ("temperature_flow_max", "Maximum flow temperature", Celsius, Temperature).diagnostic();
    TEMPERATURE_RETURN_MAX = ("temperature_return_max", "Maximum return temperature", Celsius, Temperature).diagnostic();
    TEMPERATURE_T3 = ("temperature_t3", "Temperature T3", Celsius, Temperature).disabled();
    POWER = ("power", "Power", KW, Power);
    PEAK_POWER = ("peak_power", "Peak power", KW, Power).diagnostic();
    /// Flow in m³/h, converted exactly from the l/h household heat meters show (245 l/h →
    /// 0.245): `volume_flow_rate` accepts m³/h in every Home Assistant we support, L/h only
    /// from 2025.5 (HA `sensor/const.py` `DEVICE_CLASS_UNITS` at 2024.3; issue 12 §2).
    FLOW = ("flow", "Flow", CubicMeterPerHour, Flow);
    FLOW_V2 = ("flow_v2", "Flow V2", CubicMeterPerHour, Flow).disabled();
    PEAK_FLOW = ("peak_flow", "Peak flow", CubicMeterPerHour, Flow).diagnostic();
    PRESSURE_P1 = ("pressure_p1", "Pressure P1", Bar, Pressure).disabled();
    PRESSURE_P2 = ("pressure_p2", "Pressure P2", Bar, Pressure).disabled();
    INFO_CODE = ("info_code", "Info code", None, Enumeration).diagnostic();
}
