//! The fate of pending work (core/SEMANTICS.md), row by row, against the
//! scripted broker: what each kind of operation becomes when the client
//! stops, pauses, loses the link or is used after close.

mod support;

use midge_core::packet::{
    DisconnectProperties, Packet, ProtocolVersion, Publish, QoS, ReasonCode, SubAck,
    SubscribeFilter, SubscribeProperties, UnsubscribeProperties,
};
use midge_core::{ClientError, ConnectionError, Event, PublishError, TransportCommand};
use support::*;

const V5: ProtocolVersion = ProtocolVersion::V5;

fn publish(qos: QoS) -> Publish {
    Publish::new("lifecycle/t", &b"x"[..], qos)
}

fn subscribe(b: &mut Broker) -> midge_core::RequestToken {
    b.client
        .subscribe(
            b.now,
            vec![SubscribeFilter::new("lifecycle/#", QoS::AtLeastOnce)],
            SubscribeProperties::default(),
        )
        .unwrap()
}

/// (token, Ok?/Interrupted?) of every publish completion, in order.
fn interrupted(events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::PublishComplete {
                token,
                result: Err(PublishError::Interrupted { reason_code: None }),
            } => Some(token.0),
            _ => None,
        })
        .collect()
}

#[test]
fn disconnect_interrupts_pending_publishes_and_requests_then_reports_the_stop() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    b.events();
    let q1 = b.client.publish(b.now, publish(QoS::AtLeastOnce)).unwrap();
    let q2 = b.client.publish(b.now, publish(QoS::ExactlyOnce)).unwrap();
    b.client.publish(b.now, publish(QoS::AtMostOnce)).unwrap();
    let sub = subscribe(&mut b);
    b.sent();
    b.client
        .disconnect(b.now, ReasonCode::Success, DisconnectProperties::default())
        .unwrap();
    let events = b.events();
    assert_eq!(interrupted(&events), vec![q1.0, q2.0]);
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::RequestInterrupted { token, .. } if *token == sub)));
    // The stop comes last: a driver that tears down on it has relayed the rest.
    assert!(matches!(
        events.last(),
        Some(Event::Disconnected {
            error: ConnectionError::Local,
            reconnect_at: None
        })
    ));
    // The publishes stay in the session; the request is gone.
    assert_eq!(b.client.inflight_len(), 2);
    assert!(matches!(b.sent().last(), Some(Packet::Disconnect(_))));
    assert_eq!(b.commands(), vec![TransportCommand::Close]);
    b.client.handle_transport_closed(b.now);

    // Resumed: the publishes go again (DUP), the dropped SUBSCRIBE does not.
    b.client.connect(b.now).unwrap();
    b.open_transport();
    b.connack(true, Default::default());
    let sent = b.sent();
    assert_eq!(
        sent.iter()
            .filter(|p| matches!(p, Packet::Publish(p) if p.dup))
            .count(),
        2
    );
    assert!(!sent.iter().any(|p| matches!(p, Packet::Subscribe(_))));
}

#[test]
fn every_command_after_close_fails_at_once_until_connect() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    b.client
        .disconnect(b.now, ReasonCode::Success, DisconnectProperties::default())
        .unwrap();
    b.client.handle_transport_closed(b.now);
    b.sent();
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        assert_eq!(
            b.client.publish(b.now, publish(qos)),
            Err(ClientError::Closed {
                operation: "publish"
            })
        );
    }
    assert!(matches!(
        b.client.subscribe(
            b.now,
            vec![SubscribeFilter::new("a", QoS::AtMostOnce)],
            SubscribeProperties::default()
        ),
        Err(ClientError::Closed { .. })
    ));
    assert!(matches!(
        b.client
            .unsubscribe(b.now, vec!["a".into()], UnsubscribeProperties::default()),
        Err(ClientError::Closed { .. })
    ));
    assert!(matches!(
        b.client.auth(b.now, Default::default()),
        Err(ClientError::Closed { .. })
    ));
    assert_eq!(b.client.queued_len(), 0, "nothing was queued");
    assert!(b.sent().is_empty());
    let text = ClientError::Closed {
        operation: "publish",
    }
    .to_string();
    assert!(text.contains("connect()"), "{text}");

    // connect() opens it again.
    b.connect(true);
    assert!(b.client.publish(b.now, publish(QoS::AtLeastOnce)).is_ok());
}

#[test]
fn pause_interrupts_nothing_and_resume_completes_the_work() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    b.events();
    let token = b.client.publish(b.now, publish(QoS::AtLeastOnce)).unwrap();
    b.sent();
    b.client.pause(b.now);
    let events = b.events();
    assert!(interrupted(&events).is_empty(), "{events:?}");
    assert!(matches!(b.sent().last(), Some(Packet::Disconnect(_))));
    b.client.handle_transport_closed(b.now);
    // Paused is not closed: new work is accepted and waits.
    let later = b.client.publish(b.now, publish(QoS::AtLeastOnce)).unwrap();
    assert_eq!(b.client.queued_len(), 1);

    b.client.connect(b.now).unwrap();
    b.open_transport();
    b.connack(true, Default::default());
    let ids: Vec<u16> = b
        .sent()
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p.packet_id),
            _ => None,
        })
        .collect();
    assert_eq!(ids.len(), 2);
    for id in ids {
        b.inject(puback(id));
    }
    let done: Vec<u64> = b
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::PublishComplete {
                token,
                result: Ok(_),
            } => Some(token.0),
            _ => None,
        })
        .collect();
    assert_eq!(done, vec![token.0, later.0]);
}

#[test]
fn a_lost_link_interrupts_nothing_while_reconnecting() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    b.client.publish(b.now, publish(QoS::AtLeastOnce)).unwrap();
    subscribe(&mut b);
    b.events();
    b.drop_transport();
    let events = b.events();
    assert!(interrupted(&events).is_empty());
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::RequestInterrupted { .. })));
    assert!(matches!(
        events.last(),
        Some(Event::Disconnected {
            reconnect_at: Some(_),
            ..
        })
    ));
}

#[test]
fn giving_up_on_the_first_connection_interrupts_what_was_queued() {
    let mut o = options(V5);
    o.reconnect_on_initial_failure = false;
    let mut b = Broker::new(o);
    let queued = b.client.publish(b.now, publish(QoS::AtLeastOnce)).unwrap();
    let sub = subscribe(&mut b);
    b.client.connect(b.now).unwrap();
    b.commands();
    b.client.handle_transport_closed(b.now);
    let events = b.events();
    assert_eq!(interrupted(&events), vec![queued.0]);
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::RequestInterrupted { token, .. } if *token == sub)));
    // The queued publish is kept for the next connect.
    assert_eq!(b.client.queued_len(), 1);
    // Giving up is not closing: an offline-first app keeps queueing.
    assert!(b.client.publish(b.now, publish(QoS::AtLeastOnce)).is_ok());
    assert_eq!(b.client.queued_len(), 2);
}

#[test]
fn awaiting_server_tells_a_driver_when_it_must_keep_reading() {
    let mut b = Broker::new(options(V5));
    assert!(!b.client.awaiting_server());
    b.client.connect(b.now).unwrap();
    b.open_transport();
    assert!(b.client.awaiting_server(), "CONNACK is owed");
    assert!(b.client.awaiting_non_publish_answer(), "CONNACK is owed");
    b.connack(false, Default::default());
    assert!(!b.client.awaiting_server());
    b.client.publish(b.now, publish(QoS::AtMostOnce)).unwrap();
    assert!(!b.client.awaiting_server(), "QoS 0 owes nothing");
    b.client.publish(b.now, publish(QoS::AtLeastOnce)).unwrap();
    assert!(b.client.awaiting_server(), "PUBACK is owed");
    assert!(
        !b.client.awaiting_non_publish_answer(),
        "only a PUBACK is owed"
    );
    b.inject(puback(1));
    assert!(!b.client.awaiting_server());
    let _ = subscribe(&mut b);
    assert!(b.client.awaiting_server(), "SUBACK is owed");
    assert!(b.client.awaiting_non_publish_answer(), "SUBACK is owed");
    b.inject(Packet::SubAck(SubAck {
        packet_id: 2,
        reason_codes: vec![ReasonCode::GrantedQoS1],
        properties: Default::default(),
    }));
    assert!(!b.client.awaiting_server());
}

/// The driver's cause of a transport failure is the error of the
/// Disconnected event, the attempt count numbers each retry, and a
/// configuration failure is not retried.
#[test]
fn a_transport_failure_carries_its_cause_and_each_retry_its_number() {
    use midge_core::{ConnectionState, TransportFailure, TransportFailureKind};
    let mut o = options(V5);
    o.reconnect_on_initial_failure = true;
    let mut b = Broker::new(o);
    b.client.connect(b.now).unwrap();
    for attempt in 1..=3u32 {
        b.commands();
        b.client.handle_transport_failed(
            b.now,
            TransportFailure::new(TransportFailureKind::Refused, "connection refused"),
        );
        let events = b.events();
        let Some(Event::Disconnected {
            error: ConnectionError::Transport(failure),
            reconnect_at: Some(at),
        }) = events.last()
        else {
            panic!("{events:?}")
        };
        assert_eq!(failure.kind, TransportFailureKind::Refused);
        assert_eq!(failure.to_string(), "connection refused");
        assert_eq!(b.client.reconnect_attempt(), attempt);
        assert!(matches!(
            b.client.state(),
            ConnectionState::WaitingToReconnect { .. }
        ));
        b.now = *at;
        b.client.handle_timeout(b.now);
    }
    // A setting the transport cannot use: retrying cannot help.
    b.commands();
    b.client.handle_transport_failed(
        b.now,
        TransportFailure::new(TransportFailureKind::Config, "bad server name"),
    );
    let events = b.events();
    assert!(matches!(
        events.last(),
        Some(Event::Disconnected {
            error: ConnectionError::Transport(TransportFailure {
                kind: TransportFailureKind::Config,
                ..
            }),
            reconnect_at: None,
        })
    ));
    assert_eq!(b.client.state(), ConnectionState::Disconnected);
    // Without a cause (a browser WebSocket) the text stays the plain one.
    assert_eq!(
        ConnectionError::Transport(TransportFailure::closed()).to_string(),
        "the transport closed"
    );
}

/// resume() (connect) right after pause() or disconnect(), while the driver
/// still lingers on the closing link, opens again once it closed; it used
/// to be refused, and the in-flight work waited forever.
#[test]
fn connect_while_closing_reopens_after_the_close() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    b.events();
    let token = b.client.publish(b.now, publish(QoS::AtLeastOnce)).unwrap();
    b.sent();
    b.client.pause(b.now);
    b.client.connect(b.now).unwrap();
    let closing = b.commands();
    assert!(
        matches!(closing.as_slice(), [TransportCommand::Close]),
        "{closing:?}"
    );
    b.client.handle_transport_closed(b.now);
    // The next attempt is due at once.
    assert_eq!(b.client.poll_timeout(), Some(b.now));
    b.client.handle_timeout(b.now);
    b.open_transport();
    b.connack(true, Default::default());
    let resent: Vec<u16> = b
        .sent()
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(p) if p.dup => Some(p.packet_id),
            _ => None,
        })
        .collect();
    assert_eq!(resent.len(), 1);
    b.inject(puback(resent[0]));
    assert!(b.events().iter().any(|e| matches!(
        e,
        Event::PublishComplete { token: t, result: Ok(_) } if *t == token
    )));
}
