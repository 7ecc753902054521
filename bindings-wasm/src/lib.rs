//! # midge-wasm
//!
//! The browser driver of `midge-core`, shipped as the npm package
//! `midge-mqtt`. It owns one [`midge_core::Client`], one WebSocket (the
//! browser's, or any object with the same shape such as the `ws` package's
//! in Node) and one `setTimeout` timer, and moves bytes, time and events
//! between them. There is no protocol logic here: packets, QoS, retries and
//! keep-alive all live in the core.
//!
//! The JS layer of the npm package (`npm/index.js`) wraps [`RawClient`] into
//! the idiomatic API (`connect()`, `on()`, `messages()`, `MqttError`); use
//! that rather than this crate directly:
//!
//! ```js
//! import { connect } from 'midge-mqtt';
//! const client = await connect('ws://localhost:8080', { clientId: 'dash' });
//! await client.subscribe('greenhouse/#', { qos: 1 });
//! for await (const m of client.messages()) console.log(m.topic, m.text());
//! ```

mod convert;
mod store;

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use js_sys::{Array, Function, Reflect, Uint8Array};
use midge_core::packet::{Publish, QoS, ReasonCode, SubscribeProperties, UnsubscribeProperties};
use midge_core::session::SessionState;
use midge_core::{Client, ConnectionState, Event, TransportCommand};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{MessageEvent, WebSocket};

use convert::{client_error, invalid};

#[wasm_bindgen(typescript_custom_section)]
const RAW_HOST_TS: &str = r#"
/** What RawClient reports to (implemented by npm/index.js). */
export interface RawHost {
  onConnected(sessionPresent: boolean, reconnected: boolean, clientId: string, properties: object): void;
  onClosed(error: Error, reconnectIn: number | undefined): void;
  onMessage(topic: string, payload: Uint8Array, qos: number, retain: boolean, properties: object | undefined): void;
  onPublished(token: number, error: Error | undefined, reasonCode: number, properties: object | undefined): void;
  onAcked(kind: number, token: number, results: Uint8Array, properties: object | undefined): void;
  onPersist(session: Uint8Array): void;
  onError(error: Error): void;
}
"#;

#[wasm_bindgen]
extern "C" {
    /// The JS object that receives what happened (see `npm/index.js`).
    /// Every method is called with no Rust borrow held, so it may call back
    /// into the client; exceptions are caught so one listener cannot wedge
    /// the driver.
    #[wasm_bindgen(typescript_type = "RawHost")]
    pub type Host;
    #[wasm_bindgen(method, catch, js_name = onConnected)]
    fn on_connected(
        this: &Host,
        session_present: bool,
        reconnected: bool,
        client_id: &str,
        properties: JsValue,
    ) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = onClosed)]
    fn on_closed(this: &Host, error: JsValue, reconnect_in: JsValue) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = onMessage)]
    fn on_message(
        this: &Host,
        topic: &str,
        payload: Uint8Array,
        qos: u8,
        retain: bool,
        properties: JsValue,
    ) -> Result<(), JsValue>;
    #[wasm_bindgen(method, catch, js_name = onPublished)]
    fn on_published(
        this: &Host,
        token: f64,
        error: JsValue,
        reason_code: u8,
        properties: JsValue,
    ) -> Result<(), JsValue>;
    /// kind 1: SUBACK, 2: UNSUBACK. `results`: granted QoS or reason codes.
    #[wasm_bindgen(method, catch, js_name = onAcked)]
    fn on_acked(
        this: &Host,
        kind: u8,
        token: f64,
        results: Vec<u8>,
        properties: JsValue,
    ) -> Result<(), JsValue>;
    /// A session snapshot to persist (only with `persist`), handed out
    /// before the bytes that depend on it are sent.
    #[wasm_bindgen(method, catch, js_name = onPersist)]
    fn on_persist(this: &Host, session: Uint8Array) -> Result<(), JsValue>;
    /// Something worth telling the application that is not a connection
    /// state change (a failed store, a failed socket constructor).
    #[wasm_bindgen(method, catch, js_name = onError)]
    fn on_error(this: &Host, error: JsValue) -> Result<(), JsValue>;

    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(handler: &Function, ms: f64) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout(id: &JsValue);
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// Milliseconds from the page's monotonic clock (never `Instant` on wasm32).
fn now() -> u64 {
    performance_now() as u64
}

struct Handlers {
    open: Closure<dyn FnMut()>,
    message: Closure<dyn FnMut(MessageEvent)>,
    close: Closure<dyn FnMut()>,
    ignore: Closure<dyn FnMut()>,
    timer: Closure<dyn FnMut()>,
}

struct Inner {
    client: Client,
    host: Host,
    /// `WebSocket` constructor (the browser's or e.g. the `ws` package's).
    socket_ctor: Function,
    socket: Option<WebSocket>,
    /// The armed timer and the time it fires at.
    timer: Option<(JsValue, u64)>,
    handlers: Option<Handlers>,
    /// Set by the session store when the session changed.
    dirty: Option<store::Dirty>,
    /// A pump is running further up the stack (a host callback called back in).
    pumping: bool,
    /// Reused buffer for inbound frames.
    rx: Vec<u8>,
}

impl Inner {
    /// Run transport commands, persist, write: everything up to the events.
    fn drive(&mut self) {
        while let Some(command) = self.client.poll_transport_command() {
            match command {
                TransportCommand::Open(server) => {
                    let url = JsValue::from_str(&server.to_string());
                    let args = Array::of2(&url, &JsValue::from_str("mqtt"));
                    match Reflect::construct(&self.socket_ctor, &args) {
                        Ok(socket) => {
                            let socket: WebSocket = socket.unchecked_into();
                            let _ = Reflect::set(
                                &socket,
                                &JsValue::from_str("binaryType"),
                                &JsValue::from_str("arraybuffer"),
                            );
                            if let Some(h) = &self.handlers {
                                socket.set_onopen(Some(h.open.as_ref().unchecked_ref()));
                                socket.set_onmessage(Some(h.message.as_ref().unchecked_ref()));
                                socket.set_onclose(Some(h.close.as_ref().unchecked_ref()));
                                socket.set_onerror(Some(h.ignore.as_ref().unchecked_ref()));
                            }
                            self.socket = Some(socket);
                        }
                        Err(e) => {
                            // e.g. a SyntaxError for a URL the browser refuses.
                            let _ = self.host.on_error(e);
                            self.client.handle_transport_closed(now());
                        }
                    }
                }
                TransportCommand::Close => {
                    if let Some(socket) = self.socket.take() {
                        if let Some(bytes) = self.client.poll_transmit() {
                            let _ = socket.send_with_u8_array(&bytes);
                        }
                        detach(&socket);
                        let _ = socket.close();
                    }
                    self.client.handle_transport_closed(now());
                }
            }
        }
        self.persist();
        if let Some(socket) = &self.socket {
            if let Some(bytes) = self.client.poll_transmit() {
                let _ = socket.send_with_u8_array(&bytes);
            }
        }
    }

    /// Hand a snapshot to the host when the store saw a change, before the
    /// bytes that depend on it leave.
    fn persist(&mut self) {
        if let Some(dirty) = &self.dirty {
            if dirty.take() {
                let bytes = self.client.session_state().to_bytes();
                let _ = self.host.on_persist(Uint8Array::from(&bytes[..]));
            }
        }
    }

    /// One timer to the core's deadline. A timer that fires early is
    /// harmless (the core re-arms), so an earlier one is kept rather than
    /// replaced on every packet.
    fn arm_timer(&mut self) {
        let Some(deadline) = self.client.poll_timeout() else {
            return;
        };
        if let Some((_, at)) = &self.timer {
            if *at <= deadline {
                return;
            }
        }
        if let Some((id, _)) = self.timer.take() {
            clear_timeout(&id);
        }
        if let Some(h) = &self.handlers {
            let wait = deadline.saturating_sub(now());
            let id = set_timeout(h.timer.as_ref().unchecked_ref(), wait as f64);
            self.timer = Some((id, deadline));
        }
    }

    fn shutdown(&mut self) {
        if let Some((id, _)) = self.timer.take() {
            clear_timeout(&id);
        }
        if let Some(socket) = self.socket.take() {
            detach(&socket);
            let _ = socket.close();
        }
    }
}

fn detach(socket: &WebSocket) {
    socket.set_onopen(None);
    socket.set_onmessage(None);
    socket.set_onclose(None);
    // Keep an error listener: Node's `ws` throws on an unheard 'error'.
}

/// Drive the client until it has nothing more to say, delivering events with
/// no borrow held. Re-entrant calls (a host callback publishing) return at
/// once: the outer loop picks up what they produced.
fn pump(rc: &Rc<RefCell<Inner>>) {
    {
        let Ok(mut g) = rc.try_borrow_mut() else {
            return;
        };
        if g.pumping {
            return;
        }
        g.pumping = true;
    }
    loop {
        let (host, events) = {
            let mut g = rc.borrow_mut();
            g.drive();
            let mut events = Vec::new();
            while let Some(e) = g.client.poll_event() {
                events.push(e);
            }
            if events.is_empty() {
                g.arm_timer();
                g.pumping = false;
                return;
            }
            (g.host.clone().unchecked_into::<Host>(), events)
        };
        for event in events {
            deliver(&host, event);
        }
    }
}

fn deliver(host: &Host, event: Event) {
    let _ = match event {
        Event::Connected(info) => host.on_connected(
            info.session_present,
            info.reconnected,
            &info.client_id,
            convert::connack_properties_js(&info.properties),
        ),
        Event::Disconnected {
            error,
            reconnect_at,
        } => host.on_closed(
            convert::connection_error(&error),
            reconnect_at.map_or(JsValue::UNDEFINED, |at| {
                JsValue::from_f64(at.saturating_sub(now()) as f64)
            }),
        ),
        Event::Message(m) => {
            let p = m.publish;
            host.on_message(
                &p.topic,
                Uint8Array::from(&p.payload[..]),
                p.qos as u8,
                p.retain,
                convert::publish_properties_js(&p.properties),
            )
        }
        Event::PublishComplete { token, result } => match result {
            Ok(done) => host.on_published(
                token.0 as f64,
                JsValue::UNDEFINED,
                done.reason_code.code(),
                convert::ack_properties_js(&done.properties),
            ),
            Err(e) => host.on_published(
                token.0 as f64,
                convert::publish_error(&e),
                0,
                JsValue::UNDEFINED,
            ),
        },
        Event::Subscribed {
            token,
            results,
            properties,
        } => {
            let codes = results
                .iter()
                .map(|r| match r {
                    Ok(q) => *q as u8,
                    Err(rc) => rc.code(),
                })
                .collect();
            host.on_acked(
                1,
                token.0 as f64,
                codes,
                convert::ack_properties_js(&properties),
            )
        }
        Event::Unsubscribed {
            token,
            results,
            properties,
        } => {
            let codes = results.iter().map(|r| r.code()).collect();
            host.on_acked(
                2,
                token.0 as f64,
                codes,
                convert::ack_properties_js(&properties),
            )
        }
        Event::StoreFailed(e) => {
            host.on_error(convert::error("STORE_FAILED", &e.to_string(), None))
        }
        // Re-subscriptions after a lost session and AUTH exchanges need no
        // answer from a browser app today.
        Event::SubscriptionsRestored { .. } | Event::Auth { .. } => Ok(()),
    };
}

/// The driver behind the npm package's `MqttClient` (not meant to be used
/// directly; see the crate docs).
#[wasm_bindgen]
pub struct RawClient {
    inner: Rc<RefCell<Inner>>,
}

#[wasm_bindgen]
impl RawClient {
    /// A client for `url` with `options` (see `index.d.ts`), reporting to
    /// `host` and opening sockets with `socket_ctor`. `session`: a snapshot
    /// to resume (from IndexedDB); `persist`: hand out snapshots to store.
    #[wasm_bindgen(constructor)]
    pub fn new(
        url: &str,
        options: JsValue,
        host: Host,
        socket_ctor: JsValue,
        session: Option<Vec<u8>>,
        persist: bool,
    ) -> Result<RawClient, JsValue> {
        let socket_ctor: Function = socket_ctor.dyn_into().map_err(|_| {
            invalid(
                "WebSocket",
                "no WebSocket implementation: pass one as the `WebSocket` option (e.g. from the `ws` package)",
            )
        })?;
        let options = convert::client_options(url, &options)?;
        let state = match session {
            Some(bytes) => Some(
                SessionState::from_bytes(&bytes)
                    .map_err(|e| convert::error("STORE_FAILED", &e.to_string(), None))?,
            ),
            None => None,
        };
        let (client, dirty) = if persist {
            let (store, dirty) = store::FlagStore::new(state.unwrap_or_default());
            let client =
                Client::with_store(options, Box::new(store)).map_err(|e| client_error(&e))?;
            (client, Some(dirty))
        } else {
            let client = match state {
                Some(s) => Client::with_session(options, s),
                None => Client::new(options),
            }
            .map_err(|e| client_error(&e))?;
            (client, None)
        };
        let inner = Rc::new(RefCell::new(Inner {
            client,
            host,
            socket_ctor,
            socket: None,
            timer: None,
            handlers: None,
            dirty,
            pumping: false,
            rx: Vec::new(),
        }));
        inner.borrow_mut().handlers = Some(handlers(Rc::downgrade(&inner)));
        Ok(RawClient { inner })
    }

    /// Start connecting (CONNACK arrives as `onConnected`).
    pub fn connect(&self) -> Result<(), JsValue> {
        self.command(|c| c.connect(now()))
    }

    /// Queue a PUBLISH; returns its token (`onPublished` reports QoS 1/2 completion).
    pub fn publish(
        &self,
        topic: String,
        payload: Vec<u8>,
        qos: u8,
        retain: bool,
        properties: JsValue,
    ) -> Result<f64, JsValue> {
        let qos = QoS::from_u8(qos).ok_or_else(|| invalid("qos", "must be 0, 1 or 2"))?;
        let mut publish = Publish::new(topic, payload, qos);
        publish.retain = retain;
        if !properties.is_undefined() {
            publish.properties = convert::publish_properties(&properties)?;
        }
        let mut token = 0.0;
        self.command(|c| {
            c.publish(now(), publish).map(|t| {
                token = t.0 as f64;
            })
        })?;
        Ok(token)
    }

    /// SUBSCRIBE `filters` (an array of `{ topic, qos, ... }`); returns its token.
    pub fn subscribe(&self, filters: Array, properties: JsValue) -> Result<f64, JsValue> {
        let mut list = Vec::new();
        for f in filters.iter() {
            list.push(convert::subscribe_filter(&f)?);
        }
        let props = SubscribeProperties {
            subscription_identifier: convert::subscription_identifier(&properties)?,
            user_properties: convert::props_user(&properties)?,
        };
        let mut token = 0.0;
        self.command(|c| {
            c.subscribe(now(), list, props).map(|t| {
                token = t.0 as f64;
            })
        })?;
        Ok(token)
    }

    /// UNSUBSCRIBE `filters`; returns its token.
    pub fn unsubscribe(&self, filters: Vec<String>, properties: JsValue) -> Result<f64, JsValue> {
        let props = UnsubscribeProperties {
            user_properties: convert::props_user(&properties)?,
        };
        let mut token = 0.0;
        self.command(|c| {
            c.unsubscribe(now(), filters, props).map(|t| {
                token = t.0 as f64;
            })
        })?;
        Ok(token)
    }

    /// DISCONNECT with `reason_code` (and 5.0 `properties`), stop reconnecting.
    pub fn disconnect(&self, reason_code: u8, properties: JsValue) -> Result<(), JsValue> {
        let rc = ReasonCode::from_u8(reason_code)
            .ok_or_else(|| invalid("reasonCode", "is not an MQTT 5.0 reason code"))?;
        let props = convert::disconnect_properties(&properties)?;
        self.command(|c| c.disconnect(now(), rc, props))
    }

    /// The network came back (`online` event): retry now instead of after the backoff.
    #[wasm_bindgen(js_name = networkChanged)]
    pub fn network_changed(&self) {
        let _ = self.command(|c| {
            c.network_changed(now());
            Ok(())
        });
    }

    /// Detach from the socket and the timer (call before `free`).
    pub fn shutdown(&self) {
        if let Ok(mut g) = self.inner.try_borrow_mut() {
            g.shutdown();
        }
    }

    /// `"disconnected" | "waiting" | "connecting" | "connected" | "closing"`.
    pub fn state(&self) -> String {
        let g = self.inner.borrow();
        match g.client.state() {
            ConnectionState::Disconnected => "disconnected",
            ConnectionState::WaitingToReconnect { .. } => "waiting",
            ConnectionState::Connecting => "connecting",
            ConnectionState::Connected => "connected",
            ConnectionState::Closing => "closing",
        }
        .into()
    }

    /// Publishes waiting for the connection or for room in the window.
    #[wasm_bindgen(js_name = queuedLength)]
    pub fn queued_length(&self) -> usize {
        self.inner.borrow().client.queued_len()
    }

    /// QoS 1/2 publishes sent and not yet complete.
    #[wasm_bindgen(js_name = inflightLength)]
    pub fn inflight_length(&self) -> usize {
        self.inner.borrow().client.inflight_len()
    }

    /// Tokens of the outbound publishes the session holds (after a reload).
    #[wasm_bindgen(js_name = pendingTokens)]
    pub fn pending_tokens(&self) -> Vec<f64> {
        let g = self.inner.borrow();
        g.client
            .session_state()
            .outbound
            .iter()
            .map(|o| o.token.0 as f64)
            .collect()
    }

    /// The client id in use.
    #[wasm_bindgen(js_name = clientId)]
    pub fn client_id(&self) -> String {
        self.inner.borrow().client.client_id().into()
    }
}

impl RawClient {
    fn command(
        &self,
        f: impl FnOnce(&mut Client) -> Result<(), midge_core::ClientError>,
    ) -> Result<(), JsValue> {
        {
            let mut g = self
                .inner
                .try_borrow_mut()
                .map_err(|_| convert::error("INVALID_STATE", "client is busy", None))?;
            f(&mut g.client).map_err(|e| client_error(&e))?;
        }
        pump(&self.inner);
        Ok(())
    }
}

fn handlers(weak: Weak<RefCell<Inner>>) -> Handlers {
    let w = weak.clone();
    let open = Closure::<dyn FnMut()>::new(move || {
        if let Some(rc) = w.upgrade() {
            rc.borrow_mut().client.handle_transport_open(now());
            pump(&rc);
        }
    });
    let w = weak.clone();
    let message = Closure::<dyn FnMut(MessageEvent)>::new(move |ev: MessageEvent| {
        if let Some(rc) = w.upgrade() {
            let data = ev.data();
            let Some(buf) = data.dyn_ref::<js_sys::ArrayBuffer>() else {
                return; // text frames are not MQTT
            };
            let view = Uint8Array::new(buf);
            {
                let mut g = rc.borrow_mut();
                let mut rx = std::mem::take(&mut g.rx);
                rx.resize(view.length() as usize, 0);
                view.copy_to(&mut rx);
                g.client.handle_bytes(now(), &rx);
                g.rx = rx;
            }
            pump(&rc);
        }
    });
    let w = weak.clone();
    let close = Closure::<dyn FnMut()>::new(move || {
        if let Some(rc) = w.upgrade() {
            {
                let mut g = rc.borrow_mut();
                if let Some(socket) = g.socket.take() {
                    detach(&socket);
                }
                g.client.handle_transport_closed(now());
            }
            pump(&rc);
        }
    });
    let ignore = Closure::<dyn FnMut()>::new(|| {});
    let w = weak;
    let timer = Closure::<dyn FnMut()>::new(move || {
        if let Some(rc) = w.upgrade() {
            {
                let mut g = rc.borrow_mut();
                g.timer = None;
                g.client.handle_timeout(now());
            }
            pump(&rc);
        }
    });
    Handlers {
        open,
        message,
        close,
        ignore,
        timer,
    }
}

#[cfg(all(test, target_arch = "wasm32"))]
mod tests;
