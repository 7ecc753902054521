//! The publish lane: a publish made while the driver waits for I/O is handed
//! to the core and written to the socket on the caller's own thread.
//!
//! At a few thousand messages a second every publish sent to the driver task
//! costs a thread wake-up (an `eventfd` write, an `epoll_wait` return, two
//! context switches), more than the core's work and the `send` together.
//! So while the driver waits, it parks its core here with the socket; a
//! `publish` that finds it parked takes the lock, lets the core encode the
//! PUBLISH (the core still decides everything: topic aliases, the packet
//! size limit, refusals) and writes the bytes with a
//! non-blocking `send`. The driver takes the core back on its next wake-up,
//! with whatever the lane left for it.
//!
//! Every QoS takes it. A QoS 1 or 2 publish leaves its answer in the lane
//! beside the core; the driver takes both back together, so the answer is
//! in place before the driver reads the acknowledgement. A lone QoS 1
//! publisher at 2,000 msg/s made 1.0 instead of 2.0 runtime-thread context
//! switches per message (`AsyncClient`: 0.5 instead of 1.3). While an event
//! loop reads the acknowledgements (`crate::inline::Reader::Acks`, or a
//! stream's loop that watches the socket), it completes the answers here
//! itself, and the driver does not wake at all.
//!
//! A caller that runs an event loop (Python's `AsyncClient`) can defer the
//! write ([`Commands::try_publish_with`]): a QoS 0 publish made within
//! [`BURST_GAP`] of the previous one leaves its bytes here, and the caller
//! schedules one [`Commands::flush`] for its loop's next turn, so a burst
//! goes out in one `send` instead of one per message (at most
//! [`DEFER_LIMIT`] bytes wait). Whatever waits is also written by the
//! driver before anything else when it takes the core back, so a command
//! made after the burst (a disconnect) still follows it on the wire. A
//! blocking caller has no turn: its burst's bytes wait at most a batch
//! window, written by the flusher thread (`crate::flusher`) or by the
//! burst's publish that finds them that old ([`After::Batch`]).
//!
//! The lane is open only for plain TCP and an in-memory session, with no
//! message held for a full stream; and never ahead of a command
//! already queued for the driver, so the order of operations is the order
//! of the calls. What the socket did not take, and any event the core made,
//! wakes the driver (which then writes the rest before anything else).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use midge_core::packet::{Publish, QoS};
use midge_core::session::PublishToken;
use midge_core::{Client, Event, PublishDone, TransportFailure};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::driver::{Answer, Command};
use crate::inline::Reading;
use crate::transport::Wire;
use crate::{NativeError, PublishHandle, Reply};

/// Deferred bytes beyond this are written at once.
const DEFER_LIMIT: usize = 64 * 1024;

/// Publishes closer together than this are a burst: a deferred one waits
/// for the caller's flush. One that comes after a pause is written at
/// once, as a flush would only add a loop callback to a single write.
pub(crate) const BURST_GAP: std::time::Duration = std::time::Duration::from_micros(100);

/// What a publish on the lane does once the core has its PUBLISH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum After {
    /// Write the bytes at once.
    Write,
    /// Within a burst, leave the bytes for the caller's [`Commands::flush`]
    /// (an event loop's turn).
    Defer,
    /// Within a burst, leave the bytes for a flush a batch window later (a
    /// blocking caller's, by the flusher thread: `crate::flusher`); bytes
    /// that waited that long go out with the next publish.
    Batch,
    /// Write the bytes at once, then, at QoS 1 and 2, read the
    /// acknowledgements that have arrived (a blocking caller that learns
    /// its outcomes by reading: `crate::inline::read_after_publish`).
    WriteThenRead,
}

/// Shared by a client's handles and its driver.
pub(crate) struct Lane {
    parked: Mutex<Parked>,
    /// The driver's clock (`now` = milliseconds since it).
    pub(crate) epoch: Instant,
    /// Commands sent and not yet taken by the driver: a publish on the lane
    /// never overtakes one.
    queued: AtomicUsize,
}

/// What the driver leaves here while it waits, and what the lane leaves
/// for the driver.
#[derive(Default)]
pub(crate) struct Parked {
    /// The core, while the driver waits with the lane open.
    pub(crate) core: Option<Box<Client>>,
    /// The connection (plain TCP) the driver reads meanwhile (or, detached,
    /// a stream's reader: `inline`).
    pub(crate) tcp: Option<Wire>,
    /// Bytes the socket did not take (the driver is woken for them), or
    /// bytes of deferred publishes (a flush is on its way): the driver
    /// writes them first. While the lane is open (core parked, no command
    /// queued) only the second kind can be here.
    pub(crate) unsent: Vec<u8>,
    /// The answers of QoS 1/2 publishes made on the lane: the driver
    /// completes them when the broker acknowledges.
    pub(crate) waiters: Vec<(PublishToken, Answer<PublishDone>)>,
    /// When the last publish took the lane: one right after it is part of
    /// a burst, whose bytes may wait for a flush.
    pub(crate) last_publish: Option<std::time::Instant>,
    /// When the first of the deferred bytes waiting in `unsent` was left:
    /// a burst that lasts writes them once they waited a batch window.
    pub(crate) deferred_since: Option<std::time::Instant>,
    /// While the driver waits with the socket detached: the stream whose
    /// reader reads it (see `crate::inline`).
    pub(crate) inline: Option<Reading>,
    /// The reader that asked to read the socket itself.
    pub(crate) inline_wanted: Option<crate::inline::Reader>,
    /// The stream whose reader is an event loop that watches the socket
    /// all along, also while no receive waits ([`crate::LoopReader::watch`]):
    /// it may hold the socket while acknowledgements are owed.
    pub(crate) watched_stream: Option<u64>,
    /// The readers' wakers: woken when the driver parks with `inline` set,
    /// and when it takes the socket back.
    pub(crate) inline_wakers: crate::inline::ReaderWakers,
    /// Events a reader's bytes made that it did not deliver itself, oldest
    /// first, for the driver (which dispatches them before the core's own).
    pub(crate) spilled: Vec<Event>,
    /// The reader went away while bytes waited (a busy consumer): the
    /// driver watches the socket itself until the reader asks again.
    pub(crate) inline_paused: bool,
    /// The reader blocks a thread (not an event loop that keeps watching):
    /// the driver looks now and then whether it is away with bytes waiting.
    pub(crate) reader_blocks: bool,
    /// How many such threads wait on the socket right now (a stream's
    /// consumer and a thread that waits for a publish may both).
    pub(crate) threads_in_wait: u32,
    /// The stream's thread is one of them.
    pub(crate) stream_in_wait: bool,
    /// Threads that wait for publishes on their signal alone meanwhile,
    /// woken when it leaves (see `crate::inline::wait_blocking`).
    pub(crate) waiting_on_stream: Vec<std::task::Waker>,
    /// A thread has waited for publishes with an
    /// [`AcknowledgementReader`](crate::AcknowledgementReader): waiting
    /// threads read the outcomes, so a stream's reader may hold the socket
    /// while publish acknowledgements are owed (whichever thread waits reads
    /// them; `reader_blocks` is set too).
    pub(crate) acks_read_blocking: bool,
    /// Reads a reader made (the driver sees from it whether a loop that
    /// reads acknowledgements is still there).
    pub(crate) reads: u64,
    /// The reader found the connection closed or failed.
    pub(crate) read_failed: Option<TransportFailure>,
}

impl Lane {
    pub(crate) fn new() -> Lane {
        Lane {
            parked: Mutex::default(),
            epoch: Instant::now(),
            queued: AtomicUsize::new(0),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Parked> {
        // A panic while holding the lock cannot leave the core half-changed
        // in a way the next step minds more than the panic itself.
        self.parked.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The driver took one command from the channel.
    pub(crate) fn command_taken(&self) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The sending side of the driver's command channel, counting what it sent
/// for the lane.
#[derive(Clone)]
pub(crate) struct Commands {
    tx: mpsc::UnboundedSender<Command>,
    lane: Arc<Lane>,
}

impl Commands {
    pub(crate) fn new(tx: mpsc::UnboundedSender<Command>, lane: Arc<Lane>) -> Commands {
        Commands { tx, lane }
    }

    pub(crate) fn send(&self, command: Command) -> Result<(), Command> {
        self.lane.queued.fetch_add(1, Ordering::AcqRel);
        self.tx.send(command).map_err(|e| {
            self.lane.queued.fetch_sub(1, Ordering::AcqRel);
            e.0
        })
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Publish on the caller's thread if the driver is parked; otherwise
    /// give the publish back for the command channel.
    pub(crate) fn try_publish(&self, publish: Box<Publish>) -> Result<PublishHandle, Box<Publish>> {
        self.try_publish_with(publish, After::Write)
            .map(|(handle, _)| handle)
    }

    /// Write what deferred publishes left in the lane (see
    /// [`NativeClient::publish_deferred`](crate::NativeClient::publish_deferred)).
    pub(crate) fn flush(&self) {
        let mut parked = self.lane.lock();
        let parked = &mut *parked;
        let Some(tcp) = parked.tcp.as_ref() else {
            return;
        };
        if parked.unsent.is_empty() {
            return;
        }
        if let Ok(n) = tcp.try_write(&parked.unsent) {
            parked.unsent.drain(..n);
        }
        if !parked.unsent.is_empty() {
            let _ = self.send(Command::Wake);
        }
    }

    /// [`Commands::try_publish`], with what `after` asks; with
    /// [`After::Defer`] or [`After::Batch`], `true` comes back when the caller must arrange the
    /// flush (the first deferred publish since the last one).
    pub(crate) fn try_publish_with(
        &self,
        publish: Box<Publish>,
        after: After,
    ) -> Result<(PublishHandle, bool), Box<Publish>> {
        let defer = matches!(after, After::Defer | After::Batch);
        let qos = publish.qos;
        let lane = &*self.lane;
        let mut parked = lane.lock();
        if lane.queued.load(Ordering::Acquire) != 0 {
            return Err(publish);
        }
        let parked = &mut *parked;
        let (Some(core), Some(tcp)) = (parked.core.as_mut(), parked.tcp.as_ref()) else {
            return Err(publish);
        };
        // With a blocking stream's reader on the socket the driver does not
        // watch it: a QoS 1/2 publish, whose acknowledgement the driver must
        // read, goes to it. (A loop that reads acknowledgements, or watches
        // the socket for its stream, completes it itself.)
        if qos != QoS::AtMostOnce
            && parked
                .inline
                .as_ref()
                .is_some_and(|r| !r.completes_publishes)
        {
            return Err(publish);
        }
        let now = lane.epoch.elapsed().as_millis() as u64;
        let deadline = core.poll_timeout();
        // Bytes waiting on an open lane are deferred ones: their flush is
        // already asked for.
        let flush_asked = !parked.unsent.is_empty();
        let token = match core.publish(now, *publish) {
            Ok(token) => token,
            Err(e) => return Ok((Reply::failed(NativeError::from_publish_refusal(e)), false)),
        };
        core.transmit_into(&mut parked.unsent);
        // A publish that waits for room in the window while blocking
        // threads read the acknowledgements but none waits on the socket:
        // the room comes with acknowledgements nobody may read for a while,
        // so the driver reads until a thread waits again.
        let blocked_acks = parked.inline.as_ref().is_some_and(|r| {
            r.completes_publishes && parked.reader_blocks && parked.threads_in_wait == 0
        });
        if blocked_acks && core.queued_len() > 0 && !parked.inline_paused {
            parked.inline_paused = true;
            let _ = self.send(Command::Wake);
        }
        let clock = std::time::Instant::now();
        let since_last = parked
            .last_publish
            .replace(clock)
            .map(|last| clock.duration_since(last));
        let in_burst = since_last.is_some_and(|gap| gap < BURST_GAP);
        // A long blocking burst writes what waited a batch window: the
        // flusher thread may be slow to run while the burst keeps the cores
        // busy. (An event loop's flush comes with its next turn.)
        let waited_enough = after == After::Batch
            && flush_asked
            && parked
                .deferred_since
                .is_some_and(|since| clock.duration_since(since) >= crate::flusher::BATCH_WINDOW);
        // QoS 1 and 2 streams are paced by their acknowledgements: bunching
        // their publishes bunches the answers, and cost more than the writes
        // it saved (QoS 2 at full speed: +2.5 to +3.7 µs per message on the
        // runtime thread).
        let deferred = defer
            && qos == QoS::AtMostOnce
            && (in_burst || flush_asked)
            && parked.unsent.len() < DEFER_LIMIT
            && !waited_enough;
        let flush_needed = deferred && !flush_asked;
        if flush_needed {
            parked.deferred_since = Some(clock);
        }
        if !deferred && !parked.unsent.is_empty() {
            // An error other than a full buffer is the driver's to find: it
            // writes what is left and sees the same error.
            if let Ok(n) = tcp.try_write(&parked.unsent) {
                parked.unsent.drain(..n);
            }
        }
        // Sending moves the keep-alive deadline later, never earlier; an
        // earlier one (or anything else the core made) needs the driver.
        let earlier = match (core.poll_timeout(), deadline) {
            (Some(after), Some(before)) => after < before,
            (after, before) => after.is_some() && before.is_none(),
        };
        if (!deferred && !parked.unsent.is_empty()) || core.has_pending_output() || earlier {
            // Queued, so the lane stays shut until the driver took it.
            let _ = self.send(Command::Wake);
        }
        if qos != QoS::AtMostOnce {
            // Under the same lock as the core: the driver cannot see the
            // acknowledgement before it has the answer to give.
            let (tx, reply) = Reply::pending();
            parked.waiters.push((token, tx));
            if after == After::WriteThenRead {
                crate::inline::read_after_publish(self, parked, since_last);
            }
            return Ok((reply, flush_needed));
        }
        // QoS 0 is done once the core took it, as on the driver.
        Ok((Reply::ready(Ok(PublishDone::default())), flush_needed))
    }

    pub(crate) fn lane(&self) -> &Lane {
        &self.lane
    }

    /// A sender that does not keep the driver alive.
    pub(crate) fn downgrade(&self) -> WeakCommands {
        WeakCommands {
            tx: self.tx.downgrade(),
            lane: self.lane.clone(),
        }
    }
}

/// [`Commands`] that does not keep the driver alive (held by streams).
#[derive(Debug, Clone)]
pub(crate) struct WeakCommands {
    tx: mpsc::WeakUnboundedSender<Command>,
    lane: Arc<Lane>,
}

impl WeakCommands {
    pub(crate) fn upgrade(&self) -> Option<Commands> {
        Some(Commands {
            tx: self.tx.upgrade()?,
            lane: self.lane.clone(),
        })
    }
}

impl std::fmt::Debug for Lane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane")
            .field("queued", &self.queued.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}
