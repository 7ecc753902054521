//! Records and enums of the foreign API, and their conversions to and from
//! the types of `midge-core` / `midge-native`. Pure mapping: no protocol here.

use midge_core::backoff::BackoffPolicy;
use midge_core::packet::{self, LastWill, Publish, PublishProperties, WillProperties};
use midge_native::{ConnectionStatus, NativeOptions, StoreConfig, TlsOptions};

use crate::error::MqttError;

pub use midge_core::packet::{ProtocolVersion, QoS, ReasonCode, RetainHandling};

// The core's enums, exposed as they are (mirrored for UniFFI's orphan rule).

/// Quality of service of a publish or subscription.
#[uniffi::remote(Enum)]
pub enum QoS {
    /// Fire and forget.
    AtMostOnce,
    /// Acknowledged with PUBACK; may arrive more than once.
    AtLeastOnce,
    /// Four-step handshake; delivered exactly once.
    ExactlyOnce,
}

/// MQTT 5.0: what the broker does with retained messages when a
/// subscription is made.
#[uniffi::remote(Enum)]
pub enum RetainHandling {
    /// Send them at every subscribe (the default).
    SendAtSubscribe,
    /// Send them only if the subscription did not exist yet.
    SendIfNew,
    /// Do not send them.
    DoNotSend,
}

/// The MQTT protocol version spoken to the broker.
#[uniffi::remote(Enum)]
pub enum ProtocolVersion {
    /// MQTT 3.1.1.
    V311,
    /// MQTT 5.0.
    V5,
}

/// An MQTT 5.0 reason code (3.1.1 return codes are mapped onto these).
/// [`reason_code_value`] gives the wire value.
#[uniffi::remote(Enum)]
pub enum ReasonCode {
    Success,
    GrantedQoS1,
    GrantedQoS2,
    DisconnectWithWillMessage,
    NoMatchingSubscribers,
    NoSubscriptionExisted,
    ContinueAuthentication,
    ReAuthenticate,
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
    ServerShuttingDown,
    BadAuthenticationMethod,
    KeepAliveTimeout,
    SessionTakenOver,
    TopicFilterInvalid,
    TopicNameInvalid,
    PacketIdentifierInUse,
    PacketIdentifierNotFound,
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
}

/// The wire value of a reason code (e.g. 0x87 for `NotAuthorized`).
#[uniffi::export]
pub fn reason_code_value(code: ReasonCode) -> u8 {
    code.code()
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConnectionState {
    /// Not connected and not trying to (before `connect`, after
    /// `disconnect`, while paused, or after the reconnect policy gave up).
    Disconnected,
    /// Opening the transport or waiting for CONNACK.
    Connecting,
    Connected,
    /// Waiting for the backoff delay before the next attempt
    /// (`network_changed` cuts it short).
    WaitingToReconnect,
    /// Sending DISCONNECT and closing the transport.
    Closing,
}

impl From<ConnectionStatus> for ConnectionState {
    fn from(s: ConnectionStatus) -> Self {
        match s {
            ConnectionStatus::Disconnected => ConnectionState::Disconnected,
            ConnectionStatus::Connecting => ConnectionState::Connecting,
            ConnectionStatus::Connected => ConnectionState::Connected,
            ConnectionStatus::WaitingToReconnect => ConnectionState::WaitingToReconnect,
            ConnectionStatus::Closing => ConnectionState::Closing,
        }
    }
}

/// An MQTT 5.0 user property (name, value).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UserProperty {
    /// The property's name.
    pub name: String,
    /// The property's value.
    pub value: String,
}

/// An application message: what `publish` sends and what subscriptions
/// receive. Only `topic` and `payload` are required.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Message {
    /// The topic it is published to (no wildcards).
    pub topic: String,
    /// The payload, any bytes.
    pub payload: Vec<u8>,
    /// Delivery guarantee: at most once, at least once or exactly once.
    pub qos: QoS,
    /// Keep as the topic's last known value for future subscribers.
    #[uniffi(default = false)]
    pub retain: bool,
    /// MQTT 5.0: MIME type of the payload.
    #[uniffi(default = None)]
    pub content_type: Option<String>,
    /// MQTT 5.0: where a request's answer should go.
    #[uniffi(default = None)]
    pub response_topic: Option<String>,
    /// MQTT 5.0: ties an answer to its request.
    #[uniffi(default = None)]
    pub correlation_data: Option<Vec<u8>>,
    /// MQTT 5.0: the broker drops the message after this many seconds.
    #[uniffi(default = None)]
    pub message_expiry_interval_secs: Option<u32>,
    /// MQTT 5.0 user properties.
    #[uniffi(default = [])]
    pub user_properties: Vec<UserProperty>,
    /// Received messages: the identifiers of the subscriptions it matched
    /// (MQTT 5.0, set with `subscribeWith`). Ignored when publishing.
    #[uniffi(default = [])]
    pub subscription_identifiers: Vec<u32>,
    /// Received QoS 1/2 messages on a client with `manual_acks`: what
    /// `MqttClient.ack` needs; `None` otherwise. Ignored when publishing.
    #[uniffi(default = None)]
    pub ack_token: Option<u64>,
}

impl Message {
    pub(crate) fn into_publish(self) -> Publish {
        let mut publish = Publish::new(self.topic, self.payload, self.qos);
        publish.retain = self.retain;
        publish.properties = PublishProperties {
            content_type: self.content_type,
            response_topic: self.response_topic,
            correlation_data: self.correlation_data.map(Into::into),
            message_expiry_interval: self.message_expiry_interval_secs,
            user_properties: self
                .user_properties
                .into_iter()
                .map(|p| (p.name, p.value))
                .collect(),
            ..PublishProperties::default()
        };
        publish
    }
}

impl From<midge_core::Message> for Message {
    fn from(m: midge_core::Message) -> Self {
        let ack_token = m.ack.map(|handle| handle.to_token());
        Message {
            ack_token,
            ..Message::from(m.publish)
        }
    }
}

impl From<Publish> for Message {
    fn from(p: Publish) -> Self {
        Message {
            subscription_identifiers: p.properties.subscription_identifiers.clone(),
            ack_token: None,
            topic: p.topic,
            payload: p.payload.to_vec(),
            qos: p.qos,
            retain: p.retain,
            content_type: p.properties.content_type,
            response_topic: p.properties.response_topic,
            correlation_data: p.properties.correlation_data.map(|b| b.to_vec()),
            message_expiry_interval_secs: p.properties.message_expiry_interval,
            user_properties: p
                .properties
                .user_properties
                .into_iter()
                .map(|(name, value)| UserProperty { name, value })
                .collect(),
        }
    }
}

/// The Last Will: published by the broker when the connection is lost
/// without a DISCONNECT (e.g. `users/<id>/presence` = `offline`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Will {
    /// Topic the broker publishes the will to.
    pub topic: String,
    /// The will's payload.
    pub payload: Vec<u8>,
    /// QoS the will is published with.
    pub qos: QoS,
    #[uniffi(default = false)]
    /// Whether the broker retains the will.
    pub retain: bool,
    /// MQTT 5.0: seconds the broker waits before publishing the will.
    #[uniffi(default = None)]
    pub delay_interval_secs: Option<u32>,
}

/// TLS settings for `mqtts://` and `wss://`. Certificates are verified
/// against the bundled Mozilla roots unless told otherwise.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct TlsConfig {
    /// PEM certificates of extra trusted CAs.
    #[uniffi(default = None)]
    pub ca_pem: Option<String>,
    /// Trust only `ca_pem`, not the bundled roots.
    #[uniffi(default = false)]
    pub only_custom_ca: bool,
    /// PEM client certificate chain for mutual TLS.
    #[uniffi(default = None)]
    pub client_cert_pem: Option<String>,
    /// PEM private key of the client certificate.
    #[uniffi(default = None)]
    pub client_key_pem: Option<String>,
    /// Accept any certificate: only for tests against a throwaway broker.
    #[uniffi(default = false)]
    pub insecure_skip_verify: bool,
    /// Name to verify instead of the URL's host (SNI and certificate check).
    #[uniffi(default = None)]
    pub server_name: Option<String>,
    /// ALPN protocols offered in the handshake (e.g. `x-amzn-mqtt-ca` for
    /// MQTT on port 443).
    #[uniffi(default = [])]
    pub alpn_protocols: Vec<String>,
}

/// Everything a client needs. Only `url` is required; the defaults suit a
/// phone: MQTT 5.0, automatic reconnect with backoff, in-memory session.
///
/// For a messenger that must not lose messages, set a fixed `client_id`,
/// `clean_start = false`, a `session_expiry_interval_secs` and a
/// `session_store_path` in the app's files directory.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct MqttOptions {
    /// `mqtt://host:port`, `mqtts://`, `ws://host:port/path` or `wss://`.
    pub url: String,
    /// May be empty with `clean_start` (a 5.0 broker assigns one).
    #[uniffi(default = "")]
    pub client_id: String,
    /// Start a new session on the first connection (reconnects resume).
    #[uniffi(default = true)]
    pub clean_start: bool,
    /// MQTT 5.0: seconds the broker keeps the session after a disconnect
    /// (0: it ends with the connection; 4294967295: never expires).
    #[uniffi(default = None)]
    pub session_expiry_interval_secs: Option<u32>,
    /// `None`: MQTT 5.0.
    #[uniffi(default = None)]
    pub protocol: Option<ProtocolVersion>,
    /// Seconds between packets before a ping (0 disables keep-alive; max 65535).
    #[uniffi(default = 60)]
    pub keep_alive_secs: u32,
    #[uniffi(default = None)]
    /// User name sent in CONNECT.
    pub username: Option<String>,
    #[uniffi(default = None)]
    /// Password sent in CONNECT.
    pub password: Option<String>,
    #[uniffi(default = None)]
    /// The Last Will the broker publishes if the client drops without DISCONNECT.
    pub will: Option<Will>,
    /// Reconnect automatically after the connection is lost.
    #[uniffi(default = true)]
    pub reconnect: bool,
    /// Also retry when the very first connection attempt fails (an app
    /// started offline), instead of failing `connect`.
    #[uniffi(default = false)]
    pub reconnect_on_initial_failure: bool,
    /// Follow an MQTT 5.0 broker's redirection (Use Another Server 0x9C or
    /// Server Moved 0x9D with a Server Reference): the next attempt goes
    /// there at once (`ConnectionEvents.nextRedirect` reports it either
    /// way). Never from TLS to plain text.
    #[uniffi(default = false)]
    pub follow_redirects: bool,
    /// Shortest reconnect wait (the first one), in milliseconds.
    #[uniffi(default = 1000)]
    pub reconnect_min_delay_ms: u32,
    /// Longest reconnect wait, in milliseconds.
    #[uniffi(default = 60000)]
    pub reconnect_max_delay_ms: u32,
    /// Milliseconds to open the connection and receive CONNACK.
    #[uniffi(default = 10000)]
    pub connect_timeout_ms: u32,
    /// Publishes kept while offline or beyond the in-flight window.
    #[uniffi(default = 10000)]
    pub max_queued_messages: u32,
    /// More broker URLs, tried in turn after `url` when reconnecting.
    #[uniffi(default = [])]
    pub servers: Vec<String>,
    /// Our cap on QoS 1/2 publishes in flight (the broker's Receive Maximum
    /// may be lower).
    #[uniffi(default = 100)]
    pub max_inflight: u32,
    /// MQTT 5.0 Receive Maximum: inbound QoS 1/2 messages unacknowledged at
    /// once; the broker holds back more until the app catches up.
    #[uniffi(default = 100)]
    pub receive_maximum: u32,
    /// What to do when the broker sends more than `receive_maximum`
    /// (mosquitto 2.0.11 does): `false` accepts them, `true` disconnects
    /// with reason 0x93 (MQTT 5.0 section 3.3.4).
    #[uniffi(default = false)]
    pub strict_receive_maximum: bool,
    /// MQTT 5.0: highest inbound topic alias accepted (0: none).
    #[uniffi(default = 0)]
    pub topic_alias_maximum: u32,
    /// MQTT 5.0: replace repeated topics by aliases when the broker allows.
    #[uniffi(default = false)]
    pub outbound_topic_aliases: bool,
    /// Largest packet accepted from the broker, in bytes. Default: the
    /// protocol maximum (268,435,460), and then the 5.0 CONNECT names no
    /// limit; a lower one is sent, and the broker drops larger messages.
    #[uniffi(default = 268435460)]
    pub max_packet_size: u32,
    /// Milliseconds to wait for PINGRESP before the link counts as dead.
    #[uniffi(default = 10000)]
    pub ping_timeout_ms: u32,
    /// Unread messages each `messages()` stream (and `messageFlow`) holds;
    /// beyond it the client stops reading from the broker until there is
    /// room (no loss, no blocking of commands).
    #[uniffi(default = 10000)]
    pub message_buffer: u32,
    /// MQTT 5.0 CONNECT user properties.
    #[uniffi(default = [])]
    pub user_properties: Vec<UserProperty>,
    /// MQTT 5.0: ask the broker for response information in CONNACK.
    #[uniffi(default = false)]
    pub request_response_information: bool,
    /// Received QoS 1/2 messages carry an `ackToken`, and the client
    /// acknowledges each only when the app calls `MqttClient.ack` (after it
    /// has processed or stored the message). Unacknowledged ones count
    /// against `receive_maximum`, and the broker sends them again after a
    /// reconnect when the session is kept.
    #[uniffi(default = false)]
    pub manual_acks: bool,
    /// MQTT 5.0 enhanced authentication: the method named in CONNECT (e.g.
    /// `SCRAM-SHA-256`); the broker's challenges arrive as
    /// `connectionEvents().nextAuthChallenge()`, answered with `MqttClient.auth`.
    #[uniffi(default = None)]
    pub authentication_method: Option<String>,
    /// MQTT 5.0: the first authentication data sent in CONNECT.
    #[uniffi(default = None)]
    pub authentication_data: Option<Vec<u8>>,
    /// A file for the session (QoS 1/2 publishes not yet acknowledged,
    /// subscriptions): they survive the app being killed. `None`: in memory.
    #[uniffi(default = None)]
    pub session_store_path: Option<String>,
    /// TLS settings for `mqtts://` / `wss://` (verification is on by default).
    #[uniffi(default = None)]
    pub tls: Option<TlsConfig>,
    /// Tunnel every connection through an HTTP proxy (`CONNECT`):
    /// `http://[user:password@]host:port`.
    #[uniffi(default = None)]
    pub proxy: Option<String>,
}

impl MqttOptions {
    pub(crate) fn to_native(&self) -> Result<NativeOptions, MqttError> {
        let mut options = NativeOptions::new(&self.url)?;
        let c = &mut options.client;
        c.client_id = self.client_id.clone();
        c.clean_start = self.clean_start;
        c.protocol = self.protocol.unwrap_or(ProtocolVersion::V5);
        c.keep_alive_secs = u16::try_from(self.keep_alive_secs)
            .map_err(|_| MqttError::invalid("keep_alive_secs", "must be at most 65535"))?;
        c.username = self.username.clone();
        c.password = self.password.clone().map(Into::into);
        c.connect_properties.session_expiry_interval = self.session_expiry_interval_secs;
        c.will = self.will.clone().map(|w| LastWill {
            topic: w.topic,
            payload: w.payload.into(),
            qos: w.qos,
            retain: w.retain,
            properties: WillProperties {
                will_delay_interval: w.delay_interval_secs,
                ..WillProperties::default()
            },
        });
        c.reconnect = self.reconnect.then(|| BackoffPolicy {
            min_delay_ms: self.reconnect_min_delay_ms.into(),
            max_delay_ms: self.reconnect_max_delay_ms.into(),
            ..BackoffPolicy::default()
        });
        c.reconnect_on_initial_failure = self.reconnect_on_initial_failure;
        c.follow_redirects = self.follow_redirects;
        c.connect_timeout_ms = self.connect_timeout_ms.into();
        c.max_queued_messages = self.max_queued_messages as usize;
        for url in &self.servers {
            let server = url
                .parse::<midge_core::server::ServerAddress>()
                .map_err(|e| MqttError::invalid("servers", &e.to_string()))?;
            c.servers.push(server);
        }
        let u16_option = |name: &str, value: u32, min: u32| {
            u16::try_from(value)
                .ok()
                .filter(|v| u32::from(*v) >= min)
                .ok_or_else(|| MqttError::invalid(name, &format!("must be from {min} to 65535")))
        };
        c.max_inflight = u16_option("max_inflight", self.max_inflight, 1)?;
        c.receive_maximum = u16_option("receive_maximum", self.receive_maximum, 1)?;
        c.strict_receive_maximum = self.strict_receive_maximum;
        c.topic_alias_maximum = u16_option("topic_alias_maximum", self.topic_alias_maximum, 0)?;
        c.outbound_topic_aliases = self.outbound_topic_aliases;
        c.max_incoming_packet_size = self.max_packet_size;
        c.ping_timeout_ms = self.ping_timeout_ms.into();
        c.connect_properties.user_properties = self
            .user_properties
            .iter()
            .map(|p| (p.name.clone(), p.value.clone()))
            .collect();
        if self.request_response_information {
            c.connect_properties.request_response_information = Some(true);
        }
        c.manual_acks = self.manual_acks;
        if self.authentication_data.is_some() && self.authentication_method.is_none() {
            return Err(MqttError::invalid(
                "authentication_data",
                "needs authentication_method (MQTT 5.0 sends the data only with a method)",
            ));
        }
        c.connect_properties.authentication_method = self.authentication_method.clone();
        c.connect_properties.authentication_data = self.authentication_data.clone().map(Into::into);
        options.message_buffer = self.message_buffer as usize;
        if let Some(path) = &self.session_store_path {
            if path.is_empty() {
                return Err(MqttError::invalid(
                    "session_store_path",
                    "must not be empty (use null for an in-memory session)",
                ));
            }
            options.store = StoreConfig::File(path.into());
        }
        if let Some(tls) = &self.tls {
            options.tls = TlsOptions {
                ca_pem: tls.ca_pem.clone().map(String::into_bytes),
                only_custom_ca: tls.only_custom_ca,
                client_cert_pem: tls.client_cert_pem.clone().map(String::into_bytes),
                client_key_pem: tls.client_key_pem.clone().map(String::into_bytes),
                insecure_skip_verify: tls.insecure_skip_verify,
                server_name: tls.server_name.clone(),
                alpn_protocols: tls.alpn_protocols.clone(),
            };
        }
        if let Some(proxy) = &self.proxy {
            options.proxy = Some(midge_native::HttpProxy::parse(proxy)?);
        }
        Ok(options)
    }
}

/// The broker's answer to CONNECT.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct ConnectResult {
    /// The broker still had our session (messages sent while we were away
    /// will be delivered).
    pub session_present: bool,
    /// The client id in use (assigned by the broker if we sent none).
    pub client_id: String,
    /// Keep-alive in use (the broker may override ours).
    pub keep_alive_secs: u32,
    /// The broker that answered, as a URL: one of the configured servers, or
    /// where a followed redirection pointed.
    pub server: String,
}

impl From<midge_core::Connected> for ConnectResult {
    fn from(c: midge_core::Connected) -> Self {
        ConnectResult {
            session_present: c.session_present,
            client_id: c.client_id,
            keep_alive_secs: c.keep_alive_secs.into(),
            server: c.server.to_string(),
        }
    }
}

/// A completed publish.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct PublishResult {
    /// `Success`, or `NoMatchingSubscribers` (MQTT 5.0) when nobody got it.
    pub reason_code: ReasonCode,
}

/// A topic filter to subscribe to.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct Subscription {
    /// The topic filter; wildcards `+` and `#` allowed.
    pub filter: String,
    /// The highest QoS the broker may deliver with.
    pub qos: QoS,
    /// MQTT 5.0: do not receive our own publications.
    #[uniffi(default = false)]
    pub no_local: bool,
    /// MQTT 5.0: keep the RETAIN flag as the publisher set it.
    #[uniffi(default = false)]
    pub retain_as_published: bool,
    /// MQTT 5.0: retained messages on subscribe (`null`: send them at every
    /// subscribe, the protocol's default).
    #[uniffi(default = None)]
    pub retain_handling: Option<RetainHandling>,
}

impl From<Subscription> for packet::SubscribeFilter {
    fn from(s: Subscription) -> Self {
        let mut f = packet::SubscribeFilter::new(s.filter, s.qos);
        f.options.no_local = s.no_local;
        f.options.retain_as_published = s.retain_as_published;
        f.options.retain_handling = s.retain_handling.unwrap_or_default();
        f
    }
}

/// The broker's answer for one filter of a subscribe.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct SubscribeResult {
    /// The filter this result is for.
    pub filter: String,
    /// The QoS the broker granted; `None` if it refused the filter.
    pub granted_qos: Option<QoS>,
    /// `Success`/`GrantedQoS1`/`GrantedQoS2`, or why it was refused.
    pub reason_code: ReasonCode,
}

impl MqttOptions {
    /// The defaults for one broker URL (what the foreign constructors give
    /// with only `url` set).
    pub fn for_url(url: impl Into<String>) -> MqttOptions {
        MqttOptions {
            url: url.into(),
            client_id: String::new(),
            clean_start: true,
            session_expiry_interval_secs: None,
            protocol: None,
            keep_alive_secs: 60,
            username: None,
            password: None,
            will: None,
            reconnect: true,
            reconnect_on_initial_failure: false,
            follow_redirects: false,
            reconnect_min_delay_ms: 1000,
            reconnect_max_delay_ms: 60_000,
            connect_timeout_ms: 10_000,
            max_queued_messages: 10_000,
            servers: Vec::new(),
            max_inflight: 100,
            receive_maximum: 100,
            strict_receive_maximum: false,
            topic_alias_maximum: 0,
            outbound_topic_aliases: false,
            max_packet_size: midge_core::options::MAX_PACKET_SIZE,
            ping_timeout_ms: 10_000,
            message_buffer: 10_000,
            user_properties: Vec::new(),
            request_response_information: false,
            manual_acks: false,
            authentication_method: None,
            authentication_data: None,
            session_store_path: None,
            tls: None,
            proxy: None,
        }
    }
}

impl Message {
    /// A message with no MQTT 5.0 properties and no retain flag.
    pub fn new(topic: impl Into<String>, payload: Vec<u8>, qos: QoS) -> Message {
        Message {
            topic: topic.into(),
            payload,
            qos,
            retain: false,
            content_type: None,
            response_topic: None,
            correlation_data: None,
            message_expiry_interval_secs: None,
            user_properties: Vec::new(),
            subscription_identifiers: Vec::new(),
            ack_token: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_map_onto_the_native_options() {
        let options = MqttOptions {
            client_id: "phone".into(),
            clean_start: false,
            session_expiry_interval_secs: Some(3600),
            keep_alive_secs: 30,
            will: Some(Will {
                topic: "users/a/presence".into(),
                payload: b"offline".to_vec(),
                qos: QoS::AtLeastOnce,
                retain: true,
                delay_interval_secs: Some(5),
            }),
            reconnect: false,
            session_store_path: Some("/tmp/midge-session.bin".into()),
            ..MqttOptions::for_url("mqtts://broker.example")
        };
        let native = options.to_native().unwrap();
        let c = &native.client;
        assert_eq!(c.client_id, "phone");
        assert!(!c.clean_start);
        assert_eq!(c.keep_alive_secs, 30);
        assert_eq!(c.connect_properties.session_expiry_interval, Some(3600));
        assert!(c.reconnect.is_none());
        let will = c.will.as_ref().unwrap();
        assert_eq!(
            (
                will.topic.as_str(),
                will.retain,
                will.properties.will_delay_interval
            ),
            ("users/a/presence", true, Some(5))
        );
        assert_eq!(
            native.store,
            StoreConfig::File("/tmp/midge-session.bin".into())
        );
        assert_eq!(c.servers[0].port, 8883);
    }

    #[test]
    fn out_of_range_options_name_the_option() {
        let err = MqttOptions {
            keep_alive_secs: 70_000,
            ..MqttOptions::for_url("mqtt://localhost")
        }
        .to_native()
        .unwrap_err();
        assert!(
            matches!(&err, MqttError::InvalidArgument { argument, .. } if argument == "keepAliveSecs")
        );
        let err = MqttOptions {
            session_store_path: Some(String::new()),
            ..MqttOptions::for_url("mqtt://localhost")
        }
        .to_native()
        .unwrap_err();
        assert!(err.to_string().contains("sessionStorePath"), "{err}");
        let err = MqttOptions::for_url("ftp://x").to_native().unwrap_err();
        assert!(matches!(&err, MqttError::InvalidArgument { argument, .. } if argument == "url"));
    }

    #[test]
    fn messages_round_trip_through_publish() {
        let message = Message {
            retain: true,
            content_type: Some("text/plain".into()),
            correlation_data: Some(vec![1, 2]),
            message_expiry_interval_secs: Some(60),
            user_properties: vec![UserProperty {
                name: "from".into(),
                value: "bob".into(),
            }],
            ..Message::new("chat/lobby", b"hi".to_vec(), QoS::ExactlyOnce)
        };
        let publish = message.clone().into_publish();
        assert_eq!(publish.packet_id, 0);
        assert_eq!(Message::from(publish), message);
    }

    #[test]
    fn reason_code_values_are_the_wire_values() {
        assert_eq!(reason_code_value(ReasonCode::NotAuthorized), 0x87);
        assert_eq!(reason_code_value(ReasonCode::GrantedQoS2), 2);
    }
}
