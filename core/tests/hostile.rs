//! A hostile broker: every input a broken or malicious server can send gets a
//! typed error and, for 5.0, a DISCONNECT with the reason code the
//! specification names; the client never panics, never hangs, and its
//! memory stays bounded by what it was fed.

mod support;

use midge_core::packet::{
    Disconnect, Packet, ProtocolVersion, PubResponse, Publish, QoS, ReasonCode, Subscribe,
    SubscribeFilter,
};
use midge_core::{ConnectionError, ConnectionState, Event, ProtocolViolation, TransportCommand};
use support::{options, Broker};

const V5: ProtocolVersion = ProtocolVersion::V5;
const V311: ProtocolVersion = ProtocolVersion::V311;

fn connected(version: ProtocolVersion) -> Broker {
    let mut o = options(version);
    o.topic_alias_maximum = 4;
    o.max_incoming_packet_size = 1024;
    let mut b = Broker::new(o);
    b.connect(false);
    b.events();
    b
}

/// What the client did after `bytes`: the reason of the DISCONNECT it sent
/// (5.0) and the error it reported. Also checks that it asked to close the
/// transport and stopped reading.
fn outcome(version: ProtocolVersion, bytes: &[u8]) -> (Option<ReasonCode>, ConnectionError) {
    let mut b = connected(version);
    b.inject_bytes(bytes);
    let sent = b.sent();
    let reason = match sent.as_slice() {
        [Packet::Disconnect(Disconnect { reason_code, .. })] => Some(*reason_code),
        [] => None,
        other => panic!("unexpected packets after hostile input: {other:?}"),
    };
    let events = b.events();
    let error = events
        .iter()
        .find_map(|e| match e {
            Event::Disconnected { error, .. } => Some(error.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Disconnected event for {bytes:02x?}: {events:?}"));
    assert_eq!(
        b.commands(),
        vec![TransportCommand::Close],
        "for {bytes:02x?}"
    );
    // Whatever follows on the dying connection is ignored, not parsed.
    b.inject_bytes(&[0xFF; 64]);
    assert!(b.events().is_empty());
    (reason, error)
}

fn assert_violation(bytes: &[u8], expected: ReasonCode) {
    let (reason, error) = outcome(V5, bytes);
    assert_eq!(
        reason,
        Some(expected),
        "5.0 DISCONNECT reason for {bytes:02x?}"
    );
    assert!(
        matches!(error, ConnectionError::Protocol(_)),
        "typed protocol error for {bytes:02x?}: {error:?}"
    );
    assert_eq!(error.reason_code(), Some(expected));
    // 3.1.1 has no DISCONNECT from the client for errors: it just closes.
    let (reason, error) = outcome(V311, bytes);
    assert_eq!(reason, None, "3.1.1 sends no DISCONNECT");
    assert!(matches!(error, ConnectionError::Protocol(_)), "{error:?}");
}

#[test]
fn remaining_length_longer_than_four_bytes() {
    assert_violation(
        &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn packet_beyond_our_maximum_packet_size() {
    // Announces 2,000 bytes (limit 1,024): refused from the header alone.
    let (reason, error) = outcome(V5, &[0x30, 0xD0, 0x0F]);
    assert_eq!(reason, Some(ReasonCode::PacketTooLarge));
    assert_eq!(error.reason_code(), Some(ReasonCode::PacketTooLarge));
}

#[test]
fn truncated_fields_inside_a_packet() {
    // Remaining length 3, but the topic length prefix claims 16 bytes.
    assert_violation(&[0x30, 0x03, 0x00, 0x10, b'a'], ReasonCode::MalformedPacket);
    // PUBACK with a remaining length of 1: no room for the packet id.
    assert_violation(&[0x40, 0x01, 0x00], ReasonCode::MalformedPacket);
}

#[test]
fn truncated_packet_then_the_connection_drops() {
    let mut b = connected(V5);
    // Half a PUBLISH, then silence and a close: no message, no panic.
    b.inject_bytes(&[0x30, 0x0A, 0x00, 0x03, b'a', b'/']);
    assert!(b.events().is_empty());
    b.drop_transport();
    let events = b.events();
    assert!(matches!(
        events.as_slice(),
        [Event::Disconnected {
            error: ConnectionError::Transport(midge_core::TransportFailure {
                kind: midge_core::TransportFailureKind::Closed,
                ..
            }),
            ..
        }]
    ));
}

#[test]
fn invalid_utf8_and_null_in_topics() {
    // 5.0 PUBLISH QoS 0: topic [0xC3, 0x28] (invalid UTF-8), property length 0.
    let (reason, error) = outcome(V5, &[0x30, 0x05, 0x00, 0x02, 0xC3, 0x28, 0x00]);
    assert_eq!(reason, Some(ReasonCode::MalformedPacket));
    assert!(error.to_string().contains("UTF-8"), "{error}");
    // Topic "a\0".
    let (reason, error) = outcome(V5, &[0x30, 0x05, 0x00, 0x02, b'a', 0x00, 0x00]);
    assert_eq!(reason, Some(ReasonCode::MalformedPacket));
    assert!(error.to_string().contains("U+0000"), "{error}");
    // Topic "a/+": no wildcards in a topic name, but the packet is well
    // framed: dropped, and the link kept (tests/trace.rs).
    let mut b = connected(V5);
    b.inject_bytes(&[0x30, 0x06, 0x00, 0x03, b'a', b'/', b'+', 0x00]);
    assert_eq!(b.client.state(), ConnectionState::Connected);
    assert!(b.events().is_empty());
    assert_eq!(b.client.invalid_publishes_dropped(), 1);
    // The same in 3.1.1 (no property length).
    let (reason, error) = outcome(V311, &[0x30, 0x04, 0x00, 0x02, 0xC3, 0x28]);
    assert_eq!(reason, None);
    assert!(error.to_string().contains("UTF-8"), "{error}");
}

#[test]
fn packets_a_server_must_not_send() {
    // A second CONNACK.
    assert_violation(&[0x20, 0x03, 0x00, 0x00, 0x00], ReasonCode::ProtocolError);
    // SUBSCRIBE from the server (5.0: id 1, no properties, filter "a", QoS 0).
    let mut subscribe = Vec::new();
    midge_core::packet::encode_packet(
        &Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: vec![SubscribeFilter::new("a", QoS::AtMostOnce)],
            properties: Default::default(),
        }),
        V5,
        &mut subscribe,
    )
    .unwrap();
    let (reason, error) = outcome(V5, &subscribe);
    assert_eq!(reason, Some(ReasonCode::ProtocolError));
    assert!(matches!(
        error,
        ConnectionError::Protocol(ProtocolViolation::UnexpectedPacket { .. })
    ));
    // PINGREQ from the server (only clients send it).
    assert_violation(&[0xC0, 0x00], ReasonCode::ProtocolError);
    // CONNECT and UNSUBSCRIBE from the server: named, whether well formed or
    // not (the client does not decode them).
    for bytes in [
        &[0x10, 0x00][..],
        &[0x10, 0x02, 0xFF, 0xFF],
        &[0xA2, 0x06, 0x00, 0x01, 0x00, 0x00, 0x01, b'a'],
    ] {
        let (reason, error) = outcome(V5, bytes);
        assert_eq!(reason, Some(ReasonCode::ProtocolError));
        let ConnectionError::Protocol(ProtocolViolation::UnexpectedPacket { packet, context }) =
            error
        else {
            panic!("{error:?}");
        };
        let name = if bytes[0] == 0x10 {
            "CONNECT"
        } else {
            "UNSUBSCRIBE"
        };
        assert_eq!(packet, name);
        assert!(context.contains("only clients send it"), "{context}");
    }
}

#[test]
fn acknowledgements_for_unknown_packet_ids() {
    // PUBACK and PUBCOMP for ids never used are ignored and counted: a
    // broker resending acks after a reconnect must not cause a reconnect storm.
    let mut b = connected(V5);
    b.inject_bytes(&[0x40, 0x02, 0x01, 0x00]);
    b.inject_bytes(&[0x70, 0x02, 0x01, 0x00]);
    assert!(b.sent().is_empty());
    assert_eq!(b.client.unknown_acks(), 2);
    assert_eq!(b.client.state(), ConnectionState::Connected);
    // PUBREC for an unknown id is answered per 5.0 section 4.3.3 with PUBREL
    // "Packet Identifier not found", and the connection stays up.
    b.inject(Packet::PubRec(PubResponse::new(77)));
    let sent = b.sent();
    assert!(
        matches!(sent.as_slice(), [Packet::PubRel(r)] if r.packet_id == 77 && r.reason_code == ReasonCode::PacketIdentifierNotFound),
        "{sent:?}"
    );
    assert_eq!(b.client.state(), ConnectionState::Connected);
}

#[test]
fn inbound_qos2_packet_id_reuse_is_not_delivered_twice() {
    let mut b = connected(V5);
    let first = Publish::new("t", &b"one"[..], QoS::ExactlyOnce).with_packet_id(9);
    b.inject(Packet::Publish(first));
    // The server reuses id 9 before releasing it: the same message as far as
    // QoS 2 is concerned; acknowledged again, delivered once.
    let reused = Publish::new("t", &b"two"[..], QoS::ExactlyOnce).with_packet_id(9);
    b.inject(Packet::Publish(reused));
    let delivered: Vec<_> = b
        .events()
        .into_iter()
        .filter(|e| matches!(e, Event::Message(_)))
        .collect();
    assert_eq!(delivered.len(), 1);
    let recs = b
        .sent()
        .into_iter()
        .filter(|p| matches!(p, Packet::PubRec(r) if r.packet_id == 9))
        .count();
    assert_eq!(recs, 2);
}

#[test]
fn topic_alias_zero_above_maximum_or_undefined() {
    for (alias, topic) in [(0u16, "t"), (5, "t"), (3, "")] {
        let mut b = connected(V5);
        let mut publish = Publish::new(topic, &b"x"[..], QoS::AtMostOnce);
        publish.properties.topic_alias = Some(alias);
        b.inject(Packet::Publish(publish));
        let sent = b.sent();
        let expected = if topic.is_empty() {
            // An alias never defined on this connection.
            ReasonCode::ProtocolError
        } else {
            ReasonCode::TopicAliasInvalid
        };
        assert!(
            matches!(sent.as_slice(), [Packet::Disconnect(d)] if d.reason_code == expected),
            "alias {alias} topic {topic:?}: {sent:?}"
        );
        assert!(b.events().iter().any(|e| matches!(
            e,
            Event::Disconnected {
                error: ConnectionError::Protocol(_),
                ..
            }
        )));
    }
}

#[test]
fn a_property_twice_where_the_specification_forbids_it() {
    // 5.0 PUBLISH QoS 0, topic "a", properties: Message Expiry Interval (0x02)
    // twice, then payload "x".
    let bytes = [
        0x30, 0x10, 0x00, 0x01, b'a', 0x0A, 0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2, b'x', b'x',
    ];
    let (reason, error) = outcome(V5, &bytes);
    assert_eq!(reason, Some(ReasonCode::ProtocolError));
    assert!(
        error.to_string().contains("Message Expiry Interval"),
        "{error}"
    );
    // User Property may repeat: two of them are fine.
    let mut b = connected(V5);
    let mut publish = Publish::new("a", &b"x"[..], QoS::AtMostOnce);
    publish.properties.user_properties = vec![("k".into(), "1".into()), ("k".into(), "2".into())];
    b.inject(Packet::Publish(publish));
    assert!(matches!(b.events().as_slice(), [Event::Message(_)]));
}

#[test]
fn more_unacknowledged_qos1_than_our_receive_maximum() {
    let mut o = options(V5);
    o.receive_maximum = 2;
    o.strict_receive_maximum = true;
    o.manual_acks = true; // the application holds the acks
    let mut b = Broker::new(o);
    b.connect(false);
    b.events();
    for id in 1..=3u16 {
        b.inject(Packet::Publish(
            Publish::new("t", &b"x"[..], QoS::AtLeastOnce).with_packet_id(id),
        ));
    }
    let sent = b.sent();
    assert!(
        matches!(sent.as_slice(), [Packet::Disconnect(d)] if d.reason_code == ReasonCode::ReceiveMaximumExceeded),
        "{sent:?}"
    );
}

#[test]
fn a_flood_costs_memory_in_proportion_to_what_was_fed() {
    // 20,000 QoS 0 messages in one read: all decoded, none lost, and the
    // decoder keeps no more than one partial packet buffered afterwards.
    let mut b = connected(V5);
    let mut flood = Vec::new();
    for i in 0..20_000u32 {
        midge_core::packet::encode_packet(
            &Packet::Publish(Publish::new("f", i.to_be_bytes().to_vec(), QoS::AtMostOnce)),
            V5,
            &mut flood,
        )
        .unwrap();
    }
    // Feed in uneven chunks, draining events after each read as a driver does.
    let mut delivered = 0;
    let mut most_pending = 0;
    for chunk in flood.chunks(4_093) {
        b.inject_bytes(chunk);
        let events = b.events();
        most_pending = most_pending.max(events.len());
        delivered += events
            .iter()
            .filter(|e| matches!(e, Event::Message(_)))
            .count();
    }
    assert_eq!(delivered, 20_000);
    // One read's worth of events at most (4,093 bytes / 10 bytes a message).
    assert!(
        most_pending <= 410,
        "{most_pending} events pending after one read"
    );
    assert_eq!(b.client.state(), ConnectionState::Connected);
}

#[test]
fn server_connack_values_that_break_rules() {
    // Receive Maximum 0 is a protocol error (5.0 section 3.2.2.3.3).
    let mut b = Broker::new(options(V5));
    b.client.connect(b.now).unwrap();
    b.open_transport();
    b.inject_bytes(&[0x20, 0x06, 0x00, 0x00, 0x03, 0x21, 0x00, 0x00]);
    let sent = b.sent();
    assert!(
        matches!(sent.as_slice(), [Packet::Disconnect(d)] if d.reason_code == ReasonCode::ProtocolError),
        "{sent:?}"
    );
}

#[test]
fn a_wildcard_publish_without_a_packet_id_is_a_violation_not_an_ack() {
    // The wildcard is found before the packet identifier is read; an
    // identifier of 0, or one cut short, leaves nothing to acknowledge.
    assert_violation(
        &[0x32, 0x06, 0x00, 0x01, b'#', 0x00, 0x00, 0x00],
        ReasonCode::ProtocolError,
    );
    assert_violation(
        &[0x34, 0x04, 0x00, 0x01, b'#', 0x00],
        ReasonCode::MalformedPacket,
    );
}
