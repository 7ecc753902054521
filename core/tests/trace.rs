//! The client's trace: the lines every runtime prints, what they must never
//! contain, and the dropped wildcard PUBLISH that keeps the link.

mod support;

use bytes::Bytes;
use midge_core::packet::{
    ConnAckProperties, Packet, ProtocolVersion, PubResponse, Publish, QoS, ReasonCode,
};
use midge_core::trace::{Direction, Severity, TraceRecord};
use midge_core::{ConnectionState, Event};
use support::*;

const V5: ProtocolVersion = ProtocolVersion::V5;

fn drain(b: &mut Broker) -> Vec<TraceRecord> {
    std::iter::from_fn(|| b.client.poll_trace()).collect()
}

fn lines(records: &[TraceRecord]) -> Vec<&str> {
    records.iter().map(|r| r.message.as_str()).collect()
}

#[test]
fn off_by_default_and_nothing_is_queued() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    b.client
        .publish(b.now, Publish::new("t", &b"x"[..], QoS::AtLeastOnce))
        .unwrap();
    b.sent();
    assert!(drain(&mut b).is_empty());
}

#[test]
fn the_connection_story_at_info() {
    let mut b = Broker::new(options(V5));
    b.client.set_trace_level(Some(Severity::Info));
    b.connect(false);
    b.drop_transport();
    // Reconnect after the backoff delay, session kept by the broker.
    b.run_timers_until(b.now + 1_000);
    b.open_transport();
    b.connack(true, ConnAckProperties::default());
    let records = drain(&mut b);
    assert!(records.iter().all(|r| r.packet.is_none()));
    let got = lines(&records);
    assert_eq!(got[0], "connecting to mqtt://broker.test:1883");
    assert_eq!(
        got[1],
        "connected to mqtt://broker.test:1883 (client id \"test-client\", new session, keep alive 30 s)"
    );
    assert!(
        got[2].starts_with("disconnected: the transport closed; reconnecting in ")
            && got[2].ends_with(" ms (attempt 1)"),
        "{got:?}"
    );
    assert_eq!(records[2].severity, Severity::Warning);
    assert_eq!(
        got[3],
        "connecting to mqtt://broker.test:1883 (reconnect attempt 1)"
    );
    assert!(got[4].contains("session present"), "{got:?}");
    assert_eq!(got.len(), 5, "{got:?}");
    // A disconnect the application asked for is not a warning.
    b.client
        .disconnect(b.now, ReasonCode::Success, Default::default())
        .unwrap();
    let records = drain(&mut b);
    assert_eq!(records[0].severity, Severity::Info);
    assert_eq!(records[0].message, "disconnected by the application");
}

#[test]
fn one_line_per_packet_at_debug_with_no_secret_in_it() {
    let mut o = options(V5);
    o.username = Some("meter-7".into());
    o.password = Some(Bytes::from_static(b"hunter2-password"));
    o.connect_properties.authentication_method = Some("SCRAM-SHA-1".into());
    o.connect_properties.authentication_data = Some(Bytes::from_static(b"client-first-secret"));
    let mut b = Broker::new(o);
    b.client.set_trace_level(Some(Severity::Debug));
    b.connect(false);
    b.client
        .publish(
            b.now,
            Publish::new("meters/7", &b"payload-secret"[..], QoS::AtLeastOnce),
        )
        .unwrap();
    b.sent();
    b.inject(puback(1));
    let records = drain(&mut b);
    let got = lines(&records);
    let connect = got.iter().find(|l| l.starts_with("sent CONNECT")).unwrap();
    assert!(connect.contains("username=\"meter-7\""), "{connect}");
    assert!(connect.contains("password=<hidden>"), "{connect}");
    assert!(
        connect.contains("auth_method=\"SCRAM-SHA-1\" auth_data=<hidden>"),
        "{connect}"
    );
    for line in &got {
        for secret in ["hunter2", "client-first-secret", "payload-secret"] {
            assert!(!line.contains(secret), "{secret} in {line}");
        }
    }
    let publish = records
        .iter()
        .find(|r| r.message.starts_with("sent PUBLISH"))
        .unwrap();
    assert_eq!(
        publish.message,
        "sent PUBLISH id=1 qos=1 topic=\"meters/7\" payload=14B size=29B"
    );
    let fields = publish.packet.as_ref().unwrap();
    assert_eq!(
        (fields.direction, fields.kind, fields.packet_id, fields.size),
        (Direction::Sent, "PUBLISH", 1, 29)
    );
    assert!(got.contains(&"received PUBACK id=1 size=4B"), "{got:?}");
    assert!(
        got.iter()
            .any(|l| l.starts_with("received CONNACK session_present=0 reason=Success (0x00)")),
        "{got:?}"
    );
    // Payloads only when asked for.
    b.client.set_trace_payloads(true);
    b.client
        .publish(
            b.now,
            Publish::new("meters/7", &b"21.5"[..], QoS::AtMostOnce),
        )
        .unwrap();
    b.sent();
    let got = drain(&mut b);
    assert_eq!(
        got[0].message,
        "sent PUBLISH qos=0 topic=\"meters/7\" payload=4B \"21.5\" size=17B"
    );
}

#[test]
fn a_publish_with_a_wildcard_topic_is_dropped_acknowledged_and_the_link_kept() {
    // ActiveMQ with advisories on delivers PUBLISH on
    // `ActiveMQ/Advisory/Consumer/Topic/#` to a `#` subscriber.
    for version in [V5, ProtocolVersion::V311] {
        let mut b = Broker::new(options(version));
        b.client.set_trace_level(Some(Severity::Warning));
        b.connect(false);
        b.events();
        let mut bad = Publish::new(
            "ActiveMQ/Advisory/Consumer/Topic/#",
            Bytes::new(),
            QoS::AtLeastOnce,
        );
        bad.packet_id = 9;
        let mut bytes = Vec::new();
        // Encoded by hand: the encoder refuses the wildcard too. Topic
        // length, topic, packet id; 5.0 adds an empty property section.
        let topic = bad.topic.as_bytes();
        let mut body = Vec::new();
        body.extend_from_slice(&(topic.len() as u16).to_be_bytes());
        body.extend_from_slice(topic);
        body.extend_from_slice(&9u16.to_be_bytes());
        if version == V5 {
            body.push(0);
        }
        bytes.push(0x32);
        bytes.push(body.len() as u8);
        bytes.extend_from_slice(&body);
        // A good message in the same read must still arrive.
        bytes.extend_from_slice(&[0x30, 0x05 + u8::from(version == V5), 0x00, 0x01, b'x']);
        if version == V5 {
            bytes.push(0);
        }
        bytes.extend_from_slice(b"ok");
        b.inject_bytes(&bytes);
        assert_eq!(b.client.state(), ConnectionState::Connected);
        assert_eq!(b.client.invalid_publishes_dropped(), 1);
        let events = b.events();
        assert!(
            matches!(&events[..], [Event::Message(m)] if m.publish.topic == "x"),
            "{events:?}"
        );
        let sent = b.sent();
        let expected_reason = if version == V5 {
            ReasonCode::TopicNameInvalid
        } else {
            ReasonCode::Success
        };
        assert!(
            matches!(&sent[..], [Packet::PubAck(PubResponse { packet_id: 9, reason_code, .. })] if *reason_code == expected_reason),
            "{sent:?}"
        );
        let records = drain(&mut b);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].severity, Severity::Warning);
        assert!(
            records[0].message.starts_with(
                "dropped a PUBLISH whose topic name has a wildcard (\"ActiveMQ/Advisory/Consumer/Topic/#\", qos 1)"
            ),
            "{}",
            records[0].message
        );
    }
}

#[test]
fn a_topic_cannot_forge_a_second_line() {
    let mut b = Broker::new(options(V5));
    b.client.set_trace_level(Some(Severity::Debug));
    b.connect(false);
    drain(&mut b);
    b.inject(Packet::Publish(Publish::new(
        "a\nreceived CONNACK",
        &b""[..],
        QoS::AtMostOnce,
    )));
    let records = drain(&mut b);
    assert_eq!(records.len(), 1);
    assert!(!records[0].message.contains('\n'));
    assert!(records[0]
        .message
        .contains("topic=\"a\\nreceived CONNACK\""));
}

/// What a driver that lets another thread publish while it waits relies on
/// (`Client::has_pending_output`): a QoS 0 publish on an open connection
/// leaves bytes only, and a trace line it writes is output to wake for.
#[test]
fn a_qos0_publish_leaves_output_only_when_it_traces() {
    let mut b = Broker::new(options(V5));
    b.connect(false);
    while b.client.poll_event().is_some() {}
    assert!(!b.client.has_pending_output());
    b.client
        .publish(b.now, Publish::new("t", &b"x"[..], QoS::AtMostOnce))
        .unwrap();
    assert!(!b.client.has_pending_output());
    b.sent();
    b.client.set_trace_level(Some(Severity::Debug));
    b.client
        .publish(b.now, Publish::new("t", &b"y"[..], QoS::AtMostOnce))
        .unwrap();
    assert!(b.client.has_pending_output());
    assert!(!drain(&mut b).is_empty());
    assert!(!b.client.has_pending_output());
}
