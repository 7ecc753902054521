//! The task that owns one `midge_core::Client` and moves bytes, time and
//! commands through it. It only carries out what the core asks for (open,
//! close, write, wait) and routes the core's events to whoever waits on them.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use midge_core::packet::{
    AuthProperties, DisconnectProperties, Publish, QoS, ReasonCode, SubscribeFilter,
    SubscribeProperties, UnsubscribeProperties,
};
use midge_core::router::Router;
use midge_core::session::{PublishToken, SessionStore, StoreError};
use midge_core::{
    AckHandle, Client, Connected, ConnectionState, Event, Message, PublishDone, RequestToken,
    TransportCommand, TransportFailure, CLOSE_LINGER_MS,
};
use rustls::ClientConfig;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

use crate::inline::Reader;
use crate::lane::Lane;
use crate::transport::{self, Conn, Read};
use crate::{
    ConnectionStatus, NativeError, NativeEvent, SubscribeOutcome, TlsOptions, UnsubscribeOutcome,
};

pub(crate) type Answer<T> = oneshot::Sender<Result<T, NativeError>>;

/// A request from a `NativeClient` handle.
// The large payloads are boxed: the command channel allocates its slots 32
// at a time, per client, so the size of a command is memory of every idle
// connection (216 bytes a command made a 7 KiB block).
pub(crate) enum Command {
    Connect(Answer<Connected>),
    Publish(Box<Publish>, Answer<PublishDone>),
    Subscribe(
        Vec<SubscribeFilter>,
        Box<SubscribeProperties>,
        Answer<SubscribeOutcome>,
    ),
    Unsubscribe(
        Vec<String>,
        Box<UnsubscribeProperties>,
        Answer<UnsubscribeOutcome>,
    ),
    Disconnect(ReasonCode, Box<DisconnectProperties>, Answer<()>),
    /// A stream: id, filter, sender, and whether it is on demand (does not
    /// hold delivery back until [`Command::ClaimRoute`]).
    AddRoute(u64, Option<String>, mpsc::Sender<Message>, bool),
    /// The first read of an on-demand stream.
    ClaimRoute(u64),
    /// Unregister a stream; a stream without a filter returns the messages
    /// it did not read.
    RemoveRoute(u64, Vec<Message>, Option<mpsc::Receiver<Message>>),
    Ack(AckHandle, Answer<()>),
    /// `true`: start a re-authentication; `false`: answer a challenge.
    Auth(bool, Box<AuthProperties>, Answer<()>),
    NetworkChanged,
    SetTrace(Option<midge_core::trace::Severity>, bool),
    Pause,
    Resume,
    DropTransport,
    Sync(Answer<()>),
    /// The publish lane left work for the driver (see `crate::lane`).
    Wake,
}

/// The store's answer to one batch, with the store back.
type Persisted = (Box<dyn SessionStore + Send>, u64, Result<(), StoreError>);

/// How many queued commands are handled before the pending bytes are written,
/// so that a burst of publishes leaves in a few large writes.
const COMMAND_BATCH: usize = 512;
/// The read buffer starts small (an idle connection should cost little
/// memory) and doubles whenever a read fills it, up to this.
const READ_BUFFER: usize = 64 * 1024;
const FIRST_READ_BUFFER: usize = 256;
/// How often the driver looks whether a blocking reader that holds the
/// socket is away with bytes waiting (see `crate::inline`).
const READER_CHECK_MS: u64 = 1000;

/// A connection being opened, polled beside commands and timers.
type Opening = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<(Conn, Option<midge_core::options::Credentials>), TransportFailure>,
            > + Send,
    >,
>;

enum Wake {
    Command(Option<Command>),
    /// The connection asked for by `TransportCommand::Open` opened or failed.
    Opened(Result<(Conn, Option<midge_core::options::Credentials>), TransportFailure>),
    Read(std::io::Result<Read>),
    Timer,
    /// The stream that held delivery back has room again (or was dropped).
    Room,
    /// The store finished writing a batch.
    Persisted(Persisted),
}

/// A message that some stream had no room for yet: delivery waits, in
/// arrival order, and the socket is not read meanwhile (see
/// [`Client::awaiting_server`] for the one exception).
struct Held {
    message: Message,
    /// The streams that still have to get it.
    targets: Vec<u64>,
    /// Some stream took it already (manual-ack bookkeeping).
    delivered: bool,
}

/// The driver's core: here while the driver works, parked in the lane
/// while it waits for I/O with the lane open (see `crate::lane`).
struct CoreSlot(Option<Box<Client>>);

impl std::ops::Deref for CoreSlot {
    type Target = Client;
    fn deref(&self) -> &Client {
        self.0
            .as_deref()
            .expect("the core is parked only inside Driver::wait")
    }
}

impl std::ops::DerefMut for CoreSlot {
    fn deref_mut(&mut self) -> &mut Client {
        self.0
            .as_deref_mut()
            .expect("the core is parked only inside Driver::wait")
    }
}

pub(crate) struct Driver {
    core: CoreSlot,
    lane: Arc<Lane>,
    /// The session store of a durable client (`None` while it writes a batch
    /// on a blocking thread, and for an in-memory session).
    store: Option<Box<dyn SessionStore + Send>>,
    /// The batch being written.
    persisting: Option<tokio::task::JoinHandle<Persisted>>,
    /// `sync()` calls waiting for every change to be durable.
    sync_waiters: Vec<Answer<()>>,
    commands: mpsc::UnboundedReceiver<Command>,
    conn: Option<Conn>,
    tls: Option<Arc<ClientConfig>>,
    tls_options: TlsOptions,
    status: watch::Sender<ConnectionStatus>,
    epoch: Instant,
    read_buf: Vec<u8>,
    out: Vec<u8>,
    connect_waiters: Vec<Answer<Connected>>,
    disconnect_waiters: Vec<Answer<()>>,
    publish_waiters: HashMap<PublishToken, Answer<PublishDone>>,
    subscribe_waiters: HashMap<RequestToken, Answer<SubscribeOutcome>>,
    unsubscribe_waiters: HashMap<RequestToken, Answer<UnsubscribeOutcome>>,
    router: Router<u64>,
    catch_all: Vec<u64>,
    routes: HashMap<u64, (Option<String>, mpsc::Sender<Message>)>,
    /// On-demand streams not read yet: when full, a message passes them by
    /// instead of waiting for room.
    unread_on_demand: std::collections::HashSet<u64>,
    events: Arc<crate::events::EventHub>,
    route_buf: Vec<u64>,
    /// Messages waiting for room in a stream, oldest first.
    held: VecDeque<Held>,
    /// While no stream without a filter exists: copies of the messages that
    /// arrived, for the next such stream (so that `subscribe` then
    /// `messages()` misses no retained message), each with whether another
    /// stream took it. At most `unclaimed_limit`, the oldest dropped beyond.
    unclaimed: VecDeque<(Message, bool)>,
    unclaimed_limit: usize,
    /// The connection asked for by `TransportCommand::Open`, polled in `wait`.
    opening: Option<Opening>,
    stopping: bool,
    /// The last command wake found more commands queued behind its first.
    in_burst: bool,
    backlog: Arc<crate::Backlog>,
    counters: Arc<crate::Counters>,
    /// Where the core's trace lines go.
    trace: Option<TraceWrite>,
    /// Events an inline reader left (see `crate::inline`), dispatched before
    /// the core's own.
    spilled: VecDeque<Event>,
    /// How many times the socket was handed to a reader.
    handovers: u64,
    /// The reads a loop that reads acknowledgements had made when the
    /// driver last saw the count change, and when that was.
    reader_reads: (u64, Instant),
    /// Called before each connection attempt.
    credentials: Option<crate::CredentialsProvider>,
    /// Every connection goes through it.
    proxy: Option<Arc<crate::HttpProxy>>,
}

type TraceWrite = Arc<dyn Fn(midge_core::trace::TraceRecord) + Send + Sync>;

impl Drop for Driver {
    /// However the driver ends (its handles gone, the runtime shut down),
    /// the event streams end after what they hold.
    fn drop(&mut self) {
        self.events.close();
        // Dropped while waiting (the runtime shut down): nobody may publish
        // on a core whose driver is gone, and the publishes that wait in the
        // lane for an acknowledgement end (dropped answers: "stopped").
        let mut parked = self.lane.lock();
        parked.core = None;
        parked.tcp = None;
        parked.waiters.clear();
        parked.inline = None;
        // A reader waiting on the socket looks again, and finds its stream closed.
        parked.inline_wakers.wake();
    }
}

impl Driver {
    #[allow(clippy::too_many_arguments)] // each is one part the handle shares with the task
    pub(crate) fn new(
        core: Client,
        store: Option<Box<dyn SessionStore + Send>>,
        commands: mpsc::UnboundedReceiver<Command>,
        lane: Arc<Lane>,
        tls: Option<Arc<ClientConfig>>,
        tls_options: TlsOptions,
        status: watch::Sender<ConnectionStatus>,
        events: Arc<crate::events::EventHub>,
        message_buffer: usize,
        backlog: Arc<crate::Backlog>,
        counters: Arc<crate::Counters>,
        trace: Option<TraceWrite>,
        credentials: Option<crate::CredentialsProvider>,
        proxy: Option<Arc<crate::HttpProxy>>,
    ) -> Driver {
        // The lane's clock: a publish on the lane uses the same `now`.
        let epoch = lane.epoch;
        Driver {
            core: CoreSlot(Some(Box::new(core))),
            lane,
            store,
            persisting: None,
            sync_waiters: Vec::new(),
            commands,
            conn: None,
            tls,
            tls_options,
            status,
            epoch,
            read_buf: vec![0; FIRST_READ_BUFFER],
            out: Vec::new(),
            connect_waiters: Vec::new(),
            disconnect_waiters: Vec::new(),
            publish_waiters: HashMap::new(),
            subscribe_waiters: HashMap::new(),
            unsubscribe_waiters: HashMap::new(),
            router: Router::new(),
            catch_all: Vec::new(),
            routes: HashMap::new(),
            events,
            route_buf: Vec::new(),
            held: VecDeque::new(),
            unclaimed: VecDeque::new(),
            unclaimed_limit: message_buffer,
            unread_on_demand: Default::default(),
            opening: None,
            stopping: false,
            in_burst: false,
            backlog,
            counters,
            trace,
            spilled: VecDeque::new(),
            handovers: 0,
            reader_reads: (0, Instant::now()),
            credentials,
            proxy,
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    pub(crate) async fn run(mut self) {
        loop {
            self.run_transport_commands().await;
            self.start_persist();
            self.flush().await;
            // Before the events: whoever a Connected event wakes sees the new status.
            self.update_status();
            // The lines before the events they tell of.
            self.write_trace();
            while let Some(event) = self.spilled.pop_front() {
                self.dispatch(event);
            }
            while let Some(event) = self.core.poll_event() {
                self.dispatch(event);
            }
            self.update_status();
            self.answer_syncs();
            if self.stopping {
                break;
            }
            let wake = self.wait().await;
            match wake {
                Wake::Command(None) => {
                    // Every handle is gone: drop the connection (no DISCONNECT,
                    // so the broker publishes the will, as for a crash).
                    self.stopping = true;
                    self.conn = None;
                }
                Wake::Command(Some(command)) => {
                    self.lane.command_taken();
                    self.handle_command(command);
                    // In a burst (the last wake found more commands queued),
                    // let the producer add to it, so that one write carries
                    // many packets. A lone command (a device publishing now
                    // and then) goes out at once: a yield costs the worker
                    // one more poll of its I/O driver (a system call).
                    if self.in_burst {
                        tokio::task::yield_now().await;
                    }
                    let mut queued = 0;
                    while queued < COMMAND_BATCH {
                        match self.commands.try_recv() {
                            Ok(command) => {
                                self.lane.command_taken();
                                self.handle_command(command);
                            }
                            Err(_) => break,
                        }
                        queued += 1;
                    }
                    self.in_burst = queued > 0;
                }
                Wake::Read(Ok(Read::Buf(n))) => {
                    let now = self.now();
                    self.core.handle_bytes(now, &self.read_buf[..n]);
                    if n == self.read_buf.len() && n < READ_BUFFER {
                        // Traffic: read more per wake-up.
                        self.read_buf.resize(2 * n, 0);
                    }
                }
                Wake::Read(Ok(Read::Frame(bytes))) => {
                    let now = self.now();
                    self.core.handle_bytes(now, &bytes);
                }
                Wake::Read(Ok(Read::Eof)) => self.transport_lost(TransportFailure::closed()),
                Wake::Read(Err(e)) => self.transport_lost(transport::read_failure(&e)),
                Wake::Opened(opened) => {
                    self.opening = None;
                    let now = self.now();
                    match opened {
                        Ok((conn, credentials)) => {
                            let refused = credentials
                                .map(|c| self.core.set_credentials(c))
                                .transpose()
                                .err();
                            match refused {
                                None => {
                                    self.conn = Some(conn);
                                    self.core.handle_transport_open(now);
                                }
                                // Bad credentials cannot connect: said as a
                                // failure of this attempt, the policy goes on.
                                Some(e) => self.core.handle_transport_failed(
                                    now,
                                    TransportFailure::new(
                                        midge_core::TransportFailureKind::Config,
                                        format!("the credentials provider gave {e}"),
                                    ),
                                ),
                            }
                        }
                        Err(failure) => self.core.handle_transport_failed(now, failure),
                    }
                }
                Wake::Timer => {
                    let now = self.now();
                    self.core.handle_timeout(now);
                }
                Wake::Room => self.deliver_held(),
                Wake::Persisted(done) => self.persisted(done),
            }
        }
        // A batch being written finishes (its changes were made; the bytes
        // that waited for it are lost with the connection, and go out again
        // from the session on the next start).
        if let Some(writing) = self.persisting.take() {
            if let Ok(done) = writing.await {
                self.persisted(done);
            }
        }
        self.fail_all(|| NativeError::closed("the client was dropped"));
    }

    /// Hand the next batch of session changes to the store, on a blocking
    /// thread: the driver goes on meanwhile, and what the client records in
    /// the meantime forms the next batch (group commit).
    fn start_persist(&mut self) {
        if self.persisting.is_some() {
            return;
        }
        let Some(mut store) = self.store.take() else {
            return;
        };
        let Some(batch) = self.core.poll_persist() else {
            self.store = Some(store);
            return;
        };
        self.persisting = Some(tokio::task::spawn_blocking(move || {
            let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                store.persist(&batch.changes)
            }))
            .unwrap_or_else(|_| {
                Err(StoreError::Io {
                    message: "the session store panicked".into(),
                })
            });
            (store, batch.seq, written)
        }));
    }

    fn persisted(&mut self, (store, seq, written): Persisted) {
        self.persisting = None;
        self.store = Some(store);
        let now = self.now();
        match written {
            Ok(()) => self.core.handle_persisted(seq),
            Err(e) => {
                for waiter in self.sync_waiters.drain(..) {
                    let _ = waiter.send(Err(NativeError::from(e.clone())));
                }
                self.core.handle_persist_failed(now, seq, e);
            }
        }
        self.start_persist();
    }

    /// `sync()` returns once every change made before it is durable.
    fn answer_syncs(&mut self) {
        let answer = if self.core.store_failed() {
            Err(NativeError::Store {
                message:
                    "the session store failed; the client retries it on the next connection attempt"
                        .into(),
            })
        } else if self.core.unpersisted_changes() == 0 {
            Ok(())
        } else {
            return;
        };
        for waiter in self.sync_waiters.drain(..) {
            let _ = waiter.send(answer.clone());
        }
    }

    async fn wait(&mut self) -> Wake {
        let deadline = self.core.poll_timeout();
        let sleep_at = deadline.map(|at| self.epoch + Duration::from_millis(at));
        // Backpressure: a stream without room stops the reads, unless the
        // broker owes an answer that may sit behind the unread messages.
        let may_read = self.held.is_empty() || self.core.awaiting_server();
        let can_read = self.conn.is_some() && may_read;
        // The stream the oldest held message waits for.
        let blocked: Option<mpsc::Sender<Message>> = self
            .held
            .front()
            .and_then(|h| h.targets.first())
            .and_then(|id| self.routes.get(id))
            .map(|(_, tx)| tx.clone());
        let has_blocked = blocked.is_some();
        let is_opening = self.opening.is_some();
        let Some(parked) = self.park() else {
            // Putting the socket back failed: the core has the loss to tell.
            return Wake::Timer;
        };
        // A blocking reader has the socket: look in on it now and then
        // (see `unpark`).
        let sleep_at = match (sleep_at, self.checks_reader()) {
            (Some(at), Some(check)) => Some(at.min(check)),
            (at, check) => at.or(check),
        };
        // A detached socket is read by the stream's reader.
        let can_read = can_read && self.conn.as_ref().is_some_and(|c| c.detached().is_none());
        let conn = &mut self.conn;
        let buf = &mut self.read_buf;
        let commands = &mut self.commands;
        let opening = &mut self.opening;
        let persisting = &mut self.persisting;
        let is_persisting = persisting.is_some();
        let wake = tokio::select! {
            done = async { persisting.as_mut().expect("guarded by is_persisting").await }, if is_persisting => match done {
                Ok(done) => Wake::Persisted(done),
                // The blocking task cannot panic (caught inside) and is never
                // aborted; a runtime shutting down ends the driver anyway.
                Err(_) => Wake::Command(None),
            },
            command = commands.recv() => Wake::Command(command),
            opened = async { opening.as_mut().expect("guarded by is_opening").await }, if is_opening => Wake::Opened(opened),
            read = async { conn.as_mut().expect("guarded by can_read").read(buf).await }, if can_read => Wake::Read(read),
            _ = async { tokio::time::sleep_until(sleep_at.expect("guarded")).await }, if sleep_at.is_some() => Wake::Timer,
            _ = async {
                // The permit is dropped at once: it only signals room (only
                // this task sends, so the room is still there afterwards).
                let _ = blocked.as_ref().expect("guarded").reserve().await;
            }, if has_blocked => Wake::Room,
        };
        if parked {
            self.unpark();
        }
        wake
    }

    /// While waiting, leave the core to the publish lane if a publish may
    /// take it there (see `crate::lane`), and the socket to a stream's reader
    /// if one asked and nothing else needs it (see `crate::inline`); `true`
    /// if parked, `None` if the connection was lost putting a detached
    /// socket back into the poller.
    fn park(&mut self) -> Option<bool> {
        // Trace lines the core writes on the lane wake the driver up.
        let lane_open = self.store.is_none()
            && self.held.is_empty()
            && self.opening.is_none()
            && self.core.state() == ConnectionState::Connected;
        let mut parked = self.lane.lock();
        // Whether `reader` would complete publishes: a loop that reads
        // acknowledgements, a stream whose loop watches the socket all
        // along, or a stream's reader once threads that wait for publishes
        // read too (each of them reads what arrives while it waits, and the
        // driver looks in on blocking readers).
        let completes_publishes = |reader: Reader| match reader {
            Reader::Acks => true,
            Reader::Stream(id) => parked.watched_stream == Some(id) || parked.acks_read_blocking,
        };
        // A reader that blocks a thread reads only while a thread waits (or,
        // for a blocking publisher, as it publishes): with none waiting,
        // publishes the window holds back would wait for its return, or for
        // this driver's look a second on, for the acknowledgements that make
        // room. The driver reads them until the window has room.
        let window_blocked =
            parked.reader_blocks && parked.threads_in_wait == 0 && self.core.queued_len() > 0;
        let reader = parked
            .inline_wanted
            .filter(|_| lane_open && !parked.inline_paused && !window_blocked)
            .map(|reader| match (reader, self.sole_stream()) {
                // Threads that wait for publishes read for the one stream
                // (its consumer may find its messages waiting, read by
                // them, and never ask itself).
                (Reader::Acks, Some(id)) if parked.acks_read_blocking => Reader::Stream(id),
                _ => reader,
            })
            .and_then(|reader| {
                let completes = completes_publishes(reader);
                Some((reader, completes, self.inline_target(reader, completes)?))
            });
        // Out of tokio's poller for the reader, back in otherwise.
        if let Some(conn) = self.conn.take() {
            let conn = if reader.is_some() {
                conn.detach().unwrap_or_else(|conn| conn)
            } else {
                match conn.attach() {
                    Ok(conn) => conn,
                    Err(e) => {
                        drop(parked);
                        self.transport_lost(transport::read_failure(&e));
                        return None;
                    }
                }
            };
            self.conn = Some(conn);
        }
        if !lane_open {
            return Some(false);
        }
        let Some(tcp) = self.conn.as_ref().and_then(Conn::shared_tcp) else {
            return Some(false);
        };
        let detached = self.conn.as_ref().and_then(Conn::detached).cloned();
        parked.core = self.core.0.take();
        parked.tcp = Some(tcp);
        if let (Some((reader, completes_publishes, tx)), Some(socket)) = (reader, detached) {
            self.handovers += 1;
            if completes_publishes {
                // The reader completes every publish whose acknowledgement
                // it reads, the driver's too.
                parked.waiters.extend(self.publish_waiters.drain());
            }
            parked.inline = Some(crate::inline::Reading {
                socket,
                reader,
                tx,
                completes_publishes,
                handover: self.handovers,
            });
            parked.inline_wakers.wake();
        }
        Some(true)
    }

    /// The client's one stream, if it has one and no other (without a
    /// filter: it takes every message).
    fn sole_stream(&self) -> Option<u64> {
        match self.catch_all[..] {
            [id] if self.routes.len() == 1 => Some(id),
            _ => None,
        }
    }

    /// When to look whether a reader holding the socket is away: a blocking
    /// one, or a loop that reads acknowledgements.
    fn checks_reader(&self) -> Option<Instant> {
        let parked = self.lane.lock();
        let watched = parked
            .inline
            .as_ref()
            .is_some_and(|reading| parked.reader_blocks || reading.reader == Reader::Acks);
        watched.then(|| Instant::now() + Duration::from_millis(READER_CHECK_MS))
    }

    /// Whether `reader` may read the socket itself now, and the stream its
    /// messages go to: a stream's reader while it is the only stream, takes
    /// everything and nothing waits for the broker (a reader that
    /// `completes_publishes`: nothing but publish acknowledgements); a loop
    /// that reads acknowledgements while the client has no stream and the
    /// broker owes nothing but publish acknowledgements.
    fn inline_target(
        &self,
        reader: Reader,
        completes_publishes: bool,
    ) -> Option<Option<mpsc::Sender<Message>>> {
        let requests_owed = !self.subscribe_waiters.is_empty()
            || !self.unsubscribe_waiters.is_empty()
            || !self.connect_waiters.is_empty()
            || !self.disconnect_waiters.is_empty()
            || !self.sync_waiters.is_empty();
        if requests_owed
            || !self.held.is_empty()
            || !self.unclaimed.is_empty()
            || !self.unread_on_demand.is_empty()
            || !self.spilled.is_empty()
        {
            return None;
        }
        match reader {
            Reader::Stream(id) => {
                let alone = self.sole_stream() == Some(id);
                // A blocking reader alone may stop reading while a publish
                // waits for its acknowledgement; a watching loop, or the
                // threads that wait for publishes, read it.
                let owed = if completes_publishes {
                    self.core.awaiting_non_publish_answer()
                } else {
                    self.core.awaiting_server() || !self.publish_waiters.is_empty()
                };
                if !alone || owed {
                    return None;
                }
                let (_, tx) = self.routes.get(&id)?;
                Some(Some(tx.clone()))
            }
            Reader::Acks => (self.routes.is_empty()
                && self.catch_all.is_empty()
                && !self.core.awaiting_non_publish_answer())
            .then_some(None),
        }
    }

    /// Take the core back, with the bytes the lane could not write (they
    /// go out before anything else) and what a reader left.
    fn unpark(&mut self) {
        let mut parked = self.lane.lock();
        self.core.0 = parked.core.take();
        parked.tcp = None;
        self.out.extend_from_slice(&parked.unsent);
        parked.unsent.clear();
        self.publish_waiters.extend(parked.waiters.drain(..));
        self.spilled.extend(parked.spilled.drain(..));
        let failed = parked.read_failed.take();
        if let Some(reading) = parked.inline.take() {
            // A blocking reader that is away while bytes wait (its consumer
            // is busy), or a loop that has not read for a while with bytes
            // waiting (it ended): read them here until it is back, so that
            // the end of the connection, say, is not left unseen.
            let away = match reading.reader {
                Reader::Acks => {
                    let now = Instant::now();
                    if parked.reads != self.reader_reads.0 {
                        self.reader_reads = (parked.reads, now);
                    }
                    now.duration_since(self.reader_reads.1)
                        >= Duration::from_millis(READER_CHECK_MS)
                }
                Reader::Stream(_) => parked.reader_blocks && parked.threads_in_wait == 0,
            };
            if away && crate::inline::readable(&reading.socket) {
                parked.inline_paused = true;
            }
            // The reader stops waiting on the socket.
            parked.inline_wakers.wake();
        }
        drop(parked);
        if let Some(failure) = failed {
            self.transport_lost(failure);
        }
    }

    /// Put a detached socket back into tokio's poller.
    fn attach(&mut self) -> std::io::Result<()> {
        if let Some(conn) = self.conn.take() {
            self.conn = Some(conn.attach()?);
        }
        Ok(())
    }

    fn transport_lost(&mut self, failure: TransportFailure) {
        self.conn = None;
        self.out.clear();
        let now = self.now();
        self.core.handle_transport_failed(now, failure);
    }

    async fn run_transport_commands(&mut self) {
        while let Some(command) = self.core.poll_transport_command() {
            match command {
                TransportCommand::Open(server) => {
                    // Not awaited here: `wait` polls it beside commands and
                    // timers, so disconnect() and the core's connect timeout
                    // act while a connection is still being opened.
                    self.conn = None;
                    self.out.clear();
                    let (tls, tls_options) = (self.tls.clone(), self.tls_options.clone());
                    let provider = self.credentials.clone();
                    let proxy = self.proxy.clone();
                    self.opening = Some(Box::pin(async move {
                        let Some(provider) = provider else {
                            let conn = transport::open(server, tls, tls_options, proxy).await?;
                            return Ok((conn, None));
                        };
                        let fresh = (provider.0)(server.clone()).await.map_err(|e| {
                            TransportFailure::new(
                                midge_core::TransportFailureKind::Other,
                                format!("the credentials provider failed: {e}"),
                            )
                        })?;
                        let target = match &fresh.url {
                            Some(url) => url.parse().map_err(
                                |e: midge_core::server::ServerAddressError| {
                                    TransportFailure::new(
                                        midge_core::TransportFailureKind::Config,
                                        format!("the credentials provider gave url {url:?}: {e}"),
                                    )
                                },
                            )?,
                            None => server,
                        };
                        let conn = transport::open(target, tls, tls_options, proxy).await?;
                        Ok((conn, Some(fresh.credentials)))
                    }));
                }
                TransportCommand::Close => {
                    // An attempt still opening is abandoned.
                    self.opening = None;
                    if let Some(conn) = self.conn.take() {
                        // Back in the poller: closing waits for the peer.
                        let Ok(mut conn) = conn.attach() else {
                            let now = self.now();
                            self.core.handle_transport_closed(now);
                            self.update_status();
                            continue;
                        };
                        // After what the lane left unsent, if anything.
                        self.core.transmit_into(&mut self.out);
                        if !self.out.is_empty() {
                            let _ = conn.write(&self.out).await;
                        }
                        self.out.clear();
                        let linger = Duration::from_millis(CLOSE_LINGER_MS);
                        let _ = tokio::time::timeout(linger, conn.close(&mut self.read_buf)).await;
                    }
                    let now = self.now();
                    self.core.handle_transport_closed(now);
                }
            }
            self.update_status();
        }
        if self.core.state() == ConnectionState::Disconnected {
            // The lines first ("disconnected by the application"): a program
            // that ends once disconnect() returns still has them logged.
            self.write_trace();
            for waiter in self.disconnect_waiters.drain(..) {
                let _ = waiter.send(Ok(()));
            }
        }
    }

    /// Hand the core's trace lines to the sink, oldest first.
    fn write_trace(&mut self) {
        if let Some(write) = &self.trace {
            while let Some(record) = self.core.poll_trace() {
                write(record);
            }
        }
    }

    async fn flush(&mut self) {
        // `out` may start with what the lane left unsent.
        self.core.transmit_into(&mut self.out);
        if self.out.is_empty() {
            return;
        }
        let Some(conn) = self.conn.as_mut() else {
            self.out.clear();
            return;
        };
        let mut written = Ok(());
        if let Some(socket) = conn.detached() {
            // Directly; what the socket does not take now needs the poller.
            match transport::write_now(socket, &self.out) {
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) => written = Err(e),
            }
            if written.is_ok() && !self.out.is_empty() {
                written = self.attach().map(|_| ());
            }
        }
        if written.is_ok() && !self.out.is_empty() {
            if let Some(conn) = self.conn.as_mut() {
                written = conn.write(&self.out).await;
            }
        }
        self.out.clear();
        if let Err(e) = written {
            self.transport_lost(TransportFailure::new(
                transport::io_kind(&e),
                format!("writing to the connection failed: {e}"),
            ));
            // The core may now want to reconnect (a transport command).
            Box::pin(self.run_transport_commands()).await;
        }
    }

    fn update_status(&mut self) {
        let status = match self.core.state() {
            ConnectionState::Disconnected => ConnectionStatus::Disconnected,
            ConnectionState::WaitingToReconnect { .. } => ConnectionStatus::WaitingToReconnect,
            ConnectionState::Connecting => ConnectionStatus::Connecting,
            ConnectionState::Connected => ConnectionStatus::Connected,
            ConnectionState::Closing => ConnectionStatus::Closing,
        };
        if *self.status.borrow() != status {
            let cause = self.core.last_disconnect().map(|e| e.to_string());
            *self
                .counters
                .disconnect_cause
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = cause;
        }
        self.status.send_if_modified(|s| {
            let changed = *s != status;
            *s = status;
            changed
        });
        // The core's counters, for the handle to read without a round trip.
        self.counters
            .receive_maximum_overruns
            .store(self.core.receive_maximum_overruns(), Ordering::Relaxed);
        self.counters
            .unknown_acks
            .store(self.core.unknown_acks(), Ordering::Relaxed);
    }

    fn handle_command(&mut self, command: Command) {
        let now = self.now();
        match command {
            Command::Connect(answer) => match self.core.connect(now) {
                Ok(()) => self.connect_waiters.push(answer),
                Err(_) if self.core.state() == ConnectionState::Connecting => {
                    // A second connect while the first is under way waits for it.
                    self.connect_waiters.push(answer);
                }
                Err(_) if self.core.state() == ConnectionState::Connected => {
                    let _ = answer.send(Err(NativeError::Rejected {
                        message: "already connected".into(),
                    }));
                }
                Err(e) => {
                    let _ = answer.send(Err(e.into()));
                }
            },
            Command::Publish(publish, answer) => {
                self.backlog.taken();
                let qos = publish.qos;
                match self.core.publish(now, *publish) {
                    // QoS 0 is done once accepted: no completion event follows.
                    Ok(_) if qos == QoS::AtMostOnce => {
                        let _ = answer.send(Ok(PublishDone::default()));
                    }
                    Ok(token) => {
                        self.publish_waiters.insert(token, answer);
                    }
                    Err(e) => {
                        let _ = answer.send(Err(NativeError::from_publish_refusal(e)));
                    }
                }
            }
            Command::Subscribe(filters, properties, answer) => {
                match self.core.subscribe(now, filters, *properties) {
                    Ok(token) => {
                        self.subscribe_waiters.insert(token, answer);
                    }
                    Err(e) => {
                        let _ = answer.send(Err(e.into()));
                    }
                }
            }
            Command::Unsubscribe(filters, properties, answer) => {
                match self.core.unsubscribe(now, filters, *properties) {
                    Ok(token) => {
                        self.unsubscribe_waiters.insert(token, answer);
                    }
                    Err(e) => {
                        let _ = answer.send(Err(e.into()));
                    }
                }
            }
            Command::Disconnect(reason, properties, answer) => {
                match self.core.disconnect(now, reason, *properties) {
                    Ok(()) if self.core.state() == ConnectionState::Disconnected => {
                        let _ = answer.send(Ok(()));
                    }
                    Ok(()) => self.disconnect_waiters.push(answer),
                    Err(e) => {
                        let _ = answer.send(Err(e.into()));
                    }
                }
            }
            Command::ClaimRoute(id) => {
                self.unread_on_demand.remove(&id);
            }
            Command::AddRoute(id, filter, tx, on_demand) => {
                if on_demand {
                    self.unread_on_demand.insert(id);
                }
                match &filter {
                    // Validated by NativeClient::messages.
                    Some(f) => {
                        let _ = self.router.insert(f, id);
                    }
                    None => self.catch_all.push(id),
                }
                let catch_all = filter.is_none();
                self.routes.insert(id, (filter, tx));
                if catch_all {
                    // Messages that arrived when no stream wanted them.
                    for (message, delivered) in std::mem::take(&mut self.unclaimed) {
                        self.offer(message, &[id], delivered);
                    }
                }
            }
            Command::RemoveRoute(id, mut unread, rx) => {
                {
                    let mut parked = self.lane.lock();
                    if parked.inline_wanted == Some(Reader::Stream(id)) {
                        parked.inline_wanted = None;
                        parked.inline_wakers.forget_stream();
                    }
                    if parked.watched_stream == Some(id) {
                        parked.watched_stream = None;
                    }
                }
                let was_catch_all = self.catch_all.contains(&id);
                self.remove_route(id);
                if let Some(mut rx) = rx {
                    while let Ok(message) = rx.try_recv() {
                        unread.push(message);
                    }
                }
                self.close_route(id, was_catch_all, unread);
            }
            Command::Ack(handle, answer) => {
                let _ = answer.send(self.core.ack(now, handle).map_err(NativeError::from));
            }
            Command::Auth(reauthenticate, properties, answer) => {
                let sent = if reauthenticate {
                    self.core.reauthenticate(now, *properties)
                } else {
                    self.core.auth(now, *properties)
                };
                let _ = answer.send(sent.map_err(NativeError::from));
            }
            Command::NetworkChanged => self.core.network_changed(now),
            Command::SetTrace(level, payloads) => {
                if self.trace.is_some() {
                    self.core.set_trace_level(level);
                    self.core.set_trace_payloads(payloads);
                }
            }
            Command::Pause => self.core.pause(now),
            Command::Resume => {
                let _ = self.core.connect(now);
            }
            // Answered in the loop once every change so far is durable.
            Command::Sync(answer) => self.sync_waiters.push(answer),
            Command::Wake => {}
            Command::DropTransport => {
                if self.conn.is_some() {
                    self.transport_lost(TransportFailure::new(
                        midge_core::TransportFailureKind::Reset,
                        "dropped by the application (test hook)",
                    ));
                }
            }
        }
    }

    /// A stream closed. If it was the last one without a filter, what it
    /// did not read (and what is held for it alone) waits for the next one.
    fn close_route(&mut self, id: u64, was_catch_all: bool, unread: Vec<Message>) {
        let keep = was_catch_all && self.catch_all.is_empty();
        let mut orphans = Vec::new();
        let mut remaining = VecDeque::with_capacity(self.held.len());
        for mut held in std::mem::take(&mut self.held) {
            held.targets.retain(|t| *t != id);
            if !held.targets.is_empty() {
                remaining.push_back(held);
            } else if !held.delivered {
                orphans.push(held.message);
            }
        }
        self.held = remaining;
        if keep {
            for message in unread.into_iter().chain(orphans) {
                self.keep_unclaimed(message, false);
            }
        } else {
            for orphan in orphans {
                self.ack_undelivered(orphan.ack);
            }
        }
        self.deliver_held();
    }

    fn remove_route(&mut self, id: u64) {
        self.unread_on_demand.remove(&id);
        if let Some((filter, _)) = self.routes.remove(&id) {
            match filter {
                Some(f) => {
                    self.router.remove(&f, id);
                }
                None => self.catch_all.retain(|h| *h != id),
            }
        }
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Connected(info) => {
                for waiter in self.connect_waiters.drain(..) {
                    let _ = waiter.send(Ok((*info).clone()));
                }
                self.emit(|| NativeEvent::Connected(info));
            }
            Event::Disconnected {
                error,
                reconnect_at,
            } => {
                let error: NativeError = error.into();
                let reconnecting = reconnect_at.is_some();
                let now = self.now();
                let reconnect_in_ms = reconnect_at.map(|at| at.saturating_sub(now));
                let attempt = if reconnecting {
                    self.core.reconnect_attempt()
                } else {
                    0
                };
                self.emit(|| NativeEvent::Disconnected {
                    error: error.clone(),
                    reconnecting,
                    reconnect_in_ms,
                    attempt,
                });
                if reconnecting {
                    return;
                }
                // The attempt a connect() waits for ended for good. (Pending
                // publishes and requests get their outcome from the core.)
                for waiter in self.connect_waiters.drain(..) {
                    let _ = waiter.send(Err(error.clone()));
                }
            }
            Event::Message(message) => self.route(message),
            Event::PublishComplete { token, result } => {
                if let Some(waiter) = self.publish_waiters.remove(&token) {
                    let _ = waiter.send(result.map_err(NativeError::from));
                }
            }
            Event::Subscribed {
                token,
                results,
                properties,
            } => {
                if let Some(waiter) = self.subscribe_waiters.remove(&token) {
                    let _ = waiter.send(Ok(SubscribeOutcome {
                        results,
                        properties,
                    }));
                }
            }
            Event::Unsubscribed {
                token,
                results,
                properties,
            } => {
                if let Some(waiter) = self.unsubscribe_waiters.remove(&token) {
                    let _ = waiter.send(Ok(UnsubscribeOutcome {
                        results,
                        properties,
                    }));
                }
            }
            Event::RequestInterrupted { token, reason_code } => {
                let error = || {
                    NativeError::Interrupted {
                    message: match reason_code {
                        Some(rc) => format!("the client stopped before the broker answered (the server closed the connection: {rc}); the request was dropped (not sent again on the next connect)"),
                        None => "the client stopped before the broker answered; the request was dropped (not sent again on the next connect)".into(),
                    },
                    reason_code,
                }
                };
                if let Some(waiter) = self.subscribe_waiters.remove(&token) {
                    let _ = waiter.send(Err(error()));
                }
                if let Some(waiter) = self.unsubscribe_waiters.remove(&token) {
                    let _ = waiter.send(Err(error()));
                }
            }
            // Restored subscriptions, AUTH and store failures have no waiter.
            Event::SubscriptionsRestored { results } => {
                self.emit(|| NativeEvent::SubscriptionsRestored { results });
            }
            Event::Auth {
                reason_code,
                properties,
            } => self.emit(|| NativeEvent::Auth {
                reason_code,
                properties,
            }),
            Event::Redirected(redirect) => self.emit(|| NativeEvent::Redirected(redirect)),
            Event::StoreFailed(e) => self.emit(|| NativeEvent::StoreFailed {
                error: NativeError::Store {
                    message: e.to_string(),
                },
            }),
        }
    }

    /// Hand an event to every [`EventStream`](crate::EventStream) (none: dropped).
    fn emit(&self, event: impl FnOnce() -> NativeEvent) {
        if self.events.has_streams() {
            self.events.send(event());
        }
    }

    /// Route an inbound message to every stream it matches; while no
    /// stream without a filter exists, keep a copy (bounded) for the next one.
    fn route(&mut self, message: Message) {
        let mut ids = std::mem::take(&mut self.route_buf);
        ids.clear();
        self.router.route_into(&message.publish.topic, &mut ids);
        ids.extend_from_slice(&self.catch_all);
        if self.catch_all.is_empty() {
            if ids.is_empty() {
                self.route_buf = ids;
                self.keep_unclaimed(message, false);
                return;
            }
            self.keep_unclaimed(message.clone(), true);
        }
        self.offer(message, &ids, false);
        self.route_buf = ids;
    }

    fn keep_unclaimed(&mut self, message: Message, delivered: bool) {
        self.unclaimed.push_back((message, delivered));
        if self.unclaimed.len() > self.unclaimed_limit {
            if let Some((dropped, false)) = self.unclaimed.pop_front() {
                self.ack_undelivered(dropped.ack);
            }
        }
    }

    /// Deliver `message` to `targets` now if nothing older is held and every
    /// target has room; otherwise hold it (in order) for the streams that
    /// had none. Never waits. `delivered`: another stream took it already.
    fn offer(&mut self, message: Message, targets: &[u64], delivered: bool) {
        let left = if self.held.is_empty() {
            self.try_deliver(message, targets, delivered)
        } else {
            Some(Held {
                message,
                targets: targets.to_vec(),
                delivered,
            })
        };
        if let Some(left) = left {
            self.held.push_back(left);
        }
    }

    /// Send `message` to each of `targets` that has room; `Some` with the
    /// targets still to serve, `None` when it is done. Allocates only when a
    /// stream is full.
    fn try_deliver(
        &mut self,
        mut message: Message,
        targets: &[u64],
        mut delivered: bool,
    ) -> Option<Held> {
        let mut waiting = Vec::new();
        let mut gone = Vec::new();
        if let [id] = targets[..] {
            // The common case, one stream: it takes the message itself.
            if let Some((_, tx)) = self.routes.get(&id) {
                match tx.try_send(message) {
                    Ok(()) => return None,
                    Err(mpsc::error::TrySendError::Full(back)) => {
                        message = back;
                        if !self.unread_on_demand.contains(&id) {
                            waiting.push(id);
                        }
                    }
                    Err(mpsc::error::TrySendError::Closed(back)) => {
                        message = back;
                        gone.push(id);
                    }
                }
            }
        } else {
            for &id in targets {
                let Some((_, tx)) = self.routes.get(&id) else {
                    continue;
                };
                match tx.try_send(message.clone()) {
                    Ok(()) => delivered = true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        if !self.unread_on_demand.contains(&id) {
                            waiting.push(id);
                        }
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => gone.push(id),
                }
            }
        }
        for id in gone {
            self.remove_route(id);
        }
        if waiting.is_empty() {
            if !delivered {
                self.ack_undelivered(message.ack);
            }
            return None;
        }
        Some(Held {
            message,
            targets: waiting,
            delivered,
        })
    }

    /// Deliver what is held, oldest first, until a stream has no room.
    fn deliver_held(&mut self) {
        while let Some(front) = self.held.pop_front() {
            if let Some(left) = self.try_deliver(front.message, &front.targets, front.delivered) {
                self.held.push_front(left);
                return;
            }
        }
    }

    /// Manual-ack mode, but no stream took the message: nobody could
    /// acknowledge it, so acknowledge it now.
    fn ack_undelivered(&mut self, ack: Option<AckHandle>) {
        if let Some(handle) = ack {
            let now = self.now();
            let _ = self.core.ack(now, handle);
        }
    }

    fn fail_requests(&mut self, error: &NativeError) {
        for (_, waiter) in self.publish_waiters.drain() {
            let _ = waiter.send(Err(error.clone()));
        }
        for (_, waiter) in self.subscribe_waiters.drain() {
            let _ = waiter.send(Err(error.clone()));
        }
        for (_, waiter) in self.unsubscribe_waiters.drain() {
            let _ = waiter.send(Err(error.clone()));
        }
    }

    fn fail_all(&mut self, error: impl Fn() -> NativeError) {
        for waiter in self.connect_waiters.drain(..) {
            let _ = waiter.send(Err(error()));
        }
        for waiter in self.disconnect_waiters.drain(..) {
            let _ = waiter.send(Ok(()));
        }
        let e = error();
        self.fail_requests(&e);
    }
}
