//! A scripted MQTT 5.0 broker for one connection: what a real broker cannot
//! be made to do on cue (enhanced authentication, a refusal with a given
//! reason) from a script every suite can write the same way. Packets are
//! decoded and encoded with midge-core's codec.
//!
//! A script is one step per line (`#` starts a comment):
//!
//! ```text
//! expect CONNECT authentication_method=X-TEST authentication_data=client-first
//! send AUTH reason=0x18 authentication_method=X-TEST authentication_data=challenge
//! expect AUTH reason=0x18 authentication_data=proof
//! send CONNACK reason=0 authentication_method=X-TEST
//! expect DISCONNECT
//! ```
//!
//! `expect NAME field=value...` reads the client's next packet and checks its
//! name and the fields given (others are not checked). `send NAME
//! field=value...` writes a CONNACK, AUTH, DISCONNECT, PUBACK, PUBREC,
//! PUBREL or PUBCOMP. Fields: `reason` (a reason code, decimal or 0x hex),
//! `session_present` (0 or 1), `id` (a packet id), `client_id`, CONNECT's
//! `maximum_packet_size` (`none` when absent; CONNACK's when sent, with its
//! `maximum_qos` and `retain_available` (0 or 1)), DISCONNECT's
//! `reason_string` (`none` when absent), CONNACK's and DISCONNECT's
//! `server_reference` (one reference, without spaces),
//! `authentication_method`, `authentication_data`, `reason_string`, and of a
//! PUBLISH `topic`, `qos`, `id`, `payload` (text without spaces).

use std::io::{Read, Write};
use std::net::TcpStream;

use bytes::Bytes;
use midge_core::packet::{
    encode_packet, Auth, ConnAck, Decoder, Disconnect, Packet, ProtocolVersion, PubResponse, QoS,
    ReasonCode,
};

/// Why a script could not be parsed or did not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("line {line}: {reason}")]
    Parse { line: usize, reason: String },
    #[error("line {line}: expected {expected}, got {got}")]
    Mismatch {
        line: usize,
        expected: String,
        got: String,
    },
    #[error("line {line}: {reason}")]
    Io { line: usize, reason: String },
}

/// One step of a script.
#[derive(Debug, Clone)]
pub struct Step {
    line: usize,
    send: bool,
    name: String,
    fields: Vec<(String, String)>,
}

/// Parse a script (see the module docs).
pub fn parse(script: &str) -> Result<Vec<Step>, ScriptError> {
    let mut steps = Vec::new();
    for (i, text) in script.lines().enumerate() {
        let line = i + 1;
        let text = text.split('#').next().unwrap_or("").trim();
        if text.is_empty() {
            continue;
        }
        let mut words = text.split_whitespace();
        let send = match words.next() {
            Some("send") => true,
            Some("expect") => false,
            other => {
                return Err(ScriptError::Parse {
                    line,
                    reason: format!("{other:?}: a step is `send` or `expect`"),
                })
            }
        };
        let name = words
            .next()
            .ok_or_else(|| ScriptError::Parse {
                line,
                reason: "no packet name".into(),
            })?
            .to_ascii_uppercase();
        let mut fields = Vec::new();
        for word in words {
            let (k, v) = word.split_once('=').ok_or_else(|| ScriptError::Parse {
                line,
                reason: format!("{word:?} is not field=value"),
            })?;
            fields.push((k.to_string(), v.to_string()));
        }
        let step = Step {
            line,
            send,
            name,
            fields,
        };
        if send {
            // Build it once now, so that a bad step fails before any I/O.
            step.packet()?;
        }
        steps.push(step);
    }
    Ok(steps)
}

impl Step {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn reason(&self) -> Result<ReasonCode, ScriptError> {
        let text = self.field("reason").unwrap_or("0");
        let code = match text.strip_prefix("0x") {
            Some(hex) => u8::from_str_radix(hex, 16).ok(),
            None => text.parse().ok(),
        };
        code.and_then(ReasonCode::from_u8)
            .ok_or_else(|| ScriptError::Parse {
                line: self.line,
                reason: format!("reason={text} is not a reason code"),
            })
    }

    /// The packet a `send` step writes.
    fn packet(&self) -> Result<Packet, ScriptError> {
        let method = self.field("authentication_method").map(str::to_string);
        let data = self
            .field("authentication_data")
            .map(|d| Bytes::copy_from_slice(d.as_bytes()));
        let reason_string = self.field("reason_string").map(str::to_string);
        let server_reference = self.field("server_reference").map(str::to_string);
        let reason_code = self.reason()?;
        Ok(match self.name.as_str() {
            "CONNACK" => {
                let mut ack = ConnAck {
                    session_present: self.field("session_present") == Some("1"),
                    reason_code,
                    ..ConnAck::default()
                };
                ack.properties.authentication_method = method;
                ack.properties.authentication_data = data;
                ack.properties.reason_string = reason_string;
                ack.properties.server_reference = server_reference;
                ack.properties.maximum_packet_size = match self.field("maximum_packet_size") {
                    Some(m) => Some(m.parse().map_err(|_| ScriptError::Parse {
                        line: self.line,
                        reason: format!("maximum_packet_size={m} is not a number"),
                    })?),
                    None => None,
                };
                ack.properties.maximum_qos = match self.field("maximum_qos") {
                    Some(q) => Some(
                        q.parse()
                            .ok()
                            .and_then(QoS::from_u8)
                            .ok_or_else(|| ScriptError::Parse {
                                line: self.line,
                                reason: format!("maximum_qos={q} is not 0, 1 or 2"),
                            })?,
                    ),
                    None => None,
                };
                ack.properties.retain_available =
                    self.field("retain_available").map(|r| r == "1");
                Packet::ConnAck(Box::new(ack))
            }
            "AUTH" => {
                let mut auth = Auth {
                    reason_code,
                    ..Auth::default()
                };
                auth.properties.authentication_method = method;
                auth.properties.authentication_data = data;
                auth.properties.reason_string = reason_string;
                Packet::Auth(auth)
            }
            "DISCONNECT" => {
                let mut disconnect = Disconnect {
                    reason_code,
                    ..Disconnect::default()
                };
                disconnect.properties.reason_string = reason_string;
                disconnect.properties.server_reference = server_reference;
                Packet::Disconnect(disconnect)
            }
            "PUBACK" | "PUBREC" | "PUBREL" | "PUBCOMP" => {
                let id = self
                    .field("id")
                    .and_then(|id| id.parse::<u16>().ok())
                    .filter(|id| *id != 0)
                    .ok_or_else(|| ScriptError::Parse {
                        line: self.line,
                        reason: format!("{} needs id=1..65535", self.name),
                    })?;
                let mut ack = PubResponse::new(id);
                ack.reason_code = reason_code;
                match self.name.as_str() {
                    "PUBACK" => Packet::PubAck(ack),
                    "PUBREC" => Packet::PubRec(ack),
                    "PUBREL" => Packet::PubRel(ack),
                    _ => Packet::PubComp(ack),
                }
            }
            other => {
                return Err(ScriptError::Parse {
                    line: self.line,
                    reason: format!(
                        "cannot send {other} (CONNACK, AUTH, DISCONNECT, PUBACK, PUBREC, PUBREL, PUBCOMP)"
                    ),
                })
            }
        })
    }
}

/// The fields of a packet the client sent, as a script names them.
pub fn describe(packet: &Packet) -> Vec<(String, String)> {
    let text = |b: &Bytes| String::from_utf8_lossy(b).into_owned();
    let mut out = Vec::new();
    let mut push = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            out.push((k.to_string(), v));
        }
    };
    match packet {
        Packet::Connect(c) => {
            push("client_id", Some(c.client_id.clone()));
            push("clean_start", Some(u8::from(c.clean_start).to_string()));
            push("username", c.username.clone());
            // `none` when absent, so that a script can expect its absence.
            push(
                "maximum_packet_size",
                Some(
                    c.properties
                        .maximum_packet_size
                        .map_or_else(|| "none".to_string(), |m| m.to_string()),
                ),
            );
            push(
                "authentication_method",
                c.properties.authentication_method.clone(),
            );
            push(
                "authentication_data",
                c.properties.authentication_data.as_ref().map(text),
            );
        }
        Packet::Auth(a) => {
            push("reason", Some(format!("0x{:02x}", a.reason_code.code())));
            push(
                "authentication_method",
                a.properties.authentication_method.clone(),
            );
            push(
                "authentication_data",
                a.properties.authentication_data.as_ref().map(text),
            );
        }
        Packet::Disconnect(d) => {
            push("reason", Some(format!("0x{:02x}", d.reason_code.code())));
            push(
                "reason_string",
                Some(
                    d.properties
                        .reason_string
                        .clone()
                        .unwrap_or_else(|| "none".into()),
                ),
            );
        }
        Packet::Publish(p) => {
            push("topic", Some(p.topic.to_string()));
            push("qos", Some((p.qos as u8).to_string()));
            push("id", (p.qos as u8 > 0).then(|| p.packet_id.to_string()));
            push("payload", Some(text(&p.payload)));
        }
        Packet::PubAck(a) | Packet::PubRec(a) | Packet::PubRel(a) | Packet::PubComp(a) => {
            push("id", Some(a.packet_id.to_string()));
            push("reason", Some(format!("0x{:02x}", a.reason_code.code())));
        }
        _ => {}
    }
    out
}

/// Whether `got` has the value `want` for a field (reason codes compare as numbers).
fn same(field: &str, want: &str, got: &str) -> bool {
    if field == "reason" {
        let number = |t: &str| match t.strip_prefix("0x") {
            Some(hex) => u8::from_str_radix(hex, 16).ok(),
            None => t.parse().ok(),
        };
        return number(want).is_some() && number(want) == number(got);
    }
    want == got
}

/// Run `steps` on `stream`; `seen` gets each packet the client sent, named
/// and described, as it is read. Ok once every step ran.
pub fn run(
    steps: &[Step],
    stream: &mut TcpStream,
    mut seen: impl FnMut(&str, &[(String, String)]),
) -> Result<(), ScriptError> {
    let mut decoder = Decoder::new(ProtocolVersion::V5, u32::MAX);
    let mut buf = [0u8; 4096];
    for step in steps {
        let io = |e: std::io::Error| ScriptError::Io {
            line: step.line,
            reason: e.to_string(),
        };
        if step.send {
            let mut out = Vec::new();
            encode_packet(&step.packet()?, ProtocolVersion::V5, &mut out).map_err(|e| {
                ScriptError::Parse {
                    line: step.line,
                    reason: e.to_string(),
                }
            })?;
            stream.write_all(&out).map_err(io)?;
            continue;
        }
        let packet = loop {
            match decoder.next_packet() {
                // Keep-alive goes on whatever the script says.
                Ok(Some(Packet::PingReq)) => stream.write_all(&[0xd0, 0]).map_err(io)?,
                Ok(Some(packet)) => break packet,
                Ok(None) => {}
                Err(e) => {
                    return Err(ScriptError::Io {
                        line: step.line,
                        reason: format!("the client's bytes do not decode: {e}"),
                    })
                }
            }
            let n = stream.read(&mut buf).map_err(io)?;
            if n == 0 {
                return Err(ScriptError::Mismatch {
                    line: step.line,
                    expected: step.name.clone(),
                    got: "the end of the connection".into(),
                });
            }
            decoder.feed(&buf[..n]);
        };
        let fields = describe(&packet);
        seen(packet.name(), &fields);
        let mismatch = || ScriptError::Mismatch {
            line: step.line,
            expected: format!("{} {:?}", step.name, step.fields),
            got: format!("{} {fields:?}", packet.name()),
        };
        if packet.name() != step.name {
            return Err(mismatch());
        }
        for (k, want) in &step.fields {
            match fields.iter().find(|(f, _)| f == k) {
                Some((_, got)) if same(k, want, got) => {}
                _ => return Err(mismatch()),
            }
        }
    }
    Ok(())
}
