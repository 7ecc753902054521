//! The typed error of every operation: `MqttException` in Kotlin,
//! `MqttError` in Swift. Variants carry the MQTT reason code where the
//! broker gave one.

use midge_core::packet::ReasonCode;
use midge_native::NativeError;

/// Why an operation failed.
///
/// In Kotlin each variant is a subclass of `MqttException`:
///
/// ```kotlin
/// try {
///     client.connect()
/// } catch (e: MqttException.ConnectionRefused) {
///     if (e.reasonCode == ReasonCode.NOT_AUTHORIZED) showLogin()
/// }
/// ```
///
/// In Swift it is `enum MqttError: Error`:
///
/// ```swift
/// do {
///     _ = try await client.connect()
/// } catch MqttError.ConnectionRefused(let reasonCode, _) where reasonCode == .notAuthorized {
///     showLogin()
/// }
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error, uniffi::Error)]
pub enum MqttError {
    /// An argument broke a rule; nothing was sent. `argument` is the option
    /// or parameter as Kotlin and Swift spell it (`keepAliveSecs`).
    #[error("invalid argument `{argument}`: {rule}")]
    InvalidArgument {
        /// The option or parameter, as Kotlin and Swift spell it.
        argument: String,
        /// The rule it broke, in words.
        rule: String,
    },
    /// The broker answered CONNECT with a failure reason code.
    #[error("{details}")]
    ConnectionRefused {
        /// The CONNACK's failure reason code.
        reason_code: ReasonCode,
        /// What happened, in words (the exception's message).
        details: String,
    },
    /// The broker refused a subscription (SUBACK failure code).
    #[error("the broker refused the subscription to `{filter}`: {reason_code}")]
    SubscriptionRefused {
        /// The topic filter the broker refused.
        filter: String,
        /// The SUBACK's failure reason code.
        reason_code: ReasonCode,
    },
    /// The broker rejected a publish (PUBACK/PUBREC failure code), or the
    /// connection it reached does not allow it.
    #[error("{details}")]
    PublishRejected {
        /// The PUBACK's or PUBREC's failure code, or what the connection does not allow.
        reason_code: ReasonCode,
        /// What happened, in words (the exception's message).
        details: String,
    },
    /// The broker broke the protocol, or disconnected us with a reason code.
    #[error("{details}")]
    Protocol {
        /// The DISCONNECT's reason code, when the broker sent one.
        reason_code: Option<ReasonCode>,
        /// What happened, in words (the exception's message).
        details: String,
    },
    /// The socket, TLS or WebSocket layer failed (unreachable host,
    /// certificate rejected, ...).
    #[error("{details}")]
    Transport {
        /// What happened, in words (the exception's message).
        details: String,
    },
    /// No answer in time.
    #[error("{details}")]
    Timeout {
        /// What happened, in words (the exception's message).
        details: String,
    },
    /// The client is closed (a call after `disconnect()`), or the
    /// connection closed before the operation finished.
    #[error("{details}")]
    Closed {
        /// What happened, in words (the exception's message).
        details: String,
    },
    /// The client stopped (`disconnect()`, or the reconnect policy gave up)
    /// while the operation was pending: a QoS 1/2 publish stays in the
    /// session and is sent again on the next `connect()`; a subscribe or
    /// unsubscribe was dropped.
    #[error("{details}")]
    Interrupted {
        /// What happened, in words (the exception's message).
        details: String,
        /// The server's reason code when its DISCONNECT (or a refusing
        /// CONNACK) ended the connection, e.g. `TOPIC_ALIAS_INVALID`.
        reason_code: Option<ReasonCode>,
    },
    /// The operation is not possible now (queue full, already connected, ...).
    #[error("{details}")]
    Rejected {
        /// What happened, in words (the exception's message).
        details: String,
    },
    /// The session store failed (the file at `session_store_path`).
    #[error("{details}")]
    Store {
        /// What happened, in words (the exception's message).
        details: String,
    },
}

impl MqttError {
    pub(crate) fn invalid(argument: &str, rule: &str) -> MqttError {
        MqttError::InvalidArgument {
            argument: foreign_name(argument),
            rule: rule.into(),
        }
    }
}

/// The option or parameter as Kotlin and Swift spell it: the core and the
/// native driver name fields in snake case (`connect_properties.client_id`),
/// and an error should name what the user wrote.
fn foreign_name(name: &str) -> String {
    // Options whose foreign name is not the field's own in camel case.
    match name {
        "max_incoming_packet_size" => return "maxPacketSize".into(),
        "session_store" => return "sessionStorePath".into(),
        "connect_properties.session_expiry_interval" => return "sessionExpiryIntervalSecs".into(),
        _ => {}
    }
    let name = name.strip_prefix("connect_properties.").unwrap_or(name);
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

impl From<NativeError> for MqttError {
    fn from(e: NativeError) -> Self {
        match e {
            NativeError::InvalidArgument { argument, rule } => MqttError::InvalidArgument {
                argument: foreign_name(&argument),
                rule,
            },
            NativeError::ConnectionRefused {
                reason_code,
                message,
            } => MqttError::ConnectionRefused {
                reason_code,
                details: message,
            },
            NativeError::Protocol {
                reason_code,
                message,
            } => MqttError::Protocol {
                reason_code,
                details: message,
            },
            NativeError::Transport { message } => MqttError::Transport { details: message },
            NativeError::Timeout { message } => MqttError::Timeout { details: message },
            NativeError::Closed { message } => MqttError::Closed { details: message },
            NativeError::Interrupted {
                message,
                reason_code,
            } => MqttError::Interrupted {
                details: message,
                reason_code,
            },
            NativeError::PublishRejected {
                reason_code,
                message,
            } => MqttError::PublishRejected {
                reason_code,
                details: message,
            },
            NativeError::Rejected { message } | NativeError::AckNotPending { message, .. } => {
                MqttError::Rejected { details: message }
            }
            NativeError::Store { message } => MqttError::Store { details: message },
        }
    }
}

impl From<midge_core::ClientError> for MqttError {
    fn from(e: midge_core::ClientError) -> Self {
        NativeError::from(e).into()
    }
}
