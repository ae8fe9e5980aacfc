//! Configuration of a DSMR P1 input (USB cable or TCP relay).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{link_of, ten_s, Link, RequestLine, SerialLine};
use crate::config::duration::check;
use crate::config::duration_serde as dur;
use crate::config::{Problem, Secret};
use crate::protocol::{LineSettings, Parity};
use crate::transport::LinkSpec;

/// DSMR line presets (DSMR P1 companion standard 2.2 §4, 4.2 §4 and 5.0.2 §4; Kaifa 4.x meters
/// use 7E1 at 115200, see `shared/notes/dsmr.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum P1Preset {
    /// Try dsmr5, dsmr4, dsmr22 in turn until a valid telegram arrives.
    Auto,
    /// DSMR 2.2 / 3.0: 9600 baud 7E1.
    Dsmr22,
    /// DSMR 4.x: 115200 baud 7E1.
    Dsmr4,
    /// DSMR 5.x, e-MUCS, Smarty: 115200 baud 8N1.
    Dsmr5,
    /// The explicit `line` settings.
    Custom,
}

impl P1Preset {
    pub const fn line(self) -> Option<LineSettings> {
        match self {
            P1Preset::Dsmr22 => Some(LineSettings::new(9600, 7, Parity::Even, 1)),
            P1Preset::Dsmr4 => Some(LineSettings::new(115_200, 7, Parity::Even, 1)),
            P1Preset::Dsmr5 => Some(LineSettings::new(115_200, 8, Parity::None, 1)),
            P1Preset::Auto | P1Preset::Custom => None,
        }
    }

    /// The order auto-detection tries: the most common meters first.
    pub const AUTO_ORDER: [P1Preset; 3] = [P1Preset::Dsmr5, P1Preset::Dsmr4, P1Preset::Dsmr22];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestMode {
    /// Keep the line high: the meter sends every 1 s (DSMR 5) or 10 s (DSMR 4).
    Hold,
    /// Pulse it every `request_interval`: meters that send one telegram per request
    /// (Kamstrup 162 and other DSMR 2.2 meters).
    Pulse,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct P1Config {
    pub name: String,
    /// Serial: `/dev/ttyUSB0` or better a stable `/dev/serial/by-id/...` path.
    #[serde(default)]
    pub device: Option<PathBuf>,
    /// TCP: the relay's host and port.
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    /// Serial only.
    #[serde(default = "auto")]
    pub preset: P1Preset,
    /// Serial only, with `preset: custom`.
    #[serde(default)]
    pub line: Option<SerialLine>,
    /// Serial only.
    #[serde(default = "no_request_line")]
    pub request_line: RequestLine,
    #[serde(default = "hold")]
    pub request_mode: RequestMode,
    #[serde(default = "ten_s", with = "dur")]
    pub request_interval: Duration,
    /// How long auto-detection listens on each preset (DSMR 4 sends every 10 s).
    #[serde(default = "twelve_s", with = "dur")]
    pub detect_timeout: Duration,
    /// TCP only.
    #[serde(default = "ten_s", with = "dur")]
    pub connect_timeout: Duration,
    /// No complete telegram for this long: reconnect (TCP) or reopen the port (serial).
    /// Half-open connections after a dongle reboot are common.
    #[serde(default = "sixty_s", with = "dur")]
    pub idle_timeout: Duration,
    /// Meter id used when the meter sends no equipment id (DSMR 2.2 meters, Austria);
    /// defaults to the input name.
    #[serde(default)]
    pub meter_id: Option<String>,
    /// The Home Assistant device name of the electricity meter (default "Electricity meter").
    #[serde(default)]
    pub device_name: Option<String>,
    /// Encrypted P1 (Luxembourg Smarty, Austria): 32 hex digits from the grid operator.
    #[serde(default)]
    pub decryption_key: Option<Secret>,
    #[serde(default)]
    pub authentication_key: Option<Secret>,
    /// Consecutive rejected telegrams before serial auto-detection starts over.
    #[serde(default = "ten")]
    pub redetect_after: u32,
    /// Re-serve every accepted telegram over TCP on this `IP:PORT` (`0.0.0.0:2001`,
    /// `[::]:2001`; port 0 picks a free one) for other P1 readers (issue 15). Off when absent.
    #[serde(default)]
    pub serve: Option<String>,
    /// Clients `serve` accepts: addresses or CIDR blocks (`192.168.1.0/24`, `::1`); every
    /// client when empty.
    #[serde(default)]
    pub serve_allow: Vec<String>,
    /// Clients `serve` keeps at once; one more is refused.
    #[serde(default = "thirty_two")]
    pub serve_clients: usize,
}

/// The most clients one served input keeps at once (each holds a socket and a small queue).
pub const SERVE_CLIENTS_MAX: usize = 1024;

/// `serve` and `serve_allow` of a P1 input, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeAddr {
    pub addr: std::net::SocketAddr,
    pub allow: Vec<ipnet::IpNet>,
    pub clients: usize,
}

impl P1Config {
    pub fn link(&self) -> Link {
        link_of("", &self.device, &self.host, self.port)
            .unwrap_or(Link::Serial(PathBuf::from("/dev/null")))
    }

    /// The link in the transport's terms. It opens at DSMR 5's 115200 8N1 (DSMR P1 companion
    /// standard 5.0.2 §4) unless the input sets `line` for the attempt (presets,
    /// auto-detection).
    pub fn transport(&self, line: Option<LineSettings>) -> LinkSpec {
        LinkSpec {
            endpoint: self.link(),
            line: line.unwrap_or(LineSettings::new(115_200, 8, Parity::None, 1)),
            request_line: self.request_line,
            connect_timeout: self.connect_timeout,
        }
    }
}

fn ten() -> u32 {
    10
}
fn thirty_two() -> usize {
    32
}

/// One `serve_allow` entry: a CIDR block, or a bare address (that one host).
fn parse_allow(key: &str, text: &str) -> Result<ipnet::IpNet, Problem> {
    let t = text.trim();
    t.parse::<ipnet::IpNet>()
        .or_else(|_| t.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map(|n| n.trunc())
        .map_err(|_| {
            Problem::new(
                key,
                format!(
                    "`{text}` is not an address or CIDR block (192.168.1.0/24, 10.0.0.7, fd00::/8)"
                ),
            )
        })
}
fn auto() -> P1Preset {
    P1Preset::Auto
}
fn no_request_line() -> RequestLine {
    RequestLine::None
}
fn hold() -> RequestMode {
    RequestMode::Hold
}
fn twelve_s() -> Duration {
    Duration::from_secs(12)
}
fn sixty_s() -> Duration {
    Duration::from_secs(60)
}

fn check_hex_key(key: &str, value: &Option<Secret>) -> Result<(), Problem> {
    if let Some(v) = value {
        let s = v.expose();
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Problem::new(
                key.to_string(),
                "must be 32 hex digits (16 bytes), as given by the grid operator",
            ));
        }
    }
    Ok(())
}

impl P1Config {
    /// The checked `serve` settings, `None` when the input is not served.
    pub fn serve_addr(&self, key: &str) -> Result<Option<ServeAddr>, Problem> {
        let Some(text) = &self.serve else {
            if !self.serve_allow.is_empty() {
                return Err(Problem::new(
                    format!("{key}.serve_allow"),
                    "needs `serve: IP:PORT`",
                ));
            }
            return Ok(None);
        };
        let addr = text.trim().parse::<std::net::SocketAddr>().map_err(|_| {
            Problem::new(
                format!("{key}.serve"),
                format!("`{text}` is not IP:PORT (0.0.0.0:2001 for every interface, 127.0.0.1:2001, [::]:2001)"),
            )
        })?;
        let allow = self
            .serve_allow
            .iter()
            .enumerate()
            .map(|(i, a)| parse_allow(&format!("{key}.serve_allow[{i}]"), a))
            .collect::<Result<_, _>>()?;
        if !(1..=SERVE_CLIENTS_MAX).contains(&self.serve_clients) {
            return Err(Problem::new(
                format!("{key}.serve_clients"),
                format!("must be 1-{SERVE_CLIENTS_MAX}"),
            ));
        }
        Ok(Some(ServeAddr {
            addr,
            allow,
            clients: self.serve_clients,
        }))
    }

    pub(super) fn validate(&self, key: &str) -> Result<(), Problem> {
        let link = link_of(key, &self.device, &self.host, self.port)?;
        if matches!(link, Link::Serial(_)) {
            if self.preset == P1Preset::Custom && self.line.is_none() {
                return Err(Problem::new(
                    format!("{key}.line"),
                    "preset: custom needs `line: {baud, data_bits, parity, stop_bits}`",
                ));
            }
        } else if self.preset != P1Preset::Auto || self.line.is_some() {
            return Err(Problem::new(
                format!("{key}.preset"),
                "serial settings do not apply to TCP: set them on the relay (ser2net)",
            ));
        }
        if let Some(l) = &self.line {
            if !(5..=8).contains(&l.data_bits) || !(1..=2).contains(&l.stop_bits) || l.baud == 0 {
                return Err(Problem::new(
                    format!("{key}.line"),
                    "baud must be > 0, data_bits 5-8 and stop_bits 1 or 2",
                ));
            }
        }
        let secs = Duration::from_secs;
        let k = |name: &str| format!("{key}.{name}");
        check(&k("idle_timeout"), self.idle_timeout, secs(2), secs(86_400))?;
        check(
            &k("request_interval"),
            self.request_interval,
            secs(1),
            secs(3600),
        )?;
        check(
            &k("detect_timeout"),
            self.detect_timeout,
            secs(1),
            secs(600),
        )?;
        check(
            &k("connect_timeout"),
            self.connect_timeout,
            secs(1),
            secs(300),
        )?;
        if self.redetect_after == 0 {
            return Err(Problem::new(
                k("redetect_after"),
                "must be at least 1 (rejected telegrams before auto-detection starts over)",
            ));
        }
        check_hex_key(&format!("{key}.decryption_key"), &self.decryption_key)?;
        check_hex_key(
            &format!("{key}.authentication_key"),
            &self.authentication_key,
        )?;
        if self.authentication_key.is_some() && self.decryption_key.is_none() {
            return Err(Problem::new(
                format!("{key}.authentication_key"),
                "needs decryption_key too",
            ));
        }
        self.serve_addr(key)?;
        Ok(())
    }
}

#[cfg(test)]
mod serve_tests {
    use crate::config::{Config, InputConfig};

    fn p1(extra: &str) -> Result<Config, String> {
        Config::from_yaml(&format!(
            "inputs:\n  - name: p1\n    type: p1\n    device: /dev/null\n{extra}"
        ))
        .map_err(|e| e.to_string())
    }

    #[test]
    fn serve_is_off_by_default_and_checked_when_given() {
        let cfg = p1("").unwrap();
        let InputConfig::P1(p) = &cfg.inputs[0] else {
            panic!()
        };
        assert_eq!(p.serve_addr("k").unwrap(), None);
        assert_eq!(p.serve_clients, 32);
        let cfg =
            p1("    serve: \"[::]:2001\"\n    serve_allow: [192.168.1.7/24, \"::1\"]\n").unwrap();
        let InputConfig::P1(p) = &cfg.inputs[0] else {
            panic!()
        };
        let s = p.serve_addr("k").unwrap().unwrap();
        assert_eq!(s.addr.to_string(), "[::]:2001");
        // A block is kept as the network it names; a bare address is that one host.
        let allow: Vec<String> = s.allow.iter().map(|n| n.to_string()).collect();
        assert_eq!(allow, ["192.168.1.0/24", "::1/128"]);
        for (extra, key) in [
            ("    serve: localhost:2001\n", "inputs[0].serve"),
            ("    serve: 2001\n", "inputs[0].serve"),
            (
                "    serve: 0.0.0.0:2001\n    serve_allow: [10.0.0]\n",
                "inputs[0].serve_allow[0]",
            ),
            ("    serve_allow: [10.0.0.0/8]\n", "inputs[0].serve_allow"),
            (
                "    serve: 0.0.0.0:2001\n    serve_clients: 0\n",
                "inputs[0].serve_clients",
            ),
        ] {
            let e = p1(extra).unwrap_err();
            assert!(e.contains(&format!("`{key}`")), "{extra}: {e}");
        }
    }

    #[test]
    fn two_inputs_cannot_serve_on_one_address() {
        let e = Config::from_yaml(
            "inputs:\n  - {name: a, type: p1, device: /dev/null, serve: \"0.0.0.0:2001\"}\n  \
             - {name: b, type: p1, host: relay, port: 1, serve: \"0.0.0.0:2001\"}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("`inputs[1].serve`") && e.contains("input `a`"),
            "{e}"
        );
    }
}
