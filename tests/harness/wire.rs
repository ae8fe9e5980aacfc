//! Just enough MQTT 3.1.1 framing (§2, §3) for test-side clients, written independently of
//! rumqttc so the tests do not check rumqttc against itself.

use std::io::{self, Read, Write};
use std::net::TcpStream;

pub const PUBLISH: u8 = 3;
pub const PUBACK: u8 = 4;
pub const PUBREC: u8 = 5;
pub const PUBREL: u8 = 6;
pub const PUBCOMP: u8 = 7;
pub const CONNACK: u8 = 2;
pub const SUBACK: u8 = 9;
pub const PINGRESP: u8 = 13;

/// One control packet: type (high nibble of byte 1), flags (low nibble), and the rest.
#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub body: Vec<u8>,
}

/// A PUBLISH (§3.3).
#[derive(Debug, Clone)]
pub struct Publish {
    pub dup: bool,
    pub qos: u8,
    pub retain: bool,
    pub topic: String,
    pub pkid: u16,
    pub payload: Vec<u8>,
}

fn u16_at(b: &[u8], i: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(i)?, *b.get(i + 1)?]))
}

impl Frame {
    /// The packet id at the start of the variable header (acks, SUBACK).
    pub fn pkid(&self) -> Option<u16> {
        u16_at(&self.body, 0)
    }

    pub fn publish(&self) -> Option<Publish> {
        if self.kind != PUBLISH {
            return None;
        }
        let len = usize::from(u16_at(&self.body, 0)?);
        let topic = String::from_utf8(self.body.get(2..2 + len)?.to_vec()).ok()?;
        let qos = (self.flags >> 1) & 3;
        let (pkid, rest) = if qos > 0 {
            (u16_at(&self.body, 2 + len)?, 4 + len)
        } else {
            (0, 2 + len)
        };
        Some(Publish {
            dup: self.flags & 8 != 0,
            qos,
            retain: self.flags & 1 != 0,
            topic,
            pkid,
            payload: self.body.get(rest..)?.to_vec(),
        })
    }
}

/// Fixed header (§2.2) plus body.
pub fn encode(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    let mut len = body.len();
    loop {
        let mut byte = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            byte |= 0x80;
        }
        out.push(byte);
        if len == 0 {
            break;
        }
    }
    out.extend_from_slice(body);
    out
}

fn string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u16).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

pub fn connect(client_id: &str, clean: bool, keepalive_s: u16) -> Vec<u8> {
    let mut body = Vec::new();
    string(&mut body, "MQTT");
    body.push(4);
    body.push(if clean { 0x02 } else { 0 });
    body.extend_from_slice(&keepalive_s.to_be_bytes());
    string(&mut body, client_id);
    encode(0x10, &body)
}

pub fn subscribe(pkid: u16, topics: &[String], qos: u8) -> Vec<u8> {
    let mut body = pkid.to_be_bytes().to_vec();
    for t in topics {
        string(&mut body, t);
        body.push(qos);
    }
    encode(0x82, &body)
}

/// PUBACK, PUBREC, PUBREL (flags 0b0010, §3.6.1) or PUBCOMP.
pub fn ack(kind: u8, pkid: u16) -> Vec<u8> {
    let flags = if kind == PUBREL { 2 } else { 0 };
    encode(kind << 4 | flags, &pkid.to_be_bytes())
}

pub const PINGREQ: [u8; 2] = [0xC0, 0];
pub const DISCONNECT: [u8; 2] = [0xE0, 0];

/// Frames from a stream that has a read timeout.
#[derive(Default)]
pub struct Reader {
    buf: Vec<u8>,
}

impl Reader {
    /// The next complete frame, `None` when the read timed out first.
    pub fn next(&mut self, s: &mut TcpStream) -> io::Result<Option<Frame>> {
        loop {
            if let Some(f) = self.parse()? {
                return Ok(Some(f));
            }
            let mut chunk = [0u8; 16 * 1024];
            match s.read(&mut chunk) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn parse(&mut self) -> io::Result<Option<Frame>> {
        let mut len = 0usize;
        let mut i = 1;
        loop {
            let Some(&b) = self.buf.get(i) else {
                return Ok(None);
            };
            len += usize::from(b & 0x7F) << (7 * (i - 1));
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            if i > 4 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "bad length"));
            }
        }
        if self.buf.len() < i + len {
            return Ok(None);
        }
        let frame: Vec<u8> = self.buf.drain(..i + len).collect();
        Ok(Some(Frame {
            kind: frame[0] >> 4,
            flags: frame[0] & 0x0F,
            body: frame[i..].to_vec(),
        }))
    }
}

pub fn send(s: &mut TcpStream, bytes: &[u8]) -> io::Result<()> {
    s.write_all(bytes)
}
