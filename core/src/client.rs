//! The client state machine: bytes and time in; bytes, events, transport
//! commands and the next deadline out.

use std::collections::VecDeque;

use crate::backoff::Backoff;
use crate::error::{
    ClientError, ConnectionError, ProtocolViolation, PublishError, TransportFailure,
};
use crate::event::{
    AckHandle, Connected, Event, Message, PublishDone, RequestToken, SubscribeResult,
    TransportCommand,
};
use crate::options::{check_string, ClientOptions};
use crate::packet::{
    encode_client_packet, encode_publish, publish_encoded_len, AckProperties, Auth, AuthProperties,
    ConnAck, Connect, Decoder, Disconnect, DisconnectProperties, Packet, ProtocolVersion,
    PubResponse, Publish, QoS, ReasonCode, ServerPacketError, SubAck, Subscribe, SubscribeFilter,
    SubscribeProperties, UnsubAck, Unsubscribe, UnsubscribeProperties,
};
use crate::session::{
    next_packet_id_after, IdSet, OutboundPublish, OutboundStage, PublishToken, SessionChange,
    SessionState, SessionStore, StoredSubscription,
};
use crate::topic::{parse_shared, validate_topic_filter, validate_topic_name};

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
    store: Option<Box<dyn SessionStore + Send>>,
    state: State,
    backoff: Option<Backoff>,
    server_index: usize,
    decoder: Decoder,
    tx: Vec<u8>,
    events: VecDeque<Event>,
    transport: VecDeque<TransportCommand>,
    link: Link,
    ever_connected: bool,
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
            store: None,
            state: State::Idle,
            backoff,
            server_index: 0,
            decoder,
            tx: Vec::with_capacity(4096),
            events: VecDeque::new(),
            transport: VecDeque::new(),
            link: Link::default(),
            ever_connected: false,
            closed: false,
            paused: false,
            next_packet_id: 1,
            next_token: 1,
            next_request: 1,
            inflight: SortedMap::default(),
            queue: VecDeque::new(),
            inbound_qos2: IdSet::default(),
            manual_qos2: IdSet::default(),
            subscriptions: Vec::new(),
            requests: Vec::new(),
        };
        client.restore(session);
        Ok(client)
    }

    /// A client whose session lives in `store`: loaded now, and every change
    /// recorded as it happens.
    ///
    /// ```
    /// use midge_core::{Client, ClientOptions};
    /// use midge_core::session::MemoryStore;
    ///
    /// let options = ClientOptions::new("mqtt://localhost").unwrap();
    /// let client = Client::with_store(options, Box::new(MemoryStore::default())).unwrap();
    /// assert_eq!(client.queued_len(), 0);
    /// ```
    pub fn with_store(
        options: ClientOptions,
        mut store: Box<dyn SessionStore + Send>,
    ) -> Result<Client, ClientError> {
        let session = store.load()?;
        let stored_id = session.client_id.clone();
        let mut client = Client::with_session(options, session)?;
        if client.client_id != stored_id {
            store.apply(SessionChange::ClientId(&client.client_id))?;
        }
        client.store = Some(store);
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

    /// Bytes to write to the transport, all pending packets in one buffer.
    ///
    /// May return something new after any command or `handle_*` call; drain it
    /// after each of them. Returns `None` when nothing is pending. Bytes handed
    /// out here are already recorded in the session store.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.tx.is_empty() {
            None
        } else {
            Some(std::mem::replace(&mut self.tx, Vec::with_capacity(4096)))
        }
    }

    /// Append the pending bytes to `out` (reusing the caller's buffer); returns
    /// how many were appended. Same contract as [`poll_transmit`](Self::poll_transmit).
    pub fn transmit_into(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.tx.len();
        out.extend_from_slice(&self.tx);
        self.tx.clear();
        n
    }

    /// The next event for the application.
    ///
    /// May return something new after any command or `handle_*` call; drain it
    /// after each of them.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
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

    // ----------------------------------------------------------------------
    // Commands

    /// Start connecting (and keep the connection up per the reconnect policy).
    ///
    /// Errors when already connecting or connected.
    pub fn connect(&mut self, now: u64) -> Result<(), ClientError> {
        match self.state {
            State::Idle | State::Waiting { .. } => {
                self.closed = false;
                self.paused = false;
                self.start_open(now);
                Ok(())
            }
            // disconnect()/pause() is still closing the link (a driver
            // lingers until the broker closes): open again once it has.
            // Refusing here lost a resume() that came right after pause().
            State::Closing { reconnect_at: None } => {
                self.closed = false;
                self.paused = false;
                self.state = State::Closing {
                    reconnect_at: Some(now),
                };
                Ok(())
            }
            _ => Err(ClientError::InvalidState {
                operation: "connect",
                state: "already connecting or connected",
            }),
        }
    }

    /// Publish a message. The PUBLISH goes out at once when connected and the
    /// in-flight window has room; otherwise it waits in the offline queue.
    ///
    /// `publish.packet_id` and `publish.dup` are ignored (the session assigns
    /// them). QoS 1/2 publishes end with [`Event::PublishComplete`]; QoS 0 ones
    /// are done when accepted, and only a failure after acceptance is reported.
    pub fn publish(&mut self, now: u64, mut publish: Publish) -> Result<PublishToken, ClientError> {
        self.ensure_open("publish")?;
        self.validate_publish(&publish)?;
        publish.packet_id = 0;
        publish.dup = false;
        if self.state == State::Connected {
            self.check_publish_allowed(&publish).map_err(|e| match e {
                PublishError::PacketTooLarge { size, maximum } => {
                    ClientError::PacketTooLarge { size, maximum }
                }
                PublishError::NotAllowed {
                    reason_code: ReasonCode::RetainNotSupported,
                } => ClientError::RetainNotSupported,
                _ => ClientError::QoSNotSupported {
                    requested: publish.qos,
                    maximum: self.link.server_maximum_qos,
                },
            })?;
        }
        let token = PublishToken(self.next_token);
        let mut entry = OutboundPublish {
            token,
            stage: OutboundStage::Queued,
            publish,
        };
        let can_send_now = self.state == State::Connected
            && self.queue.is_empty()
            && (entry.publish.qos == QoS::AtMostOnce || self.inflight.len() < self.window());
        if can_send_now {
            if entry.publish.qos == QoS::AtMostOnce {
                self.next_token += 1;
                self.transmit_publish(now, &entry.publish);
                return Ok(token);
            }
            if let Some(id) = self.allocate_packet_id() {
                entry.publish.packet_id = id;
                entry.stage = stage_after_send(entry.publish.qos);
                self.record(SessionChange::OutboundStored(&entry))?;
                self.next_token += 1;
                self.transmit_publish(now, &entry.publish);
                self.inflight.insert(id, entry);
                return Ok(token);
            }
        }
        if self.queue.len() >= self.options.max_queued_messages {
            return Err(ClientError::QueueFull {
                limit: self.options.max_queued_messages,
            });
        }
        self.record(SessionChange::OutboundStored(&entry))?;
        self.next_token += 1;
        self.queue.push_back(entry);
        Ok(token)
    }

    /// Subscribe to one or more filters in one SUBSCRIBE. Answered by
    /// [`Event::Subscribed`]; made while disconnected, it is sent on connect.
    pub fn subscribe(
        &mut self,
        now: u64,
        filters: Vec<SubscribeFilter>,
        properties: SubscribeProperties,
    ) -> Result<RequestToken, ClientError> {
        self.ensure_open("subscribe")?;
        if filters.is_empty() {
            return Err(ClientError::invalid(
                "filters",
                "at least one filter is required",
            ));
        }
        for f in &filters {
            validate_topic_filter(&f.filter).map_err(|e| filter_error(&f.filter, &e.message()))?;
            if f.options.no_local && parse_shared(&f.filter).is_some() {
                return Err(filter_error(
                    &f.filter,
                    "no_local is not allowed on a shared subscription",
                ));
            }
        }
        if let Some(id) = properties.subscription_identifier {
            if self.options.protocol == ProtocolVersion::V311 {
                return Err(ClientError::invalid(
                    "subscription_identifier",
                    "subscription identifiers need MQTT 5.0",
                ));
            }
            if id == 0 || id > 268_435_455 {
                return Err(ClientError::invalid(
                    "subscription_identifier",
                    "must be between 1 and 268,435,455",
                ));
            }
        }
        check_user_properties(&properties.user_properties)?;
        let packet_id = self.allocate_packet_id().ok_or(ClientError::InvalidState {
            operation: "subscribe",
            state: "every packet id is in use",
        })?;
        let packet = Packet::Subscribe(Subscribe {
            packet_id,
            filters,
            properties,
        });
        Ok(self.add_request(now, packet_id, RequestKind::Subscribe, packet))
    }

    /// Unsubscribe from one or more filters in one UNSUBSCRIBE. Answered by
    /// [`Event::Unsubscribed`].
    pub fn unsubscribe(
        &mut self,
        now: u64,
        filters: Vec<String>,
        properties: UnsubscribeProperties,
    ) -> Result<RequestToken, ClientError> {
        self.ensure_open("unsubscribe")?;
        if filters.is_empty() {
            return Err(ClientError::invalid(
                "filters",
                "at least one filter is required",
            ));
        }
        for f in &filters {
            validate_topic_filter(f).map_err(|e| filter_error(f, &e.message()))?;
        }
        check_user_properties(&properties.user_properties)?;
        let packet_id = self.allocate_packet_id().ok_or(ClientError::InvalidState {
            operation: "unsubscribe",
            state: "every packet id is in use",
        })?;
        let packet = Packet::Unsubscribe(Unsubscribe {
            packet_id,
            filters,
            properties,
        });
        Ok(self.add_request(now, packet_id, RequestKind::Unsubscribe, packet))
    }

    /// Acknowledge an inbound QoS 1/2 message in manual-ack mode.
    pub fn ack(&mut self, now: u64, handle: AckHandle) -> Result<(), ClientError> {
        self.ensure_open("acknowledge")?;
        let id = handle.packet_id;
        match handle.qos {
            QoS::AtLeastOnce => {
                if handle.connection != self.link.id || !self.link.manual_qos1.remove(&id) {
                    return Err(ClientError::AckNotPending { packet_id: id });
                }
                if self.state == State::Connected {
                    self.send(now, &Packet::PubAck(PubResponse::new(id)));
                }
            }
            QoS::ExactlyOnce => {
                if !self.manual_qos2.remove(&id) {
                    return Err(ClientError::AckNotPending { packet_id: id });
                }
                self.inbound_qos2.insert(id);
                self.record_or_report(SessionChange::InboundQos2Added(id));
                // Not connected: the server resends the PUBLISH after the
                // reconnect and finds the id acknowledged.
                if self.state == State::Connected {
                    self.send(now, &Packet::PubRec(PubResponse::new(id)));
                }
            }
            QoS::AtMostOnce => return Err(ClientError::AckNotPending { packet_id: id }),
        }
        Ok(())
    }

    /// Close the connection gracefully with DISCONNECT (5.0: with `reason_code`
    /// and `properties`) and stop reconnecting. The session stays; `connect`
    /// resumes it.
    pub fn disconnect(
        &mut self,
        now: u64,
        reason_code: ReasonCode,
        properties: DisconnectProperties,
    ) -> Result<(), ClientError> {
        if !(reason_code == ReasonCode::Success
            || reason_code == ReasonCode::DisconnectWithWillMessage
            || reason_code.is_error())
        {
            return Err(ClientError::invalid(
                "reason_code",
                crate::text::cat(&[
                    "0x",
                    &crate::text::hex(reason_code.code()),
                    " is not a DISCONNECT reason code",
                ]),
            ));
        }
        if properties.server_reference.is_some() {
            return Err(ClientError::invalid(
                "properties.server_reference",
                "only the server may send a server reference",
            ));
        }
        let connect_expiry = self
            .options
            .connect_properties
            .session_expiry_interval
            .unwrap_or(0);
        if connect_expiry == 0 && properties.session_expiry_interval.is_some_and(|e| e != 0) {
            return Err(ClientError::invalid(
                "properties.session_expiry_interval",
                "cannot be set above 0 when CONNECT had a session expiry of 0",
            ));
        }
        check_user_properties(&properties.user_properties)?;
        self.paused = false;
        self.stop(now, reason_code, properties);
        Ok(())
    }

    /// Close the connection like [`disconnect`](Self::disconnect) (DISCONNECT
    /// with reason Success) but keep every pending operation pending: nothing
    /// is interrupted, new commands are accepted and wait in the session, and
    /// [`connect`](Self::connect) resumes. For an app going to the background.
    pub fn pause(&mut self, now: u64) {
        self.paused = true;
        self.stop(now, ReasonCode::Success, DisconnectProperties::default());
    }

    fn stop(&mut self, now: u64, reason_code: ReasonCode, properties: DisconnectProperties) {
        let had_link = match self.state {
            State::Connected => {
                self.send(
                    now,
                    &Packet::Disconnect(Disconnect {
                        reason_code,
                        properties,
                    }),
                );
                self.transport.push_back(TransportCommand::Close);
                self.state = State::Closing { reconnect_at: None };
                true
            }
            State::Opening { .. } | State::Connecting { .. } => {
                self.transport.push_back(TransportCommand::Close);
                self.state = State::Closing { reconnect_at: None };
                true
            }
            State::Waiting { .. } => {
                self.state = State::Idle;
                true
            }
            State::Closing { .. } => {
                self.state = State::Closing { reconnect_at: None };
                false
            }
            State::Idle => false,
        };
        // The outcomes first, then the event that says the client stopped:
        // a driver that tears down on that event has relayed them all.
        if !self.paused && !self.closed {
            self.closed = true;
            self.interrupt_pending();
        }
        if had_link {
            self.events.push_back(Event::Disconnected {
                error: ConnectionError::Local,
                reconnect_at: None,
            });
        }
    }

    /// Refuse commands once the client is closed.
    fn ensure_open(&self, operation: &'static str) -> Result<(), ClientError> {
        if self.closed {
            return Err(ClientError::Closed { operation });
        }
        Ok(())
    }

    /// The client stopped (until `connect`): every operation that waits for
    /// the broker ends now, with the outcome SEMANTICS.md gives. QoS 1/2
    /// publishes stay in the session (sent again on `connect`);
    /// SUBSCRIBE/UNSUBSCRIBE requests are dropped.
    fn interrupt_pending(&mut self) {
        for (token, _) in self.inflight_by_token() {
            self.events.push_back(Event::PublishComplete {
                token,
                result: Err(PublishError::Interrupted),
            });
        }
        for entry in &self.queue {
            if entry.publish.qos != QoS::AtMostOnce {
                self.events.push_back(Event::PublishComplete {
                    token: entry.token,
                    result: Err(PublishError::Interrupted),
                });
            }
        }
        for (_, request) in std::mem::take(&mut self.requests) {
            if request.kind != RequestKind::Restore {
                self.events.push_back(Event::RequestInterrupted {
                    token: request.token,
                });
            }
        }
    }

    /// True while the broker owes an answer the application may be waiting
    /// for (CONNACK, PUBACK/PUBREC/PUBCOMP, SUBACK/UNSUBACK, PINGRESP).
    ///
    /// The backpressure rule every driver follows: when a message consumer
    /// is behind, stop reading the transport, except while this is true,
    /// since the answer may be queued behind the unread messages and the
    /// consumer may be the one waiting for it (a handler that publishes).
    /// Drivers hold the messages read meanwhile, in order.
    pub fn awaiting_server(&self) -> bool {
        match self.state {
            State::Connecting { .. } => true,
            State::Connected => {
                self.inflight.len() != 0
                    || !self.requests.is_empty()
                    || self.link.ping_sent.is_some()
            }
            _ => false,
        }
    }

    /// The network changed (Wi-Fi to cellular, back online): when waiting to
    /// reconnect, try now instead of after the backoff delay; when connected,
    /// probe the link with a PINGREQ.
    pub fn network_changed(&mut self, now: u64) {
        match self.state {
            State::Waiting { .. } => self.start_open(now),
            State::Connected if self.link.ping_sent.is_none() => {
                self.send(now, &Packet::PingReq);
                self.link.ping_sent = Some(now);
            }
            _ => {}
        }
    }

    /// Answer a 5.0 AUTH challenge (reason Continue authentication).
    /// Without an `authentication_method`, the CONNECT's is used (the
    /// exchange must keep the method it started with).
    pub fn auth(&mut self, now: u64, properties: AuthProperties) -> Result<(), ClientError> {
        self.send_auth(now, ReasonCode::ContinueAuthentication, properties)
    }

    /// Start 5.0 re-authentication on the live connection.
    pub fn reauthenticate(
        &mut self,
        now: u64,
        properties: AuthProperties,
    ) -> Result<(), ClientError> {
        if self.state != State::Connected {
            return Err(ClientError::InvalidState {
                operation: "re-authenticate",
                state: "not connected",
            });
        }
        self.send_auth(now, ReasonCode::ReAuthenticate, properties)
    }

    fn send_auth(
        &mut self,
        now: u64,
        reason_code: ReasonCode,
        mut properties: AuthProperties,
    ) -> Result<(), ClientError> {
        self.ensure_open("send AUTH")?;
        if self.options.protocol != ProtocolVersion::V5 {
            return Err(ClientError::invalid("protocol", "AUTH needs MQTT 5.0"));
        }
        if properties.authentication_method.is_none() {
            properties.authentication_method = self
                .options
                .connect_properties
                .authentication_method
                .clone();
        }
        if properties.authentication_method.is_none() {
            return Err(ClientError::invalid(
                "properties.authentication_method",
                "AUTH must name the authentication method (none given, none in the CONNECT)",
            ));
        }
        if !matches!(self.state, State::Connecting { .. } | State::Connected) {
            return Err(ClientError::InvalidState {
                operation: "send AUTH",
                state: "not connected",
            });
        }
        self.send(
            now,
            &Packet::Auth(Auth {
                reason_code,
                properties,
            }),
        );
        Ok(())
    }

    // ----------------------------------------------------------------------
    // Inputs from the driver

    /// The transport asked for by [`TransportCommand::Open`] is open: CONNECT
    /// goes out.
    pub fn handle_transport_open(&mut self, now: u64) {
        if !matches!(self.state, State::Opening { .. }) {
            // Opened after the user gave up on it.
            self.transport.push_back(TransportCommand::Close);
            return;
        }
        self.tx.clear();
        self.decoder.clear();
        let id = self.link.id + 1;
        self.link = Link {
            id,
            server_receive_maximum: u16::MAX,
            server_maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            next_outbound_alias: 1,
            ..Link::default()
        };
        let connect = self.build_connect();
        self.send(now, &Packet::Connect(Box::new(connect)));
        self.state = State::Connecting { since: now };
    }

    /// The transport closed, or failed to open, and the driver cannot say
    /// why (as a browser's WebSocket cannot). Same as
    /// [`handle_transport_failed`](Self::handle_transport_failed) with
    /// [`TransportFailure::closed`].
    pub fn handle_transport_closed(&mut self, now: u64) {
        self.handle_transport_failed(now, TransportFailure::closed());
    }

    /// The transport closed, or failed to open, for the reason given: it is
    /// the error of the [`Event::Disconnected`] that follows, so the driver
    /// keeps nothing on the side. A [`TransportFailureKind::Config`] failure
    /// is permanent (no reconnect).
    pub fn handle_transport_failed(&mut self, now: u64, failure: TransportFailure) {
        match self.state {
            State::Idle | State::Waiting { .. } => {}
            State::Closing { reconnect_at } => {
                self.state = match reconnect_at {
                    Some(at) => State::Waiting { at },
                    None => State::Idle,
                };
            }
            State::Opening { .. } | State::Connecting { .. } | State::Connected => {
                let error = ConnectionError::Transport(failure);
                let reconnect_at = self.schedule_reconnect(now, &error);
                self.state = match reconnect_at {
                    Some(at) => State::Waiting { at },
                    None => State::Idle,
                };
                if reconnect_at.is_none() {
                    self.interrupt_pending();
                }
                self.events.push_back(Event::Disconnected {
                    error,
                    reconnect_at,
                });
            }
        }
        self.tx.clear();
        self.decoder.clear();
        self.link.ping_sent = None;
        self.link.manual_qos1.clear();
    }

    /// Bytes read from the transport, split anywhere.
    pub fn handle_bytes(&mut self, now: u64, bytes: &[u8]) {
        if !matches!(self.state, State::Connecting { .. } | State::Connected) {
            return;
        }
        self.decoder.feed(bytes);
        loop {
            match self.decoder.next_server_packet() {
                Ok(Some(packet)) => {
                    self.handle_packet(now, packet);
                    if !matches!(self.state, State::Connecting { .. } | State::Connected) {
                        return;
                    }
                }
                Ok(None) => return,
                Err(ServerPacketError::Decode(e)) => {
                    self.violation(now, ProtocolViolation::Decode(e));
                    return;
                }
                Err(ServerPacketError::ClientPacket(packet)) => {
                    self.client_packet(now, packet);
                    return;
                }
            }
        }
    }

    /// The deadline from [`poll_timeout`](Self::poll_timeout) passed: send a
    /// PINGREQ, give up on a silent server, or start the next reconnect attempt.
    pub fn handle_timeout(&mut self, now: u64) {
        match self.state {
            State::Waiting { at } if now >= at => self.start_open(now),
            State::Opening { since } | State::Connecting { since }
                if now >= since.saturating_add(self.options.connect_timeout_ms) =>
            {
                self.fail(
                    now,
                    ConnectionError::ConnectTimeout {
                        timeout_ms: self.options.connect_timeout_ms,
                    },
                    None,
                );
            }
            State::Connected => match self.link.ping_sent {
                Some(sent) if now >= sent.saturating_add(self.options.ping_timeout_ms) => {
                    self.fail(
                        now,
                        ConnectionError::KeepAliveTimeout {
                            timeout_ms: self.options.ping_timeout_ms,
                        },
                        Some(ReasonCode::KeepAliveTimeout),
                    );
                }
                None if self.link.keep_alive_ms > 0
                    && now >= self.link.last_sent.saturating_add(self.link.keep_alive_ms) =>
                {
                    self.send(now, &Packet::PingReq);
                    self.link.ping_sent = Some(now);
                }
                _ => {}
            },
            _ => {}
        }
    }

    // ----------------------------------------------------------------------
    // Packet handling

    fn handle_packet(&mut self, now: u64, packet: Packet) {
        let connecting = matches!(self.state, State::Connecting { .. });
        let v5 = self.options.protocol == ProtocolVersion::V5;
        match packet {
            Packet::ConnAck(ack) if connecting => self.on_connack(now, *ack),
            Packet::Auth(auth) if v5 => self.events.push_back(Event::Auth {
                reason_code: auth.reason_code,
                properties: auth.properties,
            }),
            Packet::Disconnect(d) if v5 => {
                let error = ConnectionError::ServerDisconnect {
                    reason_code: d.reason_code,
                    properties: Box::new(d.properties),
                };
                self.fail(now, error, None);
            }
            packet if connecting => self.client_packet(now, packet.name()),
            Packet::Publish(p) => self.on_publish(now, p),
            Packet::PubAck(ack) => self.on_puback(now, ack),
            Packet::PubRec(rec) => self.on_pubrec(now, rec),
            Packet::PubRel(rel) => self.on_pubrel(now, rel),
            Packet::PubComp(comp) => self.on_pubcomp(now, comp),
            Packet::SubAck(ack) => self.on_suback(now, ack),
            Packet::UnsubAck(ack) => self.on_unsuback(now, ack),
            Packet::PingResp => self.link.ping_sent = None,
            Packet::ConnAck(_) => self.violation(
                now,
                ProtocolViolation::UnexpectedPacket {
                    packet: "CONNACK",
                    context: "after the connection was accepted",
                },
            ),
            other => self.client_packet(now, other.name()),
        }
    }

    /// A packet only clients send (or not in this protocol version), or any
    /// packet but CONNACK, AUTH and DISCONNECT before CONNACK.
    fn client_packet(&mut self, now: u64, packet: &'static str) {
        let context = if matches!(self.state, State::Connecting { .. }) {
            "before CONNACK"
        } else {
            "(only clients send it, or not in this protocol version)"
        };
        self.violation(now, ProtocolViolation::UnexpectedPacket { packet, context });
    }

    fn on_connack(&mut self, now: u64, ack: ConnAck) {
        if ack.reason_code.is_error() {
            let error = ConnectionError::Refused {
                reason_code: ack.reason_code,
                properties: Box::new(ack.properties),
            };
            self.fail(now, error, None);
            return;
        }
        let p = &ack.properties;
        self.link.server_receive_maximum = p.receive_maximum.unwrap_or(u16::MAX);
        self.link.server_maximum_qos = p.maximum_qos.unwrap_or(QoS::ExactlyOnce);
        self.link.retain_available = p.retain_available.unwrap_or(true);
        self.link.server_maximum_packet_size = p.maximum_packet_size;
        self.link.server_topic_alias_maximum = p.topic_alias_maximum.unwrap_or(0);
        let keep_alive = p.server_keep_alive.unwrap_or(self.options.keep_alive_secs);
        self.link.keep_alive_ms = u64::from(keep_alive) * 1000;
        self.link.connected_at = Some(now);
        if let Some(id) = &p.assigned_client_identifier {
            if *id != self.client_id {
                self.client_id = id.clone();
                self.record_or_report(SessionChange::ClientId(id));
            }
        }
        self.state = State::Connected;
        let reconnected = self.ever_connected;
        self.ever_connected = true;
        let server = self.current_server();
        self.events.push_back(Event::Connected(Box::new(Connected {
            server,
            session_present: ack.session_present,
            reason_code: ack.reason_code,
            client_id: self.client_id.clone(),
            keep_alive_secs: keep_alive,
            properties: ack.properties,
            reconnected,
        })));

        if ack.session_present {
            self.resend_inflight(now);
        } else {
            self.session_lost();
        }
        // SUBSCRIBE/UNSUBSCRIBE never acknowledged (or made while offline).
        // As `send`, encoded in place: cloning the packets first instantiated
        // `Packet::clone` here (2 KB of wasm).
        for (_, request) in &self.requests {
            if encode_client_packet(&request.packet, self.options.protocol, &mut self.tx).is_ok() {
                self.link.last_sent = now;
            }
        }
        if !ack.session_present && !self.subscriptions.is_empty() {
            self.restore_subscriptions(now);
        }
        self.pump(now);
    }

    /// The server kept our session: resend what it has not acknowledged, in
    /// the order first sent.
    fn resend_inflight(&mut self, now: u64) {
        for (_, id) in self.inflight_by_token() {
            let Some(stage) = self.inflight.get(&id).map(|e| e.stage) else {
                continue;
            };
            match stage {
                OutboundStage::AwaitingPubComp => {
                    self.send(now, &Packet::PubRel(PubResponse::new(id)));
                }
                _ => {
                    if let Some(entry) = self.inflight.get_mut(&id) {
                        entry.publish.dup = true;
                        let publish = entry.publish.clone();
                        self.transmit_publish(now, &publish);
                    }
                }
            }
        }
    }

    /// The server has no session for us: nothing it owed us is pending, and
    /// what we sent but it never acknowledged goes again as new messages.
    fn session_lost(&mut self) {
        for id in std::mem::take(&mut self.inbound_qos2) {
            self.record_or_report(SessionChange::InboundQos2Removed(id));
        }
        self.manual_qos2.clear();
        let order = self.inflight_by_token();
        // Taken out of slots (sorted by packet id, as the map) rather than
        // removed one by one: removing from the middle of the map would move
        // the entries after it. Newest first, each to the front of the queue.
        let mut slots: Vec<(u16, Option<OutboundPublish>)> = std::mem::take(&mut self.inflight)
            .0
            .into_iter()
            .map(|(id, entry)| (id, Some(entry)))
            .collect();
        for (_, id) in order.into_iter().rev() {
            let Ok(index) = slots.binary_search_by_key(&id, |(id, _)| *id) else {
                continue;
            };
            let Some(mut entry) = slots[index].1.take() else {
                continue;
            };
            if entry.stage == OutboundStage::AwaitingPubComp {
                // PUBREC came back: the server had taken ownership and delivered it.
                self.record_or_report(SessionChange::OutboundRemoved(entry.token));
                self.events.push_back(Event::PublishComplete {
                    token: entry.token,
                    result: Ok(PublishDone::default()),
                });
            } else {
                entry.stage = OutboundStage::Queued;
                entry.publish.packet_id = 0;
                entry.publish.dup = false;
                self.record_or_report(SessionChange::OutboundStored(&entry));
                self.queue.push_front(entry);
            }
        }
    }

    fn restore_subscriptions(&mut self, now: u64) {
        // One SUBSCRIBE per subscription identifier: the property covers the
        // whole packet.
        // Sorted by identifier, as a sorted `Vec` (less code than a `BTreeMap`).
        let mut groups: Vec<(Option<u32>, Vec<SubscribeFilter>)> = Vec::new();
        for sub in &self.subscriptions {
            let key = sub.subscription_identifier;
            let i = match groups.binary_search_by_key(&key, |(k, _)| *k) {
                Ok(i) => i,
                Err(i) => {
                    groups.insert(i, (key, Vec::new()));
                    i
                }
            };
            groups[i].1.push(sub.filter.clone());
        }
        for (subscription_identifier, filters) in groups {
            let Some(packet_id) = self.allocate_packet_id() else {
                return;
            };
            let packet = Packet::Subscribe(Subscribe {
                packet_id,
                filters,
                properties: SubscribeProperties {
                    subscription_identifier,
                    user_properties: Vec::new(),
                },
            });
            self.add_request(now, packet_id, RequestKind::Restore, packet);
        }
    }

    fn on_publish(&mut self, now: u64, mut publish: Publish) {
        if let Some(alias) = publish.properties.topic_alias {
            let maximum = self.options.effective_topic_alias_maximum();
            if alias == 0 || alias > maximum {
                self.violation(
                    now,
                    ProtocolViolation::TopicAliasInvalid {
                        alias,
                        rule: "must be between 1 and our topic alias maximum",
                    },
                );
                return;
            }
            if publish.topic.is_empty() {
                match self.link.inbound_aliases.get(&alias) {
                    Some(topic) => publish.topic = topic.clone(),
                    None => {
                        self.violation(now, ProtocolViolation::TopicAliasUnknown { alias });
                        return;
                    }
                }
            } else {
                self.link
                    .inbound_aliases
                    .insert(alias, publish.topic.clone());
            }
        } else if publish.topic.is_empty() {
            self.violation(now, ProtocolViolation::MissingTopic);
            return;
        }
        let id = publish.packet_id;
        let manual = self.options.manual_acks;
        match publish.qos {
            QoS::AtMostOnce => self.deliver(publish, None),
            QoS::AtLeastOnce => {
                if manual {
                    if !self.link.manual_qos1.contains(&id) && !self.inbound_window_has_room() {
                        self.receive_maximum_exceeded(now);
                        return;
                    }
                    self.link.manual_qos1.insert(id);
                    let handle = self.ack_handle(id, QoS::AtLeastOnce);
                    self.deliver(publish, Some(handle));
                } else {
                    self.send(now, &Packet::PubAck(PubResponse::new(id)));
                    self.deliver(publish, None);
                }
            }
            QoS::ExactlyOnce => {
                if !self.link.inbound_qos2.contains(&id) {
                    // A resend of an earlier connection's message takes a
                    // place in this connection's window too.
                    if !self.inbound_window_has_room() {
                        self.receive_maximum_exceeded(now);
                        return;
                    }
                    self.link.inbound_qos2.insert(id);
                }
                if self.inbound_qos2.contains(&id) {
                    // A resend of a message already delivered: acknowledge again only.
                    self.send(now, &Packet::PubRec(PubResponse::new(id)));
                    return;
                }
                if self.manual_qos2.contains(&id) {
                    // Delivered, the application has not acknowledged it yet.
                    return;
                }
                if manual {
                    self.manual_qos2.insert(id);
                    let handle = self.ack_handle(id, QoS::ExactlyOnce);
                    self.deliver(publish, Some(handle));
                } else {
                    self.inbound_qos2.insert(id);
                    self.record_or_report(SessionChange::InboundQos2Added(id));
                    self.send(now, &Packet::PubRec(PubResponse::new(id)));
                    self.deliver(publish, None);
                }
            }
        }
    }

    fn inbound_window_has_room(&self) -> bool {
        let unacked = self.link.manual_qos1.len() + self.link.inbound_qos2.len();
        unacked < usize::from(self.options.effective_receive_maximum())
    }

    fn receive_maximum_exceeded(&mut self, now: u64) {
        let maximum = self.options.effective_receive_maximum();
        self.violation(now, ProtocolViolation::ReceiveMaximumExceeded { maximum });
    }

    fn ack_handle(&self, packet_id: u16, qos: QoS) -> AckHandle {
        AckHandle {
            packet_id,
            qos,
            connection: self.link.id,
        }
    }

    fn deliver(&mut self, publish: Publish, ack: Option<AckHandle>) {
        self.events
            .push_back(Event::Message(Message { publish, ack }));
    }

    fn on_puback(&mut self, now: u64, ack: PubResponse) {
        let id = ack.packet_id;
        if self.inflight.get(&id).map(|e| e.stage) != Some(OutboundStage::AwaitingPubAck) {
            self.violation(
                now,
                ProtocolViolation::UnknownPacketId {
                    packet: "PUBACK",
                    packet_id: id,
                },
            );
            return;
        }
        if let Some(entry) = self.inflight.remove(&id) {
            self.complete(entry.token, ack.reason_code, ack.properties);
        }
        self.pump(now);
    }

    fn on_pubrec(&mut self, now: u64, rec: PubResponse) {
        let id = rec.packet_id;
        match self.inflight.get(&id).map(|e| e.stage) {
            Some(OutboundStage::AwaitingPubRec) => {
                if rec.reason_code.is_error() {
                    if let Some(entry) = self.inflight.remove(&id) {
                        self.complete(entry.token, rec.reason_code, rec.properties);
                    }
                    self.pump(now);
                    return;
                }
                if let Some(entry) = self.inflight.get_mut(&id) {
                    entry.stage = OutboundStage::AwaitingPubComp;
                }
                if let Some(entry) = self.inflight.get(&id) {
                    let entry = entry.clone();
                    self.record_or_report(SessionChange::OutboundStored(&entry));
                }
                self.send(now, &Packet::PubRel(PubResponse::new(id)));
            }
            Some(OutboundStage::AwaitingPubComp) => {
                self.send(now, &Packet::PubRel(PubResponse::new(id)));
            }
            _ => {
                // Spec 4.3.3: answer an unknown PUBREC with PUBREL "Packet
                // Identifier not found" rather than closing.
                let mut rel = PubResponse::new(id);
                rel.reason_code = ReasonCode::PacketIdentifierNotFound;
                self.send(now, &Packet::PubRel(rel));
            }
        }
    }

    fn on_pubrel(&mut self, now: u64, rel: PubResponse) {
        let id = rel.packet_id;
        self.link.inbound_qos2.remove(&id);
        if self.inbound_qos2.remove(&id) {
            self.record_or_report(SessionChange::InboundQos2Removed(id));
            self.send(now, &Packet::PubComp(PubResponse::new(id)));
        } else if self.manual_qos2.contains(&id) {
            self.violation(
                now,
                ProtocolViolation::UnexpectedPacket {
                    packet: "PUBREL",
                    context: "before our PUBREC",
                },
            );
        } else {
            let mut comp = PubResponse::new(id);
            comp.reason_code = ReasonCode::PacketIdentifierNotFound;
            self.send(now, &Packet::PubComp(comp));
        }
    }

    fn on_pubcomp(&mut self, now: u64, comp: PubResponse) {
        let id = comp.packet_id;
        if self.inflight.get(&id).map(|e| e.stage) != Some(OutboundStage::AwaitingPubComp) {
            self.violation(
                now,
                ProtocolViolation::UnknownPacketId {
                    packet: "PUBCOMP",
                    packet_id: id,
                },
            );
            return;
        }
        if let Some(entry) = self.inflight.remove(&id) {
            self.complete(entry.token, comp.reason_code, comp.properties);
        }
        self.pump(now);
    }

    fn complete(
        &mut self,
        token: PublishToken,
        reason_code: ReasonCode,
        properties: AckProperties,
    ) {
        self.record_or_report(SessionChange::OutboundRemoved(token));
        let result = if reason_code.is_error() {
            Err(PublishError::Rejected {
                reason_code,
                properties,
            })
        } else {
            Ok(PublishDone {
                reason_code,
                properties,
            })
        };
        self.events
            .push_back(Event::PublishComplete { token, result });
    }

    fn on_suback(&mut self, now: u64, ack: SubAck) {
        let Some(request) = self.take_request(now, ack.packet_id, "SUBACK") else {
            return;
        };
        let Packet::Subscribe(subscribe) = request.packet else {
            self.violation(
                now,
                ProtocolViolation::UnexpectedPacket {
                    packet: "SUBACK",
                    context: "for an UNSUBSCRIBE",
                },
            );
            return;
        };
        if ack.reason_codes.len() != subscribe.filters.len() {
            self.violation(
                now,
                ProtocolViolation::SubAckCountMismatch {
                    expected: subscribe.filters.len(),
                    got: ack.reason_codes.len(),
                },
            );
            return;
        }
        // The results as each event wants them, built directly (mapping one
        // list into the other instantiated an iterator chain per element type).
        let restore = matches!(request.kind, RequestKind::Restore);
        let mut results: Vec<SubscribeResult> = Vec::new();
        let mut restored: Vec<(String, SubscribeResult)> = Vec::new();
        for (filter, code) in subscribe.filters.into_iter().zip(ack.reason_codes) {
            let result: SubscribeResult = code.granted_qos().ok_or(code);
            let name = if restore {
                filter.filter.clone()
            } else {
                String::new()
            };
            if result.is_ok() {
                let sub = StoredSubscription {
                    filter,
                    subscription_identifier: subscribe.properties.subscription_identifier,
                };
                self.record_or_report(SessionChange::SubscriptionStored(&sub));
                match self
                    .subscriptions
                    .iter_mut()
                    .find(|s| s.filter.filter == sub.filter.filter)
                {
                    Some(existing) => *existing = sub,
                    None => self.subscriptions.push(sub),
                }
            }
            if restore {
                restored.push((name, result));
            } else {
                results.push(result);
            }
        }
        if restore {
            self.events
                .push_back(Event::SubscriptionsRestored { results: restored });
        } else {
            self.events.push_back(Event::Subscribed {
                token: request.token,
                results,
                properties: ack.properties,
            });
        }
    }

    fn on_unsuback(&mut self, now: u64, ack: UnsubAck) {
        let Some(request) = self.take_request(now, ack.packet_id, "UNSUBACK") else {
            return;
        };
        let Packet::Unsubscribe(unsubscribe) = request.packet else {
            self.violation(
                now,
                ProtocolViolation::UnexpectedPacket {
                    packet: "UNSUBACK",
                    context: "for a SUBSCRIBE",
                },
            );
            return;
        };
        let results = if self.options.protocol == ProtocolVersion::V311 {
            vec![ReasonCode::Success; unsubscribe.filters.len()]
        } else {
            ack.reason_codes
        };
        if results.len() != unsubscribe.filters.len() {
            self.violation(
                now,
                ProtocolViolation::SubAckCountMismatch {
                    expected: unsubscribe.filters.len(),
                    got: results.len(),
                },
            );
            return;
        }
        for (filter, code) in unsubscribe.filters.iter().zip(&results) {
            if !code.is_error() {
                self.subscriptions.retain(|s| s.filter.filter != *filter);
                self.record_or_report(SessionChange::SubscriptionRemoved(filter));
            }
        }
        self.events.push_back(Event::Unsubscribed {
            token: request.token,
            results,
            properties: ack.properties,
        });
    }

    fn take_request(&mut self, now: u64, packet_id: u16, packet: &'static str) -> Option<Request> {
        let request = self
            .requests
            .binary_search_by_key(&packet_id, |(id, _)| *id)
            .ok()
            .map(|i| self.requests.remove(i).1);
        if request.is_none() {
            self.violation(
                now,
                ProtocolViolation::UnknownPacketId { packet, packet_id },
            );
        }
        request
    }

    // ----------------------------------------------------------------------
    // Sending

    fn build_connect(&self) -> Connect {
        let o = &self.options;
        // 5.0 reconnects resume the session; the expiry interval decides its life.
        let clean_start = if self.ever_connected && o.protocol == ProtocolVersion::V5 {
            false
        } else {
            o.clean_start
        };
        let mut properties = o.connect_properties.clone();
        if o.protocol == ProtocolVersion::V5 {
            let receive_maximum = o.effective_receive_maximum();
            if receive_maximum != u16::MAX {
                properties.receive_maximum = Some(receive_maximum);
            }
            properties.maximum_packet_size = Some(o.effective_max_incoming());
            let alias_max = o.effective_topic_alias_maximum();
            if alias_max > 0 {
                properties.topic_alias_maximum = Some(alias_max);
            }
        }
        Connect {
            protocol: o.protocol,
            client_id: self.client_id.clone(),
            clean_start,
            keep_alive: o.keep_alive_secs,
            username: o.username.clone(),
            password: o.password.clone(),
            will: o.will.clone(),
            properties,
        }
    }

    fn send(&mut self, now: u64, packet: &Packet) {
        // Packets built here come from validated input, so encoding cannot fail;
        // if it ever did, sending nothing is the safe outcome.
        if encode_client_packet(packet, self.options.protocol, &mut self.tx).is_ok() {
            self.link.last_sent = now;
        }
    }

    /// Encode a PUBLISH, applying an outbound topic alias when enabled.
    fn transmit_publish(&mut self, now: u64, publish: &Publish) {
        let mut aliased = None;
        if self.options.outbound_topic_aliases
            && self.options.protocol == ProtocolVersion::V5
            && self.link.server_topic_alias_maximum > 0
            && publish.properties.topic_alias.is_none()
        {
            let mut packet = publish.clone();
            if let Some(&alias) = self.link.outbound_aliases.get(&packet.topic) {
                packet.topic.clear();
                packet.properties.topic_alias = Some(alias);
            } else if self.link.next_outbound_alias <= self.link.server_topic_alias_maximum {
                let alias = self.link.next_outbound_alias;
                self.link.next_outbound_alias += 1;
                self.link
                    .outbound_aliases
                    .insert(packet.topic.clone(), alias);
                packet.properties.topic_alias = Some(alias);
            }
            aliased = Some(packet);
        }
        // Without an alias the stored publish is encoded in place: no clone
        // on the hot path. Validated input encodes; on the impossible error
        // nothing is sent.
        let publish = aliased.as_ref().unwrap_or(publish);
        if encode_publish(publish, self.options.protocol, &mut self.tx).is_ok() {
            self.link.last_sent = now;
        }
    }

    fn add_request(
        &mut self,
        now: u64,
        packet_id: u16,
        kind: RequestKind,
        packet: Packet,
    ) -> RequestToken {
        let token = RequestToken(self.next_request);
        self.next_request += 1;
        if self.state == State::Connected {
            self.send(now, &packet);
        }
        let request = Request {
            token,
            kind,
            packet,
        };
        match self
            .requests
            .binary_search_by_key(&packet_id, |(id, _)| *id)
        {
            Ok(i) => self.requests[i].1 = request,
            Err(i) => self.requests.insert(i, (packet_id, request)),
        }
        token
    }

    /// Move queued publishes into the in-flight window while it has room.
    fn pump(&mut self, now: u64) {
        while self.state == State::Connected {
            let Some(front) = self.queue.front() else {
                return;
            };
            let qos = front.publish.qos;
            if qos != QoS::AtMostOnce && self.inflight.len() >= self.window() {
                return;
            }
            if let Err(error) = self.check_publish_allowed(&front.publish) {
                if let Some(entry) = self.queue.pop_front() {
                    self.record_or_report(SessionChange::OutboundRemoved(entry.token));
                    self.events.push_back(Event::PublishComplete {
                        token: entry.token,
                        result: Err(error),
                    });
                }
                continue;
            }
            if qos == QoS::AtMostOnce {
                if let Some(entry) = self.queue.pop_front() {
                    self.record_or_report(SessionChange::OutboundRemoved(entry.token));
                    self.transmit_publish(now, &entry.publish);
                }
                continue;
            }
            let Some(id) = self.allocate_packet_id() else {
                return;
            };
            let Some(mut entry) = self.queue.pop_front() else {
                return;
            };
            entry.publish.packet_id = id;
            entry.stage = stage_after_send(qos);
            self.record_or_report(SessionChange::OutboundStored(&entry));
            self.transmit_publish(now, &entry.publish);
            self.inflight.insert(id, entry);
        }
    }

    fn window(&self) -> usize {
        usize::from(
            self.link
                .server_receive_maximum
                .min(self.options.max_inflight),
        )
    }

    /// What the server we reached allows (CONNACK's maximum QoS, retain and
    /// maximum packet size).
    fn check_publish_allowed(&self, publish: &Publish) -> Result<(), PublishError> {
        if publish.qos > self.link.server_maximum_qos {
            return Err(PublishError::NotAllowed {
                reason_code: ReasonCode::QoSNotSupported,
            });
        }
        if publish.retain && !self.link.retain_available {
            return Err(PublishError::NotAllowed {
                reason_code: ReasonCode::RetainNotSupported,
            });
        }
        if let Some(maximum) = self.link.server_maximum_packet_size {
            // Sized with its packet id counted, assigned or not.
            let size = publish_encoded_len(publish, self.options.protocol).unwrap_or(usize::MAX);
            if size > maximum as usize {
                return Err(PublishError::PacketTooLarge { size, maximum });
            }
        }
        Ok(())
    }

    fn validate_publish(&self, publish: &Publish) -> Result<(), ClientError> {
        let v5 = self.options.protocol == ProtocolVersion::V5;
        let props = &publish.properties;
        if publish.topic.is_empty() {
            if !(v5 && props.topic_alias.is_some()) {
                return Err(ClientError::invalid(
                    "topic",
                    "must not be empty (an empty topic needs a 5.0 topic alias)",
                ));
            }
        } else {
            validate_topic_name(&publish.topic)
                .map_err(|e| ClientError::invalid("topic", e.message()))?;
        }
        if publish.payload.len() > 268_435_455 - 8 {
            return Err(ClientError::invalid(
                "payload",
                "must fit in one MQTT packet (at most 256 MiB)",
            ));
        }
        if !v5 {
            // As `*props != PublishProperties::default()`, without building
            // the default and comparing the strings (every field named: a new
            // one does not compile until it is checked here).
            let crate::packet::PublishProperties {
                payload_format_indicator,
                message_expiry_interval,
                topic_alias,
                response_topic,
                correlation_data,
                user_properties,
                subscription_identifiers,
                content_type,
            } = props;
            if payload_format_indicator.is_some()
                || message_expiry_interval.is_some()
                || topic_alias.is_some()
                || response_topic.is_some()
                || correlation_data.is_some()
                || !user_properties.is_empty()
                || !subscription_identifiers.is_empty()
                || content_type.is_some()
            {
                return Err(ClientError::invalid(
                    "properties",
                    "publish properties need MQTT 5.0",
                ));
            }
            return Ok(());
        }
        if props.topic_alias == Some(0) {
            return Err(ClientError::invalid(
                "properties.topic_alias",
                "must be at least 1",
            ));
        }
        if !props.subscription_identifiers.is_empty() {
            return Err(ClientError::invalid(
                "properties.subscription_identifiers",
                "only the server sets subscription identifiers",
            ));
        }
        if let Some(topic) = &props.response_topic {
            validate_topic_name(topic)
                .map_err(|e| ClientError::invalid("properties.response_topic", e.message()))?;
        }
        if let Some(content_type) = &props.content_type {
            check_string("properties.content_type", content_type)?;
        }
        if props
            .correlation_data
            .as_ref()
            .is_some_and(|d| d.len() > 65_535)
        {
            return Err(ClientError::invalid(
                "properties.correlation_data",
                "must be at most 65,535 bytes",
            ));
        }
        if props.payload_format_indicator == Some(true)
            && std::str::from_utf8(&publish.payload).is_err()
        {
            return Err(ClientError::invalid(
                "payload",
                "is not UTF-8 but payload_format_indicator says it is",
            ));
        }
        check_user_properties(&props.user_properties)
    }

    /// The in-flight publishes' `(token, packet id)`, in the order they were
    /// made. (One sort of plain pairs for every caller: sorting the entries
    /// themselves instantiated a stable sort per element type.)
    fn inflight_by_token(&self) -> Vec<(PublishToken, u16)> {
        let mut order: Vec<(PublishToken, u16)> = self
            .inflight
            .values()
            .map(|e| (e.token, e.publish.packet_id))
            .collect();
        heap_sort(&mut order);
        order
    }

    fn allocate_packet_id(&mut self) -> Option<u16> {
        let start = self.next_packet_id.max(1);
        let mut id = start;
        loop {
            if !self.inflight.contains_key(&id)
                && self
                    .requests
                    .binary_search_by_key(&id, |(id, _)| *id)
                    .is_err()
            {
                self.next_packet_id = next_packet_id_after(id);
                return Some(id);
            }
            id = next_packet_id_after(id);
            if id == start {
                return None;
            }
        }
    }

    // ----------------------------------------------------------------------
    // Connection lifecycle

    fn current_server(&self) -> crate::server::ServerAddress {
        self.options.servers[self.server_index % self.options.servers.len()].clone()
    }

    fn start_open(&mut self, now: u64) {
        self.state = State::Opening { since: now };
        let server = self.current_server();
        self.transport.push_back(TransportCommand::Open(server));
    }

    /// The server broke the protocol: tell it why (5.0) and close.
    fn violation(&mut self, now: u64, violation: ProtocolViolation) {
        let code = violation.reason_code();
        self.fail(now, ConnectionError::Protocol(violation), Some(code));
    }

    /// End the connection with `error`, sending DISCONNECT with `disconnect`
    /// first when the protocol allows it.
    fn fail(&mut self, now: u64, error: ConnectionError, disconnect: Option<ReasonCode>) {
        if let Some(reason_code) = disconnect {
            if self.options.protocol == ProtocolVersion::V5
                && matches!(self.state, State::Connected | State::Connecting { .. })
            {
                self.send(
                    now,
                    &Packet::Disconnect(Disconnect {
                        reason_code,
                        properties: DisconnectProperties::default(),
                    }),
                );
            }
        }
        let reconnect_at = self.schedule_reconnect(now, &error);
        self.transport.push_back(TransportCommand::Close);
        self.state = State::Closing { reconnect_at };
        if reconnect_at.is_none() && !self.paused && !self.closed {
            self.interrupt_pending();
        }
        self.events.push_back(Event::Disconnected {
            error,
            reconnect_at,
        });
    }

    /// When to try again after `error`, per the policy; moves to the next server.
    fn schedule_reconnect(&mut self, now: u64, error: &ConnectionError) -> Option<u64> {
        // The application stopped it (disconnect or pause).
        if self.closed
            || self.paused
            || error.is_permanent()
            || (!self.ever_connected && !self.options.reconnect_on_initial_failure)
        {
            return None;
        }
        if let ConnectionError::ServerDisconnect {
            reason_code: ReasonCode::SessionTakenOver,
            ..
        } = error
        {
            // Another client took the session over; fighting back would loop.
            return None;
        }
        let backoff = self.backoff.as_mut()?;
        if let Some(connected_at) = self.link.connected_at.take() {
            backoff.connection_stable(now.saturating_sub(connected_at));
        }
        let delay = backoff.next_delay_ms();
        self.server_index = (self.server_index + 1) % self.options.servers.len();
        Some(now.saturating_add(delay))
    }

    fn record(&mut self, change: SessionChange<'_>) -> Result<(), ClientError> {
        if let Some(store) = self.store.as_mut() {
            store.apply(change)?;
        }
        Ok(())
    }

    fn record_or_report(&mut self, change: SessionChange<'_>) {
        if let Err(ClientError::Store(e)) = self.record(change) {
            self.events.push_back(Event::StoreFailed(e));
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
