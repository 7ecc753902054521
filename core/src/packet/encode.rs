//! Packet encoding: [`encode_packet`] and [`encoded_len`].
//!
//! Encoding runs in two passes over the packet: the first computes every
//! length (and checks every limit), the second writes into a buffer reserved
//! once for the whole packet. Nothing else is allocated.
//!
//! 5.0 properties are written in ascending identifier order; repeated
//! properties (user properties, subscription identifiers) keep their order.

use super::decode::reason_allowed;
use super::properties::id;
use super::varint;
use super::{
    AckProperties, Auth, AuthProperties, ConnAck, ConnAckProperties, Connect, ConnectProperties,
    Disconnect, DisconnectProperties, Packet, ProtocolVersion, PubResponse, Publish,
    PublishProperties, QoS, ReasonCode, Subscribe, SubscribeProperties, SubscriptionOptions,
    UnsubscribeProperties, UserProperty, WillProperties,
};

/// Longest UTF-8 string or binary field: its length is a 16-bit prefix.
const MAX_FIELD: usize = u16::MAX as usize;

/// Why a packet cannot be encoded. Every variant names the field or packet and
/// the rule it breaks; nothing is written to the output when encoding fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A UTF-8 string field is longer than its 16-bit length prefix allows.
    #[error("{field} is {len} bytes long; UTF-8 string fields are limited to 65,535 bytes")]
    StringTooLong {
        /// The field, e.g. "topic name" or "user property name".
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// A binary data field is longer than its 16-bit length prefix allows.
    #[error("{field} is {len} bytes long; binary data fields are limited to 65,535 bytes")]
    BinaryTooLong {
        /// The field, e.g. "will payload" or "correlation data".
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// The packet's remaining length (or its property length) does not fit the
    /// 4-byte variable byte integer of the fixed header.
    #[error(
        "packet remaining length of {size} bytes exceeds the MQTT maximum of 268,435,455 bytes"
    )]
    PacketTooLarge {
        /// The remaining length the packet would need.
        size: usize,
    },
    /// A packet that needs a packet identifier has 0.
    #[error("{packet} has packet identifier 0; a non-zero packet identifier is required")]
    ZeroPacketId {
        /// The packet name, e.g. "SUBSCRIBE".
        packet: &'static str,
    },
    /// A SUBSCRIBE or UNSUBSCRIBE without any topic filter.
    #[error("{packet} has no topic filter; at least one is required")]
    NoFilters {
        /// "SUBSCRIBE" or "UNSUBSCRIBE".
        packet: &'static str,
    },
    /// A Subscription Identifier outside 1 ..= 268,435,455.
    #[error("subscription identifier {value} is outside the allowed range 1..=268,435,455")]
    InvalidSubscriptionIdentifier {
        /// The rejected value.
        value: u32,
    },
    /// A packet that does not exist in the protocol version (AUTH in 3.1.1).
    #[error("{packet} does not exist in MQTT 3.1.1")]
    NotInVersion {
        /// The packet name.
        packet: &'static str,
    },
    /// A 3.1.1 CONNECT with a password but no user name [MQTT-3.1.2-22].
    #[error("CONNECT has a password but no user name, which MQTT 3.1.1 forbids")]
    PasswordWithoutUsername,
    /// A 5.0 reason code that the packet kind does not define.
    #[error("{code} is not a reason code of {packet}")]
    InvalidReasonCode {
        /// The packet name.
        packet: &'static str,
        /// The rejected reason code.
        code: ReasonCode,
    },
    /// A 5.0 property whose value the specification forbids.
    #[error("property {property} {rule}")]
    InvalidProperty {
        /// The property name, e.g. "Receive Maximum".
        property: &'static str,
        /// The rule, e.g. "must not be 0".
        rule: &'static str,
    },
}

/// Appends the encoding of `packet` for protocol `version` to `out`.
///
/// CONNECT is encoded for its own [`Connect::protocol`]; every other packet for
/// `version`. For 3.1.1, properties are left out and reason codes take their
/// 3.1.1 form (CONNACK and SUBACK return codes) or are dropped (acks,
/// UNSUBACK, DISCONNECT). For 5.0 the shortest form the specification allows
/// is used. A QoS 0 PUBLISH never carries a packet identifier or DUP flag:
/// `packet_id` and `dup` are ignored for it.
///
/// The encoder checks lengths, packet identifiers, reason codes and property
/// values; topic syntax is the caller's business. On error, `out` is left
/// unchanged.
///
/// ```
/// use midge_core::packet::{encode_packet, Packet, ProtocolVersion, PubResponse};
///
/// let mut out = Vec::new();
/// encode_packet(&Packet::PubAck(PubResponse::new(10)), ProtocolVersion::V5, &mut out).unwrap();
/// assert_eq!(out, [0x40, 0x02, 0x00, 0x0A]);
/// ```
#[inline]
pub fn encode_packet(
    packet: &Packet,
    version: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    // PUBLISH, the packet sent most, goes straight to its own encoder
    // without the general path's set-up.
    if let Packet::Publish(publish) = packet {
        return encode_publish(publish, version, out);
    }
    encode_other(packet, version, out)
}

#[inline(never)]
fn encode_other(
    packet: &Packet,
    version: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    encode::<false>(packet, version, out)
}

/// [`encode_packet`] for the packets a client sends: the client build (the
/// wasm package) does not link the encoders of CONNACK, SUBACK and UNSUBACK,
/// which it never sends (they would be refused as
/// [`EncodeError::NotInVersion`]).
pub(crate) fn encode_client_packet(
    packet: &Packet,
    version: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    encode::<true>(packet, version, out)
}

/// `CLIENT`: see [`encode_client_packet`].
#[inline(always)]
fn encode<const CLIENT: bool>(
    packet: &Packet,
    version: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if let Packet::Publish(publish) = packet {
        return encode_publish(publish, version, out);
    }
    let plan = plan::<CLIENT>(packet, version)?;
    let total = 1 + varint::len(plan.remaining) + plan.remaining;
    out.reserve(total);
    let start = out.len();
    out.push(header_byte(packet));
    varint::write(out, to_u32(plan.remaining));
    write_body::<CLIENT>(packet, version, &plan, out);
    debug_assert_eq!(
        out.len() - start,
        total,
        "encoded_len disagrees with encode"
    );
    Ok(())
}

/// The exact number of bytes [`encode_packet`] writes for `packet`, fixed
/// header included, computed without encoding it. It fails exactly when
/// `encode_packet` fails.
///
/// A QoS 1 or 2 PUBLISH always counts its 2-byte packet identifier and,
/// like `encode_packet`, rejects identifier 0: to size a publish before its
/// identifier is assigned, give it any non-zero placeholder.
///
/// ```
/// use midge_core::packet::{encoded_len, Packet, ProtocolVersion, Publish, QoS};
///
/// let publish = Publish::new("a/b", &b"hello"[..], QoS::AtMostOnce);
/// // 1 header byte + 1 length byte + (2 + 3) topic + 1 property length + 5 payload
/// assert_eq!(encoded_len(&Packet::Publish(publish), ProtocolVersion::V5).unwrap(), 13);
/// ```
pub fn encoded_len(packet: &Packet, version: ProtocolVersion) -> Result<usize, EncodeError> {
    let plan = plan::<false>(packet, version)?;
    Ok(1 + varint::len(plan.remaining) + plan.remaining)
}

/// Encode a PUBLISH from a reference: the same bytes as
/// `encode_packet(&Packet::Publish(publish.clone()), ..)` without the clone,
/// for the hot path of a client sending messages it keeps for resending.
///
/// ```
/// use midge_core::packet::{encode_packet, encode_publish, Packet, ProtocolVersion, Publish, QoS};
///
/// let publish = Publish::new("a/b", &b"hi"[..], QoS::AtLeastOnce).with_packet_id(9);
/// let (mut by_ref, mut by_packet) = (Vec::new(), Vec::new());
/// encode_publish(&publish, ProtocolVersion::V5, &mut by_ref).unwrap();
/// encode_packet(&Packet::Publish(publish), ProtocolVersion::V5, &mut by_packet).unwrap();
/// assert_eq!(by_ref, by_packet);
/// ```
#[inline]
pub fn encode_publish(
    publish: &Publish,
    version: ProtocolVersion,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    // One copy per version, so that neither tests the version again.
    match version {
        ProtocolVersion::V5 => encode_publish_for::<true>(publish, out),
        _ => encode_publish_for::<false>(publish, out),
    }
}

/// [`encode_publish`] for 5.0 (`V5`) or 3.1.1.
#[inline(never)]
fn encode_publish_for<const V5: bool>(
    publish: &Publish,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let v5 = V5;
    // The same checks as `plan_publish`, written out so that they inline
    // here; only the 5.0 properties are sized out of line.
    let props = if v5 && !publish.properties.is_empty() {
        publish_props_len(&publish.properties)?
    } else {
        0
    };
    let topic = publish.topic.as_bytes();
    if topic.len() > MAX_FIELD {
        return Err(EncodeError::StringTooLong {
            field: "topic name",
            len: topic.len(),
        });
    }
    let has_id = publish.qos != QoS::AtMostOnce;
    if has_id && publish.packet_id == 0 {
        return Err(EncodeError::ZeroPacketId { packet: "PUBLISH" });
    }
    // Everything before the properties, without the fixed header.
    let mut head_len = 2 + topic.len() + 2 * usize::from(has_id);
    if v5 {
        head_len += if props == 0 { 1 } else { varint::len(props) };
    }
    let remaining = check_remaining(head_len + props + publish.payload.len())?;
    // The hot path of every client: everything before the properties is
    // written straight into the reserved capacity, so the only calls left
    // are the copies of the topic and the payload (as in the peers' codecs).
    let fixed_header_len = 1 + varint::len(remaining);
    let head_len = fixed_header_len + head_len;
    out.reserve(fixed_header_len + remaining);
    let start = out.len();
    // One bounds check for the whole head; the writes below go through a
    // raw cursor (a bounds check per field cost the 5.0 path ~0.5 ns).
    let head = &mut out.spare_capacity_mut()[..head_len];
    let mut at = head.as_mut_ptr().cast::<u8>();
    // SAFETY: `head` is `head_len` writable bytes and the writes below add
    // up to exactly `head_len` (checked by the debug assertion): the fixed
    // header byte, the remaining length's varint, the topic with its length,
    // the packet identifier when the QoS has one, and in 5.0 the property
    // length's varint. `topic` is a shared borrow of another allocation.
    unsafe {
        at.write(publish_header_byte(publish));
        at = varint::put_raw(at.add(1), to_u32(remaining));
        at.cast::<[u8; 2]>()
            .write_unaligned((topic.len() as u16).to_be_bytes());
        at = at.add(2);
        std::ptr::copy_nonoverlapping(topic.as_ptr(), at, topic.len());
        at = at.add(topic.len());
        if has_id {
            at.cast::<[u8; 2]>()
                .write_unaligned(publish.packet_id.to_be_bytes());
            at = at.add(2);
        }
        if v5 {
            at = if props == 0 {
                at.write(0);
                at.add(1)
            } else {
                varint::put_raw(at, to_u32(props))
            };
        }
        debug_assert_eq!(
            at.offset_from(head.as_ptr().cast::<u8>()),
            head_len as isize
        );
        out.set_len(start + head_len);
    }
    if props > 0 {
        publish.properties.visit(&mut Writer(out));
    }
    out.extend_from_slice(&publish.payload);
    Ok(())
}

/// [`encoded_len`] of a PUBLISH given by reference. Unlike `encoded_len`,
/// it accepts packet identifier 0 on a QoS 1/2 publish and counts the 2
/// bytes its identifier will take, so a publish can be sized before an
/// identifier is assigned.
pub fn publish_encoded_len(
    publish: &Publish,
    version: ProtocolVersion,
) -> Result<usize, EncodeError> {
    let mut props = 0;
    let remaining = plan_publish_sized(publish, version == ProtocolVersion::V5, &mut props, false)?;
    let remaining = check_remaining(remaining)?;
    Ok(1 + varint::len(remaining) + remaining)
}

/// Lengths computed by the first pass.
struct Plan {
    /// Remaining length of the fixed header.
    remaining: usize,
    /// Length of the packet's property section (0 when absent).
    props: usize,
    /// Length of the will properties of CONNECT (0 when absent).
    will_props: usize,
}

/// `value` as a u32; only called on lengths already checked against
/// [`varint::MAX`].
fn to_u32(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(varint::MAX)
}

#[inline]
fn publish_header_byte(p: &Publish) -> u8 {
    let qos = p.qos as u8;
    let dup = p.dup && p.qos != QoS::AtMostOnce;
    0x30 | (u8::from(dup) << 3) | (qos << 1) | u8::from(p.retain)
}

fn header_byte(packet: &Packet) -> u8 {
    match packet {
        Packet::Publish(p) => publish_header_byte(p),
        // PUBREL, SUBSCRIBE and UNSUBSCRIBE carry the reserved flags 0b0010.
        Packet::PubRel(_) | Packet::Subscribe(_) | Packet::Unsubscribe(_) => {
            (packet.type_number() << 4) | 0b0010
        }
        _ => packet.type_number() << 4,
    }
}

fn str_len(field: &'static str, value: &str) -> Result<usize, EncodeError> {
    if value.len() > MAX_FIELD {
        return Err(EncodeError::StringTooLong {
            field,
            len: value.len(),
        });
    }
    Ok(2 + value.len())
}

fn bin_len(field: &'static str, value: &[u8]) -> Result<usize, EncodeError> {
    if value.len() > MAX_FIELD {
        return Err(EncodeError::BinaryTooLong {
            field,
            len: value.len(),
        });
    }
    Ok(2 + value.len())
}

/// Writes a length-prefixed field whose length was checked by the first pass.
#[inline]
fn put_prefixed(out: &mut Vec<u8>, value: &[u8]) {
    let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
}

/// Length of a property section with its length prefix.
fn with_prefix(props: usize) -> usize {
    varint::len(props) + props
}

fn check_remaining(remaining: usize) -> Result<usize, EncodeError> {
    if remaining > varint::MAX as usize {
        return Err(EncodeError::PacketTooLarge { size: remaining });
    }
    Ok(remaining)
}

fn check_packet_id(packet: &'static str, packet_id: u16) -> Result<(), EncodeError> {
    if packet_id == 0 {
        return Err(EncodeError::ZeroPacketId { packet });
    }
    Ok(())
}

fn check_reason(packet: &Packet, code: ReasonCode) -> Result<(), EncodeError> {
    if reason_allowed(packet.type_number(), code) {
        Ok(())
    } else {
        Err(EncodeError::InvalidReasonCode {
            packet: packet.name(),
            code,
        })
    }
}

// ---------------------------------------------------------------------------
// First pass: lengths and checks.

/// `CLIENT`: the packets only servers send are refused (see
/// [`encode_client_packet`]).
fn plan<const CLIENT: bool>(
    packet: &Packet,
    version: ProtocolVersion,
) -> Result<Plan, EncodeError> {
    let v5 = version == ProtocolVersion::V5;
    let mut props = 0;
    let mut will_props = 0;
    let remaining = match packet {
        Packet::Connect(connect) => plan_connect(connect, &mut props, &mut will_props)?,
        Packet::ConnAck(connack) if !CLIENT => {
            if v5 {
                check_reason(packet, connack.reason_code)?;
                props = props_len(&connack.properties)?;
                2 + with_prefix(props)
            } else {
                2
            }
        }
        Packet::Publish(publish) => plan_publish(publish, v5, &mut props)?,
        Packet::PubAck(ack) | Packet::PubRec(ack) | Packet::PubRel(ack) | Packet::PubComp(ack) => {
            check_packet_id(packet.name(), ack.packet_id)?;
            if !v5 {
                2
            } else {
                check_reason(packet, ack.reason_code)?;
                if ack.properties.is_empty() {
                    if ack.reason_code == ReasonCode::Success {
                        2
                    } else {
                        3
                    }
                } else {
                    props = props_len(&ack.properties)?;
                    3 + with_prefix(props)
                }
            }
        }
        Packet::Subscribe(subscribe) => {
            check_packet_id("SUBSCRIBE", subscribe.packet_id)?;
            if subscribe.filters.is_empty() {
                return Err(EncodeError::NoFilters {
                    packet: "SUBSCRIBE",
                });
            }
            let mut len = 2;
            if v5 {
                props = props_len(&subscribe.properties)?;
                len += with_prefix(props);
            }
            for filter in &subscribe.filters {
                len += str_len("topic filter", &filter.filter)? + 1;
            }
            len
        }
        Packet::SubAck(suback) if !CLIENT => {
            check_packet_id("SUBACK", suback.packet_id)?;
            let mut len = 2 + suback.reason_codes.len();
            if v5 {
                for code in &suback.reason_codes {
                    check_reason(packet, *code)?;
                }
                props = props_len(&suback.properties)?;
                len += with_prefix(props);
            }
            len
        }
        Packet::Unsubscribe(unsubscribe) => {
            check_packet_id("UNSUBSCRIBE", unsubscribe.packet_id)?;
            if unsubscribe.filters.is_empty() {
                return Err(EncodeError::NoFilters {
                    packet: "UNSUBSCRIBE",
                });
            }
            let mut len = 2;
            if v5 {
                props = props_len(&unsubscribe.properties)?;
                len += with_prefix(props);
            }
            for filter in &unsubscribe.filters {
                len += str_len("topic filter", filter)?;
            }
            len
        }
        Packet::UnsubAck(unsuback) if !CLIENT => {
            check_packet_id("UNSUBACK", unsuback.packet_id)?;
            if v5 {
                for code in &unsuback.reason_codes {
                    check_reason(packet, *code)?;
                }
                props = props_len(&unsuback.properties)?;
                2 + with_prefix(props) + unsuback.reason_codes.len()
            } else {
                2
            }
        }
        Packet::PingReq | Packet::PingResp => 0,
        Packet::Disconnect(disconnect) => {
            if !v5 {
                0
            } else {
                check_reason(packet, disconnect.reason_code)?;
                if disconnect.properties.is_empty() {
                    usize::from(disconnect.reason_code != ReasonCode::Success)
                } else {
                    props = props_len(&disconnect.properties)?;
                    1 + with_prefix(props)
                }
            }
        }
        Packet::Auth(auth) => {
            if !v5 {
                return Err(EncodeError::NotInVersion { packet: "AUTH" });
            }
            check_reason(packet, auth.reason_code)?;
            if auth.reason_code == ReasonCode::Success && auth.properties.is_empty() {
                0
            } else {
                // The specification only allows leaving out both the reason
                // code and the property length, so the length stays.
                props = props_len(&auth.properties)?;
                1 + with_prefix(props)
            }
        }
        _ => {
            return Err(EncodeError::NotInVersion {
                packet: packet.name(),
            })
        }
    };
    Ok(Plan {
        remaining: check_remaining(remaining)?,
        props,
        will_props,
    })
}

fn plan_connect(
    connect: &Connect,
    props: &mut usize,
    will_props: &mut usize,
) -> Result<usize, EncodeError> {
    let v5 = connect.protocol == ProtocolVersion::V5;
    // Protocol name "MQTT" (2 + 4), level, connect flags, keep alive.
    let mut len = 6 + 1 + 1 + 2;
    if v5 {
        *props = props_len(&connect.properties)?;
        len += with_prefix(*props);
    }
    len += str_len("client identifier", &connect.client_id)?;
    if let Some(will) = &connect.will {
        if v5 {
            *will_props = props_len(&will.properties)?;
            len += with_prefix(*will_props);
        }
        len += str_len("will topic", &will.topic)?;
        len += bin_len("will payload", &will.payload)?;
    }
    if let Some(username) = &connect.username {
        len += str_len("user name", username)?;
    }
    if let Some(password) = &connect.password {
        if !v5 && connect.username.is_none() {
            return Err(EncodeError::PasswordWithoutUsername);
        }
        len += bin_len("password", password)?;
    }
    Ok(len)
}

#[inline]
fn plan_publish(publish: &Publish, v5: bool, props: &mut usize) -> Result<usize, EncodeError> {
    plan_publish_sized(publish, v5, props, true)
}

/// `check_id: false` sizes a publish whose identifier is not assigned yet.
#[inline]
fn plan_publish_sized(
    publish: &Publish,
    v5: bool,
    props: &mut usize,
    check_id: bool,
) -> Result<usize, EncodeError> {
    let mut len = str_len("topic name", &publish.topic)? + publish.payload.len();
    if publish.qos != QoS::AtMostOnce {
        if check_id {
            check_packet_id("PUBLISH", publish.packet_id)?;
        }
        len += 2;
    }
    if v5 {
        *props = props_len(&publish.properties)?;
        len += with_prefix(*props);
    }
    Ok(len)
}

// ---------------------------------------------------------------------------
// Second pass: writing. Every length and limit was checked by `plan`.

fn write_body<const CLIENT: bool>(
    packet: &Packet,
    version: ProtocolVersion,
    plan: &Plan,
    out: &mut Vec<u8>,
) {
    let v5 = version == ProtocolVersion::V5;
    match packet {
        Packet::Connect(connect) => write_connect(connect, plan, out),
        Packet::ConnAck(connack) if !CLIENT => write_connack(connack, v5, plan, out),
        // `encode` hands PUBLISH to `encode_publish` before planning.
        Packet::Publish(_) => {}
        Packet::PubAck(ack) | Packet::PubRec(ack) | Packet::PubRel(ack) | Packet::PubComp(ack) => {
            write_ack(ack, plan, out)
        }
        Packet::Subscribe(subscribe) => write_subscribe(subscribe, v5, plan, out),
        Packet::SubAck(suback) if !CLIENT => {
            out.extend_from_slice(&suback.packet_id.to_be_bytes());
            if v5 {
                write_props(out, &suback.properties, plan.props);
                out.extend(suback.reason_codes.iter().map(|code| code.code()));
            } else {
                out.extend(suback.reason_codes.iter().map(|code| code.to_v311_suback()));
            }
        }
        Packet::Unsubscribe(unsubscribe) => {
            out.extend_from_slice(&unsubscribe.packet_id.to_be_bytes());
            if v5 {
                write_props(out, &unsubscribe.properties, plan.props);
            }
            for filter in &unsubscribe.filters {
                put_prefixed(out, filter.as_bytes());
            }
        }
        Packet::UnsubAck(unsuback) if !CLIENT => {
            out.extend_from_slice(&unsuback.packet_id.to_be_bytes());
            if v5 {
                write_props(out, &unsuback.properties, plan.props);
                out.extend(unsuback.reason_codes.iter().map(|code| code.code()));
            }
        }
        Packet::PingReq | Packet::PingResp => {}
        Packet::Disconnect(Disconnect {
            reason_code,
            properties,
        }) => write_reason_and_props(*reason_code, properties, plan, out),
        Packet::Auth(Auth {
            reason_code,
            properties,
        }) => write_reason_and_props(*reason_code, properties, plan, out),
        // Refused by `plan`.
        _ => {}
    }
}

/// DISCONNECT and AUTH: nothing, the reason code alone, or both.
fn write_reason_and_props<P: Properties>(
    reason_code: ReasonCode,
    properties: &P,
    plan: &Plan,
    out: &mut Vec<u8>,
) {
    if plan.remaining >= 1 {
        out.push(reason_code.code());
    }
    if plan.remaining >= 2 {
        write_props(out, properties, plan.props);
    }
}

fn write_connect(connect: &Connect, plan: &Plan, out: &mut Vec<u8>) {
    let v5 = connect.protocol == ProtocolVersion::V5;
    put_prefixed(out, b"MQTT");
    out.push(connect.protocol.level());
    let mut flags = 0u8;
    if connect.username.is_some() {
        flags |= 0x80;
    }
    if connect.password.is_some() {
        flags |= 0x40;
    }
    if let Some(will) = &connect.will {
        flags |= 0x04 | ((will.qos as u8) << 3);
        if will.retain {
            flags |= 0x20;
        }
    }
    if connect.clean_start {
        flags |= 0x02;
    }
    out.push(flags);
    out.extend_from_slice(&connect.keep_alive.to_be_bytes());
    if v5 {
        write_props(out, &connect.properties, plan.props);
    }
    put_prefixed(out, connect.client_id.as_bytes());
    if let Some(will) = &connect.will {
        if v5 {
            write_props(out, &will.properties, plan.will_props);
        }
        put_prefixed(out, will.topic.as_bytes());
        put_prefixed(out, &will.payload);
    }
    if let Some(username) = &connect.username {
        put_prefixed(out, username.as_bytes());
    }
    if let Some(password) = &connect.password {
        put_prefixed(out, password);
    }
}

fn write_connack(connack: &ConnAck, v5: bool, plan: &Plan, out: &mut Vec<u8>) {
    out.push(u8::from(connack.session_present));
    if v5 {
        out.push(connack.reason_code.code());
        write_props(out, &connack.properties, plan.props);
    } else {
        out.push(connack.reason_code.to_v311_connack());
    }
}

fn write_ack(ack: &PubResponse, plan: &Plan, out: &mut Vec<u8>) {
    out.extend_from_slice(&ack.packet_id.to_be_bytes());
    if plan.remaining >= 3 {
        out.push(ack.reason_code.code());
    }
    if plan.remaining >= 4 {
        write_props(out, &ack.properties, plan.props);
    }
}

fn write_subscribe(subscribe: &Subscribe, v5: bool, plan: &Plan, out: &mut Vec<u8>) {
    out.extend_from_slice(&subscribe.packet_id.to_be_bytes());
    if v5 {
        write_props(out, &subscribe.properties, plan.props);
    }
    for filter in &subscribe.filters {
        put_prefixed(out, filter.filter.as_bytes());
        out.push(options_byte(&filter.options, v5));
    }
}

fn options_byte(options: &SubscriptionOptions, v5: bool) -> u8 {
    let qos = options.qos as u8;
    if !v5 {
        return qos;
    }
    qos | (u8::from(options.no_local) << 2)
        | (u8::from(options.retain_as_published) << 3)
        | ((options.retain_handling as u8) << 4)
}

// ---------------------------------------------------------------------------
// Properties: one visitor per property struct, run once to count and check
// and once to write.

/// Receives the properties of a struct, in identifier order.
trait PropSink {
    fn byte(&mut self, id: u8, value: u8);
    fn two(&mut self, id: u8, value: u16);
    fn four(&mut self, id: u8, value: u32);
    fn varint(&mut self, id: u8, value: u32);
    fn string(&mut self, id: u8, field: &'static str, value: &str);
    fn binary(&mut self, id: u8, field: &'static str, value: &[u8]);
    fn user(&mut self, pair: &UserProperty);
}

/// A property struct that can be visited.
trait Properties {
    fn visit<S: PropSink>(&self, sink: &mut S);
}

/// Counts the bytes of the properties and records the first broken rule.
#[derive(Default)]
struct Counter {
    len: usize,
    error: Option<EncodeError>,
}

impl Counter {
    fn fail(&mut self, error: EncodeError) {
        if self.error.is_none() {
            self.error = Some(error);
        }
    }

    fn add(&mut self, result: Result<usize, EncodeError>) {
        match result {
            Ok(len) => self.len += len,
            Err(error) => self.fail(error),
        }
    }
}

impl PropSink for Counter {
    fn byte(&mut self, id: u8, value: u8) {
        if id == id::MAXIMUM_QOS && value > 1 {
            self.fail(EncodeError::InvalidProperty {
                property: "Maximum QoS",
                rule: "must be 0 or 1",
            });
        }
        self.len += 2;
    }

    fn two(&mut self, id: u8, value: u16) {
        if id == id::RECEIVE_MAXIMUM && value == 0 {
            self.fail(EncodeError::InvalidProperty {
                property: "Receive Maximum",
                rule: "must not be 0",
            });
        }
        self.len += 3;
    }

    fn four(&mut self, id: u8, value: u32) {
        if id == id::MAXIMUM_PACKET_SIZE && value == 0 {
            self.fail(EncodeError::InvalidProperty {
                property: "Maximum Packet Size",
                rule: "must not be 0",
            });
        }
        self.len += 5;
    }

    fn varint(&mut self, _id: u8, value: u32) {
        // The only variable byte integer property is the Subscription Identifier.
        if value == 0 || value > varint::MAX {
            self.fail(EncodeError::InvalidSubscriptionIdentifier { value });
            return;
        }
        self.len += 1 + varint::len(value as usize);
    }

    fn string(&mut self, _id: u8, field: &'static str, value: &str) {
        self.add(str_len(field, value).map(|len| len + 1));
    }

    fn binary(&mut self, _id: u8, field: &'static str, value: &[u8]) {
        self.add(bin_len(field, value).map(|len| len + 1));
    }

    fn user(&mut self, (name, value): &UserProperty) {
        self.add(str_len("user property name", name).map(|len| len + 1));
        self.add(str_len("user property value", value));
    }
}

/// Writes properties counted and checked by [`Counter`].
struct Writer<'a>(&'a mut Vec<u8>);

impl PropSink for Writer<'_> {
    fn byte(&mut self, id: u8, value: u8) {
        self.0.extend_from_slice(&[id, value]);
    }

    fn two(&mut self, id: u8, value: u16) {
        self.0.push(id);
        self.0.extend_from_slice(&value.to_be_bytes());
    }

    fn four(&mut self, id: u8, value: u32) {
        self.0.push(id);
        self.0.extend_from_slice(&value.to_be_bytes());
    }

    fn varint(&mut self, id: u8, value: u32) {
        self.0.push(id);
        varint::write(self.0, value);
    }

    fn string(&mut self, id: u8, _field: &'static str, value: &str) {
        self.0.push(id);
        put_prefixed(self.0, value.as_bytes());
    }

    fn binary(&mut self, id: u8, _field: &'static str, value: &[u8]) {
        self.0.push(id);
        put_prefixed(self.0, value);
    }

    fn user(&mut self, (name, value): &UserProperty) {
        self.0.push(id::USER_PROPERTY);
        put_prefixed(self.0, name.as_bytes());
        put_prefixed(self.0, value.as_bytes());
    }
}

/// [`props_len`] of a PUBLISH's properties, kept out of line so that
/// [`encode_publish`] stays small enough to inline.
#[inline(never)]
fn publish_props_len(props: &PublishProperties) -> Result<usize, EncodeError> {
    props_len(props)
}

/// Length of a property section (without its length prefix).
fn props_len<P: Properties>(props: &P) -> Result<usize, EncodeError> {
    let mut counter = Counter::default();
    props.visit(&mut counter);
    if let Some(error) = counter.error {
        return Err(error);
    }
    check_remaining(counter.len)
}

/// Writes the property length and the properties.
fn write_props<P: Properties>(out: &mut Vec<u8>, props: &P, len: usize) {
    varint::write(out, to_u32(len));
    if len > 0 {
        props.visit(&mut Writer(out));
    }
}

fn opt_byte<S: PropSink>(sink: &mut S, id: u8, value: Option<bool>) {
    if let Some(value) = value {
        sink.byte(id, u8::from(value));
    }
}

fn opt_two<S: PropSink>(sink: &mut S, id: u8, value: Option<u16>) {
    if let Some(value) = value {
        sink.two(id, value);
    }
}

fn opt_four<S: PropSink>(sink: &mut S, id: u8, value: Option<u32>) {
    if let Some(value) = value {
        sink.four(id, value);
    }
}

fn opt_string<S: PropSink>(sink: &mut S, id: u8, field: &'static str, value: &Option<String>) {
    if let Some(value) = value {
        sink.string(id, field, value);
    }
}

fn opt_binary<S: PropSink>(
    sink: &mut S,
    id: u8,
    field: &'static str,
    value: &Option<bytes::Bytes>,
) {
    if let Some(value) = value {
        sink.binary(id, field, value);
    }
}

fn users<S: PropSink>(sink: &mut S, pairs: &[UserProperty]) {
    for pair in pairs {
        sink.user(pair);
    }
}

impl Properties for ConnectProperties {
    fn visit<S: PropSink>(&self, s: &mut S) {
        opt_four(s, id::SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        opt_string(
            s,
            id::AUTHENTICATION_METHOD,
            "authentication method",
            &self.authentication_method,
        );
        opt_binary(
            s,
            id::AUTHENTICATION_DATA,
            "authentication data",
            &self.authentication_data,
        );
        opt_byte(
            s,
            id::REQUEST_PROBLEM_INFORMATION,
            self.request_problem_information,
        );
        opt_byte(
            s,
            id::REQUEST_RESPONSE_INFORMATION,
            self.request_response_information,
        );
        opt_two(s, id::RECEIVE_MAXIMUM, self.receive_maximum);
        opt_two(s, id::TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        users(s, &self.user_properties);
        opt_four(s, id::MAXIMUM_PACKET_SIZE, self.maximum_packet_size);
    }
}

impl Properties for WillProperties {
    fn visit<S: PropSink>(&self, s: &mut S) {
        opt_byte(
            s,
            id::PAYLOAD_FORMAT_INDICATOR,
            self.payload_format_indicator,
        );
        opt_four(s, id::MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval);
        opt_string(s, id::CONTENT_TYPE, "content type", &self.content_type);
        opt_string(
            s,
            id::RESPONSE_TOPIC,
            "response topic",
            &self.response_topic,
        );
        opt_binary(
            s,
            id::CORRELATION_DATA,
            "correlation data",
            &self.correlation_data,
        );
        opt_four(s, id::WILL_DELAY_INTERVAL, self.will_delay_interval);
        users(s, &self.user_properties);
    }
}

impl Properties for ConnAckProperties {
    fn visit<S: PropSink>(&self, s: &mut S) {
        opt_four(s, id::SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        opt_string(
            s,
            id::ASSIGNED_CLIENT_IDENTIFIER,
            "assigned client identifier",
            &self.assigned_client_identifier,
        );
        opt_two(s, id::SERVER_KEEP_ALIVE, self.server_keep_alive);
        opt_string(
            s,
            id::AUTHENTICATION_METHOD,
            "authentication method",
            &self.authentication_method,
        );
        opt_binary(
            s,
            id::AUTHENTICATION_DATA,
            "authentication data",
            &self.authentication_data,
        );
        opt_string(
            s,
            id::RESPONSE_INFORMATION,
            "response information",
            &self.response_information,
        );
        opt_string(
            s,
            id::SERVER_REFERENCE,
            "server reference",
            &self.server_reference,
        );
        opt_string(s, id::REASON_STRING, "reason string", &self.reason_string);
        opt_two(s, id::RECEIVE_MAXIMUM, self.receive_maximum);
        opt_two(s, id::TOPIC_ALIAS_MAXIMUM, self.topic_alias_maximum);
        if let Some(qos) = self.maximum_qos {
            s.byte(id::MAXIMUM_QOS, qos as u8);
        }
        opt_byte(s, id::RETAIN_AVAILABLE, self.retain_available);
        users(s, &self.user_properties);
        opt_four(s, id::MAXIMUM_PACKET_SIZE, self.maximum_packet_size);
        opt_byte(
            s,
            id::WILDCARD_SUBSCRIPTION_AVAILABLE,
            self.wildcard_subscription_available,
        );
        opt_byte(
            s,
            id::SUBSCRIPTION_IDENTIFIER_AVAILABLE,
            self.subscription_identifiers_available,
        );
        opt_byte(
            s,
            id::SHARED_SUBSCRIPTION_AVAILABLE,
            self.shared_subscription_available,
        );
    }
}

impl Properties for PublishProperties {
    #[inline]
    fn visit<S: PropSink>(&self, s: &mut S) {
        opt_byte(
            s,
            id::PAYLOAD_FORMAT_INDICATOR,
            self.payload_format_indicator,
        );
        opt_four(s, id::MESSAGE_EXPIRY_INTERVAL, self.message_expiry_interval);
        opt_string(s, id::CONTENT_TYPE, "content type", &self.content_type);
        opt_string(
            s,
            id::RESPONSE_TOPIC,
            "response topic",
            &self.response_topic,
        );
        opt_binary(
            s,
            id::CORRELATION_DATA,
            "correlation data",
            &self.correlation_data,
        );
        for value in &self.subscription_identifiers {
            s.varint(id::SUBSCRIPTION_IDENTIFIER, *value);
        }
        opt_two(s, id::TOPIC_ALIAS, self.topic_alias);
        users(s, &self.user_properties);
    }
}

impl Properties for AckProperties {
    fn visit<S: PropSink>(&self, s: &mut S) {
        opt_string(s, id::REASON_STRING, "reason string", &self.reason_string);
        users(s, &self.user_properties);
    }
}

impl Properties for SubscribeProperties {
    fn visit<S: PropSink>(&self, s: &mut S) {
        if let Some(value) = self.subscription_identifier {
            s.varint(id::SUBSCRIPTION_IDENTIFIER, value);
        }
        users(s, &self.user_properties);
    }
}

impl Properties for UnsubscribeProperties {
    fn visit<S: PropSink>(&self, s: &mut S) {
        users(s, &self.user_properties);
    }
}

impl Properties for DisconnectProperties {
    fn visit<S: PropSink>(&self, s: &mut S) {
        opt_four(s, id::SESSION_EXPIRY_INTERVAL, self.session_expiry_interval);
        opt_string(
            s,
            id::SERVER_REFERENCE,
            "server reference",
            &self.server_reference,
        );
        opt_string(s, id::REASON_STRING, "reason string", &self.reason_string);
        users(s, &self.user_properties);
    }
}

impl Properties for AuthProperties {
    fn visit<S: PropSink>(&self, s: &mut S) {
        opt_string(
            s,
            id::AUTHENTICATION_METHOD,
            "authentication method",
            &self.authentication_method,
        );
        opt_binary(
            s,
            id::AUTHENTICATION_DATA,
            "authentication data",
            &self.authentication_data,
        );
        opt_string(s, id::REASON_STRING, "reason string", &self.reason_string);
        users(s, &self.user_properties);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::decode_packet;

    /// The bytes of a PUBLISH written field by field, as the specification
    /// lays them out, to check the stack-gathered head against.
    fn by_hand(publish: &Publish, v5: bool) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&(publish.topic.len() as u16).to_be_bytes());
        body.extend_from_slice(publish.topic.as_bytes());
        if publish.qos != QoS::AtMostOnce {
            body.extend_from_slice(&publish.packet_id.to_be_bytes());
        }
        if v5 {
            let mut props = Vec::new();
            publish.properties.visit(&mut Writer(&mut props));
            varint::write(&mut body, props.len() as u32);
            body.extend_from_slice(&props);
        }
        body.extend_from_slice(&publish.payload);
        let mut out = vec![publish_header_byte(publish)];
        varint::write(&mut out, body.len() as u32);
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn publish_heads_across_the_remaining_length_size_steps() {
        let properties = PublishProperties {
            content_type: Some("text/plain".into()),
            ..PublishProperties::default()
        };
        // With the two payloads these put the remaining length on both
        // sides of the 1-, 2- and 3-byte steps of its variable byte integer.
        for (topic_len, payload_len) in [0, 1, 96, 110, 130, 300, 16_100, 16_200, 20_000, 65_535]
            .into_iter()
            .flat_map(|topic_len| [(topic_len, 0), (topic_len, 200)])
        {
            for (qos, id) in [(QoS::AtMostOnce, 0), (QoS::ExactlyOnce, 65_535)] {
                for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
                    for props in [PublishProperties::default(), properties.clone()] {
                        let mut publish =
                            Publish::new("t".repeat(topic_len), vec![7u8; payload_len], qos);
                        publish.packet_id = id;
                        publish.properties = props;
                        let v5 = version == ProtocolVersion::V5;
                        if !v5 {
                            publish.properties = PublishProperties::default();
                        }
                        let mut out = vec![0xAA]; // appended after what is there
                        encode_publish(&publish, version, &mut out).unwrap();
                        assert_eq!(out[0], 0xAA);
                        assert_eq!(
                            out[1..],
                            by_hand(&publish, v5),
                            "topic of {topic_len} bytes"
                        );
                        assert_eq!(
                            out.len() - 1,
                            encoded_len(&Packet::Publish(publish.clone()), version).unwrap()
                        );
                        let (decoded, _) = decode_packet(&out[1..], version, u32::MAX)
                            .unwrap()
                            .unwrap();
                        assert_eq!(decoded, Packet::Publish(publish));
                    }
                }
            }
        }
    }

    #[test]
    fn publish_errors_leave_the_output_alone() {
        let mut out = vec![1, 2, 3];
        let long = Publish::new("t".repeat(MAX_FIELD + 1), &b""[..], QoS::AtMostOnce);
        assert!(matches!(
            encode_publish(&long, ProtocolVersion::V311, &mut out),
            Err(EncodeError::StringTooLong {
                field: "topic name",
                ..
            })
        ));
        let no_id = Publish::new("t", &b""[..], QoS::AtLeastOnce);
        assert_eq!(
            encode_publish(&no_id, ProtocolVersion::V5, &mut out),
            Err(EncodeError::ZeroPacketId { packet: "PUBLISH" })
        );
        assert_eq!(out, [1, 2, 3]);
    }
}
