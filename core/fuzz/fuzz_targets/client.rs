//! Fuzz target for the whole client state machine: arbitrary sequences of
//! user commands, transport changes, received bytes and clock ticks.
//!
//! Besides "never panics", it checks what a driver relies on:
//! - after `handle_timeout(now)` at or past the deadline, the next deadline
//!   lies in the future (a driver never spins);
//! - the in-flight window and the offline queue stay within their bounds;
//! - the session snapshot survives `to_bytes` / `from_bytes` unchanged.
//!
//! Received bytes come either raw from the input or as well-formed server
//! packets from a small menu (CONNACK, acks for recent ids, inbound
//! PUBLISH, ...), so the fuzzer reaches connected states quickly.

#![no_main]

use libfuzzer_sys::fuzz_target;
use midge_core::packet::{
    encode_packet, ConnAck, ConnAckProperties, Disconnect, DisconnectProperties, Packet,
    ProtocolVersion, PubResponse, Publish, QoS, ReasonCode, SubAck, SubscribeFilter, UnsubAck,
};
use midge_core::session::SessionState;
use midge_core::{AckHandle, Client, ClientOptions, Event};

struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(b)
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }
}

const TOPICS: [&str; 4] = ["a", "a/b", "sensors/1/temp", "$SYS/x"];
const FILTERS: [&str; 5] = ["a/#", "+/b", "#", "$share/g/a", "sensors/+/temp"];

fuzz_target!(|data: &[u8]| {
    let mut input = Input { data };
    let Some(config) = input.byte() else { return };
    let version = if config & 1 == 0 {
        ProtocolVersion::V5
    } else {
        ProtocolVersion::V311
    };
    let mut options = ClientOptions::new("mqtt://broker.test").unwrap();
    options.protocol = version;
    options.client_id = "fuzz".into();
    options.clean_start = config & 2 != 0;
    options.manual_acks = config & 4 != 0;
    options.outbound_topic_aliases = config & 8 != 0;
    options.topic_alias_maximum = u16::from(config >> 6);
    options.max_queued_messages = 8;
    options.max_inflight = 4;
    options.receive_maximum = 3;
    options.keep_alive_secs = 5;
    options.reconnect_on_initial_failure = config & 16 != 0;
    options.max_incoming_packet_size = 512;
    let mut client = Client::new(options).unwrap();

    let mut now: u64 = 0;
    let mut acks: Vec<AckHandle> = Vec::new();
    let mut recent_ids: Vec<u16> = vec![1];
    let mut tx = Vec::new();

    while let Some(op) = input.byte() {
        match op % 16 {
            0 => {
                let _ = client.connect(now);
            }
            1 | 2 => {
                let qos = QoS::from_u8(input.byte().unwrap_or(0) % 3).unwrap();
                let topic = TOPICS[usize::from(input.byte().unwrap_or(0)) % TOPICS.len()];
                let len = usize::from(input.byte().unwrap_or(0));
                let payload = input.bytes(len).to_vec();
                let mut publish = Publish::new(topic, payload, qos);
                publish.retain = op & 0x80 != 0;
                let _ = client.publish(now, publish);
            }
            3 => {
                let filter = FILTERS[usize::from(input.byte().unwrap_or(0)) % FILTERS.len()];
                let qos = QoS::from_u8(input.byte().unwrap_or(0) % 3).unwrap();
                let _ = client.subscribe(
                    now,
                    vec![SubscribeFilter::new(filter, qos)],
                    Default::default(),
                );
            }
            4 => {
                let filter = FILTERS[usize::from(input.byte().unwrap_or(0)) % FILTERS.len()];
                let _ = client.unsubscribe(now, vec![filter.to_owned()], Default::default());
            }
            5 => {
                let _ =
                    client.disconnect(now, ReasonCode::Success, DisconnectProperties::default());
            }
            6 => client.handle_transport_open(now),
            7 => client.handle_transport_closed(now),
            8 => {
                let len = usize::from(input.byte().unwrap_or(0));
                let raw = input.bytes(len).to_vec();
                client.handle_bytes(now, &raw);
            }
            9 | 10 => {
                let pick = input.byte().unwrap_or(0);
                let id = recent_ids[usize::from(pick) % recent_ids.len()];
                let packet = server_packet(pick >> 3, id, &mut input);
                let mut wire = Vec::new();
                if encode_packet(&packet, version, &mut wire).is_ok() {
                    // Split the packet at an arbitrary point.
                    let cut = usize::from(input.byte().unwrap_or(0)) % (wire.len() + 1);
                    client.handle_bytes(now, &wire[..cut]);
                    client.handle_bytes(now, &wire[cut..]);
                }
            }
            11 => {
                // Jump to the deadline (or a bit further) and fire it.
                if let Some(deadline) = client.poll_timeout() {
                    now = now.max(deadline) + u64::from(input.byte().unwrap_or(0));
                    client.handle_timeout(now);
                    if let Some(next) = client.poll_timeout() {
                        assert!(next > now, "deadline {next} not after the timeout at {now}");
                    }
                }
            }
            12 => {
                now += u64::from(input.byte().unwrap_or(0)) * 100;
                client.handle_timeout(now);
            }
            13 => client.network_changed(now),
            14 => {
                if !acks.is_empty() {
                    let i = usize::from(input.byte().unwrap_or(0)) % acks.len();
                    let _ = client.ack(now, acks.swap_remove(i));
                }
            }
            _ => {
                let state = client.session_state();
                let restored =
                    SessionState::from_bytes(&state.to_bytes()).expect("a snapshot reads back");
                assert_eq!(restored, state, "snapshot changed through bytes");
            }
        }
        // Drain outputs as a driver would, remembering ids worth acknowledging.
        while client.poll_transport_command().is_some() {}
        tx.clear();
        client.transmit_into(&mut tx);
        let mut offset = 0;
        while let Ok(Some((Packet::Publish(p), used))) =
            midge_core::packet::decode_packet(&tx[offset..], version, u32::MAX)
        {
            if p.packet_id != 0 {
                recent_ids.push(p.packet_id);
            }
            offset += used;
        }
        if recent_ids.len() > 16 {
            recent_ids.drain(..8);
        }
        while let Some(event) = client.poll_event() {
            if let Event::Message(message) = event {
                acks.extend(message.ack);
            }
        }
        acks.truncate(64);
        assert!(client.inflight_len() <= 4, "in-flight window exceeded");
        assert!(
            client.queued_len() <= 8 + 4,
            "offline queue exceeded its bound"
        );
    }
});

/// A well-formed packet a server could send.
fn server_packet(kind: u8, id: u16, input: &mut Input<'_>) -> Packet {
    let code = |input: &mut Input<'_>| {
        if input.byte().unwrap_or(0) & 1 == 0 {
            ReasonCode::Success
        } else {
            ReasonCode::UnspecifiedError
        }
    };
    match kind % 10 {
        0 => Packet::ConnAck(Box::new(ConnAck {
            session_present: input.byte().unwrap_or(0) & 1 == 1,
            reason_code: ReasonCode::Success,
            properties: ConnAckProperties {
                receive_maximum: Some(u16::from(input.byte().unwrap_or(0) % 4 + 1)),
                topic_alias_maximum: Some(u16::from(input.byte().unwrap_or(0) % 3)),
                ..Default::default()
            },
        })),
        1 => Packet::PubAck(PubResponse {
            packet_id: id,
            reason_code: code(input),
            properties: Default::default(),
        }),
        2 => Packet::PubRec(PubResponse::new(id)),
        3 => Packet::PubComp(PubResponse::new(id)),
        4 => Packet::PubRel(PubResponse::new(id)),
        5 => Packet::SubAck(SubAck {
            packet_id: id,
            reason_codes: vec![ReasonCode::GrantedQoS1],
            properties: Default::default(),
        }),
        6 => Packet::UnsubAck(UnsubAck {
            packet_id: id,
            reason_codes: vec![ReasonCode::Success],
            properties: Default::default(),
        }),
        7 => Packet::PingResp,
        8 => Packet::Disconnect(Disconnect {
            reason_code: ReasonCode::ServerShuttingDown,
            properties: Default::default(),
        }),
        _ => {
            let qos = QoS::from_u8(input.byte().unwrap_or(0) % 3).unwrap();
            let mut publish = Publish::new(TOPICS[usize::from(id) % 3], &b"m"[..], qos);
            if qos != QoS::AtMostOnce {
                publish.packet_id = u16::from(input.byte().unwrap_or(1)).max(1);
            }
            publish.dup = input.byte().unwrap_or(0) & 1 == 1;
            Packet::Publish(publish)
        }
    }
}
