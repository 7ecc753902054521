//! Persistence as an output: a durable client hands its session changes to
//! the driver in batches and holds back every byte and event recorded after
//! a change until the driver confirms that the batch is durable.
//!
//! The rule is by order, not by packet: whatever the client produced after
//! change N waits for N. That covers every dependency (a PUBLISH waits for
//! its `OutboundStored`, a PUBREC for its `InboundQos2Added`, a QoS 2
//! delivery for the same), and it costs nothing extra with group commit,
//! since one write confirms a whole batch.

use std::collections::VecDeque;

use super::*;
use crate::session::StoreError;

/// A batch of session changes to make durable, from [`Client::poll_persist`].
#[derive(Debug, Clone, PartialEq)]
pub struct PersistBatch {
    /// Confirm with this number ([`Client::handle_persisted`]).
    pub seq: u64,
    /// The changes, in order; write them all, then confirm.
    pub changes: Vec<SessionChange>,
}

/// Where the client stands with its store.
#[derive(Debug, Default)]
pub(super) struct Persistence {
    /// Changes are recorded (a durable client); otherwise nothing is held.
    pub(super) durable: bool,
    /// Recorded, not yet handed out.
    pending: Vec<SessionChange>,
    /// Changes recorded so far (the sequence number of the last one).
    recorded: u64,
    /// Changes the driver confirmed durable.
    confirmed: u64,
    /// The batch the driver is writing.
    in_flight: Option<u64>,
    /// The last write failed: the next batch is a whole snapshot (the store
    /// does not know which of the failed changes it kept).
    needs_snapshot: bool,
    /// After a failure, no new batch until the next connection attempt (so
    /// that a store that keeps failing is retried at the reconnect pace).
    blocked: bool,
    /// `(absolute byte offset in the transmit stream, change)`: the bytes from
    /// that offset on wait for that change.
    tx_holds: VecDeque<(u64, u64)>,
    /// The absolute offset of `tx[0]`.
    tx_base: u64,
}

/// The events, with the same holds as the bytes: an event recorded after a
/// change waits for it.
#[derive(Debug, Default)]
pub(super) struct EventQueue {
    items: VecDeque<Event>,
    /// Events pushed so far (the index of the next one).
    pushed: u64,
    /// `(event index, change)`: events from that index on wait for that change.
    holds: VecDeque<(u64, u64)>,
}

impl EventQueue {
    pub(super) fn push_back(&mut self, event: Event) {
        self.items.push_back(event);
        self.pushed += 1;
    }

    fn pop_front(&mut self, confirmed: u64) -> Option<Event> {
        while let Some(&(_, seq)) = self.holds.front() {
            if seq > confirmed {
                break;
            }
            self.holds.pop_front();
        }
        let front_index = self.pushed - self.items.len() as u64;
        match self.holds.front() {
            Some(&(index, _)) if index <= front_index => None,
            _ => self.items.pop_front(),
        }
    }

    fn hold(&mut self, seq: u64) {
        match self.holds.back_mut() {
            Some(last) if last.0 == self.pushed => last.1 = seq,
            _ => self.holds.push_back((self.pushed, seq)),
        }
    }
}

impl Client {
    /// Make this client durable: every session change is handed out by
    /// [`poll_persist`](Self::poll_persist), and what depends on it waits
    /// for [`handle_persisted`](Self::handle_persisted). Call before
    /// `connect`; a store's driver does it for you.
    ///
    /// ```
    /// use midge_core::{Client, ClientOptions, packet::{Publish, QoS}};
    ///
    /// let mut client = Client::new(ClientOptions::new("mqtt://localhost")?)?;
    /// client.set_durable();
    /// client.publish(0, Publish::new("t", &b"x"[..], QoS::AtLeastOnce))?;
    /// let batch = client.poll_persist().expect("the client id and the queued publish");
    /// assert_eq!(batch.changes.len(), 2);
    /// // ... the store writes `batch.changes` and syncs, then:
    /// client.handle_persisted(batch.seq);
    /// assert!(client.poll_persist().is_none());
    /// # Ok::<(), midge_core::ClientError>(())
    /// ```
    pub fn set_durable(&mut self) {
        if !self.persist.durable {
            self.persist.durable = true;
            // The store learns the id in use (the options' may differ from
            // the stored session's).
            self.record(SessionChange::ClientId(self.client_id.clone()));
        }
    }

    /// The next batch of session changes to make durable, or `None` (a
    /// batch is being written, or nothing changed). Write every change in
    /// order, sync once, and confirm with
    /// [`handle_persisted`](Self::handle_persisted) (or
    /// [`handle_persist_failed`](Self::handle_persist_failed)). One batch is
    /// out at a time; the changes made meanwhile form the next one.
    pub fn poll_persist(&mut self) -> Option<PersistBatch> {
        let p = &mut self.persist;
        if p.in_flight.is_some() || p.blocked || p.recorded == p.confirmed {
            return None;
        }
        let changes = if p.needs_snapshot {
            p.needs_snapshot = false;
            p.pending.clear();
            vec![SessionChange::Snapshot(Box::new(self.session_state()))]
        } else {
            std::mem::take(&mut self.persist.pending)
        };
        let seq = self.persist.recorded;
        self.persist.in_flight = Some(seq);
        Some(PersistBatch { seq, changes })
    }

    /// The batch `seq` is durable: the bytes and events that waited for it
    /// are released (`poll_transmit`, `poll_event`).
    pub fn handle_persisted(&mut self, seq: u64) {
        let p = &mut self.persist;
        if p.in_flight == Some(seq) {
            p.in_flight = None;
            p.confirmed = p.confirmed.max(seq);
        }
    }

    /// Writing the batch `seq` failed. Nothing that depends on it is sent:
    /// the held bytes are dropped and the connection closes (the reconnect
    /// policy goes on, and the next attempt writes the whole session as one
    /// snapshot first). The application gets [`Event::StoreFailed`]; the
    /// held events are released (they happened, in memory).
    pub fn handle_persist_failed(&mut self, now: u64, seq: u64, error: StoreError) {
        let p = &mut self.persist;
        if p.in_flight != Some(seq) {
            return;
        }
        p.in_flight = None;
        p.needs_snapshot = true;
        p.blocked = true;
        // Drop the bytes that waited; release the events.
        if let Some(&(offset, _)) = p.tx_holds.iter().find(|(_, s)| *s > p.confirmed) {
            let keep = offset.saturating_sub(p.tx_base) as usize;
            self.tx.truncate(keep.min(self.tx.len()));
        }
        self.events.holds.clear();
        self.trace_store_failed(&error);
        self.events.push_back(Event::StoreFailed(error.clone()));
        if matches!(
            self.state,
            State::Opening { .. } | State::Connecting { .. } | State::Connected
        ) {
            self.fail(now, ConnectionError::Store(error), None);
        }
        // What comes next waits for the snapshot.
        let p = &mut self.persist;
        p.tx_holds.clear();
        p.tx_holds
            .push_back((p.tx_base + self.tx.len() as u64, p.recorded));
        self.events.hold(p.recorded);
    }

    /// Record one change (a durable client only); what the client produces
    /// from now on waits for it.
    pub(super) fn record(&mut self, change: SessionChange) {
        let p = &mut self.persist;
        if !p.durable {
            return;
        }
        p.recorded += 1;
        if !p.needs_snapshot {
            p.pending.push(change);
        }
        let offset = p.tx_base + self.tx.len() as u64;
        match p.tx_holds.back_mut() {
            Some(last) if last.0 == offset => last.1 = p.recorded,
            _ => p.tx_holds.push_back((offset, p.recorded)),
        }
        self.events.hold(p.recorded);
    }

    /// Session changes recorded and not yet confirmed durable.
    pub fn unpersisted_changes(&self) -> u64 {
        self.persist.recorded - self.persist.confirmed
    }

    /// The last write of the store failed, and the client waits for the
    /// next connection attempt to try again.
    pub fn store_failed(&self) -> bool {
        self.persist.blocked
    }

    /// A new connection attempt: a store that failed is tried again.
    pub(super) fn retry_store(&mut self) {
        self.persist.blocked = false;
    }

    /// How many bytes at the front of `tx` may go out.
    fn releasable(&mut self) -> usize {
        let p = &mut self.persist;
        while let Some(&(_, seq)) = p.tx_holds.front() {
            if seq > p.confirmed {
                break;
            }
            p.tx_holds.pop_front();
        }
        match p.tx_holds.front() {
            Some(&(offset, _)) => (offset.saturating_sub(p.tx_base) as usize).min(self.tx.len()),
            None => self.tx.len(),
        }
    }

    /// Bytes to write to the transport, all releasable packets in one buffer.
    ///
    /// May return something new after any command or `handle_*` call; drain
    /// it after each of them. Returns `None` when nothing is ready. A
    /// durable client hands out only bytes whose session changes the
    /// driver confirmed durable.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        let n = self.releasable();
        if n == 0 {
            return None;
        }
        self.persist.tx_base += n as u64;
        if n == self.tx.len() {
            Some(std::mem::replace(&mut self.tx, Vec::with_capacity(4096)))
        } else {
            let rest = self.tx.split_off(n);
            Some(std::mem::replace(&mut self.tx, rest))
        }
    }

    /// Append the releasable bytes to `out` (reusing the caller's buffer);
    /// returns how many were appended. Same contract as
    /// [`poll_transmit`](Self::poll_transmit).
    pub fn transmit_into(&mut self, out: &mut Vec<u8>) -> usize {
        let n = self.releasable();
        out.extend_from_slice(&self.tx[..n]);
        self.tx.drain(..n);
        self.persist.tx_base += n as u64;
        n
    }

    /// The next event for the application (a durable client holds back
    /// the events whose session changes are not durable yet).
    ///
    /// May return something new after any command or `handle_*` call; drain it
    /// after each of them.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front(self.persist.confirmed)
    }

    /// Whether [`poll_event`](Self::poll_event),
    /// [`poll_transport_command`](Self::poll_transport_command) or
    /// [`poll_trace`](Self::poll_trace) may give something now. A driver
    /// that lets another thread call [`publish`](Self::publish) while it
    /// waits for I/O asks this afterwards to know whether it must wake up.
    ///
    /// ```
    /// use midge_core::{Client, ClientOptions};
    /// let mut client = Client::new(ClientOptions::new("mqtt://127.0.0.1:1883")?)?;
    /// assert!(!client.has_pending_output());
    /// client.connect(0)?;
    /// assert!(client.has_pending_output()); // a transport to open
    /// while client.poll_transport_command().is_some() {}
    /// assert!(!client.has_pending_output());
    /// # Ok::<(), midge_core::ClientError>(())
    /// ```
    pub fn has_pending_output(&self) -> bool {
        !self.events.items.is_empty() || !self.transport.is_empty() || !self.tracer.is_empty()
    }

    /// The transport closed or reopened: what was not sent is lost with it.
    /// What the client produces next still waits for every change not yet
    /// durable.
    pub(super) fn clear_tx(&mut self) {
        let p = &mut self.persist;
        p.tx_base += self.tx.len() as u64;
        self.tx.clear();
        p.tx_holds.clear();
        if p.recorded > p.confirmed {
            p.tx_holds.push_back((p.tx_base, p.recorded));
        }
    }
}
