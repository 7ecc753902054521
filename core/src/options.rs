//! Client options: everything CONNECT carries plus the client-side policies.

use bytes::Bytes;

use crate::backoff::BackoffPolicy;
use crate::error::ClientError;
use crate::packet::{ConnectProperties, LastWill, ProtocolVersion};
use crate::server::ServerAddress;
use crate::topic::validate_topic_name;

/// The largest packet MQTT can express: a 1-byte fixed header, a 4-byte
/// remaining length and 268,435,455 bytes after it.
pub const MAX_PACKET_SIZE: u32 = 1 + 4 + 268_435_455;
/// Default largest packet accepted from the server: the protocol maximum, as
/// paho and MQTT.js accept. The decoder buffers a packet as its bytes arrive
/// and never allocates its announced size ahead. A lower limit is sent in
/// the 5.0 CONNECT, and a 5.0 server then drops (silently, as the
/// specification says) every message above it for this client, so it is
/// sent only when set.
pub const DEFAULT_MAX_INCOMING_PACKET_SIZE: u32 = MAX_PACKET_SIZE;
/// Default number of QoS 1/2 publishes the server may have in flight to us.
pub const DEFAULT_RECEIVE_MAXIMUM: u16 = 100;
/// Default bound of the offline queue.
pub const DEFAULT_MAX_QUEUED_MESSAGES: usize = 10_000;
/// Default cap on our own in-flight window (the server's Receive Maximum may lower it).
pub const DEFAULT_MAX_INFLIGHT: u16 = 100;

/// Options of a [`Client`](crate::Client). Construct with [`ClientOptions::new`]
/// and adjust the public fields; [`ClientOptions::validate`] (called by
/// `Client::new`) names the first field that breaks a rule.
///
/// ```
/// use midge_core::ClientOptions;
///
/// let mut options = ClientOptions::new("mqtt://localhost:1883").unwrap();
/// options.client_id = "greenhouse-sensor".into();
/// options.keep_alive_secs = 30;
/// assert!(options.validate().is_ok());
///
/// options.keep_alive_secs = 0;
/// options.servers.clear();
/// let err = options.validate().unwrap_err();
/// assert!(err.to_string().contains("servers"));
/// ```
#[derive(Clone, PartialEq)]
pub struct ClientOptions {
    /// Brokers to try in turn; the first one first.
    pub servers: Vec<ServerAddress>,
    /// MQTT 5.0 (default) or 3.1.1.
    pub protocol: ProtocolVersion,
    /// May be empty: a 5.0 server assigns one (also with `clean_start`
    /// false, for a persistent session); 3.1.1 allows it only with
    /// `clean_start`.
    pub client_id: String,
    /// Clean Start (5.0) / Clean Session (3.1.1) of the first connection.
    /// With 5.0, reconnects always resume (Clean Start 0) so that the session
    /// survives according to its expiry interval.
    pub clean_start: bool,
    /// Seconds between packets before a PINGREQ; 0 disables keep-alive.
    pub keep_alive_secs: u16,
    /// User name sent in CONNECT.
    pub username: Option<String>,
    /// Password sent in CONNECT (bytes: MQTT allows binary passwords).
    pub password: Option<Bytes>,
    /// The Last Will the broker publishes if the client drops without DISCONNECT.
    pub will: Option<LastWill>,
    /// 5.0 CONNECT properties. `receive_maximum`, `maximum_packet_size` and
    /// `topic_alias_maximum` are filled from the options below when left `None`.
    pub connect_properties: ConnectProperties,
    /// Our Receive Maximum: inbound QoS 1/2 publishes unacknowledged at once.
    pub receive_maximum: u16,
    /// What to do when the server sends more unacknowledged QoS 1/2
    /// publishes than `receive_maximum` allows (MQTT 5.0 section 3.3.4 says
    /// the client "uses" DISCONNECT 0x93, without a MUST). `false` (the
    /// default): accept them and count them
    /// ([`Client::receive_maximum_overruns`](crate::Client::receive_maximum_overruns));
    /// mosquitto 2.0.11 overruns it, and a disconnect there costs a
    /// reconnect and QoS 1 resends. `true`: disconnect with 0x93.
    pub strict_receive_maximum: bool,
    /// Largest packet accepted from the server; bigger ones end the connection
    /// with a typed `PacketTooLarge` error. Default: the protocol maximum,
    /// and then the 5.0 CONNECT carries no Maximum Packet Size; below it the
    /// CONNECT says so, and the server drops larger messages for us.
    pub max_incoming_packet_size: u32,
    /// Highest inbound topic alias we accept (5.0); 0 disables inbound aliases.
    pub topic_alias_maximum: u16,
    /// Use outbound topic aliases when the server allows them (5.0).
    pub outbound_topic_aliases: bool,
    /// Our cap on QoS 1/2 publishes in flight (the server's Receive Maximum may be lower).
    pub max_inflight: u16,
    /// Bound of the queue of publishes waiting for the connection or the window.
    pub max_queued_messages: usize,
    /// Let the application acknowledge inbound QoS 1/2 messages itself.
    pub manual_acks: bool,
    /// Milliseconds to wait for the transport to open and CONNACK to arrive.
    pub connect_timeout_ms: u64,
    /// Milliseconds to wait for PINGRESP before declaring the link dead.
    pub ping_timeout_ms: u64,
    /// Automatic reconnect policy; `None` disables reconnecting.
    pub reconnect: Option<BackoffPolicy>,
    /// Also retry when the very first connection attempt fails.
    pub reconnect_on_initial_failure: bool,
    /// Follow a 5.0 server's redirection (Use Another Server 0x9C, Server
    /// Moved 0x9D with a Server Reference): the next attempt goes, at once,
    /// to the server it names (see [`Event::Redirected`](crate::Event::Redirected)).
    /// Off by default: the redirection is reported and the configured
    /// servers are tried as usual. A redirect from TLS to plain text is
    /// never followed.
    pub follow_redirects: bool,
    /// Seed for the reconnect jitter (give each client its own, e.g. from the OS RNG).
    pub random_seed: u64,
}

impl std::fmt::Debug for ClientOptions {
    // Hand-written so that the password and auth data never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("servers", &self.servers)
            .field("protocol", &self.protocol)
            .field("client_id", &self.client_id)
            .field("clean_start", &self.clean_start)
            .field("keep_alive_secs", &self.keep_alive_secs)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("will", &self.will.as_ref().map(|w| &w.topic))
            .field("receive_maximum", &self.receive_maximum)
            .field("strict_receive_maximum", &self.strict_receive_maximum)
            .field("max_incoming_packet_size", &self.max_incoming_packet_size)
            .field("topic_alias_maximum", &self.topic_alias_maximum)
            .field("outbound_topic_aliases", &self.outbound_topic_aliases)
            .field("max_inflight", &self.max_inflight)
            .field("max_queued_messages", &self.max_queued_messages)
            .field("manual_acks", &self.manual_acks)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("ping_timeout_ms", &self.ping_timeout_ms)
            .field("reconnect", &self.reconnect)
            .field("follow_redirects", &self.follow_redirects)
            .finish_non_exhaustive()
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            servers: Vec::new(),
            protocol: ProtocolVersion::V5,
            client_id: String::new(),
            clean_start: true,
            keep_alive_secs: 60,
            username: None,
            password: None,
            will: None,
            connect_properties: ConnectProperties::default(),
            receive_maximum: DEFAULT_RECEIVE_MAXIMUM,
            strict_receive_maximum: false,
            max_incoming_packet_size: DEFAULT_MAX_INCOMING_PACKET_SIZE,
            topic_alias_maximum: 0,
            outbound_topic_aliases: false,
            max_inflight: DEFAULT_MAX_INFLIGHT,
            max_queued_messages: DEFAULT_MAX_QUEUED_MESSAGES,
            manual_acks: false,
            connect_timeout_ms: 10_000,
            ping_timeout_ms: 10_000,
            reconnect: Some(BackoffPolicy::default()),
            reconnect_on_initial_failure: false,
            follow_redirects: false,
            random_seed: 0x6d69_6467_6521,
        }
    }
}

impl ClientOptions {
    /// Options for one broker URL (`mqtt://`, `mqtts://`, `ws://`, `wss://`).
    pub fn new(url: &str) -> Result<ClientOptions, ClientError> {
        let server = url
            .parse::<ServerAddress>()
            .map_err(|e| ClientError::invalid("url", e.message()))?;
        Ok(ClientOptions {
            servers: vec![server],
            ..ClientOptions::default()
        })
    }

    /// Check every rule; the error names the first field that breaks one.
    pub fn validate(&self) -> Result<(), ClientError> {
        if self.servers.is_empty() {
            return Err(ClientError::invalid(
                "servers",
                "at least one server URL is required",
            ));
        }
        check_string("client_id", &self.client_id)?;
        // 3.1.1 only ([MQTT-3.1.3-7]); a 5.0 server assigns an id, also for
        // a session that outlives the connection.
        if self.client_id.is_empty() && !self.clean_start && self.protocol == ProtocolVersion::V311
        {
            return Err(ClientError::invalid(
                "client_id",
                "may be empty only with clean_start in MQTT 3.1.1 (the server cannot resume a session without an id)",
            ));
        }
        if let Some(username) = &self.username {
            check_string("username", username)?;
        }
        if let Some(password) = &self.password {
            if password.len() > u16::MAX as usize {
                return Err(ClientError::invalid(
                    "password",
                    "must be at most 65,535 bytes",
                ));
            }
            if self.protocol == ProtocolVersion::V311 && self.username.is_none() {
                return Err(ClientError::invalid(
                    "password",
                    "MQTT 3.1.1 does not allow a password without a username",
                ));
            }
        }
        if let Some(will) = &self.will {
            validate_topic_name(&will.topic)
                .map_err(|e| ClientError::invalid("will.topic", e.message()))?;
            if will.payload.len() > u16::MAX as usize {
                return Err(ClientError::invalid(
                    "will.payload",
                    "must be at most 65,535 bytes",
                ));
            }
            let p = &will.properties;
            check_binary(
                "will.properties.correlation_data",
                p.correlation_data.as_deref(),
            )?;
            if let Some(topic) = &p.response_topic {
                check_string("will.properties.response_topic", topic)?;
            }
            if let Some(content_type) = &p.content_type {
                check_string("will.properties.content_type", content_type)?;
            }
            check_pairs("will.properties.user_properties", &p.user_properties)?;
        }
        // The CONNECT's other variable-length fields: each has a 16-bit
        // length on the wire.
        let props = &self.connect_properties;
        if let Some(method) = &props.authentication_method {
            check_string("connect_properties.authentication_method", method)?;
        }
        check_binary(
            "connect_properties.authentication_data",
            props.authentication_data.as_deref(),
        )?;
        check_pairs("connect_properties.user_properties", &props.user_properties)?;
        if self.receive_maximum == 0 {
            return Err(ClientError::invalid(
                "receive_maximum",
                "must be at least 1",
            ));
        }
        if self.max_inflight == 0 {
            return Err(ClientError::invalid("max_inflight", "must be at least 1"));
        }
        if self.max_incoming_packet_size < 16 {
            return Err(ClientError::invalid(
                "max_incoming_packet_size",
                "must be at least 16 bytes",
            ));
        }
        if self.connect_timeout_ms == 0 {
            return Err(ClientError::invalid(
                "connect_timeout_ms",
                "must be above 0",
            ));
        }
        if self.ping_timeout_ms == 0 {
            return Err(ClientError::invalid("ping_timeout_ms", "must be above 0"));
        }
        if let Some(policy) = &self.reconnect {
            policy
                .validate()
                .map_err(|e| ClientError::invalid("reconnect", e.message()))?;
        }
        // (`props` as above.)
        if props.receive_maximum == Some(0) {
            return Err(ClientError::invalid(
                "connect_properties.receive_maximum",
                "must be at least 1",
            ));
        }
        if props.maximum_packet_size == Some(0) {
            return Err(ClientError::invalid(
                "connect_properties.maximum_packet_size",
                "must be at least 1",
            ));
        }
        if props.authentication_data.is_some() && props.authentication_method.is_none() {
            return Err(ClientError::invalid(
                "connect_properties.authentication_data",
                "needs an authentication_method",
            ));
        }
        if self.protocol == ProtocolVersion::V311 && props.authentication_method.is_some() {
            return Err(ClientError::invalid(
                "connect_properties.authentication_method",
                "enhanced authentication needs MQTT 5.0",
            ));
        }
        Ok(())
    }

    /// Our Receive Maximum as sent in CONNECT.
    pub(crate) fn effective_receive_maximum(&self) -> u16 {
        self.connect_properties
            .receive_maximum
            .unwrap_or(self.receive_maximum)
    }

    /// Largest packet we accept, as sent in CONNECT.
    pub(crate) fn effective_max_incoming(&self) -> u32 {
        self.connect_properties
            .maximum_packet_size
            .unwrap_or(self.max_incoming_packet_size)
    }

    /// Highest inbound topic alias we accept, as sent in CONNECT.
    pub(crate) fn effective_topic_alias_maximum(&self) -> u16 {
        self.connect_properties
            .topic_alias_maximum
            .unwrap_or(self.topic_alias_maximum)
    }
}

/// A binary field of a packet: at most 65,535 bytes.
fn check_binary(argument: &'static str, value: Option<&[u8]>) -> Result<(), ClientError> {
    match value {
        Some(v) if v.len() > u16::MAX as usize => Err(ClientError::invalid(
            argument,
            "must be at most 65,535 bytes",
        )),
        _ => Ok(()),
    }
}

/// User properties: each name and value a UTF-8 string field.
fn check_pairs(argument: &'static str, pairs: &[(String, String)]) -> Result<(), ClientError> {
    for (name, value) in pairs {
        check_string(argument, name)?;
        check_string(argument, value)?;
    }
    Ok(())
}

/// MQTT UTF-8 string rules for a user-given field.
pub(crate) fn check_string(argument: &'static str, value: &str) -> Result<(), ClientError> {
    if value.len() > u16::MAX as usize {
        return Err(ClientError::invalid(
            argument,
            "must be at most 65,535 bytes of UTF-8",
        ));
    }
    if crate::topic::has_byte(value.as_bytes(), 0) {
        return Err(ClientError::invalid(argument, "must not contain U+0000"));
    }
    Ok(())
}

/// Credentials fetched just before a connection attempt (a signed password
/// or token that expires), for [`Client::set_credentials`](crate::Client::set_credentials).
/// A field left `None` keeps its configured value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// A new user name, or `None` to keep the configured one.
    pub username: Option<String>,
    /// A new password, or `None` to keep the configured one.
    pub password: Option<bytes::Bytes>,
    /// 5.0 enhanced authentication data (the method stays the configured one).
    pub authentication_data: Option<bytes::Bytes>,
}
