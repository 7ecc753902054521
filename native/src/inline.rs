//! Inline reads: the thread that waits for a stream's messages reads the
//! socket and feeds the core itself, so a message reaches it without a
//! wake-up of the runtime thread in between.
//!
//! At a few thousand messages a second the cost of a received message is
//! the thread wake-ups it takes, not the work: the broker wakes the
//! runtime thread, which reads the packet and wakes the consumer. Each
//! wake-up costs the thread that makes it more than everything else the
//! message needs (a subscriber alone at 2,000 msg/s: 17-24 µs per message
//! on the runtime thread, against 7 on the consumer's).
//!
//! So while a stream's reader waits (a blocking `recv`, an event loop that
//! watches the socket), the driver may hand it the socket: when it parks
//! its core in the lane (`crate::lane`) it takes the socket out of tokio's
//! poller ([`Conn::Detached`](crate::transport::Conn)), so that arrivals
//! wake only the reader, and leaves a [`Reading`] beside the core. The
//! reader then calls [`read`]: under the lane's lock it reads what the
//! socket has, feeds the core, writes the core's answers (PUBACKs) and
//! delivers the messages to its own stream. Anything else the bytes made
//! (a connection event, a message its stream has no room for, trace lines,
//! a close the core asks for) goes to the driver, with every event after
//! it, in order ([`Parked::spilled`]).
//!
//! The driver hands the socket over only while nothing else needs it to
//! read: the connection is plain TCP, the session in memory, this is the
//! only stream (without a filter), nothing is held back, and the broker
//! owes no answer (no acknowledgement, no SUBACK, no PINGRESP: a QoS 1/2
//! publish goes through the driver then). Whenever the driver wakes (a
//! command, a timer) it takes the core back, and the reader waits for its
//! stream until the driver parks again; while the broker owes an answer
//! the driver watches the socket itself. A reader that stops reading (its
//! consumer is busy) therefore costs nothing but delay: its messages wait
//! in the socket, as they would in a full stream, and the keep-alive still
//! works (the PINGREQ makes the driver watch the socket until the PINGRESP
//! came).
//!
//! A stream consumed on an event loop can say so
//! ([`LoopReader::watch`](crate::LoopReader::watch)): the loop then reads
//! whenever the socket is readable, also while no receive waits (the
//! messages wait in the stream), so it reads every acknowledgement that
//! arrives. The driver hands such a stream the socket while the broker owes
//! nothing but publish acknowledgements, QoS 1/2 publishes take the lane,
//! and the loop's reads complete them: a client that receives and publishes
//! (an app, a gateway) wakes no other thread per message.
//!
//! Blocking threads do the same together: once a thread has waited for a
//! publish with an [`AcknowledgementReader`](crate::AcknowledgementReader),
//! a stream's reader keeps the socket while the broker owes nothing but
//! publish acknowledgements, and a thread that waits for a publish reads
//! it too (the messages it reads go to the stream, whose reader is woken). A
//! consumer that answers each message with a publish it waits for (one
//! thread or two) then wakes no other thread per message; a moment when
//! neither waits is covered by the driver's look at blocking readers.
//!
//! A client without streams (a publisher) has one more kind of reader: an
//! event loop, or a thread, that waits for its publishes' outcomes
//! ([`Reader::Acks`]). It reads the acknowledgements and completes the
//! publishes the lane holds (`Parked::waiters`) itself, so a QoS 1 stream
//! wakes neither the runtime thread nor a second thread per
//! acknowledgement. (Any thread that waits may read: whoever reads
//! completes everyone's publishes.) It takes the
//! socket while the broker owes nothing but publish acknowledgements
//! (`Client::awaiting_non_publish_answer`: a PINGRESP or a SUBACK sends
//! the driver back to watching it), and the publishes made meanwhile take
//! the lane at every QoS. A reader that stops reading (a loop that ended,
//! no thread waiting) is noticed as a blocking stream reader's absence is:
//! the driver looks in now and then, and reads itself once the socket has
//! waited a while (a second) with no read, until a reader reads again.
//!
//! A blocking publisher that never waits (one at a fixed rate that collects
//! its handles later) is such a reader too, through
//! [`NativeClient::publish_reading`](crate::NativeClient::publish_reading):
//! while it publishes steadily it asks for the socket and reads once after
//! each QoS 1/2 publish ([`read_after_publish`]), so each acknowledgement
//! no longer wakes the runtime thread. Publishes a full window holds back
//! need acknowledgements read at once: while no thread waits the driver
//! keeps the socket then.

use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use midge_core::{Event, Message, TransportFailure};
use tokio::sync::mpsc;

use crate::driver::Command;
use crate::lane::{Commands, Parked, WeakCommands};
use crate::transport::{read_failure, Wire};
use crate::NativeError;

/// Who reads the socket while the driver waits (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reader {
    /// The thread that waits for stream `id`'s messages.
    Stream(u64),
    /// An event loop or a thread that waits for publishes' outcomes, on a
    /// client without streams.
    Acks,
}

/// What the driver leaves for a reader while it waits detached.
pub(crate) struct Reading {
    pub(crate) socket: Arc<std::net::TcpStream>,
    pub(crate) reader: Reader,
    /// The stream that gets the messages (none for [`Reader::Acks`]: they
    /// go to the driver).
    pub(crate) tx: Option<mpsc::Sender<Message>>,
    /// The reader reads whatever the socket has while publishes wait (a
    /// loop that reads acknowledgements, or a stream's loop that watches
    /// the socket all along): QoS 1/2 publishes take the lane, and their
    /// waiters are in it.
    pub(crate) completes_publishes: bool,
    /// Counts the driver's handovers: a reader that watches the socket
    /// through an event loop registers it again when this changes (the
    /// descriptor may be a new connection's by then).
    pub(crate) handover: u64,
}

/// The wakers of the readers that wait (see the module docs): a stream's
/// reader and a reader of acknowledgements may wait at once (a blocking
/// consumer and a thread that waits for its publish), and each must learn
/// when the driver hands the socket over or takes it back.
#[derive(Default)]
pub(crate) struct ReaderWakers {
    stream: Option<std::task::Waker>,
    acks: Option<std::task::Waker>,
}

impl ReaderWakers {
    /// `reader`'s waker from now on.
    pub(crate) fn set(&mut self, reader: Reader, waker: &std::task::Waker) {
        let slot = match reader {
            Reader::Stream(_) => &mut self.stream,
            Reader::Acks => &mut self.acks,
        };
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }

    /// Wake both (once: they register again when they next look).
    pub(crate) fn wake(&mut self) {
        for waker in [self.stream.take(), self.acks.take()].into_iter().flatten() {
            waker.wake();
        }
    }

    /// The stream's reader is gone.
    pub(crate) fn forget_stream(&mut self) {
        self.stream = None;
    }

    /// The stream's reader, about messages another reader put in its stream.
    fn wake_stream(&self) {
        if let Some(waker) = &self.stream {
            waker.wake_by_ref();
        }
    }
}

/// What one inline read did ([`MessageStream::read_inline`](crate::MessageStream::read_inline),
/// [`NativeClient::read_acknowledgements`](crate::NativeClient::read_acknowledgements)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InlineRead {
    /// Bytes were read and fed to the core: look at the stream again.
    Read,
    /// Nothing to read now: wait until `socket` is readable or the waker
    /// given fires (the driver took the socket back), then call again.
    /// `handover` changes whenever the driver hands a socket over anew: a
    /// registration with a poller made for an earlier one must be made again.
    Wait {
        /// The descriptor to watch.
        socket: RawFd,
        /// Which handover this is.
        handover: u64,
    },
    /// The driver reads the socket now: wait for the stream as usual. The
    /// waker given is woken when the driver hands the socket over.
    Unavailable,
}

/// The most one read takes.
const READ_LIMIT: usize = 64 * 1024;
/// What a reader's buffer starts with.
const FIRST_READ: usize = 4 * 1024;

/// Whether a read asks the driver for the socket when the reader does not
/// hold it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ask {
    /// A receive (or a publish) waits: the reader wants the socket.
    ForSocket,
    /// A loop reads because the socket it watches became readable, or the
    /// driver woke it: only while it holds the socket.
    IfHeld,
}

/// One read of the socket for `reader` (see the module docs); `waker`
/// (if any) is woken when the driver hands the socket over or takes it back.
pub(crate) fn read(
    commands: &Commands,
    reader: Reader,
    ask: Ask,
    buf: &mut Vec<u8>,
    waker: Option<&std::task::Waker>,
) -> InlineRead {
    let lane = commands.lane();
    let mut parked = lane.lock();
    let parked = &mut *parked;
    // A stream's reader replaces a loop that read acknowledgements: a
    // client with streams leaves those to the driver.
    if matches!(reader, Reader::Stream(_)) && parked.inline_wanted == Some(Reader::Acks) {
        parked.inline_wanted = None;
        parked.inline_paused = false;
    }
    end_pause(parked, commands, reader);
    // Woken when the driver hands the socket over or takes it back.
    if let Some(waker) = waker {
        parked.inline_wakers.set(reader, waker);
    }
    let (socket, handover) = match (&parked.inline, &parked.core) {
        // A thread that waits for publishes also reads for a stream's
        // reader that completes them (its messages go to the stream).
        (Some(reading), Some(_))
            if reading.reader == reader
                || (reader == Reader::Acks && reading.completes_publishes) =>
        {
            (reading.socket.clone(), reading.handover)
        }
        _ => {
            // The first stream to ask keeps asking until it closes: two that
            // took turns would wake the driver on every read.
            if parked.inline_wanted.is_none() && ask == Ask::ForSocket {
                parked.inline_wanted = Some(reader);
                // The driver decides when it next parks.
                let _ = commands.send(Command::Wake);
            }
            return InlineRead::Unavailable;
        }
    };
    match read_once(parked, commands, reader, &socket, buf) {
        Ok(true) => InlineRead::Read,
        Ok(false) => InlineRead::Wait {
            socket: socket.as_raw_fd(),
            handover,
        },
        Err(failure) => give_up(parked, commands, failure),
    }
}

/// One read of `socket` for `reader` into `buf`, fed to the core: whether
/// it read anything (`false`: nothing there now).
fn read_once(
    parked: &mut Parked,
    commands: &Commands,
    reader: Reader,
    socket: &std::net::TcpStream,
    buf: &mut Vec<u8>,
) -> Result<bool, TransportFailure> {
    if buf.is_empty() {
        buf.resize(FIRST_READ, 0);
    }
    let n = loop {
        match std::io::Read::read(&mut &*socket, buf) {
            Ok(0) => return Err(TransportFailure::closed()),
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_failure(&e)),
        }
    };
    parked.reads = parked.reads.wrapping_add(1);
    feed(parked, commands, reader, &buf[..n], commands.lane().epoch);
    if n == buf.len() && n < READ_LIMIT {
        // Traffic: read more per call.
        buf.resize(2 * n, 0);
    }
    Ok(true)
}

/// The read buffer of this thread's reads for acknowledgements (a waiting
/// thread's, a publisher's after its publish).
pub(crate) fn with_acks_buffer<R>(read: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with_borrow_mut(read)
}

/// Publishes further apart than this are not a steady stream: a blocking
/// publisher that makes them leaves their acknowledgements to the driver
/// ([`read_after_publish`]), which would otherwise hand it the socket only
/// to find, a second later, acknowledgements nobody read.
pub(crate) const STEADY_PUBLISH_GAP: std::time::Duration = std::time::Duration::from_millis(50);

/// A blocking publisher's thread, right after a QoS 1/2 publish took the
/// lane (`After::WriteThenRead`), for a caller whose outcomes are learned by
/// reading (a wait, a look at a handle: [`AcknowledgementReader`](crate::AcknowledgementReader));
/// `since_last`: the time since the publish before.
///
/// While it holds the socket for the acknowledgements ([`Reader::Acks`]: a
/// client without streams) it reads once, without waiting, and completes
/// the publishes acknowledged so far, so the runtime thread does not wake
/// for each acknowledgement of a publisher that never waits (one at a fixed
/// rate that collects its handles later). While it publishes at a steady
/// pace it asks for the socket, or for it back after a pause. Within a
/// burst ([`BURST_GAP`](crate::lane::BURST_GAP)) it neither reads nor asks:
/// a burst's publisher waits for its window, and reads then, in bigger
/// batches (a read after each publish of a burst cost QoS 2 at full speed
/// 4-6 µs per message: each read's PUBRELs went out in a write of their
/// own). Acknowledgements that arrive after its last publish wait for its
/// next publish or wait, or for the driver's look at an absent reader
/// (about a second).
///
/// Publishes held back by a full window wait for acknowledgements: those
/// the driver reads, at once, until the window has room again.
pub(crate) fn read_after_publish(
    commands: &Commands,
    parked: &mut Parked,
    since_last: Option<std::time::Duration>,
) {
    let in_burst = since_last.is_some_and(|gap| gap < crate::lane::BURST_GAP);
    let steady = !in_burst && since_last.is_some_and(|gap| gap < STEADY_PUBLISH_GAP);
    let holds = parked
        .inline
        .as_ref()
        .filter(|reading| reading.reader == Reader::Acks)
        .map(|reading| reading.socket.clone());
    if let (Some(socket), false) = (&holds, in_burst) {
        // One read: what a short one leaves is not worth another system
        // call now; the next publish reads again.
        let read = with_acks_buffer(|buf| read_once(parked, commands, Reader::Acks, socket, buf));
        if let Err(failure) = read {
            give_up(parked, commands, failure);
            return;
        }
    }
    if parked
        .core
        .as_ref()
        .is_some_and(|core| core.queued_len() > 0)
    {
        // The window is full and no thread waits to read: the driver takes
        // the socket back, and keeps it while the window is full (see
        // `Driver::park`).
        if holds.is_some() && parked.threads_in_wait == 0 {
            let _ = commands.send(Command::Wake);
        }
        return;
    }
    if !steady || parked.inline.is_some() {
        return;
    }
    match parked.inline_wanted {
        None => {
            parked.inline_wanted = Some(Reader::Acks);
            // A reader that reads when its thread comes by, not whenever
            // the socket is readable: the driver looks in on it.
            parked.reader_blocks = true;
            let _ = commands.send(Command::Wake);
        }
        Some(Reader::Acks) => end_pause(parked, commands, Reader::Acks),
        Some(_) => {}
    }
}

/// `reader` is back after a pause (see `Parked::inline_paused`): the driver
/// may hand the socket over again.
fn end_pause(parked: &mut Parked, commands: &Commands, reader: Reader) {
    // Threads that wait for publishes read for the stream's reader too
    // (see `acks_read_blocking`), which may never read itself (its
    // consumer, on the same thread, finds its messages waiting).
    let reads_for_stream = reader == Reader::Acks && parked.acks_read_blocking;
    if parked.inline_paused && (parked.inline_wanted == Some(reader) || reads_for_stream) {
        parked.inline_paused = false;
        let _ = commands.send(Command::Wake);
    }
}

/// A thread's wait for a publish found its outcome there at once, read by
/// the driver: while a pause lasts the driver reads everything, so a
/// thread that only ever finds its outcomes read (and its messages
/// delivered) would never read, and never end the pause. It is back, as
/// when it reads.
pub(crate) fn wait_found_outcome(commands: &Commands) {
    let mut parked = commands.lane().lock();
    end_pause(&mut parked, commands, Reader::Acks);
}

/// `reader` wants the socket (unless another reader asked first), without
/// reading it; `waker` is woken when the driver hands it over.
pub(crate) fn ask(commands: &Commands, reader: Reader, waker: &std::task::Waker) {
    let mut parked = commands.lane().lock();
    parked.inline_wakers.set(reader, waker);
    // As in `read`: a stream's reader replaces a loop that read
    // acknowledgements.
    let replaces =
        matches!(reader, Reader::Stream(_)) && parked.inline_wanted == Some(Reader::Acks);
    if parked.inline_wanted.is_none() || replaces {
        parked.inline_paused = false;
        parked.inline_wanted = Some(reader);
        let _ = commands.send(Command::Wake);
    }
}

/// The socket `reader` holds now, and which handover it is (none while the
/// driver reads it); `waker` is woken when that changes. No system call.
pub(crate) fn held(
    commands: &Commands,
    reader: Reader,
    waker: &std::task::Waker,
) -> Option<(RawFd, u64)> {
    let mut parked = commands.lane().lock();
    parked.inline_wakers.set(reader, waker);
    match (&parked.inline, &parked.core) {
        (Some(reading), Some(_)) if reading.reader == reader => {
            Some((reading.socket.as_raw_fd(), reading.handover))
        }
        _ => None,
    }
}

/// Block `reader`'s thread on `signal` (and `socket`, if the reader has
/// it) until `deadline`, telling the client meanwhile that a thread waits
/// on the socket; `true` if it watched the socket.
///
/// A thread that waits for a publish while the stream's thread waits on
/// the socket waits on its signal alone: the stream's thread reads the
/// acknowledgement and completes the publish, which wakes it, so an arrival
/// wakes one thread, not both. The stream's thread wakes the threads still
/// waiting so when it leaves to hand its messages over
/// ([`stream_thread_left`]), so that they watch the socket again.
pub(crate) fn wait_blocking(
    signal: &Arc<Signal>,
    commands: &WeakCommands,
    reader: Reader,
    socket: Option<RawFd>,
    deadline: std::time::Instant,
) -> bool {
    let Some(commands) = socket.and_then(|_| commands.upgrade()) else {
        signal.wait(None, deadline);
        return false;
    };
    let waker = std::task::Waker::from(signal.clone());
    let watches = in_wait(&commands, reader, &waker);
    signal.wait(socket.filter(|_| watches), deadline);
    let mut parked = commands.lane().lock();
    if watches {
        parked.threads_in_wait = parked.threads_in_wait.saturating_sub(1);
        if matches!(reader, Reader::Stream(_)) {
            parked.stream_in_wait = false;
        }
    } else {
        parked.waiting_on_stream.retain(|w| !w.will_wake(&waker));
    }
    watches
}

/// The stream's thread, which watched the socket, leaves to hand messages
/// over (or gives up): the threads that wait for publishes on their signal
/// alone watch the socket again.
pub(crate) fn stream_thread_left(commands: &Commands) {
    let mut parked = commands.lane().lock();
    for waker in parked.waiting_on_stream.drain(..) {
        waker.wake();
    }
}

/// A blocking reader starts waiting: `true` if it watches the socket,
/// `false` if it leaves that to the stream's thread (see `wait_blocking`).
fn in_wait(commands: &Commands, reader: Reader, waker: &std::task::Waker) -> bool {
    let mut parked = commands.lane().lock();
    if !std::mem::replace(&mut parked.reader_blocks, true) {
        // The driver looks in on blocking readers: it sets its timer for
        // that when it next parks.
        let _ = commands.send(Command::Wake);
    }
    if reader == Reader::Acks && parked.stream_in_wait {
        if !parked.waiting_on_stream.iter().any(|w| w.will_wake(waker)) {
            parked.waiting_on_stream.push(waker.clone());
        }
        return false;
    }
    parked.threads_in_wait = parked.threads_in_wait.saturating_add(1);
    if matches!(reader, Reader::Stream(_)) {
        parked.stream_in_wait = true;
    }
    true
}

/// A thread waits for publishes with an
/// [`AcknowledgementReader`](crate::AcknowledgementReader): from now on the
/// driver may leave the socket to a stream's reader while acknowledgements
/// are owed, since waiting threads read them too, and it looks in on the
/// readers now and then, since they block threads.
pub(crate) fn acks_read_blocking(commands: &Commands) {
    let mut parked = commands.lane().lock();
    parked.reader_blocks = true;
    if !std::mem::replace(&mut parked.acks_read_blocking, true) {
        let _ = commands.send(Command::Wake);
    }
}

/// Stream `id`'s reader is an event loop that watches the socket all along
/// (`on`), or no longer is: the driver decides again what it may hand over.
pub(crate) fn watch(commands: &Commands, id: u64, on: bool) {
    let mut parked = commands.lane().lock();
    let now = if on {
        Some(id)
    } else if parked.watched_stream == Some(id) {
        None
    } else {
        return;
    };
    if std::mem::replace(&mut parked.watched_stream, now) != now {
        let _ = commands.send(Command::Wake);
    }
}

/// `reader` is away and the socket has bytes (an event loop saw it
/// readable with no receive waiting): the driver reads them.
pub(crate) fn pause(commands: &Commands, reader: Reader) {
    let mut parked = commands.lane().lock();
    if parked.inline_wanted == Some(reader) && !parked.inline_paused {
        parked.inline_paused = true;
        let _ = commands.send(Command::Wake);
    }
}

/// Whether `socket` has bytes (or its end) to read now.
pub(crate) fn readable(socket: &std::net::TcpStream) -> bool {
    let mut fd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no waiting.
    unsafe { libc::poll(&mut fd, 1, 0) > 0 }
}

/// The connection ended under the reader: the driver finds out.
fn give_up(parked: &mut Parked, commands: &Commands, failure: TransportFailure) -> InlineRead {
    parked.read_failed = Some(failure);
    parked.inline = None;
    let _ = commands.send(Command::Wake);
    InlineRead::Unavailable
}

fn feed(
    parked: &mut Parked,
    commands: &Commands,
    reader: Reader,
    bytes: &[u8],
    epoch: tokio::time::Instant,
) {
    let (Some(core), Some(reading)) = (parked.core.as_mut(), parked.inline.as_ref()) else {
        return;
    };
    let now = epoch.elapsed().as_millis() as u64;
    let deadline = core.poll_timeout();
    core.handle_bytes(now, bytes);
    // The answers (PUBACK, PUBREC, ...) go out now, after any deferred
    // publishes waiting in the lane.
    core.transmit_into(&mut parked.unsent);
    if let (false, Some(wire)) = (parked.unsent.is_empty(), parked.tcp.as_ref()) {
        if let Ok(n) = Wire::try_write(wire, &parked.unsent) {
            parked.unsent.drain(..n);
        }
    }
    let mut events = Vec::new();
    while let Some(event) = core.poll_event() {
        events.push(event);
    }
    // Messages this read puts in the stream of another reader (a thread
    // that waits for a publish reads for a blocking consumer): that reader
    // may be waiting on the socket, which has nothing more for it.
    let mut delivered_for_other = false;
    // Trace lines or a transport command: the driver writes the lines before
    // the events they tell of, so they all go to it.
    let driver_needed = core.has_pending_output();
    let earlier = match (core.poll_timeout(), deadline) {
        (Some(after), Some(before)) => after < before,
        (after, before) => after.is_some() && before.is_none(),
    };
    for event in events {
        let in_order = parked.spilled.is_empty() && !driver_needed;
        match event {
            Event::Message(message) if in_order => {
                let Some(tx) = &reading.tx else {
                    parked.spilled.push(Event::Message(message));
                    continue;
                };
                match tx.try_send(message) {
                    Ok(()) => delivered_for_other |= reading.reader != reader,
                    Err(
                        mpsc::error::TrySendError::Full(message)
                        | mpsc::error::TrySendError::Closed(message),
                    ) => parked.spilled.push(Event::Message(message)),
                }
            }
            // A publish waiting in the lane: its waiter learns the outcome
            // here. (The driver's own waiters are in the lane while a loop
            // reads acknowledgements; an outcome nobody waits for is dropped,
            // as the driver would.)
            Event::PublishComplete { token, result } if in_order => {
                if let Some(i) = parked.waiters.iter().position(|(t, _)| *t == token) {
                    let (_, answer) = parked.waiters.remove(i);
                    let _ = answer.send(result.map_err(NativeError::from));
                }
            }
            other => parked.spilled.push(other),
        }
    }
    if delivered_for_other {
        parked.inline_wakers.wake_stream();
    }
    if driver_needed || earlier || !parked.spilled.is_empty() || !parked.unsent.is_empty() {
        // Queued, so the lane stays shut until the driver took it.
        let _ = commands.send(Command::Wake);
    }
}

/// A thread's wake-up for [`Signal::wait`]: a socket pair whose one end
/// wakers write and `poll` watches beside the connection's socket (portable
/// to every Unix, unlike an `eventfd`).
///
/// A waker writes only while the thread is in `poll`. Most wake-ups come
/// while it runs: the publish a waiting thread completes by its own read,
/// the messages a thread delivers while its consumer is busy. Those only
/// mark the signal, and the next wait returns at once without a system
/// call (a byte each cost a send and, later, a poll and a read).
pub(crate) struct Signal {
    reader: std::os::unix::net::UnixStream,
    writer: std::os::unix::net::UnixStream,
    state: AtomicU8,
}

/// [`Signal`]'s states: the thread runs, not woken since its last wait.
const RUNNING: u8 = 0;
/// The thread is in `poll`: a wake-up writes a byte.
const POLLING: u8 = 1;
/// Woken since its last wait: the next wait returns at once.
const WOKEN: u8 = 2;

impl Signal {
    /// This thread's signal (made on first use, kept for the thread's life).
    pub(crate) fn current() -> std::io::Result<Arc<Signal>> {
        thread_local! {
            static SIGNAL: std::cell::OnceCell<Arc<Signal>> = const { std::cell::OnceCell::new() };
        }
        SIGNAL.with(|cell| {
            if let Some(signal) = cell.get() {
                return Ok(signal.clone());
            }
            let (reader, writer) = std::os::unix::net::UnixStream::pair()?;
            reader.set_nonblocking(true)?;
            writer.set_nonblocking(true)?;
            let signal = Arc::new(Signal {
                reader,
                writer,
                state: AtomicU8::new(RUNNING),
            });
            let _ = cell.set(signal.clone());
            Ok(signal)
        })
    }

    /// Block until the signal fires, `socket` (if any) is readable, or
    /// `deadline` passes; clears the signal.
    pub(crate) fn wait(&self, socket: Option<RawFd>, deadline: std::time::Instant) {
        if self.state.swap(POLLING, Ordering::AcqRel) == WOKEN {
            // Woken while it ran.
            self.state.store(RUNNING, Ordering::Release);
            return;
        }
        let timeout = deadline.saturating_duration_since(std::time::Instant::now());
        // Rounded up: a poll that returns just before the deadline would
        // spin until it.
        let ms = timeout.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
        let mut fds = [
            libc::pollfd {
                fd: self.reader.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: socket.unwrap_or(-1),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: `fds` is a valid array of two pollfd for the call's length
        // (a negative fd is ignored by poll).
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
        // A waker that saw POLLING writes its byte, maybe after this: the
        // next wait then returns early, and its caller looks again.
        self.state.store(RUNNING, Ordering::Release);
        if ready > 0 && fds[0].revents != 0 {
            // A short read emptied it.
            let mut bytes = [0u8; 64];
            while matches!(std::io::Read::read(&mut &self.reader, &mut bytes), Ok(n) if n == bytes.len())
            {
            }
        }
    }
}

impl std::task::Wake for Signal {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.state.swap(WOKEN, Ordering::AcqRel) == POLLING {
            // Full: a byte is already there to wake the thread.
            let _ = std::io::Write::write(&mut &self.writer, &[1]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Wake;
    use std::time::{Duration, Instant};

    fn byte_waiting(signal: &Signal) -> bool {
        let mut byte = [0u8; 1];
        matches!(std::io::Read::read(&mut &signal.reader, &mut byte), Ok(1))
    }

    #[test]
    fn a_wake_while_the_thread_runs_writes_nothing_and_the_next_wait_returns_at_once() {
        let signal = Signal::current().expect("a socket pair");
        signal.wake_by_ref();
        assert!(
            !byte_waiting(&signal),
            "a wake-up of a running thread wrote a byte"
        );
        let start = Instant::now();
        signal.wait(None, start + Duration::from_secs(10));
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the wait missed the wake-up"
        );
        // The wake-up was used up: this wait lasts until its deadline.
        let start = Instant::now();
        signal.wait(None, start + Duration::from_millis(50));
        assert!(start.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn a_wake_from_another_thread_ends_a_wait_in_poll() {
        for _ in 0..20 {
            let signal = Signal::current().expect("a socket pair");
            let waker = signal.clone();
            let other = std::thread::spawn(move || {
                while waker.state.load(Ordering::Acquire) != POLLING {
                    std::thread::yield_now();
                }
                waker.wake_by_ref();
            });
            let start = Instant::now();
            signal.wait(None, start + Duration::from_secs(10));
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "the wake-up was lost"
            );
            other.join().expect("the waking thread");
            // A byte left by a wake-up that came as the wait ended is read
            // by the next wait, which returns early (its caller looks again).
            signal.wait(None, Instant::now());
            assert!(!byte_waiting(&signal));
        }
    }
}
