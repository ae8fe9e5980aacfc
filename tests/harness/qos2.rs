//! A persistent-session QoS 2 subscriber that implements the receiver side of MQTT 3.1.1
//! §4.3.3 itself (method B, Figure 4.3): a QoS 2 PUBLISH is handed to the test on arrival and
//! its packet id is remembered until the broker's PUBREL; a PUBLISH with an id still
//! remembered is the broker resending it (after a restart, say) and is not handed over again.
//! The ids survive reconnects, since they belong to the session (§4.1), not the connection.
//!
//! Not rumqttc: as a receiver it forgets the remembered ids on every reconnect
//! (`MqttState::clean`), so a resent PUBLISH would count twice, and it then fails the resumed
//! connection on the broker's resent PUBREL. Not `mosquitto_sub`: a child process whose output
//! arrives through a pipe, and whose dedupe would have to be taken on trust; here the logic the
//! test relies on is a dozen lines in view.

use std::collections::HashSet;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::wire::{self, Frame, Reader};
use super::{wait_for, Msg};

pub struct Qos2Subscriber {
    pub msgs: Arc<Mutex<Vec<Msg>>>,
    /// QoS 2 PUBLISHes the broker sent again for an id awaiting PUBREL (not handed over).
    pub resent: Arc<AtomicU64>,
    /// Connections made (1 + reconnects).
    pub connections: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    msgs: Arc<Mutex<Vec<Msg>>>,
    resent: Arc<AtomicU64>,
    connections: Arc<AtomicU64>,
    subscribed: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Qos2Subscriber {
    /// Connect with CleanSession = 0 under `id` and subscribe to `topics` at QoS 2.
    pub fn connect(port: u16, id: &str, topics: &[&str]) -> Qos2Subscriber {
        let sh = Shared {
            msgs: Arc::new(Mutex::new(Vec::new())),
            resent: Arc::new(AtomicU64::new(0)),
            connections: Arc::new(AtomicU64::new(0)),
            subscribed: Arc::new(AtomicBool::new(false)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (msgs, resent, connections, stop) = (
            sh.msgs.clone(),
            sh.resent.clone(),
            sh.connections.clone(),
            sh.stop.clone(),
        );
        let subscribed = sh.subscribed.clone();
        let id = id.to_string();
        let topics: Vec<String> = topics.iter().map(|t| t.to_string()).collect();
        let thread = std::thread::spawn(move || {
            let mut awaiting_pubrel = HashSet::new();
            while !sh.stop.load(Ordering::SeqCst) {
                let _ = session(port, &id, &topics, &mut awaiting_pubrel, &sh);
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while !subscribed.load(Ordering::SeqCst) {
            assert!(
                Instant::now() < deadline,
                "QoS 2 subscriber could not subscribe"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Qos2Subscriber {
            msgs,
            resent,
            connections,
            stop,
            thread: Some(thread),
        }
    }

    pub fn all(&self) -> Vec<Msg> {
        self.msgs.lock().unwrap().clone()
    }

    pub fn wait_until(&self, what: &str, timeout: Duration, pred: impl Fn(&[Msg]) -> bool) {
        wait_for(&self.msgs, what, timeout, pred)
    }
}

impl Drop for Qos2Subscriber {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One connection, until it fails or the subscriber is dropped.
fn session(
    port: u16,
    id: &str,
    topics: &[String],
    awaiting_pubrel: &mut HashSet<u16>,
    sh: &Shared,
) -> std::io::Result<()> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_millis(100)))?;
    let keepalive = Duration::from_secs(5);
    wire::send(
        &mut s,
        &wire::connect(id, false, keepalive.as_secs() as u16),
    )?;
    let mut reader = Reader::default();
    let deadline = Instant::now() + Duration::from_secs(5);
    let connack = loop {
        if let Some(f) = reader.next(&mut s)? {
            break f;
        }
        if Instant::now() > deadline {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
    };
    if connack.kind != wire::CONNACK || connack.body.get(1) != Some(&0) {
        return Err(std::io::ErrorKind::ConnectionRefused.into());
    }
    sh.connections.fetch_add(1, Ordering::SeqCst);
    let session_present = connack.body.first().is_some_and(|b| b & 1 == 1);
    if !session_present {
        // A new session: the broker will never send PUBREL for ids of an old one (§4.1).
        awaiting_pubrel.clear();
        wire::send(&mut s, &wire::subscribe(1, topics, 2))?;
    }
    let mut last_sent = Instant::now();
    while !sh.stop.load(Ordering::SeqCst) {
        if last_sent.elapsed() > keepalive / 2 {
            wire::send(&mut s, &wire::PINGREQ)?;
            last_sent = Instant::now();
        }
        let Some(f) = reader.next(&mut s)? else {
            continue;
        };
        if let Some(reply) = on_frame(&f, awaiting_pubrel, sh) {
            wire::send(&mut s, &reply)?;
            last_sent = Instant::now();
        }
    }
    let _ = wire::send(&mut s, &wire::DISCONNECT);
    Ok(())
}

fn on_frame(f: &Frame, awaiting_pubrel: &mut HashSet<u16>, sh: &Shared) -> Option<Vec<u8>> {
    match f.kind {
        wire::PUBLISH => {
            let p = f.publish()?;
            let fresh = p.qos < 2 || awaiting_pubrel.insert(p.pkid);
            if fresh {
                sh.msgs.lock().unwrap().push(Msg {
                    topic: p.topic,
                    payload: String::from_utf8_lossy(&p.payload).into_owned(),
                    retain: p.retain,
                });
            } else {
                sh.resent.fetch_add(1, Ordering::SeqCst);
            }
            match p.qos {
                1 => Some(wire::ack(wire::PUBACK, p.pkid)),
                2 => Some(wire::ack(wire::PUBREC, p.pkid)),
                _ => None,
            }
        }
        wire::PUBREL => {
            let pkid = f.pkid()?;
            awaiting_pubrel.remove(&pkid);
            Some(wire::ack(wire::PUBCOMP, pkid))
        }
        wire::SUBACK => {
            let granted = f.body.get(2..).unwrap_or_default();
            assert!(
                granted.iter().all(|&q| q == 2),
                "broker granted QoS {granted:?}, not 2"
            );
            sh.subscribed.store(true, Ordering::SeqCst);
            None
        }
        _ => None,
    }
}
