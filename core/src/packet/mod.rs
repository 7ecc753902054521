//! The MQTT packet model shared by 3.1.1 and 5.0, and its codec.
//!
//! One set of types covers both protocol versions; the negotiated
//! [`ProtocolVersion`] decides what goes on the wire. Fields that only exist in
//! 5.0 (properties, most reason codes) are left out when encoding for 3.1.1 and
//! take their defaults when decoding 3.1.1.
//!
//! ```
//! use midge_core::packet::{decode_packet, encode_packet, Packet, ProtocolVersion, Publish, QoS};
//!
//! let publish = Publish::new("greenhouse/temp", &b"21.5"[..], QoS::AtLeastOnce).with_packet_id(7);
//! let mut wire = Vec::new();
//! encode_packet(&Packet::Publish(publish.clone()), ProtocolVersion::V5, &mut wire).unwrap();
//! let (decoded, used) = decode_packet(&wire, ProtocolVersion::V5, 1024).unwrap().unwrap();
//! assert_eq!(used, wire.len());
//! assert_eq!(decoded, Packet::Publish(publish));
//! ```

mod decode;
mod encode;
mod properties;
mod reason;
mod varint;

pub use decode::{decode_packet, DecodeError, Decoder};
pub(crate) use decode::{decode_stored_publish, ServerPacketError, WildcardPublish};
pub(crate) use encode::encode_client_packet;
pub use encode::{encode_packet, encode_publish, encoded_len, publish_encoded_len, EncodeError};
pub use properties::*;
pub use reason::ReasonCode;

use bytes::Bytes;

/// MQTT protocol level sent in CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ProtocolVersion {
    /// MQTT 3.1.1 (protocol level 4).
    V311,
    /// MQTT 5.0 (protocol level 5).
    #[default]
    V5,
}

impl ProtocolVersion {
    /// The protocol level byte of CONNECT (4 or 5).
    pub fn level(self) -> u8 {
        match self {
            ProtocolVersion::V311 => 4,
            ProtocolVersion::V5 => 5,
        }
    }

    /// The version for a protocol level byte, if it is one midge speaks.
    pub fn from_level(level: u8) -> Option<Self> {
        match level {
            4 => Some(ProtocolVersion::V311),
            5 => Some(ProtocolVersion::V5),
            _ => None,
        }
    }
}

/// Quality of service of a PUBLISH or a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum QoS {
    /// Fire and forget.
    #[default]
    AtMostOnce = 0,
    /// Acknowledged with PUBACK; may arrive more than once.
    AtLeastOnce = 1,
    /// Four-step handshake; delivered exactly once.
    ExactlyOnce = 2,
}

impl QoS {
    /// The QoS for its wire value (0, 1 or 2).
    pub fn from_u8(value: u8) -> Option<QoS> {
        match value {
            0 => Some(QoS::AtMostOnce),
            1 => Some(QoS::AtLeastOnce),
            2 => Some(QoS::ExactlyOnce),
            _ => None,
        }
    }
}

/// Every MQTT control packet.
///
/// Large variants are boxed so that a `Packet` stays small when moved through
/// queues.
#[derive(Debug, Clone, PartialEq)]
pub enum Packet {
    /// CONNECT: opens a session (client to server).
    Connect(Box<Connect>),
    /// CONNACK: answers CONNECT.
    ConnAck(Box<ConnAck>),
    /// PUBLISH: an application message, either direction.
    Publish(Publish),
    /// PUBACK: acknowledges a QoS 1 PUBLISH.
    PubAck(PubResponse),
    /// PUBREC: first answer to a QoS 2 PUBLISH.
    PubRec(PubResponse),
    /// PUBREL: releases a QoS 2 PUBLISH after PUBREC.
    PubRel(PubResponse),
    /// PUBCOMP: completes a QoS 2 exchange.
    PubComp(PubResponse),
    /// SUBSCRIBE: asks for messages on topic filters.
    Subscribe(Subscribe),
    /// SUBACK: answers SUBSCRIBE.
    SubAck(SubAck),
    /// UNSUBSCRIBE: removes subscriptions.
    Unsubscribe(Unsubscribe),
    /// UNSUBACK: answers UNSUBSCRIBE.
    UnsubAck(UnsubAck),
    /// PINGREQ: keep-alive probe (client to server).
    PingReq,
    /// PINGRESP: answers PINGREQ.
    PingResp,
    /// DISCONNECT: closes the connection cleanly.
    Disconnect(Disconnect),
    /// MQTT 5.0 only.
    Auth(Auth),
}

impl Packet {
    /// Packet type number as in the fixed header (1 = CONNECT ... 15 = AUTH).
    pub fn type_number(&self) -> u8 {
        match self {
            Packet::Connect(_) => 1,
            Packet::ConnAck(_) => 2,
            Packet::Publish(_) => 3,
            Packet::PubAck(_) => 4,
            Packet::PubRec(_) => 5,
            Packet::PubRel(_) => 6,
            Packet::PubComp(_) => 7,
            Packet::Subscribe(_) => 8,
            Packet::SubAck(_) => 9,
            Packet::Unsubscribe(_) => 10,
            Packet::UnsubAck(_) => 11,
            Packet::PingReq => 12,
            Packet::PingResp => 13,
            Packet::Disconnect(_) => 14,
            Packet::Auth(_) => 15,
        }
    }

    /// Upper-case packet name, for errors and logs.
    pub fn name(&self) -> &'static str {
        packet_name(self.type_number())
    }
}

/// Upper-case name of a packet type number ("PUBLISH" for 3).
pub fn packet_name(type_number: u8) -> &'static str {
    match type_number {
        1 => "CONNECT",
        2 => "CONNACK",
        3 => "PUBLISH",
        4 => "PUBACK",
        5 => "PUBREC",
        6 => "PUBREL",
        7 => "PUBCOMP",
        8 => "SUBSCRIBE",
        9 => "SUBACK",
        10 => "UNSUBSCRIBE",
        11 => "UNSUBACK",
        12 => "PINGREQ",
        13 => "PINGRESP",
        14 => "DISCONNECT",
        15 => "AUTH",
        _ => "RESERVED",
    }
}

/// CONNECT: the first packet a client sends.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Connect {
    /// The protocol version to speak; decides what is encoded.
    pub protocol: ProtocolVersion,
    /// May be empty with `clean_start`; a 5.0 server then assigns one.
    pub client_id: String,
    /// "Clean Session" in 3.1.1, "Clean Start" in 5.0.
    pub clean_start: bool,
    /// Seconds; 0 disables keep-alive.
    pub keep_alive: u16,
    /// User name, if any.
    pub username: Option<String>,
    /// Password, if any (binary allowed).
    pub password: Option<Bytes>,
    /// The Last Will, if any.
    pub will: Option<LastWill>,
    /// CONNECT properties (5.0; not encoded for 3.1.1).
    pub properties: ConnectProperties,
}

/// The Last Will: published by the server when the client drops abnormally.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LastWill {
    /// Topic the will is published to.
    pub topic: String,
    /// The will's payload.
    pub payload: Bytes,
    /// QoS the will is published with.
    pub qos: QoS,
    /// Whether the broker retains the will.
    pub retain: bool,
    /// Will properties (5.0): delay, expiry, content type, ...
    pub properties: WillProperties,
}

/// CONNACK: the server's answer to CONNECT.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnAck {
    /// The server resumed a session it had for this client id.
    pub session_present: bool,
    /// For 3.1.1 the return code is mapped onto the equivalent 5.0 reason code.
    pub reason_code: ReasonCode,
    /// CONNACK properties (5.0; defaults for 3.1.1).
    pub properties: ConnAckProperties,
}

/// PUBLISH, in either direction.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Publish {
    /// Set on a re-delivery of a QoS 1/2 PUBLISH.
    pub dup: bool,
    /// Delivery guarantee: at most once, at least once, exactly once.
    pub qos: QoS,
    /// The broker keeps it as the topic's retained message (or, on delivery, it was retained).
    pub retain: bool,
    /// May be empty in 5.0 when `properties.topic_alias` names a known alias.
    pub topic: String,
    /// 0 for QoS 0; non-zero otherwise.
    pub packet_id: u16,
    /// The application payload, any bytes.
    pub payload: Bytes,
    /// PUBLISH properties (5.0).
    pub properties: PublishProperties,
}

impl Publish {
    /// A PUBLISH with no packet id yet (the session assigns one for QoS 1/2).
    pub fn new(topic: impl Into<String>, payload: impl Into<Bytes>, qos: QoS) -> Publish {
        Publish {
            topic: topic.into(),
            payload: payload.into(),
            qos,
            ..Publish::default()
        }
    }

    /// The same PUBLISH with `packet_id` set.
    pub fn with_packet_id(mut self, packet_id: u16) -> Publish {
        self.packet_id = packet_id;
        self
    }
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PubResponse {
    /// Packet identifier that pairs the request with its acknowledgement.
    pub packet_id: u16,
    /// Outcome of the publish; `Success` unless the receiver refused it.
    pub reason_code: ReasonCode,
    /// Reason string and user properties (5.0).
    pub properties: AckProperties,
}

impl PubResponse {
    /// A successful response for `packet_id`.
    pub fn new(packet_id: u16) -> PubResponse {
        PubResponse {
            packet_id,
            ..PubResponse::default()
        }
    }
}

/// What to do with retained messages when a subscription is made (5.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RetainHandling {
    /// Send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe = 0,
    /// Send retained messages only if the subscription did not exist.
    SendIfNew = 1,
    /// Do not send retained messages.
    DoNotSend = 2,
}

/// Per-filter subscription options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SubscriptionOptions {
    /// Maximum QoS the server may deliver with.
    pub qos: QoS,
    /// 5.0: do not receive our own publications.
    pub no_local: bool,
    /// 5.0: keep the RETAIN flag as published.
    pub retain_as_published: bool,
    /// 5.0: retained messages on subscribe.
    pub retain_handling: RetainHandling,
}

/// One topic filter of a SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SubscribeFilter {
    /// The topic filter, wildcards `+` and `#` allowed.
    pub filter: String,
    /// QoS and the 5.0 subscription options for this filter.
    pub options: SubscriptionOptions,
}

impl SubscribeFilter {
    /// A filter with default options at `qos`.
    pub fn new(filter: impl Into<String>, qos: QoS) -> SubscribeFilter {
        SubscribeFilter {
            filter: filter.into(),
            options: SubscriptionOptions {
                qos,
                ..SubscriptionOptions::default()
            },
        }
    }
}

/// SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Subscribe {
    /// Packet identifier that pairs the request with its acknowledgement.
    pub packet_id: u16,
    /// The filters to subscribe to, at least one.
    pub filters: Vec<SubscribeFilter>,
    /// SUBSCRIBE properties (5.0).
    pub properties: SubscribeProperties,
}

/// SUBACK: one reason code per requested filter.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubAck {
    /// Packet identifier that pairs the request with its acknowledgement.
    pub packet_id: u16,
    /// `GrantedQoS0..2` on success, a failure code (>= 0x80) otherwise.
    pub reason_codes: Vec<ReasonCode>,
    /// Reason string and user properties (5.0).
    pub properties: AckProperties,
}

/// UNSUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Unsubscribe {
    /// Packet identifier that pairs the request with its acknowledgement.
    pub packet_id: u16,
    /// The filters to unsubscribe from, at least one.
    pub filters: Vec<String>,
    /// UNSUBSCRIBE properties (5.0).
    pub properties: UnsubscribeProperties,
}

/// UNSUBACK. 3.1.1 has no reason codes: the list is empty when decoded from 3.1.1.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UnsubAck {
    /// Packet identifier that pairs the request with its acknowledgement.
    pub packet_id: u16,
    /// One reason code per filter (5.0 only).
    pub reason_codes: Vec<ReasonCode>,
    /// Reason string and user properties (5.0).
    pub properties: AckProperties,
}

/// DISCONNECT, from either side (the server sends it only in 5.0).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Disconnect {
    /// Why the connection is closed; `Success` is a normal disconnection.
    pub reason_code: ReasonCode,
    /// DISCONNECT properties (5.0).
    pub properties: DisconnectProperties,
}

/// AUTH (5.0 enhanced authentication).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Auth {
    /// `Success`, `ContinueAuthentication` or `ReAuthenticate`.
    pub reason_code: ReasonCode,
    /// AUTH properties: method, data, reason string.
    pub properties: AuthProperties,
}
