//! The client object, its message streams and the listener.

use std::sync::{Arc, Mutex};

use midge_core::packet::{
    AuthProperties, DisconnectProperties, ReasonCode, SubscribeFilter, SubscribeProperties,
};
use midge_core::AckHandle;
use midge_native::{NativeClient, NativeEvent, PublishHandle};
use tokio::sync::watch;

use crate::error::MqttError;
use crate::types::{
    ConnectResult, ConnectionState, Message, MqttOptions, PublishResult, QoS, SubscribeResult,
    Subscription, UserProperty,
};

/// Receives what happens on a client, on a thread of its own (one per
/// listener), in order. Keep the methods short: the next message waits.
#[uniffi::export(foreign)]
pub trait MqttListener: Send + Sync {
    /// A message arrived on one of the subscriptions.
    fn on_message(&self, message: Message);
    /// The connection state changed. `cause` says why the last connection
    /// ended or the last attempt failed (the same words as the `midge`
    /// logger's lines), for `WaitingToReconnect` and `Disconnected`; `None`
    /// otherwise and before the first connection.
    fn on_connection_state_changed(&self, state: ConnectionState, cause: Option<String>);
}

/// How much a [`MqttLogger`] line matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum LogLevel {
    /// One line per packet sent or received.
    Debug,
    /// Connecting, connected, an orderly disconnect, subscriptions restored.
    Info,
    /// The connection was lost or refused, the store failed, a message from
    /// the broker was dropped.
    Warning,
}

/// Receives the client's own lines ([`MqttClient::set_logger`]): written by
/// the core, so they read the same as Python's `midge` logger and the npm
/// package's `logger`; never a password or authentication data, payload
/// bytes only when asked. Called on a thread of the client's own, in order.
#[uniffi::export(foreign)]
pub trait MqttLogger: Send + Sync {
    /// Writes one log line at `level`.
    fn log(&self, level: LogLevel, line: String);
}

/// Credentials for one connection attempt ([`CredentialsProvider`]); a
/// field left `null` keeps the configured value.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct FreshCredentials {
    #[uniffi(default = None)]
    /// A new user name, or `null` to keep the configured one.
    pub username: Option<String>,
    #[uniffi(default = None)]
    /// A new password, or `null` to keep the configured one.
    pub password: Option<String>,
    /// 5.0 enhanced authentication data.
    #[uniffi(default = None)]
    pub authentication_data: Option<Vec<u8>>,
    /// A URL to open for this attempt instead of the configured one (a
    /// presigned WebSocket URL).
    #[uniffi(default = None)]
    pub url: Option<String>,
}

/// Called before every connection attempt, reconnects included, with the
/// broker URL: for credentials that expire (signed passwords, tokens).
/// Runs on a worker thread and may block (fetch a token); an exception
/// fails that attempt, and the reconnect policy goes on.
#[uniffi::export(foreign)]
pub trait CredentialsProvider: Send + Sync {
    /// Returns the credentials for an attempt to connect to `server_url`.
    fn credentials(&self, server_url: String) -> FreshCredentials;
}

/// An MQTT client: one connection to a broker (reconnected automatically),
/// its session, and its subscriptions.
///
/// Operations may run concurrently. Dropping (Kotlin: `close()`, Swift:
/// releasing) the client ends the connection without DISCONNECT, so the
/// broker publishes the Last Will as it would for a crash.
#[derive(uniffi::Object)]
pub struct MqttClient {
    inner: NativeClient,
    /// Stops the listener thread when replaced or dropped.
    listener_stop: Mutex<Option<watch::Sender<bool>>>,
    /// Where the driver sends trace lines: the logger thread's queue.
    log_queue: LogQueue,
    /// The provider `set_credentials_provider` installed.
    credentials: CredentialsSlot,
}

type CredentialsSlot = Arc<Mutex<Option<Arc<dyn CredentialsProvider>>>>;

type LogQueue = Arc<Mutex<Option<std::sync::mpsc::Sender<midge_core::trace::TraceRecord>>>>;

impl std::fmt::Debug for MqttClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttClient")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

#[uniffi::export]
impl MqttClient {
    /// A client for `options`. Checks every option (the error names the
    /// first bad one) and loads the session file if one is configured (a
    /// corrupt file is an error); does not connect.
    #[uniffi::constructor]
    pub fn new(options: MqttOptions) -> Result<Arc<MqttClient>, MqttError> {
        let mut native = options.to_native()?;
        let log_queue: LogQueue = Arc::default();
        let queue = log_queue.clone();
        // Off until `set_logger`; the driver only queues, the logger thread
        // calls into Kotlin/Swift (a slow logger never stalls the connection).
        native.trace = Some(midge_native::TraceSink::new(None, move |record| {
            let queue = queue.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(queue) = queue.as_ref() {
                let _ = queue.send(record);
            }
        }));
        let credentials: CredentialsSlot = Arc::default();
        let slot = credentials.clone();
        native.credentials = Some(midge_native::CredentialsProvider::new(move |server| {
            let provider = slot.lock().unwrap_or_else(|p| p.into_inner()).clone();
            Box::pin(async move {
                let Some(provider) = provider else {
                    return Ok(midge_native::FreshCredentials::default());
                };
                let url = server.url();
                // Kotlin/Swift may block (a token fetch): a blocking thread.
                let given = tokio::task::spawn_blocking(move || provider.credentials(url))
                    .await
                    .map_err(|e| format!("the provider threw ({e})"))?;
                Ok(midge_native::FreshCredentials {
                    credentials: midge_core::options::Credentials {
                        username: given.username,
                        password: given.password.map(|p| p.into_bytes().into()),
                        authentication_data: given.authentication_data.map(Into::into),
                    },
                    url: given.url,
                })
            })
        }));
        let inner = NativeClient::new(native)?;
        Ok(Arc::new(MqttClient {
            inner,
            listener_stop: Mutex::new(None),
            log_queue,
            credentials,
        }))
    }

    /// Ask `provider` for credentials before every connection attempt,
    /// reconnects included (`None`: use the options' username and password
    /// again). What it returns goes into that attempt's CONNECT.
    pub fn set_credentials_provider(&self, provider: Option<Arc<dyn CredentialsProvider>>) {
        *self.credentials.lock().unwrap_or_else(|p| p.into_inner()) = provider;
    }

    /// Send the client's own lines of `level` and up to `logger` (`None`:
    /// stop logging): connecting, connected, each disconnect with its cause
    /// and the next attempt's delay and number, subscriptions restored, and
    /// at `Debug` one line per packet (`payloads`: with payload bytes, at
    /// most 256). Lines of a connection made before the call are not
    /// replayed: set it before `connect`.
    pub fn set_logger(
        &self,
        logger: Option<Arc<dyn MqttLogger>>,
        level: LogLevel,
        payloads: bool,
    ) -> Result<(), MqttError> {
        use midge_core::trace::Severity;
        let mut queue = self.log_queue.lock().unwrap_or_else(|p| p.into_inner());
        // Dropping the old sender ends the old thread after its lines.
        *queue = None;
        let Some(logger) = logger else {
            self.inner.set_trace(None, false);
            return Ok(());
        };
        let (tx, rx) = std::sync::mpsc::channel::<midge_core::trace::TraceRecord>();
        std::thread::Builder::new()
            .name("midge-log".into())
            .spawn(move || {
                for record in rx {
                    let level = match record.severity {
                        Severity::Debug => LogLevel::Debug,
                        Severity::Info => LogLevel::Info,
                        Severity::Warning => LogLevel::Warning,
                    };
                    logger.log(level, record.message);
                }
            })
            .map_err(|e| MqttError::Rejected {
                details: format!("cannot start the logger thread: {e}"),
            })?;
        *queue = Some(tx);
        let severity = match level {
            LogLevel::Debug => Severity::Debug,
            LogLevel::Info => Severity::Info,
            LogLevel::Warning => Severity::Warning,
        };
        self.inner.set_trace(Some(severity), payloads);
        Ok(())
    }

    /// Why each connection ended and what the client does next (retry in
    /// how long, as which attempt), from the moment of this call. Each call
    /// gives a stream of its own.
    pub fn connection_events(&self) -> Arc<ConnectionEvents> {
        Arc::new(ConnectionEvents {
            events: tokio::sync::Mutex::new(self.inner.events()),
        })
    }

    /// Connect, then stay connected: after a lost connection the client
    /// reconnects with backoff and resumes the session. Returns the broker's
    /// CONNACK, or the error once the reconnect policy gives up
    /// (`ConnectionRefused` carries the reason code).
    pub async fn connect(&self) -> Result<ConnectResult, MqttError> {
        Ok(self.inner.connect().await?.into())
    }

    /// Publish and wait until it is done: acknowledged by the broker for
    /// QoS 1/2 (PUBACK / PUBCOMP), handed to the connection for QoS 0. A
    /// burst of QoS 0 publishes (each less than 100 µs after the one before)
    /// goes out in a few writes, about 200 µs after it starts at most
    /// (longer when every core is busy), instead of one write per message;
    /// anything published or asked for later follows it, and `disconnect`
    /// sends what it left first.
    /// Offline, QoS 1/2 messages wait in the session (and in the store file,
    /// if one is configured) until the connection is back. Cancelling the
    /// call (`withTimeout`, a cancelled scope) only stops the wait: the
    /// message stays in the session and is still delivered, as a timeout in
    /// Python says "not cancelled"; keep a [`start_publish`](Self::start_publish)
    /// handle to learn the outcome later.
    pub async fn publish(&self, message: Message) -> Result<PublishResult, MqttError> {
        let done = self.inner.publish_batched(message.into_publish()).await?;
        Ok(PublishResult {
            reason_code: done.reason_code,
        })
    }

    /// Hand a message to the client and return at once; wait for the
    /// outcome with [`PendingPublish::result`] if needed. Commands run in
    /// order: once a later [`sync`](Self::sync) returns, this QoS 1/2
    /// message is in the session store. QoS 0 bursts are written as by
    /// [`publish`](Self::publish).
    pub fn start_publish(&self, message: Message) -> Arc<PendingPublish> {
        Arc::new(PendingPublish {
            reply: tokio::sync::Mutex::new(self.inner.publish_batched(message.into_publish())),
        })
    }

    /// Hand a message to the client without suspending, and without a
    /// handle when none is needed: `None` for a QoS 0 message the client
    /// took at once (the usual case), the pending publish otherwise (QoS
    /// 1/2 always; QoS 0 while the connection is down or busy), and a QoS 0
    /// message's error at once (a bad topic, say; QoS 1/2 ones come from
    /// the handle). One call into the library where `publish` makes several,
    /// each of which costs microseconds on the JVM: the
    /// `publish(topic, payload)` helpers of the Kotlin package use it for
    /// QoS 0. Bursts are written as by [`publish`](Self::publish).
    pub fn try_publish(&self, message: Message) -> Result<Option<Arc<PendingPublish>>, MqttError> {
        let at_most_once = message.qos == QoS::AtMostOnce;
        let mut reply = self.inner.publish_batched(message.into_publish());
        // A QoS 1/2 publish keeps its handle even when a fast broker has
        // answered already: its reason code is the caller's to read.
        if at_most_once {
            match reply.try_take() {
                Some(Ok(_)) => return Ok(None),
                Some(Err(error)) => return Err(error.into()),
                None => {}
            }
        }
        Ok(Some(Arc::new(PendingPublish {
            reply: tokio::sync::Mutex::new(reply),
        })))
    }

    /// Subscribe to one filter; returns the QoS the broker granted, or
    /// `SubscriptionRefused` with the broker's reason code.
    pub async fn subscribe(&self, filter: String, qos: QoS) -> Result<QoS, MqttError> {
        let results = self
            .subscribe_many(vec![Subscription {
                filter,
                qos,
                no_local: false,
                retain_as_published: false,
                retain_handling: None,
            }])
            .await?;
        let result = results
            .into_iter()
            .next()
            .ok_or_else(|| MqttError::Protocol {
                reason_code: None,
                details: "SUBACK without a result".into(),
            })?;
        result.granted_qos.ok_or(MqttError::SubscriptionRefused {
            filter: result.filter,
            reason_code: result.reason_code,
        })
    }

    /// Subscribe to several filters in one request; one result per filter
    /// (a refused filter is a result, not an error).
    pub async fn subscribe_many(
        &self,
        subscriptions: Vec<Subscription>,
    ) -> Result<Vec<SubscribeResult>, MqttError> {
        self.subscribe_with(subscriptions, None, Vec::new()).await
    }

    /// [`subscribe_many`](Self::subscribe_many) with MQTT 5.0 SUBSCRIBE
    /// properties: `subscription_identifier` (1 to 268,435,455) comes back
    /// in `Message.subscriptionIdentifiers` of every message these filters
    /// match, so the app can tell which subscription a message is for.
    pub async fn subscribe_with(
        &self,
        subscriptions: Vec<Subscription>,
        subscription_identifier: Option<u32>,
        user_properties: Vec<UserProperty>,
    ) -> Result<Vec<SubscribeResult>, MqttError> {
        if let Some(id) = subscription_identifier {
            if !(1..=268_435_455).contains(&id) {
                return Err(MqttError::invalid(
                    "subscription_identifier",
                    "must be from 1 to 268435455",
                ));
            }
        }
        let properties = SubscribeProperties {
            subscription_identifier,
            user_properties: user_properties
                .into_iter()
                .map(|p| (p.name, p.value))
                .collect(),
        };
        let names: Vec<String> = subscriptions.iter().map(|s| s.filter.clone()).collect();
        let filters: Vec<SubscribeFilter> = subscriptions.into_iter().map(Into::into).collect();
        let outcome = self.inner.subscribe(filters, properties).await?;
        Ok(names
            .into_iter()
            .zip(outcome.results)
            .map(|(filter, result)| match result {
                Ok(qos) => SubscribeResult {
                    filter,
                    granted_qos: Some(qos),
                    reason_code: ReasonCode::granted(qos),
                },
                Err(reason_code) => SubscribeResult {
                    filter,
                    granted_qos: None,
                    reason_code,
                },
            })
            .collect())
    }

    /// Acknowledge a received QoS 1/2 message on a client made with
    /// `manual_acks` (PUBACK, or PUBREC for QoS 2), once the app has
    /// processed it. A message without an `ackToken` (QoS 0, or a client
    /// without `manual_acks`) is an `InvalidArgument`; acknowledging twice,
    /// or after the connection it came on has ended (the broker sends it
    /// again), is `Rejected`.
    pub async fn ack(&self, message: Message) -> Result<(), MqttError> {
        let handle = message
            .ack_token
            .and_then(AckHandle::from_token)
            .ok_or_else(|| {
                MqttError::invalid(
                    "message",
                    "has no acknowledgement to send: it is QoS 0, or the client was not made with manual_acks",
                )
            })?;
        self.inner.ack(handle).await?;
        Ok(())
    }

    /// MQTT 5.0 enhanced authentication: answer the broker's challenge (see
    /// [`ConnectionEvents::next_auth_challenge`]) with `data`; the method is
    /// the options' `authentication_method`.
    pub async fn auth(&self, data: Option<Vec<u8>>) -> Result<(), MqttError> {
        let answer = AuthProperties {
            authentication_data: data.map(Into::into),
            ..AuthProperties::default()
        };
        self.inner.auth(answer).await?;
        Ok(())
    }

    /// MQTT 5.0: start re-authentication on the live connection with
    /// `data`; the broker's challenges and its final answer arrive as
    /// [`ConnectionEvents::next_auth_challenge`].
    pub async fn reauthenticate(&self, data: Option<Vec<u8>>) -> Result<(), MqttError> {
        let start = AuthProperties {
            authentication_data: data.map(Into::into),
            ..AuthProperties::default()
        };
        self.inner.reauthenticate(start).await?;
        Ok(())
    }

    /// Returns once every command given before it has reached the session,
    /// so that with a `session_store_path` the QoS 1/2 messages published so
    /// far are on disk (e.g. before the app may be killed).
    pub async fn sync(&self) -> Result<(), MqttError> {
        self.inner.sync().await?;
        Ok(())
    }

    /// Unsubscribe from one or more filters.
    pub async fn unsubscribe(&self, filters: Vec<String>) -> Result<(), MqttError> {
        self.inner.unsubscribe(filters, Default::default()).await?;
        Ok(())
    }

    /// Send DISCONNECT (the broker discards the Last Will), close the
    /// connection and stop reconnecting. The session is kept: `connect`
    /// resumes it. Operations still waiting fail with `Closed`; their QoS 1/2
    /// messages stay in the session.
    pub async fn disconnect(&self) -> Result<(), MqttError> {
        self.inner
            .disconnect(ReasonCode::Success, DisconnectProperties::default())
            .await?;
        Ok(())
    }

    /// Messages whose topic matches `filter` (`None`: all of them), from now
    /// on. Create it before `connect`/`subscribe` so that messages the broker
    /// kept for an offline session, and retained ones, are not missed.
    /// Nothing is lost when the stream is read slowly: the connection waits.
    pub fn messages(&self, filter: Option<String>) -> Result<Arc<MessageStream>, MqttError> {
        let stream = self.inner.messages(filter)?;
        Ok(Arc::new(MessageStream {
            stream: tokio::sync::Mutex::new(Some(stream)),
            closed: watch::Sender::new(false),
        }))
    }

    /// [`messages`](Self::messages) for a consumer that may never read
    /// (what `messageFlow` uses, so that a Flow made and never collected
    /// holds nothing back): until the first read (`next`, `nextBatch`,
    /// `tryNext`) it keeps the first `messageBuffer` messages it matches and
    /// lets later ones pass it by; from the first read on it is an ordinary
    /// stream.
    pub fn messages_on_demand(
        &self,
        filter: Option<String>,
    ) -> Result<Arc<MessageStream>, MqttError> {
        let stream = self.inner.messages_on_demand(filter)?;
        Ok(Arc::new(MessageStream {
            stream: tokio::sync::Mutex::new(Some(stream)),
            closed: watch::Sender::new(false),
        }))
    }

    /// Why the last connection ended or the last attempt failed (the same
    /// words as the logger's `disconnected:` lines); `None` while connected
    /// and before the first disconnect. Read it beside [`state`](Self::state)
    /// to show why the client is waiting to reconnect.
    pub fn disconnect_cause(&self) -> Option<String> {
        self.inner.disconnect_cause()
    }

    /// The connection state now.
    pub fn state(&self) -> ConnectionState {
        (*self.inner.status().borrow()).into()
    }

    /// QoS 1/2 publishes the broker sent beyond our Receive Maximum and the
    /// client accepted (`MqttOptions.strictReceiveMaximum` off; mosquitto 2.0
    /// overruns it while acks are held). Counted by the core.
    pub fn receive_maximum_overruns(&self) -> u64 {
        self.inner.receive_maximum_overruns()
    }

    /// PUBACK, PUBREC and PUBCOMP the broker sent for packet ids with no
    /// publish waiting for them: ignored, the connection kept. Counted by the core.
    pub fn unknown_acks(&self) -> u64 {
        self.inner.unknown_acks()
    }

    /// Wait until the state differs from `current` and return the new one;
    /// `None` once the client is gone. Intermediate states may be skipped.
    pub async fn next_state(&self, current: ConnectionState) -> Option<ConnectionState> {
        let mut status = self.inner.status();
        let changed = status
            .wait_for(|s| ConnectionState::from(*s) != current)
            .await
            .ok()
            .map(|s| ConnectionState::from(*s));
        changed
    }

    /// The network changed (Wi-Fi to cellular, back online): if waiting to
    /// reconnect, try now instead of after the backoff; if connected, check
    /// the link with a ping.
    pub fn network_changed(&self) {
        self.inner.network_changed();
    }

    /// The app goes to the background: close the connection but keep the
    /// session. Publishes made meanwhile wait in the session (and the store).
    pub fn pause(&self) {
        self.inner.pause();
    }

    /// The app is back in the foreground: reconnect now.
    pub fn resume(&self) {
        self.inner.resume();
    }

    /// Deliver messages and state changes to `listener` (`None` removes
    /// it). The listener runs on a thread of its own and receives every
    /// message, independently of any [`MessageStream`].
    pub fn set_listener(&self, listener: Option<Arc<dyn MqttListener>>) -> Result<(), MqttError> {
        let mut slot = self
            .listener_stop
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(stop) = slot.take() {
            stop.send_replace(true);
        }
        let Some(listener) = listener else {
            return Ok(());
        };
        let stream = self.inner.messages(None)?;
        let status = self.inner.status();
        let cause = self.inner.disconnect_cause_reader();
        let (stop_tx, stop_rx) = watch::channel(false);
        let handle = self.inner.handle().clone();
        std::thread::Builder::new()
            .name("midge-listener".into())
            .spawn(move || handle.block_on(run_listener(listener, stream, status, stop_rx, cause)))
            .map_err(|e| MqttError::Rejected {
                details: format!("cannot start the listener thread: {e}"),
            })?;
        *slot = Some(stop_tx);
        Ok(())
    }
}

impl Drop for MqttClient {
    fn drop(&mut self) {
        if let Ok(mut slot) = self.listener_stop.lock() {
            if let Some(stop) = slot.take() {
                stop.send_replace(true);
            }
        }
    }
}

async fn run_listener(
    listener: Arc<dyn MqttListener>,
    mut stream: midge_native::MessageStream,
    mut status: watch::Receiver<midge_native::ConnectionStatus>,
    mut stop: watch::Receiver<bool>,
    cause: impl Fn() -> Option<String>,
) {
    // The cause goes with the states that have one.
    let with_cause = |state: ConnectionState| match state {
        ConnectionState::WaitingToReconnect | ConnectionState::Disconnected => cause(),
        _ => None,
    };
    let mut last: ConnectionState = (*status.borrow_and_update()).into();
    listener.on_connection_state_changed(last, with_cause(last));
    loop {
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            message = stream.recv_message() => match message {
                Some(m) => listener.on_message(m.into()),
                None => break,
            },
            changed = status.changed() => {
                if changed.is_err() {
                    break;
                }
                let now: ConnectionState = (*status.borrow_and_update()).into();
                if now != last {
                    last = now;
                    listener.on_connection_state_changed(now, with_cause(now));
                }
            }
        }
    }
}

/// A publish handed to the client with [`MqttClient::start_publish`].
#[derive(uniffi::Object)]
pub struct PendingPublish {
    reply: tokio::sync::Mutex<PublishHandle>,
}

impl std::fmt::Debug for PendingPublish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingPublish").finish_non_exhaustive()
    }
}

#[uniffi::export]
impl PendingPublish {
    /// Wait for the outcome, as `MqttClient::publish` would. Only the
    /// first call gets it; later ones fail with `Closed`.
    pub async fn result(&self) -> Result<PublishResult, MqttError> {
        let mut reply = self.reply.lock().await;
        let done = (&mut *reply).await?;
        Ok(PublishResult {
            reason_code: done.reason_code,
        })
    }
}

/// Incoming messages for one filter, in arrival order. Read with `next`;
/// `stop` (or dropping it) detaches the stream from the client (it does not
/// unsubscribe at the broker).
#[derive(uniffi::Object)]
pub struct MessageStream {
    stream: tokio::sync::Mutex<Option<midge_native::MessageStream>>,
    closed: watch::Sender<bool>,
}

impl std::fmt::Debug for MessageStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageStream")
            .field("closed", &*self.closed.borrow())
            .finish_non_exhaustive()
    }
}

#[uniffi::export]
impl MessageStream {
    /// The next message; `None` once the stream is stopped or the client is
    /// gone. Cancelling the call (Kotlin coroutine, Swift task) loses nothing.
    pub async fn next(&self) -> Option<Message> {
        self.receive(1).await?.pop()
    }

    /// The next messages, in order: waits for the first, then takes those
    /// already waiting behind it, `max` at most (at least 1). `None` once
    /// the stream is stopped or the client is gone. One call for many
    /// messages, where `next` makes one per message (each costs
    /// microseconds on the JVM): `messageFlow` reads with it. Cancelling
    /// the call loses nothing.
    pub async fn next_batch(&self, max: u32) -> Result<Option<Vec<Message>>, MqttError> {
        if max == 0 {
            return Err(MqttError::invalid("max", "must be at least 1"));
        }
        Ok(self.receive(max as usize).await)
    }

    /// A message if one is waiting, without suspending.
    pub fn try_next(&self) -> Option<Message> {
        let mut guard = self.stream.try_lock().ok()?;
        guard.as_mut()?.try_recv_message().map(Message::from)
    }

    /// Stop receiving; a waiting `next` returns `None`. (Not `close`: the
    /// generated Kotlin class already has `AutoCloseable.close`, which frees it.)
    pub fn stop(&self) {
        self.closed.send_replace(true);
        if let Ok(mut guard) = self.stream.try_lock() {
            *guard = None;
        }
    }
}

impl MessageStream {
    /// Waits for a message, then takes up to `max` (`None`: stopped, or the
    /// client is gone). `recv_many` is cancel safe: a stop that wins the
    /// race takes nothing.
    async fn receive(&self, max: usize) -> Option<Vec<Message>> {
        let mut closed = self.closed.subscribe();
        let mut guard = tokio::select! {
            guard = self.stream.lock() => guard,
            _ = closed.wait_for(|c| *c) => return None,
        };
        let stream = guard.as_mut()?;
        let mut batch = Vec::new();
        tokio::select! {
            n = stream.recv_many_messages(&mut batch, max) => {
                (n > 0).then(|| batch.into_iter().map(Message::from).collect())
            }
            _ = closed.wait_for(|c| *c) => {
                *guard = None;
                None
            }
        }
    }
}

/// A connection ended, or an attempt failed: the core's words and its plan.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct DisconnectInfo {
    /// Why, in the same words Python's and npm's errors use (for a transport
    /// failure: refused, reset, TLS, ...).
    pub details: String,
    /// The client will try again by itself.
    pub reconnecting: bool,
    /// Milliseconds until that attempt.
    pub reconnect_in_ms: Option<u64>,
    /// Its number since the last stable connection (1 for the first retry;
    /// the core counts it, so every runtime shows the same numbers).
    pub attempt: u32,
}

/// A broker's MQTT 5.0 AUTH: a challenge to answer with `MqttClient.auth`
/// (reason `ContinueAuthentication`), or the end of a re-authentication
/// (`Success`).
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct AuthChallenge {
    /// `ContinueAuthentication` (answer it) or `Success` (re-authentication done).
    pub reason_code: ReasonCode,
    /// The authentication method's name, e.g. `SCRAM-SHA-256`.
    pub authentication_method: Option<String>,
    /// The broker's challenge data; its meaning is the method's.
    pub authentication_data: Option<Vec<u8>>,
    /// Human-readable reason, for diagnostics only.
    pub reason_string: Option<String>,
}

/// An MQTT 5.0 broker's redirection: CONNACK or DISCONNECT with Use Another
/// Server (0x9C, for the next connection) or Server Moved (0x9D, for good)
/// and a Server Reference. The disconnect of that connection follows.
#[derive(Debug, Clone, PartialEq, uniffi::Record)]
pub struct RedirectInfo {
    /// `UseAnotherServer` (0x9C) or `ServerMoved` (0x9D).
    pub reason_code: ReasonCode,
    /// The Server Reference as the broker sent it.
    pub server_reference: String,
    /// The URL of the first usable reference (a bare `host[:port]` keeps the
    /// scheme and port), or `None` if none is usable.
    pub target: Option<String>,
    /// True when the next attempt goes to `target` at once
    /// (`MqttOptions.followRedirects`, at most 5 in a row).
    pub followed: bool,
}

/// The client's connection events, read with `nextDisconnect`,
/// `nextAuthChallenge` or `nextRedirect`. One object reads one stream, and each call skips
/// the events of the other kind: take one `connectionEvents()` per kind.
#[derive(uniffi::Object)]
pub struct ConnectionEvents {
    events: tokio::sync::Mutex<midge_native::EventStream>,
}

impl std::fmt::Debug for ConnectionEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionEvents").finish_non_exhaustive()
    }
}

#[uniffi::export]
impl ConnectionEvents {
    /// The next time a connection ended or an attempt failed; `None` once
    /// the client is gone.
    pub async fn next_disconnect(&self) -> Option<DisconnectInfo> {
        let mut events = self.events.lock().await;
        loop {
            if let NativeEvent::Disconnected {
                error,
                reconnecting,
                reconnect_in_ms,
                attempt,
            } = events.recv().await?
            {
                return Some(DisconnectInfo {
                    details: error.to_string(),
                    reconnecting,
                    reconnect_in_ms,
                    attempt,
                });
            }
        }
    }

    /// The broker's next redirection; `None` once the client is gone.
    pub async fn next_redirect(&self) -> Option<RedirectInfo> {
        let mut events = self.events.lock().await;
        loop {
            if let NativeEvent::Redirected(r) = events.recv().await? {
                return Some(RedirectInfo {
                    reason_code: r.reason_code,
                    server_reference: r.server_reference,
                    target: r.target.map(|t| t.to_string()),
                    followed: r.followed,
                });
            }
        }
    }

    /// The broker's next AUTH packet; `None` once the client is gone. Take
    /// the `connectionEvents()` before `connect` to see the first
    /// connection's challenge.
    pub async fn next_auth_challenge(&self) -> Option<AuthChallenge> {
        let mut events = self.events.lock().await;
        loop {
            if let NativeEvent::Auth {
                reason_code,
                properties,
            } = events.recv().await?
            {
                return Some(AuthChallenge {
                    reason_code,
                    authentication_method: properties.authentication_method,
                    authentication_data: properties.authentication_data.map(|b| b.to_vec()),
                    reason_string: properties.reason_string,
                });
            }
        }
    }
}
