//! QoS 1 publish -> PUBACK rounds through the whole state machine, midge
//! against rumqttc's `MqttState` (the state machine behind rumqttc) in the
//! same run. A program, not a timed test: it prints ns per message and the
//! ratio (peer / midge; above 1 means midge is faster).
//!
//! Both sides do the same work per message: accept a publish, encode the
//! PUBLISH into the outgoing buffer, decode a PUBACK from bytes, retire the
//! in-flight entry and hand out the completion.
//!
//! ```text
//! cargo bench -p midge-core --bench session
//! ```

use std::hint::black_box;
use std::time::Instant;

use midge_core::packet::{
    ConnAck, ConnAckProperties, Packet, ProtocolVersion, Publish, QoS, ReasonCode,
};
use midge_core::{Client, ClientOptions, Event};

const SAMPLES: usize = 15;
const ROUNDS: usize = 20_000;

fn median_ns_per_op(mut run_batch: impl FnMut(usize)) -> f64 {
    run_batch(ROUNDS); // warm-up
    let mut samples: Vec<f64> = (0..SAMPLES)
        .map(|_| {
            let start = Instant::now();
            run_batch(ROUNDS);
            start.elapsed().as_nanos() as f64 / ROUNDS as f64
        })
        .collect();
    samples.sort_by(|a, b| a.total_cmp(b));
    samples[SAMPLES / 2]
}

fn connected_client(version: ProtocolVersion) -> Client {
    let mut options = ClientOptions::new("mqtt://127.0.0.1").unwrap();
    options.protocol = version;
    options.client_id = "bench".into();
    options.keep_alive_secs = 0;
    options.max_inflight = u16::MAX;
    let mut client = Client::new(options).unwrap();
    client.connect(0).unwrap();
    while client.poll_transport_command().is_some() {}
    client.handle_transport_open(0);
    let _ = client.poll_transmit();
    let mut connack = Vec::new();
    midge_core::packet::encode_packet(
        &Packet::ConnAck(Box::new(ConnAck {
            session_present: false,
            reason_code: ReasonCode::Success,
            properties: ConnAckProperties::default(),
        })),
        version,
        &mut connack,
    )
    .unwrap();
    client.handle_bytes(0, &connack);
    assert!(matches!(client.poll_event(), Some(Event::Connected(_))));
    client
}

fn midge_round(version: ProtocolVersion) -> f64 {
    let mut client = connected_client(version);
    let payload = bytes::Bytes::from(vec![0x5a; 64]);
    let mut out = Vec::with_capacity(256);
    median_ns_per_op(|n| {
        for _ in 0..n {
            let publish = Publish::new("bench/topic", payload.clone(), QoS::AtLeastOnce);
            client.publish(1, publish).unwrap();
            out.clear();
            client.transmit_into(&mut out);
            // The packet id is the last two bytes of the variable header;
            // PUBACK echoes it (short 5.0 form = the 3.1.1 form).
            let id_at = 2 + 2 + "bench/topic".len();
            let puback = [0x40, 0x02, out[id_at], out[id_at + 1]];
            client.handle_bytes(1, &puback);
            match client.poll_event() {
                Some(Event::PublishComplete { result, .. }) => {
                    black_box(result.is_ok());
                }
                other => panic!("expected a completion, got {other:?}"),
            }
        }
    })
}

fn rumqttc_round() -> f64 {
    use rumqttc::{
        MqttState, Packet as RPacket, PubAck, Publish as RPublish, QoS as RQoS, Request,
    };
    let mut state = MqttState::new(u16::MAX, false, 1024 * 1024);
    let payload = vec![0x5a; 64];
    let mut incoming = bytes::BytesMut::with_capacity(64);
    median_ns_per_op(|n| {
        for _ in 0..n {
            let publish = RPublish::new("bench/topic", RQoS::AtLeastOnce, payload.clone());
            state
                .handle_outgoing_packet(Request::Publish(publish))
                .unwrap();
            let id_at = 2 + 2 + "bench/topic".len();
            let (hi, lo) = (state.write[id_at], state.write[id_at + 1]);
            state.write.clear();
            incoming.extend_from_slice(&[0x40, 0x02, hi, lo]);
            let packet = rumqttc::mqttbytes::v4::read(&mut incoming, 1024).unwrap();
            let RPacket::PubAck(ack) = packet else {
                panic!("expected PUBACK")
            };
            state
                .handle_incoming_packet(RPacket::PubAck(PubAck::new(ack.pkid)))
                .unwrap();
            black_box(state.events.pop_front());
            state.events.clear();
        }
    })
}

fn main() {
    println!("QoS 1 publish -> PUBACK round through the state machine, 64-byte payload");
    println!("median of {SAMPLES} samples x {ROUNDS} rounds; ratio = rumqttc / midge");
    let peer = rumqttc_round();
    for (name, version) in [
        ("v3.1.1", ProtocolVersion::V311),
        ("v5", ProtocolVersion::V5),
    ] {
        let midge = midge_round(version);
        println!(
            "qos1-round {name:<7} midge {midge:>7.1} ns  rumqttc(v3.1.1) {peer:>7.1} ns  ratio {:.2}x",
            peer / midge
        );
    }
}
