//! What the client reports to the application, and what it asks of the transport.

use crate::error::{ConnectionError, PublishError};
use crate::packet::{AckProperties, AuthProperties, ConnAckProperties, Publish, QoS, ReasonCode};
use crate::server::ServerAddress;
use crate::session::PublishToken;
use crate::session::StoreError;

/// Identifies a SUBSCRIBE or UNSUBSCRIBE from the command to its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestToken(pub u64);

/// What the driver must do with the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportCommand {
    /// Open a connection to this server, then call `handle_transport_open`
    /// (or `handle_transport_closed` if it fails).
    Open(ServerAddress),
    /// Close gracefully, then call `handle_transport_closed`: write out what
    /// `poll_transmit` still holds (the DISCONNECT), half-close the write side
    /// (TCP `shutdown(Write)`, TLS close_notify, WebSocket close frame), and
    /// read and discard until the server closes its side or
    /// [`CLOSE_LINGER_MS`] pass. Closing with unread input makes the kernel
    /// send a TCP reset, and a broker that sees the reset before it read the
    /// DISCONNECT drops it and publishes the will.
    Close,
}

/// How long a driver waits for the server to close its side after a
/// graceful [`TransportCommand::Close`] (milliseconds).
pub const CLOSE_LINGER_MS: u64 = 2_000;

/// The server's answer to a successful CONNECT.
#[derive(Debug, Clone, PartialEq)]
pub struct Connected {
    /// The broker this connection reached.
    pub server: ServerAddress,
    /// The server still had our session.
    pub session_present: bool,
    /// The CONNACK's reason code: `Success`.
    pub reason_code: ReasonCode,
    /// The client id in use (assigned by the server if we sent none).
    pub client_id: String,
    /// Keep-alive in use (the server may override ours).
    pub keep_alive_secs: u16,
    /// Everything the server told us (5.0); defaults for 3.1.1.
    pub properties: ConnAckProperties,
    /// True for an automatic reconnect (after a lost connection); false for
    /// a connection the application asked for with `connect` (the first, or
    /// one after `disconnect` or `pause`).
    pub reconnected: bool,
}

/// How to acknowledge an inbound message in manual-ack mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AckHandle {
    /// The message's packet id, to send in PUBACK or PUBREC.
    pub packet_id: u16,
    /// The message's QoS (1 or 2): which acknowledgement it needs.
    pub qos: QoS,
    /// Which connection the message arrived on.
    pub(crate) connection: u64,
}

impl AckHandle {
    /// The handle as one number, for bindings that hand the application a
    /// plain value (Kotlin, Swift): packet id in bits 0-15, QoS in bits
    /// 16-17, connection in bits 18-63. [`AckHandle::from_token`] reverses it.
    ///
    /// ```
    /// use midge_core::{AckHandle, packet::QoS};
    /// assert_eq!(AckHandle::from_token(0), None); // QoS 0 has nothing to acknowledge
    /// # let token = (3u64 << 18) | (1 << 16) | 42;
    /// let handle = AckHandle::from_token(token).unwrap();
    /// assert_eq!((handle.packet_id, handle.qos), (42, QoS::AtLeastOnce));
    /// assert_eq!(handle.to_token(), token);
    /// ```
    pub fn to_token(&self) -> u64 {
        (self.connection << 18) | (u64::from(self.qos as u8) << 16) | u64::from(self.packet_id)
    }

    /// The handle [`AckHandle::to_token`] made, or `None` if `token` cannot
    /// be one (QoS 0 or 3). A well-formed token for a message no longer
    /// pending fails later, at [`crate::Client::ack`], with `AckNotPending`.
    pub fn from_token(token: u64) -> Option<AckHandle> {
        let qos = QoS::from_u8(((token >> 16) & 0b11) as u8)?;
        if qos == QoS::AtMostOnce {
            return None;
        }
        Some(AckHandle {
            packet_id: (token & 0xffff) as u16,
            qos,
            connection: token >> 18,
        })
    }
}

/// An inbound application message.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The PUBLISH, with its topic resolved from a topic alias if one was used.
    pub publish: Publish,
    /// `Some` in manual-ack mode for QoS 1/2: pass it to `Client::ack`.
    pub ack: Option<AckHandle>,
}

/// The broker's answer to one filter of a SUBSCRIBE.
pub type SubscribeResult = Result<QoS, ReasonCode>;

/// What happened; drained with `Client::poll_event`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// CONNACK accepted.
    Connected(Box<Connected>),
    /// The connection ended or could not be made; `reconnect_at` is when the
    /// client will try again (`None`: it will not).
    Disconnected {
        /// Why the connection ended.
        error: ConnectionError,
        /// When the client will try again (the driver's milliseconds), `None` if it will not.
        reconnect_at: Option<u64>,
    },
    /// An application message arrived.
    Message(Message),
    /// A QoS 1/2 publish finished (PUBACK or PUBCOMP), or any publish failed
    /// after it was accepted.
    PublishComplete {
        /// The token `Client::publish` returned.
        token: PublishToken,
        /// The broker's acknowledgement, or why the publish failed.
        result: Result<PublishDone, PublishError>,
    },
    /// SUBACK for a `subscribe` command.
    Subscribed {
        /// The token `Client::subscribe` returned.
        token: RequestToken,
        /// One result per filter, in the request's order.
        results: Vec<SubscribeResult>,
        /// The SUBACK's properties (reason string, user properties).
        properties: AckProperties,
    },
    /// UNSUBACK for an `unsubscribe` command (3.1.1: all `Success`).
    Unsubscribed {
        /// The token `Client::unsubscribe` returned.
        token: RequestToken,
        /// One reason code per filter, in the request's order.
        results: Vec<ReasonCode>,
        /// The UNSUBACK's properties (reason string, user properties).
        properties: AckProperties,
    },
    /// A `subscribe` or `unsubscribe` ended without the broker's answer: the
    /// client stopped (`disconnect`, or the reconnect policy gave up) first.
    /// It is dropped, not sent again on the next `connect`.
    RequestInterrupted {
        /// The token of the interrupted request.
        token: RequestToken,
        /// The reason code of the server's DISCONNECT (or refusing CONNACK)
        /// that ended the connection, when the server ended it.
        reason_code: Option<ReasonCode>,
    },
    /// The broker had lost the session, so the client subscribed again to the
    /// filters it had; one result per filter.
    SubscriptionsRestored {
        /// Each restored filter with the broker's answer to it.
        results: Vec<(String, SubscribeResult)>,
    },
    /// 5.0 enhanced authentication: the server sent AUTH (continue, or
    /// re-authentication finished). Answer a continue with `Client::auth`.
    Auth {
        /// The AUTH packet's reason code: `ContinueAuthentication` or `Success`.
        reason_code: ReasonCode,
        /// The AUTH packet's properties (method, data, reason string).
        properties: AuthProperties,
    },
    /// The session store failed to record a change; the in-memory session
    /// goes on, but it may not survive a restart.
    StoreFailed(StoreError),
    /// A 5.0 server sent Use Another Server (0x9C) or Server Moved (0x9D)
    /// with a Server Reference, in CONNACK or DISCONNECT. Comes just before
    /// the [`Event::Disconnected`] of that connection.
    Redirected(Redirect),
}

/// Longest chain of redirects followed without a connection in between; a
/// longer one is a loop, and the client goes back to its own servers.
pub const MAX_REDIRECTS: u8 = 5;

/// A server's redirection ([`Event::Redirected`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Redirect {
    /// `UseAnotherServer` (temporary: the next connection goes there, later
    /// ones back to the configured servers) or `ServerMoved` (permanent: the
    /// target replaces that server for the life of the client).
    pub reason_code: ReasonCode,
    /// The Server Reference as the server sent it.
    pub server_reference: String,
    /// The first usable reference, resolved against the current server
    /// ([`ServerAddress::resolve_reference`]); `None` if none is usable.
    pub target: Option<ServerAddress>,
    /// True when the next attempt goes to `target`, at once: the option
    /// `follow_redirects` is on, the application did not stop the client,
    /// and fewer than [`MAX_REDIRECTS`] redirects were followed since the
    /// last connection. Otherwise the reconnect policy goes on as for any
    /// other disconnect.
    pub followed: bool,
}

/// A successful publish completion.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PublishDone {
    /// Success, or NoMatchingSubscribers (5.0).
    pub reason_code: ReasonCode,
    /// The acknowledgement's properties (reason string, user properties).
    pub properties: AckProperties,
}
