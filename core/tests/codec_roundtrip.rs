//! Property tests of the codec: every packet type with valid values survives
//! encode -> decode in both protocol versions, `encoded_len` matches the
//! bytes written, the incremental `Decoder` gives the same packets whatever
//! the chunking of the stream, and no input makes the decoder panic.

use bytes::Bytes;
use midge_core::packet::{
    decode_packet, encode_packet, encoded_len, AckProperties, Auth, AuthProperties, ConnAck,
    ConnAckProperties, Connect, ConnectProperties, DecodeError, Decoder, Disconnect,
    DisconnectProperties, LastWill, Packet, ProtocolVersion, PubResponse, Publish,
    PublishProperties, QoS, ReasonCode, RetainHandling, SubAck, Subscribe, SubscribeFilter,
    SubscribeProperties, SubscriptionOptions, UnsubAck, Unsubscribe, UnsubscribeProperties,
    UserProperty, WillProperties,
};
use proptest::collection::vec;
use proptest::option::of as maybe;
use proptest::prelude::*;
use proptest::strategy::Union;

use ProtocolVersion::{V311, V5};

// ---------------------------------------------------------------------------
// Reason codes each packet may carry (MQTT 5.0 chapter 3), written out here
// independently of the codec's own table.

const CONNACK_CODES: &[u8] = &[
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
    0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
];
const PUBACK_CODES: &[u8] = &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
const PUBREL_CODES: &[u8] = &[0x00, 0x92];
const SUBACK_CODES: &[u8] = &[
    0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
];
const UNSUBACK_CODES: &[u8] = &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91];
const DISCONNECT_CODES: &[u8] = &[
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
    0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
];
const AUTH_CODES: &[u8] = &[0x00, 0x18, 0x19];
/// 3.1.1 CONNACK return codes 0-5 as reason codes.
const V311_CONNACK_CODES: &[u8] = &[0x00, 0x84, 0x85, 0x88, 0x86, 0x87];
/// 3.1.1 SUBACK return codes 0, 1, 2, 0x80.
const V311_SUBACK_CODES: &[u8] = &[0x00, 0x01, 0x02, 0x80];

fn reason(codes: &'static [u8]) -> impl Strategy<Value = ReasonCode> {
    proptest::sample::select(codes).prop_map(|code| ReasonCode::from_u8(code).expect("known code"))
}

// ---------------------------------------------------------------------------
// Field strategies.

/// A valid UTF-8 string field: any characters except U+0000.
fn text() -> impl Strategy<Value = String> {
    "[^\\x00]{0,8}"
}

/// A valid topic name: no U+0000 and no wildcard.
fn topic() -> impl Strategy<Value = String> {
    "[^\\x00+#]{0,12}"
}

fn binary() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..12).prop_map(Bytes::from)
}

fn users() -> impl Strategy<Value = Vec<UserProperty>> {
    vec((text(), text()), 0..3)
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn packet_id() -> impl Strategy<Value = u16> {
    1..=u16::MAX
}

fn subscription_identifier() -> impl Strategy<Value = u32> {
    prop_oneof![1..=300u32, 1..=268_435_455u32]
}

fn ack_properties(version: ProtocolVersion) -> BoxedStrategy<AckProperties> {
    if version == V311 {
        return Just(AckProperties::default()).boxed();
    }
    (maybe(text()), users())
        .prop_map(|(reason_string, user_properties)| AckProperties {
            reason_string,
            user_properties,
        })
        .boxed()
}

// ---------------------------------------------------------------------------
// Packet strategies.

fn connect_properties() -> impl Strategy<Value = ConnectProperties> {
    (
        maybe(any::<u32>()),
        maybe(1..=u16::MAX),
        maybe(1..=u32::MAX),
        maybe(any::<u16>()),
        maybe(any::<bool>()),
        maybe(any::<bool>()),
        users(),
        maybe(text()),
        maybe(binary()),
    )
        .prop_map(
            |(expiry, receive, max_size, alias, response, problem, users, method, data)| {
                ConnectProperties {
                    session_expiry_interval: expiry,
                    receive_maximum: receive,
                    maximum_packet_size: max_size,
                    topic_alias_maximum: alias,
                    request_response_information: response,
                    request_problem_information: problem,
                    user_properties: users,
                    authentication_method: method,
                    authentication_data: data,
                }
            },
        )
}

fn will_properties() -> impl Strategy<Value = WillProperties> {
    (
        maybe(any::<u32>()),
        maybe(any::<bool>()),
        maybe(any::<u32>()),
        maybe(text()),
        maybe(topic()),
        maybe(binary()),
        users(),
    )
        .prop_map(
            |(delay, format, expiry, content, response, correlation, users)| WillProperties {
                will_delay_interval: delay,
                payload_format_indicator: format,
                message_expiry_interval: expiry,
                content_type: content,
                response_topic: response,
                correlation_data: correlation,
                user_properties: users,
            },
        )
}

fn connect(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let v5 = version == V5;
    let will = (topic(), binary(), qos(), any::<bool>(), will_properties()).prop_map(
        move |(topic, payload, qos, retain, properties)| LastWill {
            topic,
            payload,
            qos,
            retain,
            properties: if v5 {
                properties
            } else {
                WillProperties::default()
            },
        },
    );
    (
        text(),
        any::<bool>(),
        any::<u16>(),
        maybe(text()),
        maybe(binary()),
        maybe(will),
        connect_properties(),
    )
        .prop_map(
            move |(client_id, clean_start, keep_alive, username, password, will, properties)| {
                // 3.1.1 forbids a password without a user name.
                let password = if v5 || username.is_some() {
                    password
                } else {
                    None
                };
                Packet::Connect(Box::new(Connect {
                    protocol: version,
                    client_id,
                    clean_start,
                    keep_alive,
                    username,
                    password,
                    will,
                    properties: if v5 {
                        properties
                    } else {
                        ConnectProperties::default()
                    },
                }))
            },
        )
}

fn connack_properties() -> impl Strategy<Value = ConnAckProperties> {
    let first = (
        maybe(any::<u32>()),
        maybe(1..=u16::MAX),
        maybe(prop_oneof![Just(QoS::AtMostOnce), Just(QoS::AtLeastOnce)]),
        maybe(any::<bool>()),
        maybe(1..=u32::MAX),
        maybe(text()),
        maybe(any::<u16>()),
        maybe(text()),
        users(),
    );
    let second = (
        maybe(any::<bool>()),
        maybe(any::<bool>()),
        maybe(any::<bool>()),
        maybe(any::<u16>()),
        maybe(text()),
        maybe(text()),
        maybe(text()),
        maybe(binary()),
    );
    (first, second).prop_map(
        |(
            (expiry, receive, max_qos, retain, max_size, assigned, alias, reason, users),
            (wildcard, sub_ids, shared, keep_alive, response, reference, method, data),
        )| ConnAckProperties {
            session_expiry_interval: expiry,
            receive_maximum: receive,
            maximum_qos: max_qos,
            retain_available: retain,
            maximum_packet_size: max_size,
            assigned_client_identifier: assigned,
            topic_alias_maximum: alias,
            reason_string: reason,
            user_properties: users,
            wildcard_subscription_available: wildcard,
            subscription_identifiers_available: sub_ids,
            shared_subscription_available: shared,
            server_keep_alive: keep_alive,
            response_information: response,
            server_reference: reference,
            authentication_method: method,
            authentication_data: data,
        },
    )
}

fn connack(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let codes = if version == V5 {
        CONNACK_CODES
    } else {
        V311_CONNACK_CODES
    };
    let properties = if version == V5 {
        connack_properties().boxed()
    } else {
        Just(ConnAckProperties::default()).boxed()
    };
    (any::<bool>(), reason(codes), properties)
        .prop_map(|(session_present, reason_code, properties)| {
            Packet::ConnAck(Box::new(ConnAck {
                session_present,
                reason_code,
                properties,
            }))
        })
        .boxed()
}

fn publish_properties() -> impl Strategy<Value = PublishProperties> {
    (
        maybe(any::<bool>()),
        maybe(any::<u32>()),
        maybe(any::<u16>()),
        maybe(topic()),
        maybe(binary()),
        users(),
        vec(subscription_identifier(), 0..3),
        maybe(text()),
    )
        .prop_map(
            |(format, expiry, alias, response, correlation, users, ids, content)| {
                PublishProperties {
                    payload_format_indicator: format,
                    message_expiry_interval: expiry,
                    topic_alias: alias,
                    response_topic: response,
                    correlation_data: correlation,
                    user_properties: users,
                    subscription_identifiers: ids,
                    content_type: content,
                }
            },
        )
}

fn publish(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let v5 = version == V5;
    (
        qos(),
        any::<bool>(),
        any::<bool>(),
        topic(),
        packet_id(),
        vec(any::<u8>(), 0..64),
        publish_properties(),
    )
        .prop_map(
            move |(qos, dup, retain, topic, packet_id, payload, properties)| {
                let qos0 = qos == QoS::AtMostOnce;
                Packet::Publish(Publish {
                    dup: dup && !qos0,
                    qos,
                    retain,
                    topic,
                    packet_id: if qos0 { 0 } else { packet_id },
                    payload: Bytes::from(payload),
                    properties: if v5 {
                        properties
                    } else {
                        PublishProperties::default()
                    },
                })
            },
        )
}

fn pub_response(version: ProtocolVersion, codes: &'static [u8]) -> BoxedStrategy<PubResponse> {
    let reason_code = if version == V5 {
        reason(codes).boxed()
    } else {
        Just(ReasonCode::Success).boxed()
    };
    (packet_id(), reason_code, ack_properties(version))
        .prop_map(|(packet_id, reason_code, properties)| PubResponse {
            packet_id,
            reason_code,
            properties,
        })
        .boxed()
}

fn subscribe(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let v5 = version == V5;
    let retain_handling = prop_oneof![
        Just(RetainHandling::SendAtSubscribe),
        Just(RetainHandling::SendIfNew),
        Just(RetainHandling::DoNotSend)
    ];
    let options = (qos(), any::<bool>(), any::<bool>(), retain_handling).prop_map(
        move |(qos, no_local, retain_as_published, retain_handling)| {
            if v5 {
                SubscriptionOptions {
                    qos,
                    no_local,
                    retain_as_published,
                    retain_handling,
                }
            } else {
                SubscriptionOptions {
                    qos,
                    ..SubscriptionOptions::default()
                }
            }
        },
    );
    let filter = ("[^\\x00]{0,10}", options)
        .prop_map(|(filter, options)| SubscribeFilter { filter, options });
    (
        packet_id(),
        vec(filter, 1..5),
        maybe(subscription_identifier()),
        users(),
    )
        .prop_map(move |(packet_id, filters, identifier, users)| {
            let properties = if v5 {
                SubscribeProperties {
                    subscription_identifier: identifier,
                    user_properties: users,
                }
            } else {
                SubscribeProperties::default()
            };
            Packet::Subscribe(Subscribe {
                packet_id,
                filters,
                properties,
            })
        })
}

fn suback(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let codes = if version == V5 {
        SUBACK_CODES
    } else {
        V311_SUBACK_CODES
    };
    (
        packet_id(),
        vec(reason(codes), 0..5),
        ack_properties(version),
    )
        .prop_map(|(packet_id, reason_codes, properties)| {
            Packet::SubAck(SubAck {
                packet_id,
                reason_codes,
                properties,
            })
        })
}

fn unsubscribe(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let v5 = version == V5;
    (packet_id(), vec("[^\\x00]{0,10}", 1..5), users()).prop_map(
        move |(packet_id, filters, users)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                filters,
                properties: UnsubscribeProperties {
                    user_properties: if v5 { users } else { Vec::new() },
                },
            })
        },
    )
}

fn unsuback(version: ProtocolVersion) -> impl Strategy<Value = Packet> {
    let v5 = version == V5;
    (
        packet_id(),
        vec(reason(UNSUBACK_CODES), 0..5),
        ack_properties(version),
    )
        .prop_map(move |(packet_id, reason_codes, properties)| {
            Packet::UnsubAck(UnsubAck {
                packet_id,
                // 3.1.1 UNSUBACK carries no reason codes.
                reason_codes: if v5 { reason_codes } else { Vec::new() },
                properties,
            })
        })
}

fn disconnect(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    if version == V311 {
        return Just(Packet::Disconnect(Disconnect::default())).boxed();
    }
    let properties = (maybe(any::<u32>()), maybe(text()), users(), maybe(text())).prop_map(
        |(expiry, reason, users, reference)| DisconnectProperties {
            session_expiry_interval: expiry,
            reason_string: reason,
            user_properties: users,
            server_reference: reference,
        },
    );
    (reason(DISCONNECT_CODES), properties)
        .prop_map(|(reason_code, properties)| {
            Packet::Disconnect(Disconnect {
                reason_code,
                properties,
            })
        })
        .boxed()
}

fn auth() -> impl Strategy<Value = Packet> {
    let properties = (maybe(text()), maybe(binary()), maybe(text()), users()).prop_map(
        |(method, data, reason, users)| AuthProperties {
            authentication_method: method,
            authentication_data: data,
            reason_string: reason,
            user_properties: users,
        },
    );
    (reason(AUTH_CODES), properties).prop_map(|(reason_code, properties)| {
        Packet::Auth(Auth {
            reason_code,
            properties,
        })
    })
}

/// Every packet type valid in `version`.
fn packet(version: ProtocolVersion) -> BoxedStrategy<Packet> {
    let mut arms: Vec<BoxedStrategy<Packet>> = vec![
        connect(version).boxed(),
        connack(version),
        publish(version).boxed(),
        pub_response(version, PUBACK_CODES)
            .prop_map(Packet::PubAck)
            .boxed(),
        pub_response(version, PUBACK_CODES)
            .prop_map(Packet::PubRec)
            .boxed(),
        pub_response(version, PUBREL_CODES)
            .prop_map(Packet::PubRel)
            .boxed(),
        pub_response(version, PUBREL_CODES)
            .prop_map(Packet::PubComp)
            .boxed(),
        subscribe(version).boxed(),
        suback(version).boxed(),
        unsubscribe(version).boxed(),
        unsuback(version).boxed(),
        Just(Packet::PingReq).boxed(),
        Just(Packet::PingResp).boxed(),
        disconnect(version),
    ];
    if version == V5 {
        arms.push(auth().boxed());
    }
    Union::new(arms).boxed()
}

fn version() -> impl Strategy<Value = ProtocolVersion> {
    prop_oneof![Just(V311), Just(V5)]
}

/// A version and packets valid in it.
fn packets(max: usize) -> impl Strategy<Value = (ProtocolVersion, Vec<Packet>)> {
    version().prop_flat_map(move |version| (Just(version), vec(packet(version), 1..max)))
}

fn encode(packet: &Packet, version: ProtocolVersion) -> Vec<u8> {
    let mut out = Vec::new();
    encode_packet(packet, version, &mut out).expect("valid packet encodes");
    out
}

/// Drains the decoder; stops at the first error.
fn drain(decoder: &mut Decoder, into: &mut Vec<Packet>) -> Result<(), DecodeError> {
    while let Some(packet) = decoder.next_packet()? {
        into.push(packet);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_v5_packet_round_trips(packet in packet(V5)) {
        let wire = encode(&packet, V5);
        prop_assert_eq!(encoded_len(&packet, V5), Ok(wire.len()));
        let decoded = decode_packet(&wire, V5, u32::MAX);
        prop_assert_eq!(decoded, Ok(Some((packet, wire.len()))));
    }

    #[test]
    fn every_v311_packet_round_trips(packet in packet(V311)) {
        let wire = encode(&packet, V311);
        prop_assert_eq!(encoded_len(&packet, V311), Ok(wire.len()));
        let decoded = decode_packet(&wire, V311, u32::MAX);
        prop_assert_eq!(decoded, Ok(Some((packet, wire.len()))));
    }

    #[test]
    fn max_packet_size_is_exact((version, list) in packets(2)) {
        // A packet of exactly the maximum size passes, one byte more does not.
        let wire = encode(&list[0], version);
        let size = u32::try_from(wire.len()).unwrap();
        prop_assert!(decode_packet(&wire, version, size).unwrap().is_some());
        prop_assert_eq!(
            decode_packet(&wire, version, size - 1),
            Err(DecodeError::PacketTooLarge { size: wire.len(), max: size - 1 })
        );
    }

    #[test]
    fn decoder_handles_any_chunking(
        (version, list) in packets(8),
        chunks in vec(1usize..40, 1..64),
        one_byte in any::<bool>(),
    ) {
        let mut stream = Vec::new();
        for packet in &list {
            encode_packet(packet, version, &mut stream).unwrap();
        }
        let mut decoder = Decoder::new(version, u32::MAX);
        let mut decoded = Vec::new();
        let mut rest = &stream[..];
        let mut sizes = chunks.iter().cycle();
        while !rest.is_empty() {
            let size = if one_byte { 1 } else { *sizes.next().unwrap() };
            let (chunk, tail) = rest.split_at(size.min(rest.len()));
            decoder.feed(chunk);
            drain(&mut decoder, &mut decoded).unwrap();
            rest = tail;
        }
        prop_assert_eq!(decoded, list);
        prop_assert_eq!(decoder.buffered_len(), 0);
    }

    #[test]
    fn decode_packet_walks_a_stream((version, list) in packets(8)) {
        let mut stream = Vec::new();
        for packet in &list {
            encode_packet(packet, version, &mut stream).unwrap();
        }
        let mut offset = 0;
        let mut decoded = Vec::new();
        while let Some((packet, used)) = decode_packet(&stream[offset..], version, u32::MAX).unwrap() {
            decoded.push(packet);
            offset += used;
        }
        prop_assert_eq!(offset, stream.len());
        prop_assert_eq!(decoded, list);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        data in vec(any::<u8>(), 0..300),
        chunks in vec(1usize..20, 1..16),
        small_max in 0u32..64,
    ) {
        for version in [V311, V5] {
            for max in [u32::MAX, small_max] {
                let _ = decode_packet(&data, version, max);
                let mut decoder = Decoder::new(version, max);
                let mut decoded = Vec::new();
                let mut rest = &data[..];
                for size in chunks.iter().cycle() {
                    if rest.is_empty() {
                        break;
                    }
                    let (chunk, tail) = rest.split_at((*size).min(rest.len()));
                    decoder.feed(chunk);
                    rest = tail;
                    if drain(&mut decoder, &mut decoded).is_err() {
                        break;
                    }
                }
                // Whatever decoded is valid: it round-trips.
                for packet in decoded {
                    let wire = encode(&packet, version);
                    prop_assert_eq!(
                        decode_packet(&wire, version, u32::MAX),
                        Ok(Some((packet, wire.len())))
                    );
                }
            }
        }
    }

    #[test]
    fn mutated_packets_never_panic(
        (version, list) in packets(2),
        edits in vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    ) {
        let mut wire = encode(&list[0], version);
        for (index, byte, kind) in edits {
            match kind {
                0 if !wire.is_empty() => {
                    let at = index.index(wire.len());
                    wire[at] = byte;
                }
                1 => {
                    let at = index.index(wire.len() + 1);
                    wire.insert(at, byte);
                }
                _ if !wire.is_empty() => {
                    let at = index.index(wire.len());
                    wire.remove(at);
                }
                _ => {}
            }
        }
        for decode_version in [V311, V5] {
            if let Ok(Some((packet, used))) = decode_packet(&wire, decode_version, u32::MAX) {
                prop_assert!(used <= wire.len());
                // A packet that decodes re-encodes to something that decodes to it.
                let again = encode(&packet, decode_version);
                prop_assert_eq!(
                    decode_packet(&again, decode_version, u32::MAX),
                    Ok(Some((packet, again.len())))
                );
            }
        }
    }

    #[test]
    fn huge_remaining_length_is_rejected_from_the_header(
        remaining in 1_000u32..=268_435_455,
        first in prop_oneof![Just(0x30u8), Just(0x32), Just(0x82), Just(0x10), Just(0x90)],
        max in 2u32..1_000,
    ) {
        let mut header = vec![first];
        let mut value = remaining;
        loop {
            let byte = (value & 0x7F) as u8;
            value >>= 7;
            if value == 0 {
                header.push(byte);
                break;
            }
            header.push(byte | 0x80);
        }
        let size = header.len() + remaining as usize;
        let expected = DecodeError::PacketTooLarge { size, max };
        prop_assert_eq!(decode_packet(&header, V5, max), Err(expected.clone()));
        let mut decoder = Decoder::new(V311, max);
        decoder.feed(&header);
        prop_assert_eq!(decoder.next_packet(), Err(expected));
        prop_assert_eq!(decoder.buffered_len(), header.len());
    }
}

// ---------------------------------------------------------------------------
// Plain tests of the Decoder.

#[test]
fn decoder_payloads_share_the_fed_buffer() {
    // Two PUBLISH packets fed at once: both payloads are slices of the bytes
    // fed (the decoder copies data only once, from the caller into itself).
    let first = Packet::Publish(Publish::new("t", vec![1u8; 100], QoS::AtMostOnce));
    let second = Packet::Publish(Publish::new("u", vec![2u8; 100], QoS::AtMostOnce));
    let mut stream = encode(&first, V5);
    let first_len = stream.len();
    encode_packet(&second, V5, &mut stream).unwrap();
    let mut decoder = Decoder::new(V5, u32::MAX);
    decoder.feed(&stream);
    let Some(Packet::Publish(a)) = decoder.next_packet().unwrap() else {
        panic!("expected PUBLISH")
    };
    let Some(Packet::Publish(b)) = decoder.next_packet().unwrap() else {
        panic!("expected PUBLISH")
    };
    // Payload of the first ends where the first packet ends; the second's
    // payload starts 5 bytes (header, topic, property length) after that.
    let a_end = a.payload.as_ptr() as usize + a.payload.len();
    assert_eq!(
        b.payload.as_ptr() as usize,
        a_end + (stream.len() - first_len - 100)
    );
    assert_eq!(a.payload, vec![1u8; 100]);
    assert_eq!(b.payload, vec![2u8; 100]);
}

#[test]
fn decoder_clear_and_set_version() {
    let mut decoder = Decoder::new(V311, 1024);
    decoder.feed(&[0x30, 0x0A, 0x00]);
    assert_eq!(decoder.next_packet(), Ok(None));
    assert_eq!(decoder.buffered_len(), 3);
    decoder.clear();
    assert_eq!(decoder.buffered_len(), 0);
    // AUTH does not exist in 3.1.1, but does once the version changes.
    decoder.feed(&[0xF0, 0x00]);
    assert_eq!(
        decoder.next_packet(),
        Err(DecodeError::NotInVersion { packet: "AUTH" })
    );
    decoder.clear();
    decoder.set_version(V5);
    decoder.feed(&[0xF0, 0x00]);
    assert_eq!(
        decoder.next_packet(),
        Ok(Some(Packet::Auth(Auth::default())))
    );
}

#[test]
fn decoder_reports_the_size_before_the_body_arrives() {
    // 5 header bytes announcing 268,435,455 bytes: rejected at once, with
    // nothing but the header buffered.
    let mut decoder = Decoder::new(V5, 1 << 20);
    decoder.feed(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F]);
    assert_eq!(
        decoder.next_packet(),
        Err(DecodeError::PacketTooLarge {
            size: 268_435_460,
            max: 1 << 20
        })
    );
    assert_eq!(decoder.buffered_len(), 5);
}
