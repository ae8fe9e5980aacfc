//! `mqtt.qos: 2` against a scripted broker, so the exchanges the fault tests only hit by chance
//! (a broker that dies between PUBREC and PUBCOMP) happen every time: the first connection
//! discards any old session, later ones resume it, and the resumed session resends exactly
//! the unfinished exchanges, in their original order, with DUP set (MQTT 3.1.1 §3.1.2.4,
//! §3.3.1.1, §4.3.3, §4.4, §4.6).

mod harness;

use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use harness::wire::{self, Frame, Reader};
use meter2mqtt::mqtt::connection::{run_connection, ConnectSettings};
use meter2mqtt::mqtt::outbox::{Delivery, Message, Outbox};
use meter2mqtt::mqtt::BrokerUrl;

const CONNECT: u8 = 1;
const DISCONNECT: u8 = 14;

struct Peer {
    s: TcpStream,
    r: Reader,
}

impl Peer {
    fn accept(l: &TcpListener) -> Peer {
        let (s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        Peer {
            s,
            r: Reader::default(),
        }
    }

    /// The next packet other than PINGREQ (answered).
    fn next(&mut self) -> Frame {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match self.r.next(&mut self.s).unwrap() {
                Some(f) if f.kind == 12 => wire::send(&mut self.s, &[0xD0, 0]).unwrap(),
                Some(f) => return f,
                None => assert!(Instant::now() < deadline, "the bridge sent nothing"),
            }
        }
    }

    /// CONNECT's flags byte (§3.1.2.3), after answering with CONNACK.
    fn connect(&mut self, session_present: bool) -> u8 {
        let f = self.next();
        assert_eq!(f.kind, CONNECT);
        wire::send(
            &mut self.s,
            &wire::encode(0x20, &[session_present as u8, 0]),
        )
        .unwrap();
        f.body[7]
    }

    fn send(&mut self, kind: u8, pkid: u16) {
        wire::send(&mut self.s, &wire::ack(kind, pkid)).unwrap();
    }

    /// `topic#id` for a PUBLISH (with `+dup` when DUP is set), `rel#id` for a PUBREL.
    fn expect(&mut self) -> (String, u16) {
        let f = self.next();
        match f.kind {
            wire::PUBLISH => {
                let p = f.publish().unwrap();
                assert_eq!(p.qos, 2, "{p:?}");
                let dup = if p.dup { "+dup" } else { "" };
                (format!("{}{dup}", p.topic), p.pkid)
            }
            wire::PUBREL => ("rel".into(), f.pkid().unwrap()),
            k => panic!("unexpected packet type {k}"),
        }
    }
}

fn wait(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn qos2_discards_the_old_session_then_resumes_unfinished_exchanges_in_order() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let outbox = Outbox::with_delivery(100, Delivery::ExactlyOnce);
    let settings = ConnectSettings {
        url: BrokerUrl {
            host: "127.0.0.1".into(),
            port,
            tls: false,
        },
        client_id: "sess".into(),
        username: None,
        password: None,
        keepalive: Duration::from_secs(30),
        ca: None,
        client_auth: None,
        system_roots: None,
        status_topic: "s/status".into(),
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (tx, _rx) = tokio::sync::mpsc::channel(64);
    rt.spawn(run_connection(outbox.clone(), settings, tx));
    let msg = |t: &str| Message::transient(t.into(), "x");

    // 1. CleanSession = 1, no will, then DISCONNECT: the old session is gone (§3.1.2.4).
    let mut a = Peer::accept(&listener);
    let flags = a.connect(true);
    assert_eq!(flags & 0x02, 0x02, "first connection must be clean");
    assert_eq!(flags & 0x04, 0, "no will on the discarding connection");
    assert_eq!(a.next().kind, DISCONNECT);
    drop(a);

    // 2. The persistent session: `online`, m1, m2, m3. The broker takes m1 (PUBREC) and gets
    //    its PUBREL, takes nothing of m2 and m3, and dies before any PUBCOMP.
    let mut b = Peer::accept(&listener);
    let flags = b.connect(false);
    assert_eq!(flags & 0x02, 0, "later connections keep the session");
    assert_eq!(flags & 0x1C, 0x04 | 2 << 3, "retained will at QoS 2");
    let (t, online) = b.expect();
    assert_eq!(t, "s/status");
    outbox.publish_all([msg("m1"), msg("m2"), msg("m3")]);
    let ids: Vec<(String, u16)> = (0..3).map(|_| b.expect()).collect();
    let topics: Vec<&str> = ids.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(topics, ["m1", "m2", "m3"]);
    let (m1, m2, m3) = (ids[0].1, ids[1].1, ids[2].1);
    b.send(wire::PUBREC, online);
    b.send(wire::PUBREC, m1);
    let rels = [b.expect(), b.expect()];
    assert_eq!(rels, [("rel".into(), online), ("rel".into(), m1)]);
    b.send(wire::PUBCOMP, online);
    wait("the PUBCOMP taken", || outbox.stats().delivered == 1);
    drop(b);
    // Published while the broker is away: queued behind the unfinished ones.
    wait("the broker gone", || !outbox.stats().connected);
    outbox.publish(msg("m4"));

    // 3. Session present: first exactly the unfinished exchanges, in the order they began,
    //    PUBLISHes with their ids and DUP; then this connection's `online`, then m4.
    let mut c = Peer::accept(&listener);
    c.connect(true);
    let resumed: Vec<(String, u16)> = (0..5).map(|_| c.expect()).collect();
    assert_eq!(
        resumed[..3],
        [
            ("rel".to_string(), m1),
            ("m2+dup".to_string(), m2),
            ("m3+dup".to_string(), m3)
        ]
    );
    assert_eq!(resumed[3].0, "s/status");
    assert_eq!(resumed[4].0, "m4");
    c.send(wire::PUBCOMP, m1);
    for (_, id) in &resumed[1..] {
        c.send(wire::PUBREC, *id);
    }
    for (_, id) in &resumed[1..] {
        assert_eq!(c.expect(), ("rel".into(), *id));
        c.send(wire::PUBCOMP, *id);
    }
    wait("everything completed", || outbox.stats().unacked == 0);
    let s = outbox.stats();
    println!("QOS2 SESSION resumed {resumed:?}; outbox {s:?}");
    // online, m1, m2, m3, online, m4: each completed once.
    assert_eq!((s.delivered, s.queued, s.dropped), (6, 0, 0));
}
