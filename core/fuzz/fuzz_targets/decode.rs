//! Fuzz target for the packet decoder.
//!
//! The first input byte steers the run (maximum packet size and how the
//! stream is chunked); the rest is the byte stream. For both protocol
//! versions the stream is decoded twice: packet by packet with
//! `decode_packet`, and through a `Decoder` fed in arbitrary chunks. Both
//! must agree exactly (same packets, same error), and every decoded packet
//! must re-encode to bytes that decode to the same packet.

#![no_main]

use libfuzzer_sys::fuzz_target;
use midge_core::packet::{
    decode_packet, encode_packet, DecodeError, Decoder, Packet, ProtocolVersion,
};

/// Packets decoded before the stream ended or failed, and the failure.
type Outcome = (Vec<Packet>, Option<DecodeError>);

fuzz_target!(|input: &[u8]| {
    let Some((&control, data)) = input.split_first() else {
        return;
    };
    // Small limits exercise PacketTooLarge; the top bit lifts the limit.
    let max_packet_size = if control & 0x80 != 0 {
        u32::MAX
    } else {
        2 + u32::from(control & 0x7F) * 3
    };
    for version in [ProtocolVersion::V311, ProtocolVersion::V5] {
        let whole = decode_whole(data, version, max_packet_size);
        let chunked = decode_chunked(data, version, max_packet_size, control);
        assert_eq!(whole, chunked, "decode_packet and Decoder disagree");
        for packet in &whole.0 {
            check_round_trip(packet, version);
        }
    }
});

fn decode_whole(data: &[u8], version: ProtocolVersion, max: u32) -> Outcome {
    let mut packets = Vec::new();
    let mut offset = 0;
    loop {
        let rest = data.get(offset..).unwrap_or_default();
        match decode_packet(rest, version, max) {
            Ok(Some((packet, used))) => {
                assert!(used > 0 && used <= rest.len(), "bad consumed count {used}");
                packets.push(packet);
                offset += used;
            }
            Ok(None) => return (packets, None),
            Err(error) => return (packets, Some(error)),
        }
    }
}

fn decode_chunked(data: &[u8], version: ProtocolVersion, max: u32, seed: u8) -> Outcome {
    let mut decoder = Decoder::new(version, max);
    let mut packets = Vec::new();
    let mut rest = data;
    let mut state = u32::from(seed) | 1;
    while !rest.is_empty() {
        // A small LCG picks chunk sizes from 1 to 16 bytes.
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let size = ((state >> 16) % 16 + 1) as usize;
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        decoder.feed(chunk);
        rest = tail;
        loop {
            match decoder.next_packet() {
                Ok(Some(packet)) => packets.push(packet),
                Ok(None) => break,
                Err(error) => return (packets, Some(error)),
            }
        }
    }
    (packets, None)
}

fn check_round_trip(packet: &Packet, version: ProtocolVersion) {
    let mut wire = Vec::new();
    encode_packet(packet, version, &mut wire).expect("a decoded packet encodes");
    let decoded = decode_packet(&wire, version, u32::MAX).expect("re-encoded packet decodes");
    assert_eq!(
        decoded,
        Some((packet.clone(), wire.len())),
        "round trip changed the packet"
    );
}
