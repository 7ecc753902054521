//! Persistence as an output (issue 15): a durable client releases no byte and
//! no event of a QoS 1/2 exchange before the session change it depends on
//! was confirmed durable, and a store failure sends nothing dependent.

mod support;

use midge_core::packet::{
    encode_packet, ConnAck, Decoder, Packet, ProtocolVersion, Publish, QoS, ReasonCode,
};
use midge_core::session::{
    MemoryStore, OutboundStage, SessionChange, SessionState, SessionStore, StoreError,
};
use midge_core::{Client, ConnectionError, Event, PersistBatch, TransportCommand};
use support::*;

/// A driver whose store confirms only when the test says so, and which
/// checks, for every packet the client releases, that the durable state
/// already has what the packet depends on.
struct Strict {
    client: Client,
    now: u64,
    durable: MemoryStore,
    writing: Option<PersistBatch>,
    decoder: Decoder,
}

impl Strict {
    fn new() -> Strict {
        let mut client = Client::new(options(ProtocolVersion::V5)).unwrap();
        client.set_durable();
        Strict {
            client,
            now: 1_000,
            durable: MemoryStore::default(),
            writing: None,
            decoder: Decoder::new(ProtocolVersion::V5, u32::MAX),
        }
    }

    fn state(&self) -> &SessionState {
        self.durable.state()
    }

    /// Take the next batch (the store starts writing it).
    fn take_batch(&mut self) -> Vec<SessionChange> {
        assert!(self.writing.is_none());
        let batch = self.client.poll_persist().expect("a batch to write");
        assert!(self.client.poll_persist().is_none(), "one batch at a time");
        let changes = batch.changes.clone();
        self.writing = Some(batch);
        changes
    }

    /// The store finished writing: confirm.
    fn confirm(&mut self) {
        let batch = self.writing.take().expect("a batch in flight");
        self.durable.persist(&batch.changes).unwrap();
        self.client.handle_persisted(batch.seq);
    }

    /// The packets the client releases now, each checked against the
    /// durable state.
    fn released(&mut self) -> Vec<Packet> {
        while let Some(bytes) = self.client.poll_transmit() {
            self.decoder.feed(&bytes);
        }
        let mut packets = Vec::new();
        while let Some(p) = self.decoder.next_packet().unwrap() {
            self.check(&p);
            packets.push(p);
        }
        packets
    }

    fn check(&self, packet: &Packet) {
        let s = self.state();
        let stage = |id: u16| {
            s.outbound
                .iter()
                .find(|e| e.publish.packet_id == id)
                .map(|e| e.stage)
        };
        match packet {
            Packet::Publish(p) if p.qos == QoS::AtLeastOnce => {
                assert_eq!(stage(p.packet_id), Some(OutboundStage::AwaitingPubAck))
            }
            Packet::Publish(p) if p.qos == QoS::ExactlyOnce => {
                assert_eq!(stage(p.packet_id), Some(OutboundStage::AwaitingPubRec))
            }
            Packet::PubRel(r) => {
                assert_eq!(stage(r.packet_id), Some(OutboundStage::AwaitingPubComp))
            }
            Packet::PubRec(r) => assert!(s.inbound_qos2.contains(&r.packet_id)),
            Packet::PubComp(r) => assert!(!s.inbound_qos2.contains(&r.packet_id)),
            _ => {}
        }
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }

    fn inject(&mut self, packet: Packet) {
        let mut bytes = Vec::new();
        encode_packet(&packet, ProtocolVersion::V5, &mut bytes).unwrap();
        self.client.handle_bytes(self.now, &bytes);
    }

    /// connect, open, CONNACK: the CONNECT itself waits for the client id
    /// the durable client records first.
    fn connect(&mut self) {
        self.client.connect(self.now).unwrap();
        assert!(matches!(
            self.client.poll_transport_command(),
            Some(TransportCommand::Open(_))
        ));
        self.client.handle_transport_open(self.now);
        assert!(
            self.released().is_empty(),
            "CONNECT waits for the client id"
        );
        assert_eq!(
            self.take_batch(),
            vec![SessionChange::ClientId("test-client".into())]
        );
        assert!(self.released().is_empty());
        self.confirm();
        assert!(matches!(self.released()[..], [Packet::Connect(_)]));
        self.inject(Packet::ConnAck(Box::default()));
        assert!(matches!(self.events()[..], [Event::Connected(_)]));
    }
}

#[test]
fn no_byte_or_event_of_a_qos_2_exchange_leaves_before_its_change_is_durable() {
    let mut d = Strict::new();
    d.connect();

    // Outbound QoS 2: PUBLISH waits for its record.
    let token = d
        .client
        .publish(d.now, Publish::new("out", &b"x"[..], QoS::ExactlyOnce))
        .unwrap();
    assert!(d.released().is_empty());
    let batch = d.take_batch();
    assert!(
        matches!(&batch[..], [SessionChange::OutboundStored(e)] if e.stage == OutboundStage::AwaitingPubRec)
    );
    assert!(d.released().is_empty(), "not while the store writes");
    d.confirm();
    assert!(matches!(&d.released()[..], [Packet::Publish(p)] if p.packet_id == 1));

    // PUBREC moves it to AwaitingPubComp; PUBREL waits for that.
    d.inject(pubrec(1));
    assert!(d.released().is_empty());
    d.take_batch();
    d.confirm();
    assert_eq!(d.released(), vec![pubrel(1)]);

    // Inbound QoS 2 meanwhile: PUBREC and the delivery wait for the id.
    d.inject(Packet::Publish(
        Publish::new("in", &b"y"[..], QoS::ExactlyOnce).with_packet_id(7),
    ));
    assert!(d.released().is_empty());
    assert!(
        d.events().is_empty(),
        "no delivery before the id is durable"
    );
    assert_eq!(d.take_batch(), vec![SessionChange::InboundQos2Added(7)]);
    // PUBCOMP for the outbound one arrives while the store writes: its
    // removal joins the next batch, and the completion waits for it.
    d.inject(pubcomp(1));
    assert!(d.events().is_empty());
    d.confirm();
    assert_eq!(d.released(), vec![pubrec(7)]);
    assert!(matches!(&d.events()[..], [Event::Message(m)] if m.publish.packet_id == 7));
    assert_eq!(d.take_batch(), vec![SessionChange::OutboundRemoved(token)]);
    assert!(d.events().is_empty());
    d.confirm();
    assert!(
        matches!(&d.events()[..], [Event::PublishComplete { token: t, result: Ok(_) }] if *t == token)
    );

    // PUBREL for the inbound one: PUBCOMP waits for the id's removal.
    d.inject(pubrel(7));
    assert!(d.released().is_empty());
    assert_eq!(d.take_batch(), vec![SessionChange::InboundQos2Removed(7)]);
    d.confirm();
    assert_eq!(d.released(), vec![pubcomp(7)]);
}

#[test]
fn many_changes_of_one_wake_up_are_one_batch() {
    let mut d = Strict::new();
    d.connect();
    for i in 0..50u8 {
        d.client
            .publish(d.now, Publish::new("t", vec![i], QoS::AtLeastOnce))
            .unwrap();
    }
    assert_eq!(d.take_batch().len(), 50);
    d.confirm();
    assert_eq!(d.released().len(), 50);
    for id in 1..=50 {
        d.inject(puback(id));
    }
    assert_eq!(d.take_batch().len(), 50);
    d.confirm();
    assert_eq!(d.events().len(), 50);
}

#[test]
fn a_store_failure_sends_nothing_dependent_and_retries_with_a_snapshot() {
    let mut d = Strict::new();
    d.connect();
    let token = d
        .client
        .publish(d.now, Publish::new("t", &b"x"[..], QoS::AtLeastOnce))
        .unwrap();
    let batch = d.client.poll_persist().unwrap();
    let disk_full = StoreError::Io {
        message: "no space left on device".into(),
    };
    d.client
        .handle_persist_failed(d.now, batch.seq, disk_full.clone());
    // The PUBLISH never leaves; the application is told; the link closes.
    assert!(d.released().is_empty());
    let events = d.events();
    assert!(
        matches!(&events[0], Event::StoreFailed(e) if *e == disk_full),
        "{events:?}"
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::Disconnected {
            error: ConnectionError::Store(_),
            reconnect_at: Some(_)
        }
    )));
    assert_eq!(
        d.client.poll_transport_command(),
        Some(TransportCommand::Close)
    );
    d.client.handle_transport_closed(d.now);
    assert!(d.released().is_empty());
    assert!(
        d.client.poll_persist().is_none(),
        "no retry before the next attempt"
    );

    // The next attempt writes the whole session first; CONNECT waits for it.
    let at = d.client.poll_timeout().unwrap();
    d.now = at;
    d.client.handle_timeout(d.now);
    assert!(matches!(
        d.client.poll_transport_command(),
        Some(TransportCommand::Open(_))
    ));
    d.client.handle_transport_open(d.now);
    assert!(d.released().is_empty());
    let snapshot = d.take_batch();
    let [SessionChange::Snapshot(state)] = &snapshot[..] else {
        panic!("{snapshot:?}")
    };
    assert_eq!(state.outbound.len(), 1);
    d.confirm();
    assert!(matches!(d.released()[..], [Packet::Connect(_)]));
    let ack = ConnAck {
        session_present: true,
        reason_code: ReasonCode::Success,
        ..ConnAck::default()
    };
    d.inject(Packet::ConnAck(Box::new(ack)));
    d.events();
    // The publish goes out now (its state is durable), and completes.
    assert!(matches!(&d.released()[..], [Packet::Publish(p)] if p.packet_id == 1));
    d.inject(puback(1));
    d.take_batch();
    d.confirm();
    assert!(d.events().iter().any(|e| matches!(e,
        Event::PublishComplete { token: t, result: Ok(_) } if *t == token)));
}

#[test]
fn a_memory_client_holds_nothing() {
    let mut b = Broker::new(options(ProtocolVersion::V5));
    b.connect(false);
    b.client
        .publish(b.now, Publish::new("t", &b"x"[..], QoS::ExactlyOnce))
        .unwrap();
    assert!(b.client.poll_persist().is_none());
    assert_eq!(b.sent().len(), 1);
}
