//! Whole protocol flows against a scripted fake broker, with a fake clock.

mod support;

use bytes::Bytes;
use midge_core::packet::{
    AuthProperties, ConnAckProperties, Disconnect, DisconnectProperties, LastWill, Packet,
    ProtocolVersion, PubResponse, Publish, PublishProperties, QoS, ReasonCode, SubAck,
    SubscribeFilter, SubscribeProperties, UnsubAck, UnsubscribeProperties,
};
use midge_core::session::{MemoryStore, OutboundStage, SessionState};
use midge_core::{
    Client, ClientError, ClientOptions, ConnectionError, ConnectionState, Event, ProtocolViolation,
    PublishError, TransportCommand,
};
use support::*;

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V311;

fn msg(topic: &str, payload: &'static [u8], qos: QoS) -> Publish {
    Publish::new(topic, payload, qos)
}

fn publish_ids(packets: &[Packet]) -> Vec<(u16, bool)> {
    packets
        .iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some((p.packet_id, p.dup)),
            _ => None,
        })
        .collect()
}

fn completions(events: &[Event]) -> Vec<(u64, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::PublishComplete { token, result } => Some((token.0, result.is_ok())),
            _ => None,
        })
        .collect()
}

fn disconnected(events: &[Event]) -> Option<&ConnectionError> {
    events.iter().find_map(|e| match e {
        Event::Disconnected { error, .. } => Some(error),
        _ => None,
    })
}

#[test]
fn connect_sends_options_and_reports_connack_values() {
    let mut o = options(V5);
    o.username = Some("user".into());
    o.password = Some(Bytes::from_static(b"secret"));
    o.will = Some(LastWill {
        topic: "status/test-client".into(),
        payload: Bytes::from_static(b"offline"),
        qos: QoS::AtLeastOnce,
        retain: true,
        properties: Default::default(),
    });
    o.connect_properties.session_expiry_interval = Some(3600);
    let mut b = Broker::new(o);
    b.client.connect(b.now).unwrap();
    let Packet::Connect(connect) = b.open_transport() else {
        panic!("first packet must be CONNECT")
    };
    assert_eq!(connect.client_id, "test-client");
    assert_eq!(connect.keep_alive, 30);
    assert_eq!(connect.username.as_deref(), Some("user"));
    assert_eq!(connect.will.as_ref().unwrap().topic, "status/test-client");
    assert_eq!(connect.properties.session_expiry_interval, Some(3600));
    assert_eq!(connect.properties.receive_maximum, Some(100));
    // No Maximum Packet Size unless the user set one (issue 14, item 4): a
    // 5.0 server drops every message above it for this client.
    assert_eq!(connect.properties.maximum_packet_size, None);
    assert_eq!(b.client.state(), ConnectionState::Connecting);

    b.connack(
        false,
        ConnAckProperties {
            server_keep_alive: Some(10),
            receive_maximum: Some(5),
            ..Default::default()
        },
    );
    let events = b.events();
    let Some(Event::Connected(info)) = events.first() else {
        panic!("expected Connected, got {events:?}")
    };
    assert_eq!(info.keep_alive_secs, 10);
    assert!(!info.session_present);
    assert!(!info.reconnected);
    assert_eq!(b.client.state(), ConnectionState::Connected);
    // Server keep-alive wins: the ping is due 10 s after the last packet sent.
    assert_eq!(b.client.poll_timeout(), Some(b.now + 10_000));
}

#[test]
fn empty_client_id_takes_the_assigned_one() {
    let mut o = options(V5);
    o.client_id = String::new();
    o.clean_start = true;
    let mut b = Broker::new(o);
    b.client.connect(b.now).unwrap();
    let Packet::Connect(connect) = b.open_transport() else {
        panic!()
    };
    assert_eq!(connect.client_id, "");
    assert!(connect.clean_start);
    b.connack(
        false,
        ConnAckProperties {
            assigned_client_identifier: Some("auto-1234".into()),
            ..Default::default()
        },
    );
    let events = b.events();
    assert!(matches!(&events[0], Event::Connected(c) if c.client_id == "auto-1234"));
    assert_eq!(b.client.client_id(), "auto-1234");

    // The reconnect resumes the session under the assigned id, without Clean Start.
    b.drop_transport();
    b.run_timers_until(b.now + 2_000);
    let Packet::Connect(again) = b.open_transport() else {
        panic!()
    };
    assert_eq!(again.client_id, "auto-1234");
    assert!(!again.clean_start);
}

#[test]
fn an_empty_client_id_without_clean_start_is_a_5_0_persistent_session_and_a_3_1_1_error() {
    // MQTT 5.0 lets the server assign an id for a persistent session
    // ([MQTT-3.1.3-7] is 3.1.1 only); mosquitto accepts it.
    let mut o = options(V5);
    o.client_id = String::new();
    o.clean_start = false;
    o.connect_properties.session_expiry_interval = Some(3600);
    let mut b = Broker::new(o);
    b.client.connect(b.now).unwrap();
    let Packet::Connect(connect) = b.open_transport() else {
        panic!("first packet must be CONNECT")
    };
    assert_eq!(connect.client_id, "");
    assert!(!connect.clean_start);
    b.connack(
        false,
        ConnAckProperties {
            assigned_client_identifier: Some("auto-77".into()),
            ..Default::default()
        },
    );
    assert_eq!(b.client.client_id(), "auto-77");

    let mut o = options(ProtocolVersion::V311);
    o.client_id = String::new();
    o.clean_start = false;
    let err = Client::new(o).unwrap_err();
    assert!(
        err.to_string().contains("client_id") && err.to_string().contains("3.1.1"),
        "{err}"
    );
}

#[test]
fn refused_connection_is_a_typed_error_and_not_retried_for_bad_credentials() {
    for (version, code, wire) in [
        (
            V5,
            ReasonCode::BadUserNameOrPassword,
            vec![0x20, 0x03, 0x00, 0x86, 0x00],
        ),
        (
            V311,
            ReasonCode::BadUserNameOrPassword,
            vec![0x20, 0x02, 0x00, 0x04],
        ),
        (
            V311,
            ReasonCode::NotAuthorized,
            vec![0x20, 0x02, 0x00, 0x05],
        ),
    ] {
        let mut b = Broker::new(options(version));
        b.client.connect(b.now).unwrap();
        b.open_transport();
        b.inject_bytes(&wire);
        let events = b.events();
        match &events[..] {
            [Event::Disconnected {
                error: ConnectionError::Refused { reason_code, .. },
                reconnect_at: None,
            }] => assert_eq!(*reason_code, code),
            other => panic!("{other:?}"),
        }
        assert_eq!(b.commands(), vec![TransportCommand::Close]);
        b.drop_transport();
        assert_eq!(b.client.state(), ConnectionState::Disconnected);
    }
}

#[test]
fn connack_timeout_ends_the_attempt() {
    let mut b = Broker::new(options(V5));
    b.client.connect(b.now).unwrap();
    b.open_transport();
    let deadline = b.client.poll_timeout().unwrap();
    assert_eq!(deadline, b.now + 10_000);
    b.now = deadline;
    b.client.handle_timeout(b.now);
    let events = b.events();
    assert!(matches!(
        disconnected(&events),
        Some(ConnectionError::ConnectTimeout { timeout_ms: 10_000 })
    ));
    assert_eq!(b.commands(), vec![TransportCommand::Close]);
}

#[test]
fn qos1_publish_completes_on_puback() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    b.events();
    let token = b
        .client
        .publish(b.now, msg("a/b", b"x", QoS::AtLeastOnce))
        .unwrap();
    let sent = b.sent();
    assert_eq!(publish_ids(&sent), vec![(1, false)]);
    assert_eq!(b.client.inflight_len(), 1);
    b.inject(puback(1));
    assert_eq!(completions(&b.events()), vec![(token.0, true)]);
    assert_eq!(b.client.inflight_len(), 0);
}

#[test]
fn qos2_outbound_full_handshake_and_rejection() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    b.events();
    let t1 = b
        .client
        .publish(b.now, msg("a", b"1", QoS::ExactlyOnce))
        .unwrap();
    let t2 = b
        .client
        .publish(b.now, msg("a", b"2", QoS::ExactlyOnce))
        .unwrap();
    assert_eq!(publish_ids(&b.sent()), vec![(1, false), (2, false)]);
    b.inject(pubrec(1));
    assert_eq!(b.sent(), vec![pubrel(1)]);
    // A duplicate PUBREC gets the PUBREL again, nothing completes yet.
    b.inject(pubrec(1));
    assert_eq!(b.sent(), vec![pubrel(1)]);
    assert!(b.events().is_empty());
    b.inject(pubcomp(1));
    assert_eq!(completions(&b.events()), vec![(t1.0, true)]);
    // PUBREC with a failure code ends the flow with that code.
    b.inject(Packet::PubRec(PubResponse {
        packet_id: 2,
        reason_code: ReasonCode::QuotaExceeded,
        properties: Default::default(),
    }));
    let events = b.events();
    match &events[..] {
        [Event::PublishComplete {
            token,
            result: Err(PublishError::Rejected { reason_code, .. }),
        }] => {
            assert_eq!(*token, t2);
            assert_eq!(*reason_code, ReasonCode::QuotaExceeded);
        }
        other => panic!("{other:?}"),
    }
    assert!(b.sent().is_empty(), "no PUBREL after a failed PUBREC");
}

#[test]
fn unknown_pubrec_is_answered_with_packet_id_not_found() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    b.events();
    b.inject(pubrec(77));
    assert_eq!(
        b.sent(),
        vec![Packet::PubRel(PubResponse {
            packet_id: 77,
            reason_code: ReasonCode::PacketIdentifierNotFound,
            properties: Default::default()
        })]
    );
    assert_eq!(b.client.state(), ConnectionState::Connected);
}

#[test]
fn qos2_inbound_is_delivered_exactly_once_even_across_reconnects() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    b.events();
    let incoming = msg("in/x", b"once", QoS::ExactlyOnce).with_packet_id(9);
    b.inject(Packet::Publish(incoming.clone()));
    assert_eq!(b.sent(), vec![pubrec(9)]);
    let delivered = b
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::Message(_)))
        .count();
    assert_eq!(delivered, 1);

    // The connection drops before PUBREL; the broker resends the PUBLISH with DUP.
    b.drop_transport();
    b.run_timers_until(b.now + 2_000);
    b.open_transport();
    b.connack(true, ConnAckProperties::default());
    b.events();
    let mut dup = incoming.clone();
    dup.dup = true;
    b.inject(Packet::Publish(dup));
    assert_eq!(b.sent(), vec![pubrec(9)]);
    assert!(
        !b.events().iter().any(|e| matches!(e, Event::Message(_))),
        "the duplicate must not be delivered again"
    );
    b.inject(pubrel(9));
    assert_eq!(b.sent(), vec![pubcomp(9)]);
    // After PUBCOMP the id is free: a new message with it is delivered.
    b.inject(Packet::Publish(
        msg("in/x", b"next", QoS::ExactlyOnce).with_packet_id(9),
    ));
    assert_eq!(
        b.events()
            .iter()
            .filter(|e| matches!(e, Event::Message(_)))
            .count(),
        1
    );
}

#[test]
fn qos1_inbound_is_acked_and_delivered() {
    let mut b = Broker::new(options(V311));
    b.connect(false);
    b.events();
    b.inject(Packet::Publish(
        msg("t", b"p", QoS::AtLeastOnce).with_packet_id(3),
    ));
    assert_eq!(b.sent(), vec![puback(3)]);
    let events = b.events();
    match &events[..] {
        [Event::Message(m)] => {
            assert_eq!(m.publish.topic, "t");
            assert_eq!(&m.publish.payload[..], b"p");
            assert!(m.ack.is_none());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn manual_acks_hold_the_acknowledgement_until_the_application_acks() {
    let mut o = options(V5);
    o.manual_acks = true;
    let mut b = Broker::new(o);
    b.connect(false);
    b.events();
    b.inject(Packet::Publish(
        msg("t", b"1", QoS::AtLeastOnce).with_packet_id(1),
    ));
    b.inject(Packet::Publish(
        msg("t", b"2", QoS::ExactlyOnce).with_packet_id(2),
    ));
    assert!(
        b.sent().is_empty(),
        "nothing acknowledged before the application acks"
    );
    let handles: Vec<_> = b
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => m.ack,
            _ => None,
        })
        .collect();
    assert_eq!(handles.len(), 2);
    // A resend of the unacknowledged QoS 2 message is not delivered again.
    let mut dup = msg("t", b"2", QoS::ExactlyOnce).with_packet_id(2);
    dup.dup = true;
    b.inject(Packet::Publish(dup));
    assert!(b.events().is_empty());

    b.client.ack(b.now, handles[0]).unwrap();
    assert_eq!(b.sent(), vec![puback(1)]);
    b.client.ack(b.now, handles[1]).unwrap();
    assert_eq!(b.sent(), vec![pubrec(2)]);
    assert!(matches!(
        b.client.ack(b.now, handles[0]),
        Err(ClientError::AckNotPending { packet_id: 1 })
    ));
    b.inject(pubrel(2));
    assert_eq!(b.sent(), vec![pubcomp(2)]);
}

#[test]
fn inbound_receive_maximum_is_enforced_when_strict() {
    let mut o = options(V5);
    o.receive_maximum = 2;
    o.strict_receive_maximum = true;
    let mut b = Broker::new(o);
    let Packet::Connect(connect) = b.connect(false) else {
        panic!()
    };
    assert_eq!(connect.properties.receive_maximum, Some(2));
    b.events();
    for id in 1..=2 {
        b.inject(Packet::Publish(
            msg("t", b"x", QoS::ExactlyOnce).with_packet_id(id),
        ));
    }
    b.sent();
    b.events();
    b.inject(Packet::Publish(
        msg("t", b"x", QoS::ExactlyOnce).with_packet_id(3),
    ));
    assert_eq!(
        b.sent(),
        vec![Packet::Disconnect(Disconnect {
            reason_code: ReasonCode::ReceiveMaximumExceeded,
            properties: Default::default()
        })]
    );
    assert!(matches!(
        disconnected(&b.events()),
        Some(ConnectionError::Protocol(
            ProtocolViolation::ReceiveMaximumExceeded { maximum: 2 }
        ))
    ));
}

#[test]
fn inbound_receive_maximum_starts_afresh_on_each_connection() {
    // Two QoS 2 messages await PUBREL when the link drops. The server's send
    // quota is re-initialized on the new connection (5.0 section 4.9), so it
    // may send Receive Maximum new messages before releasing the old ones.
    let mut o = options(V5);
    o.receive_maximum = 2;
    o.strict_receive_maximum = true;
    let mut b = Broker::new(o);
    b.connect(false);
    b.events();
    for id in 1..=2 {
        b.inject(Packet::Publish(
            msg("t", b"old", QoS::ExactlyOnce).with_packet_id(id),
        ));
    }
    b.sent();
    b.drop_transport();
    b.run_timers_until(b.now + 2_000);
    b.open_transport();
    b.connack(true, ConnAckProperties::default());
    b.events();
    for id in 3..=4 {
        b.inject(Packet::Publish(
            msg("t", b"new", QoS::ExactlyOnce).with_packet_id(id),
        ));
    }
    assert_eq!(b.sent(), vec![pubrec(3), pubrec(4)]);
    let delivered = b
        .events()
        .iter()
        .filter(|e| matches!(e, Event::Message(_)))
        .count();
    assert_eq!(delivered, 2);
    // The old ids are still known: their PUBREL completes them.
    b.inject(pubrel(1));
    assert_eq!(b.sent(), vec![pubcomp(1)]);
    // The window is full on this connection (3 and 4 unreleased): a fifth
    // message breaks our Receive Maximum.
    b.inject(Packet::Publish(
        msg("t", b"x", QoS::ExactlyOnce).with_packet_id(5),
    ));
    assert!(matches!(
        disconnected(&b.events()),
        Some(ConnectionError::Protocol(
            ProtocolViolation::ReceiveMaximumExceeded { maximum: 2 }
        ))
    ));
}

#[test]
fn an_overrun_of_our_receive_maximum_is_accepted_and_counted_by_default() {
    // mosquitto 2.0.11 sends more than our Receive Maximum; by default the
    // client takes the extra publishes and keeps the connection.
    let mut o = options(V5);
    o.receive_maximum = 2;
    o.manual_acks = true;
    let mut b = Broker::new(o);
    b.connect(false);
    b.events();
    for id in 1..=3 {
        b.inject(Packet::Publish(
            msg("t", b"x", QoS::AtLeastOnce).with_packet_id(id),
        ));
    }
    for id in 4..=5 {
        b.inject(Packet::Publish(
            msg("t", b"x", QoS::ExactlyOnce).with_packet_id(id),
        ));
    }
    let sent = b.sent();
    assert!(
        !sent.iter().any(|p| matches!(p, Packet::Disconnect(_))),
        "{sent:?}"
    );
    let handles: Vec<_> = b
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => m.ack,
            _ => None,
        })
        .collect();
    assert_eq!(handles.len(), 5, "every publish delivered");
    assert_eq!(b.client.receive_maximum_overruns(), 3);
    assert_eq!(b.client.state(), midge_core::ConnectionState::Connected);
    // Each one can still be acknowledged.
    for handle in handles {
        b.client.ack(b.now, handle).unwrap();
    }
    assert_eq!(
        b.sent(),
        vec![
            Packet::PubAck(PubResponse::new(1)),
            Packet::PubAck(PubResponse::new(2)),
            Packet::PubAck(PubResponse::new(3)),
            Packet::PubRec(PubResponse::new(4)),
            Packet::PubRec(PubResponse::new(5)),
        ]
    );
}

#[test]
fn acks_for_unknown_packet_ids_are_counted_and_the_link_kept() {
    // A broker that resends acks after a reconnect must not cause a
    // reconnect storm: unknown PUBACK/PUBCOMP are ignored, an unknown
    // PUBREC is answered with PUBREL 0x92 (section 4.3.3), all are counted.
    for version in [V5, ProtocolVersion::V311] {
        let mut b = Broker::new(options(version));
        b.connect(false);
        b.events();
        let token = b
            .client
            .publish(b.now, Publish::new("t", &b"x"[..], QoS::AtLeastOnce))
            .unwrap();
        b.sent();
        b.inject(puback(999));
        b.inject(pubcomp(998));
        b.inject(pubrec(997));
        assert_eq!(b.client.unknown_acks(), 3);
        assert_eq!(b.client.state(), midge_core::ConnectionState::Connected);
        let sent = b.sent();
        assert!(
            matches!(&sent[..], [Packet::PubRel(r)] if r.packet_id == 997),
            "{sent:?}"
        );
        assert!(b.events().is_empty());
        // The real PUBACK still completes the publish.
        b.inject(puback(1));
        assert!(b.events().iter().any(
            |e| matches!(e, Event::PublishComplete { token: t, result: Ok(_) } if *t == token)
        ));
    }
}

#[test]
fn a_qos2_publish_answered_with_puback_ends_refused_instead_of_hanging() {
    // RabbitMQ 3.x has no QoS 2 and answers a QoS 2 PUBLISH with PUBACK; no
    // PUBREC follows. The publish ends, refused with QoS not supported and
    // why; the link stays up and the window moves on.
    for version in [V5, ProtocolVersion::V311] {
        let mut b = Broker::new(options(version));
        b.connect(false);
        b.events();
        let token = b
            .client
            .publish(b.now, Publish::new("t", &b"x"[..], QoS::ExactlyOnce))
            .unwrap();
        assert_eq!(publish_ids(&b.sent()), vec![(1, false)]);
        b.inject(puback(1));
        let events = b.events();
        let refused = events.iter().find_map(|e| match e {
            Event::PublishComplete {
                token: t,
                result:
                    Err(midge_core::PublishError::Rejected {
                        reason_code,
                        properties,
                    }),
            } if *t == token => Some((*reason_code, properties.reason_string.clone())),
            _ => None,
        });
        let (code, why) = refused.unwrap_or_else(|| panic!("not refused: {events:?}"));
        assert_eq!(code, ReasonCode::QoSNotSupported);
        assert!(why.unwrap().contains("does not support QoS 2"));
        assert_eq!(b.client.inflight_len(), 0);
        assert_eq!(b.client.unknown_acks(), 0);
        assert_eq!(b.client.state(), midge_core::ConnectionState::Connected);
        // Nothing is sent for it (no PUBREL), and the next publish goes out.
        assert!(b.sent().is_empty());
        b.client
            .publish(b.now, Publish::new("t", &b"y"[..], QoS::AtLeastOnce))
            .unwrap();
        assert_eq!(publish_ids(&b.sent()), vec![(2, false)]);
    }
}

#[test]
fn outbound_window_follows_the_server_receive_maximum() {
    let mut b = Broker::new(options(V5));
    b.client.connect(b.now).unwrap();
    b.open_transport();
    b.connack(
        false,
        ConnAckProperties {
            receive_maximum: Some(2),
            ..Default::default()
        },
    );
    b.events();
    for i in 0..5u8 {
        b.client
            .publish(b.now, Publish::new("w", vec![i], QoS::AtLeastOnce))
            .unwrap();
    }
    assert_eq!(publish_ids(&b.sent()), vec![(1, false), (2, false)]);
    assert_eq!(b.client.inflight_len(), 2);
    assert_eq!(b.client.queued_len(), 3);
    // QoS 0 waits its turn behind the queue, keeping publish order.
    b.client
        .publish(b.now, msg("w", b"q0", QoS::AtMostOnce))
        .unwrap();
    assert!(b.sent().is_empty());
    b.inject(puback(1));
    assert_eq!(publish_ids(&b.sent()), vec![(3, false)]);
    b.inject(puback(2));
    b.inject(puback(3));
    assert_eq!(
        publish_ids(&b.sent()),
        vec![(4, false), (5, false), (0, false)]
    );
    assert_eq!(b.client.queued_len(), 0);
}

#[test]
fn unacknowledged_publishes_are_resent_in_order_with_dup_after_reconnect() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    b.events();
    let t1 = b
        .client
        .publish(b.now, msg("r", b"1", QoS::AtLeastOnce))
        .unwrap();
    let _t2 = b
        .client
        .publish(b.now, msg("r", b"2", QoS::ExactlyOnce))
        .unwrap();
    let _t3 = b
        .client
        .publish(b.now, msg("r", b"3", QoS::ExactlyOnce))
        .unwrap();
    b.sent();
    b.inject(pubrec(3)); // the third reached PUBREL stage
    assert_eq!(b.sent(), vec![pubrel(3)]);
    b.drop_transport();
    let events = b.events();
    let Some(Event::Disconnected {
        error:
            ConnectionError::Transport(midge_core::TransportFailure {
                kind: midge_core::TransportFailureKind::Closed,
                ..
            }),
        reconnect_at: Some(at),
    }) = events.first()
    else {
        panic!("{events:?}")
    };
    assert!(
        *at >= b.now + 100 && *at <= b.now + 100 * 2,
        "first delay within [min, min*factor]"
    );
    assert!(matches!(
        b.client.state(),
        ConnectionState::WaitingToReconnect { .. }
    ));
    // Nothing happens before the deadline.
    b.client.handle_timeout(at - 1);
    assert!(b.commands().is_empty());
    b.now = *at;
    b.client.handle_timeout(b.now);
    b.open_transport();
    b.connack(true, ConnAckProperties::default());
    assert!(matches!(&b.events()[0], Event::Connected(c) if c.reconnected && c.session_present));
    let resent = b.sent();
    assert_eq!(publish_ids(&resent), vec![(1, true), (2, true)]);
    assert_eq!(resent.last(), Some(&pubrel(3)));
    b.inject(puback(1));
    assert_eq!(completions(&b.events()), vec![(t1.0, true)]);
}

#[test]
fn lost_session_resends_as_new_messages_and_restores_subscriptions() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    b.events();
    b.client
        .subscribe(
            b.now,
            vec![
                SubscribeFilter::new("a/#", QoS::AtLeastOnce),
                SubscribeFilter::new("b/+", QoS::ExactlyOnce),
            ],
            SubscribeProperties::default(),
        )
        .unwrap();
    let Some(Packet::Subscribe(sub)) = b.sent().pop() else {
        panic!()
    };
    b.inject(Packet::SubAck(SubAck {
        packet_id: sub.packet_id,
        reason_codes: vec![ReasonCode::GrantedQoS1, ReasonCode::GrantedQoS2],
        properties: Default::default(),
    }));
    b.events();
    let t1 = b
        .client
        .publish(b.now, msg("x", b"1", QoS::AtLeastOnce))
        .unwrap();
    let t2 = b
        .client
        .publish(b.now, msg("x", b"2", QoS::ExactlyOnce))
        .unwrap();
    b.sent();
    b.inject(pubrec(3)); // t2 has packet id 3 (1 went to SUBSCRIBE)
    b.sent();
    b.drop_transport();
    b.events();
    b.run_timers_until(b.now + 2_000);
    b.open_transport();
    b.connack(false, ConnAckProperties::default());
    let events = b.events();
    // PUBREC had come back for t2: the broker delivered it; it completes.
    assert_eq!(completions(&events), vec![(t2.0, true)]);
    let sent = b.sent();
    let resubscribe: Vec<&str> = sent
        .iter()
        .filter_map(|p| match p {
            Packet::Subscribe(s) => Some(s.filters.iter().map(|f| f.filter.as_str())),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(resubscribe, vec!["a/#", "b/+"]);
    // t1 goes again as a fresh message (no DUP: this session never saw it).
    let publishes = publish_ids(&sent);
    assert_eq!(publishes.len(), 1);
    assert!(!publishes[0].1);
    b.inject(puback(publishes[0].0));
    assert_eq!(completions(&b.events()), vec![(t1.0, true)]);
}

#[test]
fn offline_queue_is_bounded_and_flushed_after_connect() {
    let mut o = options(V5);
    o.max_queued_messages = 3;
    let mut b = Broker::new(o);
    for i in 0..3u8 {
        b.client
            .publish(b.now, Publish::new("q", vec![i], QoS::AtLeastOnce))
            .unwrap();
    }
    let err = b
        .client
        .publish(b.now, msg("q", b"overflow", QoS::AtMostOnce))
        .unwrap_err();
    assert_eq!(err, ClientError::QueueFull { limit: 3 });
    assert!(err.to_string().contains("max_queued_messages"));
    assert!(b.sent().is_empty(), "nothing is written while offline");
    b.connect(false);
    let payloads: Vec<Vec<u8>> = b
        .sent()
        .into_iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some(p.payload.to_vec()),
            _ => None,
        })
        .collect();
    assert_eq!(payloads, vec![vec![0], vec![1], vec![2]]);
}

#[test]
fn keep_alive_pings_and_times_out_on_a_black_hole() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    b.events();
    let connected_at = b.now;
    // The deadline is keep-alive after the last packet sent (CONNECT).
    assert_eq!(b.client.poll_timeout(), Some(connected_at + 30_000));
    b.now += 20_000;
    b.client
        .publish(b.now, msg("k", b"x", QoS::AtMostOnce))
        .unwrap();
    b.sent();
    assert_eq!(b.client.poll_timeout(), Some(b.now + 30_000));
    b.run_timers_until(b.now + 30_000);
    assert_eq!(b.sent(), vec![Packet::PingReq]);
    assert!(b.client.awaiting_non_publish_answer(), "PINGRESP is owed");
    b.inject(Packet::PingResp);
    assert!(!b.client.awaiting_non_publish_answer());
    assert_eq!(b.client.poll_timeout(), Some(b.now + 30_000));
    // Now the broker goes silent.
    b.run_timers_until(b.now + 30_000);
    assert_eq!(b.sent(), vec![Packet::PingReq]);
    b.run_timers_until(b.now + 10_000);
    let events = b.events();
    assert!(matches!(
        disconnected(&events),
        Some(ConnectionError::KeepAliveTimeout { timeout_ms: 10_000 })
    ));
    assert_eq!(
        b.sent(),
        vec![Packet::Disconnect(Disconnect {
            reason_code: ReasonCode::KeepAliveTimeout,
            properties: Default::default()
        })]
    );
    assert_eq!(b.commands(), vec![TransportCommand::Close]);
}

#[test]
fn backoff_grows_within_bounds_and_resets_after_a_stable_connection() {
    let mut o = options(V5);
    o.reconnect_on_initial_failure = true;
    let mut b = Broker::new(o);
    b.client.connect(b.now).unwrap();
    let mut delays = Vec::new();
    for _ in 0..8 {
        let _ = b.commands();
        b.client.handle_transport_closed(b.now); // the open failed
        let events = b.events();
        let Some(Event::Disconnected {
            reconnect_at: Some(at),
            ..
        }) = events.first()
        else {
            panic!("{events:?}")
        };
        delays.push(at - b.now);
        b.now = *at;
        b.client.handle_timeout(b.now);
    }
    for (attempt, delay) in delays.iter().enumerate() {
        let ceiling = (100u64 << attempt).min(1_000);
        assert!(
            (100..=ceiling).contains(delay),
            "attempt {attempt}: {delay} not in [100, {ceiling}]"
        );
    }
    // Connect and stay up longer than stable_after: the next delay starts small again.
    b.open_transport();
    b.connack(false, ConnAckProperties::default());
    assert!(matches!(b.events().as_slice(), [Event::Connected(_)]));
    b.now += 6_000;
    b.drop_transport();
    let events = b.events();
    let Some(Event::Disconnected {
        reconnect_at: Some(at),
        ..
    }) = events.first()
    else {
        panic!()
    };
    assert!(
        at - b.now <= 100,
        "delay after a stable connection: {}",
        at - b.now
    );
}

#[test]
fn servers_are_tried_in_turn() {
    let mut o = options(V5);
    o.servers = vec![
        "mqtt://one.test".parse().unwrap(),
        "ws://two.test:8080/mqtt".parse().unwrap(),
    ];
    o.reconnect_on_initial_failure = true;
    let mut b = Broker::new(o);
    b.client.connect(b.now).unwrap();
    let mut hosts = Vec::new();
    for _ in 0..4 {
        let commands = b.commands();
        let Some(TransportCommand::Open(server)) = commands.last() else {
            panic!()
        };
        hosts.push(server.host.clone());
        b.client.handle_transport_closed(b.now);
        b.run_timers_until(b.now + 2_000);
    }
    assert_eq!(hosts, vec!["one.test", "two.test", "one.test", "two.test"]);
}

#[test]
fn network_changed_skips_the_backoff_wait() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    b.drop_transport();
    b.events();
    assert!(matches!(
        b.client.state(),
        ConnectionState::WaitingToReconnect { .. }
    ));
    b.client.network_changed(b.now);
    assert!(matches!(
        b.commands().as_slice(),
        [TransportCommand::Open(_)]
    ));
}

#[test]
fn user_disconnect_sends_reason_and_properties_and_stops_reconnecting() {
    let mut o = options(V5);
    o.connect_properties.session_expiry_interval = Some(60);
    let mut b = Broker::new(o);
    b.connect(false);
    b.events();
    b.client
        .disconnect(
            b.now,
            ReasonCode::DisconnectWithWillMessage,
            DisconnectProperties {
                session_expiry_interval: Some(0),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        b.sent(),
        vec![Packet::Disconnect(Disconnect {
            reason_code: ReasonCode::DisconnectWithWillMessage,
            properties: DisconnectProperties {
                session_expiry_interval: Some(0),
                ..Default::default()
            }
        })]
    );
    assert_eq!(b.commands(), vec![TransportCommand::Close]);
    b.drop_transport();
    assert_eq!(b.client.state(), ConnectionState::Disconnected);
    assert_eq!(b.client.poll_timeout(), None);
}

#[test]
fn disconnect_rejects_raising_a_zero_session_expiry() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    let err = b
        .client
        .disconnect(
            b.now,
            ReasonCode::Success,
            DisconnectProperties {
                session_expiry_interval: Some(10),
                ..Default::default()
            },
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::InvalidArgument {
                argument: "properties.session_expiry_interval",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn server_disconnect_is_surfaced_with_its_reason() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    b.events();
    b.inject(Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::ServerShuttingDown,
        properties: DisconnectProperties {
            reason_string: Some("maintenance".into()),
            ..Default::default()
        },
    }));
    let events = b.events();
    let Some(ConnectionError::ServerDisconnect {
        reason_code,
        properties,
    }) = disconnected(&events)
    else {
        panic!("{events:?}")
    };
    assert_eq!(*reason_code, ReasonCode::ServerShuttingDown);
    assert_eq!(properties.reason_string.as_deref(), Some("maintenance"));
    assert!(disconnected(&events)
        .unwrap()
        .to_string()
        .contains("maintenance"));
    assert!(
        b.sent().is_empty(),
        "no DISCONNECT in answer to the server's"
    );
}

#[test]
fn protocol_violations_get_a_disconnect_with_the_right_reason() {
    let cases: Vec<(Packet, ReasonCode)> = vec![
        // (Unknown PUBACK/PUBCOMP are not among them: they are counted and
        // the link kept, see acks_for_unknown_packet_ids_are_counted_and_the_link_kept.)
        (Packet::ConnAck(Box::default()), ReasonCode::ProtocolError),
        (Packet::PingReq, ReasonCode::ProtocolError),
        (
            Packet::SubAck(SubAck {
                packet_id: 42,
                reason_codes: vec![ReasonCode::Success],
                properties: Default::default(),
            }),
            ReasonCode::ProtocolError,
        ),
        (
            Packet::Publish({
                let mut p = msg("t", b"x", QoS::AtMostOnce);
                p.properties.topic_alias = Some(1); // we allow no aliases
                p
            }),
            ReasonCode::TopicAliasInvalid,
        ),
    ];
    for (packet, expected) in cases {
        let mut b = Broker::new(options(V5));
        b.connect(false);
        b.events();
        b.inject(packet.clone());
        assert_eq!(
            b.sent(),
            vec![Packet::Disconnect(Disconnect {
                reason_code: expected,
                properties: Default::default()
            })],
            "for {packet:?}"
        );
        assert!(matches!(
            disconnected(&b.events()),
            Some(ConnectionError::Protocol(_))
        ));
        assert_eq!(b.commands(), vec![TransportCommand::Close]);
    }
}

#[test]
fn malformed_bytes_are_an_error_value_not_a_panic() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    b.events();
    // PUBLISH with QoS 3.
    b.inject_bytes(&[0x36, 0x05, 0x00, 0x01, b't', 0x00, 0x01]);
    let events = b.events();
    let Some(ConnectionError::Protocol(ProtocolViolation::Decode(e))) = disconnected(&events)
    else {
        panic!("{events:?}")
    };
    assert_eq!(e.reason_code(), ReasonCode::MalformedPacket);
    assert_eq!(
        b.sent(),
        vec![Packet::Disconnect(Disconnect {
            reason_code: ReasonCode::MalformedPacket,
            properties: Default::default()
        })]
    );
}

#[test]
fn a_maximum_packet_size_the_user_set_is_sent_in_connect() {
    let mut o = options(V5);
    o.max_incoming_packet_size = 64 * 1024;
    let mut b = Broker::new(o);
    b.client.connect(b.now).unwrap();
    let Packet::Connect(connect) = b.open_transport() else {
        panic!("first packet must be CONNECT")
    };
    assert_eq!(connect.properties.maximum_packet_size, Some(64 * 1024));
}

#[test]
fn a_packet_of_several_mebibytes_is_accepted_by_default() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    b.events();
    let payload = vec![7u8; 3 * 1024 * 1024];
    b.inject(Packet::Publish(Publish::new(
        "big",
        payload.clone(),
        QoS::AtMostOnce,
    )));
    let events = b.events();
    assert!(
        matches!(&events[..], [Event::Message(m)] if m.publish.payload.len() == payload.len()),
        "{} events",
        events.len()
    );
}

#[test]
fn oversized_packet_is_refused_before_buffering_it() {
    let mut o = options(V5);
    o.max_incoming_packet_size = 1024;
    let mut b = Broker::new(o);
    b.connect(false);
    b.events();
    // A PUBLISH header announcing 1 MB; only the header arrives.
    b.inject_bytes(&[0x30, 0x80, 0x80, 0x40]);
    let events = b.events();
    let Some(ConnectionError::Protocol(v)) = disconnected(&events) else {
        panic!("{events:?}")
    };
    assert_eq!(v.reason_code(), ReasonCode::PacketTooLarge);
}

#[test]
fn topic_aliases_both_ways() {
    let mut o = options(V5);
    o.topic_alias_maximum = 5;
    o.outbound_topic_aliases = true;
    let mut b = Broker::new(o);
    b.client.connect(b.now).unwrap();
    let Packet::Connect(connect) = b.open_transport() else {
        panic!()
    };
    assert_eq!(connect.properties.topic_alias_maximum, Some(5));
    b.connack(
        false,
        ConnAckProperties {
            topic_alias_maximum: Some(1),
            ..Default::default()
        },
    );
    b.events();
    // Outbound: first use sends topic + alias, then the alias alone; a second
    // topic finds no free alias and goes plain.
    for topic in ["sensors/t", "sensors/t", "sensors/h"] {
        b.client
            .publish(b.now, msg(topic, b"1", QoS::AtMostOnce))
            .unwrap();
    }
    let sent: Vec<(String, Option<u16>)> = b
        .sent()
        .into_iter()
        .filter_map(|p| match p {
            Packet::Publish(p) => Some((p.topic, p.properties.topic_alias)),
            _ => None,
        })
        .collect();
    assert_eq!(
        sent,
        vec![
            ("sensors/t".to_string(), Some(1)),
            (String::new(), Some(1)),
            ("sensors/h".to_string(), None)
        ]
    );
    // Inbound: the alias is defined, then resolved.
    let mut first = msg("room/1", b"a", QoS::AtMostOnce);
    first.properties.topic_alias = Some(3);
    let mut second = msg("", b"b", QoS::AtMostOnce);
    second.properties.topic_alias = Some(3);
    b.inject(Packet::Publish(first));
    b.inject(Packet::Publish(second));
    let topics: Vec<String> = b
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Message(m) => Some(m.publish.topic),
            _ => None,
        })
        .collect();
    assert_eq!(topics, vec!["room/1", "room/1"]);
    // An alias never defined on this connection is a protocol error.
    let mut unknown = msg("", b"c", QoS::AtMostOnce);
    unknown.properties.topic_alias = Some(4);
    b.inject(Packet::Publish(unknown));
    assert!(matches!(
        disconnected(&b.events()),
        Some(ConnectionError::Protocol(
            ProtocolViolation::TopicAliasUnknown { alias: 4 }
        ))
    ));
}

#[test]
fn subscribe_and_unsubscribe_report_per_filter_results() {
    for version in [V5, V311] {
        let mut b = Broker::new(options(version));
        // Made while offline: sent once connected.
        let token = b
            .client
            .subscribe(
                b.now,
                vec![
                    SubscribeFilter::new("ok/#", QoS::ExactlyOnce),
                    SubscribeFilter::new("denied/+", QoS::AtLeastOnce),
                ],
                SubscribeProperties::default(),
            )
            .unwrap();
        b.connect(false);
        b.events();
        let Some(Packet::Subscribe(sub)) = b.sent().pop() else {
            panic!()
        };
        b.inject(Packet::SubAck(SubAck {
            packet_id: sub.packet_id,
            reason_codes: vec![ReasonCode::GrantedQoS1, ReasonCode::UnspecifiedError],
            properties: Default::default(),
        }));
        let events = b.events();
        match &events[..] {
            [Event::Subscribed {
                token: t, results, ..
            }] => {
                assert_eq!(*t, token);
                assert_eq!(
                    results,
                    &vec![Ok(QoS::AtLeastOnce), Err(ReasonCode::UnspecifiedError)]
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(b.client.subscriptions().len(), 1);
        let token = b
            .client
            .unsubscribe(b.now, vec!["ok/#".into()], UnsubscribeProperties::default())
            .unwrap();
        let Some(Packet::Unsubscribe(unsub)) = b.sent().pop() else {
            panic!()
        };
        b.inject(Packet::UnsubAck(UnsubAck {
            packet_id: unsub.packet_id,
            reason_codes: if version == V5 {
                vec![ReasonCode::Success]
            } else {
                vec![]
            },
            properties: Default::default(),
        }));
        let events = b.events();
        assert!(
            matches!(&events[..], [Event::Unsubscribed { token: t, results, .. }] if *t == token && results == &vec![ReasonCode::Success]),
            "{events:?}"
        );
        assert!(b.client.subscriptions().is_empty());
    }
}

#[test]
fn bad_arguments_name_the_argument_and_never_reach_the_wire() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    b.events();
    let cases: Vec<(ClientError, &str)> = vec![
        (
            b.client
                .publish(b.now, msg("a/+", b"", QoS::AtMostOnce))
                .unwrap_err(),
            "topic",
        ),
        (
            b.client
                .publish(b.now, msg("", b"", QoS::AtMostOnce))
                .unwrap_err(),
            "topic",
        ),
        (
            b.client
                .publish(b.now, msg("a\0b", b"", QoS::AtMostOnce))
                .unwrap_err(),
            "topic",
        ),
        (
            b.client
                .subscribe(
                    b.now,
                    vec![SubscribeFilter::new("a/#/b", QoS::AtMostOnce)],
                    Default::default(),
                )
                .unwrap_err(),
            "filters",
        ),
        (
            b.client
                .subscribe(b.now, vec![], Default::default())
                .unwrap_err(),
            "filters",
        ),
        (
            b.client
                .subscribe(
                    b.now,
                    vec![SubscribeFilter::new("a", QoS::AtMostOnce)],
                    SubscribeProperties {
                        subscription_identifier: Some(0),
                        ..Default::default()
                    },
                )
                .unwrap_err(),
            "subscription_identifier",
        ),
        (
            b.client
                .publish(b.now, {
                    let mut p = msg("a", b"\xff", QoS::AtMostOnce);
                    p.properties = PublishProperties {
                        payload_format_indicator: Some(true),
                        ..Default::default()
                    };
                    p
                })
                .unwrap_err(),
            "payload",
        ),
    ];
    for (err, argument) in cases {
        match &err {
            ClientError::InvalidArgument { argument: a, rule } => {
                assert_eq!(*a, argument);
                assert!(!rule.is_empty());
                assert!(err.to_string().contains(argument));
            }
            other => panic!("expected InvalidArgument for {argument}, got {other:?}"),
        }
    }
    assert!(b.sent().is_empty());
}

#[test]
fn server_limits_from_connack_are_honoured() {
    let mut b = Broker::new(options(V5));
    b.client.connect(b.now).unwrap();
    b.open_transport();
    b.connack(
        false,
        ConnAckProperties {
            maximum_qos: Some(QoS::AtLeastOnce),
            retain_available: Some(false),
            maximum_packet_size: Some(64),
            ..Default::default()
        },
    );
    b.events();
    assert_eq!(
        b.client
            .publish(b.now, msg("a", b"x", QoS::ExactlyOnce))
            .unwrap_err(),
        ClientError::QoSNotSupported {
            requested: QoS::ExactlyOnce,
            maximum: QoS::AtLeastOnce
        }
    );
    let mut retained = msg("a", b"x", QoS::AtMostOnce);
    retained.retain = true;
    assert_eq!(
        b.client.publish(b.now, retained).unwrap_err(),
        ClientError::RetainNotSupported
    );
    let big = Publish::new("a", vec![0u8; 100], QoS::AtLeastOnce);
    assert!(matches!(
        b.client.publish(b.now, big).unwrap_err(),
        ClientError::PacketTooLarge { maximum: 64, .. }
    ));
    assert!(b.sent().is_empty());
    // A QoS 1 publish that fits is sized with its packet id still unassigned
    // (2 bytes counted) and goes out.
    let fits = Publish::new("a", vec![0u8; 50], QoS::AtLeastOnce);
    b.client.publish(b.now, fits).unwrap();
    assert_eq!(publish_ids(&b.sent()), vec![(1, false)]);
    // The limit is inclusive: a packet of exactly 64 bytes goes, 65 does not.
    let mut size = 0;
    for payload in 50..70 {
        let p = Publish::new("a", vec![0u8; payload], QoS::AtLeastOnce).with_packet_id(1);
        if midge_core::packet::encoded_len(&Packet::Publish(p), V5).unwrap() == 64 {
            size = payload;
        }
    }
    let exact = Publish::new("a", vec![0u8; size], QoS::AtLeastOnce);
    b.client.publish(b.now, exact).unwrap();
    let over = Publish::new("a", vec![0u8; size + 1], QoS::AtLeastOnce);
    assert!(matches!(
        b.client.publish(b.now, over).unwrap_err(),
        ClientError::PacketTooLarge {
            size: 65,
            maximum: 64
        }
    ));
}

#[test]
fn v311_connect_and_flows() {
    let mut o = options(V311);
    o.username = Some("u".into());
    o.password = Some(Bytes::from_static(b"p"));
    let mut b = Broker::new(o);
    let Packet::Connect(connect) = b.connect(false) else {
        panic!()
    };
    assert_eq!(connect.protocol, V311);
    assert!(!connect.clean_start);
    assert!(matches!(&b.events()[0], Event::Connected(_)));
    let token = b
        .client
        .publish(b.now, msg("a", b"x", QoS::ExactlyOnce))
        .unwrap();
    assert_eq!(publish_ids(&b.sent()), vec![(1, false)]);
    b.inject(pubrec(1));
    assert_eq!(b.sent(), vec![pubrel(1)]);
    b.inject(pubcomp(1));
    assert_eq!(completions(&b.events()), vec![(token.0, true)]);
    // 5.0-only things are refused with a clear error.
    let mut with_props = msg("a", b"x", QoS::AtMostOnce);
    with_props.properties.content_type = Some("text/plain".into());
    assert!(matches!(
        b.client.publish(b.now, with_props),
        Err(ClientError::InvalidArgument {
            argument: "properties",
            ..
        })
    ));
}

#[test]
fn enhanced_authentication_exchange() {
    let mut o = options(V5);
    o.connect_properties.authentication_method = Some("SCRAM-SHA-1".into());
    o.connect_properties.authentication_data = Some(Bytes::from_static(b"client-first"));
    let mut b = Broker::new(o);
    b.client.connect(b.now).unwrap();
    let Packet::Connect(connect) = b.open_transport() else {
        panic!()
    };
    assert_eq!(
        connect.properties.authentication_method.as_deref(),
        Some("SCRAM-SHA-1")
    );
    b.inject(Packet::Auth(midge_core::packet::Auth {
        reason_code: ReasonCode::ContinueAuthentication,
        properties: AuthProperties {
            authentication_method: Some("SCRAM-SHA-1".into()),
            authentication_data: Some(Bytes::from_static(b"server-first")),
            ..Default::default()
        },
    }));
    let events = b.events();
    assert!(matches!(
        &events[..],
        [Event::Auth { reason_code: ReasonCode::ContinueAuthentication, properties }]
            if properties.authentication_data.as_deref() == Some(&b"server-first"[..])
    ));
    // No method given: the CONNECT's is sent (the exchange keeps its method).
    b.client
        .auth(
            b.now,
            AuthProperties {
                authentication_data: Some(Bytes::from_static(b"client-final")),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(
        matches!(&b.sent()[..], [Packet::Auth(a)] if a.reason_code == ReasonCode::ContinueAuthentication
            && a.properties.authentication_method.as_deref() == Some("SCRAM-SHA-1"))
    );
    b.connack(false, ConnAckProperties::default());
    assert!(matches!(&b.events()[0], Event::Connected(_)));
}

#[test]
fn partial_frames_across_reads_are_reassembled() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    b.events();
    let mut wire = Vec::new();
    for id in 1..=3u16 {
        midge_core::packet::encode_packet(
            &Packet::Publish(
                msg("split/topic", b"payload bytes", QoS::AtLeastOnce).with_packet_id(id),
            ),
            V5,
            &mut wire,
        )
        .unwrap();
    }
    for byte in &wire {
        b.client.handle_bytes(b.now, std::slice::from_ref(byte));
    }
    let messages = b
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::Message(_)))
        .count();
    assert_eq!(messages, 3);
    assert_eq!(b.sent(), vec![puback(1), puback(2), puback(3)]);
}

#[test]
fn store_restore_resumes_the_session_exactly() {
    // First process: publishes while offline and mid-flight, then "dies".
    let client = Client::new(options(V5)).unwrap();
    let mut b = Broker::durable(client, MemoryStore::default());
    b.connect(false);
    b.events();
    let t1 = b
        .client
        .publish(b.now, msg("d", b"1", QoS::AtLeastOnce))
        .unwrap();
    let t2 = b
        .client
        .publish(b.now, msg("d", b"2", QoS::ExactlyOnce))
        .unwrap();
    b.sent();
    b.inject(pubrec(2));
    b.sent();
    b.inject(Packet::Publish(
        msg("in", b"q2", QoS::ExactlyOnce).with_packet_id(50),
    ));
    b.sent();
    b.drop_transport();
    let t3 = b
        .client
        .publish(b.now, msg("d", b"3", QoS::ExactlyOnce))
        .unwrap();
    let snapshot = b.client.session_state();
    b.persist();
    let stored = b.store.take().unwrap().state().clone();
    drop(b);

    assert_eq!(
        stored, snapshot,
        "the store saw every change the client made"
    );
    assert_eq!(
        stored
            .outbound
            .iter()
            .map(|e| (e.token, e.stage))
            .collect::<Vec<_>>(),
        vec![
            (t1, OutboundStage::AwaitingPubAck),
            (t2, OutboundStage::AwaitingPubComp),
            (t3, OutboundStage::Queued)
        ]
    );
    assert!(stored.inbound_qos2.contains(&50));

    // Second process: a fresh client from the bytes of the snapshot.
    let restored = SessionState::from_bytes(&stored.to_bytes()).unwrap();
    let mut b = Broker::with_client(Client::with_session(options(V5), restored).unwrap());
    b.connect(true);
    b.events();
    let sent = b.sent();
    assert_eq!(publish_ids(&sent)[0], (1, true));
    assert!(sent.contains(&pubrel(2)));
    // The queued publish gets the next packet id, not one still in use.
    assert_eq!(publish_ids(&sent)[1], (3, false));
    // The inbound QoS 2 id is still known: its resend is not delivered twice.
    let mut dup = msg("in", b"q2", QoS::ExactlyOnce).with_packet_id(50);
    dup.dup = true;
    b.inject(Packet::Publish(dup));
    assert!(!b.events().iter().any(|e| matches!(e, Event::Message(_))));
    b.inject(puback(1));
    b.inject(pubcomp(2));
    b.inject(pubrec(3));
    b.inject(pubcomp(3));
    assert_eq!(
        completions(&b.events()),
        vec![(t1.0, true), (t2.0, true), (t3.0, true)]
    );
    // New tokens continue after the restored ones.
    let t4 = b
        .client
        .publish(b.now, msg("d", b"4", QoS::AtMostOnce))
        .unwrap();
    assert!(t4 > t3);
}

#[test]
fn debug_output_never_shows_the_password() {
    let mut o = options(V5);
    o.password = Some(Bytes::from_static(b"hunter2"));
    o.username = Some("alice".into());
    let client = Client::new(o.clone()).unwrap();
    assert!(!format!("{o:?}").contains("hunter2"));
    assert!(!format!("{client:?}").contains("hunter2"));
}

/// Sets one option of a test case.
type SetOption = Box<dyn Fn(&mut ClientOptions)>;

#[test]
fn connect_fields_over_65535_bytes_are_refused_at_construction() {
    // They used to pass the constructor; the CONNECT then failed to encode,
    // nothing went out and the user waited for the connect timeout.
    let cases: Vec<(&str, SetOption)> = vec![
        (
            "connect_properties.authentication_data",
            Box::new(|o| {
                o.connect_properties.authentication_method = Some("M".into());
                o.connect_properties.authentication_data = Some(Bytes::from(vec![0u8; 70_000]));
            }),
        ),
        (
            "connect_properties.authentication_method",
            Box::new(|o| o.connect_properties.authentication_method = Some("m".repeat(70_000))),
        ),
        (
            "connect_properties.user_properties",
            Box::new(|o| {
                o.connect_properties
                    .user_properties
                    .push(("k".into(), "v".repeat(70_000)))
            }),
        ),
        (
            "will.properties.correlation_data",
            Box::new(|o| {
                let mut will = LastWill {
                    topic: "w".into(),
                    ..Default::default()
                };
                will.properties.correlation_data = Some(Bytes::from(vec![1u8; 70_000]));
                o.will = Some(will);
            }),
        ),
        (
            "will.properties.response_topic",
            Box::new(|o| {
                let mut will = LastWill {
                    topic: "w".into(),
                    ..Default::default()
                };
                will.properties.response_topic = Some("r".repeat(70_000));
                o.will = Some(will);
            }),
        ),
    ];
    for (argument, set) in cases {
        let mut o = options(V5);
        set(&mut o);
        match Client::new(o) {
            Err(ClientError::InvalidArgument { argument: a, rule }) => {
                assert_eq!(a, argument, "{rule}");
                assert!(rule.contains("65,535"), "{rule}");
            }
            other => panic!("{argument}: {other:?}"),
        }
    }
}

#[test]
fn packets_above_the_server_maximum_packet_size_are_not_sent() {
    // [MQTT-3.2.2-15]: the client must not send packets above the server's
    // Maximum Packet Size; it was enforced for PUBLISH only.
    let small = ConnAckProperties {
        maximum_packet_size: Some(64),
        ..Default::default()
    };
    let long_filter = format!("sensors/{}/#", "x".repeat(80));

    // Connected: SUBSCRIBE and UNSUBSCRIBE are refused, typed, nothing sent.
    let mut b = Broker::new(options(V5));
    b.client.connect(b.now).unwrap();
    b.open_transport();
    b.connack(false, small.clone());
    b.events();
    let err = b
        .client
        .subscribe(
            b.now,
            vec![SubscribeFilter::new(long_filter.clone(), QoS::AtLeastOnce)],
            Default::default(),
        )
        .unwrap_err();
    assert!(
        matches!(err, ClientError::PacketTooLarge { maximum: 64, size } if size > 64),
        "{err:?}"
    );
    let err = b
        .client
        .unsubscribe(b.now, vec![long_filter.clone()], Default::default())
        .unwrap_err();
    assert!(
        matches!(err, ClientError::PacketTooLarge { maximum: 64, .. }),
        "{err:?}"
    );
    assert!(b.sent().is_empty());

    // DISCONNECT: the reason string and user properties are left out.
    b.client
        .disconnect(
            b.now,
            ReasonCode::Success,
            DisconnectProperties {
                reason_string: Some("r".repeat(100)),
                user_properties: vec![("k".into(), "v".repeat(100))],
                ..Default::default()
            },
        )
        .unwrap();
    let sent = b.sent();
    assert!(
        matches!(&sent[..], [Packet::Disconnect(d)] if d.properties.reason_string.is_none() && d.properties.user_properties.is_empty()),
        "{sent:?}"
    );

    // Made offline: answered locally, each filter 0x95, once the CONNACK
    // shows that this server's maximum does not allow it.
    let mut b = Broker::new(options(V5));
    let token = b
        .client
        .subscribe(
            b.now,
            vec![SubscribeFilter::new(long_filter, QoS::AtLeastOnce)],
            Default::default(),
        )
        .unwrap();
    b.client.connect(b.now).unwrap();
    b.open_transport();
    b.connack(false, small);
    assert!(b.sent().is_empty(), "nothing after CONNECT");
    let events = b.events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Subscribed { token: t, results, .. }
            if *t == token && results == &vec![Err(ReasonCode::PacketTooLarge)])),
        "{events:?}"
    );
}

#[test]
fn reconnected_marks_automatic_reconnects_only() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    assert!(matches!(&b.events()[..], [Event::Connected(c)] if !c.reconnected));
    // Lost: the policy reconnects, and says so.
    b.drop_transport();
    b.run_timers_until(b.now + 2_000);
    b.open_transport();
    b.connack(true, Default::default());
    assert!(b
        .events()
        .iter()
        .any(|e| matches!(e, Event::Connected(c) if c.reconnected)));
    // An explicit connect() after disconnect() is the application's own.
    b.client
        .disconnect(b.now, ReasonCode::Success, Default::default())
        .unwrap();
    b.client.handle_transport_closed(b.now);
    b.events();
    b.client.connect(b.now).unwrap();
    b.open_transport();
    b.connack(true, Default::default());
    assert!(b
        .events()
        .iter()
        .any(|e| matches!(e, Event::Connected(c) if !c.reconnected)));
}

// ---- Server redirection (issue 14, item 5) ----

fn redirect_connack(b: &mut Broker, reason_code: ReasonCode, reference: &str) {
    b.inject(Packet::ConnAck(Box::new(midge_core::packet::ConnAck {
        session_present: false,
        reason_code,
        properties: ConnAckProperties {
            server_reference: Some(reference.into()),
            ..Default::default()
        },
    })));
}

fn redirect_disconnect(b: &mut Broker, reason_code: ReasonCode, reference: &str) {
    b.inject(Packet::Disconnect(Disconnect {
        reason_code,
        properties: DisconnectProperties {
            server_reference: Some(reference.into()),
            ..Default::default()
        },
    }));
}

fn redirects(events: &[Event]) -> Vec<midge_core::Redirect> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Redirected(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

/// The server the client opens next, after the current transport closed.
fn next_open(b: &mut Broker) -> String {
    b.drop_transport();
    let deadline = b.client.poll_timeout().expect("a reconnect is scheduled");
    b.run_timers_until(deadline);
    match b.commands().last() {
        Some(TransportCommand::Open(server)) => server.to_string(),
        other => panic!("expected Open, got {other:?}"),
    }
}

#[test]
fn a_redirect_is_reported_and_not_followed_unless_asked() {
    let mut b = Broker::new(options(V5));
    b.client.connect(b.now).unwrap();
    b.open_transport();
    redirect_connack(&mut b, ReasonCode::UseAnotherServer, "other.test:1999");
    let events = b.events();
    let [Event::Redirected(r), Event::Disconnected {
        error: ConnectionError::Refused { reason_code, .. },
        reconnect_at: None,
    }] = &events[..]
    else {
        panic!("{events:?}")
    };
    assert_eq!(*reason_code, ReasonCode::UseAnotherServer);
    assert_eq!(r.server_reference, "other.test:1999");
    assert_eq!(
        r.target.as_ref().map(|t| t.to_string()).as_deref(),
        Some("mqtt://other.test:1999")
    );
    assert!(!r.followed);

    // Connected, then told to go: the policy reconnects to its own server.
    let mut b = Broker::new(options(V5));
    b.connect(false);
    b.events();
    redirect_disconnect(&mut b, ReasonCode::ServerMoved, "moved.test");
    assert!(!redirects(&b.events())[0].followed);
    assert_eq!(next_open(&mut b), "mqtt://broker.test:1883");
}

#[test]
fn use_another_server_is_followed_at_once_for_one_connection() {
    let mut o = options(V5);
    o.follow_redirects = true;
    let mut b = Broker::new(o);
    b.connect(false);
    b.events();
    redirect_disconnect(&mut b, ReasonCode::UseAnotherServer, "b.test:1884");
    let events = b.events();
    assert!(redirects(&events)[0].followed);
    assert!(
        matches!(events.last(), Some(Event::Disconnected { reconnect_at: Some(at), .. }) if *at == b.now),
        "{events:?}"
    );
    assert_eq!(next_open(&mut b), "mqtt://b.test:1884");
    b.client.handle_transport_open(b.now);
    b.sent();
    b.connack(true, ConnAckProperties::default());
    let events = b.events();
    assert!(
        matches!(&events[0], Event::Connected(c) if c.server.to_string() == "mqtt://b.test:1884"),
        "{events:?}"
    );
    // Temporary: the connection after it goes back to the configured server.
    assert_eq!(next_open(&mut b), "mqtt://broker.test:1883");
}

#[test]
fn server_moved_replaces_the_server_and_a_refusal_on_first_connect_is_followed() {
    let mut o = options(V5);
    o.follow_redirects = true;
    let mut b = Broker::new(o);
    b.client.connect(b.now).unwrap();
    b.open_transport();
    // The first attempt is refused with a redirect: followed although
    // `reconnect_on_initial_failure` is off (the application opted in).
    redirect_connack(&mut b, ReasonCode::ServerMoved, "mqtt://moved.test:2000");
    assert!(redirects(&b.events())[0].followed);
    assert_eq!(next_open(&mut b), "mqtt://moved.test:2000");
    b.client.handle_transport_open(b.now);
    b.sent();
    b.connack(false, ConnAckProperties::default());
    b.events();
    assert_eq!(next_open(&mut b), "mqtt://moved.test:2000");
}

#[test]
fn a_redirect_loop_ends_after_max_redirects() {
    let mut o = options(V5);
    o.follow_redirects = true;
    let mut b = Broker::new(o);
    b.client.connect(b.now).unwrap();
    b.open_transport();
    let mut followed = Vec::new();
    loop {
        redirect_connack(&mut b, ReasonCode::UseAnotherServer, "loop.test");
        let events = b.events();
        let r = redirects(&events);
        followed.push(r[0].followed);
        if !r[0].followed {
            // Back to the policy: the first connection never succeeded.
            assert!(matches!(
                events.last(),
                Some(Event::Disconnected {
                    reconnect_at: None,
                    ..
                })
            ));
            break;
        }
        assert_eq!(next_open(&mut b), "mqtt://loop.test:1883");
        b.client.handle_transport_open(b.now);
        b.sent();
    }
    let mut expected = vec![true; usize::from(midge_core::MAX_REDIRECTS)];
    expected.push(false);
    assert_eq!(followed, expected);
}

#[test]
fn a_redirect_never_drops_tls_and_needs_a_usable_reference() {
    for (url, reference) in [
        ("mqtts://secure.test", "mqtt://plain.test"),
        ("mqtt://broker.test", "b:0 ?x u:p@c"),
    ] {
        let mut o = options(V5);
        o.servers = vec![url.parse().unwrap()];
        o.follow_redirects = true;
        let mut b = Broker::new(o);
        b.connect(false);
        b.events();
        redirect_disconnect(&mut b, ReasonCode::UseAnotherServer, reference);
        let r = &redirects(&b.events())[0];
        assert_eq!(
            (r.target.as_ref(), r.followed),
            (None, false),
            "{reference}"
        );
        assert_eq!(next_open(&mut b), b.client.options().servers[0].to_string());
    }
    // Other reason codes with a reference are not redirects.
    let mut o = options(V5);
    o.follow_redirects = true;
    let mut b = Broker::new(o);
    b.connect(false);
    b.events();
    redirect_disconnect(&mut b, ReasonCode::ServerBusy, "b.test");
    assert!(redirects(&b.events()).is_empty());
}

#[test]
fn work_cut_off_by_the_servers_disconnect_carries_its_reason_code() {
    // Issue 14 item 9: a QoS 1 publish (and a subscribe) ended by the
    // server's DISCONNECT 0x94 says so, when the client stops for good.
    let mut o = options(V5);
    o.reconnect = None;
    let mut b = Broker::new(o);
    b.connect(false);
    b.events();
    let token = b
        .client
        .publish(b.now, msg("t", b"x", QoS::AtLeastOnce))
        .unwrap();
    let sub = b
        .client
        .subscribe(
            b.now,
            vec![SubscribeFilter::new("f", QoS::AtLeastOnce)],
            SubscribeProperties::default(),
        )
        .unwrap();
    b.sent();
    b.inject(Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::TopicAliasInvalid,
        properties: DisconnectProperties::default(),
    }));
    let events = b.events();
    let cut = Some(ReasonCode::TopicAliasInvalid);
    assert!(
        events.iter().any(|e| matches!(e,
        Event::PublishComplete { token: t, result: Err(PublishError::Interrupted { reason_code }) }
            if *t == token && *reason_code == cut)),
        "{events:?}"
    );
    assert!(events.iter().any(|e| matches!(e,
        Event::RequestInterrupted { token: t, reason_code } if *t == sub && *reason_code == cut)));
    let error = PublishError::Interrupted { reason_code: cut };
    assert!(
        error
            .to_string()
            .contains("the server closed the connection"),
        "{error}"
    );
}
