//! The append-only session log the stores share (the native file store, the
//! browser's IndexedDB store, a store of your own).
//!
//! A log is a header ([`LOG_MAGIC`]) and records. A record is the length of
//! its payload (u32, big endian), the CRC-32 of the payload, and the payload:
//! one [`SessionChange`] (a kind byte and its fields). Appending a batch of
//! records and syncing once makes the batch durable; compaction writes a new
//! log whose only record is a [`SessionChange::Snapshot`].
//!
//! [`replay`] reads a log back. A crash in the middle of an append leaves a
//! torn tail (a record cut short, or zeros the file system had allocated):
//! that is normal, and replay stops before it. A record that fails its
//! checksum with valid data after it is damage, not a crash, and replay
//! refuses the log with an error that says where.
//!
//! ```
//! use midge_core::session::log::{append_record, replay, LOG_MAGIC};
//! use midge_core::session::SessionChange;
//!
//! let mut file = LOG_MAGIC.to_vec();
//! append_record(&mut file, &SessionChange::InboundQos2Added(7));
//! append_record(&mut file, &SessionChange::InboundQos2Added(8));
//! let whole = replay(&file).unwrap();
//! assert!(whole.state.inbound_qos2.contains(&8) && !whole.torn);
//!
//! // A crash in the middle of the second record: the first one survives.
//! let torn = replay(&file[..file.len() - 1]).unwrap();
//! assert!(torn.torn && torn.state.inbound_qos2.contains(&7) && !torn.state.inbound_qos2.contains(&8));
//!
//! // One flipped bit in the first record, with a valid one after it: damage.
//! let mut damaged = file.clone();
//! damaged[LOG_MAGIC.len() + 9] ^= 1;
//! assert!(replay(&damaged).unwrap_err().to_string().contains("checksum"));
//! ```

use super::{put_outbound, put_str, put_subscription, Reader, SessionChange, SessionState};
use super::{PublishToken, StoreError};

/// The first bytes of a session log (bump the digit when the format changes).
pub const LOG_MAGIC: &[u8] = b"MIDGELG1";

/// Bytes before a record's payload: its length and its CRC-32.
pub const RECORD_HEADER: usize = 8;

const CLIENT_ID: u8 = 1;
const OUTBOUND_STORED: u8 = 2;
const OUTBOUND_REMOVED: u8 = 3;
const INBOUND_QOS2_ADDED: u8 = 4;
const INBOUND_QOS2_REMOVED: u8 = 5;
const SUBSCRIPTION_STORED: u8 = 6;
const SUBSCRIPTION_REMOVED: u8 = 7;
const SNAPSHOT: u8 = 8;

/// CRC-32 (IEEE 802.3, as zlib and `crc32fast` compute it), four bits at a
/// time: a 64-byte table instead of a kilobyte one in the wasm package.
///
/// ```
/// assert_eq!(midge_core::session::log::crc32(b"123456789"), 0xCBF4_3926);
/// ```
pub fn crc32(bytes: &[u8]) -> u32 {
    const TABLE: [u32; 16] = [
        0x0000_0000,
        0x1DB7_1064,
        0x3B6E_20C8,
        0x26D9_30AC,
        0x76DC_4190,
        0x6B6B_51F4,
        0x4DB2_6158,
        0x5005_713C,
        0xEDB8_8320,
        0xF00F_9344,
        0xD6D6_A3E8,
        0xCB61_B38C,
        0x9B64_C2B0,
        0x86D3_D2D4,
        0xA00A_E278,
        0xBDBD_F21C,
    ];
    let mut crc = !0u32;
    for &byte in bytes {
        crc = TABLE[((crc ^ u32::from(byte)) & 0xF) as usize] ^ (crc >> 4);
        crc = TABLE[((crc ^ u32::from(byte >> 4)) & 0xF) as usize] ^ (crc >> 4);
    }
    !crc
}

/// The payload of one record: a kind byte and the change's fields.
pub fn encode_change(change: &SessionChange, out: &mut Vec<u8>) {
    match change {
        SessionChange::ClientId(id) => {
            out.push(CLIENT_ID);
            put_str(out, id);
        }
        SessionChange::OutboundStored(entry) => {
            out.push(OUTBOUND_STORED);
            put_outbound(out, entry, &mut Vec::new());
        }
        SessionChange::OutboundRemoved(token) => {
            out.push(OUTBOUND_REMOVED);
            out.extend_from_slice(&token.0.to_be_bytes());
        }
        SessionChange::InboundQos2Added(id) => {
            out.push(INBOUND_QOS2_ADDED);
            out.extend_from_slice(&id.to_be_bytes());
        }
        SessionChange::InboundQos2Removed(id) => {
            out.push(INBOUND_QOS2_REMOVED);
            out.extend_from_slice(&id.to_be_bytes());
        }
        SessionChange::SubscriptionStored(sub) => {
            out.push(SUBSCRIPTION_STORED);
            put_subscription(out, sub);
        }
        SessionChange::SubscriptionRemoved(filter) => {
            out.push(SUBSCRIPTION_REMOVED);
            put_str(out, filter);
        }
        SessionChange::Snapshot(state) => {
            out.push(SNAPSHOT);
            out.extend_from_slice(&state.to_bytes());
        }
    }
}

/// The change a payload written by [`encode_change`] holds.
pub fn decode_change(payload: &[u8]) -> Result<SessionChange, StoreError> {
    read_change(payload).map_err(|reason| StoreError::Corrupt {
        reason: reason.into(),
    })
}

fn read_change(payload: &[u8]) -> Result<SessionChange, &'static str> {
    let mut r = Reader {
        bytes: payload,
        pos: 0,
    };
    let change = match r.u8()? {
        CLIENT_ID => SessionChange::ClientId(r.string()?),
        OUTBOUND_STORED => SessionChange::OutboundStored(r.outbound()?),
        OUTBOUND_REMOVED => SessionChange::OutboundRemoved(PublishToken(r.u64()?)),
        INBOUND_QOS2_ADDED => SessionChange::InboundQos2Added(r.u16()?),
        INBOUND_QOS2_REMOVED => SessionChange::InboundQos2Removed(r.u16()?),
        SUBSCRIPTION_STORED => SessionChange::SubscriptionStored(r.subscription()?),
        SUBSCRIPTION_REMOVED => SessionChange::SubscriptionRemoved(r.string()?),
        SNAPSHOT => {
            return SessionState::read(&payload[1..])
                .map(|state| SessionChange::Snapshot(Box::new(state)))
        }
        _ => return Err("unknown record kind"),
    };
    if r.pos != payload.len() {
        return Err("trailing bytes in a record");
    }
    Ok(change)
}

/// Append `change` as one framed record (length, CRC-32, payload).
pub fn append_record(out: &mut Vec<u8>, change: &SessionChange) {
    let start = out.len();
    out.extend_from_slice(&[0; RECORD_HEADER]);
    encode_change(change, out);
    let payload = &out[start + RECORD_HEADER..];
    let len = (payload.len() as u32).to_be_bytes();
    let crc = crc32(payload).to_be_bytes();
    out[start..start + 4].copy_from_slice(&len);
    out[start + 4..start + RECORD_HEADER].copy_from_slice(&crc);
}

/// What [`replay`] read from a log.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// The session the records add up to.
    pub state: SessionState,
    /// How many records were applied.
    pub records: usize,
    /// Bytes of the log up to the end of the last good record: a store
    /// truncates a torn tail to this before appending again.
    pub valid_len: usize,
    /// The log ended in a torn record (a crash in the middle of a write).
    pub torn: bool,
}

/// Read a log back: every record in order, stopping at a torn tail.
///
/// Fails with [`StoreError::Corrupt`] when the header is not a log's, or a
/// record fails its checksum (or does not decode) and valid bytes follow it.
pub fn replay(bytes: &[u8]) -> Result<Replay, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt { reason };
    if bytes.len() < LOG_MAGIC.len() || &bytes[..LOG_MAGIC.len()] != LOG_MAGIC {
        return Err(corrupt(
            "not a midge session log (bad magic or version)".into(),
        ));
    }
    let mut state = SessionState::default();
    let mut pos = LOG_MAGIC.len();
    let mut records = 0;
    let mut torn = false;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        // Zeros to the end: space the file system allocated before the
        // crash, never written.
        let only_zeros = rest.iter().all(|b| *b == 0);
        if rest.len() < RECORD_HEADER {
            torn = true;
            break;
        }
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let crc = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]);
        let end = RECORD_HEADER.checked_add(len).filter(|e| *e <= rest.len());
        let Some(end) = end.filter(|_| len > 0) else {
            if only_zeros || len > 0 {
                // Cut short by the crash (or zeros).
                torn = true;
                break;
            }
            return Err(corrupt(at(records, pos, "has length 0")));
        };
        let payload = &rest[RECORD_HEADER..end];
        let last = end == rest.len();
        if crc32(payload) != crc {
            if last || only_zeros {
                torn = true;
                break;
            }
            return Err(corrupt(at(
                records,
                pos,
                "fails its checksum: the log is damaged",
            )));
        }
        let change = read_change(payload).map_err(|reason| corrupt(at(records, pos, reason)))?;
        state.apply(&change);
        records += 1;
        pos += end;
    }
    Ok(Replay {
        state,
        records,
        valid_len: pos,
        torn,
    })
}

/// "record N at byte P <what>" (without `core::fmt`, kept out of the wasm).
fn at(records: usize, pos: usize, what: &str) -> String {
    use crate::text::{cat, dec};
    cat(&[
        "record ",
        &dec(records as u64 + 1),
        " at byte ",
        &dec(pos as u64),
        " ",
        what,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{Publish, QoS, RetainHandling, SubscribeFilter, SubscriptionOptions};
    use crate::session::{OutboundPublish, OutboundStage, StoredSubscription};

    fn changes() -> Vec<SessionChange> {
        let mut publish = Publish::new("a/b", &b"hello"[..], QoS::ExactlyOnce).with_packet_id(9);
        publish
            .properties
            .user_properties
            .push(("k".into(), "v".into()));
        let entry = OutboundPublish {
            token: PublishToken(4),
            stage: OutboundStage::AwaitingPubRec,
            publish,
        };
        let sub = StoredSubscription {
            filter: SubscribeFilter {
                filter: "x/#".into(),
                options: SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: RetainHandling::SendIfNew,
                },
            },
            subscription_identifier: Some(3),
        };
        let mut snapshot = SessionState::default();
        snapshot.apply(&SessionChange::OutboundStored(entry.clone()));
        vec![
            SessionChange::ClientId("c".into()),
            SessionChange::Snapshot(Box::new(snapshot)),
            SessionChange::OutboundStored(entry),
            SessionChange::InboundQos2Added(65535),
            SessionChange::SubscriptionStored(sub),
            SessionChange::OutboundRemoved(PublishToken(4)),
            SessionChange::InboundQos2Removed(65535),
            SessionChange::SubscriptionRemoved("x/#".into()),
            SessionChange::InboundQos2Added(1),
        ]
    }

    fn log_of(changes: &[SessionChange]) -> Vec<u8> {
        let mut log = LOG_MAGIC.to_vec();
        for c in changes {
            append_record(&mut log, c);
        }
        log
    }

    #[test]
    fn every_change_round_trips_and_replays_to_the_same_state() {
        let mut expected = SessionState::default();
        for change in changes() {
            let mut payload = Vec::new();
            encode_change(&change, &mut payload);
            assert_eq!(decode_change(&payload).unwrap(), change);
            expected.apply(&change);
        }
        let log = log_of(&changes());
        let replay = replay(&log).unwrap();
        assert_eq!(replay.state, expected);
        assert_eq!(
            (replay.records, replay.valid_len, replay.torn),
            (9, log.len(), false)
        );
    }

    #[test]
    fn a_cut_anywhere_in_the_last_record_is_a_torn_tail() {
        let all = changes();
        let before = log_of(&all[..all.len() - 1]);
        let log = log_of(&all);
        for cut in before.len() + 1..log.len() {
            let r = replay(&log[..cut]).unwrap();
            assert!(r.torn, "cut at {cut}");
            assert_eq!((r.records, r.valid_len), (all.len() - 1, before.len()));
        }
        // Zeros after the last record (allocated, never written).
        let mut zeros = log.clone();
        zeros.extend_from_slice(&[0; 100]);
        let r = replay(&zeros).unwrap();
        assert!(r.torn && r.records == all.len() && r.valid_len == log.len());
    }

    #[test]
    fn a_flipped_byte_before_the_last_record_is_refused() {
        let log = log_of(&changes());
        let last_start = log_of(&changes()[..8]).len();
        for at in LOG_MAGIC.len()..last_start {
            let mut damaged = log.clone();
            damaged[at] ^= 0x40;
            match replay(&damaged) {
                Err(StoreError::Corrupt { reason }) => {
                    assert!(reason.contains("record"), "{reason}")
                }
                // A length byte flipped so that the record runs past the
                // end reads as a torn tail: never as a good log.
                Ok(r) => assert!(r.torn && r.records < 9, "flip at {at}: {r:?}"),
                Err(e) => panic!("{e}"),
            }
        }
        assert!(replay(b"MIDGESS1").is_err());
    }
}
