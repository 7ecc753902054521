//! Typed MQTT 5.0 properties, one struct per packet kind.
//!
//! Each field is one property of the specification (section 2.2.2.2); `None`
//! or an empty list means "absent". Properties are ignored for 3.1.1.

use bytes::Bytes;

/// A 5.0 user property: a name/value pair that may repeat.
pub type UserProperty = (String, String);

/// Property identifiers (MQTT 5.0, table 2-4).
pub mod id {
    /// Property identifier 0x01: Payload format indicator.
    pub const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
    /// Property identifier 0x02: Message expiry interval.
    pub const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
    /// Property identifier 0x03: Content type.
    pub const CONTENT_TYPE: u8 = 0x03;
    /// Property identifier 0x08: Response topic.
    pub const RESPONSE_TOPIC: u8 = 0x08;
    /// Property identifier 0x09: Correlation data.
    pub const CORRELATION_DATA: u8 = 0x09;
    /// Property identifier 0x0B: Subscription identifier.
    pub const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
    /// Property identifier 0x11: Session expiry interval.
    pub const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
    /// Property identifier 0x12: Assigned client identifier.
    pub const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
    /// Property identifier 0x13: Server keep alive.
    pub const SERVER_KEEP_ALIVE: u8 = 0x13;
    /// Property identifier 0x15: Authentication method.
    pub const AUTHENTICATION_METHOD: u8 = 0x15;
    /// Property identifier 0x16: Authentication data.
    pub const AUTHENTICATION_DATA: u8 = 0x16;
    /// Property identifier 0x17: Request problem information.
    pub const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
    /// Property identifier 0x18: Will delay interval.
    pub const WILL_DELAY_INTERVAL: u8 = 0x18;
    /// Property identifier 0x19: Request response information.
    pub const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
    /// Property identifier 0x1A: Response information.
    pub const RESPONSE_INFORMATION: u8 = 0x1A;
    /// Property identifier 0x1C: Server reference.
    pub const SERVER_REFERENCE: u8 = 0x1C;
    /// Property identifier 0x1F: Reason string.
    pub const REASON_STRING: u8 = 0x1F;
    /// Property identifier 0x21: Receive maximum.
    pub const RECEIVE_MAXIMUM: u8 = 0x21;
    /// Property identifier 0x22: Topic alias maximum.
    pub const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    /// Property identifier 0x23: Topic alias.
    pub const TOPIC_ALIAS: u8 = 0x23;
    /// Property identifier 0x24: Maximum QoS.
    pub const MAXIMUM_QOS: u8 = 0x24;
    /// Property identifier 0x25: Retain available.
    pub const RETAIN_AVAILABLE: u8 = 0x25;
    /// Property identifier 0x26: User property.
    pub const USER_PROPERTY: u8 = 0x26;
    /// Property identifier 0x27: Maximum packet size.
    pub const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    /// Property identifier 0x28: Wildcard subscription available.
    pub const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
    /// Property identifier 0x29: Subscription identifier available.
    pub const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
    /// Property identifier 0x2A: Shared subscription available.
    pub const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;
}

/// CONNECT properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectProperties {
    /// Seconds the session lives after the connection closes (0 = ends with it).
    pub session_expiry_interval: Option<u32>,
    /// How many QoS 1/2 publishes the client accepts in flight.
    pub receive_maximum: Option<u16>,
    /// Largest packet the client accepts, in bytes.
    pub maximum_packet_size: Option<u32>,
    /// Highest topic alias the client accepts from the server.
    pub topic_alias_maximum: Option<u16>,
    /// Asks the server to send Response Information in CONNACK.
    pub request_response_information: Option<bool>,
    /// `Some(false)`: the server sends no reason string or user properties on failures.
    pub request_problem_information: Option<bool>,
    /// Name/value pairs for the application; MQTT gives them no meaning.
    pub user_properties: Vec<UserProperty>,
    /// Name of the enhanced authentication method (5.0, e.g. `SCRAM-SHA-1`).
    pub authentication_method: Option<String>,
    /// Data of the enhanced authentication exchange; its meaning is the method's.
    pub authentication_data: Option<Bytes>,
}

/// Will properties (inside CONNECT).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WillProperties {
    /// Seconds the server waits before publishing the will.
    pub will_delay_interval: Option<u32>,
    /// `Some(true)`: the payload is UTF-8.
    pub payload_format_indicator: Option<bool>,
    /// Seconds after which the broker drops the message if undelivered.
    pub message_expiry_interval: Option<u32>,
    /// MIME type of the payload, as the publisher set it.
    pub content_type: Option<String>,
    /// Topic a request/response receiver publishes its answer to.
    pub response_topic: Option<String>,
    /// Bytes the requester uses to match the answer to its request.
    pub correlation_data: Option<Bytes>,
    /// Name/value pairs for the application; MQTT gives them no meaning.
    pub user_properties: Vec<UserProperty>,
}

/// CONNACK properties: what the server allows from now on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnAckProperties {
    /// Seconds the server keeps the session after the connection closes.
    pub session_expiry_interval: Option<u32>,
    /// How many QoS 1/2 publishes the server accepts in flight from the client.
    pub receive_maximum: Option<u16>,
    /// Highest QoS the server accepts in a PUBLISH (`None`: 2).
    pub maximum_qos: Option<super::QoS>,
    /// `Some(false)`: the server does not support retained messages.
    pub retain_available: Option<bool>,
    /// Largest packet the server accepts, in bytes.
    pub maximum_packet_size: Option<u32>,
    /// The client id the server chose, when the client sent an empty one.
    pub assigned_client_identifier: Option<String>,
    /// Highest topic alias the server accepts from the client (0: none).
    pub topic_alias_maximum: Option<u16>,
    /// Human-readable reason, for diagnostics only.
    pub reason_string: Option<String>,
    /// Name/value pairs for the application; MQTT gives them no meaning.
    pub user_properties: Vec<UserProperty>,
    /// `Some(false)`: the server refuses filters with `+` or `#`.
    pub wildcard_subscription_available: Option<bool>,
    /// `Some(false)`: the server does not support subscription identifiers.
    pub subscription_identifiers_available: Option<bool>,
    /// `Some(false)`: the server does not support `$share/` subscriptions.
    pub shared_subscription_available: Option<bool>,
    /// Keep-alive in seconds that the server imposes instead of the client's.
    pub server_keep_alive: Option<u16>,
    /// Basis for response topics, if the client requested it.
    pub response_information: Option<String>,
    /// Another server to use (with `UseAnotherServer` or `ServerMoved`).
    pub server_reference: Option<String>,
    /// Name of the enhanced authentication method (5.0, e.g. `SCRAM-SHA-1`).
    pub authentication_method: Option<String>,
    /// Data of the enhanced authentication exchange; its meaning is the method's.
    pub authentication_data: Option<Bytes>,
}

/// PUBLISH properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PublishProperties {
    /// `Some(true)`: the payload is UTF-8.
    pub payload_format_indicator: Option<bool>,
    /// Seconds after which the broker drops the message if undelivered.
    pub message_expiry_interval: Option<u32>,
    /// Number that stands for the topic on this connection.
    pub topic_alias: Option<u16>,
    /// Topic a request/response receiver publishes its answer to.
    pub response_topic: Option<String>,
    /// Bytes the requester uses to match the answer to its request.
    pub correlation_data: Option<Bytes>,
    /// Name/value pairs for the application; MQTT gives them no meaning.
    pub user_properties: Vec<UserProperty>,
    /// Set by the server on delivery: the identifiers of matching subscriptions.
    pub subscription_identifiers: Vec<u32>,
    /// MIME type of the payload, as the publisher set it.
    pub content_type: Option<String>,
}

impl PublishProperties {
    /// True when no property is set: the PUBLISH carries an empty property
    /// section (a single 0 byte in 5.0). The same as comparing with
    /// `PublishProperties::default()`, without building it.
    ///
    /// ```
    /// use midge_core::packet::PublishProperties;
    ///
    /// let mut props = PublishProperties::default();
    /// assert!(props.is_empty());
    /// props.content_type = Some("text/plain".into());
    /// assert!(!props.is_empty());
    /// ```
    #[inline]
    pub fn is_empty(&self) -> bool {
        // Every field named: a new one does not compile until it is checked.
        let PublishProperties {
            payload_format_indicator,
            message_expiry_interval,
            topic_alias,
            response_topic,
            correlation_data,
            user_properties,
            subscription_identifiers,
            content_type,
        } = self;
        // `&`, not `&&`: eight loads and one branch on the encoder's hot path.
        payload_format_indicator.is_none()
            & message_expiry_interval.is_none()
            & topic_alias.is_none()
            & response_topic.is_none()
            & correlation_data.is_none()
            & user_properties.is_empty()
            & subscription_identifiers.is_empty()
            & content_type.is_none()
    }
}

/// PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AckProperties {
    /// Human-readable reason, for diagnostics only.
    pub reason_string: Option<String>,
    /// Name/value pairs for the application; MQTT gives them no meaning.
    pub user_properties: Vec<UserProperty>,
}

impl AckProperties {
    /// True when no property is set (allows the short encodings).
    pub fn is_empty(&self) -> bool {
        self.reason_string.is_none() && self.user_properties.is_empty()
    }
}

/// SUBSCRIBE properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscribeProperties {
    /// 1 ..= 268,435,455; echoed in matching PUBLISH packets.
    pub subscription_identifier: Option<u32>,
    /// Name/value pairs for the application; MQTT gives them no meaning.
    pub user_properties: Vec<UserProperty>,
}

/// UNSUBSCRIBE properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnsubscribeProperties {
    /// Name/value pairs for the application; MQTT gives them no meaning.
    pub user_properties: Vec<UserProperty>,
}

/// DISCONNECT properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DisconnectProperties {
    /// Client only: a new session expiry (not allowed to go from 0 to non-zero).
    pub session_expiry_interval: Option<u32>,
    /// Human-readable reason, for diagnostics only.
    pub reason_string: Option<String>,
    /// Name/value pairs for the application; MQTT gives them no meaning.
    pub user_properties: Vec<UserProperty>,
    /// Server only: another server to use.
    pub server_reference: Option<String>,
}

impl DisconnectProperties {
    /// True when no property is set.
    pub fn is_empty(&self) -> bool {
        self.session_expiry_interval.is_none()
            && self.reason_string.is_none()
            && self.user_properties.is_empty()
            && self.server_reference.is_none()
    }
}

/// AUTH properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthProperties {
    /// Name of the enhanced authentication method (5.0, e.g. `SCRAM-SHA-1`).
    pub authentication_method: Option<String>,
    /// Data of the enhanced authentication exchange; its meaning is the method's.
    pub authentication_data: Option<Bytes>,
    /// Human-readable reason, for diagnostics only.
    pub reason_string: Option<String>,
    /// Name/value pairs for the application; MQTT gives them no meaning.
    pub user_properties: Vec<UserProperty>,
}

impl AuthProperties {
    /// True when no property is set.
    pub fn is_empty(&self) -> bool {
        self.authentication_method.is_none()
            && self.authentication_data.is_none()
            && self.reason_string.is_none()
            && self.user_properties.is_empty()
    }
}
