//! Quantities P1 meters send beyond the core set in [`crate::reading::q`].
//!
//! Every key here is part of the state payload contract and is documented (unit, OBIS code,
//! class) in `docs/readings.md`. Units are fixed per key: converters in `mapping` bring `Wh`,
//! `kW`, `kvar`, `varh`, `kVA`, `dm3`, `MJ` to the unit named here.

use crate::reading::quantities;

/// The states of a disconnector (breaker, gas valve): IEC 62056-6-2 interface class 70
/// "Disconnect control", attribute `control_state`, which DSMR 5.0.2 §6.12 reports as 0/1/2.
const DISCONNECTOR: &[(i64, &str)] = &[
    (0, "disconnected"),
    (1, "connected"),
    (2, "ready_for_reconnection"),
];

quantities! {
    /// `1-0:1.8.3` / `1-0:1.8.4`: tariffs 3 and 4 (Hungary, DSMR 5.0.2 §6.12 allows up to 4).
    ENERGY_IMPORT_T3 = ("energy_import_t3", "Energy import tariff 3", KWh, Energy);
    ENERGY_IMPORT_T4 = ("energy_import_t4", "Energy import tariff 4", KWh, Energy);
    ENERGY_EXPORT_T3 = ("energy_export_t3", "Energy export tariff 3", KWh, Energy);
    ENERGY_EXPORT_T4 = ("energy_export_t4", "Energy export tariff 4", KWh, Energy);
    /// `1-0:15.8.0`: absolute active energy |A+| + |A-| (IEC 62056-61 C=15; Hungary).
    ENERGY_ABSOLUTE_TOTAL = ("energy_absolute_total", "Energy absolute", KWh, Energy).disabled();
    /// `1-0:3.8.x` reactive energy import (+R, Q1+Q2), `1-0:4.8.x` export (-R, Q3+Q4).
    REACTIVE_ENERGY_IMPORT_TOTAL = ("reactive_energy_import_total", "Reactive energy import", Kvarh, ReactiveEnergy).disabled();
    REACTIVE_ENERGY_IMPORT_T1 = ("reactive_energy_import_t1", "Reactive energy import tariff 1", Kvarh, ReactiveEnergy).disabled();
    REACTIVE_ENERGY_IMPORT_T2 = ("reactive_energy_import_t2", "Reactive energy import tariff 2", Kvarh, ReactiveEnergy).disabled();
    REACTIVE_ENERGY_EXPORT_TOTAL = ("reactive_energy_export_total", "Reactive energy export", Kvarh, ReactiveEnergy).disabled();
    REACTIVE_ENERGY_EXPORT_T1 = ("reactive_energy_export_t1", "Reactive energy export tariff 1", Kvarh, ReactiveEnergy).disabled();
    REACTIVE_ENERGY_EXPORT_T2 = ("reactive_energy_export_t2", "Reactive energy export tariff 2", Kvarh, ReactiveEnergy).disabled();
    /// `1-0:5.8.0` .. `1-0:8.8.0`: reactive energy per quadrant (IEC 62056-61 C=5..8; Hungary).
    REACTIVE_ENERGY_Q1 = ("reactive_energy_q1", "Reactive energy Q1", Kvarh, ReactiveEnergy).disabled();
    REACTIVE_ENERGY_Q2 = ("reactive_energy_q2", "Reactive energy Q2", Kvarh, ReactiveEnergy).disabled();
    REACTIVE_ENERGY_Q3 = ("reactive_energy_q3", "Reactive energy Q3", Kvarh, ReactiveEnergy).disabled();
    REACTIVE_ENERGY_Q4 = ("reactive_energy_q4", "Reactive energy Q4", Kvarh, ReactiveEnergy).disabled();
    /// `1-0:3.7.0` / `1-0:4.7.0` and per phase `23/43/63.7.0`, `24/44/64.7.0` (Luxembourg Smarty
    /// P1 spec; kvar converted to var like kW to W).
    REACTIVE_POWER_IMPORT = ("reactive_power_import", "Reactive power import", Var, ReactivePower).disabled();
    REACTIVE_POWER_EXPORT = ("reactive_power_export", "Reactive power export", Var, ReactivePower).disabled();
    REACTIVE_POWER_IMPORT_L1 = ("reactive_power_import_l1", "Reactive power import L1", Var, ReactivePower).disabled();
    REACTIVE_POWER_IMPORT_L2 = ("reactive_power_import_l2", "Reactive power import L2", Var, ReactivePower).disabled();
    REACTIVE_POWER_IMPORT_L3 = ("reactive_power_import_l3", "Reactive power import L3", Var, ReactivePower).disabled();
    REACTIVE_POWER_EXPORT_L1 = ("reactive_power_export_l1", "Reactive power export L1", Var, ReactivePower).disabled();
    REACTIVE_POWER_EXPORT_L2 = ("reactive_power_export_l2", "Reactive power export L2", Var, ReactivePower).disabled();
    REACTIVE_POWER_EXPORT_L3 = ("reactive_power_export_l3", "Reactive power export L3", Var, ReactivePower).disabled();
    /// `1-0:5.7.0` .. `1-0:8.7.0`: reactive power per quadrant (Hungary).
    REACTIVE_POWER_Q1 = ("reactive_power_q1", "Reactive power Q1", Var, ReactivePower).disabled();
    REACTIVE_POWER_Q2 = ("reactive_power_q2", "Reactive power Q2", Var, ReactivePower).disabled();
    REACTIVE_POWER_Q3 = ("reactive_power_q3", "Reactive power Q3", Var, ReactivePower).disabled();
    REACTIVE_POWER_Q4 = ("reactive_power_q4", "Reactive power Q4", Var, ReactivePower).disabled();
    /// `1-0:9.7.0` / `1-0:10.7.0`: apparent power (Luxembourg Smarty P1 spec; kVA to VA).
    APPARENT_POWER_IMPORT = ("apparent_power_import", "Apparent power import", VA, ApparentPower).disabled();
    APPARENT_POWER_EXPORT = ("apparent_power_export", "Apparent power export", VA, ApparentPower).disabled();
    /// `1-0:13.7.0` and per phase `33/53/73.7.0` (IEC 62056-61 C=13; Hungary), as sent.
    POWER_FACTOR = ("power_factor", "Power factor", None, PowerFactor).disabled();
    POWER_FACTOR_L1 = ("power_factor_l1", "Power factor L1", None, PowerFactor).disabled();
    POWER_FACTOR_L2 = ("power_factor_l2", "Power factor L2", None, PowerFactor).disabled();
    POWER_FACTOR_L3 = ("power_factor_l3", "Power factor L3", None, PowerFactor).disabled();
    /// `1-0:14.7.0` (IEC 62056-61 C=14; Hungary).
    FREQUENCY = ("frequency", "Frequency", Hz, Frequency).diagnostic().disabled();
    /// `1-0:32.32.0`, `52.32.0`, `72.32.0` (DSMR 5.0.2 §6.12).
    VOLTAGE_SAGS_L1 = ("voltage_sags_l1", "Voltage sags L1", None, Count).diagnostic().disabled();
    VOLTAGE_SAGS_L2 = ("voltage_sags_l2", "Voltage sags L2", None, Count).diagnostic().disabled();
    VOLTAGE_SAGS_L3 = ("voltage_sags_l3", "Voltage sags L3", None, Count).diagnostic().disabled();
    /// `1-0:32.36.0`, `52.36.0`, `72.36.0` (DSMR 5.0.2 §6.12).
    VOLTAGE_SWELLS_L1 = ("voltage_swells_l1", "Voltage swells L1", None, Count).diagnostic().disabled();
    VOLTAGE_SWELLS_L2 = ("voltage_swells_l2", "Voltage swells L2", None, Count).diagnostic().disabled();
    VOLTAGE_SWELLS_L3 = ("voltage_swells_l3", "Voltage swells L3", None, Count).diagnostic().disabled();
    /// Computed, not sent: `1-0:1.7.0` minus `1-0:2.7.0` (W, signed; negative while exporting),
    /// per phase `21.7.0 - 22.7.0` etc. (see `mapping::Builder::computed_net_power`).
    POWER_NET = ("power_net", "Power net", W, Power);
    POWER_NET_L1 = ("power_net_l1", "Power net L1", W, Power).disabled();
    POWER_NET_L2 = ("power_net_l2", "Power net L2", W, Power).disabled();
    POWER_NET_L3 = ("power_net_l3", "Power net L3", W, Power).disabled();
    /// `1-0:1.4.0`: average import power of the running quarter hour (e-MUCS P1 capacity tariff).
    POWER_AVERAGE_15MIN = ("power_average_15min", "Power average 15 min", W, Power);
    /// `1-0:1.6.0`: this month's highest quarter-hour average and when it happened (e-MUCS).
    PEAK_POWER_MONTH = ("peak_power_month", "Peak power this month", W, Power);
    PEAK_POWER_MONTH_TIME = ("peak_power_month_time", "Peak power this month time", None, Timestamp).diagnostic();
    /// `0-0:98.1.0`: the most recent month of the 13-month peak history (e-MUCS).
    PEAK_POWER_PREVIOUS_MONTH = ("peak_power_previous_month", "Peak power previous month", W, Power);
    PEAK_POWER_PREVIOUS_MONTH_TIME = ("peak_power_previous_month_time", "Peak power previous month time", None, Timestamp).diagnostic();
    /// `0-0:98.1.0`: mean of the monthly peaks in the history (the Belgian capacity tariff bills
    /// the 12-month mean), rounded to 0.001 W.
    PEAK_POWER_AVERAGE_13M = ("peak_power_average_13m", "Peak power average of history", W, Power).disabled();
    /// `0-0:96.3.10`: breaker (switch) position, 0 off, 1 on, 2 ready (DSMR 5.0.2 §6.12
    /// "Breaker state"; the states of the DLMS disconnect control, IEC 62056-6-2 class 70
    /// `control_state`: disconnected, connected, ready_for_reconnection).
    BREAKER_STATE = ("breaker_state", "Breaker state", None, Enumeration).diagnostic().options(DISCONNECTOR);
    /// `0-0:17.0.0` in kW (DSMR 4/5, e-MUCS): limiter threshold.
    POWER_LIMIT = ("power_limit", "Power limit", W, Power).diagnostic().disabled();
    /// `0-0:17.0.0` in A (DSMR 3.0 `(016*A)`: corpus ndokter 02).
    CURRENT_LIMIT = ("current_limit", "Current limit", A, Current).diagnostic().disabled();
    /// `0-0:17.0.0` in kVA (Luxembourg Smarty P1 spec).
    APPARENT_POWER_LIMIT = ("apparent_power_limit", "Apparent power limit", VA, ApparentPower).diagnostic().disabled();
    /// `1-0:31.4.0`, `51.4.0`, `71.4.0`: fuse supervision / current limit per phase (e-MUCS,
    /// Luxembourg, Hungary).
    CURRENT_LIMIT_L1 = ("current_limit_l1", "Current limit L1", A, Current).diagnostic().disabled();
    CURRENT_LIMIT_L2 = ("current_limit_l2", "Current limit L2", A, Current).diagnostic().disabled();
    CURRENT_LIMIT_L3 = ("current_limit_l3", "Current limit L3", A, Current).diagnostic().disabled();
    /// `0-0:96.13.0`: text message (DSMR 5.0.2 §6.12: hex-encoded ASCII, up to 1024 chars).
    MESSAGE = ("message", "Message", None, Text).diagnostic();
    /// `0-0:96.13.1`: numeric message code (DSMR 3.0 / 4.x).
    MESSAGE_CODE = ("message_code", "Message code", None, Text).diagnostic().disabled();
    /// `0-0:96.13.2` .. `0-0:96.13.5`: further message slots (Luxembourg Smarty P1 spec).
    MESSAGE_2 = ("message_2", "Message 2", None, Text).diagnostic().disabled();
    MESSAGE_3 = ("message_3", "Message 3", None, Text).diagnostic().disabled();
    MESSAGE_4 = ("message_4", "Message 4", None, Text).diagnostic().disabled();
    MESSAGE_5 = ("message_5", "Message 5", None, Text).diagnostic().disabled();
    /// `1-0:99.97.0`: end time and duration of the most recent long power failure in the log.
    LAST_POWER_FAILURE = ("last_power_failure", "Last power failure", None, Timestamp).diagnostic();
    LAST_POWER_FAILURE_DURATION = ("last_power_failure_duration", "Last power failure duration", Second, TimeSpan).diagnostic();
    /// `0-n:24.2.3`: gas volume not temperature-corrected (e-MUCS; Belgian gas meters send
    /// only this one).
    GAS_UNCORRECTED = ("gas_uncorrected", "Gas (not temperature corrected)", CubicMeter, Gas);
    /// `0-n:24.2.1` in GJ on a cooling meter (EN 13757-3 device type 0x0A/0x0B).
    COOLING_ENERGY = ("cooling_energy", "Cooling energy", GJ, Energy);
    /// `0-n:24.2.1` in m³ on a device whose type is unknown or not gas/water.
    VOLUME = ("volume", "Volume", CubicMeter, Volume);
    /// `0-n:24.4.0`: gas valve position (DSMR 5.0.2 §6.12), `0-n:96.3.10` on Smarty; the same
    /// disconnect control states as the breaker.
    VALVE_POSITION = ("valve_position", "Valve position", None, Enumeration).diagnostic().options(DISCONNECTOR);
    /// `0-0:96.14.0` on a Belgian e-MUCS meter: tariff 1 is the day (normal) tariff and 2 the
    /// night (low) one, the other way round from the Netherlands ([`crate::reading::q::TARIFF`]).
    /// Source: HA's DSMR integration (`homeassistant/components/dsmr/sensor.py`
    /// `translate_tariff`, 2024.3: "DSMR V5B: Note: In Belgium values are swapped: Rate code 2
    /// is used for low rate and rate code 1 is used for normal rate").
    TARIFF_EMUCS = ("tariff", "Tariff", None, Enumeration).options(&[(1, "normal"), (2, "low")]);
}
