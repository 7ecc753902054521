//! Typed errors of the client state machine.

use crate::packet::{
    AckProperties, ConnAckProperties, DecodeError, DisconnectProperties, QoS, ReasonCode,
};
use crate::session::StoreError;

/// A command was refused. Nothing was sent and the state did not change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    /// An argument broke a rule; names the argument and the rule.
    #[error("invalid argument `{argument}`: {rule}")]
    InvalidArgument {
        /// The argument's name, as the API spells it.
        argument: &'static str,
        /// The rule it broke, in words.
        rule: String,
    },
    /// The publish queue holds its maximum: publishes that wait for the
    /// connection, or (while connected) for room in the in-flight window.
    #[error("the publish queue is full ({limit} publishes wait for the connection or for room in the in-flight window): raise `max_queued_messages` or wait for earlier publishes to complete")]
    QueueFull {
        /// The `max_queued_messages` limit that was reached.
        limit: usize,
    },
    /// The server's CONNACK allows a lower maximum QoS.
    #[error("QoS {requested:?} is above the server's maximum QoS {maximum:?}")]
    QoSNotSupported {
        /// The QoS the publish asked for.
        requested: QoS,
        /// The server's Maximum QoS from CONNACK.
        maximum: QoS,
    },
    /// The server's CONNACK said retained messages are not available.
    #[error("the server does not support retained messages")]
    RetainNotSupported,
    /// The packet exceeds the server's Maximum Packet Size.
    #[error(
        "the packet is {size} bytes, above the server's maximum packet size of {maximum} bytes"
    )]
    PacketTooLarge {
        /// The encoded packet's size in bytes.
        size: usize,
        /// The server's Maximum Packet Size in bytes.
        maximum: u32,
    },
    /// The command needs a state the client is not in.
    #[error("cannot {operation} while {state}")]
    InvalidState {
        /// The command that was refused (`"publish"`, ...).
        operation: &'static str,
        /// The state the client was in (`"disconnected"`, ...).
        state: &'static str,
    },
    /// A manual acknowledgement for a message that is not awaiting one.
    #[error("message with packet id {packet_id} is not awaiting an acknowledgement (already acknowledged, or the connection it arrived on closed)")]
    AckNotPending {
        /// The packet id of the message the acknowledgement named.
        packet_id: u16,
    },
    /// The client was closed with `disconnect`; `connect` opens it again.
    /// Nothing was sent or queued.
    #[error(
        "cannot {operation}: the client is closed (disconnect() was called); call connect() first"
    )]
    Closed {
        /// The command that was refused (`"publish"`, ...).
        operation: &'static str,
    },
    /// The session store failed to record the change.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ClientError {
    // Not inlined: 40 call sites each copying the rule into a `String`.
    #[inline(never)]
    pub(crate) fn invalid(argument: &'static str, rule: impl Into<String>) -> ClientError {
        ClientError::InvalidArgument {
            argument,
            rule: rule.into(),
        }
    }
}

/// A rule of the protocol the server broke.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProtocolViolation {
    /// The bytes did not decode.
    #[error("malformed packet from the server: {0}")]
    Decode(#[from] DecodeError),
    /// A packet the server must not send, or not at this point.
    #[error("unexpected {packet} from the server {context}")]
    UnexpectedPacket {
        /// The packet's name (`"PUBREL"`, ...).
        packet: &'static str,
        /// Where it came (`"before CONNACK"`, ...).
        context: &'static str,
    },
    /// An acknowledgement for a packet id the client is not waiting on.
    #[error("{packet} for packet id {packet_id}, which is not in flight")]
    UnknownPacketId {
        /// The acknowledging packet's name (`"PUBACK"`, ...).
        packet: &'static str,
        /// The packet id it acknowledged.
        packet_id: u16,
    },
    /// A topic alias of 0, above our maximum, or not yet defined.
    #[error("invalid topic alias {alias}: {rule}")]
    TopicAliasInvalid {
        /// The topic alias the server sent.
        alias: u16,
        /// Why it is invalid.
        rule: &'static str,
    },
    /// An empty topic with an alias that has no mapping on this connection
    /// (a Protocol Error, unlike an alias out of range).
    #[error("topic alias {alias} has no topic on this connection")]
    TopicAliasUnknown {
        /// The topic alias the server sent.
        alias: u16,
    },
    /// More unacknowledged QoS 1/2 publishes than our Receive Maximum.
    #[error(
        "the server exceeded our receive maximum of {maximum} unacknowledged QoS 1/2 publishes"
    )]
    ReceiveMaximumExceeded {
        /// Our Receive Maximum (from the CONNECT properties).
        maximum: u16,
    },
    /// A PUBLISH whose topic is empty without a topic alias.
    #[error("PUBLISH without a topic name or topic alias")]
    MissingTopic,
    /// A SUBACK or UNSUBACK whose reason codes do not match the request's filters.
    #[error("SUBACK with {got} reason codes for {expected} filters")]
    SubAckCountMismatch {
        /// How many filters the request had.
        expected: usize,
        /// How many reason codes the answer had.
        got: usize,
    },
}

impl ProtocolViolation {
    /// The 5.0 reason code the client sends in its DISCONNECT.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            ProtocolViolation::Decode(e) => e.reason_code(),
            ProtocolViolation::TopicAliasInvalid { .. } => ReasonCode::TopicAliasInvalid,
            ProtocolViolation::ReceiveMaximumExceeded { .. } => ReasonCode::ReceiveMaximumExceeded,
            _ => ReasonCode::ProtocolError,
        }
    }
}

/// Why a connection ended (or never came up).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConnectionError {
    /// The server answered CONNECT with a failure.
    #[error("connection refused by the server: {reason_code}{}", reason_suffix(.properties.reason_string.as_deref()))]
    Refused {
        /// The CONNACK's failure reason code (3.1.1 return codes mapped onto 5.0).
        reason_code: ReasonCode,
        /// The CONNACK's properties (reason string, server reference, ...).
        properties: Box<ConnAckProperties>,
    },
    /// The server sent DISCONNECT.
    #[error("disconnected by the server: {reason_code}{}", reason_suffix(.properties.reason_string.as_deref()))]
    ServerDisconnect {
        /// The DISCONNECT's reason code.
        reason_code: ReasonCode,
        /// The DISCONNECT's properties (reason string, server reference, ...).
        properties: Box<DisconnectProperties>,
    },
    /// The server broke the protocol; the client closed the connection.
    #[error("protocol violation: {0}")]
    Protocol(#[from] ProtocolViolation),
    /// No CONNACK within the connect timeout.
    #[error("no CONNACK within {timeout_ms} ms")]
    ConnectTimeout {
        /// The connect timeout that ran out, in milliseconds.
        timeout_ms: u64,
    },
    /// No PINGRESP within the ping timeout: the link is dead.
    #[error("no PINGRESP within {timeout_ms} ms: keep-alive timeout")]
    KeepAliveTimeout {
        /// The ping timeout that ran out, in milliseconds.
        timeout_ms: u64,
    },
    /// The transport closed or could not be opened; the driver said why.
    #[error("{0}")]
    Transport(TransportFailure),
    /// The user asked to disconnect.
    #[error("disconnected by the client")]
    Local,
    /// The session store could not make a change durable, so what depends
    /// on it was not sent; the client closed the connection.
    #[error("{0}")]
    Store(StoreError),
}

/// Why the transport closed or could not be opened, as the driver saw it.
/// A driver hands it to [`Client::handle_transport_failed`](crate::Client::handle_transport_failed)
/// and it comes back in [`ConnectionError::Transport`], so no driver keeps a
/// copy on the side to patch into the error later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportFailure {
    /// What kind of failure, for programs.
    pub kind: TransportFailureKind,
    /// The driver's words for it (e.g. the operating system's), for people;
    /// empty when there is nothing to add to the kind.
    pub detail: String,
}

/// The kinds of [`TransportFailure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportFailureKind {
    /// The peer closed the connection, or the driver cannot tell why (a
    /// browser's WebSocket says no more).
    Closed,
    /// Nothing accepted the connection (connection refused).
    Refused,
    /// The peer reset or aborted the connection.
    Reset,
    /// The host could not be resolved or reached.
    Unreachable,
    /// The operating system gave up waiting (the core's own connect timeout
    /// is [`ConnectionError::ConnectTimeout`]).
    Timeout,
    /// The TLS handshake failed or the server's certificate was refused.
    Tls,
    /// A setting the transport cannot use (e.g. a TLS server name that is
    /// not a valid DNS name); retrying cannot help.
    Config,
    /// Any other failure.
    Other,
}

impl TransportFailure {
    /// A failure of `kind` with the driver's `detail`.
    pub fn new(kind: TransportFailureKind, detail: impl Into<String>) -> TransportFailure {
        TransportFailure {
            kind,
            detail: detail.into(),
        }
    }

    /// The peer closed the connection, nothing more known.
    pub fn closed() -> TransportFailure {
        TransportFailure::new(TransportFailureKind::Closed, "")
    }
}

impl std::fmt::Display for TransportFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.detail.is_empty() {
            f.write_str("the transport closed")
        } else {
            f.write_str(&self.detail)
        }
    }
}

fn reason_suffix(reason: Option<&str>) -> String {
    match reason {
        Some(r) => format!(" ({r})"),
        None => String::new(),
    }
}

impl ConnectionError {
    /// The error in one line, put together without `core::fmt` (which
    /// would add kilobytes to the npm package): the trace's disconnect lines
    /// and the npm package's error messages use it, so every runtime words
    /// them the same. Shorter than `Display` for decode errors (which says
    /// which field broke which rule).
    ///
    /// ```
    /// use midge_core::{ConnectionError, TransportFailure};
    /// let e = ConnectionError::Transport(TransportFailure::closed());
    /// assert_eq!(e.describe(), "the transport closed");
    /// assert_eq!(ConnectionError::KeepAliveTimeout { timeout_ms: 500 }.describe(),
    ///     "no PINGRESP within 500 ms: keep-alive timeout");
    /// ```
    pub fn describe(&self) -> String {
        use crate::text::{cat, dec};
        let with_reason = |text: &str, code: ReasonCode, reason: &Option<String>| {
            let mut line = cat(&[text, &code.describe()]);
            if let Some(reason) = reason {
                line.push_str(&cat(&[" (", reason, ")"]));
            }
            line
        };
        match self {
            ConnectionError::Refused {
                reason_code,
                properties,
            } => with_reason(
                "connection refused by the server: ",
                *reason_code,
                &properties.reason_string,
            ),
            ConnectionError::ServerDisconnect {
                reason_code,
                properties,
            } => with_reason(
                "disconnected by the server: ",
                *reason_code,
                &properties.reason_string,
            ),
            ConnectionError::Protocol(v) => match v {
                ProtocolViolation::UnexpectedPacket { packet, context } => cat(&[
                    "protocol violation: unexpected ",
                    packet,
                    " from the server ",
                    context,
                ]),
                ProtocolViolation::UnknownPacketId { packet, packet_id } => cat(&[
                    "protocol violation: ",
                    packet,
                    " for packet id ",
                    &dec((*packet_id).into()),
                    ", which is not in flight",
                ]),
                ProtocolViolation::Decode(_) => cat(&[
                    "protocol violation: malformed packet from the server: ",
                    &v.reason_code().describe(),
                ]),
                _ => cat(&[
                    "protocol violation by the server: ",
                    &v.reason_code().describe(),
                ]),
            },
            ConnectionError::ConnectTimeout { timeout_ms } => {
                cat(&["no CONNACK within ", &dec(*timeout_ms), " ms"])
            }
            ConnectionError::KeepAliveTimeout { timeout_ms } => cat(&[
                "no PINGRESP within ",
                &dec(*timeout_ms),
                " ms: keep-alive timeout",
            ]),
            ConnectionError::Transport(f) if f.detail.is_empty() => "the transport closed".into(),
            ConnectionError::Transport(f) => f.detail.clone(),
            ConnectionError::Local => "disconnected by the client".into(),
            ConnectionError::Store(StoreError::Io { message }) => {
                cat(&["the session store failed: ", message])
            }
            ConnectionError::Store(StoreError::Corrupt { reason }) => {
                cat(&["the session store is corrupt: ", reason])
            }
        }
    }

    /// The MQTT 5.0 reason code behind this error, where one exists.
    pub fn reason_code(&self) -> Option<ReasonCode> {
        match self {
            ConnectionError::Refused { reason_code, .. }
            | ConnectionError::ServerDisconnect { reason_code, .. } => Some(*reason_code),
            ConnectionError::Protocol(v) => Some(v.reason_code()),
            ConnectionError::KeepAliveTimeout { .. } => Some(ReasonCode::KeepAliveTimeout),
            _ => None,
        }
    }

    /// The reason code the server ended the connection with (its DISCONNECT
    /// or a refusing CONNACK); `None` when the server did not say.
    pub fn server_reason_code(&self) -> Option<ReasonCode> {
        match self {
            ConnectionError::Refused { reason_code, .. }
            | ConnectionError::ServerDisconnect { reason_code, .. } => Some(*reason_code),
            _ => None,
        }
    }

    /// True when retrying with the same settings cannot succeed (bad
    /// credentials, banned, unsupported protocol version, ...).
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            ConnectionError::Refused {
                reason_code: ReasonCode::UnsupportedProtocolVersion
                    | ReasonCode::ClientIdentifierNotValid
                    | ReasonCode::BadUserNameOrPassword
                    | ReasonCode::NotAuthorized
                    | ReasonCode::Banned
                    | ReasonCode::BadAuthenticationMethod
                    | ReasonCode::TopicNameInvalid
                    | ReasonCode::PacketTooLarge
                    | ReasonCode::PayloadFormatInvalid
                    | ReasonCode::RetainNotSupported
                    | ReasonCode::QoSNotSupported,
                ..
            } | ConnectionError::Transport(TransportFailure {
                kind: TransportFailureKind::Config,
                ..
            })
        )
    }
}

/// Why an accepted publish did not complete successfully.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PublishError {
    /// PUBACK or PUBREC carried a failure reason code.
    #[error(
        "the server rejected the publish: {reason_code}{}",
        reason_suffix(properties.reason_string.as_deref())
    )]
    Rejected {
        /// The PUBACK's or PUBREC's failure reason code.
        reason_code: ReasonCode,
        /// The acknowledgement's properties (reason string, user properties).
        properties: AckProperties,
    },
    /// Too large for the server this connection reached.
    #[error(
        "the publish is {size} bytes, above the server's maximum packet size of {maximum} bytes"
    )]
    PacketTooLarge {
        /// The encoded PUBLISH's size in bytes.
        size: usize,
        /// The server's Maximum Packet Size in bytes.
        maximum: u32,
    },
    /// The server this connection reached does not allow its QoS or retain flag.
    #[error("the server does not allow this publish: {reason_code}")]
    NotAllowed {
        /// `QoSNotSupported` or `RetainNotSupported`: what the server does not allow.
        reason_code: ReasonCode,
    },
    /// The client stopped (`disconnect`, or the reconnect policy gave up)
    /// before the broker acknowledged it. The message stays in the session:
    /// the next `connect` sends it again (with clean start off), so do not
    /// publish it a second time.
    #[error("the client stopped before the broker acknowledged the publish{}; it stays in the session and is sent again on the next connect()", server_cause(*.reason_code))]
    Interrupted {
        /// The reason code of the server's DISCONNECT (or refusing CONNACK)
        /// that ended the connection, when the server ended it.
        reason_code: Option<ReasonCode>,
    },
}

/// ` (the server closed the connection: …)` when it did.
fn server_cause(reason_code: Option<ReasonCode>) -> String {
    match reason_code {
        Some(rc) => format!(" (the server closed the connection: {rc})"),
        None => String::new(),
    }
}
