//! `GET /metrics`: Prometheus text exposition format 0.0.4
//! (<https://prometheus.io/docs/instrumenting/exposition_formats/>), named after Prometheus'
//! naming practices (<https://prometheus.io/docs/practices/naming/>): the unit in the name,
//! `_total` on counters, the meter and the phase as labels. Every name is listed in
//! `docs/http-api.md`.
//!
//! Values are the exact decimals of the MQTT state (`63.44` stays `63.44`: the format's
//! values are Go floats, and a decimal literal is one).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, Uri};
use axum::response::{IntoResponse, Response};

use super::api::no_params;
use super::json::ApiError;
use super::Shared;
use crate::reading::{Unit, Value};

/// The unit as Prometheus names it (plural base words, `_per_` for rates).
fn unit_suffix(u: Unit) -> &'static str {
    match u {
        Unit::None => "",
        Unit::Wh => "watt_hours",
        Unit::KWh => "kilowatt_hours",
        Unit::MWh => "megawatt_hours",
        Unit::GJ => "gigajoules",
        Unit::MJ => "megajoules",
        Unit::Gcal => "gigacalories",
        Unit::W => "watts",
        Unit::KW => "kilowatts",
        Unit::MW => "megawatts",
        Unit::Varh => "var_hours",
        Unit::Kvarh => "kilovar_hours",
        Unit::Var => "vars",
        Unit::Kvar => "kilovars",
        Unit::VA => "volt_amperes",
        Unit::KVA => "kilovolt_amperes",
        Unit::V => "volts",
        Unit::A => "amperes",
        Unit::Hz => "hertz",
        Unit::CubicMeter => "cubic_meters",
        Unit::Liter => "liters",
        Unit::CubicMeterPerHour => "cubic_meters_per_hour",
        Unit::LiterPerHour => "liters_per_hour",
        Unit::Celsius => "celsius",
        Unit::Kelvin => "kelvin",
        Unit::Hour => "hours",
        Unit::Second => "seconds",
        Unit::Bar => "bars",
        Unit::Tonne => "tonnes",
        Unit::TonnePerHour => "tonnes_per_hour",
        Unit::CubicMeterCelsius => "cubic_meter_celsius",
        Unit::Percent => "percent",
    }
}

/// A quantity key's phase (`power_import_l1` → (`power_import`, `l1`)): the phase becomes
/// a label, so the three phases are one metric.
fn split_phase(key: &str) -> (String, Option<&'static str>) {
    for phase in ["l1", "l2", "l3"] {
        let suffix = format!("_{phase}");
        if let Some(base) = key.strip_suffix(&suffix) {
            return (base.to_string(), Some(phase));
        }
        let infix = format!("_{phase}_");
        if let Some(i) = key.find(&infix) {
            return (
                format!("{}_{}", &key[..i], &key[i + infix.len()..]),
                Some(phase),
            );
        }
    }
    (key.to_string(), None)
}

/// A metric name from a quantity key: `[a-z0-9_]` (keys are already; a user-listed
/// register's key is made so).
fn metric_name(key: &str, unit: Unit, counter: bool) -> (String, Option<&'static str>) {
    let (mut base, phase) = split_phase(key);
    // `energy_import_total` is a counter: `_total` goes at the end, once.
    if counter {
        if let Some(b) = base.strip_suffix("_total") {
            base = b.to_string();
        }
    }
    let mut name = String::from("meter2mqtt_");
    name.extend(base.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '_' {
            c.to_ascii_lowercase()
        } else {
            '_'
        }
    }));
    let unit = unit_suffix(unit);
    if !unit.is_empty() && !name.ends_with(unit) {
        name.push('_');
        name.push_str(unit);
    }
    if counter {
        name.push_str("_total");
    }
    (name, phase)
}

/// A label value, escaped as the format requires (`\`, `"`, newline).
fn label(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Metric families by name: all samples of one family must be written together, under one
/// `# TYPE` line.
#[derive(Default)]
struct Families(BTreeMap<String, Family>);

struct Family {
    kind: &'static str,
    help: String,
    samples: Vec<String>,
}

impl Families {
    /// Add a sample (`labels` already formatted `{a="b"}` or empty). A sample whose family
    /// exists with another type is left out (two quantities that map to one name).
    fn add(&mut self, name: &str, kind: &'static str, help: &str, labels: &str, value: &str) {
        let f = self.0.entry(name.to_string()).or_insert_with(|| Family {
            kind,
            help: help.to_string(),
            samples: Vec::new(),
        });
        if f.kind == kind {
            f.samples.push(format!("{name}{labels} {value}"));
        }
    }

    fn render(self) -> String {
        let mut out = String::with_capacity(4096);
        for (name, f) in self.0 {
            let help = f.help.replace('\\', "\\\\").replace('\n', "\\n");
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {}", f.kind);
            for s in f.samples {
                out.push_str(&s);
                out.push('\n');
            }
        }
        out
    }
}

fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", label(v)))
        .collect();
    format!("{{{}}}", inner.join(","))
}

fn flag(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

/// The whole exposition.
pub(crate) fn render(s: &Shared) -> String {
    let mut f = Families::default();
    f.add(
        "meter2mqtt_build_info",
        "gauge",
        "The running build (always 1).",
        &labels(&[("version", env!("CARGO_PKG_VERSION"))]),
        "1",
    );
    let entries = s.store().meters_by_id();
    for e in &entries {
        let id = e.info.id.as_str();
        let meter_labels = labels(&[
            ("meter", id),
            ("kind", e.info.kind.as_str()),
            ("input", &e.input),
        ]);
        f.add(
            "meter2mqtt_meter_online",
            "gauge",
            "1 while the meter reports, 0 once it is offline.",
            &meter_labels,
            flag(e.online),
        );
        let seen = format!("{:.3}", e.last_seen_ms as f64 / 1000.0);
        f.add(
            "meter2mqtt_meter_last_seen_timestamp_seconds",
            "gauge",
            "When the meter's last reading arrived (Unix time).",
            &labels(&[("meter", id)]),
            &seen,
        );
        for m in &e.last.reading.values {
            let Value::Number(d) = &m.value else { continue };
            let q = &m.quantity;
            let counter = q.class.is_counter();
            let (name, phase) = metric_name(&q.key, q.unit, counter);
            let l = match phase {
                Some(p) => labels(&[("meter", id), ("phase", p)]),
                None => labels(&[("meter", id)]),
            };
            let unit = q.unit.as_str();
            let help = if unit.is_empty() {
                q.name.to_string()
            } else {
                format!("{} ({unit})", q.name)
            };
            f.add(
                &name,
                if counter { "counter" } else { "gauge" },
                &help,
                &l,
                &d.to_string(),
            );
        }
    }
    for i in s.statuses.snapshot() {
        let il = labels(&[("input", &i.name), ("kind", i.kind)]);
        let help_acc = "Telegrams (P1) or poll answers accepted.";
        f.add(
            "meter2mqtt_input_accepted_total",
            "counter",
            help_acc,
            &il,
            &i.accepted.to_string(),
        );
        for (reason, n) in &i.detail.rejected {
            let rl = labels(&[("input", &i.name), ("kind", i.kind), ("reason", reason)]);
            f.add(
                "meter2mqtt_input_rejected_total",
                "counter",
                "Telegrams rejected, by reason.",
                &rl,
                &n.to_string(),
            );
        }
        f.add(
            "meter2mqtt_input_failed_polls_total",
            "counter",
            "Polls that got no valid answer.",
            &il,
            &i.detail.failed_polls.to_string(),
        );
        f.add(
            "meter2mqtt_input_reconnects_total",
            "counter",
            "Times the input's link was opened again.",
            &il,
            &i.detail.reconnects.to_string(),
        );
        f.add(
            "meter2mqtt_input_connected",
            "gauge",
            "1 while the input's link is open.",
            &il,
            flag(i.detail.connected),
        );
        if let Some(ms) = i.last_data_ms {
            let v = format!("{:.3}", ms as f64 / 1000.0);
            f.add(
                "meter2mqtt_input_last_data_timestamp_seconds",
                "gauge",
                "When the input last received data (Unix time).",
                &il,
                &v,
            );
        }
    }
    let b = s.broker.snapshot();
    f.add(
        "meter2mqtt_mqtt_connected",
        "gauge",
        "1 while connected to the MQTT broker.",
        "",
        flag(b.connected),
    );
    f.add(
        "meter2mqtt_mqtt_queue_messages",
        "gauge",
        "Messages waiting to be delivered or acknowledged.",
        "",
        &b.queued.to_string(),
    );
    f.add(
        "meter2mqtt_mqtt_reconnects_total",
        "counter",
        "Connections to the broker after the first.",
        "",
        &b.reconnects.to_string(),
    );
    f.add(
        "meter2mqtt_mqtt_delivered_messages_total",
        "counter",
        "Messages the broker acknowledged.",
        "",
        &b.delivered.to_string(),
    );
    f.add(
        "meter2mqtt_mqtt_dropped_messages_total",
        "counter",
        "Messages dropped because the queue was full while the broker was unreachable.",
        "",
        &b.dropped.to_string(),
    );
    f.add(
        "meter2mqtt_http_sse_clients",
        "gauge",
        "Clients connected to /api/events.",
        "",
        &s.sse_clients.load(Ordering::Relaxed).to_string(),
    );
    f.add(
        "meter2mqtt_http_sse_dropped_events_total",
        "counter",
        "Events /api/events clients lost by falling behind.",
        "",
        &s.sse_dropped.load(Ordering::Relaxed).to_string(),
    );
    f.render()
}

pub(crate) async fn metrics(State(s): State<Arc<Shared>>, uri: Uri) -> Result<Response, ApiError> {
    no_params(&uri)?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&s),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_practice() {
        assert_eq!(
            metric_name("power_import_l1", Unit::W, false),
            ("meter2mqtt_power_import_watts".into(), Some("l1"))
        );
        assert_eq!(
            metric_name("energy_import_t1", Unit::KWh, true),
            (
                "meter2mqtt_energy_import_t1_kilowatt_hours_total".into(),
                None
            )
        );
        assert_eq!(
            metric_name("voltage_l2", Unit::V, false),
            ("meter2mqtt_voltage_volts".into(), Some("l2"))
        );
        assert_eq!(
            metric_name("power_failures", Unit::None, true),
            ("meter2mqtt_power_failures_total".into(), None)
        );
        assert_eq!(
            metric_name("energy_import_total", Unit::KWh, true).0,
            "meter2mqtt_energy_import_kilowatt_hours_total"
        );
        assert_eq!(label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
