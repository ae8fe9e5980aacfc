//! Local serial ports (USB P1 cables, optical IR heads) through tokio-serial.

use std::io;
use std::path::Path;
use std::time::Duration;

use tokio_serial::{
    DataBits, FlowControl, SerialPort, SerialPortBuilderExt, SerialStream, StopBits,
};

use super::RequestLine;
use crate::protocol::{LineSettings, Parity};

fn data_bits(n: u8) -> DataBits {
    match n {
        5 => DataBits::Five,
        6 => DataBits::Six,
        7 => DataBits::Seven,
        _ => DataBits::Eight,
    }
}

fn parity(p: Parity) -> tokio_serial::Parity {
    match p {
        Parity::None => tokio_serial::Parity::None,
        Parity::Even => tokio_serial::Parity::Even,
        Parity::Odd => tokio_serial::Parity::Odd,
    }
}

fn stop_bits(n: u8) -> StopBits {
    if n == 2 {
        StopBits::Two
    } else {
        StopBits::One
    }
}

/// Open `path` (symlinks such as `/dev/serial/by-id/...` are followed) with `line`.
pub fn open(path: &Path, line: LineSettings) -> io::Result<SerialStream> {
    let name = path.to_string_lossy().into_owned();
    let mut port = tokio_serial::new(name, line.baud)
        .data_bits(data_bits(line.data_bits))
        .parity(parity(line.parity))
        .stop_bits(stop_bits(line.stop_bits))
        .flow_control(FlowControl::None)
        .timeout(Duration::from_secs(1))
        .open_native_async()
        .map_err(io::Error::other)?;
    // Exclusive access would stop `meter2mqtt` and a debugging `cat` from coexisting; a second
    // reader is the user's choice.
    let _ = port.set_exclusive(false);
    Ok(port)
}

/// Change the settings of an open port (IEC 62056-21 baud switch, `/#n` 300 → 1200 baud).
pub fn configure(port: &mut SerialStream, line: LineSettings) -> io::Result<()> {
    port.set_baud_rate(line.baud).map_err(io::Error::other)?;
    port.set_data_bits(data_bits(line.data_bits))
        .map_err(io::Error::other)?;
    port.set_parity(parity(line.parity))
        .map_err(io::Error::other)?;
    port.set_stop_bits(stop_bits(line.stop_bits))
        .map_err(io::Error::other)
}

pub fn set_request_line(port: &mut SerialStream, line: RequestLine, high: bool) -> io::Result<()> {
    match line {
        RequestLine::None => Ok(()),
        RequestLine::Dtr => port
            .write_data_terminal_ready(high)
            .map_err(io::Error::other),
        RequestLine::Rts => port.write_request_to_send(high).map_err(io::Error::other),
    }
}

/// A serial port found on this machine, for `meter2mqtt list-ports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    pub path: String,
    /// Stable `/dev/serial/by-id/...` names pointing at this port.
    pub by_id: Vec<String>,
    pub description: String,
}

/// Serial ports with their stable by-id names (use those in the config: `ttyUSB0` and
/// `ttyUSB1` swap places across reboots).
pub fn list_ports() -> Vec<PortInfo> {
    let mut by_id: Vec<(String, String)> = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/dev/serial/by-id") {
        for e in dir.flatten() {
            if let Ok(target) = std::fs::canonicalize(e.path()) {
                by_id.push((
                    target.to_string_lossy().into_owned(),
                    e.path().to_string_lossy().into_owned(),
                ));
            }
        }
    }
    let mut out: Vec<PortInfo> = tokio_serial::available_ports()
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let description = match &p.port_type {
                tokio_serial::SerialPortType::UsbPort(u) => format!(
                    "USB {:04x}:{:04x} {} {}",
                    u.vid,
                    u.pid,
                    u.manufacturer.as_deref().unwrap_or(""),
                    u.product.as_deref().unwrap_or("")
                )
                .trim_end()
                .to_string(),
                tokio_serial::SerialPortType::PciPort => "PCI".into(),
                tokio_serial::SerialPortType::BluetoothPort => "Bluetooth".into(),
                tokio_serial::SerialPortType::Unknown => "".into(),
            };
            PortInfo {
                by_id: by_id
                    .iter()
                    .filter(|(t, _)| *t == p.port_name)
                    .map(|(_, l)| l.clone())
                    .collect(),
                path: p.port_name,
                description,
            }
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}
