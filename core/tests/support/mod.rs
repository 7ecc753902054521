//! A scripted fake broker: it reads what the client transmits, decodes it as a
//! server would, and answers with packets the test chooses. Time is a plain
//! counter advanced by the test; nothing sleeps and nothing touches a socket.

#![allow(dead_code)]

use midge_core::packet::{
    encode_packet, ConnAck, ConnAckProperties, Decoder, Packet, ProtocolVersion, PubResponse,
    ReasonCode,
};
use midge_core::session::{MemoryStore, SessionStore};
use midge_core::{Client, ClientOptions, Event, TransportCommand};

pub struct Broker {
    pub client: Client,
    pub now: u64,
    pub version: ProtocolVersion,
    decoder: Decoder,
    /// Set while the transport is open.
    pub open: bool,
    /// A durable client's store: every batch is written here (and
    /// confirmed) before the test looks at bytes or events.
    pub store: Option<MemoryStore>,
}

impl Broker {
    pub fn new(options: ClientOptions) -> Broker {
        Broker::with_client(Client::new(options).expect("valid options"))
    }

    pub fn with_client(client: Client) -> Broker {
        let version = client.options().protocol;
        Broker {
            client,
            now: 1_000,
            version,
            decoder: Decoder::new(version, u32::MAX),
            open: false,
            store: None,
        }
    }

    /// A durable client whose batches go to `store` (see [`Broker::store`]).
    pub fn durable(mut client: Client, store: MemoryStore) -> Broker {
        client.set_durable();
        let mut b = Broker::with_client(client);
        b.store = Some(store);
        b
    }

    /// Write and confirm every batch the client hands out.
    pub fn persist(&mut self) {
        if let Some(store) = self.store.as_mut() {
            while let Some(batch) = self.client.poll_persist() {
                store.persist(&batch.changes).expect("memory store");
                self.client.handle_persisted(batch.seq);
            }
        }
    }

    /// Advance the fake clock.
    pub fn advance(&mut self, ms: u64) {
        self.now += ms;
    }

    /// Packets the client transmitted since the last call, decoded server-side.
    pub fn sent(&mut self) -> Vec<Packet> {
        self.persist();
        let mut packets = Vec::new();
        while let Some(bytes) = self.client.poll_transmit() {
            self.decoder.feed(&bytes);
        }
        while let Some(p) = self
            .decoder
            .next_packet()
            .expect("client sent a valid packet")
        {
            packets.push(p);
        }
        packets
    }

    /// Events since the last call.
    pub fn events(&mut self) -> Vec<Event> {
        self.persist();
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }

    pub fn commands(&mut self) -> Vec<TransportCommand> {
        std::iter::from_fn(|| self.client.poll_transport_command()).collect()
    }

    /// Deliver a packet from the broker to the client.
    pub fn inject(&mut self, packet: Packet) {
        let mut bytes = Vec::new();
        encode_packet(&packet, self.version, &mut bytes).expect("test packet encodes");
        self.client.handle_bytes(self.now, &bytes);
    }

    pub fn inject_bytes(&mut self, bytes: &[u8]) {
        self.client.handle_bytes(self.now, bytes);
    }

    /// Run the transport command the client asked for and return the CONNECT.
    pub fn open_transport(&mut self) -> Packet {
        self.persist();
        let commands = self.commands();
        assert!(
            matches!(commands.last(), Some(TransportCommand::Open(_))),
            "expected an Open command, got {commands:?}"
        );
        self.decoder = Decoder::new(self.version, u32::MAX);
        self.client.handle_transport_open(self.now);
        self.open = true;
        let mut sent = self.sent();
        assert_eq!(sent.len(), 1, "only CONNECT goes out first: {sent:?}");
        sent.remove(0)
    }

    pub fn connack(&mut self, session_present: bool, properties: ConnAckProperties) {
        self.inject(Packet::ConnAck(Box::new(ConnAck {
            session_present,
            reason_code: ReasonCode::Success,
            properties,
        })));
    }

    /// connect() + open + CONNACK; returns the CONNECT packet.
    pub fn connect(&mut self, session_present: bool) -> Packet {
        self.client.connect(self.now).expect("connect");
        let connect = self.open_transport();
        self.connack(session_present, ConnAckProperties::default());
        connect
    }

    /// The transport dropped under the client.
    pub fn drop_transport(&mut self) {
        self.open = false;
        self.client.handle_transport_closed(self.now);
        // Whatever was still pending is lost with the connection.
        let _ = self.client.poll_transmit();
    }

    /// Fire every timer up to `until`.
    pub fn run_timers_until(&mut self, until: u64) {
        while let Some(deadline) = self.client.poll_timeout() {
            if deadline > until {
                break;
            }
            self.now = self.now.max(deadline);
            self.client.handle_timeout(self.now);
        }
        self.now = self.now.max(until);
    }
}

pub fn puback(id: u16) -> Packet {
    Packet::PubAck(PubResponse::new(id))
}
pub fn pubrec(id: u16) -> Packet {
    Packet::PubRec(PubResponse::new(id))
}
pub fn pubrel(id: u16) -> Packet {
    Packet::PubRel(PubResponse::new(id))
}
pub fn pubcomp(id: u16) -> Packet {
    Packet::PubComp(PubResponse::new(id))
}

/// Options for tests: one server, reconnect on with small, deterministic delays.
pub fn options(version: ProtocolVersion) -> ClientOptions {
    let mut o = ClientOptions::new("mqtt://broker.test:1883").unwrap();
    o.protocol = version;
    o.client_id = "test-client".into();
    o.clean_start = false;
    o.keep_alive_secs = 30;
    o.reconnect = Some(midge_core::backoff::BackoffPolicy {
        min_delay_ms: 100,
        max_delay_ms: 1_000,
        factor: 2.0,
        stable_after_ms: 5_000,
    });
    o
}
