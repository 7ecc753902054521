//! The client's own account of what it does: a line per connection change
//! and, at [`Severity::Debug`], a line per packet sent or received.
//!
//! The lines are written here, in the core, so every runtime prints the same
//! words; a binding only relays each [`TraceRecord`] to its logger (Python's
//! `logging`, a JavaScript `logger`, a Kotlin hook). Nothing secret goes
//! into a record: passwords and authentication data are never written, and
//! payload bytes only when the driver asks for them
//! ([`Client::set_trace_payloads`](crate::Client::set_trace_payloads)).
//!
//! ```
//! use midge_core::{Client, ClientOptions};
//! use midge_core::trace::Severity;
//!
//! let mut client = Client::new(ClientOptions::new("mqtt://127.0.0.1:1883")?)?;
//! client.set_trace_level(Some(Severity::Debug));
//! client.connect(0)?;
//! client.handle_transport_open(1);
//! let lines: Vec<String> = std::iter::from_fn(|| client.poll_trace())
//!     .map(|record| record.message)
//!     .collect();
//! assert_eq!(lines[0], "connecting to mqtt://127.0.0.1:1883");
//! assert!(lines[1].starts_with("sent CONNECT "), "{lines:?}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::VecDeque;

use crate::packet::{Packet, ProtocolVersion, Publish, QoS, ReasonCode};
use crate::text::{cat, dec};

/// How much a record matters. The numbers are Python `logging`'s levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// One line per packet.
    Debug = 10,
    /// Connecting, connected, an orderly disconnect, subscriptions restored.
    Info = 20,
    /// The connection was lost or refused, the session store failed, the
    /// server sent something the client had to drop.
    Warning = 30,
}

impl Severity {
    /// The level's name as loggers print it (`"DEBUG"`, `"INFO"`, `"WARNING"`).
    pub fn name(self) -> &'static str {
        match self {
            Severity::Debug => "DEBUG",
            Severity::Info => "INFO",
            Severity::Warning => "WARNING",
        }
    }
}

/// Which way a traced packet went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Written to the transmit buffer (handed to the transport next).
    Sent,
    /// Decoded from the bytes the transport read.
    Received,
}

/// The fields of a traced packet, for runtimes that hand packets to the
/// application as objects (the npm package's `packetsend` and
/// `packetreceive` events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketTrace {
    /// Sent or received.
    pub direction: Direction,
    /// Upper-case packet name (`"PUBLISH"`).
    pub kind: &'static str,
    /// Packet identifier, for the packets that have one (0 for none).
    pub packet_id: u16,
    /// PUBLISH only.
    pub qos: Option<QoS>,
    /// PUBLISH only; empty when the packet used a topic alias alone.
    pub topic: Option<String>,
    /// Bytes on the wire, fixed header included.
    pub size: usize,
}

/// One line of the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRecord {
    /// How important the line is; a sink filters on it.
    pub severity: Severity,
    /// The line, the same in every runtime.
    pub message: String,
    /// Set for the per-packet lines.
    pub packet: Option<PacketTrace>,
}

/// Records kept for the driver to drain; further records are counted and
/// reported by one warning once the driver drains again, so a driver that
/// turned tracing on and never polls does not grow without bound.
pub const TRACE_CAPACITY: usize = 1024;

/// Most payload bytes written into a record when payloads are traced.
const PAYLOAD_SHOWN: usize = 256;

/// The trace queue of one client.
#[derive(Debug, Default)]
pub(crate) struct Tracer {
    level: Option<Severity>,
    pub(crate) payloads: bool,
    records: VecDeque<TraceRecord>,
    dropped: u64,
}

impl Tracer {
    pub(crate) fn set_level(&mut self, level: Option<Severity>) {
        self.level = level;
        if level.is_none() {
            self.records.clear();
            self.dropped = 0;
        }
    }

    #[inline]
    pub(crate) fn enabled(&self, severity: Severity) -> bool {
        matches!(self.level, Some(level) if severity >= level)
    }

    pub(crate) fn push(
        &mut self,
        severity: Severity,
        message: String,
        packet: Option<PacketTrace>,
    ) {
        if self.records.len() >= TRACE_CAPACITY {
            self.dropped += 1;
            return;
        }
        self.records.push_back(TraceRecord {
            severity,
            message,
            packet,
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty() && self.dropped == 0
    }

    pub(crate) fn pop(&mut self) -> Option<TraceRecord> {
        if let Some(record) = self.records.pop_front() {
            return Some(record);
        }
        if self.dropped == 0 {
            return None;
        }
        let dropped = std::mem::take(&mut self.dropped);
        Some(TraceRecord {
            severity: Severity::Warning,
            message: cat(&[
                &dec(dropped),
                " trace records were dropped: the driver did not drain them in time",
            ]),
            packet: None,
        })
    }
}

/// The per-packet line and fields: `sent PUBLISH id=5 qos=1 topic="a/b"
/// payload=64B size=79B`.
pub(crate) fn packet_line(
    direction: Direction,
    packet: &Packet,
    protocol: ProtocolVersion,
    size: usize,
    payloads: bool,
) -> (String, PacketTrace) {
    let mut line = String::from(match direction {
        Direction::Sent => "sent ",
        Direction::Received => "received ",
    });
    line.push_str(packet.name());
    let mut trace = PacketTrace {
        direction,
        kind: packet.name(),
        packet_id: 0,
        qos: None,
        topic: None,
        size,
    };
    let mut field = |name: &str, value: &str| {
        line.push(' ');
        line.push_str(name);
        line.push('=');
        line.push_str(value);
    };
    match packet {
        Packet::Connect(c) => {
            field("client_id", &quoted(&c.client_id));
            field(
                "protocol",
                match c.protocol {
                    ProtocolVersion::V5 => "5.0",
                    ProtocolVersion::V311 => "3.1.1",
                },
            );
            let clean = if protocol == ProtocolVersion::V5 {
                "clean_start"
            } else {
                "clean_session"
            };
            field(clean, flag(c.clean_start));
            field("keep_alive", &cat(&[&dec(c.keep_alive.into()), "s"]));
            if let Some(user) = &c.username {
                field("username", &quoted(user));
            }
            if c.password.is_some() {
                field("password", "<hidden>");
            }
            if let Some(will) = &c.will {
                field("will_topic", &quoted(&will.topic));
                field("will_qos", qos_digit(will.qos));
            }
            if let Some(method) = &c.properties.authentication_method {
                field("auth_method", &quoted(method));
            }
            if c.properties.authentication_data.is_some() {
                field("auth_data", "<hidden>");
            }
        }
        Packet::ConnAck(a) => {
            field("session_present", flag(a.session_present));
            field("reason", &a.reason_code.describe());
        }
        Packet::Publish(p) => {
            trace.packet_id = p.packet_id;
            trace.qos = Some(p.qos);
            trace.topic = Some(p.topic.clone());
            publish_fields(&mut field, p, payloads);
        }
        Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => {
            trace.packet_id = r.packet_id;
            field("id", &dec(r.packet_id.into()));
            if r.reason_code != ReasonCode::Success {
                field("reason", &r.reason_code.describe());
            }
        }
        Packet::Subscribe(s) => {
            trace.packet_id = s.packet_id;
            field("id", &dec(s.packet_id.into()));
            for f in &s.filters {
                field(
                    "filter",
                    &cat(&[&quoted(&f.filter), "@", qos_digit(f.options.qos)]),
                );
            }
        }
        Packet::SubAck(a) => {
            trace.packet_id = a.packet_id;
            field("id", &dec(a.packet_id.into()));
            for code in &a.reason_codes {
                match code.granted_qos() {
                    Some(qos) => field("granted", qos_digit(qos)),
                    None => field("refused", &code.describe()),
                }
            }
        }
        Packet::Unsubscribe(u) => {
            trace.packet_id = u.packet_id;
            field("id", &dec(u.packet_id.into()));
            for f in &u.filters {
                field("filter", &quoted(f));
            }
        }
        Packet::UnsubAck(a) => {
            trace.packet_id = a.packet_id;
            field("id", &dec(a.packet_id.into()));
            for code in a.reason_codes.iter().filter(|c| **c != ReasonCode::Success) {
                field("reason", &code.describe());
            }
        }
        Packet::PingReq | Packet::PingResp => {}
        Packet::Disconnect(d) => field("reason", &d.reason_code.describe()),
        Packet::Auth(a) => {
            field("reason", &a.reason_code.describe());
            if let Some(method) = &a.properties.authentication_method {
                field("auth_method", &quoted(method));
            }
            if a.properties.authentication_data.is_some() {
                field("auth_data", "<hidden>");
            }
        }
    }
    field("size", &cat(&[&dec(size as u64), "B"]));
    (line, trace)
}

fn publish_fields(field: &mut impl FnMut(&str, &str), p: &Publish, payloads: bool) {
    if p.qos != QoS::AtMostOnce {
        field("id", &dec(p.packet_id.into()));
    }
    field("qos", qos_digit(p.qos));
    if p.retain {
        field("retain", "1");
    }
    if p.dup {
        field("dup", "1");
    }
    if !p.topic.is_empty() {
        field("topic", &quoted(&p.topic));
    }
    if let Some(alias) = p.properties.topic_alias {
        field("topic_alias", &dec(alias.into()));
    }
    let length = cat(&[&dec(p.payload.len() as u64), "B"]);
    if payloads {
        field("payload", &cat(&[&length, " ", &payload_text(&p.payload)]));
    } else {
        field("payload", &length);
    }
}

/// The payload as a quoted string when it is UTF-8, else as hex; at most
/// [`PAYLOAD_SHOWN`] bytes, then `...`.
fn payload_text(payload: &[u8]) -> String {
    let shown = &payload[..payload.len().min(PAYLOAD_SHOWN)];
    let more = if shown.len() < payload.len() {
        "..."
    } else {
        ""
    };
    // A cut inside a character is not UTF-8: back off to its start.
    let text = match std::str::from_utf8(shown) {
        Ok(text) => Some(text),
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&shown[..e.valid_up_to()]).ok(),
        Err(_) => None,
    };
    match text {
        Some(text) => cat(&[&quoted(text), more]),
        None => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let mut out = String::from("0x");
            for byte in shown {
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 15)]));
            }
            out.push_str(more);
            out
        }
    }
}

/// `s` in double quotes, with `"`, `\` and control characters escaped, so
/// that a topic or payload cannot fake a second log line.
pub(crate) fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn flag(on: bool) -> &'static str {
    if on {
        "1"
    } else {
        "0"
    }
}

fn qos_digit(qos: QoS) -> &'static str {
    match qos {
        QoS::AtMostOnce => "0",
        QoS::AtLeastOnce => "1",
        QoS::ExactlyOnce => "2",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn quoting_escapes_what_could_break_a_line() {
        assert_eq!(quoted("a/b"), "\"a/b\"");
        assert_eq!(quoted("x\"\n\\\u{7}"), "\"x\\\"\\n\\\\?\"");
    }

    #[test]
    fn payload_text_is_utf8_or_hex_and_bounded() {
        assert_eq!(payload_text(b"21.5"), "\"21.5\"");
        assert_eq!(payload_text(&[0xff, 0x00]), "0xff00");
        let long = vec![b'a'; PAYLOAD_SHOWN + 10];
        let text = payload_text(&long);
        assert!(text.ends_with("\"..."), "{text}");
        assert_eq!(text.len(), PAYLOAD_SHOWN + 2 + 3);
        // A multi-byte character cut at the limit is left out, not hexed.
        let mut cut = vec![b'a'; PAYLOAD_SHOWN - 1];
        cut.extend_from_slice("é".as_bytes());
        assert!(payload_text(&cut).starts_with("\"aaa"));
    }

    #[test]
    fn a_full_queue_counts_and_reports_once() {
        let mut tracer = Tracer::default();
        tracer.set_level(Some(Severity::Debug));
        for _ in 0..TRACE_CAPACITY + 3 {
            tracer.push(Severity::Debug, String::from("x"), None);
        }
        let drained: Vec<TraceRecord> = std::iter::from_fn(|| tracer.pop()).collect();
        assert_eq!(drained.len(), TRACE_CAPACITY + 1);
        let last = drained.last().unwrap();
        assert_eq!(last.severity, Severity::Warning);
        assert!(last.message.starts_with("3 trace records were dropped"));
        assert_eq!(tracer.pop(), None);
    }

    #[test]
    fn a_publish_line_names_every_field_but_the_payload() {
        let mut publish = Publish::new("a/b", Bytes::from_static(b"secret"), QoS::AtLeastOnce);
        publish.packet_id = 7;
        publish.retain = true;
        let packet = Packet::Publish(publish);
        let (line, trace) = packet_line(Direction::Sent, &packet, ProtocolVersion::V5, 15, false);
        assert_eq!(
            line,
            "sent PUBLISH id=7 qos=1 retain=1 topic=\"a/b\" payload=6B size=15B"
        );
        assert_eq!(trace.packet_id, 7);
        assert_eq!(trace.topic.as_deref(), Some("a/b"));
        let (line, _) = packet_line(Direction::Received, &packet, ProtocolVersion::V5, 15, true);
        assert!(line.contains("payload=6B \"secret\""), "{line}");
    }
}
