use rumqttc::{PubRel, Publish};

use super::*;
use rumqttc::Request;

fn handed(topic: &str, pkid: Option<u16>, released: bool, requeue: bool) -> Handed {
    Handed {
        msg: Message::retained(topic.into(), "x"),
        pkid,
        released,
        requeue,
        route: Route::Channel,
    }
}

fn queued(o: &Outbox) -> Vec<String> {
    o.lock().queue.iter().map(|m| m.topic.clone()).collect()
}

#[test]
fn queue_is_bounded_and_drops_the_oldest() {
    let o = Outbox::new(3);
    for i in 0..5 {
        o.publish(Message::reading(format!("t/{i}"), "x"));
    }
    let s = o.stats();
    assert_eq!((s.queued, s.dropped, s.connected), (3, 2, false));
    assert_eq!(queued(&o), ["t/2", "t/3", "t/4"]);
}

#[test]
fn unacknowledged_messages_go_back_in_order() {
    let o = Outbox::new(10);
    {
        let mut inner = o.lock();
        for i in 0..3 {
            let h = handed(&format!("u/{i}"), Some(i + 1), false, i != 0);
            inner.unacked.push_back(h);
        }
        inner.queue.push_back(Message::retained("q/0".into(), "x"));
    }
    o.on_disconnected();
    // u/0 was a per-connection message (the `online` status) and is not resent.
    assert_eq!(queued(&o), ["u/1", "u/2", "q/0"]);
}

#[test]
fn exactly_once_keeps_its_books_across_a_disconnect() {
    let o = Outbox::with_delivery(10, Delivery::ExactlyOnce);
    {
        let mut inner = o.lock();
        inner.unacked.push_back(handed("a", None, false, true));
        inner.unacked.push_back(handed("b", None, false, true));
    }
    o.on_outgoing_publish(7);
    o.on_outgoing_publish(8);
    o.on_pubrec(7);
    o.on_disconnected();
    // rumqttc resends both itself: nothing is requeued.
    assert_eq!(o.stats().unacked, 2);
    assert!(queued(&o).is_empty());
    // The resent PUBLISH of `b` carries id 8 again: not a new message.
    o.lock().unacked.push_back(handed("c", None, false, true));
    o.on_outgoing_publish(8);
    assert_eq!(o.lock().unacked[2].pkid, None);
    // rumqttc may reuse id 7 for `c` while 7 waits for its PUBCOMP (it tracks PUBRELs apart).
    o.on_outgoing_publish(7);
    assert_eq!(o.lock().unacked[2].pkid, Some(7));
    // The PUBCOMP for 7 completes `a`, not `c`; a PUBACK-style completion does nothing here.
    o.on_pubcomp(7);
    o.on_pubcomp(8);
    let topics: Vec<String> = o
        .lock()
        .unacked
        .iter()
        .map(|h| h.msg.topic.clone())
        .collect();
    assert_eq!(topics, ["b", "c"]);
    assert_eq!(o.stats().delivered, 1);
}

/// A client whose requests go nowhere until the event loop is polled (never, here).
fn client() -> (AsyncClient, rumqttc::EventLoop) {
    AsyncClient::new(rumqttc::MqttOptions::new("t", "127.0.0.1", 1883), 64)
}

fn books(o: &Outbox) -> Vec<String> {
    o.lock()
        .unacked
        .iter()
        .map(|h| h.msg.topic.clone())
        .collect()
}

#[test]
fn exactly_once_requeues_only_when_the_broker_lost_the_session() {
    for session in [true, false] {
        let o = Outbox::with_delivery(10, Delivery::ExactlyOnce);
        {
            let mut inner = o.lock();
            inner
                .unacked
                .push_back(handed("status", Some(1), true, false));
            inner.unacked.push_back(handed("a", Some(2), true, true));
            inner.unacked.push_back(handed("b", Some(3), false, true));
            inner.queue.push_back(Message::retained("q".into(), "x"));
        }
        o.on_disconnected();
        let (client, _eventloop) = client();
        o.on_connected(client, "status", session);
        if session {
            // rumqttc resends a, b itself; this connection's `online` and q follow.
            assert_eq!(books(&o), ["status", "a", "b", "status", "q"]);
        } else {
            // The broker forgot everything: resend in order; the old `online` is obsolete.
            assert_eq!(books(&o), ["status", "a", "b", "q"]);
            assert!(o.lock().unacked.iter().all(|h| h.pkid.is_none()));
        }
    }
}

#[test]
fn exactly_once_holds_the_bound_while_everything_is_in_the_session() {
    let o = Outbox::with_delivery(2, Delivery::ExactlyOnce);
    {
        let mut inner = o.lock();
        inner.unacked.push_back(handed("a", Some(1), false, true));
        inner.unacked.push_back(handed("b", Some(2), false, true));
    }
    o.publish(Message::reading("c".into(), "x"));
    let s = o.stats();
    assert_eq!((s.queued, s.unacked, s.dropped), (0, 2, 1));
}

#[test]
fn resends_follow_the_original_order_with_dup_set() {
    let o = Outbox::with_delivery(10, Delivery::ExactlyOnce);
    {
        // Sent with ids 99, 100, 1, 2 (wrapped); 99 and 1 are PUBREC'd.
        let mut inner = o.lock();
        inner.unacked.push_back(handed("a", Some(99), true, true));
        inner.unacked.push_back(handed("b", Some(100), false, true));
        inner.unacked.push_back(handed("c", Some(1), true, true));
        inner.unacked.push_back(handed("d", Some(2), false, true));
        inner.unacked.push_back(handed("e", None, false, true));
    }
    let publish = |topic: &str, pkid: u16| {
        let mut p = Publish::new(topic, QoS::ExactlyOnce, "x");
        p.pkid = pkid;
        Request::Publish(p)
    };
    // What rumqttc 0.25's `MqttState::clean` and channel drain produce: PUBLISHes by id, then
    // PUBRELs by id, then what was never sent.
    let mut pending: VecDeque<Request> = VecDeque::from([
        publish("d", 2),
        publish("b", 100),
        Request::PubRel(PubRel::new(1)),
        Request::PubRel(PubRel::new(99)),
        publish("e", 0),
    ]);
    assert_eq!(o.order_resends(&mut pending), (2, 2));
    let order: Vec<String> = pending
        .iter()
        .map(|r| match r {
            Request::Publish(p) => format!("{}{}{}", p.topic, p.pkid, if p.dup { "d" } else { "" }),
            Request::PubRel(r) => format!("rel{}", r.pkid),
            _ => "other".into(),
        })
        .collect();
    assert_eq!(order, ["rel99", "b100d", "rel1", "d2d", "e0"]);
}

/// Issue 18 §5: while the broker is unreachable the oldest readings go, never discovery or
/// availability; a control message supersedes a queued one on its topic.
#[test]
fn discovery_and_availability_are_never_dropped_for_readings() {
    let o = Outbox::new(3);
    let c = |t: &str| Message::retained(t.into(), "x");
    let r = |t: &str| Message::reading(t.into(), "x");
    for m in [c("c1"), r("r1"), r("r2"), c("c2"), r("r3"), r("r4")] {
        o.publish(m);
    }
    assert_eq!(queued(&o), ["c1", "c2", "r4"]);
    o.publish(c("c3"));
    o.publish(r("r5"));
    assert_eq!(queued(&o), ["c1", "c2", "c3"]);
    assert_eq!(o.stats().dropped, 5);
    o.publish(Message::retained("c1".into(), "newer"));
    assert_eq!(queued(&o), ["c2", "c3", "c1"]);
    // A new control topic is kept beyond the bound (bounded by the number of topics).
    o.publish(c("c4"));
    assert_eq!(queued(&o), ["c2", "c3", "c1", "c4"]);
    assert_eq!(o.stats().dropped, 5);
}

/// While connected nothing is dropped: the queue reports no room instead (back-pressure);
/// once the connection drops, the bound applies again, to readings only.
#[test]
fn nothing_is_dropped_while_connected() {
    let o = Outbox::new(3);
    let (client, _eventloop) = client();
    o.on_connected(client, "status", false);
    assert!(o.has_room());
    o.publish(Message::retained("config".into(), "x"));
    for i in 0..10 {
        o.publish(Message::reading(format!("r/{i}"), "x"));
    }
    let s = o.stats();
    assert_eq!((s.queued + s.unacked, s.dropped), (12, 0));
    assert!(!o.has_room());
    o.on_disconnected();
    assert!(o.has_room());
    // The books are requeued (not the per-connection `online`); readings beyond the bound go.
    assert_eq!(queued(&o), ["config", "r/8", "r/9"]);
    assert_eq!(o.stats().dropped, 8);
}

/// QoS 1 with direct writes: the first message while nothing is unacknowledged goes through
/// rumqttc's channel, the rest wait for the connection task, which gets them only once the
/// channel's message is sent (packet ids follow the books' order) and then in order; the
/// books give each the id of its own `Outgoing::Publish`; a disconnect requeues them all.
#[test]
fn direct_writes_keep_the_books_order() {
    let o = Outbox::new(100);
    o.write_directly();
    let (client, _eventloop) = client();
    o.on_connected(client, "status", false);
    o.publish(Message::retained("a".into(), "1"));
    o.publish(Message::reading("b".into(), "2"));
    o.publish(Message::reading("c".into(), "3"));
    assert_eq!(books(&o), ["status", "a", "b", "c"]);
    // `status` is still in the channel: nothing may overtake it.
    assert_eq!(o.direct_ready(), 0);
    assert!(o.next_direct().is_none());
    o.on_outgoing_publish(1);
    assert_eq!(o.direct_ready(), 3);
    let a = o.next_direct().expect("a is ready");
    assert_eq!(
        (a.topic.as_str(), &a.payload[..], a.retain),
        ("a", &b"1"[..], true)
    );
    o.on_outgoing_publish(2);
    o.on_puback(1);
    let b = o.next_direct().expect("b is ready");
    assert_eq!(b.topic, "b");
    o.on_outgoing_publish(3);
    o.on_puback(3);
    let pkids: Vec<_> = o.lock().unacked.iter().map(|h| h.pkid).collect();
    assert_eq!(pkids, [Some(2), None]);
    assert_eq!(o.direct_ready(), 1);
    o.on_disconnected();
    assert_eq!(queued(&o), ["a", "c"]);
    assert_eq!((o.direct_ready(), o.stats().delivered), (0, 2));
}

/// QoS 2 keeps every message on rumqttc's channel (its session owns the resends).
#[test]
fn exactly_once_never_writes_directly() {
    let o = Outbox::with_delivery(10, Delivery::ExactlyOnce);
    o.write_directly();
    let (client, _eventloop) = client();
    o.on_connected(client, "status", false);
    o.publish(Message::reading("r".into(), "x"));
    assert_eq!(books(&o), ["status", "r"]);
    assert_eq!(o.direct_ready(), 0);
}
