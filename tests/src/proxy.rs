//! A fault-injecting TCP proxy between clients and a broker. Faults apply to
//! the connections open at the time; new connections pass normally, so the
//! client can recover. It never duplicates or reorders bytes.
//!
//! - [`Proxy::cut`]: close both sides now (FIN to client and broker).
//! - [`Proxy::cut_mid_packet`]: forward only part of the next chunk, chosen
//!   so that it ends inside an MQTT packet, then close both sides.
//! - [`Proxy::blackhole`]: forward nothing more and send no FIN to the
//!   client, even when the broker closes its side: only the client's
//!   keep-alive can notice.
//! - [`Proxy::set_delay`]: hold every chunk this long before forwarding.
//!   A chunk held when its connection is cut is still forwarded, as a
//!   network may deliver an old connection's last packets late: a client's
//!   CONNECT can then reach the broker after its next connection's.
//!
//! It also decodes what it forwards (with midge-core's decoder) to keep the
//! broker's flow-control account per connection: the QoS 1/2 PUBLISHes sent
//! to the client and not yet completed by its PUBACK / PUBCOMP (or a failing
//! PUBREC), against the Receive Maximum of the client's CONNECT. Acks are
//! counted when they pass the proxy, before the broker reads them, so the
//! broker's own count is never lower: a PUBLISH above the maximum here is
//! the broker exceeding its send quota (5.0 section 4.9). It remembers the
//! topic and payload of every PUBLISH it forwarded to a client, so that a
//! message a subscriber never got can be told apart: never sent by the broker,
//! or lost by the client.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use midge_core::packet::{Decoder, Packet, ProtocolVersion, QoS, ReasonCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::HarnessError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Pass,
    CutMidPacket,
    Blackhole,
    Closed,
}

/// What the proxy did, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    /// Connections accepted from clients.
    pub accepted: u64,
    /// Successful CONNACKs seen going to clients (sessions established).
    pub connacks: u64,
    /// Connections closed by [`Proxy::cut`].
    pub cuts: u64,
    /// Connections closed by [`Proxy::cut_mid_packet`] with a packet half sent.
    pub mid_packet_cuts: u64,
    /// Connections black-holed by [`Proxy::blackhole`].
    pub blackholes: u64,
    /// QoS 1/2 PUBLISHes the broker sent while the client already had its
    /// Receive Maximum of them outstanding (the broker's send quota was 0).
    pub broker_quota_overruns: u64,
    /// DISCONNECT 0x93 (Receive Maximum exceeded) from clients, and how many
    /// of them came on a connection where the broker had overrun its quota.
    pub client_receive_maximum_disconnects: u64,
    pub client_receive_maximum_disconnects_after_overrun: u64,
}

/// One session's QoS 2 messages from the broker, by packet id: (topic, payload).
#[derive(Default)]
struct Qos2Flows {
    sent: HashMap<u16, (String, Vec<u8>)>,
    released: HashMap<u16, (String, Vec<u8>)>,
}

#[derive(Default)]
struct Shared {
    conns: Mutex<HashMap<u64, Arc<watch::Sender<Mode>>>>,
    stats: Mutex<ProxyStats>,
    delay_ms: AtomicU64,
    /// Reason codes of the DISCONNECT packets clients sent (5.0; 0 for 3.1.1).
    disconnects: Mutex<std::collections::BTreeMap<u8, u64>>,
    next_id: AtomicU64,
    /// (topic, payload) of every PUBLISH forwarded to a client, so that a
    /// message missing at a subscriber can be told apart: never sent by the
    /// broker, or lost by the client.
    sent_to_clients: Mutex<std::collections::HashSet<(String, Vec<u8>)>>,
    /// Per client identifier (the session, across connections): the QoS 2
    /// PUBLISHes the broker sent, by packet id, and those it has since
    /// released with PUBREL.
    qos2_flows: Mutex<HashMap<String, Qos2Flows>>,
    /// (topic, payload) of QoS 2 messages the broker sent again as PUBLISH
    /// after it had sent PUBREL for them, which section 4.3.3 forbids
    /// (mosquitto does it when a session is resumed twice before the owed
    /// PUBREL goes out; tests/README.md). The receiver has released the id
    /// by then and must take the PUBLISH as a new message.
    qos2_republished_after_pubrel: Mutex<std::collections::HashSet<(String, Vec<u8>)>>,
    /// The first broker quota overrun, described for the report.
    first_overrun: Mutex<Option<String>>,
    /// Bumped on every stats change, so that tests can wait for one.
    changed: Option<watch::Sender<()>>,
    /// With `MIDGE_PROXY_TRACE=<file>`: one line per session-relevant packet
    /// (CONNECT, CONNACK, QoS 2 flow, DISCONNECT), written to the file when
    /// the proxy is dropped, to explain a duplicate or a loss after the fact.
    trace: Option<Mutex<Vec<String>>>,
    started: Option<std::time::Instant>,
}

impl Shared {
    fn trace(&self, conn: u64, line: impl FnOnce() -> String) {
        if let Some(trace) = &self.trace {
            let ms = self.started.map_or(0, |t| t.elapsed().as_millis());
            let line = format!("{ms:>7} c{conn:<4} {}", line());
            trace.lock().expect("trace lock").push(line);
        }
    }

    fn update(&self, f: impl FnOnce(&mut ProxyStats)) {
        f(&mut self.stats.lock().expect("stats lock"));
        if let Some(tx) = &self.changed {
            tx.send_replace(());
        }
    }
}

/// A running proxy; stops accepting (and drops its connections) when dropped.
pub struct Proxy {
    pub port: u16,
    shared: Arc<Shared>,
    changed: watch::Receiver<()>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listen on a free loopback port and forward to `127.0.0.1:upstream`.
    /// Must be called inside a tokio runtime.
    pub async fn start(upstream: u16) -> Result<Proxy, HarnessError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(HarnessError::io("binding the proxy"))?;
        let port = listener
            .local_addr()
            .map_err(HarnessError::io("proxy address"))?
            .port();
        let (tx, changed) = watch::channel(());
        let shared = Arc::new(Shared {
            changed: Some(tx),
            trace: std::env::var_os("MIDGE_PROXY_TRACE").map(|_| Mutex::new(Vec::new())),
            started: Some(std::time::Instant::now()),
            ..Shared::default()
        });
        let accept = tokio::spawn(accept_loop(listener, upstream, shared.clone()));
        Ok(Proxy {
            port,
            shared,
            changed,
            accept,
        })
    }

    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// A receiver that changes whenever [`Proxy::stats`] does.
    pub fn subscribe(&self) -> watch::Receiver<()> {
        self.changed.clone()
    }

    pub fn stats(&self) -> ProxyStats {
        *self.shared.stats.lock().expect("stats lock")
    }

    /// Reason code -> count of the DISCONNECT packets clients sent.
    pub fn client_disconnects(&self) -> std::collections::BTreeMap<u8, u64> {
        self.shared
            .disconnects
            .lock()
            .expect("disconnects lock")
            .clone()
    }

    /// The first QoS 1/2 PUBLISH the broker sent beyond a client's Receive
    /// Maximum, described.
    pub fn first_broker_overrun(&self) -> Option<String> {
        self.shared
            .first_overrun
            .lock()
            .expect("overrun lock")
            .clone()
    }

    /// Whether the broker sent the QoS 2 message of `topic` with `payload`
    /// again as a PUBLISH after its PUBREL for it (see the field's docs).
    pub fn republished_after_pubrel(&self, topic: &str, payload: &[u8]) -> bool {
        self.shared
            .qos2_republished_after_pubrel
            .lock()
            .expect("republished lock")
            .contains(&(topic.to_string(), payload.to_vec()))
    }

    /// Whether the broker sent a PUBLISH of `topic` with `payload` to a
    /// client through this proxy.
    pub fn sent_to_a_client(&self, topic: &str, payload: &[u8]) -> bool {
        self.shared
            .sent_to_clients
            .lock()
            .expect("sent lock")
            .contains(&(topic.to_string(), payload.to_vec()))
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.shared.conns.lock().expect("conns lock").len()
    }

    fn set_all(&self, mode: Mode) -> usize {
        let conns = self.shared.conns.lock().expect("conns lock");
        let mut changed = 0;
        for tx in conns.values() {
            // A black-holed connection stays silent until the client gives
            // up on it (or the proxy is dropped); a closed one stays closed.
            if tx.send_if_modified(|m| {
                let change = *m == Mode::Pass || (mode == Mode::Closed && *m != Mode::Closed);
                if change {
                    *m = mode;
                }
                change
            }) {
                changed += 1;
            }
        }
        changed
    }

    /// Close every open connection now; returns how many.
    pub fn cut(&self) -> usize {
        let n = self.set_all(Mode::Closed);
        self.shared.update(|s| s.cuts += n as u64);
        n
    }

    /// Arm every open connection to cut inside the next packet that passes.
    pub fn cut_mid_packet(&self) -> usize {
        self.set_all(Mode::CutMidPacket)
    }

    /// Stop forwarding on every open connection, without closing it.
    pub fn blackhole(&self) -> usize {
        let n = self.set_all(Mode::Blackhole);
        self.shared.update(|s| s.blackholes += n as u64);
        n
    }

    /// Delay every forwarded chunk (both directions, all connections).
    pub fn set_delay(&self, delay: Duration) {
        self.shared
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// Wait until `done(stats)` holds or `limit` passes; returns the stats.
    pub async fn wait_for(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&ProxyStats) -> bool,
    ) -> Result<ProxyStats, ProxyStats> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            self.changed.borrow_and_update();
            let stats = self.stats();
            if done(&stats) {
                return Ok(stats);
            }
            match tokio::time::timeout_at(deadline, self.changed.changed()).await {
                Ok(Ok(())) => {}
                _ => return Err(self.stats()),
            }
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.set_all(Mode::Closed);
        if let (Some(trace), Some(path)) =
            (&self.shared.trace, std::env::var_os("MIDGE_PROXY_TRACE"))
        {
            let lines = trace.lock().expect("trace lock");
            let _ = std::fs::write(path, lines.join("\n") + "\n");
        }
    }
}

async fn accept_loop(listener: TcpListener, upstream: u16, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        shared.update(|s| s.accepted += 1);
        tokio::spawn(serve(client, upstream, shared.clone()));
    }
}

async fn serve(client: TcpStream, upstream: u16, shared: Arc<Shared>) {
    // Broker down (e.g. between kill -9 and restart): drop the client, as
    // the broker itself would refuse it.
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = watch::channel(Mode::Pass);
    let tx = Arc::new(tx);
    shared
        .conns
        .lock()
        .expect("conns lock")
        .insert(id, tx.clone());
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let account = Arc::new(Mutex::new(FlowAccount::new(id)));
    let up = tokio::spawn(pump(
        client_read,
        server_write,
        Direction::ToBroker,
        tx.clone(),
        rx.clone(),
        shared.clone(),
        account.clone(),
    ));
    let down = tokio::spawn(pump(
        server_read,
        client_write,
        Direction::ToClient,
        tx.clone(),
        rx,
        shared.clone(),
        account,
    ));
    let _ = up.await;
    let _ = down.await;
    shared.conns.lock().expect("conns lock").remove(&id);
}

/// The broker's flow-control account for one connection, seen from the
/// proxy (see the module docs).
#[derive(Debug, Default)]
struct FlowAccount {
    /// The client's Receive Maximum (65,535 when its CONNECT names none).
    receive_maximum: usize,
    /// Packet ids of QoS 1/2 PUBLISHes sent to the client, not completed.
    outstanding: std::collections::HashSet<u16>,
    /// The broker sent a PUBLISH beyond the Receive Maximum.
    overrun: bool,
    /// From the client's CONNECT: how the broker's packets decode.
    version: Option<ProtocolVersion>,
    /// The proxy's number for the connection, for the trace.
    conn: u64,
    /// From the client's CONNECT: whose session the packets belong to.
    client_id: String,
}

impl FlowAccount {
    fn new(conn: u64) -> FlowAccount {
        FlowAccount {
            receive_maximum: usize::from(u16::MAX),
            conn,
            ..FlowAccount::default()
        }
    }

    /// The broker's QoS 2 flow on this session: a PUBLISH with DUP set for
    /// a packet id it has released with PUBREL, and with the same message,
    /// is the message sent again after the PUBREL. (A new message may reuse
    /// the id once the PUBCOMP is in, but is sent with DUP clear.)
    fn follow_qos2(&self, packet: &Packet, shared: &Shared) {
        let mut flows = shared.qos2_flows.lock().expect("qos2 flows lock");
        let flows = flows.entry(self.client_id.clone()).or_default();
        match packet {
            Packet::Publish(p) if p.qos == QoS::ExactlyOnce => {
                let message = (p.topic.clone(), p.payload.to_vec());
                match flows.released.remove(&p.packet_id) {
                    Some(released) if p.dup && released == message => {
                        shared
                            .qos2_republished_after_pubrel
                            .lock()
                            .expect("republished lock")
                            .insert(message.clone());
                    }
                    _ => {}
                }
                flows.sent.insert(p.packet_id, message);
            }
            Packet::PubRel(rel) => {
                if let Some(message) = flows.sent.remove(&rel.packet_id) {
                    flows.released.insert(rel.packet_id, message);
                }
            }
            _ => {}
        }
    }

    /// One decoded packet going `direction`.
    fn on_packet(&mut self, direction: Direction, packet: &Packet, shared: &Shared) {
        let arrow = match direction {
            Direction::ToBroker => "->",
            Direction::ToClient => "<-",
        };
        match packet {
            Packet::Connect(c) => shared.trace(self.conn, || {
                format!("{arrow} CONNECT {} clean {}", c.client_id, c.clean_start)
            }),
            Packet::ConnAck(a) => shared.trace(self.conn, || {
                format!(
                    "{arrow} CONNACK present {} rc {:?}",
                    a.session_present, a.reason_code
                )
            }),
            Packet::Publish(p) if p.qos == QoS::ExactlyOnce => shared.trace(self.conn, || {
                format!(
                    "{arrow} PUBLISH id {} dup {} {}",
                    p.packet_id,
                    p.dup,
                    String::from_utf8_lossy(&p.payload)
                )
            }),
            Packet::PubRec(a) => shared.trace(self.conn, || {
                format!("{arrow} PUBREC id {} rc {:?}", a.packet_id, a.reason_code)
            }),
            Packet::PubRel(a) => shared.trace(self.conn, || {
                format!("{arrow} PUBREL id {} rc {:?}", a.packet_id, a.reason_code)
            }),
            Packet::PubComp(a) => shared.trace(self.conn, || {
                format!("{arrow} PUBCOMP id {} rc {:?}", a.packet_id, a.reason_code)
            }),
            Packet::Disconnect(d) => shared.trace(self.conn, || {
                format!("{arrow} DISCONNECT rc {:?}", d.reason_code)
            }),
            _ => {}
        }
        if let (Direction::ToClient, Packet::Publish(publish)) = (direction, packet) {
            shared
                .sent_to_clients
                .lock()
                .expect("sent lock")
                .insert((publish.topic.clone(), publish.payload.to_vec()));
        }
        if direction == Direction::ToClient {
            self.follow_qos2(packet, shared);
        }
        match (direction, packet) {
            (Direction::ToBroker, Packet::Connect(connect)) => {
                self.client_id = connect.client_id.clone();
                if connect.protocol != ProtocolVersion::V5 {
                    return;
                }
                let maximum = connect.properties.receive_maximum.unwrap_or(u16::MAX);
                self.receive_maximum = usize::from(maximum);
            }
            // A resend (DUP) of an id already outstanding takes no new place.
            (Direction::ToClient, Packet::Publish(publish))
                if publish.qos != QoS::AtMostOnce
                    && !self.outstanding.contains(&publish.packet_id) =>
            {
                if self.outstanding.len() >= self.receive_maximum {
                    self.overrun = true;
                    shared.update(|s| s.broker_quota_overruns += 1);
                    let mut first = shared.first_overrun.lock().expect("overrun lock");
                    if first.is_none() {
                        *first = Some(format!(
                            "PUBLISH id {} (QoS {}, DUP {}) sent with {} QoS 1/2 PUBLISHes \
                                 outstanding on the connection, Receive Maximum {}",
                            publish.packet_id,
                            publish.qos as u8,
                            publish.dup,
                            self.outstanding.len(),
                            self.receive_maximum
                        ));
                    }
                }
                self.outstanding.insert(publish.packet_id);
            }
            (Direction::ToBroker, Packet::PubAck(ack) | Packet::PubComp(ack)) => {
                self.outstanding.remove(&ack.packet_id);
            }
            (Direction::ToBroker, Packet::PubRec(ack)) if ack.reason_code.is_error() => {
                self.outstanding.remove(&ack.packet_id);
            }
            (Direction::ToBroker, Packet::Disconnect(disconnect))
                if disconnect.reason_code == ReasonCode::ReceiveMaximumExceeded =>
            {
                let overrun = self.overrun;
                shared.update(|s| {
                    s.client_receive_maximum_disconnects += 1;
                    if overrun {
                        s.client_receive_maximum_disconnects_after_overrun += 1;
                    }
                });
            }
            _ => {}
        }
    }
}

/// Decodes one direction of a connection for its [`FlowAccount`].
struct FlowDecoder {
    decoder: Decoder,
    /// Set when the stream did not decode: the account stops for it.
    broken: bool,
}

impl FlowDecoder {
    fn new() -> FlowDecoder {
        FlowDecoder {
            // The CONNECT decodes by its own protocol level; the version is
            // set from it for the packets after it.
            decoder: Decoder::new(ProtocolVersion::V5, u32::MAX),
            broken: false,
        }
    }

    fn feed(
        &mut self,
        chunk: &[u8],
        direction: Direction,
        account: &Mutex<FlowAccount>,
        shared: &Shared,
    ) {
        if self.broken {
            return;
        }
        if let Some(version) = account.lock().expect("flow account lock").version {
            self.decoder.set_version(version);
        }
        self.decoder.feed(chunk);
        loop {
            match self.decoder.next_packet() {
                Ok(Some(packet)) => {
                    let mut account = account.lock().expect("flow account lock");
                    if let Packet::Connect(connect) = &packet {
                        self.decoder.set_version(connect.protocol);
                        account.version = Some(connect.protocol);
                    }
                    account.on_packet(direction, &packet, shared);
                }
                Ok(None) => return,
                Err(_) => {
                    self.broken = true;
                    return;
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    ToBroker,
    ToClient,
}

async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    direction: Direction,
    tx: Arc<watch::Sender<Mode>>,
    mut mode: watch::Receiver<Mode>,
    shared: Arc<Shared>,
    account: Arc<Mutex<FlowAccount>>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut frames = FrameTracker::default();
    let mut flow = FlowDecoder::new();
    loop {
        let read = tokio::select! {
            read = from.read(&mut buf) => read,
            changed = mode.changed() => {
                if changed.is_err() || *mode.borrow() == Mode::Closed {
                    break;
                }
                continue;
            }
        };
        let n = match read {
            Ok(0) | Err(_) => {
                let current = *mode.borrow();
                if current == Mode::Blackhole && direction == Direction::ToClient {
                    // The broker hung up on a black-holed connection: keep
                    // the client's side open (no FIN) until it gives up.
                    while mode.changed().await.is_ok() && *mode.borrow() != Mode::Closed {}
                    return;
                }
                break;
            }
            Ok(n) => n,
        };
        let chunk = &buf[..n];
        let current = *mode.borrow();
        match current {
            Mode::Closed => break,
            Mode::Blackhole => continue,
            Mode::CutMidPacket => {
                let mut probe = frames.clone();
                let starts = probe.feed(chunk);
                // The first length from the middle on that ends inside a packet.
                let cut = (n / 2..n)
                    .chain(1..n / 2)
                    .find(|k| *k > 0 && !starts.contains(k));
                if let Some(k) = cut {
                    // The whole packets before the cut reach the other side.
                    flow.feed(&chunk[..k], direction, &account, &shared);
                    let conn = account.lock().expect("flow account lock").conn;
                    shared.trace(conn, || format!("cut mid-packet going {direction:?}"));
                    let _ = to.write_all(&chunk[..k]).await;
                    shared.update(|s| s.mid_packet_cuts += 1);
                    tx.send_replace(Mode::Closed);
                    break;
                }
            }
            Mode::Pass => {}
        }
        let delay = shared.delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let starts = frames.feed(chunk);
        flow.feed(chunk, direction, &account, &shared);
        if direction == Direction::ToBroker {
            for &i in starts.iter().filter(|&&i| chunk[i] == 0xe0) {
                let code = if chunk.get(i + 1).is_some_and(|len| *len > 0) {
                    chunk.get(i + 2).copied().unwrap_or(0)
                } else {
                    0
                };
                *shared
                    .disconnects
                    .lock()
                    .expect("disconnects lock")
                    .entry(code)
                    .or_default() += 1;
            }
        }
        if direction == Direction::ToClient {
            let connacks = starts
                .iter()
                .filter(|&&i| chunk[i] == 0x20 && FrameTracker::connack_ok(chunk, i))
                .count() as u64;
            if connacks > 0 {
                shared.update(|s| s.connacks += connacks);
            }
        }
        if to.write_all(chunk).await.is_err() {
            break;
        }
    }
    // Whatever ended this side ends the connection.
    if *mode.borrow() != Mode::Closed {
        let conn = account.lock().expect("flow account lock").conn;
        shared.trace(conn, || format!("closed going {direction:?}"));
    }
    tx.send_replace(Mode::Closed);
}

/// Follows MQTT framing (fixed header, remaining length, body) across chunks.
#[derive(Debug, Clone, Default)]
struct FrameTracker {
    state: FrameState,
}

#[derive(Debug, Clone, Copy, Default)]
enum FrameState {
    #[default]
    Header,
    Length {
        value: usize,
        shift: u32,
    },
    Body {
        remaining: usize,
    },
}

impl FrameTracker {
    /// Feed a chunk; returns the offsets in it where a packet starts.
    fn feed(&mut self, chunk: &[u8]) -> Vec<usize> {
        let mut starts = Vec::new();
        let mut i = 0;
        while i < chunk.len() {
            match self.state {
                FrameState::Header => {
                    starts.push(i);
                    self.state = FrameState::Length { value: 0, shift: 0 };
                    i += 1;
                }
                FrameState::Length { value, shift } => {
                    let b = chunk[i];
                    let value = value | ((b & 0x7f) as usize) << shift;
                    i += 1;
                    self.state = if b & 0x80 != 0 && shift < 21 {
                        FrameState::Length {
                            value,
                            shift: shift + 7,
                        }
                    } else if value == 0 {
                        FrameState::Header
                    } else {
                        FrameState::Body { remaining: value }
                    };
                }
                FrameState::Body { remaining } => {
                    let take = remaining.min(chunk.len() - i);
                    i += take;
                    self.state = if take == remaining {
                        FrameState::Header
                    } else {
                        FrameState::Body {
                            remaining: remaining - take,
                        }
                    };
                }
            }
        }
        starts
    }

    /// A CONNACK starting at `at` whose reason code (if in this chunk) is 0.
    fn connack_ok(chunk: &[u8], at: usize) -> bool {
        !matches!(chunk.get(at + 3), Some(code) if *code != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::{FlowAccount, FrameTracker, Shared};
    use midge_core::packet::{Packet, PubResponse, Publish, QoS};

    fn qos2(id: u16, dup: bool, payload: &str) -> Packet {
        let mut p = Publish::new("t/q2", payload.as_bytes().to_vec(), QoS::ExactlyOnce);
        p.packet_id = id;
        p.dup = dup;
        Packet::Publish(p)
    }

    fn republished(shared: &Shared, payload: &str) -> bool {
        shared
            .qos2_republished_after_pubrel
            .lock()
            .unwrap()
            .contains(&("t/q2".to_string(), payload.as_bytes().to_vec()))
    }

    #[test]
    fn a_publish_after_its_pubrel_is_told_apart_from_a_resend_and_a_reused_id() {
        let shared = Shared::default();
        let mut first = FlowAccount::new(1);
        first.client_id = "sub".into();
        // A resend before PUBREL is allowed.
        first.follow_qos2(&qos2(7, false, "a"), &shared);
        first.follow_qos2(&qos2(7, true, "a"), &shared);
        assert!(!republished(&shared, "a"));
        first.follow_qos2(&Packet::PubRel(PubResponse::new(7)), &shared);
        // A new message reusing the released id (DUP clear) is not a copy.
        first.follow_qos2(&qos2(7, false, "b"), &shared);
        assert!(!republished(&shared, "b"));
        first.follow_qos2(&Packet::PubRel(PubResponse::new(7)), &shared);
        // The same session on the next connection: PUBLISH again after PUBREL.
        let mut second = FlowAccount::new(2);
        second.client_id = "sub".into();
        second.follow_qos2(&qos2(7, true, "b"), &shared);
        assert!(republished(&shared, "b"));
        // Another client's session does not share ids.
        let mut other = FlowAccount::new(3);
        other.client_id = "other".into();
        other.follow_qos2(&qos2(7, true, "a"), &shared);
        assert!(!republished(&shared, "a"));
    }

    #[test]
    fn frame_starts_across_chunks() {
        let mut t = FrameTracker::default();
        // PUBACK (4 bytes), then a PUBLISH with 5 body bytes split in two.
        assert_eq!(
            t.feed(&[0x40, 0x02, 0x00, 0x01, 0x30, 0x05, 0x00]),
            vec![0, 4]
        );
        assert_eq!(t.feed(&[0x01, b'a', b'x', b'y', 0xc0, 0x00]), vec![4]);
        // A two-byte remaining length (200 bytes).
        assert_eq!(t.feed(&[0x30, 0xc8, 0x01]), vec![0]);
        assert!(t.feed(&[0u8; 200]).is_empty());
        assert_eq!(t.feed(&[0xd0, 0x00]), vec![0]);
    }
}
