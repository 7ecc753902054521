//! Session state as plain data, and the store it goes through.
//!
//! Everything a client must remember to resume a session exactly lives in
//! [`SessionState`]: the next packet id, outbound QoS 1/2 publishes with the
//! stage they reached, the offline queue, inbound QoS 2 ids still awaiting
//! PUBREL, and the subscriptions to restore. A durable client hands every
//! change to its driver ([`Client::poll_persist`](crate::Client::poll_persist))
//! and releases the bytes and events that depend on it only once the driver
//! confirms that the store made it durable, so a session survives a crash at
//! any point. [`log`] is the append-only record format the stores share.
//!
//! ```
//! use midge_core::session::{MemoryStore, SessionState, SessionStore};
//!
//! let mut store = MemoryStore::default();
//! let state = store.load().unwrap();
//! assert_eq!(state, SessionState::default());
//! // A snapshot round-trips through bytes, e.g. to a file.
//! let bytes = state.to_bytes();
//! assert_eq!(SessionState::from_bytes(&bytes).unwrap(), state);
//! ```

pub mod log;

use crate::packet::{
    decode_stored_publish, encode_publish, ProtocolVersion, Publish, QoS, RetainHandling,
    SubscribeFilter, SubscriptionOptions,
};

/// Identifies one publish from `Client::publish` to its completion event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublishToken(pub u64);

/// How far an outbound publish has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboundStage {
    /// Waiting in the offline queue (or for room in the in-flight window).
    Queued,
    /// QoS 1 sent, PUBACK not yet received.
    AwaitingPubAck,
    /// QoS 2 sent, PUBREC not yet received.
    AwaitingPubRec,
    /// QoS 2 PUBREL sent, PUBCOMP not yet received.
    AwaitingPubComp,
}

impl OutboundStage {
    fn to_u8(self) -> u8 {
        match self {
            OutboundStage::Queued => 0,
            OutboundStage::AwaitingPubAck => 1,
            OutboundStage::AwaitingPubRec => 2,
            OutboundStage::AwaitingPubComp => 3,
        }
    }

    fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            0 => OutboundStage::Queued,
            1 => OutboundStage::AwaitingPubAck,
            2 => OutboundStage::AwaitingPubRec,
            3 => OutboundStage::AwaitingPubComp,
            _ => return None,
        })
    }
}

/// One outbound publish the session still owns.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundPublish {
    /// The token the application got for it.
    pub token: PublishToken,
    /// Where it is: queued, sent, or (QoS 2) released.
    pub stage: OutboundStage,
    /// The PUBLISH as the user made it; `packet_id` is 0 while queued.
    pub publish: Publish,
}

/// A subscription the client restores when the broker lost the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSubscription {
    /// The filter and its subscription options.
    pub filter: SubscribeFilter,
    /// 5.0 subscription identifier it was made with.
    pub subscription_identifier: Option<u32>,
}

/// Everything needed to resume a session, as plain data.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SessionState {
    /// The client id the session belongs to (the assigned one, if the server chose it).
    pub client_id: String,
    /// The packet id the next QoS 1/2 publish or (un)subscribe tries first.
    pub next_packet_id: u16,
    /// The next publish token to hand out.
    pub next_token: u64,
    /// Outbound publishes in the order they were made: in flight first-sent first,
    /// then the queue.
    pub outbound: Vec<OutboundPublish>,
    /// Inbound QoS 2 packet ids received and acknowledged with PUBREC, awaiting PUBREL.
    pub inbound_qos2: IdSet,
    /// Subscriptions to restore if the broker lost the session.
    pub subscriptions: Vec<StoredSubscription>,
}

/// A set of packet ids, kept sorted (iteration is in ascending order).
///
/// The sets are small (at most the ids in flight), so a sorted `Vec` with
/// binary search: much less code in the wasm package than a `BTreeSet`,
/// whose methods of the same name it offers.
///
/// ```
/// use midge_core::session::IdSet;
///
/// let mut ids: IdSet = [7, 3].into_iter().collect();
/// assert!(ids.insert(5));
/// assert!(!ids.insert(7));
/// assert!(ids.contains(&3));
/// assert!(ids.remove(&3));
/// assert_eq!(ids.iter().copied().collect::<Vec<_>>(), [5, 7]);
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct IdSet(Vec<u16>);

impl IdSet {
    /// An empty set.
    pub const fn new() -> IdSet {
        IdSet(Vec::new())
    }

    /// Whether `id` is in the set.
    pub fn contains(&self, id: &u16) -> bool {
        self.0.binary_search(id).is_ok()
    }

    /// Adds `id`: true when it was not in the set.
    pub fn insert(&mut self, id: u16) -> bool {
        match self.0.binary_search(&id) {
            Ok(_) => false,
            Err(i) => {
                self.0.insert(i, id);
                true
            }
        }
    }

    /// Removes `id`: true when it was in the set.
    pub fn remove(&mut self, id: &u16) -> bool {
        match self.0.binary_search(id) {
            Ok(i) => {
                self.0.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    /// The number of ids.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Removes every id.
    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// The ids in ascending order.
    pub fn iter(&self) -> std::slice::Iter<'_, u16> {
        self.0.iter()
    }
}

impl std::fmt::Debug for IdSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(&self.0).finish()
    }
}

impl FromIterator<u16> for IdSet {
    fn from_iter<I: IntoIterator<Item = u16>>(iter: I) -> IdSet {
        let mut set = IdSet::new();
        set.extend(iter);
        set
    }
}

impl Extend<u16> for IdSet {
    fn extend<I: IntoIterator<Item = u16>>(&mut self, iter: I) {
        for id in iter {
            self.insert(id);
        }
    }
}

impl<'a> IntoIterator for &'a IdSet {
    type Item = &'a u16;
    type IntoIter = std::slice::Iter<'a, u16>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for IdSet {
    type Item = u16;
    type IntoIter = std::vec::IntoIter<u16>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// One change to the session. A durable client hands its changes to the
/// driver in batches ([`Client::poll_persist`](crate::Client::poll_persist)),
/// and holds back every byte and event that depends on one until the driver
/// confirms the batch is durable.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionChange {
    /// The client id in use changed (e.g. assigned by the server).
    ClientId(String),
    /// An outbound publish was added or moved to a new stage (replaces the
    /// entry with the same token).
    OutboundStored(OutboundPublish),
    /// An outbound publish completed or was dropped.
    OutboundRemoved(PublishToken),
    /// An inbound QoS 2 id now awaits PUBREL.
    InboundQos2Added(u16),
    /// PUBREL arrived for an inbound QoS 2 id (or the session was lost).
    InboundQos2Removed(u16),
    /// A subscription was granted (replaces one with the same filter).
    SubscriptionStored(StoredSubscription),
    /// A subscription was removed.
    SubscriptionRemoved(String),
    /// The whole session, replacing what was stored: after a failed write
    /// (whose changes are then unknown to the store), and as the first
    /// record of a compacted log.
    Snapshot(Box<SessionState>),
}

impl SessionState {
    /// Apply one change, exactly as the client made it to its own state.
    pub fn apply(&mut self, change: &SessionChange) {
        match change {
            SessionChange::ClientId(id) => self.client_id.clone_from(id),
            SessionChange::OutboundStored(entry) => {
                self.next_token = self.next_token.max(entry.token.0.saturating_add(1));
                if entry.publish.packet_id != 0 {
                    self.next_packet_id = next_packet_id_after(entry.publish.packet_id);
                }
                match self.outbound.iter_mut().find(|e| e.token == entry.token) {
                    Some(existing) => *existing = entry.clone(),
                    None => self.outbound.push(entry.clone()),
                }
            }
            SessionChange::OutboundRemoved(token) => self.outbound.retain(|e| e.token != *token),
            SessionChange::InboundQos2Added(id) => {
                self.inbound_qos2.insert(*id);
            }
            SessionChange::InboundQos2Removed(id) => {
                self.inbound_qos2.remove(id);
            }
            SessionChange::SubscriptionStored(sub) => {
                match self
                    .subscriptions
                    .iter_mut()
                    .find(|s| s.filter.filter == sub.filter.filter)
                {
                    Some(existing) => *existing = sub.clone(),
                    None => self.subscriptions.push(sub.clone()),
                }
            }
            SessionChange::SubscriptionRemoved(filter) => {
                self.subscriptions.retain(|s| s.filter.filter != *filter)
            }
            SessionChange::Snapshot(state) => *self = (**state).clone(),
        }
    }

    /// A compact, versioned binary snapshot (for a file or IndexedDB store).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.outbound.len() * 64);
        out.extend_from_slice(MAGIC);
        put_str(&mut out, &self.client_id);
        out.extend_from_slice(&self.next_packet_id.to_be_bytes());
        out.extend_from_slice(&self.next_token.to_be_bytes());
        out.extend_from_slice(&(self.outbound.len() as u32).to_be_bytes());
        let mut packet = Vec::new();
        for entry in &self.outbound {
            put_outbound(&mut out, entry, &mut packet);
        }
        out.extend_from_slice(&(self.inbound_qos2.len() as u32).to_be_bytes());
        for id in &self.inbound_qos2 {
            out.extend_from_slice(&id.to_be_bytes());
        }
        out.extend_from_slice(&(self.subscriptions.len() as u32).to_be_bytes());
        for sub in &self.subscriptions {
            put_subscription(&mut out, sub);
        }
        out
    }

    /// Read a snapshot written by [`SessionState::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<SessionState, StoreError> {
        SessionState::read(bytes).map_err(|reason| StoreError::Corrupt {
            reason: reason.into(),
        })
    }

    /// [`from_bytes`](Self::from_bytes), failing with the reason alone: one
    /// `StoreError` built in one place, and small errors to pass up.
    fn read(bytes: &[u8]) -> Result<SessionState, &'static str> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(MAGIC.len())? != MAGIC {
            return Err("not a midge session snapshot (bad magic or version)");
        }
        let client_id = r.string()?;
        let next_packet_id = r.u16()?;
        let next_token = r.u64()?;
        let count = r.u32()?;
        let mut outbound = Vec::new();
        for _ in 0..count {
            outbound.push(r.outbound()?);
        }
        let count = r.u32()?;
        let mut inbound_qos2 = IdSet::new();
        for _ in 0..count {
            inbound_qos2.insert(r.u16()?);
        }
        let count = r.u32()?;
        let mut subscriptions = Vec::new();
        for _ in 0..count {
            subscriptions.push(r.subscription()?);
        }
        if r.pos != bytes.len() {
            return Err("trailing bytes after the snapshot");
        }
        Ok(SessionState {
            client_id,
            next_packet_id,
            next_token,
            outbound,
            inbound_qos2,
            subscriptions,
        })
    }
}

/// The packet id after `id`, wrapping from 65,535 to 1 (0 is never used).
pub(crate) fn next_packet_id_after(id: u16) -> u16 {
    if id == u16::MAX {
        1
    } else {
        id + 1
    }
}

const MAGIC: &[u8] = b"MIDGESS1"; // bump the digit when the layout changes

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// One outbound publish: token, stage, QoS/DUP flags and packet id beside
/// the PUBLISH body, stored in its 5.0 wire form at QoS 0 (that form keeps
/// every property and allows the packet id 0 of a queued publish). A stored
/// publish was validated when it was made, so encoding succeeds.
fn put_outbound(out: &mut Vec<u8>, entry: &OutboundPublish, scratch: &mut Vec<u8>) {
    out.extend_from_slice(&entry.token.0.to_be_bytes());
    out.push(entry.stage.to_u8());
    let p = &entry.publish;
    out.push(p.qos as u8 | (u8::from(p.dup) << 2));
    out.extend_from_slice(&p.packet_id.to_be_bytes());
    scratch.clear();
    let mut body = p.clone();
    body.qos = QoS::AtMostOnce;
    body.dup = false;
    body.packet_id = 0;
    let _ = encode_publish(&body, ProtocolVersion::V5, scratch);
    out.extend_from_slice(&(scratch.len() as u32).to_be_bytes());
    out.extend_from_slice(scratch);
}

fn put_subscription(out: &mut Vec<u8>, sub: &StoredSubscription) {
    put_str(out, &sub.filter.filter);
    let o = sub.filter.options;
    out.push(
        o.qos as u8
            | (u8::from(o.no_local) << 2)
            | (u8::from(o.retain_as_published) << 3)
            | ((o.retain_handling as u8) << 4),
    );
    out.extend_from_slice(&sub.subscription_identifier.unwrap_or(0).to_be_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len());
        match end {
            Some(end) => {
                let slice = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(slice)
            }
            None => Err("snapshot is truncated"),
        }
    }
    fn u8(&mut self) -> Result<u8, &'static str> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, &'static str> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, &'static str> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Result<u64, &'static str> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    fn string(&mut self) -> Result<String, &'static str> {
        let len = self.u32()? as usize;
        let raw = self.take(len)?;
        String::from_utf8(raw.to_vec()).map_err(|_| "string is not UTF-8")
    }
    fn outbound(&mut self) -> Result<OutboundPublish, &'static str> {
        let token = PublishToken(self.u64()?);
        let stage = OutboundStage::from_u8(self.u8()?).ok_or("unknown outbound stage")?;
        let flags = self.u8()?;
        let packet_id = self.u16()?;
        let qos = QoS::from_u8(flags & 0b11).ok_or("bad QoS of a stored PUBLISH")?;
        let len = self.u32()? as usize;
        let raw = self.take(len)?;
        let mut publish = decode_stored_publish(raw).ok_or("stored PUBLISH does not decode")?;
        publish.qos = qos;
        publish.dup = flags & 0b100 != 0;
        publish.packet_id = packet_id;
        Ok(OutboundPublish {
            token,
            stage,
            publish,
        })
    }
    fn subscription(&mut self) -> Result<StoredSubscription, &'static str> {
        let filter = self.string()?;
        let flags = self.u8()?;
        let sub_id = self.u32()?;
        const BAD_OPTIONS: &str = "bad subscription options";
        let qos = QoS::from_u8(flags & 0b11).ok_or(BAD_OPTIONS)?;
        let retain_handling = match (flags >> 4) & 0b11 {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            _ => return Err(BAD_OPTIONS),
        };
        Ok(StoredSubscription {
            filter: SubscribeFilter {
                filter,
                options: SubscriptionOptions {
                    qos,
                    no_local: flags & 0b100 != 0,
                    retain_as_published: flags & 0b1000 != 0,
                    retain_handling,
                },
            },
            subscription_identifier: (sub_id != 0).then_some(sub_id),
        })
    }
}

/// Why a store could not load or record the session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The stored bytes are not a valid session.
    #[error("session store is corrupt: {reason}")]
    Corrupt {
        /// What is wrong with them.
        reason: String,
    },
    /// The store's medium failed (file system, IndexedDB, ...).
    #[error("session store failed: {message}")]
    Io {
        /// The medium's error message.
        message: String,
    },
}

/// Where a client keeps its session: a file, IndexedDB, a database.
///
/// The contract, the same for every store: the driver takes each batch of
/// changes from [`Client::poll_persist`](crate::Client::poll_persist),
/// calls [`persist`](SessionStore::persist) (off its own task where it can),
/// and confirms with `Client::handle_persisted`; the client sends no byte
/// and reports no event that depends on a change before that. `persist`
/// returns only once the batch is durable, so one write (one fsync) covers
/// every change of a batch.
pub trait SessionStore {
    /// The stored session (the default state when there is none yet).
    fn load(&mut self) -> Result<SessionState, StoreError>;
    /// Make `changes` durable, in order; return once they are.
    fn persist(&mut self, changes: &[SessionChange]) -> Result<(), StoreError>;
}

/// A store that keeps the session in memory, e.g. to hand it from one client
/// object to the next in the same process.
///
/// ```
/// use midge_core::session::{MemoryStore, SessionChange, SessionStore};
///
/// let mut store = MemoryStore::default();
/// store.persist(&[SessionChange::InboundQos2Added(7)]).unwrap();
/// assert!(store.state().inbound_qos2.contains(&7));
/// ```
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: SessionState,
}

impl MemoryStore {
    /// A store that starts from `state`.
    pub fn new(state: SessionState) -> MemoryStore {
        MemoryStore { state }
    }

    /// The session as recorded so far.
    pub fn state(&self) -> &SessionState {
        &self.state
    }
}

impl SessionStore for MemoryStore {
    fn load(&mut self) -> Result<SessionState, StoreError> {
        Ok(self.state.clone())
    }

    fn persist(&mut self, changes: &[SessionChange]) -> Result<(), StoreError> {
        for change in changes {
            self.state.apply(change);
        }
        Ok(())
    }
}

impl<S: SessionStore + ?Sized> SessionStore for Box<S> {
    fn load(&mut self) -> Result<SessionState, StoreError> {
        (**self).load()
    }
    fn persist(&mut self, changes: &[SessionChange]) -> Result<(), StoreError> {
        (**self).persist(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> SessionState {
        let mut publish = Publish::new("a/b", &b"hello"[..], QoS::ExactlyOnce).with_packet_id(9);
        publish
            .properties
            .user_properties
            .push(("k".into(), "v".into()));
        SessionState {
            client_id: "sensor-1".into(),
            next_packet_id: 10,
            next_token: 3,
            outbound: vec![
                OutboundPublish {
                    token: PublishToken(1),
                    stage: OutboundStage::AwaitingPubComp,
                    publish,
                },
                OutboundPublish {
                    token: PublishToken(2),
                    stage: OutboundStage::Queued,
                    publish: Publish::new("c", &b""[..], QoS::AtMostOnce),
                },
            ],
            inbound_qos2: [4u16, 65535].into_iter().collect(),
            subscriptions: vec![StoredSubscription {
                filter: SubscribeFilter {
                    filter: "x/+/y".into(),
                    options: SubscriptionOptions {
                        qos: QoS::AtLeastOnce,
                        no_local: true,
                        retain_as_published: false,
                        retain_handling: RetainHandling::DoNotSend,
                    },
                },
                subscription_identifier: Some(42),
            }],
        }
    }

    #[test]
    fn snapshot_round_trips() {
        let state = sample();
        assert_eq!(SessionState::from_bytes(&state.to_bytes()).unwrap(), state);
    }

    #[test]
    fn truncated_or_garbage_snapshots_are_errors() {
        let bytes = sample().to_bytes();
        for len in 0..bytes.len() {
            assert!(
                SessionState::from_bytes(&bytes[..len]).is_err(),
                "len {len}"
            );
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(SessionState::from_bytes(&extra).is_err());
        assert!(matches!(
            SessionState::from_bytes(b"not a session"),
            Err(StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn apply_tracks_changes() {
        let mut state = SessionState::default();
        let entry = sample().outbound[0].clone();
        state.apply(&SessionChange::OutboundStored(entry.clone()));
        assert_eq!(state.next_packet_id, 10);
        let mut moved = entry.clone();
        moved.stage = OutboundStage::AwaitingPubAck;
        state.apply(&SessionChange::OutboundStored(moved.clone()));
        assert_eq!(state.outbound, vec![moved]);
        state.apply(&SessionChange::OutboundRemoved(entry.token));
        assert!(state.outbound.is_empty());
        let sub = sample().subscriptions[0].clone();
        state.apply(&SessionChange::SubscriptionStored(sub.clone()));
        state.apply(&SessionChange::SubscriptionStored(sub));
        assert_eq!(state.subscriptions.len(), 1);
        state.apply(&SessionChange::SubscriptionRemoved("x/+/y".into()));
        assert!(state.subscriptions.is_empty());
    }

    #[test]
    fn packet_ids_wrap_past_zero() {
        assert_eq!(next_packet_id_after(65535), 1);
        assert_eq!(next_packet_id_after(1), 2);
    }
}
