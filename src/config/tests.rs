//! Unit tests of configuration loading (`super`).

use super::*;

/// A validation problem is typed (key and message as fields) and reads as the
/// configuration error it becomes, so logs and `check-config` say what they said before.
#[test]
fn problems_keep_their_text() {
    let err =
        Config::from_yaml("inputs:\n  - name: heat\n    type: kmp\n    host: h\n").unwrap_err();
    let p = Problem::new("inputs[0].port", "host needs a port");
    assert_eq!(err.to_string(), "`inputs[0].port`: host needs a port");
    assert_eq!(p.to_string(), err.to_string());
    assert_eq!(ConfigError::from(p).to_string(), err.to_string());
}

/// The KMP register set and the IEC 62056-21 options are typed problems too, keyed relative
/// to their input; validation names the whole path, with the text it always had.
#[test]
fn preset_and_profile_problems_name_their_key() {
    let err = Config::from_yaml(
        "inputs:\n  - {name: a, type: p1, host: h, port: 1}\n  - {name: heat, type: kmp, host: h, port: 2, preset: multical_99}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("`inputs[1].preset`"), "{err}");
    assert!(
        err.ends_with(": unknown preset `multical_99` (use multical_60x, multical_40x, multical_21 or kamstrup_382)"),
        "{err}"
    );
    let err = Config::from_yaml(
        "inputs:\n  - {name: uh50, type: iec62056, device: /dev/ttyUSB0, profile: nope}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("`inputs[0].profile`"), "{err}");
    assert!(
        err.ends_with(
            ": unknown profile `nope` (use kamstrup_382, multical_401, ultraheat or generic)"
        ),
        "{err}"
    );
    let p = Problem::new("preset", "x").under("inputs[3]");
    assert_eq!(p.key, "inputs[3].preset");
    assert_eq!(Problem::new("preset", "x").under("").key, "preset");
}

#[test]
fn minimal_config_validates() {
    let cfg = Config::from_yaml("inputs:\n  - name: p1\n    type: p1\n    device: /dev/ttyUSB0\n")
        .unwrap();
    assert_eq!(cfg.mqtt.base_topic, "meter2mqtt");
    assert_eq!(cfg.inputs[0].name(), "p1");
}

#[test]
fn unknown_key_is_named() {
    let err = Config::from_yaml("mqtt:\n  urll: x\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("urll"), "{err}");
}

#[test]
fn bad_values_are_named() {
    let err = Config::from_yaml(
        "mqtt:\n  url: http://x\ninputs:\n  - {name: a, type: p1, host: h, port: 1}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("mqtt.url"), "{err}");
    let err = Config::from_yaml(
        "inputs:\n  - {name: a, type: p1, host: h, port: 1}\n  - {name: a, type: p1, host: h, port: 2}\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("inputs[1].name"), "{err}");
    let err =
        Config::from_yaml("mqtt:\n  qos: 0\ninputs:\n  - {name: a, type: p1, host: h, port: 1}\n")
            .unwrap_err()
            .to_string();
    assert!(err.contains("mqtt.qos") && err.contains("1 or 2"), "{err}");
    let err = Config::from_yaml("publish:\n  min_interval: 3 fortnights\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("min_interval"), "{err}");
}

/// Issue 18 §3: secrets are the exact text, from the file and from the environment.
#[test]
fn secrets_taken_as_typed() {
    let p1 = "inputs:\n  - {name: a, type: p1, host: h, port: 1}\n";
    for typed in [
        "0x1F",
        ".5",
        "true",
        "12345678901234567890",
        "007",
        "~x",
        "1e3",
    ] {
        let cfg = Config::from_yaml(&format!("mqtt:\n  password: {typed}\n{p1}")).unwrap();
        assert_eq!(cfg.mqtt_password().unwrap().unwrap().expose(), typed);
    }
    // All decimal digits: a number to a resolving YAML loader, a key here.
    let key = "00112233445566778899001122334455";
    let cfg = Config::from_yaml(&format!(
        "inputs:\n  - {{name: a, type: p1, host: h, port: 1, decryption_key: {key}}}\n"
    ))
    .unwrap();
    let InputConfig::P1(p) = &cfg.inputs[0] else {
        panic!()
    };
    assert_eq!(p.decryption_key.as_ref().unwrap().expose(), key);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("c.yaml");
    std::fs::write(&file, p1).unwrap();
    for typed in ["007", "+5", " padded ", "[1, 2]", ""] {
        let env = [
            ("METER2MQTT_MQTT__PASSWORD", typed),
            ("METER2MQTT_CONFIG", "ignored"),
            ("OTHER", "ignored"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let cfg = Config::load_with_env(Some(&file), env).unwrap();
        let pw = cfg.mqtt_password().unwrap();
        // An empty variable is an empty scalar, as `password:` in the file: no password.
        assert_eq!(
            pw.as_ref().map(Secret::expose),
            (!typed.is_empty()).then_some(typed)
        );
    }
    let env = [("METER2MQTT_INPUTS__0__PORT", "0x10")]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
    let cfg = Config::load_with_env(Some(&file), env).unwrap();
    assert_eq!(
        cfg.inputs[0].link(),
        Some(Link::Tcp {
            host: "h".into(),
            port: 16
        })
    );
}

#[test]
fn password_never_printed() {
    let cfg = Config::from_yaml(
        "mqtt:\n  password: hunter2\ninputs:\n  - {name: a, type: p1, host: h, port: 1}\n",
    )
    .unwrap();
    let dbg = format!("{cfg:?}");
    let yaml = serde_json::to_string(&cfg).unwrap();
    assert!(!dbg.contains("hunter2") && !yaml.contains("hunter2"));
    assert_eq!(cfg.mqtt_password().unwrap().unwrap().expose(), "hunter2");
}
