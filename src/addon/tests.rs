//! The add-on's manifest (`ha-addon/meter2mqtt/config.yaml`) and the options parser agree.

use std::collections::BTreeSet;

use yaml_rust2::{Yaml, YamlLoader};

use super::*;

const MANIFEST: &str = include_str!("../../ha-addon/meter2mqtt/config.yaml");

fn manifest() -> Yaml {
    YamlLoader::load_from_str(MANIFEST)
        .expect("config.yaml is YAML")
        .remove(0)
}

fn keys(y: &Yaml) -> BTreeSet<String> {
    y.as_hash()
        .expect("a mapping")
        .keys()
        .map(|k| k.as_str().expect("string keys").to_string())
        .collect()
}

fn schema() -> Yaml {
    manifest()["schema"].clone()
}

fn input_schema() -> Yaml {
    schema()["inputs"][0].clone()
}

fn set(fields: Vec<&'static str>) -> BTreeSet<String> {
    fields.into_iter().map(String::from).collect()
}

fn broker() -> MqttService {
    MqttService {
        host: "core-mosquitto".into(),
        port: 1883,
        ssl: false,
        username: Some("addons".into()),
        password: Some(Secret::new("s3cret".into())),
    }
}

/// Every option of the schema is a field of the parser and every field of the parser is in
/// the schema, at the top level and in an input.
#[test]
fn schema_and_parser_have_the_same_fields() {
    assert_eq!(
        keys(&schema()),
        set(fields::struct_fields::<AddonOptions>())
    );
    assert_eq!(
        keys(&input_schema()),
        set(fields::struct_fields::<InputOptions>())
    );
    // Each top-level option goes somewhere (or is the list of inputs).
    for k in keys(&schema()) {
        assert!(
            k == "inputs" || TOP_LEVEL.iter().any(|(o, _)| *o == k),
            "{k} is not in TOP_LEVEL"
        );
    }
}

/// Optional in the schema (`?`) exactly where the parser has a default; `name` and `type` of
/// an input are required in both.
#[test]
fn required_options_match() {
    let s = input_schema();
    for k in keys(&s) {
        let ty = s[k.as_str()].as_str().expect("a type");
        let required = k == "name" || k == "type";
        assert_eq!(!ty.ends_with('?'), required, "inputs.{k}: {ty}");
    }
    // Without name or type the parser refuses an input, as the UI does.
    assert!(parse_options(br#"{"inputs":[{"type":"p1","device":"/dev/x"}]}"#).is_err());
    assert!(parse_options(br#"{"inputs":[{"name":"p1","device":"/dev/x"}]}"#).is_err());
    assert!(parse_options(br#"{"inputs":[],"no_such_option":1}"#).is_err());
}

/// The defaults the UI starts from give a valid configuration.
#[test]
fn default_options_are_a_valid_configuration() {
    let options = serde_json::to_vec(&yaml_to_json(&manifest()["options"])).unwrap();
    let o = parse_options(&options).unwrap();
    let cfg = build_config(&o, Some(&broker()), &Placement::default()).unwrap();
    assert_eq!(cfg.mqtt.url, "mqtt://core-mosquitto:1883");
    assert_eq!(cfg.mqtt.username.as_deref(), Some("addons"));
    assert_eq!(cfg.mqtt_password().unwrap().unwrap().expose(), "s3cret");
    assert_eq!(cfg.inputs.len(), 1);
}

/// Every choice a `list(...)` option offers is valid for at least one input type.
#[test]
fn every_offered_choice_is_accepted() {
    let s = input_schema();
    for k in keys(&s) {
        let ty = s[k.as_str()].as_str().unwrap().trim_end_matches('?');
        let Some(choices) = ty.strip_prefix("list(").and_then(|t| t.strip_suffix(')')) else {
            continue;
        };
        if k == "type" {
            continue;
        }
        for choice in choices.split('|') {
            let ok = ["p1", "kmp", "multical", "iec62056"].iter().any(|kind| {
                let o = AddonOptions {
                    mqtt_url: Some("mqtt://h:1883".into()),
                    inputs: vec![InputOptions {
                        name: "i".into(),
                        kind: kind.to_string(),
                        device: Some("/dev/ttyUSB0".into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                };
                let mut tree = config_tree(&o, None, &Placement::default());
                tree["inputs"][0][k.as_str()] = Value::String(choice.into());
                Config::from_yaml(&tree.to_string()).is_ok()
            });
            assert!(ok, "inputs.{k}: `{choice}` is accepted by no input type");
        }
    }
}

/// An error names the option the user set, not a line of the generated text.
#[test]
fn errors_name_the_option() {
    let o = parse_options(
        br#"{"mqtt_url":"http://x","inputs":[{"name":"p1","type":"p1","device":"/dev/x"}]}"#,
    )
    .unwrap();
    let e = build_config(&o, None, &Placement::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("`mqtt_url`"), "{e}");
    assert!(!e.contains("line"), "{e}");
    let o = parse_options(
        br#"{"mqtt_url":"mqtt://x","inputs":[{"name":"p1","type":"p1","device":"/dev/x","preset":"multical_21"}]}"#,
    )
    .unwrap();
    let e = build_config(&o, None, &Placement::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("inputs[0].preset"), "{e}");
}

/// Texts stay as typed (a password `007` is not the number 7), and empty texts left by the
/// UI count as unset.
#[test]
fn texts_are_taken_as_typed() {
    let o = parse_options(
        br##"{"mqtt_url":"mqtt://x:1883","mqtt_username":"007","mqtt_password":"0x1F: \"#","base_topic":"","inputs":[{"name":"p1","type":"p1","device":"/dev/x"}]}"##,
    )
    .unwrap();
    let cfg = build_config(&o, None, &Placement::default()).unwrap();
    assert_eq!(cfg.mqtt.username.as_deref(), Some("007"));
    assert_eq!(cfg.mqtt_password().unwrap().unwrap().expose(), "0x1F: \"#");
    assert_eq!(cfg.mqtt.base_topic, "meter2mqtt");
}

/// The options' broker wins over the Supervisor's.
#[test]
fn a_broker_in_the_options_wins() {
    let o = parse_options(br#"{"mqtt_url":"mqtt://mine:1884","inputs":[{"name":"p1","type":"p1","device":"/dev/x"}]}"#).unwrap();
    let cfg = build_config(&o, Some(&broker()), &Placement::default()).unwrap();
    assert_eq!(cfg.mqtt.url, "mqtt://mine:1884");
    assert!(cfg.mqtt.username.is_none() && cfg.mqtt.password.is_none());
    assert!(!o.needs_supervisor());
}

fn yaml_to_json(y: &Yaml) -> Value {
    match y {
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Integer(i) => Value::from(*i),
        Yaml::Boolean(b) => Value::Bool(*b),
        Yaml::Array(a) => Value::Array(a.iter().map(yaml_to_json).collect()),
        Yaml::Hash(h) => Value::Object(
            h.iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_string(), yaml_to_json(v)))
                .collect(),
        ),
        _ => Value::Null,
    }
}

/// Every option has a name and description in each translation, and no translation names an
/// option the schema does not have.
#[test]
fn translations_cover_the_schema() {
    for (lang, text) in [
        (
            "en",
            include_str!("../../ha-addon/meter2mqtt/translations/en.yaml"),
        ),
        (
            "nl",
            include_str!("../../ha-addon/meter2mqtt/translations/nl.yaml"),
        ),
    ] {
        let t = YamlLoader::load_from_str(text).expect(lang).remove(0);
        let conf = &t["configuration"];
        assert_eq!(keys(conf), keys(&schema()), "{lang}");
        assert_eq!(
            keys(&conf["inputs"]["fields"]),
            keys(&input_schema()),
            "{lang}"
        );
        let mut all: Vec<&Yaml> = conf.as_hash().unwrap().values().collect();
        all.extend(conf["inputs"]["fields"].as_hash().unwrap().values());
        for v in all {
            assert!(
                v["name"].as_str().is_some_and(|s| !s.is_empty()),
                "{lang}: {v:?}"
            );
            assert!(v["description"].as_str().is_some(), "{lang}: {v:?}");
        }
    }
}

/// The manifest matches the binary: its version, the ingress port the page listens on, the
/// serial-port and MQTT-service grants, and the same architectures in build.yaml.
#[test]
fn manifest_matches_the_binary() {
    let m = manifest();
    assert_eq!(m["version"].as_str(), Some(env!("CARGO_PKG_VERSION")));
    let port = m["ingress_port"].as_i64().expect("ingress_port");
    assert!(m["ingress"].as_bool().unwrap_or(false));
    assert_eq!(
        INGRESS_LISTEN.rsplit(':').next(),
        Some(port.to_string().as_str())
    );
    assert!(m["uart"].as_bool().unwrap_or(false) && m["udev"].as_bool().unwrap_or(false));
    assert_eq!(m["services"][0].as_str(), Some("mqtt:need"));
    // The Supervisor's form (`supervisor/addons/addon.py` RE_WATCHDOG:
    // `http://[HOST]:[PORT:<n>]<path>`), on the port the page listens on, at the open route.
    assert_eq!(
        m["watchdog"].as_str(),
        Some(format!("http://[HOST]:[PORT:{port}]/healthz").as_str())
    );
    let arch: BTreeSet<String> = m["arch"]
        .as_vec()
        .expect("arch")
        .iter()
        .filter_map(|a| a.as_str().map(String::from))
        .collect();
    assert_eq!(arch, set(vec!["aarch64", "amd64", "armv7"]));
    let build = YamlLoader::load_from_str(include_str!("../../ha-addon/meter2mqtt/build.yaml"))
        .expect("build.yaml")
        .remove(0);
    assert_eq!(keys(&build["build_from"]), arch);
}
