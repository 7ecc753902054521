//! Byte vectors written by hand from the MQTT 3.1.1 (OASIS Standard, 2014)
//! and MQTT 5.0 (OASIS Standard, 2019) specifications. Each positive vector is
//! checked in both directions (encode == bytes, decode == packet, also through
//! the incremental `Decoder` fed one byte at a time) and against
//! `encoded_len`. Negative vectors assert the exact error and the reason code
//! a 5.0 client would send in DISCONNECT.
//!
//! Vector notation: two-digit hex bytes, and 'text' for ASCII bytes.

use bytes::Bytes;
use midge_core::packet::{
    decode_packet, encode_packet, encoded_len, AckProperties, Auth, AuthProperties, ConnAck,
    ConnAckProperties, Connect, ConnectProperties, DecodeError, Decoder, Disconnect,
    DisconnectProperties, EncodeError, LastWill, Packet, ProtocolVersion, PubResponse, Publish,
    PublishProperties, QoS, ReasonCode, RetainHandling, SubAck, Subscribe, SubscribeFilter,
    SubscribeProperties, SubscriptionOptions, UnsubAck, Unsubscribe, UnsubscribeProperties,
    WillProperties,
};

use ProtocolVersion::{V311, V5};

// ---------------------------------------------------------------------------
// Helpers.

/// Parses the vector notation: hex byte pairs and 'ascii' runs, separated by
/// white space.
fn h(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_whitespace() {
            continue;
        }
        if c == '\'' {
            for c in chars.by_ref() {
                if c == '\'' {
                    break;
                }
                out.push(c as u8);
            }
            continue;
        }
        let low = chars.next().expect("hex bytes come in pairs");
        let byte = u8::from_str_radix(&format!("{c}{low}"), 16).expect("hex digit");
        out.push(byte);
    }
    out
}

fn show(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn encode(packet: &Packet, version: ProtocolVersion) -> Vec<u8> {
    let mut out = Vec::new();
    encode_packet(packet, version, &mut out).expect("packet encodes");
    assert_eq!(
        encoded_len(packet, version).expect("length computes"),
        out.len(),
        "encoded_len disagrees with encode_packet for {packet:?}"
    );
    out
}

/// Encoding `packet` gives exactly `wire` (`encoded_len` agrees).
fn assert_encodes(version: ProtocolVersion, packet: &Packet, wire: &[u8]) {
    assert_eq!(
        show(&encode(packet, version)),
        show(wire),
        "encoding {packet:?} for {version:?}"
    );
}

/// Decoding `wire` gives exactly `packet`, with `decode_packet` and with a
/// `Decoder` fed one byte at a time.
fn assert_decodes(version: ProtocolVersion, wire: &[u8], packet: &Packet) {
    let (decoded, used) = decode_packet(wire, version, u32::MAX)
        .unwrap_or_else(|e| panic!("decoding {} failed: {e}", show(wire)))
        .expect("the vector is a whole packet");
    assert_eq!(used, wire.len(), "bytes consumed for {}", show(wire));
    assert_eq!(&decoded, packet, "decoding {}", show(wire));
    // Every proper prefix is incomplete.
    for end in 0..wire.len() {
        assert_eq!(
            decode_packet(&wire[..end], version, u32::MAX),
            Ok(None),
            "prefix of {end} bytes"
        );
    }
    let mut decoder = Decoder::new(version, u32::MAX);
    for (index, byte) in wire.iter().enumerate() {
        decoder.feed(&[*byte]);
        let next = decoder.next_packet().expect("valid vector");
        if index + 1 < wire.len() {
            assert_eq!(
                next,
                None,
                "packet after {} of {} bytes",
                index + 1,
                wire.len()
            );
        } else {
            assert_eq!(next.as_ref(), Some(packet));
        }
    }
    assert_eq!(decoder.buffered_len(), 0);
}

/// Both directions.
fn assert_vector(version: ProtocolVersion, packet: Packet, wire: &str) {
    let wire = h(wire);
    assert_encodes(version, &packet, &wire);
    assert_decodes(version, &wire, &packet);
}

/// Decoding `wire` fails with `expected`, whose DISCONNECT reason is `reason`;
/// the `Decoder` fails the same way.
fn assert_rejects(
    version: ProtocolVersion,
    wire: &[u8],
    expected: DecodeError,
    reason: ReasonCode,
) {
    assert_rejects_with_max(version, wire, u32::MAX, expected, reason);
}

/// [`assert_rejects`] with a maximum packet size.
fn assert_rejects_with_max(
    version: ProtocolVersion,
    wire: &[u8],
    max: u32,
    expected: DecodeError,
    reason: ReasonCode,
) {
    let error = decode_packet(wire, version, max).expect_err("vector must be rejected");
    assert_eq!(error, expected, "decoding {}", show(wire));
    assert_eq!(error.reason_code(), reason, "reason code of {error}");
    let mut decoder = Decoder::new(version, max);
    decoder.feed(wire);
    assert_eq!(decoder.next_packet(), Err(expected));
    // Messages are non-empty sentences naming something.
    assert!(error.to_string().len() > 10);
}

fn rejects_malformed(version: ProtocolVersion, wire: &str, expected: DecodeError) {
    assert_rejects(version, &h(wire), expected, ReasonCode::MalformedPacket);
}

fn rejects_protocol(version: ProtocolVersion, wire: &str, expected: DecodeError) {
    assert_rejects(version, &h(wire), expected, ReasonCode::ProtocolError);
}

fn encode_err(version: ProtocolVersion, packet: &Packet) -> EncodeError {
    let mut out = vec![0xAA];
    let error = encode_packet(packet, version, &mut out).expect_err("must not encode");
    assert_eq!(out, [0xAA], "nothing is written on error");
    assert_eq!(encoded_len(packet, version), Err(error.clone()));
    error
}

/// A 5.0 PUBLISH QoS 0 on topic "a" with payload "x" and the given property
/// bytes (3.3.2.3).
fn publish_v5_props(props: &str) -> Vec<u8> {
    let props = h(props);
    let mut body = h("00 01 'a'");
    body.push(props.len() as u8);
    body.extend_from_slice(&props);
    body.push(b'x');
    let mut wire = vec![0x30, body.len() as u8];
    wire.extend_from_slice(&body);
    wire
}

/// A 5.0 CONNACK (Success) with the given property bytes (3.2.2.3).
fn connack_v5_props(props: &str) -> Vec<u8> {
    let props = h(props);
    let mut wire = vec![0x20, (3 + props.len()) as u8, 0x00, 0x00, props.len() as u8];
    wire.extend_from_slice(&props);
    wire
}

fn user(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

fn ack(packet_id: u16, reason_code: ReasonCode) -> PubResponse {
    PubResponse {
        packet_id,
        reason_code,
        properties: AckProperties::default(),
    }
}

// ---------------------------------------------------------------------------
// CONNECT

#[test]
fn connect_v311_with_will_username_password() {
    // 3.1.1 section 3.1: fixed header 0x10, protocol name "MQTT", level 4,
    // connect flags (3.1.2.3) user name 0x80 | password 0x40 | will retain
    // 0x20 | will QoS 1 << 3 | will flag 0x04 | clean session 0x02 = 0xEE,
    // keep alive 60, then client id, will topic, will message, user name,
    // password (3.1.3), each with a two-byte length.
    let packet = Packet::Connect(Box::new(Connect {
        protocol: V311,
        client_id: "cid".into(),
        clean_start: true,
        keep_alive: 60,
        username: Some("user".into()),
        password: Some(Bytes::from_static(b"pw")),
        will: Some(LastWill {
            topic: "w/t".into(),
            payload: Bytes::from_static(b"bye"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: WillProperties::default(),
        }),
        properties: ConnectProperties::default(),
    }));
    let wire = "10 23  00 04 'MQTT' 04 EE 00 3C  00 03 'cid'  00 03 'w/t'  00 03 'bye'  \
                00 04 'user'  00 02 'pw'";
    // The decoder's own version does not matter for CONNECT.
    assert_vector(V311, packet.clone(), wire);
    assert_vector(V5, packet, wire);
}

#[test]
fn connect_v311_minimal() {
    // 3.1.1 section 3.1: empty client identifier (3.1.3.1) with clean session.
    let packet = Packet::Connect(Box::new(Connect {
        protocol: V311,
        clean_start: true,
        ..Connect::default()
    }));
    assert_vector(V311, packet, "10 0C 00 04 'MQTT' 04 02 00 00 00 00");
}

#[test]
fn connect_v5_with_properties_and_will_properties() {
    // 5.0 section 3.1: level 5, flags will 0x04 | clean start 0x02, keep
    // alive 30; CONNECT properties (3.1.2.11) Session Expiry 0x11 = 3600,
    // Receive Maximum 0x21 = 20, Topic Alias Maximum 0x22 = 10, User Property
    // 0x26 ("k", "v"), Maximum Packet Size 0x27 = 65536 (23 bytes); client id
    // "c5"; will properties (3.1.3.2) Payload Format Indicator 0x01 = 1,
    // Content Type 0x03 "t", Will Delay Interval 0x18 = 5 (11 bytes); will
    // topic "w", will payload "x".
    let packet = Packet::Connect(Box::new(Connect {
        protocol: V5,
        client_id: "c5".into(),
        clean_start: true,
        keep_alive: 30,
        username: None,
        password: None,
        will: Some(LastWill {
            topic: "w".into(),
            payload: Bytes::from_static(b"x"),
            qos: QoS::AtMostOnce,
            retain: false,
            properties: WillProperties {
                will_delay_interval: Some(5),
                payload_format_indicator: Some(true),
                content_type: Some("t".into()),
                ..WillProperties::default()
            },
        }),
        properties: ConnectProperties {
            session_expiry_interval: Some(3600),
            receive_maximum: Some(20),
            maximum_packet_size: Some(65536),
            topic_alias_maximum: Some(10),
            user_properties: vec![user("k", "v")],
            ..ConnectProperties::default()
        },
    }));
    let wire = "10 38  00 04 'MQTT' 05 06 00 1E \
                17  11 00 00 0E 10  21 00 14  22 00 0A  26 00 01 'k' 00 01 'v'  27 00 01 00 00 \
                00 02 'c5' \
                0B  01 01  03 00 01 't'  18 00 00 00 05 \
                00 01 'w'  00 01 'x'";
    assert_vector(V5, packet.clone(), wire);
    assert_vector(V311, packet, wire);
}

#[test]
fn connect_v5_auth_and_request_properties() {
    // 5.0 section 3.1.2.11: Authentication Method 0x15, Authentication Data
    // 0x16, Request Problem Information 0x17 = 0, Request Response Information
    // 0x19 = 1; user name flag 0x80 with user name "u".
    let packet = Packet::Connect(Box::new(Connect {
        protocol: V5,
        client_id: "c".into(),
        clean_start: false,
        keep_alive: 0,
        username: Some("u".into()),
        password: None,
        will: None,
        properties: ConnectProperties {
            authentication_method: Some("M".into()),
            authentication_data: Some(Bytes::from_static(&[0xAB])),
            request_problem_information: Some(false),
            request_response_information: Some(true),
            ..ConnectProperties::default()
        },
    }));
    let wire = "10 1D  00 04 'MQTT' 05 80 00 00 \
                0C  15 00 01 'M'  16 00 01 AB  17 00  19 01 \
                00 01 'c'  00 01 'u'";
    assert_vector(V5, packet, wire);
}

#[test]
fn connect_v5_password_without_username_is_allowed() {
    // 5.0 section 3.1.2.9: a password without a user name is allowed in 5.0.
    let packet = Packet::Connect(Box::new(Connect {
        protocol: V5,
        client_id: "c".into(),
        clean_start: true,
        password: Some(Bytes::from_static(b"pw")),
        ..Connect::default()
    }));
    assert_vector(
        V5,
        packet,
        "10 12  00 04 'MQTT' 05 42 00 00  00  00 01 'c'  00 02 'pw'",
    );
}

// ---------------------------------------------------------------------------
// CONNACK

#[test]
fn connack_v311_return_codes() {
    // 3.1.1 section 3.2: acknowledge flags (session present bit 0), then the
    // return code (table 3.1): 0 accepted, 1 unacceptable protocol version,
    // 2 identifier rejected, 3 server unavailable, 4 bad user name or
    // password, 5 not authorized.
    let codes = [
        (0x00, ReasonCode::Success),
        (0x01, ReasonCode::UnsupportedProtocolVersion),
        (0x02, ReasonCode::ClientIdentifierNotValid),
        (0x03, ReasonCode::ServerUnavailable),
        (0x04, ReasonCode::BadUserNameOrPassword),
        (0x05, ReasonCode::NotAuthorized),
    ];
    for (byte, reason_code) in codes {
        let packet = Packet::ConnAck(Box::new(ConnAck {
            session_present: false,
            reason_code,
            properties: ConnAckProperties::default(),
        }));
        assert_vector(V311, packet, &format!("20 02 00 {byte:02X}"));
    }
    let present = Packet::ConnAck(Box::new(ConnAck {
        session_present: true,
        ..ConnAck::default()
    }));
    assert_vector(V311, present, "20 02 01 00");
}

#[test]
fn connack_v311_maps_v5_only_codes() {
    // Reason codes without a 3.1.1 equivalent take the closest return code;
    // properties are not encoded.
    let banned = Packet::ConnAck(Box::new(ConnAck {
        reason_code: ReasonCode::Banned,
        properties: ConnAckProperties {
            receive_maximum: Some(5),
            ..ConnAckProperties::default()
        },
        ..ConnAck::default()
    }));
    assert_encodes(V311, &banned, &h("20 02 00 05"));
    let busy = Packet::ConnAck(Box::new(ConnAck {
        reason_code: ReasonCode::ServerBusy,
        ..ConnAck::default()
    }));
    assert_encodes(V311, &busy, &h("20 02 00 03"));
}

#[test]
fn connack_v5_with_properties() {
    // 5.0 section 3.2: flags 0, reason code 0x00, properties (3.2.2.3)
    // Assigned Client Identifier 0x12 "auto", Receive Maximum 0x21 = 10, Topic
    // Alias Maximum 0x22 = 5, Maximum QoS 0x24 = 1, Retain Available 0x25 = 0,
    // Maximum Packet Size 0x27 = 1024 (22 bytes).
    let packet = Packet::ConnAck(Box::new(ConnAck {
        session_present: false,
        reason_code: ReasonCode::Success,
        properties: ConnAckProperties {
            receive_maximum: Some(10),
            maximum_qos: Some(QoS::AtLeastOnce),
            retain_available: Some(false),
            maximum_packet_size: Some(1024),
            assigned_client_identifier: Some("auto".into()),
            topic_alias_maximum: Some(5),
            ..ConnAckProperties::default()
        },
    }));
    let wire = "20 19  00 00  16  12 00 04 'auto'  21 00 0A  22 00 05  24 01  25 00  \
                27 00 00 04 00";
    assert_vector(V5, packet, wire);
}

#[test]
fn connack_v5_every_property() {
    // 5.0 section 3.2.2.3: all seventeen CONNACK properties, in identifier order.
    let packet = Packet::ConnAck(Box::new(ConnAck {
        session_present: true,
        reason_code: ReasonCode::Success,
        properties: ConnAckProperties {
            session_expiry_interval: Some(7),
            receive_maximum: Some(1),
            maximum_qos: Some(QoS::AtMostOnce),
            retain_available: Some(true),
            maximum_packet_size: Some(9),
            assigned_client_identifier: Some("i".into()),
            topic_alias_maximum: Some(2),
            reason_string: Some("r".into()),
            user_properties: vec![user("a", "b"), user("a", "c")],
            wildcard_subscription_available: Some(false),
            subscription_identifiers_available: Some(true),
            shared_subscription_available: Some(false),
            server_keep_alive: Some(3),
            response_information: Some("ri".into()),
            server_reference: Some("s".into()),
            authentication_method: Some("m".into()),
            authentication_data: Some(Bytes::from_static(b"d")),
        },
    }));
    let wire = "20 47  01 00  44 \
                11 00 00 00 07  12 00 01 'i'  13 00 03  15 00 01 'm'  16 00 01 'd' \
                1A 00 02 'ri'  1C 00 01 's'  1F 00 01 'r'  21 00 01  22 00 02  24 00  25 01 \
                26 00 01 'a' 00 01 'b'  26 00 01 'a' 00 01 'c'  27 00 00 00 09  28 00  29 01  2A 00";
    assert_vector(V5, packet, wire);
}

#[test]
fn connack_v5_failure_without_properties() {
    // 5.0 section 3.2.2.2: reason code 0x87 Not authorized, property length 0.
    let packet = Packet::ConnAck(Box::new(ConnAck {
        session_present: false,
        reason_code: ReasonCode::NotAuthorized,
        properties: ConnAckProperties::default(),
    }));
    assert_vector(V5, packet, "20 03 00 87 00");
}

#[test]
fn connack_v311_refusal_to_a_v5_connect() {
    // A 3.1.1-only server (e.g. aedes) refuses a 5.0 CONNECT with the 3.1.1
    // CONNACK 0x01 "unacceptable protocol version", without properties.
    let refused = |reason_code| {
        Packet::ConnAck(Box::new(ConnAck {
            session_present: false,
            reason_code,
            properties: ConnAckProperties::default(),
        }))
    };
    assert_decodes(
        V5,
        &h("20 02 00 01"),
        &refused(ReasonCode::UnsupportedProtocolVersion),
    );
    assert_decodes(V5, &h("20 02 00 05"), &refused(ReasonCode::NotAuthorized));
    // moquette 0.17 sends the 3.1.1 code with a 5.0 property length.
    assert_decodes(
        V5,
        &h("20 03 00 01 00"),
        &refused(ReasonCode::UnsupportedProtocolVersion),
    );
    // A bare success code is no 3.1.1 refusal: still malformed for 5.0.
    rejects_malformed(
        V5,
        "20 02 00 00",
        DecodeError::InvalidReasonCode {
            packet: "CONNACK",
            code: 0,
        },
    );
}

// ---------------------------------------------------------------------------
// PUBLISH

#[test]
fn publish_v311_qos_0_1_2() {
    // 3.1.1 section 3.3: header 0x30 | DUP << 3 | QoS << 1 | RETAIN; topic
    // name with a two-byte length, packet identifier only for QoS 1 and 2
    // (3.3.2.2), then the payload up to the end (3.3.3).
    let qos0 = Publish::new("a/b", &b"hi"[..], QoS::AtMostOnce);
    assert_vector(V311, Packet::Publish(qos0), "30 07 00 03 'a/b' 'hi'");

    let mut qos1 = Publish::new("a/b", &b"hi"[..], QoS::AtLeastOnce).with_packet_id(10);
    qos1.dup = true;
    qos1.retain = true;
    assert_vector(V311, Packet::Publish(qos1), "3B 09 00 03 'a/b' 00 0A 'hi'");

    let qos2 = Publish::new("a/b", &b"hi"[..], QoS::ExactlyOnce).with_packet_id(0x1234);
    assert_vector(V311, Packet::Publish(qos2), "34 09 00 03 'a/b' 12 34 'hi'");

    // A zero-length payload is valid (3.3.3).
    let empty = Publish::new("a/b", Bytes::new(), QoS::AtMostOnce);
    assert_vector(V311, Packet::Publish(empty), "30 05 00 03 'a/b'");
}

#[test]
fn publish_v311_leaves_properties_out() {
    let mut publish = Publish::new("t", &b"p"[..], QoS::AtMostOnce);
    publish.properties.topic_alias = Some(4);
    assert_encodes(V311, &Packet::Publish(publish), &h("30 04 00 01 't' 'p'"));
}

#[test]
fn publish_qos0_ignores_packet_id_and_dup() {
    // 3.3.1.1 / 3.3.2.2: a QoS 0 PUBLISH has DUP 0 and no packet identifier.
    let mut publish = Publish::new("t", &b"p"[..], QoS::AtMostOnce).with_packet_id(9);
    publish.dup = true;
    assert_encodes(
        V311,
        &Packet::Publish(publish.clone()),
        &h("30 04 00 01 't' 'p'"),
    );
    assert_encodes(V5, &Packet::Publish(publish), &h("30 05 00 01 't' 00 'p'"));
}

#[test]
fn publish_v5_without_properties() {
    // 5.0 section 3.3.2.3: the property length 0 is always present.
    let qos0 = Publish::new("a/b", &b"hi"[..], QoS::AtMostOnce);
    assert_vector(V5, Packet::Publish(qos0), "30 08 00 03 'a/b' 00 'hi'");
    let qos1 = Publish::new("a/b", &b"hi"[..], QoS::AtLeastOnce).with_packet_id(1);
    assert_vector(V5, Packet::Publish(qos1), "32 0A 00 03 'a/b' 00 01 00 'hi'");
}

#[test]
fn publish_non_ascii_topic() {
    // "é/ü" as UTF-8 (C3 A9, C3 BC): the decoder's ASCII shortcut does not
    // apply and the topic is validated as UTF-8.
    let publish = Publish::new("é/ü", &b"hi"[..], QoS::AtLeastOnce).with_packet_id(1);
    assert_vector(
        V311,
        Packet::Publish(publish.clone()),
        "32 0B 00 05 C3 A9 '/' C3 BC 00 01 'hi'",
    );
    assert_vector(
        V5,
        Packet::Publish(publish),
        "32 0C 00 05 C3 A9 '/' C3 BC 00 01 00 'hi'",
    );
    // A lone continuation byte after ASCII, with and without properties.
    for wire in [
        "32 08 00 03 'a' 80 'b' 00 01 00",
        "30 08 00 03 'a' 80 'b' 02 01 01",
    ] {
        rejects_malformed(
            V5,
            wire,
            DecodeError::InvalidUtf8 {
                packet: "PUBLISH",
                field: "topic name",
            },
        );
    }
}

#[test]
fn publish_v5_with_properties() {
    // 5.0 section 3.3.2.3: Payload Format Indicator 0x01 = 1, Message Expiry
    // 0x02 = 60, Response Topic 0x08 "r", Correlation Data 0x09 DE AD, two
    // Subscription Identifiers 0x0B (1 and 200, variable byte integers C8 01),
    // Topic Alias 0x23 = 3, User Property 0x26 ("a", "1"): 31 bytes.
    let publish = Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: "a/b".into(),
        packet_id: 7,
        payload: Bytes::from_static(b"hi"),
        properties: PublishProperties {
            payload_format_indicator: Some(true),
            message_expiry_interval: Some(60),
            topic_alias: Some(3),
            response_topic: Some("r".into()),
            correlation_data: Some(Bytes::from_static(&[0xDE, 0xAD])),
            user_properties: vec![user("a", "1")],
            subscription_identifiers: vec![1, 200],
            content_type: None,
        },
    };
    let wire = "32 29  00 03 'a/b'  00 07 \
                1F  01 01  02 00 00 00 3C  08 00 01 'r'  09 00 02 DE AD  0B 01  0B C8 01 \
                23 00 03  26 00 01 'a' 00 01 '1' \
                'hi'";
    assert_vector(V5, Packet::Publish(publish), wire);
}

#[test]
fn publish_v5_topic_alias_with_empty_topic() {
    // 5.0 section 3.3.2.3.4: a zero-length topic name with a Topic Alias.
    let mut publish = Publish::new("", &b"hi"[..], QoS::AtMostOnce);
    publish.properties.topic_alias = Some(5);
    publish.properties.content_type = Some("c".into());
    assert_vector(
        V5,
        Packet::Publish(publish),
        "30 0C  00 00  07 03 00 01 'c' 23 00 05  'hi'",
    );
}

#[test]
fn remaining_length_boundaries() {
    // 3.1.1 section 2.2.3 / 5.0 section 1.5.5: remaining lengths 0, 127, 128,
    // 16 383, 16 384, 2 097 151 and 2 097 152 with their variable byte
    // integer encodings. PINGREQ has remaining length 0; PUBLISH (3.1.1, QoS 0,
    // topic "t") has remaining length 3 + payload.
    assert_vector(V311, Packet::PingReq, "C0 00");
    let cases: [(usize, &str); 6] = [
        (127, "7F"),
        (128, "80 01"),
        (16_383, "FF 7F"),
        (16_384, "80 80 01"),
        (2_097_151, "FF FF 7F"),
        (2_097_152, "80 80 80 01"),
    ];
    for (remaining, header) in cases {
        let publish = Publish::new("t", vec![0x5A; remaining - 3], QoS::AtMostOnce);
        let packet = Packet::Publish(publish);
        let wire = encode(&packet, V311);
        let mut expected = h("30");
        expected.extend(h(header));
        expected.extend(h("00 01 't'"));
        assert_eq!(
            show(&wire[..expected.len()]),
            show(&expected),
            "remaining {remaining}"
        );
        assert_eq!(wire.len(), expected.len() + remaining - 3);
        let (decoded, used) = decode_packet(&wire, V311, u32::MAX).unwrap().unwrap();
        assert_eq!((decoded, used), (packet, wire.len()));
    }
}

#[test]
fn remaining_length_maximum_and_beyond() {
    // The largest remaining length, 268 435 455 = FF FF FF 7F: the total size
    // is 5 + that. The zeroed payload is not touched by encoded_len.
    let payload = Bytes::from(vec![0u8; 268_435_455 - 3]);
    let max = Packet::Publish(Publish::new("t", payload, QoS::AtMostOnce));
    assert_eq!(encoded_len(&max, V311), Ok(268_435_460));
    // One byte more cannot be encoded.
    let payload = Bytes::from(vec![0u8; 268_435_456 - 3]);
    let over = Packet::Publish(Publish::new("t", payload, QoS::AtMostOnce));
    assert_eq!(
        encode_err(V311, &over),
        EncodeError::PacketTooLarge { size: 268_435_456 }
    );
    // A header announcing it decodes to "need more" without a limit...
    assert_eq!(
        decode_packet(&h("30 FF FF FF 7F"), V311, u32::MAX),
        Ok(None)
    );
    // ...and to PacketTooLarge with one, before any of the body arrives.
    assert_rejects_with_max(
        V311,
        &h("30 FF FF FF 7F"),
        1_000_000,
        DecodeError::PacketTooLarge {
            size: 268_435_460,
            max: 1_000_000,
        },
        ReasonCode::PacketTooLarge,
    );
}

#[test]
fn subscription_identifier_varint_boundaries() {
    // 5.0 section 3.3.2.3.8: the Subscription Identifier is a variable byte
    // integer from 1 to 268 435 455.
    let cases: [(u32, &str); 7] = [
        (1, "01"),
        (127, "7F"),
        (128, "80 01"),
        (16_383, "FF 7F"),
        (16_384, "80 80 01"),
        (2_097_152, "80 80 80 01"),
        (268_435_455, "FF FF FF 7F"),
    ];
    for (value, encoding) in cases {
        let mut publish = Publish::new("a", &b"x"[..], QoS::AtMostOnce);
        publish.properties.subscription_identifiers = vec![value];
        let props = format!("0B {encoding}");
        let wire = publish_v5_props(&props);
        assert_encodes(V5, &Packet::Publish(publish.clone()), &wire);
        assert_decodes(V5, &wire, &Packet::Publish(publish));
    }
}

// ---------------------------------------------------------------------------
// PUBACK, PUBREC, PUBREL, PUBCOMP

#[test]
fn acks_v311() {
    // 3.1.1 sections 3.4-3.7: remaining length 2, the packet identifier.
    // PUBREL has the reserved flags 0b0010 (3.6.1).
    assert_vector(V311, Packet::PubAck(PubResponse::new(10)), "40 02 00 0A");
    assert_vector(V311, Packet::PubRec(PubResponse::new(10)), "50 02 00 0A");
    assert_vector(V311, Packet::PubRel(PubResponse::new(10)), "62 02 00 0A");
    assert_vector(
        V311,
        Packet::PubComp(PubResponse::new(0xFFFF)),
        "70 02 FF FF",
    );
    // Reason codes and properties do not exist in 3.1.1.
    let mut failed = ack(10, ReasonCode::NotAuthorized);
    failed.properties.reason_string = Some("no".into());
    assert_encodes(V311, &Packet::PubAck(failed), &h("40 02 00 0A"));
}

#[test]
fn acks_v5_short_forms() {
    // 5.0 section 3.4.2.1: reason code and property length may be left out
    // when the reason is 0x00 Success and there are no properties (remaining
    // length 2); the property length alone when there are no properties
    // (remaining length 3).
    assert_vector(V5, Packet::PubAck(PubResponse::new(10)), "40 02 00 0A");
    assert_vector(V5, Packet::PubRec(PubResponse::new(10)), "50 02 00 0A");
    assert_vector(V5, Packet::PubRel(PubResponse::new(10)), "62 02 00 0A");
    assert_vector(V5, Packet::PubComp(PubResponse::new(10)), "70 02 00 0A");
    let puback = ack(10, ReasonCode::NoMatchingSubscribers);
    assert_vector(V5, Packet::PubAck(puback), "40 03 00 0A 10");
    let pubrec = ack(10, ReasonCode::UnspecifiedError);
    assert_vector(V5, Packet::PubRec(pubrec), "50 03 00 0A 80");
    let pubrel = ack(10, ReasonCode::PacketIdentifierNotFound);
    assert_vector(V5, Packet::PubRel(pubrel), "62 03 00 0A 92");
    let pubcomp = ack(10, ReasonCode::PacketIdentifierNotFound);
    assert_vector(V5, Packet::PubComp(pubcomp), "70 03 00 0A 92");
}

#[test]
fn acks_v5_long_forms() {
    // 5.0 section 3.4.2.2: properties Reason String 0x1F and User Property
    // 0x26 after the reason code.
    let mut puback = ack(10, ReasonCode::Success);
    puback.properties.reason_string = Some("no".into());
    assert_vector(
        V5,
        Packet::PubAck(puback),
        "40 09 00 0A 00 05 1F 00 02 'no'",
    );

    let mut pubrec = ack(1, ReasonCode::QuotaExceeded);
    pubrec.properties.user_properties = vec![user("k", "v")];
    assert_vector(
        V5,
        Packet::PubRec(pubrec),
        "50 0B 00 01 97 07 26 00 01 'k' 00 01 'v'",
    );

    let mut pubrel = ack(2, ReasonCode::Success);
    pubrel.properties.reason_string = Some("x".into());
    assert_vector(V5, Packet::PubRel(pubrel), "62 08 00 02 00 04 1F 00 01 'x'");

    let mut pubcomp = ack(3, ReasonCode::PacketIdentifierNotFound);
    pubcomp.properties.reason_string = Some("x".into());
    assert_vector(
        V5,
        Packet::PubComp(pubcomp),
        "70 08 00 03 92 04 1F 00 01 'x'",
    );
}

#[test]
fn acks_v5_longer_than_needed_decode() {
    // 5.0 section 3.4.2.2.1: a zero property length may be present.
    let wire = h("40 04 00 0A 10 00");
    assert_decodes(
        V5,
        &wire,
        &Packet::PubAck(ack(10, ReasonCode::NoMatchingSubscribers)),
    );
    assert_decodes(
        V5,
        &h("70 04 00 0A 00 00"),
        &Packet::PubComp(PubResponse::new(10)),
    );
}

// ---------------------------------------------------------------------------
// SUBSCRIBE / SUBACK

#[test]
fn subscribe_v311_several_filters() {
    // 3.1.1 section 3.8: header 0x82, packet identifier, then topic filters
    // each followed by a requested QoS byte (3.8.3.1).
    let packet = Packet::Subscribe(Subscribe {
        packet_id: 10,
        filters: vec![
            SubscribeFilter::new("a/b", QoS::AtMostOnce),
            SubscribeFilter::new("c/#", QoS::AtLeastOnce),
            SubscribeFilter::new("d/+", QoS::ExactlyOnce),
        ],
        properties: SubscribeProperties::default(),
    });
    let wire = "82 14 00 0A  00 03 'a/b' 00  00 03 'c/#' 01  00 03 'd/+' 02";
    assert_vector(V311, packet, wire);
}

#[test]
fn subscribe_v5_options_and_identifier() {
    // 5.0 section 3.8: Subscription Identifier 0x0B = 1000 (E8 07);
    // subscription options (3.8.3.1): QoS bits 0-1, No Local bit 2, Retain As
    // Published bit 3, Retain Handling bits 4-5. "a/b": QoS 1 | NL | RAP |
    // RH 2 = 0x2D; "c": QoS 0, RH 1 = 0x10.
    let packet = Packet::Subscribe(Subscribe {
        packet_id: 10,
        filters: vec![
            SubscribeFilter {
                filter: "a/b".into(),
                options: SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: RetainHandling::DoNotSend,
                },
            },
            SubscribeFilter {
                filter: "c".into(),
                options: SubscriptionOptions {
                    qos: QoS::AtMostOnce,
                    no_local: false,
                    retain_as_published: false,
                    retain_handling: RetainHandling::SendIfNew,
                },
            },
        ],
        properties: SubscribeProperties {
            subscription_identifier: Some(1000),
            user_properties: vec![],
        },
    });
    let wire = "82 10 00 0A  03 0B E8 07  00 03 'a/b' 2D  00 01 'c' 10";
    assert_vector(V5, packet.clone(), wire);
    // In 3.1.1 only the QoS remains.
    assert_encodes(
        V311,
        &packet,
        &h("82 0C 00 0A  00 03 'a/b' 01  00 01 'c' 00"),
    );
}

#[test]
fn suback_v311() {
    // 3.1.1 section 3.9.3: return codes 0x00, 0x01, 0x02 and 0x80 Failure.
    let packet = Packet::SubAck(SubAck {
        packet_id: 10,
        reason_codes: vec![
            ReasonCode::Success,
            ReasonCode::GrantedQoS1,
            ReasonCode::GrantedQoS2,
            ReasonCode::UnspecifiedError,
        ],
        properties: AckProperties::default(),
    });
    assert_vector(V311, packet, "90 06 00 0A 00 01 02 80");
    // Any 5.0 failure code is 0x80 in 3.1.1.
    let failure = Packet::SubAck(SubAck {
        packet_id: 1,
        reason_codes: vec![ReasonCode::NotAuthorized],
        properties: AckProperties::default(),
    });
    assert_encodes(V311, &failure, &h("90 03 00 01 80"));
}

#[test]
fn suback_v5() {
    // 5.0 section 3.9: properties (Reason String "ok"), then one reason code
    // per filter: 0x02 Granted QoS 2, 0x87 Not authorized, 0xA2 Wildcard
    // Subscriptions not supported.
    let packet = Packet::SubAck(SubAck {
        packet_id: 10,
        reason_codes: vec![
            ReasonCode::GrantedQoS2,
            ReasonCode::NotAuthorized,
            ReasonCode::WildcardSubscriptionsNotSupported,
        ],
        properties: AckProperties {
            reason_string: Some("ok".into()),
            user_properties: vec![],
        },
    });
    assert_vector(V5, packet, "90 0B 00 0A 05 1F 00 02 'ok' 02 87 A2");
}

// ---------------------------------------------------------------------------
// UNSUBSCRIBE / UNSUBACK

#[test]
fn unsubscribe_both_versions() {
    // 3.1.1 section 3.10 / 5.0 section 3.10: header 0xA2, packet identifier,
    // (5.0: properties, here one User Property), topic filters.
    let packet = Packet::Unsubscribe(Unsubscribe {
        packet_id: 11,
        filters: vec!["a/b".into(), "c".into()],
        properties: UnsubscribeProperties::default(),
    });
    assert_vector(V311, packet.clone(), "A2 0A 00 0B  00 03 'a/b'  00 01 'c'");
    assert_vector(V5, packet, "A2 0B 00 0B  00  00 03 'a/b'  00 01 'c'");

    let with_user = Packet::Unsubscribe(Unsubscribe {
        packet_id: 11,
        filters: vec!["a/b".into()],
        properties: UnsubscribeProperties {
            user_properties: vec![user("k", "v")],
        },
    });
    assert_vector(
        V5,
        with_user,
        "A2 0F 00 0B  07 26 00 01 'k' 00 01 'v'  00 03 'a/b'",
    );
}

#[test]
fn unsuback_v311_has_no_payload() {
    // 3.1.1 section 3.11: remaining length 2, no payload.
    let packet = Packet::UnsubAck(UnsubAck {
        packet_id: 11,
        reason_codes: vec![],
        properties: AckProperties::default(),
    });
    assert_vector(V311, packet, "B0 02 00 0B");
    // 5.0 reason codes are dropped for 3.1.1.
    let with_codes = Packet::UnsubAck(UnsubAck {
        packet_id: 11,
        reason_codes: vec![ReasonCode::NoSubscriptionExisted],
        properties: AckProperties::default(),
    });
    assert_encodes(V311, &with_codes, &h("B0 02 00 0B"));
}

#[test]
fn unsuback_v5_with_codes() {
    // 5.0 section 3.11: property length 0, reason codes 0x00 Success and 0x11
    // No subscription existed.
    let packet = Packet::UnsubAck(UnsubAck {
        packet_id: 11,
        reason_codes: vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted],
        properties: AckProperties::default(),
    });
    assert_vector(V5, packet, "B0 05 00 0B 00 00 11");
}

// ---------------------------------------------------------------------------
// PINGREQ, PINGRESP, DISCONNECT, AUTH

#[test]
fn ping_both_versions() {
    // 3.1.1 sections 3.12, 3.13 / 5.0 sections 3.12, 3.13.
    for version in [V311, V5] {
        assert_vector(version, Packet::PingReq, "C0 00");
        assert_vector(version, Packet::PingResp, "D0 00");
    }
}

#[test]
fn disconnect_v311() {
    // 3.1.1 section 3.14: remaining length 0.
    assert_vector(V311, Packet::Disconnect(Disconnect::default()), "E0 00");
    let reasoned = Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::ProtocolError,
        properties: DisconnectProperties {
            reason_string: Some("x".into()),
            ..DisconnectProperties::default()
        },
    });
    assert_encodes(V311, &reasoned, &h("E0 00"));
}

#[test]
fn disconnect_v5_forms() {
    // 5.0 section 3.14.2: remaining length 0 for Normal disconnection without
    // properties; 1 for a reason code alone; then reason code and properties.
    assert_vector(V5, Packet::Disconnect(Disconnect::default()), "E0 00");
    let with_will = Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::DisconnectWithWillMessage,
        properties: DisconnectProperties::default(),
    });
    assert_vector(V5, with_will, "E0 01 04");
    let expiry = Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::Success,
        properties: DisconnectProperties {
            session_expiry_interval: Some(0),
            ..DisconnectProperties::default()
        },
    });
    assert_vector(V5, expiry, "E0 07 00 05 11 00 00 00 00");
    let error = Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::ProtocolError,
        properties: DisconnectProperties {
            reason_string: Some("x".into()),
            server_reference: Some("s".into()),
            ..DisconnectProperties::default()
        },
    });
    assert_vector(V5, error, "E0 0A 82 08 1C 00 01 's' 1F 00 01 'x'");
    // A zero property length may be sent (3.14.2.2.1).
    assert_decodes(
        V5,
        &h("E0 02 8E 00"),
        &Packet::Disconnect(Disconnect {
            reason_code: ReasonCode::SessionTakenOver,
            properties: DisconnectProperties::default(),
        }),
    );
}

#[test]
fn auth_v5() {
    // 5.0 section 3.15: remaining length 0 for Success without properties;
    // otherwise reason code, property length, properties (Authentication
    // Method 0x15 "SCRAM", Authentication Data 0x16 01 02).
    assert_vector(V5, Packet::Auth(Auth::default()), "F0 00");
    let continue_auth = Packet::Auth(Auth {
        reason_code: ReasonCode::ContinueAuthentication,
        properties: AuthProperties {
            authentication_method: Some("SCRAM".into()),
            authentication_data: Some(Bytes::from_static(&[1, 2])),
            ..AuthProperties::default()
        },
    });
    assert_vector(
        V5,
        continue_auth,
        "F0 0F 18 0D 15 00 05 'SCRAM' 16 00 02 01 02",
    );
    let reauth = Packet::Auth(Auth {
        reason_code: ReasonCode::ReAuthenticate,
        properties: AuthProperties::default(),
    });
    assert_vector(V5, reauth, "F0 02 19 00");
}

#[test]
fn auth_does_not_exist_in_v311() {
    // 3.1.1 table 2.1: packet type 15 is reserved.
    assert_eq!(
        encode_err(V311, &Packet::Auth(Auth::default())),
        EncodeError::NotInVersion { packet: "AUTH" }
    );
    rejects_protocol(V311, "F0 00", DecodeError::NotInVersion { packet: "AUTH" });
}

// ---------------------------------------------------------------------------
// Negative vectors: fixed header.

#[test]
fn rejects_invalid_fixed_header_flags() {
    // 3.1.1 section 2.2.2 / 5.0 section 2.1.3: reserved flags must be as
    // listed; anything else is a malformed packet.
    for version in [V311, V5] {
        let cases: [(&str, &'static str, u8, u8); 7] = [
            ("41 02 00 0A", "PUBACK", 0b0001, 0),
            ("60 02 00 0A", "PUBREL", 0b0000, 0b0010),
            ("80 06 00 0A 00 01 'a' 00", "SUBSCRIBE", 0, 0b0010),
            ("A3 05 00 0A 00 01 'a'", "UNSUBSCRIBE", 0b0011, 0b0010),
            ("C8 00", "PINGREQ", 0b1000, 0),
            ("E2 00", "DISCONNECT", 0b0010, 0),
            ("12 00", "CONNECT", 0b0010, 0),
        ];
        for (wire, packet, flags, expected) in cases {
            rejects_malformed(
                version,
                wire,
                DecodeError::InvalidFlags {
                    packet,
                    flags,
                    expected,
                },
            );
        }
    }
}

#[test]
fn rejects_reserved_packet_type() {
    // 3.1.1 table 2.1 / 5.0 table 2-1: type 0 is reserved.
    rejects_malformed(
        V5,
        "00 00",
        DecodeError::ReservedPacketType { packet_type: 0 },
    );
}

#[test]
fn rejects_header_errors_before_the_length() {
    // The first byte alone is enough to reject.
    assert_eq!(
        decode_packet(&[0x41], V5, u32::MAX),
        Err(DecodeError::InvalidFlags {
            packet: "PUBACK",
            flags: 1,
            expected: 0
        })
    );
}

#[test]
fn rejects_publish_qos_3_and_dup_with_qos_0() {
    // 3.1.1 section 3.3.1.2 / 5.0 3.3.1.2: QoS 3 is malformed.
    rejects_malformed(
        V5,
        "36 07 00 03 'a/b' 00 01",
        DecodeError::InvalidQoS {
            packet: "PUBLISH",
            field: "QoS",
        },
    );
    // [MQTT-3.3.1-2]: DUP must be 0 for QoS 0.
    rejects_malformed(V311, "38 05 00 03 'a/b'", DecodeError::DupWithQoS0);
}

#[test]
fn rejects_malformed_remaining_length() {
    // 5.0 section 1.5.5: at most 4 bytes; the fourth byte's continuation bit
    // is enough to reject (no fifth byte needed).
    rejects_malformed(V5, "30 FF FF FF FF", DecodeError::MalformedRemainingLength);
    rejects_malformed(
        V5,
        "30 80 80 80 80 01",
        DecodeError::MalformedRemainingLength,
    );
    // [MQTT-1.5.5-1]: the minimum number of bytes must be used.
    rejects_malformed(V311, "C0 80 00", DecodeError::MalformedRemainingLength);
    // Three bytes with the continuation bit: still incomplete.
    assert_eq!(decode_packet(&h("30 FF FF FF"), V5, u32::MAX), Ok(None));
}

#[test]
fn rejects_oversized_packet_from_the_header() {
    // 5.0 section 3.1.2.11.4: Maximum Packet Size is the total packet size.
    // A PUBLISH announcing 200 bytes (total 203) against a maximum of 202.
    let header = h("30 C8 01");
    assert_rejects_with_max(
        V5,
        &header,
        202,
        DecodeError::PacketTooLarge {
            size: 203,
            max: 202,
        },
        ReasonCode::PacketTooLarge,
    );
    // Exactly at the maximum is accepted (it just needs the body).
    assert_eq!(decode_packet(&header, V5, 203), Ok(None));
    let mut decoder = Decoder::new(V5, 203);
    decoder.feed(&header);
    assert_eq!(decoder.next_packet(), Ok(None));
    decoder.set_max_packet_size(100);
    assert!(matches!(
        decoder.next_packet(),
        Err(DecodeError::PacketTooLarge {
            size: 203,
            max: 100
        })
    ));
}

// ---------------------------------------------------------------------------
// Negative vectors: lengths.

#[test]
fn rejects_truncated_fields() {
    // A string length running past the remaining length.
    rejects_malformed(
        V5,
        "30 04 00 05 'ab'",
        DecodeError::Truncated {
            packet: "PUBLISH",
            field: "topic name",
        },
    );
    // 3.1.1 PUBACK with a one-byte packet identifier.
    rejects_malformed(
        V311,
        "40 01 00",
        DecodeError::Truncated {
            packet: "PUBACK",
            field: "packet identifier",
        },
    );
    // A property length running past the packet.
    rejects_malformed(
        V5,
        "40 04 00 0A 00 05",
        DecodeError::Truncated {
            packet: "PUBACK",
            field: "property length",
        },
    );
    // A property value running past the property section (Topic Alias needs
    // two bytes, the section has one left).
    rejects_malformed(
        V5,
        "30 07 00 01 'a' 02 23 00 'x'",
        DecodeError::Truncated {
            packet: "PUBLISH",
            field: "Topic Alias",
        },
    );
    // A SUBSCRIBE filter without its options byte.
    rejects_malformed(
        V311,
        "82 05 00 0A 00 01 'a'",
        DecodeError::Truncated {
            packet: "SUBSCRIBE",
            field: "subscription options",
        },
    );
    // CONNECT cut after the keep alive.
    rejects_malformed(
        V311,
        "10 0A 00 04 'MQTT' 04 02 00 00",
        DecodeError::Truncated {
            packet: "CONNECT",
            field: "client identifier",
        },
    );
}

#[test]
fn rejects_trailing_bytes() {
    // 3.1.1 PUBACK has remaining length 2 (3.4.1).
    rejects_malformed(
        V311,
        "40 03 00 0A 00",
        DecodeError::TrailingBytes {
            packet: "PUBACK",
            count: 1,
        },
    );
    // PINGREQ and 3.1.1 DISCONNECT have remaining length 0.
    rejects_malformed(
        V5,
        "C0 01 00",
        DecodeError::TrailingBytes {
            packet: "PINGREQ",
            count: 1,
        },
    );
    rejects_malformed(
        V311,
        "E0 01 00",
        DecodeError::TrailingBytes {
            packet: "DISCONNECT",
            count: 1,
        },
    );
    // 3.1.1 UNSUBACK has no payload.
    rejects_malformed(
        V311,
        "B0 03 00 0B 00",
        DecodeError::TrailingBytes {
            packet: "UNSUBACK",
            count: 1,
        },
    );
    // CONNECT with a byte after the last field.
    rejects_malformed(
        V311,
        "10 0D 00 04 'MQTT' 04 02 00 00 00 00 FF",
        DecodeError::TrailingBytes {
            packet: "CONNECT",
            count: 1,
        },
    );
    // 3.1.1 CONNACK has remaining length 2.
    rejects_malformed(
        V311,
        "20 03 00 00 00",
        DecodeError::TrailingBytes {
            packet: "CONNACK",
            count: 1,
        },
    );
}

// ---------------------------------------------------------------------------
// Negative vectors: packet identifiers and filters.

#[test]
fn rejects_zero_packet_identifier() {
    // 3.1.1 section 2.3.1 / 5.0 section 2.2.1: SUBSCRIBE, UNSUBSCRIBE and
    // QoS > 0 PUBLISH need a non-zero packet identifier, and so do the acks.
    let cases: [(&str, &'static str); 7] = [
        ("32 07 00 03 'a/b' 00 00", "PUBLISH"),
        ("40 02 00 00", "PUBACK"),
        ("50 02 00 00", "PUBREC"),
        ("62 02 00 00", "PUBREL"),
        ("70 02 00 00", "PUBCOMP"),
        ("82 06 00 00 00 01 'a' 00", "SUBSCRIBE"),
        ("A2 05 00 00 00 01 'a'", "UNSUBSCRIBE"),
    ];
    for (wire, packet) in cases {
        rejects_protocol(V311, wire, DecodeError::ZeroPacketId { packet });
    }
    rejects_protocol(
        V5,
        "90 04 00 00 00 00",
        DecodeError::ZeroPacketId { packet: "SUBACK" },
    );
    rejects_protocol(
        V311,
        "B0 02 00 00",
        DecodeError::ZeroPacketId { packet: "UNSUBACK" },
    );
}

#[test]
fn rejects_subscribe_and_unsubscribe_without_filters() {
    // 3.1.1 [MQTT-3.8.3-3] / 5.0 3.8.3: at least one filter.
    rejects_protocol(
        V311,
        "82 02 00 0A",
        DecodeError::NoFilters {
            packet: "SUBSCRIBE",
        },
    );
    rejects_protocol(
        V5,
        "82 03 00 0A 00",
        DecodeError::NoFilters {
            packet: "SUBSCRIBE",
        },
    );
    rejects_protocol(
        V311,
        "A2 02 00 0A",
        DecodeError::NoFilters {
            packet: "UNSUBSCRIBE",
        },
    );
    rejects_protocol(
        V5,
        "A2 03 00 0A 00",
        DecodeError::NoFilters {
            packet: "UNSUBSCRIBE",
        },
    );
}

// ---------------------------------------------------------------------------
// Negative vectors: CONNECT.

#[test]
fn rejects_connect_protocol_name_and_level() {
    // 3.1.1 section 3.1.2.1: protocol name "MQTT" (MQTT 3.1's "MQIsdp" is
    // not spoken); 3.1.2.2: level 4, 5.0: level 5.
    rejects_protocol(
        V311,
        "10 0E 00 06 'MQIsdp' 03 02 00 00 00 00",
        DecodeError::InvalidProtocolName,
    );
    rejects_protocol(
        V311,
        "10 0C 00 04 'MQTT' 03 02 00 00 00 00",
        DecodeError::UnsupportedProtocolLevel { level: 3 },
    );
    rejects_protocol(
        V5,
        "10 0C 00 04 'MQTT' 06 02 00 00 00 00",
        DecodeError::UnsupportedProtocolLevel { level: 6 },
    );
}

#[test]
fn rejects_connect_flag_violations() {
    // 3.1.1 [MQTT-3.1.2-3] / 5.0 3.1.2.3: the reserved flag must be 0.
    rejects_malformed(
        V311,
        "10 0C 00 04 'MQTT' 04 03 00 00 00 00",
        DecodeError::ConnectReservedFlag,
    );
    // [MQTT-3.1.2-13] / 5.0 3.1.2.6: will QoS 0 without the will flag.
    rejects_malformed(
        V311,
        "10 0C 00 04 'MQTT' 04 0A 00 00 00 00",
        DecodeError::InvalidWillFlags {
            rule: "will QoS must be 0 when the will flag is 0",
        },
    );
    // [MQTT-3.1.2-15] / 5.0 3.1.2.7: will retain 0 without the will flag.
    rejects_malformed(
        V5,
        "10 0D 00 04 'MQTT' 05 22 00 00 00 00 00",
        DecodeError::InvalidWillFlags {
            rule: "will retain must be 0 when the will flag is 0",
        },
    );
    // [MQTT-3.1.2-14] / 5.0 3.1.2.6: will QoS 3 is malformed.
    rejects_malformed(
        V311,
        "10 12 00 04 'MQTT' 04 1E 00 00 00 00 00 01 't' 00 01 'p'",
        DecodeError::InvalidQoS {
            packet: "CONNECT",
            field: "will QoS",
        },
    );
    // [MQTT-3.1.2-22]: 3.1.1 forbids a password without a user name.
    rejects_protocol(
        V311,
        "10 10 00 04 'MQTT' 04 42 00 00 00 00 00 02 'pw'",
        DecodeError::PasswordWithoutUsername,
    );
}

#[test]
fn rejects_will_property_not_allowed_in_will() {
    // 5.0 section 3.1.3.2: Session Expiry Interval is a CONNECT property, not
    // a will property.
    rejects_protocol(
        V5,
        "10 18 00 04 'MQTT' 05 06 00 00 00 00 00 05 11 00 00 00 01 00 01 't' 00 00",
        DecodeError::PropertyNotAllowed {
            id: 0x11,
            packet: "CONNECT will",
        },
    );
}

// ---------------------------------------------------------------------------
// Negative vectors: CONNACK and reason codes.

#[test]
fn rejects_connack_reserved_flags() {
    // 3.1.1 section 3.2.2.1 / 5.0 3.2.2.1.1: bits 7-1 are reserved.
    rejects_malformed(
        V311,
        "20 02 02 00",
        DecodeError::ConnAckReservedFlags { flags: 0x02 },
    );
    rejects_malformed(
        V5,
        "20 03 80 00 00",
        DecodeError::ConnAckReservedFlags { flags: 0x80 },
    );
}

#[test]
fn rejects_invalid_reason_codes() {
    // 3.1.1 table 3.1: return codes 6-255 are reserved.
    rejects_malformed(
        V311,
        "20 02 00 06",
        DecodeError::InvalidReasonCode {
            packet: "CONNACK",
            code: 6,
        },
    );
    // 3.1.1 section 3.9.3: SUBACK return codes are 0, 1, 2 and 0x80.
    rejects_malformed(
        V311,
        "90 03 00 01 03",
        DecodeError::InvalidReasonCode {
            packet: "SUBACK",
            code: 3,
        },
    );
    // 5.0: 0x03 is not a reason code at all...
    rejects_malformed(
        V5,
        "20 03 00 03 00",
        DecodeError::InvalidReasonCode {
            packet: "CONNACK",
            code: 3,
        },
    );
    // ...0x04 exists, but only for DISCONNECT (table 2-6).
    rejects_malformed(
        V5,
        "20 03 00 04 00",
        DecodeError::InvalidReasonCode {
            packet: "CONNACK",
            code: 4,
        },
    );
    // PUBACK does not define 0x92 (a PUBREL/PUBCOMP code).
    rejects_malformed(
        V5,
        "40 03 00 0A 92",
        DecodeError::InvalidReasonCode {
            packet: "PUBACK",
            code: 0x92,
        },
    );
    // SUBACK does not define 0x10.
    rejects_malformed(
        V5,
        "90 04 00 01 00 10",
        DecodeError::InvalidReasonCode {
            packet: "SUBACK",
            code: 0x10,
        },
    );
    // UNSUBACK does not define 0x97.
    rejects_malformed(
        V5,
        "B0 04 00 01 00 97",
        DecodeError::InvalidReasonCode {
            packet: "UNSUBACK",
            code: 0x97,
        },
    );
    // DISCONNECT does not define 0x01; AUTH only 0x00, 0x18, 0x19.
    rejects_malformed(
        V5,
        "E0 01 01",
        DecodeError::InvalidReasonCode {
            packet: "DISCONNECT",
            code: 1,
        },
    );
    rejects_malformed(
        V5,
        "F0 02 80 00",
        DecodeError::InvalidReasonCode {
            packet: "AUTH",
            code: 0x80,
        },
    );
}

// ---------------------------------------------------------------------------
// Negative vectors: SUBSCRIBE options.

#[test]
fn rejects_invalid_subscription_options() {
    // 5.0 [MQTT-3.8.3-5]: reserved bits 6-7 must be 0 (malformed).
    rejects_malformed(
        V5,
        "82 07 00 0A 00 00 01 'a' 40",
        DecodeError::InvalidSubscriptionOptions {
            options: 0x40,
            rule: "bits 6-7 are reserved",
        },
    );
    // 5.0 section 3.8.3.1: retain handling 3 is a protocol error.
    rejects_protocol(
        V5,
        "82 07 00 0A 00 00 01 'a' 30",
        DecodeError::InvalidRetainHandling { options: 0x30 },
    );
    // QoS 3 is malformed (both versions).
    for (version, wire) in [
        (V5, "82 07 00 0A 00 00 01 'a' 03"),
        (V311, "82 06 00 0A 00 01 'a' 03"),
    ] {
        rejects_malformed(
            version,
            wire,
            DecodeError::InvalidQoS {
                packet: "SUBSCRIBE",
                field: "subscription maximum QoS",
            },
        );
    }
    // 3.1.1 [MQTT-3-8.3-4]: bits 2-7 are reserved (No Local is 5.0 only).
    rejects_malformed(
        V311,
        "82 06 00 0A 00 01 'a' 04",
        DecodeError::InvalidSubscriptionOptions {
            options: 0x04,
            rule: "bits 2-7 are reserved in MQTT 3.1.1",
        },
    );
}

// ---------------------------------------------------------------------------
// Negative vectors: strings.

#[test]
fn rejects_bad_utf8_and_null_characters() {
    // 3.1.1 section 1.5.3 / 5.0 1.5.4: well-formed UTF-8 only.
    rejects_malformed(
        V311,
        "30 03 00 01 FF",
        DecodeError::InvalidUtf8 {
            packet: "PUBLISH",
            field: "topic name",
        },
    );
    // An encoded surrogate (U+D800 as ED A0 80) is not well-formed.
    rejects_malformed(
        V5,
        "A2 08 00 0A 00 00 03 ED A0 80",
        DecodeError::InvalidUtf8 {
            packet: "UNSUBSCRIBE",
            field: "topic filter",
        },
    );
    // [MQTT-1.5.3-2]: no U+0000.
    rejects_malformed(
        V311,
        "30 03 00 01 00",
        DecodeError::NullCharacter {
            packet: "PUBLISH",
            field: "topic name",
        },
    );
    rejects_malformed(
        V311,
        "82 06 00 0A 00 01 00 00",
        DecodeError::NullCharacter {
            packet: "SUBSCRIBE",
            field: "topic filter",
        },
    );
    rejects_malformed(
        V311,
        "10 0D 00 04 'MQTT' 04 02 00 00 00 01 00",
        DecodeError::NullCharacter {
            packet: "CONNECT",
            field: "client identifier",
        },
    );
    // In a user property of a CONNACK.
    let wire = connack_v5_props("26 00 01 00 00 01 'v'");
    assert_rejects(
        V5,
        &wire,
        DecodeError::NullCharacter {
            packet: "CONNACK",
            field: "user property name",
        },
        ReasonCode::MalformedPacket,
    );
}

#[test]
fn rejects_wildcards_in_topic_names() {
    // 3.1.1 [MQTT-3.3.2-2] / 5.0 3.3.2.1: no wildcard in a topic name.
    rejects_malformed(V311, "30 05 00 03 'a/+'", DecodeError::WildcardInTopicName);
    rejects_malformed(V5, "30 06 00 03 'a/#' 00", DecodeError::WildcardInTopicName);
    assert_eq!(
        DecodeError::WildcardInTopicName.to_string(),
        "PUBLISH topic name contains a wildcard character ('+' or '#')"
    );
}

// ---------------------------------------------------------------------------
// Negative vectors: 5.0 properties.

#[test]
fn rejects_duplicate_properties() {
    // 5.0 section 3.3.2.3: it is a protocol error to include a property
    // other than User Property and Subscription Identifier twice.
    let wire = publish_v5_props("23 00 01 23 00 02");
    assert_rejects(
        V5,
        &wire,
        DecodeError::DuplicateProperty {
            id: 0x23,
            packet: "PUBLISH",
        },
        ReasonCode::ProtocolError,
    );
    let wire = connack_v5_props("21 00 01 21 00 01");
    assert_rejects(
        V5,
        &wire,
        DecodeError::DuplicateProperty {
            id: 0x21,
            packet: "CONNACK",
        },
        ReasonCode::ProtocolError,
    );
    // A SUBSCRIBE carries at most one Subscription Identifier (3.8.2.1.2).
    rejects_protocol(
        V5,
        "82 0B 00 0A 04 0B 01 0B 02 00 01 'a' 00",
        DecodeError::DuplicateProperty {
            id: 0x0B,
            packet: "SUBSCRIBE",
        },
    );
    // User properties may repeat, with the same name too.
    let mut expected = Publish::new("a", &b"x"[..], QoS::AtMostOnce);
    expected.properties.user_properties = vec![user("k", "1"), user("k", "2")];
    let wire = publish_v5_props("26 00 01 'k' 00 01 '1' 26 00 01 'k' 00 01 '2'");
    assert_decodes(V5, &wire, &Packet::Publish(expected));
}

#[test]
fn rejects_properties_not_allowed_in_the_packet() {
    // 5.0 table 2-4: Receive Maximum is a CONNECT/CONNACK property.
    let wire = publish_v5_props("21 00 01");
    assert_rejects(
        V5,
        &wire,
        DecodeError::PropertyNotAllowed {
            id: 0x21,
            packet: "PUBLISH",
        },
        ReasonCode::ProtocolError,
    );
    // Topic Alias is a PUBLISH property.
    let wire = connack_v5_props("23 00 01");
    assert_rejects(
        V5,
        &wire,
        DecodeError::PropertyNotAllowed {
            id: 0x23,
            packet: "CONNACK",
        },
        ReasonCode::ProtocolError,
    );
    // Only Reason String and User Property in the acks.
    rejects_protocol(
        V5,
        "40 09 00 0A 00 05 11 00 00 00 01",
        DecodeError::PropertyNotAllowed {
            id: 0x11,
            packet: "PUBACK",
        },
    );
    rejects_protocol(
        V5,
        "E0 04 00 02 24 01",
        DecodeError::PropertyNotAllowed {
            id: 0x24,
            packet: "DISCONNECT",
        },
    );
}

#[test]
fn rejects_unknown_properties() {
    // 5.0 table 2-4 defines no identifier 0x05, 0x2B or 0x80 and up.
    for id in [0x00u8, 0x05, 0x2B, 0x7F, 0x80] {
        let wire = publish_v5_props(&format!("{id:02X} 00"));
        assert_rejects(
            V5,
            &wire,
            DecodeError::UnknownProperty {
                id,
                packet: "PUBLISH",
            },
            ReasonCode::MalformedPacket,
        );
    }
}

#[test]
fn rejects_forbidden_property_values() {
    let cases: [(&str, u8, u32, &str); 9] = [
        // 3.2.2.3.3: Receive Maximum 0.
        ("21 00 00", 0x21, 0, "must not be 0"),
        // 3.2.2.3.6: Maximum Packet Size 0.
        ("27 00 00 00 00", 0x27, 0, "must not be 0"),
        // 3.2.2.3.4: Maximum QoS other than 0 or 1.
        ("24 02", 0x24, 2, "must be 0 or 1"),
        // 3.2.2.3.5: Retain Available other than 0 or 1.
        ("25 02", 0x25, 2, "must be 0 or 1"),
        // 3.2.2.3.11-13: the three *Available flags.
        ("28 05", 0x28, 5, "must be 0 or 1"),
        ("29 02", 0x29, 2, "must be 0 or 1"),
        ("2A FF", 0x2A, 255, "must be 0 or 1"),
        // Maximum QoS 1 is fine but a second one is a duplicate: not here.
        ("24 03", 0x24, 3, "must be 0 or 1"),
        ("21 00 00 21 00 01", 0x21, 0, "must not be 0"),
    ];
    for (props, id, value, rule) in cases {
        let wire = connack_v5_props(props);
        assert_rejects(
            V5,
            &wire,
            DecodeError::InvalidPropertyValue {
                id,
                packet: "CONNACK",
                value,
                rule,
            },
            ReasonCode::ProtocolError,
        );
    }
    // 3.3.2.3.2: Payload Format Indicator 0 or 1.
    assert_rejects(
        V5,
        &publish_v5_props("01 02"),
        DecodeError::InvalidPropertyValue {
            id: 0x01,
            packet: "PUBLISH",
            value: 2,
            rule: "must be 0 or 1",
        },
        ReasonCode::ProtocolError,
    );
    // 3.3.2.3.8: Subscription Identifier 0.
    assert_rejects(
        V5,
        &publish_v5_props("0B 00"),
        DecodeError::InvalidPropertyValue {
            id: 0x0B,
            packet: "PUBLISH",
            value: 0,
            rule: "must not be 0",
        },
        ReasonCode::ProtocolError,
    );
    rejects_protocol(
        V5,
        "82 09 00 0A 02 0B 00 00 01 'a' 00",
        DecodeError::InvalidPropertyValue {
            id: 0x0B,
            packet: "SUBSCRIBE",
            value: 0,
            rule: "must not be 0",
        },
    );
    // 3.1.2.11.7: Request Problem Information 0 or 1.
    rejects_protocol(
        V5,
        "10 0F 00 04 'MQTT' 05 02 00 00 02 17 02 00 00",
        DecodeError::InvalidPropertyValue {
            id: 0x17,
            packet: "CONNECT",
            value: 2,
            rule: "must be 0 or 1",
        },
    );
}

#[test]
fn rejects_malformed_property_varints() {
    // 5.0 section 1.5.5 applies to the Subscription Identifier...
    assert_rejects(
        V5,
        &publish_v5_props("0B 80 80 80 80 01"),
        DecodeError::MalformedVarint {
            packet: "PUBLISH",
            field: "subscription identifier",
        },
        ReasonCode::MalformedPacket,
    );
    assert_rejects(
        V5,
        &publish_v5_props("0B 81 00"),
        DecodeError::MalformedVarint {
            packet: "PUBLISH",
            field: "subscription identifier",
        },
        ReasonCode::MalformedPacket,
    );
    // ...and to the property length.
    rejects_malformed(
        V5,
        "30 09 00 01 'a' 80 80 80 80 01 'x'",
        DecodeError::MalformedVarint {
            packet: "PUBLISH",
            field: "property length",
        },
    );
}

// ---------------------------------------------------------------------------
// Encoder errors.

#[test]
fn encode_rejects_long_strings_and_binaries() {
    let long = "x".repeat(65_536);
    let publish = Publish::new(long.clone(), Bytes::new(), QoS::AtMostOnce);
    assert_eq!(
        encode_err(V311, &Packet::Publish(publish)),
        EncodeError::StringTooLong {
            field: "topic name",
            len: 65_536
        }
    );
    // 65 535 bytes is the longest allowed.
    let publish = Publish::new("x".repeat(65_535), Bytes::new(), QoS::AtMostOnce);
    assert_eq!(
        encode(&Packet::Publish(publish), V311).len(),
        1 + 3 + 2 + 65_535
    );

    let mut publish = Publish::new("t", Bytes::new(), QoS::AtMostOnce);
    publish.properties.correlation_data = Some(Bytes::from(vec![0; 70_000]));
    assert_eq!(
        encode_err(V5, &Packet::Publish(publish.clone())),
        EncodeError::BinaryTooLong {
            field: "correlation data",
            len: 70_000
        }
    );
    // Properties are not encoded for 3.1.1, so not checked either.
    assert!(encoded_len(&Packet::Publish(publish), V311).is_ok());

    let mut publish = Publish::new("t", Bytes::new(), QoS::AtMostOnce);
    publish.properties.user_properties = vec![(String::new(), long)];
    assert_eq!(
        encode_err(V5, &Packet::Publish(publish)),
        EncodeError::StringTooLong {
            field: "user property value",
            len: 65_536
        }
    );
    let connect = Packet::Connect(Box::new(Connect {
        protocol: V311,
        username: Some("u".into()),
        password: Some(Bytes::from(vec![0; 65_536])),
        ..Connect::default()
    }));
    assert_eq!(
        encode_err(V311, &connect),
        EncodeError::BinaryTooLong {
            field: "password",
            len: 65_536
        }
    );
}

#[test]
fn encode_rejects_zero_packet_ids_and_empty_filter_lists() {
    for version in [V311, V5] {
        let publish = Publish::new("t", Bytes::new(), QoS::AtLeastOnce);
        assert_eq!(
            encode_err(version, &Packet::Publish(publish)),
            EncodeError::ZeroPacketId { packet: "PUBLISH" }
        );
        assert_eq!(
            encode_err(version, &Packet::PubRel(PubResponse::new(0))),
            EncodeError::ZeroPacketId { packet: "PUBREL" }
        );
        let subscribe = Subscribe {
            packet_id: 0,
            filters: vec![SubscribeFilter::new("a", QoS::AtMostOnce)],
            properties: SubscribeProperties::default(),
        };
        assert_eq!(
            encode_err(version, &Packet::Subscribe(subscribe)),
            EncodeError::ZeroPacketId {
                packet: "SUBSCRIBE"
            }
        );
        let subscribe = Subscribe {
            packet_id: 1,
            ..Subscribe::default()
        };
        assert_eq!(
            encode_err(version, &Packet::Subscribe(subscribe)),
            EncodeError::NoFilters {
                packet: "SUBSCRIBE"
            }
        );
        let unsubscribe = Unsubscribe {
            packet_id: 1,
            ..Unsubscribe::default()
        };
        assert_eq!(
            encode_err(version, &Packet::Unsubscribe(unsubscribe)),
            EncodeError::NoFilters {
                packet: "UNSUBSCRIBE"
            }
        );
    }
}

#[test]
fn encode_rejects_invalid_subscription_identifiers() {
    for value in [0, 268_435_456, u32::MAX] {
        let subscribe = Subscribe {
            packet_id: 1,
            filters: vec![SubscribeFilter::new("a", QoS::AtMostOnce)],
            properties: SubscribeProperties {
                subscription_identifier: Some(value),
                user_properties: vec![],
            },
        };
        assert_eq!(
            encode_err(V5, &Packet::Subscribe(subscribe.clone())),
            EncodeError::InvalidSubscriptionIdentifier { value }
        );
        // Not encoded, so not checked, in 3.1.1.
        assert!(encoded_len(&Packet::Subscribe(subscribe), V311).is_ok());
        let mut publish = Publish::new("t", Bytes::new(), QoS::AtMostOnce);
        publish.properties.subscription_identifiers = vec![5, value];
        assert_eq!(
            encode_err(V5, &Packet::Publish(publish)),
            EncodeError::InvalidSubscriptionIdentifier { value }
        );
    }
}

#[test]
fn encode_rejects_version_and_value_violations() {
    let connect = Packet::Connect(Box::new(Connect {
        protocol: V311,
        password: Some(Bytes::from_static(b"pw")),
        ..Connect::default()
    }));
    assert_eq!(
        encode_err(V5, &connect),
        EncodeError::PasswordWithoutUsername
    );
    assert_eq!(
        encode_err(V5, &Packet::PubAck(ack(1, ReasonCode::GrantedQoS1))),
        EncodeError::InvalidReasonCode {
            packet: "PUBACK",
            code: ReasonCode::GrantedQoS1
        }
    );
    let disconnect = Packet::Disconnect(Disconnect {
        reason_code: ReasonCode::Banned,
        properties: DisconnectProperties::default(),
    });
    assert_eq!(
        encode_err(V5, &disconnect),
        EncodeError::InvalidReasonCode {
            packet: "DISCONNECT",
            code: ReasonCode::Banned
        }
    );
    let connack = |properties| {
        Packet::ConnAck(Box::new(ConnAck {
            properties,
            ..ConnAck::default()
        }))
    };
    assert_eq!(
        encode_err(
            V5,
            &connack(ConnAckProperties {
                receive_maximum: Some(0),
                ..ConnAckProperties::default()
            })
        ),
        EncodeError::InvalidProperty {
            property: "Receive Maximum",
            rule: "must not be 0"
        }
    );
    assert_eq!(
        encode_err(
            V5,
            &connack(ConnAckProperties {
                maximum_qos: Some(QoS::ExactlyOnce),
                ..ConnAckProperties::default()
            })
        ),
        EncodeError::InvalidProperty {
            property: "Maximum QoS",
            rule: "must be 0 or 1"
        }
    );
    let connect = Packet::Connect(Box::new(Connect {
        protocol: V5,
        properties: ConnectProperties {
            maximum_packet_size: Some(0),
            ..ConnectProperties::default()
        },
        ..Connect::default()
    }));
    assert_eq!(
        encode_err(V5, &connect),
        EncodeError::InvalidProperty {
            property: "Maximum Packet Size",
            rule: "must not be 0"
        }
    );
}

#[test]
fn error_messages_name_packet_and_rule() {
    let error = DecodeError::DuplicateProperty {
        id: 0x23,
        packet: "PUBLISH",
    };
    assert_eq!(
        error.to_string(),
        "PUBLISH carries property 0x23 (Topic Alias) more than once"
    );
    let error = EncodeError::StringTooLong {
        field: "topic name",
        len: 70_000,
    };
    assert_eq!(
        error.to_string(),
        "topic name is 70000 bytes long; UTF-8 string fields are limited to 65,535 bytes"
    );
}

#[test]
fn encode_appends_to_existing_bytes() {
    let mut out = h("C0 00");
    encode_packet(&Packet::PingResp, V5, &mut out).unwrap();
    assert_eq!(out, h("C0 00 D0 00"));
}
