//! The client state machine: bytes and time in; bytes, events, transport
//! commands and the next deadline out.
//!
//! One `Client` struct, its methods split along the protocol's parts:
//! [`lifecycle`] (connect, disconnect, pause, reconnect policy), [`link`]
//! (transport inputs, packet dispatch, CONNACK and server limits, timers,
//! AUTH), [`outbound`] (publishes and the in-flight window), [`inbound`]
//! (delivery, Receive Maximum, QoS 2 and manual acks) and [`requests`]
//! (SUBSCRIBE/UNSUBSCRIBE). This file holds the state, construction, the
//! outputs a driver polls and inspection.
//!
//! Connection states (`State`) and what moves them:
//!
//! | from | input | to |
//! |---|---|---|
//! | Idle | `connect` | Opening (`TransportCommand::Open`) |
//! | Opening | `handle_transport_open` | Connecting (CONNECT sent) |
//! | Opening, Connecting | transport failure, connect timeout | Waiting (policy retries) or Idle |
//! | Connecting | CONNACK accepted | Connected |
//! | Connecting | CONNACK refused | Idle (permanent) or Waiting |
//! | Connected | link lost, keep-alive timeout, server DISCONNECT | Waiting or Idle |
//! | Connected, Opening, Connecting | `disconnect`, `pause` | Closing (`TransportCommand::Close`) |
//! | Closing | transport closed | Idle, or Waiting when `connect` came meanwhile |
//! | Waiting | deadline passed, `network_changed` | Opening |
//! | Waiting | `disconnect`, `pause` | Idle |

mod inbound;
mod lifecycle;
mod link;
mod outbound;
mod persist;
mod requests;
mod tracing;

pub use persist::PersistBatch;
use persist::{EventQueue, Persistence};

use std::collections::VecDeque;

use crate::backoff::Backoff;
use crate::error::{
    ClientError, ConnectionError, ProtocolViolation, PublishError, TransportFailure,
};
use crate::event::{
    AckHandle, Connected, Event, Message, PublishDone, Redirect, RequestToken, SubscribeResult,
    TransportCommand, MAX_REDIRECTS,
};
use crate::options::{check_string, ClientOptions};
use crate::packet::{
    encode_client_packet, encode_publish, publish_encoded_len, AckProperties, Auth, AuthProperties,
    ConnAck, Connect, Decoder, Disconnect, DisconnectProperties, Packet, ProtocolVersion,
    PubResponse, Publish, QoS, ReasonCode, ServerPacketError, SubAck, Subscribe, SubscribeFilter,
    SubscribeProperties, UnsubAck, Unsubscribe, UnsubscribeProperties, WildcardPublish,
};
use crate::server::ServerAddress;
use crate::session::{
    next_packet_id_after, IdSet, OutboundPublish, OutboundStage, PublishToken, SessionChange,
    SessionState, StoredSubscription,
};
use crate::topic::{parse_shared, validate_topic_filter, validate_topic_name};
use crate::trace::{Direction, Severity, Tracer};

/// Where the connection stands, as seen by the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Not connected and not trying to (never started, or `disconnect` was called,
    /// or reconnecting is off or gave up).
    Disconnected,
    /// Waiting for the backoff delay to pass before the next attempt.
    WaitingToReconnect {
        /// Timestamp (ms) of the next attempt.
        at: u64,
    },
    /// Waiting for the transport to open or for CONNACK.
    Connecting,
    /// CONNACK accepted.
    Connected,
    /// Closing the transport.
    Closing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Waiting { at: u64 },
    Opening { since: u64 },
    Connecting { since: u64 },
    Connected,
    Closing { reconnect_at: Option<u64> },
}

/// A map as a deque of entries sorted by key, searched by binary search:
/// much less code in the wasm package than a `HashMap` (or a `BTreeMap`).
/// A deque, so that the common changes of the in-flight map move nothing:
/// new packet ids go at the back (or the front when the ids wrap around),
/// and acknowledgements, which come mostly in order, remove the oldest.
#[derive(Debug, Clone)]
struct SortedMap<K, V>(VecDeque<(K, V)>);

impl<K, V> Default for SortedMap<K, V> {
    fn default() -> Self {
        SortedMap(VecDeque::new())
    }
}

impl<K: Ord, V> SortedMap<K, V> {
    fn find(&self, key: &K) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.cmp(key))
    }

    fn contains_key(&self, key: &K) -> bool {
        self.find(key).is_ok()
    }

    fn get(&self, key: &K) -> Option<&V> {
        let index = self.find(key).ok()?;
        self.0.get(index).map(|(_, v)| v)
    }

    fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let index = self.find(key).ok()?;
        self.0.get_mut(index).map(|(_, v)| v)
    }

    /// Adds or replaces the value of `key`.
    fn insert(&mut self, key: K, value: V) {
        match self.find(&key) {
            Ok(index) => {
                if let Some(entry) = self.0.get_mut(index) {
                    entry.1 = value;
                }
            }
            Err(index) => self.0.insert(index, (key, value)),
        }
    }

    fn remove(&mut self, key: &K) -> Option<V> {
        let index = self.find(key).ok()?;
        self.0.remove(index).map(|(_, v)| v)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }
}

/// A map as a `Vec` sorted by key, for the topic alias maps: entries are
/// only added (the maps live for one connection), and a `Vec` is less code
/// than a deque.
#[derive(Debug, Clone)]
struct VecMap<K, V>(Vec<(K, V)>);

impl<K, V> Default for VecMap<K, V> {
    fn default() -> Self {
        VecMap(Vec::new())
    }
}

impl<K: Ord, V> VecMap<K, V> {
    fn get(&self, key: &K) -> Option<&V> {
        let index = self.0.binary_search_by(|(k, _)| k.cmp(key)).ok()?;
        self.0.get(index).map(|(_, v)| v)
    }

    /// Adds or replaces the value of `key`.
    fn insert(&mut self, key: K, value: V) {
        match self.0.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(index) => {
                if let Some(entry) = self.0.get_mut(index) {
                    entry.1 = value;
                }
            }
            Err(index) => self.0.insert(index, (key, value)),
        }
    }
}

/// Values that live for one connection.
#[derive(Debug, Default)]
struct Link {
    /// Counts connections, so that stale manual ack handles are recognised.
    id: u64,
    server_receive_maximum: u16,
    server_maximum_qos: QoS,
    retain_available: bool,
    server_maximum_packet_size: Option<u32>,
    server_topic_alias_maximum: u16,
    keep_alive_ms: u64,
    connected_at: Option<u64>,
    last_sent: u64,
    ping_sent: Option<u64>,
    outbound_aliases: VecMap<String, u16>,
    next_outbound_alias: u16,
    inbound_aliases: VecMap<u16, String>,
    /// Inbound QoS 1 delivered in manual-ack mode, not yet acknowledged.
    manual_qos1: IdSet,
    /// Inbound QoS 2 whose PUBLISH arrived on this connection, PUBREL not yet
    /// received: with `manual_qos1`, what counts against our Receive Maximum.
    /// Per connection, because the server's send quota starts afresh on each
    /// (MQTT 5.0 section 4.9); ids left over from an earlier connection would
    /// otherwise shrink the window until the server is disconnected for
    /// sending what it may.
    inbound_qos2: IdSet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RequestKind {
    Subscribe,
    Unsubscribe,
    /// Re-subscription after the broker lost the session.
    Restore,
}

#[derive(Debug, Clone)]
struct Request {
    token: RequestToken,
    kind: RequestKind,
    packet: Packet,
}

/// The sans-IO MQTT client.
///
/// A driver (a binding) owns the transport and a timer and loops:
///
/// 1. run every [`TransportCommand`] from [`poll_transport_command`](Self::poll_transport_command)
///    (open a connection to a server, or close it);
/// 2. write everything [`poll_transmit`](Self::poll_transmit) returns;
/// 3. hand every [`Event`] from [`poll_event`](Self::poll_event) to the application;
/// 4. wait for the earliest of: bytes read ([`handle_bytes`](Self::handle_bytes)),
///    the transport opening or closing ([`handle_transport_open`](Self::handle_transport_open),
///    [`handle_transport_closed`](Self::handle_transport_closed)), the deadline from
///    [`poll_timeout`](Self::poll_timeout) ([`handle_timeout`](Self::handle_timeout)),
///    or a command from the application; then go to 1.
///
/// Time is a monotonic timestamp in milliseconds, chosen by the driver; the
/// client never reads a clock.
///
/// ```
/// use midge_core::{Client, ClientOptions, Event, TransportCommand};
/// use midge_core::packet::{Publish, QoS};
///
/// let options = ClientOptions::new("mqtt://broker.local").unwrap();
/// let mut client = Client::new(options).unwrap();
/// client.connect(0).unwrap();
/// // The client asks for a transport...
/// assert!(matches!(client.poll_transport_command(), Some(TransportCommand::Open(_))));
/// client.handle_transport_open(5);
/// // ...and hands out CONNECT.
/// let connect = client.poll_transmit().unwrap();
/// assert_eq!(connect[0] >> 4, 1);
/// // The broker accepts (CONNACK, MQTT 5.0, no properties).
/// client.handle_bytes(10, &[0x20, 0x03, 0x00, 0x00, 0x00]);
/// assert!(matches!(client.poll_event(), Some(Event::Connected(_))));
/// // Publish at QoS 1: the PUBLISH goes out, PUBACK completes it.
/// let token = client.publish(11, Publish::new("greenhouse/temp", &b"21.5"[..], QoS::AtLeastOnce)).unwrap();
/// let publish = client.poll_transmit().unwrap();
/// assert_eq!(publish[0], 0x32);
/// client.handle_bytes(12, &[0x40, 0x02, 0x00, 0x01]);
/// match client.poll_event() {
///     Some(Event::PublishComplete { token: done, result }) => {
///         assert_eq!(done, token);
///         assert!(result.is_ok());
///     }
///     other => panic!("unexpected {other:?}"),
/// }
/// ```
pub struct Client {
    options: ClientOptions,
    /// Session changes handed to the driver, and what waits for them.
    persist: Persistence,
    state: State,
    backoff: Option<Backoff>,
    server_index: usize,
    /// A followed Use Another Server: where the next attempt goes instead
    /// of `servers[server_index]`.
    redirect: Option<ServerAddress>,
    /// Redirects followed since the last accepted connection.
    redirects_followed: u8,
    decoder: Decoder,
    tx: Vec<u8>,
    events: EventQueue,
    transport: VecDeque<TransportCommand>,
    link: Link,
    ever_connected: bool,
    /// `connect()` was called since the last CONNACK: the next connection is
    /// the application's, not an automatic reconnect.
    connect_called: bool,
    /// `disconnect` was called: commands are refused with
    /// [`ClientError::Closed`] until `connect`.
    closed: bool,
    /// `pause` closed the link: pending work waits for `connect` (resume).
    paused: bool,

    // The session (see `SessionState`).
    client_id: String,
    next_packet_id: u16,
    next_token: u64,
    next_request: u64,
    /// Keyed by packet id; ordered work (resend, snapshots) sorts by token.
    inflight: SortedMap<u16, OutboundPublish>,
    queue: VecDeque<OutboundPublish>,
    inbound_qos2: IdSet,
    /// Inbound QoS 2 delivered in manual-ack mode, PUBREC not yet allowed.
    manual_qos2: IdSet,
    subscriptions: Vec<StoredSubscription>,
    /// Sorted by packet id (a sorted `Vec`: few entries, and much less code
    /// than a `BTreeMap` in the wasm package).
    requests: Vec<(u16, Request)>,
    /// Inbound QoS 1/2 publishes accepted beyond our Receive Maximum.
    receive_maximum_overruns: u64,
    /// PUBACK, PUBREC and PUBCOMP for packet ids with no publish in that stage.
    unknown_acks: u64,
    /// Inbound PUBLISH dropped for a wildcard in the topic name.
    invalid_publishes_dropped: u64,
    tracer: Tracer,
    /// Why the last connection ended or the last attempt failed; cleared
    /// by the next CONNACK.
    last_disconnect: Option<ConnectionError>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("options", &self.options)
            .field("state", &self.state)
            .field("client_id", &self.client_id)
            .field("inflight", &self.inflight.len())
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client with a fresh in-memory session.
    pub fn new(options: ClientOptions) -> Result<Client, ClientError> {
        Client::with_session(options, SessionState::default())
    }

    /// A client that resumes `session` (e.g. read back from a file).
    pub fn with_session(
        options: ClientOptions,
        session: SessionState,
    ) -> Result<Client, ClientError> {
        options.validate()?;
        let backoff = options
            .reconnect
            .clone()
            .map(|policy| Backoff::new(policy, options.random_seed));
        let decoder = Decoder::new(options.protocol, options.effective_max_incoming());
        let mut client = Client {
            client_id: options.client_id.clone(),
            options,
            persist: Persistence::default(),
            state: State::Idle,
            backoff,
            server_index: 0,
            redirect: None,
            redirects_followed: 0,
            decoder,
            tx: Vec::new(),
            events: EventQueue::default(),
            transport: VecDeque::new(),
            link: Link::default(),
            ever_connected: false,
            connect_called: false,
            closed: false,
            paused: false,
            next_packet_id: 1,
            next_token: 1,
            next_request: 1,
            inflight: SortedMap::default(),
            queue: VecDeque::new(),
            inbound_qos2: IdSet::default(),
            manual_qos2: IdSet::default(),
            receive_maximum_overruns: 0,
            unknown_acks: 0,
            invalid_publishes_dropped: 0,
            tracer: Tracer::default(),
            last_disconnect: None,
            subscriptions: Vec::new(),
            requests: Vec::new(),
        };
        client.restore(session);
        // Every CONNECT this client will send must encode: checked once here
        // (what `validate` missed would otherwise be a CONNECT that never
        // leaves and a wait for the connect timeout).
        // (Encoded into a scratch buffer: `encoded_len` would link the
        // server packets' encoders into the wasm package.)
        encode_client_packet(
            &Packet::Connect(Box::new(client.build_connect())),
            client.options.protocol,
            &mut Vec::new(),
        )
        // A fixed rule, not the encoder's message: formatting it would add
        // 6 KB to the wasm package for an error `validate` already rules out.
        .map_err(|_| {
            ClientError::invalid(
                "options",
                "make a CONNECT over MQTT's limits (a string or binary field over 65,535 bytes, or a packet over 256 MiB)",
            )
        })?;
        Ok(client)
    }

    fn restore(&mut self, session: SessionState) {
        if self.client_id.is_empty() && !session.client_id.is_empty() {
            self.client_id = session.client_id;
        }
        if session.next_packet_id != 0 {
            self.next_packet_id = session.next_packet_id;
        }
        let mut next_token = session.next_token.max(1);
        for entry in session.outbound {
            next_token = next_token.max(entry.token.0.saturating_add(1));
            let id = entry.publish.packet_id;
            if entry.stage == OutboundStage::Queued || id == 0 || self.inflight.contains_key(&id) {
                let mut entry = entry;
                entry.stage = OutboundStage::Queued;
                entry.publish.packet_id = 0;
                self.queue.push_back(entry);
            } else {
                self.inflight.insert(id, entry);
            }
        }
        self.next_token = next_token;
        self.inbound_qos2 = session.inbound_qos2;
        self.subscriptions = session.subscriptions;
    }

    // ----------------------------------------------------------------------
    // Outputs

    /// The next thing the driver must do with the transport.
    ///
    /// May return something new after `connect`, `disconnect`, `network_changed`
    /// and every `handle_*` call; drain it after each of them.
    pub fn poll_transport_command(&mut self) -> Option<TransportCommand> {
        self.transport.pop_front()
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) next (a timestamp
    /// in ms), or `None` when no timer is needed.
    ///
    /// The answer may change after any command or `handle_*` call (sending a
    /// packet moves the keep-alive deadline), so ask again after each of them.
    /// Calling `handle_timeout` early is harmless.
    pub fn poll_timeout(&self) -> Option<u64> {
        match self.state {
            State::Waiting { at } => Some(at),
            State::Opening { since } | State::Connecting { since } => {
                Some(since.saturating_add(self.options.connect_timeout_ms))
            }
            State::Connected => match self.link.ping_sent {
                Some(sent) => Some(sent.saturating_add(self.options.ping_timeout_ms)),
                None if self.link.keep_alive_ms > 0 => {
                    Some(self.link.last_sent.saturating_add(self.link.keep_alive_ms))
                }
                None => None,
            },
            _ => None,
        }
    }

    // ----------------------------------------------------------------------
    // Inspection

    /// Where the connection stands.
    pub fn state(&self) -> ConnectionState {
        match self.state {
            State::Idle => ConnectionState::Disconnected,
            State::Waiting { at } => ConnectionState::WaitingToReconnect { at },
            State::Opening { .. } | State::Connecting { .. } => ConnectionState::Connecting,
            State::Connected => ConnectionState::Connected,
            State::Closing { .. } => ConnectionState::Closing,
        }
    }

    /// The options the client runs with.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// The client id in use (the server-assigned one once known).
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// QoS 1/2 publishes sent and not yet complete.
    pub fn inflight_len(&self) -> usize {
        self.inflight.len()
    }

    /// Reconnect attempts since the last stable connection: while
    /// [`ConnectionState::WaitingToReconnect`], the number of the attempt
    /// that is scheduled (1 for the first retry). Drivers show it as is
    /// ("retrying in 4 s, attempt 3"), so every runtime counts the same way.
    pub fn reconnect_attempt(&self) -> u32 {
        self.backoff.as_ref().map_or(0, Backoff::attempt)
    }

    /// Inbound QoS 1/2 publishes the server sent beyond our Receive Maximum
    /// since the client was made, accepted because
    /// [`ClientOptions::strict_receive_maximum`] is off (with it on, the
    /// first one ends the connection with 0x93 and is counted too).
    ///
    /// ```
    /// use midge_core::{Client, ClientOptions};
    /// let client = Client::new(ClientOptions::new("mqtt://127.0.0.1:1883")?)?;
    /// assert_eq!(client.receive_maximum_overruns(), 0);
    /// # Ok::<(), midge_core::ClientError>(())
    /// ```
    pub fn receive_maximum_overruns(&self) -> u64 {
        self.receive_maximum_overruns
    }

    /// PUBACK, PUBREC and PUBCOMP the server sent for a packet id that has
    /// no publish waiting for that ack (e.g. an ack resent after a
    /// reconnect), since the client was made. They are ignored (a PUBREC is
    /// answered with PUBREL 0x92, as section 4.3.3 asks) and the connection
    /// stays up, so a broker that resends acks cannot cause a reconnect storm.
    ///
    /// ```
    /// use midge_core::{Client, ClientOptions};
    /// let client = Client::new(ClientOptions::new("mqtt://127.0.0.1:1883")?)?;
    /// assert_eq!(client.unknown_acks(), 0);
    /// # Ok::<(), midge_core::ClientError>(())
    /// ```
    pub fn unknown_acks(&self) -> u64 {
        self.unknown_acks
    }

    /// Inbound PUBLISH packets the server sent with a wildcard (`+`, `#`)
    /// in the topic name, since the client was made (ActiveMQ's advisory
    /// messages on `ActiveMQ/Advisory/...` are such). Each is dropped with a
    /// warning in the trace and acknowledged (5.0: reason 0x90), and the
    /// connection stays up: a broker's one bad topic does not cost every
    /// other message a reconnect.
    ///
    /// ```
    /// use midge_core::{Client, ClientOptions};
    /// let client = Client::new(ClientOptions::new("mqtt://127.0.0.1:1883")?)?;
    /// assert_eq!(client.invalid_publishes_dropped(), 0);
    /// # Ok::<(), midge_core::ClientError>(())
    /// ```
    pub fn invalid_publishes_dropped(&self) -> u64 {
        self.invalid_publishes_dropped
    }

    /// Why the last connection ended or the last attempt failed, as the
    /// [`Event::Disconnected`] said; `None` before that and once a CONNACK
    /// is accepted again. Bindings show it beside the state ("waiting to
    /// reconnect: the transport closed") without keeping it themselves.
    ///
    /// ```
    /// use midge_core::{Client, ClientOptions, ConnectionError};
    /// let mut client = Client::new(ClientOptions::new("mqtt://127.0.0.1:1883")?)?;
    /// client.connect(0)?;
    /// client.handle_transport_closed(5);
    /// assert!(matches!(client.last_disconnect(), Some(ConnectionError::Transport(_))));
    /// # Ok::<(), midge_core::ClientError>(())
    /// ```
    pub fn last_disconnect(&self) -> Option<&ConnectionError> {
        self.last_disconnect.as_ref()
    }

    /// Publishes waiting for the connection or for room in the window.
    pub fn queued_len(&self) -> usize {
        self.queue.len()
    }

    /// Granted subscriptions (restored when the broker loses the session).
    pub fn subscriptions(&self) -> &[StoredSubscription] {
        &self.subscriptions
    }

    /// A snapshot of the session, e.g. to write to a file.
    pub fn session_state(&self) -> SessionState {
        let mut outbound: Vec<OutboundPublish> = self
            .inflight_by_token()
            .iter()
            .filter_map(|(_, id)| self.inflight.get(id).cloned())
            .collect();
        outbound.extend(self.queue.iter().cloned());
        SessionState {
            client_id: self.client_id.clone(),
            next_packet_id: self.next_packet_id,
            next_token: self.next_token,
            outbound,
            inbound_qos2: self.inbound_qos2.clone(),
            subscriptions: self.subscriptions.clone(),
        }
    }
}

/// Sorts `v` (heapsort, O(n log n)): `sort_unstable` instantiated its
/// quicksort and small-sort networks for the one element type sorted here,
/// 2 KB of wasm for a sort that only runs on snapshots and reconnects.
fn heap_sort<T: Ord + Copy>(v: &mut [T]) {
    fn sift_down<T: Ord + Copy>(v: &mut [T], mut root: usize, end: usize) {
        loop {
            let mut child = 2 * root + 1;
            if child >= end {
                return;
            }
            if child + 1 < end && v[child] < v[child + 1] {
                child += 1;
            }
            if v[root] >= v[child] {
                return;
            }
            v.swap(root, child);
            root = child;
        }
    }
    let n = v.len();
    for root in (0..n / 2).rev() {
        sift_down(v, root, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift_down(v, 0, end);
    }
}

/// "`filter`: rule", for the `filters` argument.
fn filter_error(filter: &str, rule: &str) -> ClientError {
    ClientError::invalid("filters", crate::text::cat(&["`", filter, "`: ", rule]))
}

fn stage_after_send(qos: QoS) -> OutboundStage {
    if qos == QoS::ExactlyOnce {
        OutboundStage::AwaitingPubRec
    } else {
        OutboundStage::AwaitingPubAck
    }
}

fn check_user_properties(props: &[(String, String)]) -> Result<(), ClientError> {
    for (name, value) in props {
        check_string("user_properties", name)?;
        check_string("user_properties", value)?;
    }
    Ok(())
}
