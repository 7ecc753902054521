//! # midge-native
//!
//! The native transports of midge (TCP, TLS via rustls, WebSocket via
//! tungstenite) and the tokio task that drives one [`midge_core::Client`]
//! with them. The Python binding and the UniFFI (Kotlin/Swift) binding both
//! use this crate; neither touches a socket itself. There is no protocol logic
//! here: packets, QoS, retries and reconnect policy live in `midge-core`.
//!
//! A [`NativeClient`] is a cheap, `Send + Sync` handle. Each operation sends a
//! command to the driver task at once and returns a [`Reply`], a future that
//! resolves with the broker's answer; many can be in flight at the same time.
//!
//! ```no_run
//! use midge_core::packet::{Publish, QoS, SubscribeFilter};
//! use midge_native::{NativeClient, NativeOptions};
//!
//! # async fn demo() -> Result<(), midge_native::NativeError> {
//! let mut options = NativeOptions::new("mqtt://localhost:1883")?;
//! options.client.client_id = "greenhouse-sensor".into();
//! let client = NativeClient::new(options)?;
//! let connected = client.connect().await?;
//! println!("session present: {}", connected.session_present);
//!
//! let mut messages = client.messages(Some("greenhouse/#".into()))?;
//! client.subscribe(vec![SubscribeFilter::new("greenhouse/#", QoS::AtLeastOnce)], Default::default()).await?;
//! client.publish(Publish::new("greenhouse/temp", &b"21.5"[..], QoS::AtLeastOnce)).await?;
//! let message = messages.recv().await.unwrap();
//! assert_eq!(&message.payload[..], b"21.5");
//! client.disconnect(Default::default(), Default::default()).await?;
//! # Ok(()) }
//! ```
//!
//! What no operation waits for (reconnects, subscriptions restored after the
//! broker lost the session, 5.0 AUTH challenges, session store failures)
//! comes from [`NativeClient::events`]. With
//! [`ClientOptions::manual_acks`], [`MessageStream::recv_message`] gives each
//! QoS 1/2 message's [`AckHandle`], and [`NativeClient::ack`] sends its
//! PUBACK/PUBREC; [`NativeClient::auth`] answers an AUTH challenge.
//!
//! From blocking code, run the same futures on the crate's runtime:
//! `midge_native::runtime().block_on(client.connect())`.

mod driver;
mod error;
mod events;
mod flusher;
mod inline;
pub use inline::InlineRead;

/// What one [`MessageStream::recv_step`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecvStep {
    /// This many messages were taken.
    Messages(usize),
    /// The client is gone: no more messages.
    Closed,
    /// Nothing yet: wait for the waker or for this socket to be readable
    /// (see [`InlineRead::Wait`]).
    WaitForSocket {
        /// The descriptor to watch.
        socket: std::os::fd::RawFd,
        /// Which handover of the socket this is.
        handover: u64,
    },
    /// Nothing yet: wait for the waker.
    Wait,
}
mod lane;
mod store;
mod transport;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use midge_core::packet::{
    AckProperties, AuthProperties, DisconnectProperties, Publish, ReasonCode, SubscribeFilter,
    SubscribeProperties, UnsubscribeProperties,
};
use midge_core::session::SessionStore;
use midge_core::topic::validate_topic_filter;
use midge_core::trace::{Severity, TraceRecord};
use midge_core::{Client, ClientOptions, Connected, PublishDone};
use tokio::runtime::{Handle, Runtime};
use tokio::sync::{mpsc, oneshot, watch};

pub use error::NativeError;
pub use events::EventStream;
pub use midge_core::event::SubscribeResult;
pub use midge_core::{AckHandle, Message, Redirect};
pub use store::FileStore;
pub use transport::{HttpProxy, TlsOptions};

use driver::{Command, Driver};

/// Where the session lives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StoreConfig {
    /// In memory: lost with the process.
    #[default]
    Memory,
    /// In this file: QoS 1/2 state survives a restart (see [`FileStore`]).
    File(PathBuf),
    /// A store of your own, with the same contract as [`FileStore`] (see
    /// `midge_core::session::SessionStore`).
    Custom(CustomStore),
}

/// A durable core for `store`: the stored session loaded, every change
/// handed to the driver.
fn durable(
    options: &ClientOptions,
    mut store: Box<dyn SessionStore + Send>,
) -> Result<(Client, Option<Box<dyn SessionStore + Send>>), NativeError> {
    let session = store.load()?;
    let mut core = Client::with_session(options.clone(), session)?;
    core.set_durable();
    Ok((core, Some(store)))
}

/// A user-supplied [`SessionStore`] for [`StoreConfig::Custom`]. It serves
/// one client: the first `NativeClient::new` with these options takes it.
///
/// ```
/// use midge_core::session::MemoryStore;
/// use midge_native::{CustomStore, NativeClient, NativeOptions, StoreConfig};
///
/// let mut options = NativeOptions::new("mqtt://127.0.0.1:1883").unwrap();
/// options.store = StoreConfig::Custom(CustomStore::new(MemoryStore::default()));
/// let _client = NativeClient::new(options.clone()).unwrap();
/// assert!(NativeClient::new(options).is_err()); // taken
/// ```
#[derive(Clone)]
pub struct CustomStore(Arc<std::sync::Mutex<Option<Box<dyn SessionStore + Send>>>>);

impl CustomStore {
    /// Wrap `store` for [`StoreConfig::Custom`].
    pub fn new(store: impl SessionStore + Send + 'static) -> CustomStore {
        CustomStore(Arc::new(std::sync::Mutex::new(Some(Box::new(store)))))
    }

    fn take(&self) -> Option<Box<dyn SessionStore + Send>> {
        self.0.lock().ok()?.take()
    }
}

impl std::fmt::Debug for CustomStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CustomStore")
    }
}

impl PartialEq for CustomStore {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for CustomStore {}

/// Everything a [`NativeClient`] needs: the core's options plus transport
/// settings.
///
/// ```
/// use midge_native::NativeOptions;
///
/// let options = NativeOptions::new("mqtts://broker.example").unwrap();
/// assert_eq!(options.client.servers[0].port, 8883);
/// assert!(NativeOptions::new("http://broker.example").is_err());
/// ```
#[derive(Debug, Clone)]
pub struct NativeOptions {
    /// The protocol options (client id, keep-alive, will, reconnect policy, ...).
    pub client: ClientOptions,
    /// Used for `mqtts://` and `wss://` servers.
    pub tls: TlsOptions,
    /// Where the session is kept: in memory (default) or in a file.
    pub store: StoreConfig,
    /// Capacity of each [`MessageStream`]. When one is full the driver
    /// stops reading from the socket until there is room (backpressure, no
    /// loss), except while the broker owes an answer (see
    /// `core/SEMANTICS.md`); it never waits for a consumer, so commands,
    /// timers and acknowledgements go on.
    pub message_buffer: usize,
    /// Where the client's trace lines go (none by default).
    pub trace: Option<TraceSink>,
    /// Called before every connection attempt, reconnects included, for
    /// credentials that expire (none by default).
    pub credentials: Option<CredentialsProvider>,
    /// Tunnel every connection through this HTTP proxy (`CONNECT`).
    pub proxy: Option<HttpProxy>,
}

/// What a [`CredentialsProvider`] gives for one connection attempt.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FreshCredentials {
    /// Username, password, authentication data (`None` keeps the configured value).
    pub credentials: midge_core::options::Credentials,
    /// A URL to open instead of the server's, for this attempt: a presigned
    /// WebSocket URL, whose query string carries a signature that expires.
    pub url: Option<String>,
}

/// The future a [`CredentialsProvider`] returns.
pub type CredentialsFuture = Pin<Box<dyn Future<Output = Result<FreshCredentials, String>> + Send>>;

/// Fetches credentials before each connection attempt, given the server
/// the attempt goes to. An error (its text) fails that attempt as a
/// transport failure: the reconnect policy goes on, and calls it again.
///
/// ```
/// use midge_native::{CredentialsProvider, FreshCredentials, NativeOptions};
/// use midge_core::options::Credentials;
///
/// let mut options = NativeOptions::new("mqtt://127.0.0.1:1883").unwrap();
/// options.credentials = Some(CredentialsProvider::new(|_server| {
///     Box::pin(async {
///         Ok(FreshCredentials {
///             credentials: Credentials {
///                 password: Some(b"token".to_vec().into()),
///                 ..Credentials::default()
///             },
///             url: None,
///         })
///     })
/// }));
/// ```
#[derive(Clone)]
pub struct CredentialsProvider(
    pub Arc<dyn Fn(midge_core::server::ServerAddress) -> CredentialsFuture + Send + Sync>,
);

impl CredentialsProvider {
    /// A provider that calls `fetch` before each connection attempt.
    pub fn new(
        fetch: impl Fn(midge_core::server::ServerAddress) -> CredentialsFuture + Send + Sync + 'static,
    ) -> CredentialsProvider {
        CredentialsProvider(Arc::new(fetch))
    }
}

impl std::fmt::Debug for CredentialsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CredentialsProvider")
    }
}

/// Where a client's trace lines go: the core writes them
/// ([`midge_core::trace`]), the driver hands each to `write` on its own
/// task, so `write` must be quick and must not block (queue the record for
/// a logger thread if the logger can block).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use midge_core::trace::Severity;
/// use midge_native::{NativeOptions, TraceSink};
///
/// let lines = Arc::new(Mutex::new(Vec::new()));
/// let sink = lines.clone();
/// let mut options = NativeOptions::new("mqtt://127.0.0.1:1883").unwrap();
/// options.trace = Some(TraceSink::new(Some(Severity::Info), move |record| {
///     sink.lock().unwrap().push(record.message);
/// }));
/// ```
#[derive(Clone)]
pub struct TraceSink {
    /// The lowest severity written (`None`: nothing).
    pub level: Option<Severity>,
    /// Whether packet lines show payload bytes.
    pub payloads: bool,
    /// Receives each record at or above `level`.
    pub write: Arc<dyn Fn(TraceRecord) + Send + Sync>,
}

impl TraceSink {
    /// Lines of `level` and up go to `write`; no payload bytes.
    pub fn new(
        level: Option<Severity>,
        write: impl Fn(TraceRecord) + Send + Sync + 'static,
    ) -> TraceSink {
        TraceSink {
            level,
            payloads: false,
            write: Arc::new(write),
        }
    }
}

impl std::fmt::Debug for TraceSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceSink")
            .field("level", &self.level)
            .field("payloads", &self.payloads)
            .finish_non_exhaustive()
    }
}

impl NativeOptions {
    /// Options for one broker URL, with a random reconnect-jitter seed.
    pub fn new(url: &str) -> Result<NativeOptions, NativeError> {
        let mut client = ClientOptions::new(url)?;
        client.random_seed = random_seed();
        Ok(NativeOptions {
            client,
            tls: TlsOptions::default(),
            store: StoreConfig::Memory,
            message_buffer: 10_000,
            trace: None,
            credentials: None,
            proxy: None,
        })
    }
}

/// A seed from the standard library's per-process random hasher keys and the clock.
pub fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionStatus {
    /// Not connected and not trying to.
    Disconnected,
    /// Opening the transport or waiting for CONNACK.
    Connecting,
    /// CONNACK accepted; the connection is up.
    Connected,
    /// Waiting for the backoff delay before the next attempt.
    WaitingToReconnect,
    /// Closing the transport.
    Closing,
}

/// The broker's answer to a SUBSCRIBE.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscribeOutcome {
    /// Per filter: the granted QoS or the failure reason code.
    pub results: Vec<SubscribeResult>,
    /// The SUBACK's reason string and user properties (5.0).
    pub properties: AckProperties,
}

/// The broker's answer to an UNSUBSCRIBE.
#[derive(Debug, Clone, PartialEq)]
pub struct UnsubscribeOutcome {
    /// Per filter (3.1.1: all `Success`).
    pub results: Vec<ReasonCode>,
    /// The UNSUBACK's reason string and user properties (5.0).
    pub properties: AckProperties,
}

/// The answer to one command: a future, or polled without blocking with
/// [`Reply::try_take`]. Dropping it (or a timeout around it) does not cancel
/// the command: what becomes of it is in `core/SEMANTICS.md`.
#[derive(Debug)]
pub struct Reply<T> {
    rx: Option<oneshot::Receiver<Result<T, NativeError>>>,
}

/// A publish on its way: resolves when the broker acknowledged it (QoS 1/2)
/// or when the client accepted it (QoS 0).
pub type PublishHandle = Reply<PublishDone>;

impl<T> Reply<T> {
    pub(crate) fn pending() -> (oneshot::Sender<Result<T, NativeError>>, Reply<T>) {
        let (tx, rx) = oneshot::channel();
        (tx, Reply { rx: Some(rx) })
    }

    fn failed(error: NativeError) -> Reply<T> {
        Reply::ready(Err(error))
    }

    fn ready(result: Result<T, NativeError>) -> Reply<T> {
        let (tx, reply) = Reply::pending();
        let _ = tx.send(result);
        reply
    }

    /// The result if it is there, without waiting. Returns `Some` once.
    pub fn try_take(&mut self) -> Option<Result<T, NativeError>> {
        let rx = self.rx.as_mut()?;
        let out = match rx.try_recv() {
            Ok(result) => result,
            Err(oneshot::error::TryRecvError::Empty) => return None,
            Err(oneshot::error::TryRecvError::Closed) => Err(stopped()),
        };
        self.rx = None;
        Some(out)
    }
}

fn stopped() -> NativeError {
    NativeError::closed("the client was dropped before the operation finished")
}

impl<T> Future for Reply<T> {
    type Output = Result<T, NativeError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let Some(rx) = self.rx.as_mut() else {
            return Poll::Ready(Err(NativeError::closed("the reply was already taken")));
        };
        let out = match Pin::new(rx).poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Ok(result)) => result,
            Poll::Ready(Err(_)) => Err(stopped()),
        };
        self.rx = None;
        Poll::Ready(out)
    }
}

/// Inbound messages whose topic matches one filter (or all of them), in
/// arrival order. Dropping it unregisters it.
///
/// `recv`, `recv_many` and `try_recv` give the PUBLISH alone. In manual-ack
/// mode ([`ClientOptions::manual_acks`]) use the `*_message` variants: each
/// [`Message`] carries the [`AckHandle`] to pass to [`NativeClient::ack`].
#[derive(Debug)]
pub struct MessageStream {
    id: u64,
    rx: mpsc::Receiver<Message>,
    commands: lane::WeakCommands,
    /// Made without a filter: what it did not read goes back on close.
    catch_all: bool,
    closed: bool,
    /// Made by [`NativeClient::messages_on_demand`] and not read yet: the
    /// first read tells the driver to hold delivery back for it from then on.
    claim_on_read: bool,
    /// Where [`MessageStream::read_inline`] reads to (empty until then).
    read_buf: Vec<u8>,
}

impl MessageStream {
    /// Unregister now. A stream without a filter hands `unread` (messages
    /// taken from it but not used, oldest first) and whatever is still
    /// queued in it back to the client, which gives them to the next stream
    /// without a filter, unless another such stream exists (it got them
    /// too). Dropping the stream does the same with `unread` empty.
    pub fn close_with_unread(mut self, unread: Vec<Message>) {
        self.unregister(unread);
    }

    fn unregister(&mut self, unread: Vec<Message>) {
        if self.closed {
            return;
        }
        self.closed = true;
        // The receiver goes to the driver, which drains it after removing
        // the route: nothing sent to it in between is lost.
        let rx = self
            .catch_all
            .then(|| std::mem::replace(&mut self.rx, mpsc::channel(1).1));
        if let Some(tx) = self.commands.upgrade() {
            let _ = tx.send(Command::RemoveRoute(self.id, unread, rx));
        }
    }

    /// First read of an on-demand stream: from now on it holds delivery
    /// back like any other.
    fn claim(&mut self) {
        if std::mem::take(&mut self.claim_on_read) {
            if let Some(tx) = self.commands.upgrade() {
                let _ = tx.send(Command::ClaimRoute(self.id));
            }
        }
    }

    /// The next message; `None` once the client is dropped.
    pub async fn recv(&mut self) -> Option<Publish> {
        self.claim();
        self.rx.recv().await.map(|m| m.publish)
    }

    /// Wait for at least one message, then take up to `limit` into `out`;
    /// returns how many (0 once the client is dropped).
    pub async fn recv_many(&mut self, out: &mut Vec<Publish>, limit: usize) -> usize {
        self.claim();
        let mut batch = Vec::new();
        let n = self.rx.recv_many(&mut batch, limit.max(1)).await;
        out.extend(batch.into_iter().map(|m| m.publish));
        n
    }

    /// A message if one is waiting.
    pub fn try_recv(&mut self) -> Option<Publish> {
        self.claim();
        self.rx.try_recv().ok().map(|m| m.publish)
    }

    /// The next message with its acknowledgement handle (`Some` in manual-ack
    /// mode for QoS 1/2); `None` once the client is dropped.
    ///
    /// ```no_run
    /// # async fn demo(client: midge_native::NativeClient) -> Result<(), midge_native::NativeError> {
    /// let mut messages = client.messages(None)?;
    /// while let Some(message) = messages.recv_message().await {
    ///     println!("{}", message.publish.topic.len());
    ///     if let Some(handle) = message.ack {
    ///         client.ack(handle).await?; // the PUBACK / PUBREC goes out now
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn recv_message(&mut self) -> Option<Message> {
        self.claim();
        self.rx.recv().await
    }

    /// [`recv_many`](Self::recv_many) with acknowledgement handles.
    pub async fn recv_many_messages(&mut self, out: &mut Vec<Message>, limit: usize) -> usize {
        self.claim();
        self.rx.recv_many(out, limit.max(1)).await
    }

    /// [`try_recv`](Self::try_recv) with the acknowledgement handle.
    pub fn try_recv_message(&mut self) -> Option<Message> {
        self.claim();
        self.rx.try_recv().ok()
    }

    /// For a thread that waits for this stream: read the connection's socket
    /// now, without waiting, and feed what it has to the client, which puts
    /// the messages in this stream (see the `inline` module: the runtime
    /// thread is not woken for them). The client lets a stream do this only
    /// while it is the only one, has no filter and the broker owes no
    /// answer, on plain TCP with the session in memory; otherwise, and
    /// until the client has handed the socket over, this returns
    /// [`InlineRead::Unavailable`] and `waker` is woken when it does. On
    /// [`InlineRead::Wait`], wait until that socket is readable or `waker`
    /// fires, then look at the stream and call this again.
    ///
    /// ```no_run
    /// # fn demo(mut messages: midge_native::MessageStream, waker: std::task::Waker) {
    /// use midge_native::InlineRead;
    /// loop {
    ///     if let Some(message) = messages.try_recv_message() {
    ///         println!("{}", message.publish.topic);
    ///         continue;
    ///     }
    ///     match messages.read_inline(&waker) {
    ///         InlineRead::Read => {}
    ///         InlineRead::Wait { socket: _, .. } => { /* poll(socket) and the waker */ }
    ///         InlineRead::Unavailable => { /* wait for the stream */ }
    ///     }
    /// }
    /// # }
    /// ```
    pub fn read_inline(&mut self, waker: &std::task::Waker) -> InlineRead {
        if self.closed {
            return InlineRead::Unavailable;
        }
        self.claim();
        let Some(commands) = self.commands.upgrade() else {
            return InlineRead::Unavailable;
        };
        inline::read(
            &commands,
            inline::Reader::Stream(self.id),
            inline::Ask::ForSocket,
            &mut self.read_buf,
            Some(waker),
        )
    }

    /// A handle for an event loop that watches the socket for this stream
    /// ([`LoopReader`]): it reads whatever arrives, also while no receive
    /// waits, so the client may leave the socket to it while the broker owes
    /// publish acknowledgements.
    ///
    /// ```no_run
    /// # fn demo(messages: midge_native::MessageStream, waker: std::task::Waker) {
    /// let reader = messages.loop_reader();
    /// reader.watch(true);
    /// // Later, on the loop: the socket is readable and no receive waits.
    /// let mut buf = Vec::new();
    /// let _ = reader.read(&mut buf, &waker);
    /// # }
    /// ```
    pub fn loop_reader(&self) -> LoopReader {
        LoopReader {
            commands: self.commands.clone(),
            id: self.id,
        }
    }

    /// One step of a reader that waits for this stream and reads the
    /// socket itself when it can: the messages that are there (up to
    /// `limit`, into `out`), else what the socket has (see
    /// [`read_inline`](Self::read_inline)), else what to wait for. `waker`
    /// is woken when the stream or the driver has news; on
    /// [`RecvStep::WaitForSocket`] also wait until that socket is readable.
    /// [`recv_many_messages_blocking`](Self::recv_many_messages_blocking) is
    /// a loop of these; an event loop can make one of its own.
    ///
    /// ```no_run
    /// # fn demo(mut messages: midge_native::MessageStream, waker: std::task::Waker) {
    /// use midge_native::RecvStep;
    /// let mut batch = Vec::new();
    /// match messages.recv_step(&mut batch, 64, &waker) {
    ///     RecvStep::Messages(n) => println!("{n} messages"),
    ///     RecvStep::Closed => println!("the client is gone"),
    ///     // Register the socket with the loop's poller (again if `handover`
    ///     // changed), then call again when it is readable or the waker fires.
    ///     RecvStep::WaitForSocket { socket, handover } => println!("watch {socket} ({handover})"),
    ///     RecvStep::Wait => println!("wait for the waker"),
    /// }
    /// # }
    /// ```
    pub fn recv_step(
        &mut self,
        out: &mut Vec<Message>,
        limit: usize,
        waker: &std::task::Waker,
    ) -> RecvStep {
        let limit = limit.max(1);
        self.claim();
        loop {
            let before = out.len();
            // Taken without registering the waker: a message this reader
            // delivers itself must not wake it.
            while out.len() - before < limit {
                match self.rx.try_recv() {
                    Ok(message) => out.push(message),
                    Err(_) => break,
                }
            }
            if out.len() > before {
                return RecvStep::Messages(out.len() - before);
            }
            match self.read_inline(waker) {
                InlineRead::Read => {}
                InlineRead::Wait { socket, handover } => {
                    // Another thread's read may have put messages in the
                    // stream after the look above and before this read: it
                    // woke the waker registered before this one (maybe
                    // another thread's), so look again.
                    if !self.rx.is_empty() {
                        continue;
                    }
                    return RecvStep::WaitForSocket { socket, handover };
                }
                InlineRead::Unavailable => {
                    // Registers the waker with the stream (cancel-safe).
                    let mut cx = std::task::Context::from_waker(waker);
                    let receive = std::pin::pin!(self.rx.recv_many(out, limit));
                    return match receive.poll(&mut cx) {
                        Poll::Ready(0) => RecvStep::Closed,
                        Poll::Ready(n) => RecvStep::Messages(n),
                        Poll::Pending => RecvStep::Wait,
                    };
                }
            }
        }
    }

    /// Block until at least one message is there (then take up to `limit`
    /// into `out` and return how many: `Some(0)` once the client is
    /// dropped) or `timeout` passes (`None`). The waiting thread reads the
    /// socket itself when it can ([`read_inline`](Self::read_inline)), so
    /// a message wakes only it. For threads that can block (not in async
    /// code).
    ///
    /// ```no_run
    /// # fn demo(client: midge_native::NativeClient) -> Result<(), midge_native::NativeError> {
    /// let mut messages = client.messages(None)?;
    /// let mut batch = Vec::new();
    /// while let Some(n) = messages.recv_many_messages_blocking(&mut batch, 64, std::time::Duration::from_secs(1)) {
    ///     if n == 0 {
    ///         break; // the client is gone
    ///     }
    ///     for message in batch.drain(..) {
    ///         println!("{}", message.publish.topic);
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn recv_many_messages_blocking(
        &mut self,
        out: &mut Vec<Message>,
        limit: usize,
        timeout: std::time::Duration,
    ) -> Option<usize> {
        let deadline = std::time::Instant::now() + timeout;
        let signal = match inline::Signal::current() {
            Ok(signal) => signal,
            // No eventfd: wait for the stream alone.
            Err(_) => return self.recv_many_parked(out, limit.max(1), deadline),
        };
        let waker = std::task::Waker::from(signal.clone());
        let mut watched = false;
        let got = loop {
            let socket = match self.recv_step(out, limit, &waker) {
                RecvStep::Messages(n) => break Some(n),
                RecvStep::Closed => break Some(0),
                RecvStep::WaitForSocket { socket, .. } => Some(socket),
                RecvStep::Wait => None,
            };
            if std::time::Instant::now() >= deadline {
                break None;
            }
            let reader = inline::Reader::Stream(self.id);
            watched |= inline::wait_blocking(&signal, &self.commands, reader, socket, deadline);
        };
        if watched {
            // Threads that waited for publishes while this one watched the
            // socket watch it themselves while its consumer is busy.
            if let Some(commands) = self.commands.upgrade() {
                inline::stream_thread_left(&commands);
            }
        }
        got
    }

    /// [`recv_many_messages_blocking`](Self::recv_many_messages_blocking)
    /// without inline reads.
    fn recv_many_parked(
        &mut self,
        out: &mut Vec<Message>,
        limit: usize,
        deadline: std::time::Instant,
    ) -> Option<usize> {
        let thread = std::thread::current();
        let waker = std::task::Waker::from(Arc::new(ThreadWake(thread)));
        let mut cx = std::task::Context::from_waker(&waker);
        loop {
            let receive = std::pin::pin!(self.rx.recv_many(out, limit));
            if let Poll::Ready(n) = receive.poll(&mut cx) {
                return Some(n);
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return None;
            }
            std::thread::park_timeout(deadline - now);
        }
    }
}

/// A stream's reader on an event loop that watches the connection's socket
/// all along ([`MessageStream::loop_reader`]): the loop reads whatever
/// arrives when the socket is readable, also while no receive waits (the
/// messages wait in the stream), so the client leaves the socket to it even
/// while publishes wait for their acknowledgements, which the loop's reads
/// complete. A QoS 1 stream that also publishes then wakes no other thread
/// per message.
///
/// ```no_run
/// # fn demo(messages: midge_native::MessageStream, waker: std::task::Waker) {
/// use midge_native::InlineRead;
/// let reader = messages.loop_reader();
/// reader.watch(true);
/// // The receives found their messages waiting: ask for the socket.
/// reader.ask(&waker);
/// // Woken (handed over, or taken back): watch what the stream holds now.
/// if let Some((socket, handover)) = reader.held(&waker) {
///     println!("watch {socket} (handover {handover})");
///     // Readable: read until there is nothing more.
///     let mut buf = Vec::new();
///     while reader.read(&mut buf, &waker) == InlineRead::Read {}
/// }
/// // The loop can no longer watch: the client reads meanwhile.
/// reader.pause();
/// // The stream is read elsewhere now.
/// reader.watch(false);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct LoopReader {
    commands: lane::WeakCommands,
    id: u64,
}

impl LoopReader {
    /// The loop watches the socket from now on (`true`: it reads whenever
    /// the socket is readable), or no longer does (`false`).
    pub fn watch(&self, on: bool) {
        if let Some(commands) = self.commands.upgrade() {
            inline::watch(&commands, self.id, on);
        }
    }

    /// Read what the socket has, if the client has handed it to this
    /// stream's reader, and feed it to the client: the messages go to the
    /// stream, the acknowledgements complete their publishes. Never asks
    /// for the socket ([`MessageStream::recv_step`] does). `waker` is woken
    /// when the client hands the socket over or takes it back.
    pub fn read(&self, buf: &mut Vec<u8>, waker: &std::task::Waker) -> InlineRead {
        let Some(commands) = self.commands.upgrade() else {
            return InlineRead::Unavailable;
        };
        inline::read(
            &commands,
            inline::Reader::Stream(self.id),
            inline::Ask::IfHeld,
            buf,
            Some(waker),
        )
    }

    /// The loop is there to read: ask the client for the socket (as a
    /// receive that waits does), without reading. `waker` is woken when the
    /// client hands it over. For a loop whose receives find their messages
    /// waiting (the client read them), so that they never ask themselves.
    pub fn ask(&self, waker: &std::task::Waker) {
        if let Some(commands) = self.commands.upgrade() {
            inline::ask(&commands, inline::Reader::Stream(self.id), waker);
        }
    }

    /// The socket this stream's reader holds now, and which handover that
    /// is (`None` while the client reads it itself): what the loop should
    /// watch. `waker` is woken when that changes. Takes a lock, makes no
    /// system call.
    pub fn held(&self, waker: &std::task::Waker) -> Option<(std::os::fd::RawFd, u64)> {
        let commands = self.commands.upgrade()?;
        inline::held(&commands, inline::Reader::Stream(self.id), waker)
    }

    /// The reader is away while the socket has bytes (the loop cannot
    /// watch it): the client reads them itself until the reader asks for
    /// the socket again (its next [`MessageStream::recv_step`]).
    pub fn pause(&self) {
        if let Some(commands) = self.commands.upgrade() {
            inline::pause(&commands, inline::Reader::Stream(self.id));
        }
    }
}

/// Waits for publishes on a blocking thread, reading the connection's
/// acknowledgements there while the client lets it (plain TCP, the session
/// in memory, the broker owing nothing but publish acknowledgements, and
/// either no message stream or one stream read by a blocking thread, whose
/// messages these reads then put in it): a QoS 1 stream then wakes no other
/// thread per acknowledgement. From [`NativeClient::acknowledgement_reader`].
///
/// Once a thread has waited this way, the client leaves the reading to
/// waiting threads: acknowledgements that arrive while no thread waits are
/// read by the next wait, or by the client itself when nobody has read for
/// about a second (so handles nobody waits for still complete, later).
#[derive(Debug, Clone)]
pub struct AcknowledgementReader {
    commands: lane::WeakCommands,
}

impl AcknowledgementReader {
    /// Block until `fut` (a [`PublishHandle`], or a future that awaits
    /// publishes) is ready, at most `timeout` (`None` then: `fut` is
    /// unchanged, wait again later). Example: see
    /// [`NativeClient::acknowledgement_reader`].
    pub fn block_on<F: Future + Unpin>(
        &self,
        fut: &mut F,
        timeout: std::time::Duration,
    ) -> Option<F::Output> {
        let deadline = std::time::Instant::now() + timeout;
        let signal = match inline::Signal::current() {
            Ok(signal) => signal,
            // No socket pair for this thread: wait for the future alone.
            Err(_) => return park_until(fut, deadline),
        };
        let waker = std::task::Waker::from(signal.clone());
        let mut cx = Context::from_waker(&waker);
        let mut announced = false;
        loop {
            if let Poll::Ready(value) = Pin::new(&mut *fut).poll(&mut cx) {
                if !announced {
                    // Ready at once: maybe read by the driver during a
                    // pause of the readers, which this thread ends.
                    if let Some(commands) = self.commands.upgrade() {
                        inline::wait_found_outcome(&commands);
                    }
                }
                return Some(value);
            }
            if !announced {
                // From now on waiting threads read acknowledgements (see
                // `inline::acks_read_blocking`); once per wait, one lock.
                announced = true;
                if let Some(commands) = self.commands.upgrade() {
                    inline::acks_read_blocking(&commands);
                }
            }
            let socket = match self.read(Some(&waker)) {
                InlineRead::Read => continue,
                InlineRead::Wait { socket, .. } => Some(socket),
                InlineRead::Unavailable => None,
            };
            if std::time::Instant::now() >= deadline {
                return None;
            }
            // The client knows a thread waits on the socket (see
            // `Commands::try_publish_with`).
            let reader = inline::Reader::Acks;
            inline::wait_blocking(&signal, &self.commands, reader, socket, deadline);
        }
    }

    /// Read what the socket has now, without waiting (completing the
    /// publishes it acknowledges), if the client lets this thread read.
    ///
    /// ```no_run
    /// # fn demo(client: midge_native::NativeClient, mut handle: midge_native::PublishHandle) {
    /// let reader = client.acknowledgement_reader();
    /// reader.read_available();
    /// if let Some(outcome) = handle.try_take() {
    ///     println!("{outcome:?}");
    /// }
    /// # }
    /// ```
    pub fn read_available(&self) {
        // No waker: one a waiting thread registered stays.
        while self.read(None) == InlineRead::Read {}
    }

    fn read(&self, waker: Option<&std::task::Waker>) -> InlineRead {
        let Some(commands) = self.commands.upgrade() else {
            return InlineRead::Unavailable;
        };
        inline::with_acks_buffer(|buf| {
            inline::read(
                &commands,
                inline::Reader::Acks,
                inline::Ask::ForSocket,
                buf,
                waker,
            )
        })
    }
}

/// Poll `fut` until it is ready or `deadline` passes, parking the thread.
fn park_until<F: Future + Unpin>(fut: &mut F, deadline: std::time::Instant) -> Option<F::Output> {
    let waker = std::task::Waker::from(Arc::new(ThreadWake(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(value) = Pin::new(&mut *fut).poll(&mut cx) {
            return Some(value);
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::park_timeout(deadline - now);
    }
}

/// Unparks a thread.
struct ThreadWake(std::thread::Thread);

impl std::task::Wake for ThreadWake {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// What the connection reports that no single operation waits for.
#[derive(Debug, Clone, PartialEq)]
pub enum NativeEvent {
    /// CONNACK accepted: the first connection or an automatic reconnect
    /// (`reconnected`).
    Connected(Box<Connected>),
    /// The connection ended or an attempt failed; `reconnecting` says
    /// whether the client will try again.
    Disconnected {
        /// Why the connection ended.
        error: NativeError,
        /// Whether the client will try again.
        reconnecting: bool,
        /// Milliseconds until the next attempt, when reconnecting.
        reconnect_in_ms: Option<u64>,
        /// The number of that attempt since the last stable connection
        /// (the core's count, the same in every runtime).
        attempt: u32,
    },
    /// The broker had lost the session, so the client subscribed again to
    /// the filters it had: one result per filter.
    SubscriptionsRestored {
        /// Each restored filter with the broker's answer to it.
        results: Vec<(String, SubscribeResult)>,
    },
    /// 5.0 enhanced authentication: the broker sent AUTH. Reason
    /// `ContinueAuthentication` asks for [`NativeClient::auth`]; `Success`
    /// ends a re-authentication.
    Auth {
        /// The AUTH packet's reason code.
        reason_code: ReasonCode,
        /// The AUTH packet's properties (method, data, reason string).
        properties: AuthProperties,
    },
    /// The session store failed to record a change: the session goes on in
    /// memory but may not survive a restart.
    StoreFailed {
        /// What failed.
        error: NativeError,
    },
    /// A 5.0 server redirected the client (Use Another Server or Server
    /// Moved with a Server Reference); see `ClientOptions::follow_redirects`.
    /// Comes just before the `Disconnected` of that connection.
    Redirected(Redirect),
}

/// Capacity of each [`EventStream`]: a reader this far behind loses the
/// oldest events.
pub const EVENT_BUFFER: usize = 256;

impl Drop for MessageStream {
    fn drop(&mut self) {
        self.unregister(Vec::new());
    }
}

struct Inner {
    commands: lane::Commands,
    /// Publishes sent to the driver and not yet handed to the core, and the
    /// signal that it fell below [`PUBLISH_BACKLOG`].
    backlog: Arc<Backlog>,
    counters: Arc<Counters>,
    status: watch::Receiver<ConnectionStatus>,
    events: Arc<events::EventHub>,
    next_route: AtomicU64,
    message_buffer: usize,
    handle: Handle,
}

/// How many publishes may wait for the driver before
/// [`NativeClient::publish_room`] makes a producer wait: a producer faster
/// than the socket would otherwise queue without bound.
pub const PUBLISH_BACKLOG: usize = 10_000;

#[derive(Debug, Default)]
pub(crate) struct Backlog {
    count: std::sync::atomic::AtomicUsize,
    room: tokio::sync::Notify,
}

impl Backlog {
    /// The driver took one publish.
    pub(crate) fn taken(&self) {
        if self.count.fetch_sub(1, Ordering::AcqRel) == PUBLISH_BACKLOG {
            self.room.notify_waiters();
        }
    }
}

/// Counts the driver copies from the core after each step.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    receive_maximum_overruns: AtomicU64,
    unknown_acks: AtomicU64,
    /// The core's `last_disconnect`, as text; set before the status changes.
    disconnect_cause: std::sync::Mutex<Option<String>>,
}

/// A handle to one MQTT client driven by a background task. Clone it freely;
/// the task (and the connection) ends when the last clone is dropped.
#[derive(Clone)]
pub struct NativeClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for NativeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeClient")
            .field("status", &*self.inner.status.borrow())
            .finish_non_exhaustive()
    }
}

/// The crate's shared tokio runtime (one worker thread: the drivers are I/O
/// bound, and one worker avoids waking a second one for every command),
/// created on first use. Blocking callers use `runtime().block_on(...)`.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("midge-native")
            .enable_all()
            .build()
            .expect("cannot start the tokio runtime")
    })
}

impl NativeClient {
    /// A client on the crate's [`runtime`]. Loads the session store (a
    /// corrupt file is an error) and checks every option; does not connect.
    pub fn new(options: NativeOptions) -> Result<NativeClient, NativeError> {
        NativeClient::with_runtime(options, runtime().handle().clone())
    }

    /// A client whose driver task runs on `handle`.
    pub fn with_runtime(
        options: NativeOptions,
        handle: Handle,
    ) -> Result<NativeClient, NativeError> {
        if options.message_buffer == 0 {
            return Err(NativeError::invalid("message_buffer", "must be at least 1"));
        }
        let needs_tls = options.client.servers.iter().any(|s| s.transport.is_tls());
        let tls = if needs_tls || options.tls != TlsOptions::default() {
            Some(options.tls.build()?)
        } else {
            None
        };
        let (core, store) = match &options.store {
            // The core's own state is the in-memory session: no store to
            // mirror every change into.
            StoreConfig::Memory => (Client::new(options.client.clone())?, None),
            StoreConfig::File(path) => {
                // Said now, not at the first write.
                let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
                if let Some(dir) = dir.filter(|d| !d.is_dir()) {
                    return Err(NativeError::invalid(
                        "session_store",
                        format!("the directory {} does not exist", dir.display()),
                    ));
                }
                durable(&options.client, Box::new(FileStore::new(path)))?
            }
            StoreConfig::Custom(custom) => {
                let store = custom.take().ok_or_else(|| {
                    NativeError::invalid(
                        "session_store",
                        "this custom store serves another client already (make one per client)",
                    )
                })?;
                durable(&options.client, store)?
            }
        };
        let mut core = core;
        if let Some(trace) = &options.trace {
            core.set_trace_level(trace.level);
            core.set_trace_payloads(trace.payloads);
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let lane = Arc::new(lane::Lane::new());
        let backlog = Arc::new(Backlog::default());
        let counters = Arc::new(Counters::default());
        let (status_tx, status_rx) = watch::channel(ConnectionStatus::Disconnected);
        let events_tx = Arc::new(events::EventHub::default());
        let driver = Driver::new(
            core,
            store,
            rx,
            lane.clone(),
            tls,
            options.tls.clone(),
            status_tx,
            events_tx.clone(),
            options.message_buffer,
            backlog.clone(),
            counters.clone(),
            options.trace.as_ref().map(|t| t.write.clone()),
            options.credentials.clone(),
            options.proxy.clone().map(Arc::new),
        );
        handle.spawn(driver.run());
        Ok(NativeClient {
            inner: Arc::new(Inner {
                commands: lane::Commands::new(tx, lane),
                backlog,
                counters,
                status: status_rx,
                events: events_tx,
                next_route: AtomicU64::new(1),
                message_buffer: options.message_buffer,
                handle,
            }),
        })
    }

    fn send<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, NativeError>>) -> Command,
    ) -> Reply<T> {
        let (tx, reply) = Reply::pending();
        if self.inner.commands.send(make(tx)).is_err() {
            return Reply::failed(stopped());
        }
        reply
    }

    /// Connect (and keep reconnecting per the policy). Resolves with the
    /// broker's CONNACK, or the error of the attempt when the policy gives up.
    pub fn connect(&self) -> Reply<Connected> {
        self.send(Command::Connect)
    }

    /// Publish. The core checks every argument (topic, properties, QoS
    /// against the server's maximum) before anything is sent; a bad one
    /// resolves the reply with [`NativeError::InvalidArgument`].
    pub fn publish(&self, publish: Publish) -> PublishHandle {
        match self.inner.commands.try_publish(Box::new(publish)) {
            Ok(done) => done,
            Err(publish) => self.publish_on_driver(publish),
        }
    }

    /// [`NativeClient::publish`] for a blocking caller that may publish in
    /// bursts: a QoS 0 publish made less than 100 µs after the one before
    /// it, on a connection whose publishes take the lane (plain TCP, the
    /// session in memory), is not written at once but with the rest of its
    /// burst, about 200 µs later at most (a thread of the process, or the
    /// burst's own next publish, writes what waited that long; up to about
    /// a millisecond when every core is busy), so that a burst goes out in
    /// a few writes instead of one per message. Any other publish is written as by
    /// [`publish`](Self::publish), after what the burst left, and a command
    /// to the client (a subscribe, a disconnect) follows what the burst
    /// left too. QoS 0 is at most once: a process that ends within those
    /// 200 µs of its last publish, without disconnecting, may end before
    /// the burst's last messages are written.
    ///
    /// ```no_run
    /// # fn demo(client: midge_native::NativeClient) {
    /// use midge_core::packet::{Publish, QoS};
    /// for i in 0..1000u32 {
    ///     // Done at once: the client took it (QoS 0).
    ///     drop(client.publish_batched(Publish::new("load/t", i.to_be_bytes().to_vec(), QoS::AtMostOnce)));
    /// }
    /// // Written after what the burst left.
    /// drop(client.disconnect(Default::default(), Default::default()));
    /// # }
    /// ```
    pub fn publish_batched(&self, publish: Publish) -> PublishHandle {
        let commands = &self.inner.commands;
        match commands.try_publish_with(Box::new(publish), lane::After::Batch) {
            Ok((done, flush_needed)) => {
                if flush_needed && !flusher::flush_later(commands.downgrade()) {
                    // No thread to write it: the driver does, before
                    // anything else, when it takes its core back.
                    let _ = commands.send(Command::Wake);
                }
                done
            }
            Err(publish) => self.publish_on_driver(publish),
        }
    }

    /// [`NativeClient::publish`] for a caller that learns the outcomes of
    /// its publishes by reading: its threads wait with an
    /// [`AcknowledgementReader`] or look with
    /// [`AcknowledgementReader::read_available`] (Python's blocking
    /// `Client`). Right after a QoS 1 or 2 publish, the calling thread reads
    /// the acknowledgements that have arrived, once, without waiting, and
    /// completes the publishes they acknowledge. It does so while the client
    /// has no message stream, the connection is plain TCP with the session
    /// in memory, and the caller publishes steadily (less than 50 ms apart):
    /// the runtime thread then no longer wakes for each acknowledgement of a
    /// publisher that collects its handles later. An acknowledgement that
    /// arrives after the last publish is read by the next publish, a wait or
    /// a look, or by the client within about a second; so a caller that
    /// awaits the handle on a runtime, without reading, should use
    /// [`NativeClient::publish`].
    ///
    /// ```no_run
    /// # fn demo(client: midge_native::NativeClient) {
    /// use midge_core::packet::{Publish, QoS};
    /// let reader = client.acknowledgement_reader();
    /// let mut handles: Vec<_> = (0..100u32)
    ///     .map(|i| client.publish_reading(Publish::new("load/t", i.to_be_bytes().to_vec(), QoS::AtLeastOnce)))
    ///     .collect();
    /// for handle in &mut handles {
    ///     let outcome = reader.block_on(handle, std::time::Duration::from_secs(10));
    ///     assert!(matches!(outcome, Some(Ok(_))));
    /// }
    /// # }
    /// ```
    pub fn publish_reading(&self, publish: Publish) -> PublishHandle {
        match self
            .inner
            .commands
            .try_publish_with(Box::new(publish), lane::After::WriteThenRead)
        {
            Ok((done, _)) => done,
            Err(publish) => self.publish_on_driver(publish),
        }
    }

    /// A publish through the command channel (the lane is shut).
    fn publish_on_driver(&self, publish: Box<Publish>) -> PublishHandle {
        self.inner.backlog.count.fetch_add(1, Ordering::AcqRel);
        let reply = self.send(|tx| Command::Publish(publish, tx));
        if self.inner.commands.is_closed() {
            self.inner.backlog.count.fetch_sub(1, Ordering::AcqRel);
        }
        reply
    }

    /// [`NativeClient::publish`] for a caller that runs an event loop: a
    /// publish made while the driver waits is not written at once but left
    /// for [`NativeClient::flush`], which the caller runs when its loop turns
    /// (one write for every publish of the turn). `true` in the result: this
    /// publish is the first left since the last flush, so the caller must
    /// arrange one. Only a QoS 0 publish within a burst (less than 100 µs
    /// after the previous one) waits; any other is written as by `publish`.
    /// Until the flush, the bytes also go out whenever the driver next
    /// wakes, before anything it sends.
    ///
    /// ```no_run
    /// # async fn demo(client: midge_native::NativeClient) {
    /// use midge_core::packet::{Publish, QoS};
    /// let mut flush_due = false;
    /// for i in 0..100u32 {
    ///     let (done, first) =
    ///         client.publish_deferred(Publish::new("load/t", i.to_be_bytes().to_vec(), QoS::AtMostOnce));
    ///     flush_due |= first;
    ///     drop(done);
    /// }
    /// // The loop's turn is over: one write for the whole burst.
    /// if flush_due {
    ///     client.flush();
    /// }
    /// # }
    /// ```
    pub fn publish_deferred(&self, publish: Publish) -> (PublishHandle, bool) {
        match self
            .inner
            .commands
            .try_publish_with(Box::new(publish), lane::After::Defer)
        {
            Ok(done) => done,
            Err(publish) => (self.publish_on_driver(publish), false),
        }
    }

    /// Writes what [`NativeClient::publish_deferred`] left (nothing if the
    /// driver took it already); what the socket does not take, the driver
    /// writes. Example: see [`NativeClient::publish_deferred`].
    pub fn flush(&self) {
        self.inner.commands.flush();
    }

    /// For an event loop that waits for this client's publishes: read the
    /// connection's socket now, without waiting, and complete the publishes
    /// whose acknowledgements it has (see the `inline` module: neither the
    /// runtime thread nor another thread is woken for them). The client
    /// lets a loop do this while it has no message stream and the broker
    /// owes nothing but publish acknowledgements, on plain TCP with the
    /// session in memory; otherwise, and until the client has handed the
    /// socket over, this returns [`InlineRead::Unavailable`] and `waker` is
    /// woken when it does (and whenever the client takes the socket back).
    /// On [`InlineRead::Wait`], call again when that socket is readable or
    /// `waker` fires. Messages and everything else the bytes make go to the
    /// client as usual. A loop that stops calling is noticed after a while
    /// with bytes waiting (about a second): the client reads them itself
    /// until the next call. `buf` is the caller's read buffer (start with an
    /// empty one and keep it).
    ///
    /// ```no_run
    /// # fn demo(client: midge_native::NativeClient, waker: std::task::Waker) {
    /// use midge_native::InlineRead;
    /// let mut buf = Vec::new();
    /// loop {
    ///     match client.read_acknowledgements(&mut buf, &waker) {
    ///         InlineRead::Read => {} // publishes may have completed
    ///         InlineRead::Wait { socket: _, .. } => { /* watch the socket and the waker */ break }
    ///         InlineRead::Unavailable => { /* watch the waker */ break }
    ///     }
    /// }
    /// # }
    /// ```
    pub fn read_acknowledgements(&self, buf: &mut Vec<u8>, waker: &std::task::Waker) -> InlineRead {
        inline::read(
            &self.inner.commands,
            inline::Reader::Acks,
            inline::Ask::ForSocket,
            buf,
            Some(waker),
        )
    }

    /// For threads that block until a publish completes: an
    /// [`AcknowledgementReader`], which reads the acknowledgements on the
    /// waiting thread (see [`NativeClient::read_acknowledgements`]). It does
    /// not keep the client alive.
    ///
    /// ```no_run
    /// # fn demo(client: midge_native::NativeClient) {
    /// use midge_core::packet::{Publish, QoS};
    /// let reader = client.acknowledgement_reader();
    /// let mut handle = client.publish(Publish::new("greenhouse/temp", b"21.5".to_vec(), QoS::AtLeastOnce));
    /// match reader.block_on(&mut handle, std::time::Duration::from_secs(5)) {
    ///     Some(Ok(_)) => println!("acknowledged"),
    ///     Some(Err(e)) => println!("failed: {e}"),
    ///     None => println!("not yet: wait again later"),
    /// }
    /// # }
    /// ```
    pub fn acknowledgement_reader(&self) -> AcknowledgementReader {
        AcknowledgementReader {
            commands: self.inner.commands.downgrade(),
        }
    }

    /// Resolves when fewer than [`PUBLISH_BACKLOG`] publishes wait for the
    /// driver: a producer that publishes without waiting for each result
    /// awaits this (or blocks on it) first, so memory stays bounded.
    ///
    /// ```no_run
    /// # async fn demo(client: midge_native::NativeClient) {
    /// use midge_core::packet::{Publish, QoS};
    /// for i in 0..1_000_000u32 {
    ///     client.publish_room().await;
    ///     drop(client.publish(Publish::new("load/t", i.to_be_bytes().to_vec(), QoS::AtMostOnce)));
    /// }
    /// # }
    /// ```
    pub async fn publish_room(&self) {
        loop {
            let backlog = &self.inner.backlog;
            let notified = backlog.room.notified();
            if backlog.count.load(Ordering::Acquire) < PUBLISH_BACKLOG
                || self.inner.commands.is_closed()
            {
                return;
            }
            notified.await;
        }
    }

    /// QoS 1/2 publishes the broker sent beyond our Receive Maximum and the
    /// core accepted (`ClientOptions::strict_receive_maximum` off); see
    /// `midge_core::Client::receive_maximum_overruns`. Read without a round
    /// trip to the driver, so it may trail the last packet by one step.
    ///
    /// ```
    /// let client = midge_native::NativeClient::new(
    ///     midge_native::NativeOptions::new("mqtt://127.0.0.1:1883")?,
    /// )?;
    /// assert_eq!(client.receive_maximum_overruns(), 0);
    /// # Ok::<(), midge_native::NativeError>(())
    /// ```
    pub fn receive_maximum_overruns(&self) -> u64 {
        self.inner
            .counters
            .receive_maximum_overruns
            .load(Ordering::Relaxed)
    }

    /// PUBACK, PUBREC and PUBCOMP the broker sent for packet ids with no
    /// publish waiting for them, ignored with the connection kept; see
    /// `midge_core::Client::unknown_acks`. Read like
    /// [`receive_maximum_overruns`](Self::receive_maximum_overruns).
    pub fn unknown_acks(&self) -> u64 {
        self.inner.counters.unknown_acks.load(Ordering::Relaxed)
    }

    /// Why the last connection ended or the last attempt failed
    /// ([`midge_core::Client::last_disconnect`]); `None` while connected and
    /// before the first disconnect. Updated before [`status`](Self::status)
    /// changes, so a reader woken by the new status reads its cause.
    pub fn disconnect_cause(&self) -> Option<String> {
        self.disconnect_cause_reader()()
    }

    /// [`disconnect_cause`](Self::disconnect_cause) for a thread that must
    /// not keep the client alive (a clone of the handle would keep the
    /// connection open after the application dropped its own).
    pub fn disconnect_cause_reader(&self) -> impl Fn() -> Option<String> + Send + 'static {
        let counters = self.inner.counters.clone();
        move || {
            counters
                .disconnect_cause
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        }
    }

    /// True when [`publish_room`](Self::publish_room) would wait.
    pub fn publish_backlog_full(&self) -> bool {
        self.inner.backlog.count.load(Ordering::Acquire) >= PUBLISH_BACKLOG
            && !self.inner.commands.is_closed()
    }

    /// Subscribe to one or more filters in one SUBSCRIBE.
    pub fn subscribe(
        &self,
        filters: Vec<SubscribeFilter>,
        properties: SubscribeProperties,
    ) -> Reply<SubscribeOutcome> {
        self.send(|tx| Command::Subscribe(filters, Box::new(properties), tx))
    }

    /// Unsubscribe from one or more filters in one UNSUBSCRIBE.
    pub fn unsubscribe(
        &self,
        filters: Vec<String>,
        properties: UnsubscribeProperties,
    ) -> Reply<UnsubscribeOutcome> {
        self.send(|tx| Command::Unsubscribe(filters, Box::new(properties), tx))
    }

    /// Send DISCONNECT (5.0: with a reason code and properties, e.g. a new
    /// session expiry), close the transport gracefully and stop
    /// reconnecting. Resolves once the transport is closed. Pending QoS 1/2
    /// publishes resolve with [`NativeError::Interrupted`] and stay in the
    /// session; pending subscribes end Interrupted and are dropped; later commands fail at once
    /// with [`NativeError::Closed`] until `connect` resumes the session.
    pub fn disconnect(
        &self,
        reason_code: ReasonCode,
        properties: DisconnectProperties,
    ) -> Reply<()> {
        self.send(|tx| Command::Disconnect(reason_code, Box::new(properties), tx))
    }

    /// Messages whose topic matches `filter` (`None`: every message). Every
    /// stream gets every message it matches, in arrival order. A filtered
    /// stream sees what arrives after it was made, so make it before
    /// subscribing; the first stream without a filter also gets the last
    /// `message_buffer` messages that arrived while none existed.
    ///
    /// In manual-ack mode every stream a message reaches gets the same
    /// [`AckHandle`] (acknowledge it once); a message that reaches no stream
    /// is acknowledged at once, since nobody could.
    pub fn messages(&self, filter: Option<String>) -> Result<MessageStream, NativeError> {
        self.add_stream(filter, false)
    }

    /// [`messages`](Self::messages) for a consumer that may never read, like
    /// a Kotlin `Flow` made and not collected: until its first read the
    /// stream does not hold delivery back. It keeps the first
    /// `message_buffer` messages it matches; later ones are not given to it
    /// (other streams get them as usual; in manual-ack mode a message no
    /// stream took is acknowledged). From the first read on it is an
    /// ordinary stream.
    ///
    /// ```no_run
    /// # async fn demo(client: midge_native::NativeClient) -> Result<(), midge_native::NativeError> {
    /// let mut later = client.messages_on_demand(Some("alerts/#".into()))?;
    /// // ... perhaps never read: the other streams do not wait for it.
    /// if let Some(first) = later.recv().await {
    ///     println!("{}", first.topic);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn messages_on_demand(&self, filter: Option<String>) -> Result<MessageStream, NativeError> {
        self.add_stream(filter, true)
    }

    fn add_stream(
        &self,
        filter: Option<String>,
        on_demand: bool,
    ) -> Result<MessageStream, NativeError> {
        if let Some(f) = &filter {
            validate_topic_filter(f).map_err(|e| NativeError::invalid("filter", e.to_string()))?;
        }
        let id = self.inner.next_route.fetch_add(1, Ordering::Relaxed);
        let filter_is_none = filter.is_none();
        let (tx, rx) = mpsc::channel(self.inner.message_buffer);
        self.inner
            .commands
            .send(Command::AddRoute(id, filter, tx, on_demand))
            .map_err(|_| stopped())?;
        Ok(MessageStream {
            id,
            rx,
            commands: self.inner.commands.downgrade(),
            catch_all: filter_is_none,
            closed: false,
            claim_on_read: on_demand,
            read_buf: Vec::new(),
        })
    }

    /// Acknowledge an inbound QoS 1/2 message in manual-ack mode
    /// ([`ClientOptions::manual_acks`]): the PUBACK (QoS 1) or PUBREC (QoS 2)
    /// goes out now. The core decides: a handle that is not awaiting an
    /// acknowledgement (acknowledged already, or a QoS 1 message from a
    /// connection that has since closed, which the broker sends again) is
    /// refused with [`NativeError::AckNotPending`].
    ///
    /// ```no_run
    /// # async fn demo(client: midge_native::NativeClient) -> Result<(), midge_native::NativeError> {
    /// let mut messages = client.messages(None)?;
    /// let message = messages.recv_message().await.unwrap();
    /// if let Some(handle) = message.ack {
    ///     client.ack(handle).await?;
    ///     assert!(client.ack(handle).await.is_err()); // only once
    /// }
    /// # Ok(()) }
    /// ```
    pub fn ack(&self, handle: AckHandle) -> Reply<()> {
        self.send(|tx| Command::Ack(handle, tx))
    }

    /// 5.0 enhanced authentication: answer the broker's AUTH challenge
    /// ([`NativeEvent::Auth`] with `ContinueAuthentication`), during CONNECT
    /// or a re-authentication. Without an `authentication_method` the one
    /// of the options is used.
    ///
    /// ```no_run
    /// # async fn demo(client: midge_native::NativeClient) -> Result<(), midge_native::NativeError> {
    /// use midge_core::packet::AuthProperties;
    /// let mut answer = AuthProperties::default();
    /// answer.authentication_data = Some(bytes::Bytes::from_static(b"client-final"));
    /// client.auth(answer).await?;
    /// # Ok(()) }
    /// ```
    pub fn auth(&self, properties: AuthProperties) -> Reply<()> {
        self.send(|tx| Command::Auth(false, Box::new(properties), tx))
    }

    /// 5.0: start re-authentication on the live connection (AUTH with
    /// reason `ReAuthenticate`). The broker answers with AUTH events.
    ///
    /// ```no_run
    /// # async fn demo(client: midge_native::NativeClient) -> Result<(), midge_native::NativeError> {
    /// use midge_core::packet::AuthProperties;
    /// let mut start = AuthProperties::default();
    /// start.authentication_data = Some(bytes::Bytes::from_static(b"token-2"));
    /// client.reauthenticate(start).await?;
    /// # Ok(()) }
    /// ```
    pub fn reauthenticate(&self, properties: AuthProperties) -> Reply<()> {
        self.send(|tx| Command::Auth(true, Box::new(properties), tx))
    }

    /// Events from now on (connected, disconnected, subscriptions restored,
    /// AUTH, store failures). Make the stream before `connect` to see the
    /// AUTH challenge of the first connection.
    ///
    /// ```no_run
    /// # async fn demo(client: midge_native::NativeClient) {
    /// let mut events = client.events();
    /// let connecting = client.connect();
    /// if let Some(midge_native::NativeEvent::Connected(c)) = events.recv().await {
    ///     println!("session present: {}", c.session_present);
    /// }
    /// # let _ = connecting.await;
    /// # }
    /// ```
    pub fn events(&self) -> EventStream {
        self.inner.events.subscribe()
    }

    /// Watch the connection status.
    pub fn status(&self) -> watch::Receiver<ConnectionStatus> {
        self.inner.status.clone()
    }

    /// The network changed: retry now if waiting to reconnect, or probe the
    /// live link with a PINGREQ.
    pub fn network_changed(&self) {
        let _ = self.inner.commands.send(Command::NetworkChanged);
    }

    /// Changes the lowest severity of the trace lines the client writes to
    /// its [`TraceSink`], and whether packet lines show payload bytes (a
    /// client made without a sink writes nothing).
    pub fn set_trace(&self, level: Option<Severity>, payloads: bool) {
        let _ = self.inner.commands.send(Command::SetTrace(level, payloads));
    }

    /// Close the transport but keep the session (e.g. an app going to the
    /// background). Pending operations stay pending until
    /// [`resume`](Self::resume), and new ones are accepted and wait.
    pub fn pause(&self) {
        let _ = self.inner.commands.send(Command::Pause);
    }

    /// Reconnect now after [`pause`](Self::pause).
    pub fn resume(&self) {
        let _ = self.inner.commands.send(Command::Resume);
    }

    /// Drop the transport without DISCONNECT, as if the network failed (the
    /// broker publishes the will; the client reconnects per its policy).
    pub fn drop_transport(&self) {
        let _ = self.inner.commands.send(Command::DropTransport);
    }

    /// Resolves once every command sent before it has reached the core and
    /// (with a [`FileStore`]) every session change made so far is on disk;
    /// fails with [`NativeError::Store`] when the store could not write.
    pub fn sync(&self) -> Reply<()> {
        self.send(Command::Sync)
    }

    /// The runtime the driver runs on.
    pub fn handle(&self) -> &Handle {
        &self.inner.handle
    }
}
