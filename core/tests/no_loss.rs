//! Property tests of the state machine under faults: random publishes,
//! connection drops at any point (also mid-handshake), broker answers that
//! arrive or get lost, clock ticks and restarts from a store. A model broker
//! with a persistent session counts deliveries. Whatever happens, once the
//! network behaves, every QoS 1/2 publish completes exactly once, QoS 2 is
//! delivered exactly once, QoS 1 at least once, and nothing panics.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use midge_core::packet::{
    ConnAck, ConnAckProperties, Decoder, Packet, ProtocolVersion, PubResponse, Publish, QoS,
    ReasonCode,
};
use midge_core::session::SessionState;
use midge_core::{Client, ConnectionState, Event, TransportCommand};
use proptest::prelude::*;

/// A well-behaved broker with a persistent session, and a flaky link.
struct Model {
    version: ProtocolVersion,
    client: Client,
    now: u64,
    open: bool,
    decoder: Decoder,
    /// Bytes the broker wrote that the client has not read yet.
    to_client: Vec<u8>,
    /// Broker-side QoS 2 ids received, awaiting PUBREL (the broker's session).
    broker_qos2: BTreeSet<u16>,
    /// Deliveries to subscribers, by payload.
    delivered: BTreeMap<u32, u32>,
    /// Completion events per token.
    completed: BTreeMap<u64, u32>,
    /// Tokens and QoS of everything the client accepted.
    accepted: BTreeMap<u64, (u32, QoS)>,
    next_payload: u32,
}

#[derive(Debug, Clone)]
enum Step {
    Publish(u8),
    /// The broker reads what the client sent and answers; the client reads
    /// the first `n` bytes of the answers (the rest is lost if the link drops).
    Exchange {
        deliver_fraction: u8,
    },
    Drop,
    Tick(u16),
    /// The client process restarts from its session snapshot.
    Restart,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0u8..3).prop_map(Step::Publish),
        4 => (0u8..=4).prop_map(|f| Step::Exchange { deliver_fraction: f }),
        1 => Just(Step::Drop),
        2 => (0u16..3000).prop_map(Step::Tick),
        1 => Just(Step::Restart),
    ]
}

impl Model {
    fn new(version: ProtocolVersion, max_inflight: u16) -> Model {
        Model {
            version,
            client: Client::new(Self::options(version, max_inflight)).unwrap(),
            now: 0,
            open: false,
            decoder: Decoder::new(version, u32::MAX),
            to_client: Vec::new(),
            broker_qos2: BTreeSet::new(),
            delivered: BTreeMap::new(),
            completed: BTreeMap::new(),
            accepted: BTreeMap::new(),
            next_payload: 0,
        }
    }

    fn options(version: ProtocolVersion, max_inflight: u16) -> midge_core::ClientOptions {
        let mut o = support::options(version);
        o.max_inflight = max_inflight;
        o.reconnect_on_initial_failure = true;
        o
    }

    fn drive(&mut self) {
        while let Some(cmd) = self.client.poll_transport_command() {
            match cmd {
                TransportCommand::Open(_) => {
                    self.open = true;
                    self.decoder = Decoder::new(self.version, u32::MAX);
                    self.to_client.clear();
                    self.client.handle_transport_open(self.now);
                }
                TransportCommand::Close => self.drop_link(),
            }
        }
        while let Some(event) = self.client.poll_event() {
            if let Event::PublishComplete { token, result } = event {
                assert!(result.is_ok(), "{result:?}");
                *self.completed.entry(token.0).or_default() += 1;
            }
        }
    }

    fn drop_link(&mut self) {
        if self.open {
            self.open = false;
            self.to_client.clear();
            let _ = self.client.poll_transmit();
            self.client.handle_transport_closed(self.now);
        }
    }

    fn broker_reads(&mut self) {
        if !self.open {
            return;
        }
        while let Some(bytes) = self.client.poll_transmit() {
            self.decoder.feed(&bytes);
        }
        let mut answers = Vec::new();
        while let Some(packet) = self
            .decoder
            .next_packet()
            .expect("client sends valid bytes")
        {
            match packet {
                Packet::Connect(_) => answers.push(Packet::ConnAck(Box::new(ConnAck {
                    session_present: true,
                    reason_code: ReasonCode::Success,
                    properties: ConnAckProperties::default(),
                }))),
                Packet::Publish(p) => {
                    let n = u32::from_be_bytes(p.payload[..4].try_into().unwrap());
                    match p.qos {
                        QoS::AtMostOnce => *self.delivered.entry(n).or_default() += 1,
                        QoS::AtLeastOnce => {
                            *self.delivered.entry(n).or_default() += 1;
                            answers.push(Packet::PubAck(PubResponse::new(p.packet_id)));
                        }
                        QoS::ExactlyOnce => {
                            if self.broker_qos2.insert(p.packet_id) {
                                *self.delivered.entry(n).or_default() += 1;
                            }
                            answers.push(Packet::PubRec(PubResponse::new(p.packet_id)));
                        }
                    }
                }
                Packet::PubRel(r) => {
                    self.broker_qos2.remove(&r.packet_id);
                    answers.push(Packet::PubComp(PubResponse::new(r.packet_id)));
                }
                Packet::PingReq => answers.push(Packet::PingResp),
                Packet::Disconnect(_) => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        for a in answers {
            midge_core::packet::encode_packet(&a, self.version, &mut self.to_client).unwrap();
        }
    }

    fn client_reads(&mut self, fraction: u8) {
        if !self.open || self.to_client.is_empty() {
            return;
        }
        let n = self.to_client.len() * usize::from(fraction) / 4;
        let bytes: Vec<u8> = self.to_client.drain(..n).collect();
        self.client.handle_bytes(self.now, &bytes);
    }

    fn apply(&mut self, step: &Step) {
        match *step {
            Step::Publish(q) => {
                let qos = QoS::from_u8(q).unwrap();
                let payload = self.next_payload;
                self.next_payload += 1;
                let publish = Publish::new("t", payload.to_be_bytes().to_vec(), qos);
                if let Ok(token) = self.client.publish(self.now, publish) {
                    self.accepted.insert(token.0, (payload, qos));
                }
            }
            Step::Exchange { deliver_fraction } => {
                self.broker_reads();
                self.client_reads(deliver_fraction);
            }
            Step::Drop => self.drop_link(),
            Step::Tick(ms) => {
                self.now += u64::from(ms);
                self.client.handle_timeout(self.now);
            }
            Step::Restart => {
                let snapshot = self.client.session_state().to_bytes();
                let state = SessionState::from_bytes(&snapshot).unwrap();
                self.open = false;
                self.to_client.clear();
                let options = self.client.options().clone();
                self.client = Client::with_session(options, state).unwrap();
                self.client.connect(self.now).unwrap();
            }
        }
        self.drive();
    }

    /// The network behaves from now on: run until everything settled.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            if self.client.state() == ConnectionState::Disconnected {
                self.client.connect(self.now).unwrap();
            }
            if let Some(deadline) = self.client.poll_timeout() {
                if !self.open {
                    self.now = self.now.max(deadline);
                    self.client.handle_timeout(self.now);
                }
            }
            self.drive();
            self.broker_reads();
            self.client_reads(4);
            self.drive();
            let idle = self.client.state() == ConnectionState::Connected
                && self.client.inflight_len() == 0
                && self.client.queued_len() == 0
                && self.to_client.is_empty();
            if idle {
                return;
            }
        }
        panic!(
            "did not settle: state {:?}, inflight {}, queued {}",
            self.client.state(),
            self.client.inflight_len(),
            self.client.queued_len()
        );
    }
}

fn check(version: ProtocolVersion, max_inflight: u16, steps: &[Step]) {
    let mut m = Model::new(version, max_inflight);
    m.client.connect(m.now).unwrap();
    m.drive();
    for s in steps {
        m.apply(s);
    }
    m.settle();
    for (token, (payload, qos)) in &m.accepted {
        let delivered = m.delivered.get(payload).copied().unwrap_or(0);
        match qos {
            QoS::AtMostOnce => assert!(
                delivered <= 1,
                "QoS 0 payload {payload} delivered {delivered}x"
            ),
            QoS::AtLeastOnce => assert!(delivered >= 1, "QoS 1 payload {payload} lost"),
            QoS::ExactlyOnce => assert_eq!(delivered, 1, "QoS 2 payload {payload}"),
        }
        if *qos != QoS::AtMostOnce {
            assert_eq!(
                m.completed.get(token).copied().unwrap_or(0),
                1,
                "token {token} must complete exactly once"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn nothing_lost_under_faults_v5(steps in proptest::collection::vec(step(), 0..80), window in 1u16..4) {
        check(ProtocolVersion::V5, window, &steps);
    }

    #[test]
    fn nothing_lost_under_faults_v311(steps in proptest::collection::vec(step(), 0..80), window in 1u16..4) {
        check(ProtocolVersion::V311, window, &steps);
    }

    /// Arbitrary bytes from the "broker" after connecting never panic, and the
    /// client always ends either connected or with a Disconnected event.
    #[test]
    fn arbitrary_server_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..20)) {
        let mut b = support::Broker::new(support::options(ProtocolVersion::V5));
        b.connect(false);
        for c in &chunks {
            b.inject_bytes(c);
        }
        let _ = b.sent();
        let _ = b.events();
    }
}
