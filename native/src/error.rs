//! Typed errors of the native client, with the MQTT 5 reason code where the
//! broker gave one.

use midge_core::packet::ReasonCode;
use midge_core::{
    ClientError, ConnectionError, PublishError, TransportFailure, TransportFailureKind,
};

/// Why an operation of [`NativeClient`](crate::NativeClient) failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NativeError {
    /// An argument broke a rule; nothing was sent.
    #[error("invalid argument `{argument}`: {rule}")]
    InvalidArgument {
        /// The argument's name.
        argument: String,
        /// The rule it broke, in words.
        rule: String,
    },
    /// The broker answered CONNECT with a failure reason code.
    #[error("{message}")]
    ConnectionRefused {
        /// The CONNACK's failure reason code.
        reason_code: ReasonCode,
        /// What happened, in words (the `Display` text).
        message: String,
    },
    /// The broker broke the protocol, or disconnected us with a reason code.
    #[error("{message}")]
    Protocol {
        /// The DISCONNECT's reason code, when the broker sent one.
        reason_code: Option<ReasonCode>,
        /// What happened, in words (the `Display` text).
        message: String,
    },
    /// The socket, TLS or WebSocket layer failed (unreachable host,
    /// certificate rejected, handshake failed, ...).
    #[error("{message}")]
    Transport {
        /// What happened, in words (the `Display` text).
        message: String,
    },
    /// No answer in time.
    #[error("{message}")]
    Timeout {
        /// What happened, in words (the `Display` text).
        message: String,
    },
    /// The client is closed (a call after `disconnect()`), or the
    /// connection closed before the operation finished.
    #[error("{message}")]
    Closed {
        /// What happened, in words (the `Display` text).
        message: String,
    },
    /// The client stopped (final disconnect, or the reconnect policy gave
    /// up) while the operation was pending: core/SEMANTICS.md. A QoS 1/2
    /// publish stays in the session and is sent again on the next connect;
    /// a subscribe or unsubscribe was dropped.
    #[error("{message}")]
    Interrupted {
        /// What happened, in words (the `Display` text).
        message: String,
        /// The server's reason code when its DISCONNECT (or a refusing
        /// CONNACK) ended the connection, e.g. 0x94 Topic Alias Invalid.
        reason_code: Option<ReasonCode>,
    },
    /// The broker rejected a publish (PUBACK/PUBREC with a failure code) or
    /// the connection it reached does not allow it.
    #[error("{message}")]
    PublishRejected {
        /// The PUBACK's or PUBREC's failure code, or what the server does not allow.
        reason_code: ReasonCode,
        /// What happened, in words (the `Display` text).
        message: String,
    },
    /// The command was refused in the current state (queue full, not
    /// connected, ...).
    #[error("{message}")]
    Rejected {
        /// What happened, in words (the `Display` text).
        message: String,
    },
    /// The session store failed.
    #[error("{message}")]
    Store {
        /// What happened, in words (the `Display` text).
        message: String,
    },
    /// A manual acknowledgement for a message that is not awaiting one:
    /// acknowledged already, or (QoS 1) it arrived on a connection that has
    /// since closed and the broker sends it again.
    #[error("{message}")]
    AckNotPending {
        /// The packet id of the message the acknowledgement named.
        packet_id: u16,
        /// What happened, in words (the `Display` text).
        message: String,
    },
}

impl NativeError {
    /// The MQTT 5 reason code behind the error, if there is one.
    pub fn reason_code(&self) -> Option<ReasonCode> {
        match self {
            NativeError::ConnectionRefused { reason_code, .. }
            | NativeError::PublishRejected { reason_code, .. } => Some(*reason_code),
            NativeError::Protocol { reason_code, .. } => *reason_code,
            _ => None,
        }
    }

    pub(crate) fn invalid(argument: impl Into<String>, rule: impl Into<String>) -> NativeError {
        NativeError::InvalidArgument {
            argument: argument.into(),
            rule: rule.into(),
        }
    }

    /// A refused `publish`: the connection's server does not allow its QoS,
    /// its retain flag or its size. The same type and reason code as when
    /// the refusal comes after a reconnect (`PublishError`): 0x9B, 0x9A or
    /// 0x95, rather than the untyped `Rejected` other refusals get.
    pub fn from_publish_refusal(e: ClientError) -> NativeError {
        let reason_code = match &e {
            ClientError::QoSNotSupported { .. } => ReasonCode::QoSNotSupported,
            ClientError::RetainNotSupported => ReasonCode::RetainNotSupported,
            ClientError::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            _ => return e.into(),
        };
        NativeError::PublishRejected {
            reason_code,
            message: e.to_string(),
        }
    }

    /// A [`NativeError::Closed`] with this message.
    pub fn closed(message: impl Into<String>) -> NativeError {
        NativeError::Closed {
            message: message.into(),
        }
    }
}

impl From<ClientError> for NativeError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::InvalidArgument { argument, rule } => NativeError::InvalidArgument {
                argument: argument.to_string(),
                rule,
            },
            ClientError::Store(s) => NativeError::Store {
                message: s.to_string(),
            },
            ClientError::AckNotPending { packet_id } => NativeError::AckNotPending {
                packet_id,
                message: ClientError::AckNotPending { packet_id }.to_string(),
            },
            closed @ ClientError::Closed { .. } => NativeError::Closed {
                message: closed.to_string(),
            },
            other => NativeError::Rejected {
                message: other.to_string(),
            },
        }
    }
}

impl From<midge_core::session::StoreError> for NativeError {
    fn from(e: midge_core::session::StoreError) -> Self {
        NativeError::Store {
            message: e.to_string(),
        }
    }
}

impl From<ConnectionError> for NativeError {
    fn from(e: ConnectionError) -> Self {
        let message = e.to_string();
        match e {
            ConnectionError::Refused { reason_code, .. } => NativeError::ConnectionRefused {
                reason_code,
                message,
            },
            ConnectionError::ServerDisconnect { reason_code, .. } => NativeError::Protocol {
                reason_code: Some(reason_code),
                message,
            },
            ConnectionError::Protocol(v) => NativeError::Protocol {
                reason_code: Some(v.reason_code()),
                message,
            },
            ConnectionError::ConnectTimeout { .. } | ConnectionError::KeepAliveTimeout { .. } => {
                NativeError::Timeout { message }
            }
            ConnectionError::Transport(TransportFailure {
                kind: TransportFailureKind::Timeout,
                ..
            }) => NativeError::Timeout { message },
            ConnectionError::Transport(_) => NativeError::Transport { message },
            ConnectionError::Local => NativeError::Closed { message },
            ConnectionError::Store(_) => NativeError::Store { message },
        }
    }
}

impl From<PublishError> for NativeError {
    fn from(e: PublishError) -> Self {
        let message = e.to_string();
        if let PublishError::Interrupted { reason_code } = e {
            return NativeError::Interrupted {
                message,
                reason_code,
            };
        }
        let reason_code = match &e {
            PublishError::Rejected { reason_code, .. }
            | PublishError::NotAllowed { reason_code } => *reason_code,
            PublishError::PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            PublishError::Interrupted { .. } => ReasonCode::UnspecifiedError,
        };
        NativeError::PublishRejected {
            reason_code,
            message,
        }
    }
}
