//! Packet decoding: [`decode_packet`] for a buffer and [`Decoder`] for a byte
//! stream split at arbitrary points.
//!
//! The rules of the specification on the form of each packet are checked
//! here (each [`DecodeError`] variant is one of them). Rules that need
//! connection state or topic syntax (topic alias values, topic filter syntax,
//! receive maximum, packet identifiers in flight) are left to the session and
//! the topic rules. Malformed input is always an error value, never a panic.

use bytes::{Buf, Bytes, BytesMut};

use super::properties::id;
use super::varint::{self, VarintError};
use super::{
    packet_name, AckProperties, Auth, AuthProperties, ConnAck, ConnAckProperties, Connect,
    ConnectProperties, Disconnect, DisconnectProperties, LastWill, Packet, ProtocolVersion,
    PubResponse, Publish, PublishProperties, QoS, ReasonCode, RetainHandling, SubAck, Subscribe,
    SubscribeFilter, SubscribeProperties, SubscriptionOptions, UnsubAck, Unsubscribe,
    UnsubscribeProperties, WillProperties,
};

/// Why bytes from the network are not a valid packet.
///
/// [`DecodeError::reason_code`] gives the reason code a 5.0 client sends in
/// its DISCONNECT before closing the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The packet is larger than the maximum packet size. Detected from the
    /// fixed header alone, before the body is buffered.
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge {
        /// Total size announced by the fixed header, fixed header included.
        size: usize,
        /// The configured maximum.
        max: u32,
    },
    /// The remaining length of the fixed header is longer than 4 bytes or not
    /// in its shortest form.
    #[error("fixed header remaining length is malformed: longer than 4 bytes or not in its shortest form")]
    MalformedRemainingLength,
    /// Packet type 0, which is reserved.
    #[error("packet type {packet_type} is reserved")]
    ReservedPacketType {
        /// The packet type number.
        packet_type: u8,
    },
    /// A packet that does not exist in the decoder's protocol version (AUTH,
    /// whose type number is reserved in 3.1.1).
    #[error("{packet} does not exist in MQTT 3.1.1 (packet type reserved)")]
    NotInVersion {
        /// The packet name.
        packet: &'static str,
    },
    /// Fixed header flag bits other than the ones the packet type requires.
    #[error("{packet} fixed header flags are {flags:#06b}; they must be {expected:#06b}")]
    InvalidFlags {
        /// The packet name.
        packet: &'static str,
        /// The flags received (low nibble of the first byte).
        flags: u8,
        /// The flags the specification requires.
        expected: u8,
    },
    /// A QoS field with the value 3.
    #[error("{packet} {field} is 3, which is not a QoS level")]
    InvalidQoS {
        /// The packet name.
        packet: &'static str,
        /// The field: "QoS", "will QoS" or "subscription maximum QoS".
        field: &'static str,
    },
    /// A QoS 0 PUBLISH with the DUP flag set [MQTT-3.3.1-2].
    #[error("PUBLISH has the DUP flag set with QoS 0; DUP must be 0 for QoS 0")]
    DupWithQoS0,
    /// A field runs past the end of the packet (or of its property section).
    #[error("{packet} is truncated: {field} runs past the end of the packet")]
    Truncated {
        /// The packet name.
        packet: &'static str,
        /// The field that did not fit.
        field: &'static str,
    },
    /// Bytes left over after the last field of the packet.
    #[error("{packet} has {count} unexpected bytes after its last field")]
    TrailingBytes {
        /// The packet name.
        packet: &'static str,
        /// How many bytes are left over.
        count: usize,
    },
    /// A variable byte integer inside the packet is longer than 4 bytes or not
    /// in its shortest form.
    #[error("{packet} {field} is a malformed variable byte integer")]
    MalformedVarint {
        /// The packet name.
        packet: &'static str,
        /// "property length" or "subscription identifier".
        field: &'static str,
    },
    /// A UTF-8 string field that is not well-formed UTF-8.
    #[error("{packet} {field} is not well-formed UTF-8")]
    InvalidUtf8 {
        /// The packet name.
        packet: &'static str,
        /// The field, e.g. "topic name".
        field: &'static str,
    },
    /// A UTF-8 string field containing U+0000.
    #[error("{packet} {field} contains the null character U+0000")]
    NullCharacter {
        /// The packet name.
        packet: &'static str,
        /// The field, e.g. "topic name".
        field: &'static str,
    },
    /// A PUBLISH topic name with '+' or '#'.
    #[error("PUBLISH topic name contains a wildcard character ('+' or '#')")]
    WildcardInTopicName,
    /// Packet identifier 0 where a non-zero one is required.
    #[error("{packet} has packet identifier 0; a non-zero packet identifier is required")]
    ZeroPacketId {
        /// The packet name.
        packet: &'static str,
    },
    /// A SUBSCRIBE or UNSUBSCRIBE without topic filters.
    #[error("{packet} has no topic filter; at least one is required")]
    NoFilters {
        /// The packet name.
        packet: &'static str,
    },
    /// A CONNECT whose protocol name is not "MQTT".
    #[error("CONNECT protocol name is not \"MQTT\"")]
    InvalidProtocolName,
    /// A CONNECT protocol level other than 4 (3.1.1) or 5 (5.0).
    #[error("CONNECT protocol level {level} is not supported; it must be 4 (MQTT 3.1.1) or 5 (MQTT 5.0)")]
    UnsupportedProtocolLevel {
        /// The level received.
        level: u8,
    },
    /// A CONNECT with the reserved bit 0 of the connect flags set.
    #[error("CONNECT reserved connect flag (bit 0) is set; it must be 0")]
    ConnectReservedFlag,
    /// A CONNECT with will QoS or will retain set but no will flag.
    #[error("CONNECT {rule}")]
    InvalidWillFlags {
        /// The rule broken.
        rule: &'static str,
    },
    /// A 3.1.1 CONNECT with a password but no user name.
    #[error(
        "CONNECT has the password flag set without the user name flag, which MQTT 3.1.1 forbids"
    )]
    PasswordWithoutUsername,
    /// A CONNACK whose acknowledge flags have reserved bits set.
    #[error("CONNACK acknowledge flags {flags:#010b} have reserved bits 7-1 set; they must be 0")]
    ConnAckReservedFlags {
        /// The flags byte received.
        flags: u8,
    },
    /// A reason (or return) code that the packet kind does not define.
    #[error("{packet} reason code 0x{code:02X} is not defined for this packet")]
    InvalidReasonCode {
        /// The packet name.
        packet: &'static str,
        /// The byte received.
        code: u8,
    },
    /// Subscription options with reserved bits set (bits 6-7 in 5.0, bits 2-7
    /// in 3.1.1).
    #[error("SUBSCRIBE subscription options {options:#010b} have reserved bits set ({rule})")]
    InvalidSubscriptionOptions {
        /// The options byte received.
        options: u8,
        /// Which bits are reserved.
        rule: &'static str,
    },
    /// Subscription options with retain handling 3.
    #[error("SUBSCRIBE subscription options {options:#010b} have retain handling 3, which is not defined")]
    InvalidRetainHandling {
        /// The options byte received.
        options: u8,
    },
    /// A property identifier the specification does not define.
    #[error("{packet} has unknown property identifier 0x{id:02X}")]
    UnknownProperty {
        /// The identifier received.
        id: u8,
        /// The packet name.
        packet: &'static str,
    },
    /// A property that the packet kind must not carry.
    #[error("{packet} must not carry property 0x{id:02X} ({name})", name = property_name(*id))]
    PropertyNotAllowed {
        /// The property identifier.
        id: u8,
        /// The packet name.
        packet: &'static str,
    },
    /// A property other than User Property (or Subscription Identifier in
    /// PUBLISH) that appears more than once.
    #[error("{packet} carries property 0x{id:02X} ({name}) more than once", name = property_name(*id))]
    DuplicateProperty {
        /// The property identifier.
        id: u8,
        /// The packet name.
        packet: &'static str,
    },
    /// A property value the specification forbids.
    #[error("{packet} property 0x{id:02X} ({name}) has value {value}, but it {rule}", name = property_name(*id))]
    InvalidPropertyValue {
        /// The property identifier.
        id: u8,
        /// The packet name.
        packet: &'static str,
        /// The value received.
        value: u32,
        /// The rule, e.g. "must be 0 or 1".
        rule: &'static str,
    },
}

impl DecodeError {
    /// The 5.0 reason code to send in DISCONNECT for this error: `PacketTooLarge`
    /// for an oversized packet, `ProtocolError` for a packet that parses but
    /// breaks a protocol rule (duplicate or misplaced properties, forbidden
    /// property values, packet identifier 0, no topic filters, retain handling
    /// 3, ...), `MalformedPacket` for everything that does not parse.
    ///
    /// ```
    /// use midge_core::packet::{decode_packet, ProtocolVersion, ReasonCode};
    ///
    /// // A PUBLISH announcing 200 bytes against a maximum packet size of 100.
    /// let err = decode_packet(&[0x30, 0xC8, 0x01], ProtocolVersion::V5, 100).unwrap_err();
    /// assert_eq!(err.reason_code(), ReasonCode::PacketTooLarge);
    /// ```
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            DecodeError::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            DecodeError::NotInVersion { .. }
            | DecodeError::ZeroPacketId { .. }
            | DecodeError::NoFilters { .. }
            | DecodeError::InvalidProtocolName
            | DecodeError::UnsupportedProtocolLevel { .. }
            | DecodeError::PasswordWithoutUsername
            | DecodeError::InvalidRetainHandling { .. }
            | DecodeError::PropertyNotAllowed { .. }
            | DecodeError::DuplicateProperty { .. }
            | DecodeError::InvalidPropertyValue { .. } => ReasonCode::ProtocolError,
            _ => ReasonCode::MalformedPacket,
        }
    }
}

/// Name of a property identifier, as in the specification.
fn property_name(id: u8) -> &'static str {
    match id {
        id::PAYLOAD_FORMAT_INDICATOR => "Payload Format Indicator",
        id::MESSAGE_EXPIRY_INTERVAL => "Message Expiry Interval",
        id::CONTENT_TYPE => "Content Type",
        id::RESPONSE_TOPIC => "Response Topic",
        id::CORRELATION_DATA => "Correlation Data",
        id::SUBSCRIPTION_IDENTIFIER => "Subscription Identifier",
        id::SESSION_EXPIRY_INTERVAL => "Session Expiry Interval",
        id::ASSIGNED_CLIENT_IDENTIFIER => "Assigned Client Identifier",
        id::SERVER_KEEP_ALIVE => "Server Keep Alive",
        id::AUTHENTICATION_METHOD => "Authentication Method",
        id::AUTHENTICATION_DATA => "Authentication Data",
        id::REQUEST_PROBLEM_INFORMATION => "Request Problem Information",
        id::WILL_DELAY_INTERVAL => "Will Delay Interval",
        id::REQUEST_RESPONSE_INFORMATION => "Request Response Information",
        id::RESPONSE_INFORMATION => "Response Information",
        id::SERVER_REFERENCE => "Server Reference",
        id::REASON_STRING => "Reason String",
        id::RECEIVE_MAXIMUM => "Receive Maximum",
        id::TOPIC_ALIAS_MAXIMUM => "Topic Alias Maximum",
        id::TOPIC_ALIAS => "Topic Alias",
        id::MAXIMUM_QOS => "Maximum QoS",
        id::RETAIN_AVAILABLE => "Retain Available",
        id::USER_PROPERTY => "User Property",
        id::MAXIMUM_PACKET_SIZE => "Maximum Packet Size",
        id::WILDCARD_SUBSCRIPTION_AVAILABLE => "Wildcard Subscription Available",
        id::SUBSCRIPTION_IDENTIFIER_AVAILABLE => "Subscription Identifier Available",
        id::SHARED_SUBSCRIPTION_AVAILABLE => "Shared Subscription Available",
        _ => "unknown",
    }
}

/// A set of reason codes as two bit masks: codes below 0x80 (bit = code)
/// and from 0x80 (bit = code - 0x80). A lookup instead of one `matches!`
/// per packet kind: less code, and no slower.
#[derive(Clone, Copy)]
struct ReasonSet {
    low: u64,
    high: u64,
}

const fn reason_set(codes: &[ReasonCode]) -> ReasonSet {
    let mut set = ReasonSet { low: 0, high: 0 };
    let mut index = 0;
    while index < codes.len() {
        let code = codes[index] as u8;
        if code < 0x80 {
            set.low |= 1 << code;
        } else {
            set.high |= 1 << (code - 0x80);
        }
        index += 1;
    }
    set
}

/// The reason codes each packet kind defines.
mod reasons {
    use super::{reason_set, ReasonCode::*, ReasonSet};

    /// CONNACK (3.2.2.2)
    pub(super) const CONNACK_REASONS: ReasonSet = reason_set(&[
        Success,
        UnspecifiedError,
        MalformedPacket,
        ProtocolError,
        ImplementationSpecificError,
        UnsupportedProtocolVersion,
        ClientIdentifierNotValid,
        BadUserNameOrPassword,
        NotAuthorized,
        ServerUnavailable,
        ServerBusy,
        Banned,
        BadAuthenticationMethod,
        TopicNameInvalid,
        PacketTooLarge,
        QuotaExceeded,
        PayloadFormatInvalid,
        RetainNotSupported,
        QoSNotSupported,
        UseAnotherServer,
        ServerMoved,
        ConnectionRateExceeded,
    ]);

    /// PUBACK (3.4.2.1) and PUBREC (3.5.2.1)
    pub(super) const PUBACK_REASONS: ReasonSet = reason_set(&[
        Success,
        NoMatchingSubscribers,
        UnspecifiedError,
        ImplementationSpecificError,
        NotAuthorized,
        TopicNameInvalid,
        PacketIdentifierInUse,
        QuotaExceeded,
        PayloadFormatInvalid,
    ]);

    /// PUBREL (3.6.2.1) and PUBCOMP (3.7.2.1)
    pub(super) const PUBREL_REASONS: ReasonSet = reason_set(&[Success, PacketIdentifierNotFound]);

    /// SUBACK (3.9.3)
    pub(super) const SUBACK_REASONS: ReasonSet = reason_set(&[
        Success,
        GrantedQoS1,
        GrantedQoS2,
        UnspecifiedError,
        ImplementationSpecificError,
        NotAuthorized,
        TopicFilterInvalid,
        PacketIdentifierInUse,
        QuotaExceeded,
        SharedSubscriptionsNotSupported,
        SubscriptionIdentifiersNotSupported,
        WildcardSubscriptionsNotSupported,
    ]);

    /// UNSUBACK (3.11.3)
    pub(super) const UNSUBACK_REASONS: ReasonSet = reason_set(&[
        Success,
        NoSubscriptionExisted,
        UnspecifiedError,
        ImplementationSpecificError,
        NotAuthorized,
        TopicFilterInvalid,
        PacketIdentifierInUse,
    ]);

    /// DISCONNECT (3.14.2.1; 0x8C as listed for DISCONNECT in table 2-6)
    pub(super) const DISCONNECT_REASONS: ReasonSet = reason_set(&[
        Success,
        DisconnectWithWillMessage,
        UnspecifiedError,
        MalformedPacket,
        ProtocolError,
        ImplementationSpecificError,
        NotAuthorized,
        ServerBusy,
        ServerShuttingDown,
        BadAuthenticationMethod,
        KeepAliveTimeout,
        SessionTakenOver,
        TopicFilterInvalid,
        TopicNameInvalid,
        ReceiveMaximumExceeded,
        TopicAliasInvalid,
        PacketTooLarge,
        MessageRateTooHigh,
        QuotaExceeded,
        AdministrativeAction,
        PayloadFormatInvalid,
        RetainNotSupported,
        QoSNotSupported,
        UseAnotherServer,
        ServerMoved,
        SharedSubscriptionsNotSupported,
        ConnectionRateExceeded,
        MaximumConnectTime,
        SubscriptionIdentifiersNotSupported,
        WildcardSubscriptionsNotSupported,
    ]);

    /// AUTH (3.15.2.1)
    pub(super) const AUTH_REASONS: ReasonSet =
        reason_set(&[Success, ContinueAuthentication, ReAuthenticate]);
}

/// Whether the 5.0 specification defines `code` for the packet type
/// (MQTT 5.0 table 2-6 and the per-packet tables of chapter 3).
pub(super) fn reason_allowed(packet_type: u8, code: ReasonCode) -> bool {
    use reasons::*;
    let set = match packet_type {
        2 => CONNACK_REASONS,
        4 | 5 => PUBACK_REASONS,
        6 | 7 => PUBREL_REASONS,
        9 => SUBACK_REASONS,
        11 => UNSUBACK_REASONS,
        14 => DISCONNECT_REASONS,
        15 => AUTH_REASONS,
        _ => return false,
    };
    let code = code as u8;
    // Every code is below 0x80 + 64 (the highest is 0xA2).
    let (mask, bit) = if code < 0x80 {
        (set.low, code)
    } else {
        (set.high, code - 0x80)
    };
    (mask >> (bit & 63)) & 1 != 0
}

// ---------------------------------------------------------------------------
// Fixed header.

/// A fixed header that has been read completely.
#[derive(Debug, Clone, Copy)]
struct Header {
    /// The first byte (type and flags).
    first: u8,
    /// Bytes of the fixed header (2 to 5).
    len: usize,
    /// Total packet size, fixed header included.
    total: usize,
}

/// Checks the first byte: a known packet type with the flags it requires.
fn check_first_byte(first: u8, version: ProtocolVersion) -> Result<(), DecodeError> {
    let packet_type = first >> 4;
    let flags = first & 0x0F;
    let expected = match packet_type {
        0 => return Err(DecodeError::ReservedPacketType { packet_type }),
        15 if version == ProtocolVersion::V311 => {
            return Err(DecodeError::NotInVersion { packet: "AUTH" })
        }
        3 => {
            let qos = (flags >> 1) & 0b11;
            if qos == 3 {
                return Err(DecodeError::InvalidQoS {
                    packet: "PUBLISH",
                    field: "QoS",
                });
            }
            if qos == 0 && flags & 0b1000 != 0 {
                return Err(DecodeError::DupWithQoS0);
            }
            return Ok(());
        }
        6 | 8 | 10 => 0b0010,
        _ => 0,
    };
    if flags != expected {
        return Err(DecodeError::InvalidFlags {
            packet: packet_name(packet_type),
            flags,
            expected,
        });
    }
    Ok(())
}

/// Reads the fixed header at the front of `buf`: `None` while incomplete.
/// Enforces `max_packet_size` as soon as the remaining length is known.
#[inline]
fn read_header(
    buf: &[u8],
    version: ProtocolVersion,
    max_packet_size: u32,
) -> Result<Option<Header>, DecodeError> {
    let Some((&first, rest)) = buf.split_first() else {
        return Ok(None);
    };
    check_first_byte(first, version)?;
    let (remaining, used) = match varint::read(rest) {
        Ok(read) => read,
        Err(VarintError::Incomplete) => return Ok(None),
        Err(VarintError::Malformed) => return Err(DecodeError::MalformedRemainingLength),
    };
    let len = 1 + used;
    // At most 268,435,460: fits in usize on every supported target.
    let total = len + remaining as usize;
    let max = usize::try_from(max_packet_size).unwrap_or(usize::MAX);
    if total > max {
        return Err(DecodeError::PacketTooLarge {
            size: total,
            max: max_packet_size,
        });
    }
    Ok(Some(Header { first, len, total }))
}

// ---------------------------------------------------------------------------
// Entry points.

/// Decodes one packet from the front of `buf`.
///
/// Returns `Ok(None)` while `buf` holds less than a whole packet, and
/// otherwise the packet with the number of bytes it took. Packets are decoded
/// for `version`, except CONNECT, which is decoded for the protocol level it
/// carries. `max_packet_size` bounds the total packet size, fixed header
/// included; it is checked from the fixed header alone (`u32::MAX` for no
/// limit beyond the protocol's). Binary fields (payload, correlation data...)
/// are copied once into [`Bytes`]; [`Decoder`] avoids that copy.
///
/// ```
/// use midge_core::packet::{decode_packet, Packet, ProtocolVersion, PubResponse};
///
/// let bytes = [0x40, 0x02, 0x00, 0x0A, 0xC0];
/// let (packet, used) = decode_packet(&bytes, ProtocolVersion::V311, 1024).unwrap().unwrap();
/// assert_eq!(packet, Packet::PubAck(PubResponse::new(10)));
/// assert_eq!(used, 4);
/// // The PINGREQ after it is incomplete: its remaining length is missing.
/// assert_eq!(decode_packet(&bytes[4..], ProtocolVersion::V311, 1024).unwrap(), None);
/// ```
pub fn decode_packet(
    buf: &[u8],
    version: ProtocolVersion,
    max_packet_size: u32,
) -> Result<Option<(Packet, usize)>, DecodeError> {
    let Some(header) = read_header(buf, version, max_packet_size)? else {
        return Ok(None);
    };
    let Some(frame) = buf.get(..header.total) else {
        return Ok(None);
    };
    let mut reader = Reader::new(frame, header, None);
    let packet = decode_body::<false>(header.first, &mut reader, version)?;
    Ok(Some((packet, header.total)))
}

/// A whole 5.0 PUBLISH, as a session snapshot stores it: `None` for
/// anything else (another packet, trailing or missing bytes). Decoded as the
/// client decodes, so that the snapshot reader does not link the decoders of
/// the packets only clients send.
pub(crate) fn decode_stored_publish(raw: &[u8]) -> Option<Publish> {
    let header = read_header(raw, ProtocolVersion::V5, u32::MAX).ok()??;
    if header.total != raw.len() {
        return None;
    }
    let mut reader = Reader::new(raw, header, None);
    match decode_body::<true>(header.first, &mut reader, ProtocolVersion::V5) {
        Ok(Packet::Publish(publish)) => Some(publish),
        _ => None,
    }
}

/// Why [`Decoder::next_server_packet`] returned no packet.
#[derive(Debug)]
pub(crate) enum ServerPacketError {
    /// The bytes are not a valid packet.
    Decode(DecodeError),
    /// A whole, undecoded packet that only clients send (its name).
    ClientPacket(&'static str),
    /// A well-framed PUBLISH whose topic name has a wildcard (ActiveMQ's
    /// advisory messages do). Consumed from the buffer, so the client can
    /// drop it and go on reading.
    WildcardTopic(WildcardPublish),
}

/// What the client needs to drop a PUBLISH with a wildcard in its topic:
/// the acknowledgement to send, and the topic for the diagnostic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WildcardPublish {
    pub qos: QoS,
    pub packet_id: u16,
    /// The topic name; when it is not UTF-8, every non-ASCII byte shown
    /// as `?` (`String::from_utf8_lossy` would link a second UTF-8 decoder
    /// into the browser package for this one diagnostic).
    pub topic: String,
}

impl WildcardPublish {
    /// Reads the head of a whole PUBLISH frame again (`publish_head` stopped
    /// at the wildcard). A QoS 1 or 2 PUBLISH without a usable packet
    /// identifier is malformed rather than droppable: there is nothing to
    /// acknowledge.
    fn read(frame: &[u8], header: Header) -> Result<WildcardPublish, DecodeError> {
        let qos = QoS::from_u8((header.first >> 1) & 0b11).unwrap_or(QoS::AtMostOnce);
        let at = header.len;
        let len = frame
            .get(at..at + 2)
            .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
        let topic = frame.get(at + 2..at + 2 + len).unwrap_or_default();
        let packet_id = match frame.get(at + 2 + len..at + 4 + len) {
            _ if qos == QoS::AtMostOnce => 0,
            Some(b) => match u16::from_be_bytes([b[0], b[1]]) {
                0 => return Err(DecodeError::ZeroPacketId { packet: "PUBLISH" }),
                id => id,
            },
            None => {
                return Err(DecodeError::Truncated {
                    packet: "PUBLISH",
                    field: "packet identifier",
                })
            }
        };
        Ok(WildcardPublish {
            qos,
            packet_id,
            topic: match std::str::from_utf8(topic) {
                Ok(text) => text.to_owned(),
                Err(_) => topic
                    .iter()
                    .map(|&b| if b.is_ascii() { char::from(b) } else { '?' })
                    .collect(),
            },
        })
    }
}

impl From<DecodeError> for ServerPacketError {
    fn from(e: DecodeError) -> ServerPacketError {
        ServerPacketError::Decode(e)
    }
}

/// Whether only a client sends packets of this type (CONNECT, SUBSCRIBE,
/// UNSUBSCRIBE).
#[inline]
fn client_only(packet_type: u8) -> bool {
    matches!(packet_type, 1 | 8 | 10)
}

/// Smallest growth of the decoder's buffer.
const MIN_BUFFER: usize = 4096;

/// Most room made ahead of time for the body of an announced packet.
const MAX_RESERVE: usize = 64 * 1024;

/// Incremental decoder for a byte stream split at arbitrary points.
///
/// Bytes read from the transport go in with [`feed`](Decoder::feed); whole
/// packets come out of [`next_packet`](Decoder::next_packet). A complete
/// packet is split off the internal buffer without copying, so the payload of
/// a PUBLISH (and any other binary field) is a slice of the bytes fed: data
/// is copied once, from the caller's read buffer into the decoder.
///
/// The maximum packet size is enforced as soon as a fixed header is readable,
/// before any room is made for the body. After an error the decoder's state is
/// unspecified: the connection must be closed (and the decoder
/// [`clear`](Decoder::clear)ed before reuse).
///
/// ```
/// use midge_core::packet::{Decoder, Packet, ProtocolVersion};
///
/// let mut decoder = Decoder::new(ProtocolVersion::V5, 1024);
/// decoder.feed(&[0xD0]); // PINGRESP, first byte
/// assert_eq!(decoder.next_packet().unwrap(), None);
/// decoder.feed(&[0x00, 0xD0, 0x00]); // its length, then a second PINGRESP
/// assert_eq!(decoder.next_packet().unwrap(), Some(Packet::PingResp));
/// assert_eq!(decoder.next_packet().unwrap(), Some(Packet::PingResp));
/// assert_eq!(decoder.next_packet().unwrap(), None);
/// assert_eq!(decoder.buffered_len(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct Decoder {
    buf: BytesMut,
    version: ProtocolVersion,
    max_packet_size: u32,
}

impl Decoder {
    /// A decoder for `version` that rejects packets larger than
    /// `max_packet_size` bytes (fixed header included).
    pub fn new(version: ProtocolVersion, max_packet_size: u32) -> Decoder {
        Decoder {
            buf: BytesMut::new(),
            version,
            max_packet_size,
        }
    }

    /// Changes the protocol version used for the packets not yet decoded.
    pub fn set_version(&mut self, version: ProtocolVersion) {
        self.version = version;
    }

    /// Changes the maximum packet size for the packets not yet decoded.
    pub fn set_max_packet_size(&mut self, max_packet_size: u32) {
        self.max_packet_size = max_packet_size;
    }

    /// Appends bytes read from the transport.
    #[inline]
    pub fn feed(&mut self, data: &[u8]) {
        if self.buf.capacity() - self.buf.len() < data.len() {
            // A part of a packet waits: grow by at least a read buffer's
            // worth, so that small feeds do not each go through `reserve`
            // (which also reclaims the space of packets already handed out
            // and dropped). Otherwise the buffer is new (see
            // `whole_header`), and these bytes are all it needs.
            let room = if self.buf.is_empty() {
                data.len()
            } else {
                data.len().max(MIN_BUFFER)
            };
            self.buf.reserve(room);
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete packet, `Ok(None)` when more bytes are needed.
    ///
    /// Call it until it returns `Ok(None)` after each [`feed`](Decoder::feed).
    #[inline]
    pub fn next_packet(&mut self) -> Result<Option<Packet>, DecodeError> {
        let Some(header) = self.whole_header()? else {
            return Ok(None);
        };
        if header.first >> 4 == 3 && self.publish_has_no_properties(header) {
            // Returned as is: the packet is written once, into the caller's
            // slot, not unpacked and moved again here.
            return self.publish_fast_path(header);
        }
        let frame = self.buf.split_to(header.total).freeze();
        let mut reader = Reader::new(&frame, header, Some(&frame));
        decode_body::<false>(header.first, &mut reader, self.version).map(Some)
    }

    /// [`next_packet`](Decoder::next_packet) for a client: a whole packet
    /// that only clients send is returned undecoded, as an error (so that
    /// the client build does not link the CONNECT, SUBSCRIBE and UNSUBSCRIBE
    /// decoders).
    #[inline]
    pub(crate) fn next_server_packet(&mut self) -> Result<Option<Packet>, ServerPacketError> {
        let header = match self.whole_header() {
            Ok(Some(header)) => header,
            Ok(None) => return Ok(None),
            Err(e) => return Err(ServerPacketError::Decode(e)),
        };
        let packet_type = header.first >> 4;
        if packet_type == 3 && self.publish_has_no_properties(header) {
            let result = self.publish_fast_path(header);
            if let Err(ServerPacketError::Decode(DecodeError::WildcardInTopicName)) = result {
                // The fast path consumed nothing: drop the frame here.
                let dropped = WildcardPublish::read(&self.buf, header);
                self.buf.advance(header.total.min(self.buf.len()));
                return Err(match dropped {
                    Ok(dropped) => ServerPacketError::WildcardTopic(dropped),
                    Err(e) => ServerPacketError::Decode(e),
                });
            }
            return result;
        }
        if client_only(packet_type) {
            return Err(ServerPacketError::ClientPacket(packet_name(packet_type)));
        }
        let frame = self.buf.split_to(header.total).freeze();
        let mut reader = Reader::new(&frame, header, Some(&frame));
        match decode_body::<true>(header.first, &mut reader, self.version) {
            Ok(packet) => Ok(Some(packet)),
            Err(DecodeError::WildcardInTopicName) => {
                Err(match WildcardPublish::read(&frame, header) {
                    Ok(dropped) => ServerPacketError::WildcardTopic(dropped),
                    Err(e) => ServerPacketError::Decode(e),
                })
            }
            Err(e) => Err(ServerPacketError::Decode(e)),
        }
    }

    /// The fixed header of the packet at the front of the buffer once the
    /// whole packet is buffered.
    #[inline(always)]
    fn whole_header(&mut self) -> Result<Option<Header>, DecodeError> {
        let Some(header) = read_header(&self.buf, self.version, self.max_packet_size)? else {
            if self.buf.is_empty() && self.buf.capacity() != 0 {
                // Every byte fed is decoded: let go of the room left, so that
                // an idle connection keeps no buffer (the packets handed out
                // keep the bytes they use).
                self.buf = BytesMut::new();
            }
            return Ok(None);
        };
        if self.buf.len() < header.total {
            // The size is within the maximum: make room for the rest, up to a
            // bound (a peer announcing a large packet does not get that much
            // memory reserved before it sends the bytes).
            let missing = header.total - self.buf.len();
            self.buf.reserve(missing.min(MAX_RESERVE));
            return Ok(None);
        }
        Ok(Some(header))
    }

    /// Whether the buffered PUBLISH has no properties (always so in 3.1.1).
    /// A malformed head answers `false` and the general path reports it.
    #[inline(always)]
    fn publish_has_no_properties(&self, header: Header) -> bool {
        if self.version == ProtocolVersion::V311 {
            return true;
        }
        let frame = &self.buf[..header.total];
        let Some(&[high, low]) = frame.get(header.len..header.len + 2) else {
            return false;
        };
        let packet_id_len = if header.first & 0b0110 == 0 { 0 } else { 2 };
        let at = header.len + 2 + usize::from(u16::from_be_bytes([high, low])) + packet_id_len;
        frame.get(at) == Some(&0)
    }

    /// A buffered PUBLISH without properties: the head is read in place and
    /// the payload split off the buffer, with no other reference counting.
    #[inline(always)]
    fn publish_fast_path<E: From<DecodeError>>(
        &mut self,
        header: Header,
    ) -> Result<Option<Packet>, E> {
        let mut reader = Reader::new(&self.buf, header, None);
        let (qos, topic, packet_id) = publish_head(header.first, &mut reader)?;
        if self.version == ProtocolVersion::V5 {
            // The property length byte, 0 (`publish_has_no_properties`).
            reader.empty_properties();
        }
        let topic = topic.to_owned();
        let start = reader.pos;
        self.buf.advance(start);
        let payload = self.buf.split_to(header.total - start).freeze();
        Ok(Some(Packet::Publish(Publish {
            dup: header.first & 0b1000 != 0,
            qos,
            retain: header.first & 0b0001 != 0,
            topic,
            packet_id,
            payload,
            properties: PublishProperties::default(),
        })))
    }

    /// Bytes fed but not yet returned as packets.
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    /// Drops every buffered byte (on reconnect).
    pub fn clear(&mut self) {
        self.buf.clear();
    }
}

// ---------------------------------------------------------------------------
// Body reader.

/// Bounds-checked cursor over one packet.
#[derive(Clone, Copy)]
struct Reader<'a> {
    /// The whole frame.
    buf: &'a [u8],
    /// Next byte to read; always `<= end`.
    pos: usize,
    /// End of the current section (packet or property section); always
    /// `<= buf.len()`.
    end: usize,
    /// The frame as `Bytes` (same contents as `buf`) for zero-copy slices.
    shared: Option<&'a Bytes>,
    /// Packet name for errors.
    packet: &'static str,
}

impl<'a> Reader<'a> {
    #[inline]
    fn new(frame: &'a [u8], header: Header, shared: Option<&'a Bytes>) -> Reader<'a> {
        let end = header.total.min(frame.len());
        Reader {
            buf: frame,
            pos: header.len.min(end),
            end,
            shared,
            packet: packet_name(header.first >> 4),
        }
    }

    #[inline]
    fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    fn truncated(&self, field: &'static str) -> DecodeError {
        DecodeError::Truncated {
            packet: self.packet,
            field,
        }
    }

    /// The next `n` bytes' range.
    #[inline]
    fn take_range(&mut self, n: usize, field: &'static str) -> Result<(usize, usize), DecodeError> {
        let start = self.pos;
        match start.checked_add(n) {
            Some(stop) if stop <= self.end => {
                self.pos = stop;
                Ok((start, stop))
            }
            _ => Err(self.truncated(field)),
        }
    }

    #[inline]
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let (start, stop) = self.take_range(n, field)?;
        self.buf.get(start..stop).ok_or(self.truncated(field))
    }

    #[inline]
    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let bytes = self.take(N, field)?;
        <[u8; N]>::try_from(bytes).map_err(|_| self.truncated(field))
    }

    #[inline]
    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        let [byte] = self.array::<1>(field)?;
        Ok(byte)
    }

    #[inline]
    fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        self.array::<2>(field).map(u16::from_be_bytes)
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.array::<4>(field).map(u32::from_be_bytes)
    }

    fn varint(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let rest = self.buf.get(self.pos..self.end).unwrap_or(&[]);
        match varint::read(rest) {
            Ok((value, used)) => {
                self.pos += used;
                Ok(value)
            }
            Err(VarintError::Incomplete) => Err(self.truncated(field)),
            Err(VarintError::Malformed) => Err(DecodeError::MalformedVarint {
                packet: self.packet,
                field,
            }),
        }
    }

    /// A length-prefixed field's bytes.
    #[inline]
    fn prefixed(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.u16(field)?;
        self.take(usize::from(len), field)
    }

    /// A UTF-8 string field, checked for well-formedness and U+0000.
    #[inline]
    fn str(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let bytes = self.prefixed(field)?;
        let text = std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8 {
            packet: self.packet,
            field,
        })?;
        if crate::topic::has_byte(bytes, 0) {
            return Err(DecodeError::NullCharacter {
                packet: self.packet,
                field,
            });
        }
        Ok(text)
    }

    fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        self.str(field).map(str::to_owned)
    }

    /// `start..stop` of the frame as `Bytes`: a slice of the shared frame, or
    /// a copy.
    #[inline]
    fn bytes(&self, start: usize, stop: usize) -> Bytes {
        match self.shared {
            Some(shared) if start <= stop && stop <= shared.len() => shared.slice(start..stop),
            _ => Bytes::copy_from_slice(self.buf.get(start..stop).unwrap_or(&[])),
        }
    }

    /// A binary data field.
    fn binary(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let len = self.u16(field)?;
        let (start, stop) = self.take_range(usize::from(len), field)?;
        Ok(self.bytes(start, stop))
    }

    /// Everything up to the end of the packet (the PUBLISH payload).
    #[inline]
    fn rest(&mut self) -> Bytes {
        let (start, stop) = (self.pos, self.end);
        self.pos = self.end;
        if start == stop {
            return Bytes::new();
        }
        self.bytes(start, stop)
    }

    /// Consumes a property length of 0 if there is one (the common case of
    /// a PUBLISH without properties).
    #[inline(always)]
    fn empty_properties(&mut self) -> bool {
        if self.pos < self.end && self.buf.get(self.pos) == Some(&0) {
            self.pos += 1;
            return true;
        }
        false
    }

    /// The packet must be fully consumed.
    fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes {
                packet: self.packet,
                count,
            }),
        }
    }

    #[inline]
    fn packet_id(&mut self) -> Result<u16, DecodeError> {
        let packet_id = self.u16("packet identifier")?;
        if packet_id == 0 {
            return Err(DecodeError::ZeroPacketId {
                packet: self.packet,
            });
        }
        Ok(packet_id)
    }

    /// A reason code the packet kind defines (5.0).
    fn reason_code(&mut self, packet_type: u8) -> Result<ReasonCode, DecodeError> {
        let code = self.u8("reason code")?;
        match ReasonCode::from_u8(code) {
            Some(reason) if reason_allowed(packet_type, reason) => Ok(reason),
            _ => Err(DecodeError::InvalidReasonCode {
                packet: self.packet,
                code,
            }),
        }
    }
}

// ---------------------------------------------------------------------------
// Packet bodies.

/// The body of a packet. With `SERVER` (the packets a server sends) the
/// packets only clients send are not decoded, and their decoders are not
/// linked: the callers set them apart first
/// ([`Decoder::next_server_packet`]) or reject any packet other than the
/// one they want ([`decode_stored_publish`]); were one to get here, it would
/// be a reserved packet type.
fn decode_body<const SERVER: bool>(
    first: u8,
    r: &mut Reader<'_>,
    version: ProtocolVersion,
) -> Result<Packet, DecodeError> {
    let v5 = version == ProtocolVersion::V5;
    let packet_type = first >> 4;
    // Each decoder checks that the packet is fully consumed and builds the
    // `Packet` in one expression (it is large: moving it costs).
    match packet_type {
        1 if !SERVER => decode_connect(r),
        2 => decode_connack(r, v5),
        3 => decode_publish(first, r, v5),
        4..=7 => decode_ack(r, packet_type, v5),
        8 if !SERVER => decode_subscribe(r, v5),
        9 => decode_suback(r, v5),
        10 if !SERVER => decode_unsubscribe(r, v5),
        11 => decode_unsuback(r, v5),
        12 => r.finish().map(|()| Packet::PingReq),
        13 => r.finish().map(|()| Packet::PingResp),
        // DISCONNECT and AUTH (rejected for 3.1.1 with the fixed header):
        // the reason code and the properties may each be left out (5.0
        // sections 3.14.2 and 3.15.2). In 3.1.1 DISCONNECT is empty. One
        // reader for both: less code than one per property struct.
        14 | 15 => {
            let disconnect = packet_type == 14;
            let mut reason_code = ReasonCode::Success;
            let mut p = AnyProperties::default();
            if v5 && r.remaining() > 0 {
                reason_code = r.reason_code(packet_type)?;
                if r.remaining() > 0 {
                    p = if disconnect {
                        read_any_properties(r, "DISCONNECT", DISCONNECT_PROPS, USER_ONLY)?
                    } else {
                        read_any_properties(r, "AUTH", AUTH_PROPS, USER_ONLY)?
                    };
                }
            }
            r.finish()?;
            Ok(if disconnect {
                Packet::Disconnect(Disconnect {
                    reason_code,
                    properties: DisconnectProperties {
                        session_expiry_interval: p.session_expiry_interval,
                        reason_string: p.reason_string,
                        user_properties: p.user_properties,
                        server_reference: p.server_reference,
                    },
                })
            } else {
                Packet::Auth(Auth {
                    reason_code,
                    properties: AuthProperties {
                        authentication_method: p.authentication_method,
                        authentication_data: p.authentication_data,
                        reason_string: p.reason_string,
                        user_properties: p.user_properties,
                    },
                })
            })
        }
        _ => Err(DecodeError::ReservedPacketType { packet_type }),
    }
}

fn decode_connect(r: &mut Reader<'_>) -> Result<Packet, DecodeError> {
    if r.prefixed("protocol name")? != b"MQTT" {
        return Err(DecodeError::InvalidProtocolName);
    }
    let level = r.u8("protocol level")?;
    let protocol = ProtocolVersion::from_level(level)
        .ok_or(DecodeError::UnsupportedProtocolLevel { level })?;
    let v5 = protocol == ProtocolVersion::V5;
    let flags = r.u8("connect flags")?;
    if flags & 0x01 != 0 {
        return Err(DecodeError::ConnectReservedFlag);
    }
    let has_will = flags & 0x04 != 0;
    let will_qos = (flags >> 3) & 0b11;
    let will_retain = flags & 0x20 != 0;
    let has_password = flags & 0x40 != 0;
    let has_username = flags & 0x80 != 0;
    if !has_will && will_qos != 0 {
        return Err(DecodeError::InvalidWillFlags {
            rule: "will QoS must be 0 when the will flag is 0",
        });
    }
    if !has_will && will_retain {
        return Err(DecodeError::InvalidWillFlags {
            rule: "will retain must be 0 when the will flag is 0",
        });
    }
    let will_qos = QoS::from_u8(will_qos).ok_or(DecodeError::InvalidQoS {
        packet: "CONNECT",
        field: "will QoS",
    })?;
    if !v5 && has_password && !has_username {
        return Err(DecodeError::PasswordWithoutUsername);
    }
    let keep_alive = r.u16("keep alive")?;
    let properties = if v5 {
        read_connect_properties(r)?
    } else {
        ConnectProperties::default()
    };
    let client_id = r.string("client identifier")?;
    let will = if has_will {
        let will_properties = if v5 {
            read_will_properties(r)?
        } else {
            WillProperties::default()
        };
        let topic = r.string("will topic")?;
        let payload = r.binary("will payload")?;
        Some(LastWill {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
            properties: will_properties,
        })
    } else {
        None
    };
    let username = if has_username {
        Some(r.string("user name")?)
    } else {
        None
    };
    let password = if has_password {
        Some(r.binary("password")?)
    } else {
        None
    };
    r.finish()?;
    Ok(Packet::Connect(Box::new(Connect {
        protocol,
        client_id,
        clean_start: flags & 0x02 != 0,
        keep_alive,
        username,
        password,
        will,
        properties,
    })))
}

fn decode_connack(r: &mut Reader<'_>, v5: bool) -> Result<Packet, DecodeError> {
    let flags = r.u8("acknowledge flags")?;
    if flags & 0xFE != 0 {
        return Err(DecodeError::ConnAckReservedFlags { flags });
    }
    let mut connack = ConnAck {
        session_present: flags & 0x01 != 0,
        ..ConnAck::default()
    };
    // A 3.1.1-only server refusing our 5.0 CONNECT answers with a 3.1.1
    // return code (3.1.1 section 3.2.2.3) and no properties: read as that
    // refusal, e.g. 0x01 as Unsupported Protocol Version, not as a malformed
    // packet. moquette 0.17 adds a property section to its 0x01 ("unacceptable
    // protocol version", never a 5.0 CONNACK code): read the same way. A bare
    // success code stays malformed.
    let v311_code = r.buf.get(r.pos).copied();
    if v5 && (r.remaining() == 1 || v311_code == Some(1)) {
        let code = r.u8("return code")?;
        // Whatever follows (a property length) is not read: the refusal
        // ends the connection either way.
        r.pos = r.end;
        connack.reason_code = match ReasonCode::from_v311_connack(code) {
            Some(refusal) if code != 0 => refusal,
            _ => {
                return Err(DecodeError::InvalidReasonCode {
                    packet: "CONNACK",
                    code,
                })
            }
        };
    } else if v5 {
        connack.reason_code = r.reason_code(2)?;
        connack.properties = read_connack_properties(r)?;
    } else {
        let code = r.u8("return code")?;
        connack.reason_code =
            ReasonCode::from_v311_connack(code).ok_or(DecodeError::InvalidReasonCode {
                packet: "CONNACK",
                code,
            })?;
    }
    r.finish()?;
    Ok(Packet::ConnAck(Box::new(connack)))
}

/// The fixed part of a PUBLISH: QoS, topic name and packet identifier. The
/// reader is left at the property length (5.0) or the payload (3.1.1).
#[inline(always)]
fn publish_head<'a>(first: u8, r: &mut Reader<'a>) -> Result<(QoS, &'a str, u16), DecodeError> {
    // Flags were checked with the fixed header.
    let qos = match (first >> 1) & 0b11 {
        0 => QoS::AtMostOnce,
        1 => QoS::AtLeastOnce,
        _ => QoS::ExactlyOnce,
    };
    let raw = r.prefixed("topic name")?;
    let mut all_ascii = true;
    for &byte in raw {
        match byte {
            0 => {
                return Err(DecodeError::NullCharacter {
                    packet: "PUBLISH",
                    field: "topic name",
                })
            }
            b'+' | b'#' => return Err(DecodeError::WildcardInTopicName),
            _ => all_ascii &= byte.is_ascii(),
        }
    }
    let topic = if all_ascii {
        // SAFETY: every byte was just checked to be ASCII (below 0x80), and
        // ASCII is valid UTF-8. Most topics are ASCII; this skips a second
        // pass over them.
        unsafe { std::str::from_utf8_unchecked(raw) }
    } else {
        std::str::from_utf8(raw).map_err(|_| DecodeError::InvalidUtf8 {
            packet: "PUBLISH",
            field: "topic name",
        })?
    };
    let packet_id = if qos == QoS::AtMostOnce {
        0
    } else {
        r.packet_id()?
    };
    Ok((qos, topic, packet_id))
}

/// PUBLISH. The packet is built in one expression so that the large
/// `Packet` value is written once, not moved through several layers.
#[inline(always)]
fn decode_publish(first: u8, r: &mut Reader<'_>, v5: bool) -> Result<Packet, DecodeError> {
    let (qos, topic, packet_id) = publish_head(first, r)?;
    let properties = if v5 && !r.empty_properties() {
        read_publish_properties(r)?
    } else {
        PublishProperties::default()
    };
    Ok(Packet::Publish(Publish {
        dup: first & 0b1000 != 0,
        qos,
        retain: first & 0b0001 != 0,
        topic: topic.to_owned(),
        packet_id,
        payload: r.rest(),
        properties,
    }))
}

fn decode_ack(r: &mut Reader<'_>, packet_type: u8, v5: bool) -> Result<Packet, DecodeError> {
    let mut ack = PubResponse::new(r.packet_id()?);
    if v5 && r.remaining() > 0 {
        ack.reason_code = r.reason_code(packet_type)?;
        if r.remaining() > 0 {
            ack.properties = read_ack_properties(r)?;
        }
    }
    r.finish()?;
    Ok(match packet_type {
        4 => Packet::PubAck(ack),
        5 => Packet::PubRec(ack),
        6 => Packet::PubRel(ack),
        _ => Packet::PubComp(ack),
    })
}

fn decode_options(options: u8, v5: bool) -> Result<SubscriptionOptions, DecodeError> {
    let reserved = if v5 { 0b1100_0000 } else { 0b1111_1100 };
    if options & reserved != 0 {
        return Err(DecodeError::InvalidSubscriptionOptions {
            options,
            rule: if v5 {
                "bits 6-7 are reserved"
            } else {
                "bits 2-7 are reserved in MQTT 3.1.1"
            },
        });
    }
    let qos = QoS::from_u8(options & 0b11).ok_or(DecodeError::InvalidQoS {
        packet: "SUBSCRIBE",
        field: "subscription maximum QoS",
    })?;
    let retain_handling = match (options >> 4) & 0b11 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendIfNew,
        2 => RetainHandling::DoNotSend,
        _ => return Err(DecodeError::InvalidRetainHandling { options }),
    };
    Ok(SubscriptionOptions {
        qos,
        no_local: options & 0b0100 != 0,
        retain_as_published: options & 0b1000 != 0,
        retain_handling,
    })
}

fn decode_subscribe(r: &mut Reader<'_>, v5: bool) -> Result<Packet, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = if v5 {
        read_subscribe_properties(r)?
    } else {
        SubscribeProperties::default()
    };
    if r.remaining() == 0 {
        return Err(DecodeError::NoFilters {
            packet: "SUBSCRIBE",
        });
    }
    let mut filters = Vec::new();
    while r.remaining() > 0 {
        let filter = r.string("topic filter")?;
        let options = decode_options(r.u8("subscription options")?, v5)?;
        filters.push(SubscribeFilter { filter, options });
    }
    Ok(Packet::Subscribe(Subscribe {
        packet_id,
        filters,
        properties,
    }))
}

fn decode_suback(r: &mut Reader<'_>, v5: bool) -> Result<Packet, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = if v5 {
        read_ack_properties(r)?
    } else {
        AckProperties::default()
    };
    let mut reason_codes = Vec::with_capacity(r.remaining());
    while r.remaining() > 0 {
        let code = r.u8("reason code")?;
        let reason = if v5 {
            ReasonCode::from_u8(code).filter(|reason| reason_allowed(9, *reason))
        } else {
            ReasonCode::from_v311_suback(code)
        };
        reason_codes.push(reason.ok_or(DecodeError::InvalidReasonCode {
            packet: "SUBACK",
            code,
        })?);
    }
    Ok(Packet::SubAck(SubAck {
        packet_id,
        reason_codes,
        properties,
    }))
}

fn decode_unsubscribe(r: &mut Reader<'_>, v5: bool) -> Result<Packet, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = if v5 {
        read_unsubscribe_properties(r)?
    } else {
        UnsubscribeProperties::default()
    };
    if r.remaining() == 0 {
        return Err(DecodeError::NoFilters {
            packet: "UNSUBSCRIBE",
        });
    }
    let mut filters = Vec::new();
    while r.remaining() > 0 {
        filters.push(r.string("topic filter")?);
    }
    Ok(Packet::Unsubscribe(Unsubscribe {
        packet_id,
        filters,
        properties,
    }))
}

fn decode_unsuback(r: &mut Reader<'_>, v5: bool) -> Result<Packet, DecodeError> {
    let packet_id = r.packet_id()?;
    let mut unsuback = UnsubAck {
        packet_id,
        ..UnsubAck::default()
    };
    if v5 {
        unsuback.properties = read_ack_properties(r)?;
        unsuback.reason_codes.reserve(r.remaining());
        while r.remaining() > 0 {
            let code = r.reason_code(11)?;
            unsuback.reason_codes.push(code);
        }
    }
    r.finish()?;
    Ok(Packet::UnsubAck(unsuback))
}

// ---------------------------------------------------------------------------
// Properties.

/// Bit mask of property identifiers (all are below 64).
const fn mask(ids: &[u8]) -> u64 {
    let mut mask = 0u64;
    let mut index = 0;
    while index < ids.len() {
        mask |= 1 << ids[index];
        index += 1;
    }
    mask
}

const CONNECT_PROPS: u64 = mask(&[
    id::SESSION_EXPIRY_INTERVAL,
    id::AUTHENTICATION_METHOD,
    id::AUTHENTICATION_DATA,
    id::REQUEST_PROBLEM_INFORMATION,
    id::REQUEST_RESPONSE_INFORMATION,
    id::RECEIVE_MAXIMUM,
    id::TOPIC_ALIAS_MAXIMUM,
    id::USER_PROPERTY,
    id::MAXIMUM_PACKET_SIZE,
]);
const WILL_PROPS: u64 = mask(&[
    id::PAYLOAD_FORMAT_INDICATOR,
    id::MESSAGE_EXPIRY_INTERVAL,
    id::CONTENT_TYPE,
    id::RESPONSE_TOPIC,
    id::CORRELATION_DATA,
    id::WILL_DELAY_INTERVAL,
    id::USER_PROPERTY,
]);
const CONNACK_PROPS: u64 = mask(&[
    id::SESSION_EXPIRY_INTERVAL,
    id::ASSIGNED_CLIENT_IDENTIFIER,
    id::SERVER_KEEP_ALIVE,
    id::AUTHENTICATION_METHOD,
    id::AUTHENTICATION_DATA,
    id::RESPONSE_INFORMATION,
    id::SERVER_REFERENCE,
    id::REASON_STRING,
    id::RECEIVE_MAXIMUM,
    id::TOPIC_ALIAS_MAXIMUM,
    id::MAXIMUM_QOS,
    id::RETAIN_AVAILABLE,
    id::USER_PROPERTY,
    id::MAXIMUM_PACKET_SIZE,
    id::WILDCARD_SUBSCRIPTION_AVAILABLE,
    id::SUBSCRIPTION_IDENTIFIER_AVAILABLE,
    id::SHARED_SUBSCRIPTION_AVAILABLE,
]);
const PUBLISH_PROPS: u64 = mask(&[
    id::PAYLOAD_FORMAT_INDICATOR,
    id::MESSAGE_EXPIRY_INTERVAL,
    id::CONTENT_TYPE,
    id::RESPONSE_TOPIC,
    id::CORRELATION_DATA,
    id::SUBSCRIPTION_IDENTIFIER,
    id::TOPIC_ALIAS,
    id::USER_PROPERTY,
]);
const ACK_PROPS: u64 = mask(&[id::REASON_STRING, id::USER_PROPERTY]);
const SUBSCRIBE_PROPS: u64 = mask(&[id::SUBSCRIPTION_IDENTIFIER, id::USER_PROPERTY]);
const UNSUBSCRIBE_PROPS: u64 = mask(&[id::USER_PROPERTY]);
const DISCONNECT_PROPS: u64 = mask(&[
    id::SESSION_EXPIRY_INTERVAL,
    id::SERVER_REFERENCE,
    id::REASON_STRING,
    id::USER_PROPERTY,
]);
const AUTH_PROPS: u64 = mask(&[
    id::AUTHENTICATION_METHOD,
    id::AUTHENTICATION_DATA,
    id::REASON_STRING,
    id::USER_PROPERTY,
]);

/// User Property may repeat in every packet.
const USER_ONLY: u64 = mask(&[id::USER_PROPERTY]);
/// In PUBLISH, so may Subscription Identifier.
const PUBLISH_REPEATABLE: u64 = mask(&[id::USER_PROPERTY, id::SUBSCRIPTION_IDENTIFIER]);

/// Every property identifier the specification defines.
const KNOWN_PROPS: u64 = CONNECT_PROPS
    | WILL_PROPS
    | CONNACK_PROPS
    | PUBLISH_PROPS
    | SUBSCRIBE_PROPS
    | DISCONNECT_PROPS
    | AUTH_PROPS;

/// Reads a property section: its length, then each property, checking that
/// the identifier is known, allowed by `allowed` and not repeated (except
/// those in `repeatable`). `each` reads the value of one property.
fn read_properties<'a>(
    r: &mut Reader<'a>,
    packet: &'static str,
    allowed: u64,
    repeatable: u64,
    mut each: impl FnMut(u8, &mut Reader<'a>) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let len = r.varint("property length")? as usize;
    let (start, stop) = r.take_range(len, "property length")?;
    let mut section = Reader {
        pos: start,
        end: stop,
        packet,
        ..*r
    };
    let mut seen = 0u64;
    while section.remaining() > 0 {
        let id = section.u8("property identifier")?;
        let bit = 1u64.checked_shl(u32::from(id)).unwrap_or(0);
        if bit & KNOWN_PROPS == 0 {
            return Err(DecodeError::UnknownProperty { id, packet });
        }
        if bit & allowed == 0 {
            return Err(DecodeError::PropertyNotAllowed { id, packet });
        }
        if seen & bit & !repeatable != 0 {
            return Err(DecodeError::DuplicateProperty { id, packet });
        }
        seen |= bit;
        each(id, &mut section)?;
    }
    Ok(())
}

fn invalid_value(r: &Reader<'_>, id: u8, value: u32, rule: &'static str) -> DecodeError {
    DecodeError::InvalidPropertyValue {
        id,
        packet: r.packet,
        value,
        rule,
    }
}

/// A one-byte property that must be 0 or 1.
fn read_bool(r: &mut Reader<'_>, id: u8) -> Result<bool, DecodeError> {
    match r.u8(property_name(id))? {
        0 => Ok(false),
        1 => Ok(true),
        value => Err(invalid_value(r, id, u32::from(value), "must be 0 or 1")),
    }
}

/// A two-byte property that must not be 0 (Receive Maximum).
fn read_nonzero_u16(r: &mut Reader<'_>, id: u8) -> Result<u16, DecodeError> {
    match r.u16(property_name(id))? {
        0 => Err(invalid_value(r, id, 0, "must not be 0")),
        value => Ok(value),
    }
}

/// A four-byte property that must not be 0 (Maximum Packet Size).
fn read_nonzero_u32(r: &mut Reader<'_>, id: u8) -> Result<u32, DecodeError> {
    match r.u32(property_name(id))? {
        0 => Err(invalid_value(r, id, 0, "must not be 0")),
        value => Ok(value),
    }
}

fn read_subscription_identifier(r: &mut Reader<'_>) -> Result<u32, DecodeError> {
    match r.varint("subscription identifier")? {
        0 => Err(invalid_value(
            r,
            id::SUBSCRIPTION_IDENTIFIER,
            0,
            "must not be 0",
        )),
        value => Ok(value),
    }
}

fn read_user(r: &mut Reader<'_>) -> Result<(String, String), DecodeError> {
    let name = r.string("user property name")?;
    let value = r.string("user property value")?;
    Ok((name, value))
}

/// Returned by the per-packet property readers for an identifier their
/// `allowed` mask let through but they do not handle (cannot happen).
fn not_allowed(r: &Reader<'_>, id: u8) -> Result<(), DecodeError> {
    Err(DecodeError::PropertyNotAllowed {
        id,
        packet: r.packet,
    })
}

/// Every property any packet can carry. A property section is read into it
/// by one reader ([`read_any_properties`]), then moved into the packet's own
/// struct: one copy of the value-reading code instead of one per packet kind
/// (inlined into `decode_body`, they were 16 KB of the browser package).
#[derive(Default)]
struct AnyProperties {
    payload_format_indicator: Option<bool>,
    message_expiry_interval: Option<u32>,
    content_type: Option<String>,
    response_topic: Option<String>,
    correlation_data: Option<Bytes>,
    subscription_identifiers: Vec<u32>,
    session_expiry_interval: Option<u32>,
    assigned_client_identifier: Option<String>,
    server_keep_alive: Option<u16>,
    authentication_method: Option<String>,
    authentication_data: Option<Bytes>,
    request_problem_information: Option<bool>,
    will_delay_interval: Option<u32>,
    request_response_information: Option<bool>,
    response_information: Option<String>,
    server_reference: Option<String>,
    reason_string: Option<String>,
    receive_maximum: Option<u16>,
    topic_alias_maximum: Option<u16>,
    topic_alias: Option<u16>,
    maximum_qos: Option<QoS>,
    retain_available: Option<bool>,
    user_properties: Vec<(String, String)>,
    maximum_packet_size: Option<u32>,
    wildcard_subscription_available: Option<bool>,
    subscription_identifiers_available: Option<bool>,
    shared_subscription_available: Option<bool>,
}

/// Reads a property section (see [`read_properties`]) into an
/// [`AnyProperties`]; only the identifiers in `allowed` can be set.
fn read_any_properties(
    r: &mut Reader<'_>,
    packet: &'static str,
    allowed: u64,
    repeatable: u64,
) -> Result<AnyProperties, DecodeError> {
    let mut p = AnyProperties::default();
    // Grouped by value type: one read, one error path and one assignment
    // (which drops the old value) per type rather than per property.
    read_properties(r, packet, allowed, repeatable, |id, r| {
        let name = property_name(id);
        match id {
            id::CONTENT_TYPE
            | id::RESPONSE_TOPIC
            | id::ASSIGNED_CLIENT_IDENTIFIER
            | id::AUTHENTICATION_METHOD
            | id::RESPONSE_INFORMATION
            | id::SERVER_REFERENCE
            | id::REASON_STRING => {
                let value = r.string(name)?;
                *match id {
                    id::CONTENT_TYPE => &mut p.content_type,
                    id::RESPONSE_TOPIC => &mut p.response_topic,
                    id::ASSIGNED_CLIENT_IDENTIFIER => &mut p.assigned_client_identifier,
                    id::AUTHENTICATION_METHOD => &mut p.authentication_method,
                    id::RESPONSE_INFORMATION => &mut p.response_information,
                    id::SERVER_REFERENCE => &mut p.server_reference,
                    _ => &mut p.reason_string,
                } = Some(value);
            }
            id::CORRELATION_DATA | id::AUTHENTICATION_DATA => {
                let value = r.binary(name)?;
                *if id == id::CORRELATION_DATA {
                    &mut p.correlation_data
                } else {
                    &mut p.authentication_data
                } = Some(value);
            }
            id::PAYLOAD_FORMAT_INDICATOR
            | id::REQUEST_PROBLEM_INFORMATION
            | id::REQUEST_RESPONSE_INFORMATION
            | id::RETAIN_AVAILABLE
            | id::WILDCARD_SUBSCRIPTION_AVAILABLE
            | id::SUBSCRIPTION_IDENTIFIER_AVAILABLE
            | id::SHARED_SUBSCRIPTION_AVAILABLE => {
                let value = read_bool(r, id)?;
                *match id {
                    id::PAYLOAD_FORMAT_INDICATOR => &mut p.payload_format_indicator,
                    id::REQUEST_PROBLEM_INFORMATION => &mut p.request_problem_information,
                    id::REQUEST_RESPONSE_INFORMATION => &mut p.request_response_information,
                    id::RETAIN_AVAILABLE => &mut p.retain_available,
                    id::WILDCARD_SUBSCRIPTION_AVAILABLE => &mut p.wildcard_subscription_available,
                    id::SUBSCRIPTION_IDENTIFIER_AVAILABLE => {
                        &mut p.subscription_identifiers_available
                    }
                    _ => &mut p.shared_subscription_available,
                } = Some(value);
            }
            id::MESSAGE_EXPIRY_INTERVAL
            | id::SESSION_EXPIRY_INTERVAL
            | id::WILL_DELAY_INTERVAL
            | id::MAXIMUM_PACKET_SIZE => {
                let value = if id == id::MAXIMUM_PACKET_SIZE {
                    read_nonzero_u32(r, id)?
                } else {
                    r.u32(name)?
                };
                *match id {
                    id::MESSAGE_EXPIRY_INTERVAL => &mut p.message_expiry_interval,
                    id::SESSION_EXPIRY_INTERVAL => &mut p.session_expiry_interval,
                    id::WILL_DELAY_INTERVAL => &mut p.will_delay_interval,
                    _ => &mut p.maximum_packet_size,
                } = Some(value);
            }
            id::SERVER_KEEP_ALIVE
            | id::RECEIVE_MAXIMUM
            | id::TOPIC_ALIAS_MAXIMUM
            | id::TOPIC_ALIAS => {
                let value = if id == id::RECEIVE_MAXIMUM {
                    read_nonzero_u16(r, id)?
                } else {
                    r.u16(name)?
                };
                *match id {
                    id::SERVER_KEEP_ALIVE => &mut p.server_keep_alive,
                    id::RECEIVE_MAXIMUM => &mut p.receive_maximum,
                    id::TOPIC_ALIAS_MAXIMUM => &mut p.topic_alias_maximum,
                    _ => &mut p.topic_alias,
                } = Some(value);
            }
            id::SUBSCRIPTION_IDENTIFIER => p
                .subscription_identifiers
                .push(read_subscription_identifier(r)?),
            id::MAXIMUM_QOS => {
                p.maximum_qos = Some(match r.u8(name)? {
                    0 => QoS::AtMostOnce,
                    1 => QoS::AtLeastOnce,
                    value => return Err(invalid_value(r, id, u32::from(value), "must be 0 or 1")),
                })
            }
            id::USER_PROPERTY => p.user_properties.push(read_user(r)?),
            // Every identifier in `KNOWN_PROPS` is handled above.
            _ => return not_allowed(r, id),
        }
        Ok(())
    })?;
    Ok(p)
}

fn read_connect_properties(r: &mut Reader<'_>) -> Result<ConnectProperties, DecodeError> {
    let p = read_any_properties(r, "CONNECT", CONNECT_PROPS, USER_ONLY)?;
    Ok(ConnectProperties {
        session_expiry_interval: p.session_expiry_interval,
        receive_maximum: p.receive_maximum,
        maximum_packet_size: p.maximum_packet_size,
        topic_alias_maximum: p.topic_alias_maximum,
        request_response_information: p.request_response_information,
        request_problem_information: p.request_problem_information,
        user_properties: p.user_properties,
        authentication_method: p.authentication_method,
        authentication_data: p.authentication_data,
    })
}

fn read_will_properties(r: &mut Reader<'_>) -> Result<WillProperties, DecodeError> {
    let p = read_any_properties(r, "CONNECT will", WILL_PROPS, USER_ONLY)?;
    Ok(WillProperties {
        will_delay_interval: p.will_delay_interval,
        payload_format_indicator: p.payload_format_indicator,
        message_expiry_interval: p.message_expiry_interval,
        content_type: p.content_type,
        response_topic: p.response_topic,
        correlation_data: p.correlation_data,
        user_properties: p.user_properties,
    })
}

fn read_connack_properties(r: &mut Reader<'_>) -> Result<ConnAckProperties, DecodeError> {
    let p = read_any_properties(r, "CONNACK", CONNACK_PROPS, USER_ONLY)?;
    Ok(ConnAckProperties {
        session_expiry_interval: p.session_expiry_interval,
        receive_maximum: p.receive_maximum,
        maximum_qos: p.maximum_qos,
        retain_available: p.retain_available,
        maximum_packet_size: p.maximum_packet_size,
        assigned_client_identifier: p.assigned_client_identifier,
        topic_alias_maximum: p.topic_alias_maximum,
        reason_string: p.reason_string,
        user_properties: p.user_properties,
        wildcard_subscription_available: p.wildcard_subscription_available,
        subscription_identifiers_available: p.subscription_identifiers_available,
        shared_subscription_available: p.shared_subscription_available,
        server_keep_alive: p.server_keep_alive,
        response_information: p.response_information,
        server_reference: p.server_reference,
        authentication_method: p.authentication_method,
        authentication_data: p.authentication_data,
    })
}

fn read_publish_properties(r: &mut Reader<'_>) -> Result<PublishProperties, DecodeError> {
    let p = read_any_properties(r, "PUBLISH", PUBLISH_PROPS, PUBLISH_REPEATABLE)?;
    Ok(PublishProperties {
        payload_format_indicator: p.payload_format_indicator,
        message_expiry_interval: p.message_expiry_interval,
        topic_alias: p.topic_alias,
        response_topic: p.response_topic,
        correlation_data: p.correlation_data,
        user_properties: p.user_properties,
        subscription_identifiers: p.subscription_identifiers,
        content_type: p.content_type,
    })
}

fn read_ack_properties(r: &mut Reader<'_>) -> Result<AckProperties, DecodeError> {
    let packet = r.packet;
    let p = read_any_properties(r, packet, ACK_PROPS, USER_ONLY)?;
    Ok(AckProperties {
        reason_string: p.reason_string,
        user_properties: p.user_properties,
    })
}

fn read_subscribe_properties(r: &mut Reader<'_>) -> Result<SubscribeProperties, DecodeError> {
    let p = read_any_properties(r, "SUBSCRIBE", SUBSCRIBE_PROPS, USER_ONLY)?;
    Ok(SubscribeProperties {
        // Not repeatable here: at most one.
        subscription_identifier: p.subscription_identifiers.first().copied(),
        user_properties: p.user_properties,
    })
}

fn read_unsubscribe_properties(r: &mut Reader<'_>) -> Result<UnsubscribeProperties, DecodeError> {
    let p = read_any_properties(r, "UNSUBSCRIBE", UNSUBSCRIBE_PROPS, USER_ONLY)?;
    Ok(UnsubscribeProperties {
        user_properties: p.user_properties,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wildcard_frame(topic: &[u8]) -> (Vec<u8>, Header) {
        let mut frame = vec![0x32, (topic.len() + 4) as u8];
        frame.extend_from_slice(&(topic.len() as u16).to_be_bytes());
        frame.extend_from_slice(topic);
        frame.extend_from_slice(&7u16.to_be_bytes());
        let header = Header {
            first: 0x32,
            len: 2,
            total: frame.len(),
        };
        (frame, header)
    }

    #[test]
    fn a_dropped_wildcard_publish_keeps_its_utf8_topic_and_marks_other_bytes() {
        let (frame, header) = wildcard_frame("a/é/#".as_bytes());
        let dropped = WildcardPublish::read(&frame, header).unwrap();
        assert_eq!(
            (dropped.qos, dropped.packet_id, dropped.topic.as_str()),
            (QoS::AtLeastOnce, 7, "a/é/#")
        );
        let (frame, header) = wildcard_frame(b"a/\xff\xfe/#");
        assert_eq!(
            WildcardPublish::read(&frame, header).unwrap().topic,
            "a/??/#"
        );
    }

    /// An idle connection's decoder keeps no buffer: once every byte fed
    /// is decoded, the room left is let go (a packet handed out keeps its
    /// own bytes), while a part of a packet stays buffered with room for
    /// the rest.
    #[test]
    fn a_decoder_that_decoded_every_byte_fed_keeps_no_buffer() {
        let mut decoder = Decoder::new(ProtocolVersion::V311, u32::MAX);
        decoder.feed(&[0x20, 0x02, 0x00, 0x00, 0x32]); // CONNACK, then a PUBLISH's first byte
        let connack = decoder.next_packet().unwrap();
        assert!(matches!(connack, Some(Packet::ConnAck(_))), "{connack:?}");
        assert_eq!(decoder.next_packet().unwrap(), None);
        assert_eq!(decoder.buffered_len(), 1);
        let (frame, _) = wildcard_frame(b"a/b");
        decoder.feed(&[frame[1]]);
        decoder.feed(&frame[2..]);
        assert!(matches!(
            decoder.next_packet().unwrap(),
            Some(Packet::Publish(_))
        ));
        assert!(decoder.buf.capacity() > 0);
        assert_eq!(decoder.next_packet().unwrap(), None);
        assert_eq!(decoder.buf.capacity(), 0);
        // A PINGRESP alone: the buffer made for it is let go as well.
        decoder.feed(&[0xD0, 0x00]);
        assert_eq!(decoder.next_packet().unwrap(), Some(Packet::PingResp));
        assert_eq!(decoder.next_packet().unwrap(), None);
        assert_eq!(decoder.buf.capacity(), 0);
    }

    #[test]
    fn a_wildcard_publish_without_a_packet_id_is_malformed_not_dropped() {
        let (mut frame, header) = wildcard_frame(b"a/#");
        let id_at = frame.len() - 2;
        frame[id_at..].copy_from_slice(&[0, 0]);
        assert_eq!(
            WildcardPublish::read(&frame, header),
            Err(DecodeError::ZeroPacketId { packet: "PUBLISH" })
        );
        frame.truncate(id_at + 1);
        let header = Header {
            total: frame.len(),
            ..header
        };
        assert_eq!(
            WildcardPublish::read(&frame, header),
            Err(DecodeError::Truncated {
                packet: "PUBLISH",
                field: "packet identifier"
            })
        );
    }
}
