//! Codec micro-benchmark: midge against mqttbytes (v4 = MQTT 3.1.1, v5 = MQTT
//! 5.0) on the same packets.
//!
//! A plain program (no criterion): each case runs in batches sized to take a
//! few milliseconds, 15 batches are timed with `Instant`, and the median
//! nanoseconds per packet is printed for both libraries with the ratio
//! peer / midge (above 1 means midge is faster).
//!
//! Encoding writes into a reused buffer. Decoding feeds the packet's bytes
//! into the streaming decoder and takes the packet out: `Decoder::feed` then
//! `next_packet` for midge, `BytesMut::extend_from_slice` then `read` for
//! mqttbytes. Both sides copy the bytes in once and split the frame off a
//! `BytesMut`.
//!
//! Run with `cargo bench -p midge-core --bench codec`.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use midge_core::packet::{
    decode_packet, encode_packet, ConnAck, ConnAckProperties, Decoder, Packet, ProtocolVersion,
    Publish, QoS, ReasonCode, Subscribe, SubscribeFilter, SubscribeProperties,
};
use mqttbytes::{v4, v5};

const SAMPLES: usize = 15;
const TARGET_SAMPLE: Duration = Duration::from_millis(8);

/// Set when the target runs as a test (`cargo test --benches`): every case
/// runs a few times only, as a smoke test.
static QUICK: AtomicBool = AtomicBool::new(false);

/// Number of calls that take about [`TARGET_SAMPLE`] (after a warm-up).
fn batch_size(f: &mut impl FnMut()) -> u64 {
    let mut batch: u64 = 64;
    loop {
        let start = Instant::now();
        for _ in 0..batch {
            f();
        }
        let elapsed = start.elapsed();
        if elapsed >= TARGET_SAMPLE / 4 || batch >= 1 << 26 {
            let per_call = elapsed.as_secs_f64() / batch as f64;
            return ((TARGET_SAMPLE.as_secs_f64() / per_call.max(1e-10)) as u64).max(16);
        }
        batch *= 2;
    }
}

/// ns per call of one timed batch.
fn sample(f: &mut impl FnMut(), batch: u64) -> f64 {
    let start = Instant::now();
    for _ in 0..batch {
        f();
    }
    start.elapsed().as_nanos() as f64 / batch as f64
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Median ns per call of `midge` and of `peer` over [`SAMPLES`] batches
/// each. The two alternate batch by batch, so that load from other processes
/// on the machine hits both alike.
fn measure(mut midge: impl FnMut(), mut peer: impl FnMut()) -> (f64, f64) {
    if QUICK.load(Ordering::Relaxed) {
        return (sample(&mut midge, 16), sample(&mut peer, 16));
    }
    let midge_batch = batch_size(&mut midge);
    let peer_batch = batch_size(&mut peer);
    let mut midge_samples = Vec::with_capacity(SAMPLES);
    let mut peer_samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        midge_samples.push(sample(&mut midge, midge_batch));
        peer_samples.push(sample(&mut peer, peer_batch));
    }
    (median(midge_samples), median(peer_samples))
}

fn report(case: &str, midge: f64, peer: f64) {
    println!(
        "{case:<26} midge {midge:>8.1} ns  mqttbytes {peer:>8.1} ns  ratio {:.2}x",
        peer / midge
    );
}

fn version_name(version: ProtocolVersion) -> &'static str {
    match version {
        ProtocolVersion::V311 => "v311",
        ProtocolVersion::V5 => "v5",
    }
}

fn midge_bytes(packet: &Packet, version: ProtocolVersion) -> Vec<u8> {
    let mut out = Vec::new();
    encode_packet(packet, version, &mut out).expect("bench packet encodes");
    out
}

/// Encoding into a reused buffer: `packet` with midge, and the same packet
/// with mqttbytes through `peer_write`. Checks first that midge decodes the
/// peer's bytes to `packet`, so both sides really do the same work.
fn encode_case(
    case: &str,
    packet: &Packet,
    version: ProtocolVersion,
    mut peer_write: impl FnMut(&mut BytesMut),
) {
    let mut peer_wire = BytesMut::new();
    peer_write(&mut peer_wire);
    let (decoded, _) = decode_packet(&peer_wire, version, u32::MAX)
        .expect("peer bytes decode")
        .expect("whole packet");
    assert_eq!(&decoded, packet, "mqttbytes encodes a different packet");

    let mut out = Vec::with_capacity(8192);
    let mut peer_out = BytesMut::with_capacity(8192);
    let (midge, peer) = measure(
        || {
            out.clear();
            encode_packet(black_box(packet), version, &mut out).expect("encodes");
            black_box(&out);
        },
        || {
            peer_out.clear();
            peer_write(black_box(&mut peer_out));
            black_box(&peer_out);
        },
    );
    report(
        &format!("{case} encode {}", version_name(version)),
        midge,
        peer,
    );
}

/// Streaming decode of `packet`'s bytes: fed into midge's `Decoder` and taken
/// out with `next_packet`, against `BytesMut::extend_from_slice` and
/// `peer_read` for mqttbytes.
fn decode_case<P>(
    case: &str,
    packet: &Packet,
    version: ProtocolVersion,
    mut peer_read: impl FnMut(&mut BytesMut) -> P,
) {
    let wire = midge_bytes(packet, version);
    let mut decoder = Decoder::new(version, u32::MAX);
    let mut stream = BytesMut::with_capacity(8192);
    let (midge, peer) = measure(
        || {
            decoder.feed(black_box(&wire));
            let packet = decoder
                .next_packet()
                .expect("decodes")
                .expect("whole packet");
            black_box(packet);
        },
        || {
            stream.extend_from_slice(black_box(&wire));
            black_box(peer_read(&mut stream));
        },
    );
    report(
        &format!("{case} decode {}", version_name(version)),
        midge,
        peer,
    );
}

fn publish_case(label: &str, payload_len: usize) {
    let payload = Bytes::from(vec![0xA5u8; payload_len]);
    let topic = "sensors/room1/temp";
    let packet =
        Packet::Publish(Publish::new(topic, payload.clone(), QoS::AtLeastOnce).with_packet_id(7));
    let mut v4_publish =
        v4::Publish::from_bytes(topic, mqttbytes::QoS::AtLeastOnce, payload.clone());
    v4_publish.pkid = 7;
    let mut v5_publish = v5::Publish::from_bytes(topic, mqttbytes::QoS::AtLeastOnce, payload);
    v5_publish.pkid = 7;

    encode_case(label, &packet, ProtocolVersion::V311, |out| {
        v4_publish.write(out).expect("v4 encodes");
    });
    decode_case(label, &packet, ProtocolVersion::V311, |stream| {
        v4::read(stream, 1 << 20).expect("v4 decodes")
    });
    encode_case(label, &packet, ProtocolVersion::V5, |out| {
        v5_publish.write(out).expect("v5 encodes");
    });
    decode_case(label, &packet, ProtocolVersion::V5, |stream| {
        v5::read(stream, 1 << 20).expect("v5 decodes")
    });
}

fn subscribe_case() {
    let filters = ["home/+/temperature", "home/kitchen/#", "alerts"];
    let qos = [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce];
    let peer_qos = [
        mqttbytes::QoS::AtMostOnce,
        mqttbytes::QoS::AtLeastOnce,
        mqttbytes::QoS::ExactlyOnce,
    ];
    let packet = Packet::Subscribe(Subscribe {
        packet_id: 42,
        filters: filters
            .iter()
            .zip(qos)
            .map(|(filter, qos)| SubscribeFilter::new(*filter, qos))
            .collect(),
        properties: SubscribeProperties::default(),
    });
    let v4_subscribe = v4::Subscribe {
        pkid: 42,
        filters: filters
            .iter()
            .zip(peer_qos)
            .map(|(filter, qos)| v4::SubscribeFilter::new((*filter).to_owned(), qos))
            .collect(),
    };
    let v5_subscribe = v5::Subscribe {
        pkid: 42,
        filters: filters
            .iter()
            .zip(peer_qos)
            .map(|(filter, qos)| v5::SubscribeFilter::new((*filter).to_owned(), qos))
            .collect(),
        properties: None,
    };

    let label = "subscribe-3";
    encode_case(label, &packet, ProtocolVersion::V311, |out| {
        v4_subscribe.write(out).expect("v4 encodes");
    });
    decode_case(label, &packet, ProtocolVersion::V311, |stream| {
        v4::read(stream, 1 << 20).expect("v4 decodes")
    });
    encode_case(label, &packet, ProtocolVersion::V5, |out| {
        v5_subscribe.write(out).expect("v5 encodes");
    });
    decode_case(label, &packet, ProtocolVersion::V5, |stream| {
        v5::read(stream, 1 << 20).expect("v5 decodes")
    });
}

fn connack_case() {
    let packet = Packet::ConnAck(Box::new(ConnAck {
        session_present: false,
        reason_code: ReasonCode::Success,
        properties: ConnAckProperties {
            session_expiry_interval: Some(3600),
            receive_maximum: Some(100),
            maximum_qos: Some(QoS::AtLeastOnce),
            retain_available: Some(true),
            maximum_packet_size: Some(1 << 20),
            assigned_client_identifier: Some("auto-7f3a9c".into()),
            topic_alias_maximum: Some(10),
            ..ConnAckProperties::default()
        },
    }));
    let mut properties = v5::ConnAckProperties::new();
    properties.session_expiry_interval = Some(3600);
    properties.receive_max = Some(100);
    properties.max_qos = Some(1);
    properties.retain_available = Some(1);
    properties.max_packet_size = Some(1 << 20);
    properties.assigned_client_identifier = Some("auto-7f3a9c".into());
    properties.topic_alias_max = Some(10);
    let mut peer = v5::ConnAck::new(v5::ConnectReturnCode::Success, false);
    peer.properties = Some(properties);

    let label = "connack-props";
    encode_case(label, &packet, ProtocolVersion::V5, |out| {
        peer.write(out).expect("v5 encodes");
    });
    decode_case(label, &packet, ProtocolVersion::V5, |stream| {
        v5::read(stream, 1 << 20).expect("v5 decodes")
    });
}

fn main() {
    // `cargo bench` passes --bench; without it (`cargo test --benches`) this
    // is a quick smoke test. Filter arguments are ignored.
    QUICK.store(
        !std::env::args().any(|arg| arg == "--bench"),
        Ordering::Relaxed,
    );
    println!("midge codec vs mqttbytes 0.6: median of {SAMPLES} samples, ns per packet");
    publish_case("publish-64B", 64);
    publish_case("publish-4KB", 4096);
    subscribe_case();
    connack_case();
}
