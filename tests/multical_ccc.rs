//! Every CCC code of the MULTICAL 66C manual's CCC table, read through a `/#2` reply that
//! carries it: the simulator sends the program number, the session reads `/#1` and `/#2` and
//! decodes, and the reading must put the decimal point where the manual's table says. Then
//! an unknown code, and the real binary over a pty for a code with m³/h flow and MW power (published in m³/h and kW).
//!
//! The expected decimals below are a second transcription of 5511-634 GB/06.2006/Rev. C1
//! §2.2.1 (pp. 19–21), one line per line of the manual in its order and column layout, kept
//! apart from the grouped table in `src/protocol/multical/ccc.rs`: the test checks that the
//! two agree through the whole decode path.

mod harness;
mod iec_common;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use iec_common::{drive, now, num, unit};
use meter2mqtt::decimal::Decimal;
use meter2mqtt::protocol::multical::{MulticalOptions, MulticalSession, ProgramNumber};
use meter2mqtt::protocol::{Parity, PollError};
use meter2mqtt::sim::polled::serve_on_pty;
use meter2mqtt::sim::MulticalSimulator;

/// Columns: CCC, kWh, MWh/Gcal, GJ, m³, l/h, m³/h, kW, MW. `-` is a blank cell (and a column
/// the sub-table does not have), `x10` the manual's "x10" (display in tens).
const MANUAL: &str = "
# 2.2.1.1 ULTRAFLOW II
116 0 3 2 2 0 - 1 -
119 0 3 2 2 0 - 1 -
136 0 3 2 2 0 - 1 -
151 - 2 1 1 0 - 1 -
137 - 2 1 1 0 - 1 -
120 - 2 1 1 0 - 1 -
158 - 1 0 0 - 2 0 -
170 - 1 0 0 - 2 - 3
147 - 1 0 0 - 2 - 3
171 - 0 x10 x10 - 1 - 2
172 - 0 x10 x10 - 1 - 2
# 2.2.1.2 ULTRAFLOW type 65-X
116 0 3 2 2 0 - 1 -
197 0 3 2 2 0 - 1 -
119 0 3 2 2 0 - 1 -
198 0 3 2 2 0 - 1 -
136 0 3 2 2 0 - 1 -
151 - 2 1 1 0 - 1 -
137 - 2 1 1 0 - 1 -
178 - 2 1 1 0 - 1 -
120 - 2 1 1 0 - 1 -
179 - 2 1 1 0 - 1 -
120 - 2 1 1 0 - 1 -
158 - 1 0 0 - 2 0 -
170 - 1 0 0 - 2 - 3
180 - 1 0 0 - 2 - 3
147 - 1 0 0 - 2 - 3
181 - 1 0 0 - 2 - 3
171 - 0 x10 x10 - 1 - 2
172 - 0 x10 x10 - 1 - 2
182 - 0 x10 x10 - 1 - 2
# 2.2.1.3 ULTRAFLOW CCC codes for testing
184 1 - 3 3 0 - 1 -
199 1 - 3 3 0 - 1 -
107 1 - 3 3 0 - 1 -
136 0 3 2 2 0 - 1 -
138 0 3 2 2 0 - 1 -
183 0 3 2 2 0 - 1 -
185 0 3 2 2 0 - 1 -
186 - 2 1 1 - 2 0 -
187 - 2 1 1 - 2 - 3
188 - 2 1 1 - 2 - 3
189 - 2 1 1 - 2 - 3
191 - 1 0 0 - 1 - 2
192 - 1 0 0 - 1 - 2
193 - 1 0 0 - 1 - 2
# 2.2.1.4 Mechanical flow meters with Reed-contact (no l/h, kW columns)
000 - 3 2 2 - 2 - 3
001 - 3 2 2 - 2 - 3
002 - 3 2 2 - 1 - 2
003 - 2 1 1 - 1 - 2
004 - 2 1 1 - 1 - 2
005 - 1 0 0 - 1 - 2
006 - 2 1 1 - 0 - 1
007 - 1 0 0 - 0 - 1
008 - 1 0 0 - 0 - 1
009 0 3 2 2 - 2 - 3
# 2.2.1.5 Electronical flow meters with passive output (no kWh, l/h, kW columns)
147 - 1 0 0 - 2 - 3
148 - 1 0 0 - 2 - 3
166 - 0 x10 x10 - 1 - 2
167 - 0 x10 x10 - 1 - 2
175 - 1 0 0 - 2 - 3
176 - 1 0 0 - 2 - 3
177 - 1 0 0 - 2 - 3
# 2.2.1.6 Vane wheel meters with pick-up
102 0 3 2 2 0 - 1 -
103 0 3 2 2 0 - 1 -
104 - 2 1 1 0 - 1 -
105 - 2 1 1 0 - 1 -
106 - 2 1 1 0 - 1 -
108 0 3 2 2 0 - 1 -
109 0 3 2 2 0 - 1 -
110 0 3 2 2 0 - 1 -
111 0 3 2 2 0 - 1 -
112 0 3 2 2 0 - 1 -
113 - 2 1 1 0 - 1 -
114 - 2 1 1 0 - 1 -
115 0 3 2 2 0 - 1 -
116 0 3 2 2 0 - 1 -
117 0 3 2 2 0 - 1 -
118 0 3 2 2 0 - 1 -
119 0 3 2 2 0 - 1 -
121 0 3 2 2 0 - 1 -
122 0 3 2 2 0 - 1 -
123 0 3 2 2 0 - 1 -
124 0 3 2 2 0 - 1 -
125 0 3 2 2 0 - 1 -
126 0 3 2 2 0 - 1 -
127 - 2 1 1 0 - 1 -
128 - 2 1 1 0 - 1 -
129 - 2 1 1 0 - 1 -
130 - 2 1 1 0 - 1 -
131 - 2 1 1 0 - 1 -
132 0 3 2 2 0 - 1 -
133 0 3 2 2 0 - 1 -
134 0 3 2 2 0 - 1 -
135 - 2 1 1 0 - 1 -
139 0 3 2 2 0 - 1 -
140 - 2 1 1 0 - 1 -
141 - 2 1 1 0 - 1 -
142 - 2 1 1 - 2 - 3
143 - 2 1 1 - 2 - 3
144 - 1 0 0 - 2 - 3
145 - 1 0 0 - 2 - 3
146 - 1 0 0 - 2 - 3
152 - 2 1 1 0 - 1 -
153 - 2 1 1 0 - 1 -
156 0 3 2 2 0 - 1 -
157 - 2 1 1 0 - 1 -
163 0 3 2 2 0 - 1 -
164 0 3 2 2 0 - 1 -
165 0 3 2 2 0 - 1 -
168 - 2 1 1 0 - 1 -
169 - 1 0 0 - 2 0 -
173 - 1 0 0 - 1 - 2
";

/// One manual line: decimals per column, `None` for a blank cell.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Line {
    kwh: Option<i8>,
    mwh_gcal: Option<i8>,
    gj: Option<i8>,
    m3: Option<i8>,
    lph: Option<i8>,
    m3h: Option<i8>,
    kw: Option<i8>,
    mw: Option<i8>,
}

fn cell(s: &str) -> Option<i8> {
    match s {
        "-" => None,
        "x10" => Some(-1),
        d => Some(d.parse().expect("a digit")),
    }
}

/// The manual's lines by code; a code listed in several sub-tables must read the same each
/// time (the manual never gives one code two resolutions).
fn manual() -> BTreeMap<u16, Line> {
    let mut by_code = BTreeMap::new();
    for l in MANUAL
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let c: Vec<&str> = l.split_whitespace().collect();
        assert_eq!(c.len(), 9, "{l}");
        let line = Line {
            kwh: cell(c[1]),
            mwh_gcal: cell(c[2]),
            gj: cell(c[3]),
            m3: cell(c[4]),
            lph: cell(c[5]),
            m3h: cell(c[6]),
            kw: cell(c[7]),
            mw: cell(c[8]),
        };
        let code: u16 = c[0].parse().unwrap();
        if let Some(old) = by_code.insert(code, line.clone()) {
            assert_eq!(old, line, "CCC {code:03} listed twice with other decimals");
        }
    }
    by_code
}

/// `raw` with `decimals` decimals, times 10^`shift` (a unit change), as an exact decimal.
fn expect(raw: &str, decimals: i8, shift: i8) -> Decimal {
    Decimal::new(raw.parse().unwrap(), shift - decimals)
}

fn same(got: &str, want: Decimal, what: &str) {
    let g = Decimal::parse(got).unwrap_or_else(|e| panic!("{what}: {got:?}: {e}"));
    assert_eq!(
        g.cmp(&want),
        std::cmp::Ordering::Equal,
        "{what}: {got} != {want}"
    );
}

#[test]
fn every_code_in_the_manuals_table_decodes_through_hash2() {
    let table = manual();
    assert_eq!(table.len(), 95, "distinct codes in 5511-634 §2.2.1");
    let mut checked = 0;
    for (&ccc, line) in &table {
        for (b, unit_name, decimals) in [
            (2, "GJ", line.gj),
            (3, "kWh", line.kwh),
            (4, "MWh", line.mwh_gcal),
            (5, "Gcal", line.mwh_gcal),
        ] {
            let program = ProgramNumber { a: 4, b, ccc };
            let what = format!("program {program}");
            let mut sim = MulticalSimulator::new();
            sim.set_program(program);
            let raw: Vec<String> = sim.hash1_text().split(' ').map(str::to_owned).collect();
            let mut s = MulticalSession::new(MulticalOptions::default(), None, now());
            let t = drive(&mut s, &mut sim);
            let Some(e_dec) = decimals else {
                // A blank cell: that unit is not offered for this sensor size.
                match &t.result {
                    Err(PollError::BadReply(m)) => {
                        let m = m.to_string();
                        assert!(
                            m.contains(&format!("no {unit_name} decimals for CCC {ccc:03}")),
                            "{what}: {m}"
                        );
                        assert!(m.contains("configure `scaling`"), "{what}: {m}");
                    }
                    other => panic!("{what}: {other:?}"),
                }
                continue;
            };
            let r = t.result.unwrap_or_else(|e| panic!("{what}: {e}")).remove(0);
            assert_eq!(unit(&r, "heat_energy"), unit_name, "{what}");
            same(&num(&r, "heat_energy"), expect(&raw[0], e_dec, 0), &what);
            let m3 = line.m3.expect("every line has m³");
            same(&num(&r, "volume"), expect(&raw[1], m3, 0), &what);
            // Flow is published in m³/h (issue 12 §2: the unit every supported Home Assistant
            // accepts for volume_flow_rate), power in kW: l/h lines shift by 10^-3, MW lines
            // by 10^3.
            let (flow_dec, flow_shift) = match (line.lph, line.m3h) {
                (Some(d), None) => (d, -3),
                (None, Some(d)) => (d, 0),
                other => panic!("CCC {ccc:03}: flow columns {other:?}"),
            };
            assert_eq!(unit(&r, "flow"), "m³/h");
            same(
                &num(&r, "flow"),
                expect(&raw[7], flow_dec, flow_shift),
                &what,
            );
            let (p_dec, p_shift) = match (line.kw, line.mw) {
                (Some(d), None) => (d, 0),
                (None, Some(d)) => (d, 3),
                other => panic!("CCC {ccc:03}: power columns {other:?}"),
            };
            assert_eq!(unit(&r, "power"), "kW");
            same(&num(&r, "power"), expect(&raw[6], p_dec, p_shift), &what);
            same(
                &num(&r, "peak_power"),
                expect(&raw[8], p_dec, p_shift),
                &what,
            );
            // Temperatures never depend on the program (0.01 °C).
            same(&num(&r, "temperature_flow"), expect(&raw[3], 2, 0), &what);
            checked += 1;
        }
    }
    // 95 codes × 4 energy units, less the blank cells (kWh for the larger sizes, MWh/Gcal
    // for the kWh test codes).
    assert!(checked > 200, "{checked}");
}

#[test]
fn an_unknown_code_names_itself_and_asks_for_scaling() {
    for ccc in [190, 999, 10] {
        let program = ProgramNumber { a: 4, b: 4, ccc };
        let mut sim = MulticalSimulator::new();
        sim.set_program(program);
        let mut s = MulticalSession::new(MulticalOptions::default(), None, now());
        let t = drive(&mut s, &mut sim);
        match &t.result {
            Err(PollError::BadReply(m)) => {
                let m = m.to_string();
                assert!(m.contains(&format!("program number {program}")), "{m}");
                assert!(m.contains(&format!("CCC {ccc:03} is not in")), "{m}");
                assert!(m.contains("configure `scaling`"), "{m}");
            }
            other => panic!("{program}: {other:?}"),
        }
        // The replies were read; only the scaling is missing, so nothing is published.
        assert_eq!(sim.answered, 2);
    }
}

const T: Duration = Duration::from_secs(40);

/// A real Mosquitto, a MULTICAL simulator with program 4-`b`-`ccc` on a pty (7E2, the `/#n`
/// line), a subscriber on `<base>/#` and the real binary polling the meter every 5 s. The pty's
/// serving thread lives as long as the returned handle.
fn bridge_on_a_simulated_meter(
    b: u8,
    ccc: u16,
    base: &str,
) -> (
    harness::Broker,
    harness::Subscriber,
    harness::Bridge,
    impl Sized,
) {
    let broker = harness::Broker::start();
    let mut meter = MulticalSimulator::new();
    meter.set_program(ProgramNumber { a: 4, b, ccc });
    let stop = Arc::new(AtomicBool::new(false));
    let (path, handle) = serve_on_pty(
        (7, Parity::Even, 2),
        move |line, bytes| meter.on_input(line, bytes),
        stop,
    )
    .expect("pty");
    let sub =
        harness::Subscriber::connect(broker.port, &format!("{base}-sub"), &[&format!("{base}/#")]);
    let bridge = harness::Bridge::start(&format!(
        "mqtt:\n  url: {}\n  base_topic: {base}\n  client_id: {base}\ninputs:\n  \
         - name: {base}\n    type: multical\n    device: {}\n    poll_interval: 5s\n",
        broker.url(),
        path.display()
    ));
    (broker, sub, bridge, (path, handle))
}

/// A large meter (CCC 147: qp 150 m³/h, flow in m³/h with 2 decimals, power in MW with 3)
/// through the real binary over a pty: the state carries m³/h and kW, converted exactly.
#[test]
fn binary_publishes_a_large_meter_in_m3_per_h_and_kw() {
    let (_broker, sub, _bridge, _pty) = bridge_on_a_simulated_meter(2, 147, "ccc");
    let has_state = |m: &[harness::Msg]| {
        m.iter()
            .any(|x| x.topic.ends_with("/state") && harness::json(x).get("power").is_some())
    };
    sub.wait_until("a state", T, has_state);
    let all = sub.all();
    let v = all
        .iter()
        .filter(|x| x.topic.ends_with("/state"))
        .map(harness::json)
        .find(|v| v.get("power").is_some())
        .unwrap();
    // Raw /#1 fields of the capture: energy 0507109, volume 1296626, power 0000031, flow
    // 0000079. CCC 147 with B=2: 507109 GJ, 1296626 m³, 0.031 MW = 31 kW, 0.79 m³/h.
    assert_eq!(v["heat_energy"].to_string(), "507109", "{v}");
    assert_eq!(v["volume"].to_string(), "1296626", "{v}");
    assert_eq!(v["power"].to_string(), "31", "{v}");
    assert_eq!(v["flow"].to_string(), "0.79", "{v}");
}

/// An unknown code through the real binary: the log names the code and says to configure
/// `scaling`, and no state is published.
#[test]
fn binary_logs_an_unknown_code_and_publishes_nothing() {
    let (_broker, sub, bridge, _pty) = bridge_on_a_simulated_meter(4, 190, "ccu");
    let deadline = std::time::Instant::now() + T;
    while !bridge.log_text().contains("CCC 190") {
        assert!(
            std::time::Instant::now() < deadline,
            "no log line naming CCC 190:\n{}",
            bridge.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = bridge.log_text();
    assert!(
        log.contains("4-4-190") && log.contains("configure `scaling`"),
        "{log}"
    );
    assert!(
        !sub.all()
            .iter()
            .any(|m| m.topic.ends_with("/state") && harness::json(m).get("heat_energy").is_some()),
        "a state was published for an unknown CCC"
    );
}
