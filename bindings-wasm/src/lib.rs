//! # midge-wasm
//!
//! The browser binding of `midge-core`, shipped as the npm package
//! `midge-mqtt`. [`RawClient`] wraps one [`midge_core::Client`]: commands and
//! `handle_*` calls go in, and [`RawClient::poll`] hands out, as one byte
//! buffer (format in [`wire`]), everything the core asks for: sockets to
//! open or close, bytes to send, session snapshots to store, events, and the
//! next deadline. The hand-written JS layer (`npm/index.js`) owns the
//! WebSocket and the timer and maps the buffer to Promises and listeners.
//! There is no protocol logic on either side: packets, QoS, retries,
//! keep-alive and reconnect all live in the core.
//!
//! Keeping the WebSocket, the timer and JS objects out of wasm keeps the
//! package small (no closures, no `web-sys` shims, no per-field glue), and
//! lets the JS side send everything one turn of the event loop produced in
//! one WebSocket frame.
//!
//! ```js
//! import { connect } from 'midge-mqtt';
//! const client = await connect('ws://localhost:8080', { clientId: 'dash' });
//! await client.subscribe('greenhouse/#', { qos: 1 });
//! for await (const m of client.messages()) console.log(m.topic, m.text());
//! ```

pub mod wire;

/// Talc instead of dlmalloc: about 2 KB less wasm, and it returns freed
/// memory to its bins as dlmalloc does (the client runs for hours).
// SAFETY: the package runs on one thread (a page or a worker; wasm-bindgen's
// output here is not built for shared memory).
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: talc::TalckWasm = unsafe { talc::TalckWasm::new_global() };

use midge_core::backoff::BackoffPolicy;
use midge_core::packet::{
    AckProperties, AuthProperties, ConnectProperties, DisconnectProperties, LastWill,
    ProtocolVersion, Publish, PublishProperties, QoS, ReasonCode, RetainHandling, SubscribeFilter,
    SubscribeProperties, SubscriptionOptions, UnsubscribeProperties, WillProperties,
};
use midge_core::server::{ServerAddress, Transport};
use midge_core::session::SessionState;
use midge_core::text::{cat, dec, hex};
use midge_core::{
    AckHandle, Client, ClientError, ClientOptions, ConnectionError, ConnectionState, Event,
    PublishError, TransportCommand,
};
use wasm_bindgen::prelude::*;

use wire::{Fields, Out};

// Record kinds of `poll`'s buffer.
const OPEN: u8 = 1;
const CLOSE: u8 = 2;
const SEND: u8 = 3;
const PERSIST: u8 = 4;
const TIMER: u8 = 5;
const CONNECTED: u8 = 10;
const DISCONNECTED: u8 = 11;
const MESSAGE: u8 = 12;
const PUBLISHED: u8 = 13;
const SUBACK: u8 = 14;
const UNSUBACK: u8 = 15;
const RESTORED: u8 = 16;
const AUTH: u8 = 17;
const STORE_FAILED: u8 = 18;
const REDIRECTED: u8 = 20;
const REQUEST_INTERRUPTED: u8 = 19;
const TRACE: u8 = 21;

// `RawClient::signal` kinds (3, anything else: the network came back).
const OPENED: u8 = 0;
const CLOSED: u8 = 1;
const TIMEOUT: u8 = 2;

/// An error thrown to JS: `"CODE|message"` (`npm/index.js` makes it an `MqttError`).
fn fail(code: &str, message: &str) -> JsValue {
    JsValue::from_str(&cat(&[code, "|", message]))
}

/// A bad argument: names it and the rule.
fn invalid(argument: &str, rule: &str) -> JsValue {
    fail(
        "INVALID_ARGUMENT",
        &cat(&["invalid argument `", argument, "`: ", rule]),
    )
}

fn client_code(e: &ClientError) -> &'static str {
    match e {
        ClientError::InvalidArgument { .. } => "INVALID_ARGUMENT",
        ClientError::QueueFull { .. } => "QUEUE_FULL",
        ClientError::QoSNotSupported { .. } => "QOS_NOT_SUPPORTED",
        ClientError::RetainNotSupported => "RETAIN_NOT_SUPPORTED",
        ClientError::PacketTooLarge { .. } => "PACKET_TOO_LARGE",
        ClientError::InvalidState { .. } => "INVALID_STATE",
        ClientError::AckNotPending { .. } => "ACK_NOT_PENDING",
        ClientError::Store(_) => "STORE_FAILED",
        ClientError::Closed { .. } => "CLIENT_CLOSED",
    }
}

fn client_error(e: ClientError) -> JsValue {
    fail(client_code(&e), &client_message(&e))
}

// Messages are put together here from the errors' fields rather than with
// their `Display` impls: `core::fmt` and the impls' code and strings were a
// tenth of the package. The code, reason code and numbers stay exact.

/// `" (reason code 0x87)"`.
fn reason(rc: ReasonCode) -> String {
    cat(&[" (reason code 0x", &hex(rc.code()), ")"])
}

fn client_message(e: &ClientError) -> String {
    match e {
        ClientError::InvalidArgument { argument, rule } => {
            cat(&["invalid argument `", argument, "`: ", rule])
        }
        ClientError::QueueFull { limit } => cat(&[
            "the publish queue is full (",
            &dec(*limit as u64),
            " publishes wait for the connection or for room in the in-flight window): raise `maxQueuedMessages` or wait for earlier publishes to complete",
        ]),
        ClientError::QoSNotSupported { requested, maximum } => cat(&[
            "QoS ",
            &dec(*requested as u64),
            " is above the server's maximum QoS ",
            &dec(*maximum as u64),
        ]),
        ClientError::RetainNotSupported => {
            "the server does not support retained messages".into()
        }
        ClientError::PacketTooLarge { size, maximum } => too_large(*size, *maximum),
        ClientError::InvalidState { operation, state } => {
            cat(&["cannot ", operation, " while ", state])
        }
        ClientError::AckNotPending { packet_id } => cat(&[
            "message with packet id ",
            &dec((*packet_id).into()),
            " is not awaiting an acknowledgement (already acknowledged, or the connection it arrived on closed)",
        ]),
        ClientError::Store(_) => "the session store failed".into(),
        ClientError::Closed { operation } => cat(&[
            "cannot ",
            operation,
            ": the client is closed (end() was called)",
        ]),
    }
}

fn too_large(size: usize, maximum: u32) -> String {
    cat(&[
        "the packet is ",
        &dec(size as u64),
        " bytes, above the server's maximum packet size of ",
        &dec(maximum.into()),
        " bytes",
    ])
}

/// Milliseconds of the page's monotonic clock, given by JS (`performance.now()`).
fn ms(now: f64) -> u64 {
    now as u64
}

/// The driver behind the npm package's `MqttClient` (not meant to be used
/// directly; see the crate docs).
#[wasm_bindgen]
pub struct RawClient {
    client: Client,
    /// Manual-ack handles of delivered messages, by the key JS got. Whether
    /// one is still valid (e.g. after a reconnect) is the core's call.
    acks: Vec<(u32, AckHandle)>,
    next_ack: u32,
    /// What the last `poll` handed out (a u32 length, then the records),
    /// kept so that JS reads it in place: no copy and no free per poll.
    out: Vec<u8>,
}

impl RawClient {
    /// The records of the last [`RawClient::poll`] (for the tests; JS reads
    /// them from memory).
    #[cfg(all(test, target_arch = "wasm32"))]
    pub(crate) fn output(&self) -> &[u8] {
        &self.out[4..]
    }
}

#[wasm_bindgen]
impl RawClient {
    /// A client with `options` (a field list, see [`wire`]; the brokers are
    /// its `SERVERS` entries, the `url` of `connect` first).
    /// `session`: a snapshot to resume (from IndexedDB); `persist`: hand out
    /// snapshots to store.
    #[wasm_bindgen(constructor)]
    pub fn new(
        options: &[u8],
        session: Option<Vec<u8>>,
        persist: bool,
    ) -> Result<RawClient, JsValue> {
        let options = client_options(&Fields::parse(options))?;
        let state = match session {
            Some(bytes) => Some(
                SessionState::from_bytes(&bytes)
                    .map_err(|_| fail("STORE_FAILED", "the stored session could not be read"))?,
            ),
            None => None,
        };
        // `Client::new` is `with_session` with an empty session.
        let mut client =
            Client::with_session(options, state.unwrap_or_default()).map_err(client_error)?;
        if persist {
            client.set_durable();
        }
        Ok(RawClient {
            client,
            acks: Vec::new(),
            next_ack: 0,
            out: Vec::new(),
        })
    }

    /// Start connecting.
    pub fn connect(&mut self, now: f64) -> Result<(), JsValue> {
        self.client.connect(ms(now)).map_err(client_error)
    }

    /// Queue a PUBLISH; returns its token (a `PUBLISHED` record reports QoS 1/2 completion).
    pub fn publish(
        &mut self,
        now: f64,
        topic: String,
        payload: Vec<u8>,
        qos: u8,
        retain: bool,
        properties: &[u8],
    ) -> Result<f64, JsValue> {
        let qos = QoS::from_u8(qos).ok_or_else(|| invalid("qos", "must be 0, 1 or 2"))?;
        let mut publish = Publish::new(topic, payload, qos);
        publish.retain = retain;
        if !properties.is_empty() {
            publish.properties = publish_properties(&Fields::parse(properties));
        }
        let token = self
            .client
            .publish(ms(now), publish)
            .map_err(client_error)?;
        Ok(token.0 as f64)
    }

    /// SUBSCRIBE the filters of a field list (`TOPIC` starts each one); returns its token.
    pub fn subscribe(
        &mut self,
        now: f64,
        filters: &[u8],
        properties: &[u8],
    ) -> Result<f64, JsValue> {
        let mut list: Vec<SubscribeFilter> = Vec::new();
        for (tag, v) in Fields::parse(filters).0 {
            let n = match v {
                wire::Val::Bytes(b) if tag == wire::TOPIC => {
                    list.push(SubscribeFilter {
                        filter: wire::utf8(b),
                        options: SubscriptionOptions {
                            qos: QoS::AtMostOnce,
                            no_local: false,
                            retain_as_published: false,
                            retain_handling: RetainHandling::SendAtSubscribe,
                        },
                    });
                    continue;
                }
                wire::Val::Num(n) => n as u8,
                _ => continue,
            };
            let Some(f) = list.last_mut() else { continue };
            let o = &mut f.options;
            match tag {
                wire::QOS => {
                    o.qos = QoS::from_u8(n).ok_or_else(|| invalid("qos", "must be 0, 1 or 2"))?
                }
                wire::NO_LOCAL => o.no_local = n != 0,
                wire::RETAIN_AS_PUBLISHED => o.retain_as_published = n != 0,
                wire::RETAIN_HANDLING => {
                    o.retain_handling = match n {
                        0 => RetainHandling::SendAtSubscribe,
                        1 => RetainHandling::SendIfNew,
                        _ => RetainHandling::DoNotSend,
                    }
                }
                _ => {}
            }
        }
        let p = Fields::parse(properties);
        let props = SubscribeProperties {
            subscription_identifier: p.u32(0x0B),
            user_properties: p.user(),
        };
        let token = self
            .client
            .subscribe(ms(now), list, props)
            .map_err(client_error)?;
        Ok(token.0 as f64)
    }

    /// UNSUBSCRIBE the `TOPIC`s of a field list; returns its token.
    pub fn unsubscribe(
        &mut self,
        now: f64,
        filters: &[u8],
        properties: &[u8],
    ) -> Result<f64, JsValue> {
        let filters = Fields::parse(filters)
            .all_bytes(wire::TOPIC)
            .map(|b| wire::utf8(b.clone()))
            .collect();
        let props = UnsubscribeProperties {
            user_properties: Fields::parse(properties).user(),
        };
        let token = self
            .client
            .unsubscribe(ms(now), filters, props)
            .map_err(client_error)?;
        Ok(token.0 as f64)
    }

    /// Acks the broker sent for packet ids with nothing waiting for them (the core's count).
    #[wasm_bindgen(js_name = unknownAcks)]
    pub fn unknown_acks(&self) -> f64 {
        self.client.unknown_acks() as f64
    }

    /// QoS 1/2 publishes the broker sent beyond our Receive Maximum (the core's count).
    #[wasm_bindgen(js_name = receiveMaximumOverruns)]
    pub fn receive_maximum_overruns(&self) -> f64 {
        self.client.receive_maximum_overruns() as f64
    }

    /// Acknowledge a message delivered with ack key `key` (manual-ack mode).
    pub fn ack(&mut self, now: f64, key: u32) -> Result<(), JsValue> {
        let i = self
            .acks
            .iter()
            .position(|(k, _)| *k == key)
            .ok_or_else(|| {
                fail(
                    "ACK_NOT_PENDING",
                    "the message is not awaiting an acknowledgement (already acknowledged)",
                )
            })?;
        let (_, handle) = self.acks.swap_remove(i);
        self.client.ack(ms(now), handle).map_err(client_error)
    }

    /// Answer a 5.0 AUTH challenge (`reauthenticate`: start re-authentication instead).
    pub fn auth(
        &mut self,
        now: f64,
        properties: &[u8],
        reauthenticate: bool,
    ) -> Result<(), JsValue> {
        let p = Fields::parse(properties);
        let props = AuthProperties {
            authentication_method: p.string(0x15),
            authentication_data: p.bytes(0x16).map(Into::into),
            reason_string: p.string(0x1F),
            user_properties: p.user(),
        };
        if reauthenticate {
            self.client.reauthenticate(ms(now), props)
        } else {
            self.client.auth(ms(now), props)
        }
        .map_err(client_error)
    }

    /// DISCONNECT with `reason_code` (and 5.0 `properties`), stop reconnecting.
    pub fn disconnect(
        &mut self,
        now: f64,
        reason_code: u8,
        properties: &[u8],
    ) -> Result<(), JsValue> {
        let rc = ReasonCode::from_u8(reason_code)
            .ok_or_else(|| invalid("reasonCode", "is not an MQTT 5.0 reason code"))?;
        let p = Fields::parse(properties);
        let props = DisconnectProperties {
            session_expiry_interval: p.u32(0x11),
            reason_string: p.string(0x1F),
            user_properties: p.user(),
            server_reference: None,
        };
        self.client
            .disconnect(ms(now), rc, props)
            .map_err(client_error)
    }

    /// A transport or timer signal, one export for four (each export costs
    /// its own wrapper in the wasm and the glue): 0 the socket opened, 1 it
    /// closed (or could not be made), 2 the timer fired, 3 the network came
    /// back (`online` event: retry now instead of after the backoff).
    pub fn signal(&mut self, kind: u8, now: f64) {
        let now = ms(now);
        match kind {
            OPENED => self.client.handle_transport_open(now),
            CLOSED => self.client.handle_transport_closed(now),
            TIMEOUT => self.client.handle_timeout(now),
            _ => self.client.network_changed(now),
        }
    }

    /// The socket closed, or could not be opened, for a reason the runtime
    /// gave (Node's socket errors; browsers give none): `kind` is a
    /// `TransportFailureKind` (0 closed, 1 refused, 2 reset, 3 unreachable,
    /// 4 timeout, 5 TLS, 6 configuration, else other), `detail` the words
    /// the error carries, which become the disconnect's message.
    pub fn failed(&mut self, now: f64, kind: u8, detail: &str) {
        use midge_core::TransportFailureKind as K;
        let kind = match kind {
            0 => K::Closed,
            1 => K::Refused,
            2 => K::Reset,
            3 => K::Unreachable,
            4 => K::Timeout,
            5 => K::Tls,
            6 => K::Config,
            _ => K::Other,
        };
        self.client
            .handle_transport_failed(ms(now), midge_core::TransportFailure::new(kind, detail));
    }

    /// Credentials a provider fetched for the attempt being opened (after
    /// `OPEN`, before the socket opens): `USERNAME`, `PASSWORD` and
    /// authentication data (0x16); a field left out keeps its value.
    pub fn credentials(&mut self, fields: &[u8]) -> Result<(), JsValue> {
        let f = Fields::parse(fields);
        self.client
            .set_credentials(midge_core::options::Credentials {
                username: f.string(wire::USERNAME),
                password: f.bytes(wire::PASSWORD).map(Into::into),
                authentication_data: f.bytes(0x16).map(Into::into),
            })
            .map_err(client_error)
    }

    /// Which trace lines the core writes (`TRACE` records): `level` 10
    /// (debug: every packet too), 20 (info), 30 (warnings), anything else
    /// none; `payloads`: packet lines show payload bytes.
    pub fn trace(&mut self, level: u8, payloads: bool) {
        use midge_core::trace::Severity;
        self.client.set_trace_level(match level {
            10 => Some(Severity::Debug),
            20 => Some(Severity::Info),
            30 => Some(Severity::Warning),
            _ => None,
        });
        self.client.set_trace_payloads(payloads);
    }

    /// The store finished writing the `PERSIST` batch `seq` (`ok`), or
    /// failed to: what depends on it is then never sent, and the connection
    /// closes (see `Client::handle_persist_failed`).
    pub fn persisted(&mut self, seq: f64, ok: bool, now: f64) {
        if ok {
            self.client.handle_persisted(seq as u64);
        } else {
            let error = midge_core::session::StoreError::Io {
                message: "the IndexedDB write failed".into(),
            };
            self.client
                .handle_persist_failed(ms(now), seq as u64, error);
        }
    }

    /// Bytes the socket received.
    pub fn received(&mut self, now: f64, bytes: &[u8]) {
        self.client.handle_bytes(ms(now), bytes);
    }

    /// Everything the core has to say, in order: transport commands (the bytes
    /// a closing socket must still write come before its `CLOSE`), a session
    /// snapshot (before the bytes that depend on it), the bytes to send (all
    /// of them in one record), the events, and last the deadline for
    /// `timeout` (-1: none). Call after every other method.
    ///
    /// Returns where the records are in the module's memory: a u32 byte
    /// count (little-endian), then the records. They stay there until this
    /// client's next `poll` (calls into other methods leave them alone).
    pub fn poll(&mut self, now: f64) -> usize {
        let now = ms(now);
        let mut o = Out(std::mem::take(&mut self.out));
        o.0.clear();
        o.0.extend_from_slice(&[0; 4]);
        while let Some(command) = self.client.poll_transport_command() {
            match command {
                TransportCommand::Open(s) => {
                    o.u8(OPEN);
                    o.bytes(s.transport.scheme().as_bytes());
                    o.bytes(s.host.as_bytes());
                    o.num(s.port.into());
                    o.bytes(s.path.as_bytes());
                }
                TransportCommand::Close => {
                    self.transmit(&mut o);
                    o.u8(CLOSE);
                    self.client.handle_transport_closed(now);
                }
            }
        }
        // A batch of session changes: the whole session as of now (one
        // IndexedDB value, written in one transaction), confirmed with
        // `persisted`; the bytes and events that depend on it wait.
        if let Some(batch) = self.client.poll_persist() {
            o.u8(PERSIST);
            o.num(batch.seq as f64);
            o.bytes(&self.client.session_state().to_bytes());
        }
        self.transmit(&mut o);
        // The lines before the events they tell of: `u8 severity, bytes
        // line, u8 packet (0 none, 1 sent, 2 received)`, and for a packet
        // `bytes type, num id, num qos (-1 none), bytes topic, num size`.
        while let Some(record) = self.client.poll_trace() {
            o.u8(TRACE);
            o.u8(record.severity as u8);
            o.bytes(record.message.as_bytes());
            match record.packet {
                None => o.u8(0),
                Some(p) => {
                    o.u8(match p.direction {
                        midge_core::trace::Direction::Sent => 1,
                        midge_core::trace::Direction::Received => 2,
                    });
                    o.bytes(p.kind.as_bytes());
                    o.num(p.packet_id.into());
                    o.num(p.qos.map_or(-1.0, |q| f64::from(q as u8)));
                    o.bytes(p.topic.as_deref().unwrap_or_default().as_bytes());
                    o.num(p.size as f64);
                }
            }
        }
        while let Some(event) = self.client.poll_event() {
            self.event(&mut o, event, now);
        }
        o.u8(TIMER);
        o.num(self.client.poll_timeout().map_or(-1.0, |t| t as f64));
        let len = (o.0.len() - 4) as u32;
        o.0[..4].copy_from_slice(&len.to_le_bytes());
        self.out = o.0;
        self.out.as_ptr() as usize
    }

    /// 0 disconnected, 1 waiting to reconnect, 2 connecting, 3 connected, 4 closing.
    pub fn state(&self) -> u8 {
        match self.client.state() {
            ConnectionState::Disconnected => 0,
            ConnectionState::WaitingToReconnect { .. } => 1,
            ConnectionState::Connecting => 2,
            ConnectionState::Connected => 3,
            ConnectionState::Closing => 4,
        }
    }

    /// Publishes waiting for the connection or for room in the window.
    #[wasm_bindgen(js_name = queuedLength)]
    pub fn queued_length(&self) -> usize {
        self.client.queued_len()
    }

    /// QoS 1/2 publishes sent and not yet complete.
    #[wasm_bindgen(js_name = inflightLength)]
    pub fn inflight_length(&self) -> usize {
        self.client.inflight_len()
    }

    /// The outbound publishes the session holds (restored after a reload):
    /// per publish `num token, u8 qos, bytes topic`.
    pub fn pending(&self) -> Vec<u8> {
        let mut o = Out::default();
        for p in self.client.session_state().outbound {
            o.num(p.token.0 as f64);
            o.u8(p.publish.qos as u8);
            o.bytes(p.publish.topic.as_bytes());
        }
        o.0
    }

    /// The client id in use.
    #[wasm_bindgen(js_name = clientId)]
    pub fn client_id(&self) -> String {
        self.client.client_id().into()
    }
}

impl RawClient {
    fn transmit(&mut self, o: &mut Out) {
        if let Some(bytes) = self.client.poll_transmit() {
            o.u8(SEND);
            o.bytes(&bytes);
        }
    }

    fn event(&mut self, o: &mut Out, event: Event, now: u64) {
        match event {
            Event::Connected(info) => {
                o.u8(CONNECTED);
                o.u8(info.session_present as u8);
                o.u8(info.reconnected as u8);
                o.bytes(info.client_id.as_bytes());
                let p = &info.properties;
                o.f_num(0x11, p.session_expiry_interval.map(f64::from));
                o.f_num(0x21, p.receive_maximum.map(f64::from));
                o.f_num(0x24, p.maximum_qos.map(|q| q as u8 as f64));
                o.f_bool(0x25, p.retain_available);
                o.f_num(0x27, p.maximum_packet_size.map(f64::from));
                o.f_str(0x12, &p.assigned_client_identifier);
                o.f_num(0x22, p.topic_alias_maximum.map(f64::from));
                o.f_str(0x1F, &p.reason_string);
                o.f_bool(0x28, p.wildcard_subscription_available);
                o.f_bool(0x29, p.subscription_identifiers_available);
                o.f_bool(0x2A, p.shared_subscription_available);
                o.f_num(0x13, p.server_keep_alive.map(f64::from));
                o.f_str(0x1A, &p.response_information);
                o.f_str(0x1C, &p.server_reference);
                o.f_str(0x15, &p.authentication_method);
                o.f_bytes(0x16, p.authentication_data.as_deref());
                o.f_user_end(&p.user_properties);
            }
            Event::Disconnected {
                error,
                reconnect_at,
            } => {
                o.u8(DISCONNECTED);
                connection_error(o, &error);
                o.num(reconnect_at.map_or(-1.0, |at| at.saturating_sub(now) as f64));
                o.num(self.client.reconnect_attempt().into());
            }
            Event::Message(m) => {
                let p = m.publish;
                o.u8(MESSAGE);
                o.bytes(p.topic.as_bytes());
                o.bytes(&p.payload);
                o.u8(p.qos as u8);
                o.u8(p.retain as u8);
                let key = match m.ack {
                    Some(handle) => {
                        self.next_ack = self.next_ack.wrapping_add(1).max(1);
                        self.acks.push((self.next_ack, handle));
                        self.next_ack
                    }
                    None => 0,
                };
                o.num(key.into());
                publish_properties_out(o, &p.properties);
            }
            Event::PublishComplete { token, result } => {
                o.u8(PUBLISHED);
                o.num(token.0 as f64);
                match result {
                    Ok(done) => {
                        o.u8(1);
                        o.num(done.reason_code.code().into());
                        ack_properties(o, &done.properties);
                    }
                    Err(e) => {
                        o.u8(0);
                        let (code, message, rc) = match e {
                            PublishError::Rejected {
                                reason_code,
                                properties,
                            } => (
                                "PUBLISH_REJECTED",
                                match &properties.reason_string {
                                    Some(why) => {
                                        cat(&["the server rejected the publish (", why, ")"])
                                    }
                                    None => "the server rejected the publish".into(),
                                },
                                Some(reason_code),
                            ),
                            PublishError::PacketTooLarge { size, maximum } => {
                                ("PACKET_TOO_LARGE", too_large(size, maximum), None)
                            }
                            PublishError::NotAllowed { reason_code } => (
                                "PUBLISH_NOT_ALLOWED",
                                "the server does not allow this publish".into(),
                                Some(reason_code),
                            ),
                            PublishError::Interrupted { reason_code } => (
                                "INTERRUPTED",
                                "the client stopped before the broker acknowledged the publish; it stays in the session and is sent again on the next connect".into(),
                                reason_code,
                            ),
                        };
                        error(o, code, &message, rc);
                    }
                }
            }
            Event::Subscribed {
                token,
                results,
                properties,
            } => {
                o.u8(SUBACK);
                o.num(token.0 as f64);
                let codes: Vec<u8> = results.iter().map(granted).collect();
                o.bytes(&codes);
                ack_properties(o, &properties);
            }
            Event::Unsubscribed {
                token,
                results,
                properties,
            } => {
                o.u8(UNSUBACK);
                o.num(token.0 as f64);
                let codes: Vec<u8> = results.iter().map(|r| r.code()).collect();
                o.bytes(&codes);
                ack_properties(o, &properties);
            }
            Event::RequestInterrupted { token, reason_code } => {
                o.u8(REQUEST_INTERRUPTED);
                o.num(token.0 as f64);
                error(
                    o,
                    "INTERRUPTED",
                    "the client stopped before the broker answered; the request was dropped",
                    reason_code,
                );
            }
            Event::SubscriptionsRestored { results } => {
                o.u8(RESTORED);
                o.num(results.len() as f64);
                for (filter, r) in &results {
                    o.bytes(filter.as_bytes());
                    o.u8(granted(r));
                }
            }
            Event::Auth {
                reason_code,
                properties: p,
            } => {
                o.u8(AUTH);
                o.num(reason_code.code().into());
                o.f_str(0x15, &p.authentication_method);
                o.f_bytes(0x16, p.authentication_data.as_deref());
                o.f_str(0x1F, &p.reason_string);
                o.f_user_end(&p.user_properties);
            }
            Event::Redirected(redirect) => {
                o.u8(REDIRECTED);
                o.num(redirect.reason_code.code().into());
                o.bytes(redirect.server_reference.as_bytes());
                o.u8(redirect.followed.into());
                // The target in parts (no `Display`, which needs `core::fmt`):
                // index.js puts the URL together.
                if let Some(t) = &redirect.target {
                    o.bytes(t.transport.scheme().as_bytes());
                    o.bytes(t.host.as_bytes());
                    o.num(t.port.into());
                    o.bytes(t.path.as_bytes());
                } else {
                    o.bytes(b"");
                }
            }
            Event::StoreFailed(_) => {
                o.u8(STORE_FAILED);
                error(
                    o,
                    "STORE_FAILED",
                    "the session store failed to record a change",
                    None,
                );
            }
        }
    }
}

/// A SUBACK result: the granted QoS, or the failure reason code.
fn granted(r: &Result<QoS, ReasonCode>) -> u8 {
    match r {
        Ok(q) => *q as u8,
        Err(rc) => rc.code(),
    }
}

/// An error record: code, message (with the reason code, if any), reason code.
fn error(o: &mut Out, code: &str, message: &str, rc: Option<ReasonCode>) {
    o.bytes(code.as_bytes());
    let message = match rc {
        Some(rc) => cat(&[message, &reason(rc)]),
        None => message.into(),
    };
    o.bytes(message.as_bytes());
    o.num(rc.map_or(-1.0, |r| r.code().into()));
}

fn connection_error(o: &mut Out, e: &ConnectionError) {
    let code = match e {
        ConnectionError::Refused { .. } => "CONNECTION_REFUSED",
        ConnectionError::ServerDisconnect { .. } => "SERVER_DISCONNECT",
        ConnectionError::Protocol(_) => "PROTOCOL_ERROR",
        ConnectionError::ConnectTimeout { .. } => "CONNECT_TIMEOUT",
        ConnectionError::KeepAliveTimeout { .. } => "KEEPALIVE_TIMEOUT",
        ConnectionError::Transport(_) => "TRANSPORT_CLOSED",
        ConnectionError::Local => "CLIENT_DISCONNECT",
        ConnectionError::Store(_) => "STORE_FAILED",
    };
    // The core's words (the trace's disconnect lines use the same).
    o.bytes(code.as_bytes());
    o.bytes(e.describe().as_bytes());
    o.num(e.reason_code().map_or(-1.0, |r| r.code().into()));
}

fn ack_properties(o: &mut Out, p: &AckProperties) {
    o.f_str(0x1F, &p.reason_string);
    o.f_user_end(&p.user_properties);
}

fn publish_properties_out(o: &mut Out, p: &PublishProperties) {
    o.f_bool(0x01, p.payload_format_indicator);
    o.f_num(0x02, p.message_expiry_interval.map(f64::from));
    o.f_str(0x03, &p.content_type);
    o.f_str(0x08, &p.response_topic);
    o.f_bytes(0x09, p.correlation_data.as_deref());
    for id in &p.subscription_identifiers {
        o.f_num(0x0B, Some(f64::from(*id)));
    }
    o.f_num(0x23, p.topic_alias.map(f64::from));
    o.f_user_end(&p.user_properties);
}

fn publish_properties(p: &Fields) -> PublishProperties {
    PublishProperties {
        payload_format_indicator: p.flag(0x01),
        message_expiry_interval: p.u32(0x02),
        topic_alias: p.u16(0x23),
        response_topic: p.string(0x08),
        correlation_data: p.bytes(0x09).map(Into::into),
        user_properties: p.user(),
        subscription_identifiers: Vec::new(),
        content_type: p.string(0x03),
    }
}

/// `connect`'s options. Types and ranges were checked by `npm/index.js`;
/// the core checks the rules.
fn client_options(o: &Fields) -> Result<ClientOptions, JsValue> {
    use wire::*;
    let mut opts = ClientOptions::default();
    // The URLs were split (and checked) by the platform's `URL` class in
    // `npm/index.js`: the core's URL parser stays out of the package.
    for s in o.all_bytes(SERVERS) {
        let s = Fields::parse(s);
        let transport = match (s.flag(SERVER_TCP), s.flag(SERVER_TLS)) {
            (Some(true), Some(true)) => Transport::Tls,
            (Some(true), _) => Transport::Tcp,
            (_, Some(true)) => Transport::WebSocketTls,
            _ => Transport::WebSocket,
        };
        opts.servers.push(ServerAddress {
            transport,
            host: s.string(SERVER_HOST).unwrap_or_default(),
            port: s
                .u16(SERVER_PORT)
                .unwrap_or_else(|| transport.default_port()),
            path: s.string(SERVER_PATH).unwrap_or_default(),
        });
    }
    if let Some(id) = o.string(CLIENT_ID) {
        opts.client_id = id;
    }
    if o.num(PROTOCOL_VERSION) == Some(4.0) {
        opts.protocol = ProtocolVersion::V311;
    }
    if let Some(clean) = o.flag(CLEAN) {
        opts.clean_start = clean;
    }
    if let Some(k) = o.u16(KEEPALIVE) {
        opts.keep_alive_secs = k;
    }
    opts.username = o.string(USERNAME);
    opts.password = o.bytes(PASSWORD).map(Into::into);
    if let Some(w) = o.nested(WILL) {
        let p = w.nested(PROPERTIES).unwrap_or(Fields(Vec::new()));
        opts.will = Some(LastWill {
            // `as_str().into()`: fits a `String` or a `SmolStr` topic.
            topic: w.string(WILL_TOPIC).unwrap_or_default().as_str().into(),
            payload: w.bytes(WILL_PAYLOAD).unwrap_or_default().into(),
            qos: QoS::from_u8(w.num(WILL_QOS).unwrap_or(0.0) as u8)
                .ok_or_else(|| invalid("will.qos", "must be 0, 1 or 2"))?,
            retain: w.flag(WILL_RETAIN).unwrap_or(false),
            properties: WillProperties {
                will_delay_interval: p.u32(0x18),
                payload_format_indicator: p.flag(0x01),
                message_expiry_interval: p.u32(0x02),
                content_type: p.string(0x03),
                response_topic: p.string(0x08),
                correlation_data: p.bytes(0x09).map(Into::into),
                user_properties: p.user(),
            },
        });
    }
    if o.flag(RECONNECT) == Some(false) {
        opts.reconnect = None;
    } else {
        let d = BackoffPolicy::default();
        opts.reconnect = Some(BackoffPolicy {
            min_delay_ms: o.u64(MIN_DELAY).unwrap_or(d.min_delay_ms),
            max_delay_ms: o.u64(MAX_DELAY).unwrap_or(d.max_delay_ms),
            factor: o.num(FACTOR).unwrap_or(d.factor),
            stable_after_ms: o.u64(STABLE_AFTER).unwrap_or(d.stable_after_ms),
        });
        if let Some(initial) = o.flag(ON_INITIAL_FAILURE) {
            opts.reconnect_on_initial_failure = initial;
        }
    }
    if let Some(n) = o.num(OFFLINE_QUEUE_LIMIT) {
        opts.max_queued_messages = n as usize;
    }
    if let Some(n) = o.u16(MAX_INFLIGHT) {
        opts.max_inflight = n;
    }
    if let Some(n) = o.u64(CONNECT_TIMEOUT) {
        opts.connect_timeout_ms = n;
    }
    if let Some(n) = o.u64(PING_TIMEOUT) {
        opts.ping_timeout_ms = n;
    }
    opts.manual_acks = o.flag(MANUAL_ACKS).unwrap_or(false);
    opts.strict_receive_maximum = o.flag(STRICT_RECEIVE_MAXIMUM).unwrap_or(false);
    opts.follow_redirects = o.flag(FOLLOW_REDIRECTS).unwrap_or(false);
    opts.random_seed = o.u64(RANDOM_SEED).unwrap_or(opts.random_seed);
    if let Some(p) = o.nested(PROPERTIES) {
        opts.connect_properties = ConnectProperties {
            session_expiry_interval: p.u32(0x11),
            receive_maximum: p.u16(0x21),
            maximum_packet_size: p.u32(0x27),
            topic_alias_maximum: p.u16(0x22),
            request_response_information: p.flag(0x19),
            request_problem_information: p.flag(0x17),
            user_properties: p.user(),
            authentication_method: p.string(0x15),
            authentication_data: p.bytes(0x16).map(Into::into),
        };
    }
    // `Client::new` checks the rules (`ClientOptions::validate`).
    Ok(opts)
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests;
