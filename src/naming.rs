//! Device names (issue 12 §3), shared by every output that names a device (MQTT discovery,
//! the web API): "Electricity meter", "Gas meter", ..., without serial numbers
//! (the serial is the device's `serial_number`), so Home Assistant's entity ids read
//! `sensor.electricity_meter_energy_import_tariff_1` instead of carrying the serial.
//!
//! Names are decided from the configuration alone, so they are the same at every start
//! (Home Assistant takes an entity id from the names when it first sees the entity; a name
//! that depended on which meter answered first would differ between installations):
//! - an input's `device_name` names the meter the input reads (not its M-Bus sub-meters);
//! - otherwise the meter is named after its kind, and when another input could produce a
//!   meter with that same name, the input's name is added: "Heat meter (kitchen)".
//!
//! "Could produce": an input's own meter has a kind known from its configuration (a P1 port
//! reads an electricity meter, a `multical_21` KMP preset a water meter); a P1 port may also
//! have M-Bus sub-meters of any kind. A sub-meter is told apart from every other input that
//! has sub-meters or whose own meter is of its kind; an input's own meter only from inputs
//! whose own meter may be of its kind. So one P1 meter and one KMP heat meter give
//! "Electricity meter", "Gas meter" and "Heat meter", and if that P1 port ever reports a heat
//! sub-meter, that one is "Heat meter (p1)".

use crate::config::InputConfig;
use crate::reading::{MeterInfo, MeterKind};

/// What the configuration says about one input's meters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputNames {
    /// The input's `name`.
    pub input: String,
    /// The input's `device_name` option.
    pub device_name: Option<String>,
    /// The kinds the input's own meter may be.
    pub kinds: Vec<MeterKind>,
    /// Whether the input may report M-Bus sub-meters (P1 ports).
    pub sub_meters: bool,
}

impl InputNames {
    /// What device names depend on for one configured input: the kinds of meter it reads.
    pub fn of(input: &InputConfig) -> Self {
        let kinds = match input {
            InputConfig::P1(_) => vec![MeterKind::Electricity],
            // An unknown preset fails validation; the kind is then never asked for.
            InputConfig::Kmp(c) => c.registers().map(|r| vec![r.kind()]).unwrap_or_default(),
            InputConfig::Multical(_) => vec![MeterKind::Heat],
            // The readout decides (iec62056 `mapping`): the profiles name the meters they are for.
            InputConfig::Iec62056(c) => match c.profile.as_str() {
                "kamstrup_382" => vec![MeterKind::Electricity],
                "multical_401" | "ultraheat" => vec![MeterKind::Heat],
                _ => vec![MeterKind::Electricity, MeterKind::Heat],
            },
        };
        InputNames {
            input: input.name().to_string(),
            device_name: input.device_name().map(str::to_string),
            kinds,
            sub_meters: matches!(input, InputConfig::P1(_)),
        }
    }
}

/// Device names for every configured input (see the module docs). The default, with no
/// inputs, names every meter after its kind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Naming {
    inputs: Vec<InputNames>,
}

/// Kinds compare by what they name: two unknown M-Bus device types are both "Meter".
fn same_kind(a: MeterKind, b: MeterKind) -> bool {
    a.as_str() == b.as_str()
}

fn kind_name(kind: MeterKind) -> &'static str {
    match kind {
        MeterKind::Electricity => "Electricity meter",
        MeterKind::Gas => "Gas meter",
        MeterKind::Water => "Water meter",
        MeterKind::Heat => "Heat meter",
        MeterKind::Cooling => "Cooling meter",
        MeterKind::Other(_) => "Meter",
    }
}

impl Naming {
    pub fn new(inputs: Vec<InputNames>) -> Self {
        Naming { inputs }
    }

    /// The device name of `meter`, read by the input named `input`.
    pub fn device_name(&self, input: &str, meter: &MeterInfo) -> String {
        let sub = meter.parent.is_some();
        if !sub {
            let own = self.inputs.iter().find(|i| i.input == input);
            if let Some(name) = own.and_then(|i| i.device_name.as_deref()) {
                return name.to_string();
            }
        }
        let base = kind_name(meter.kind);
        let shared =
            self.inputs.iter().filter(|j| j.input != input).any(|j| {
                j.kinds.iter().any(|k| same_kind(*k, meter.kind)) || (sub && j.sub_meters)
            });
        if shared {
            format!("{base} ({input})")
        } else {
            base.to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn p1(name: &str) -> InputNames {
        InputNames {
            input: name.into(),
            device_name: None,
            kinds: vec![MeterKind::Electricity],
            sub_meters: true,
        }
    }

    fn heat(name: &str) -> InputNames {
        InputNames {
            input: name.into(),
            device_name: None,
            kinds: vec![MeterKind::Heat],
            sub_meters: false,
        }
    }

    fn meter(kind: MeterKind, parent: Option<&str>) -> MeterInfo {
        let mut m = MeterInfo::new("E0043007052870319", kind);
        m.serial = Some("E0043007052870319".into());
        m.parent = parent.map(Into::into);
        m
    }

    #[test]
    fn one_of_each_kind_gets_the_plain_name() {
        let n = Naming::new(vec![p1("p1"), heat("kmp")]);
        let e = meter(MeterKind::Electricity, None);
        assert_eq!(n.device_name("p1", &e), "Electricity meter");
        let g = meter(MeterKind::Gas, Some("E1"));
        assert_eq!(n.device_name("p1", &g), "Gas meter");
        assert_eq!(
            n.device_name("kmp", &meter(MeterKind::Heat, None)),
            "Heat meter"
        );
        // A heat sub-meter on the P1 port would share the KMP meter's name: it gets the
        // input's, the KMP meter keeps its own.
        let h = meter(MeterKind::Heat, Some("E1"));
        assert_eq!(n.device_name("p1", &h), "Heat meter (p1)");
        // Without configuration (the `decode` command, tests): the kind only.
        assert_eq!(Naming::default().device_name("x", &e), "Electricity meter");
    }

    #[test]
    fn two_meters_of_one_kind_are_told_apart_by_their_input() {
        let n = Naming::new(vec![p1("house"), p1("garage"), heat("a"), heat("b")]);
        let e = meter(MeterKind::Electricity, None);
        assert_eq!(n.device_name("house", &e), "Electricity meter (house)");
        assert_eq!(n.device_name("garage", &e), "Electricity meter (garage)");
        let g = meter(MeterKind::Gas, Some("E1"));
        assert_eq!(n.device_name("garage", &g), "Gas meter (garage)");
        let h = meter(MeterKind::Heat, None);
        assert_eq!(n.device_name("a", &h), "Heat meter (a)");
        assert_eq!(n.device_name("b", &h), "Heat meter (b)");
    }

    #[test]
    fn device_name_names_the_inputs_own_meter() {
        let mut house = p1("house");
        house.device_name = Some("Main meter".into());
        let n = Naming::new(vec![house, p1("garage")]);
        let e = meter(MeterKind::Electricity, None);
        assert_eq!(n.device_name("house", &e), "Main meter");
        assert_eq!(n.device_name("garage", &e), "Electricity meter (garage)");
        // Its sub-meters keep their kind's name.
        let g = meter(MeterKind::Gas, Some("E1"));
        assert_eq!(n.device_name("house", &g), "Gas meter (house)");
    }

    /// `device_name` on every input type, and the names it leads to (issue 12 §3).
    #[test]
    fn device_names_from_the_configuration() {
        let cfg = Config::from_yaml(
            "inputs:\n  - {name: house, type: p1, device: /dev/ttyUSB0, device_name: Main meter}\n  - {name: garage, type: p1, host: h, port: 1}\n  - {name: heat, type: kmp, device: /dev/ttyUSB1, device_name: District heating}\n  - {name: water, type: kmp, device: /dev/ttyUSB2, preset: multical_21}\n",
        )
        .unwrap();
        let naming = Naming::new(cfg.inputs.iter().map(InputNames::of).collect());
        let e = MeterInfo::new("E1", MeterKind::Electricity);
        assert_eq!(naming.device_name("house", &e), "Main meter");
        assert_eq!(
            naming.device_name("garage", &e),
            "Electricity meter (garage)"
        );
        let heat = MeterInfo::new("K1", MeterKind::Heat);
        assert_eq!(naming.device_name("heat", &heat), "District heating");
        // multical_21 is a water meter; the P1 ports' water sub-meters would share its name.
        let w = MeterInfo::new("K2", MeterKind::Water);
        assert_eq!(naming.device_name("water", &w), "Water meter");
        let mut sub = MeterInfo::new("W1", MeterKind::Water);
        sub.parent = Some("E1".into());
        assert_eq!(naming.device_name("garage", &sub), "Water meter (garage)");
        let err = Config::from_yaml(
            "inputs:\n  - {name: a, type: multical, device: /dev/ttyUSB0, device_name: \" \"}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("inputs[0].device_name"), "{err}");
    }
}
