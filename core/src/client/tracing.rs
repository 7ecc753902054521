//! The client's trace (see [`crate::trace`]): the lines it writes about its
//! connection, and the packet lines at `Debug`.

use super::*;
use crate::text::{cat, dec};
use crate::trace::{packet_line, quoted, Direction, Severity, TraceRecord};

impl Client {
    /// Turns the trace on at `level` and up (`None`: off, the default).
    /// Drivers drain it with [`poll_trace`](Self::poll_trace) whenever they
    /// drain events.
    ///
    /// ```
    /// use midge_core::{Client, ClientOptions, ConnectionError};
    /// use midge_core::trace::Severity;
    ///
    /// let mut client = Client::new(ClientOptions::new("mqtt://127.0.0.1:1883")?)?;
    /// client.set_trace_level(Some(Severity::Info));
    /// client.connect(0)?;
    /// client.handle_transport_closed(3);
    /// let record = client.poll_trace().unwrap(); // connecting to ...
    /// assert_eq!(record.severity, Severity::Info);
    /// let record = client.poll_trace().unwrap();
    /// assert_eq!(record.severity, Severity::Warning);
    /// assert_eq!(record.message, "disconnected: the transport closed; not reconnecting");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_trace_level(&mut self, level: Option<Severity>) {
        self.tracer.set_level(level);
    }

    /// Whether the per-packet lines show payload bytes (text, or hex when
    /// not UTF-8; at most 256 bytes). Off by default: payloads can be
    /// personal data.
    pub fn set_trace_payloads(&mut self, on: bool) {
        self.tracer.payloads = on;
    }

    /// The next line of the trace, oldest first.
    pub fn poll_trace(&mut self) -> Option<TraceRecord> {
        self.tracer.pop()
    }

    /// Whether a record of `severity` would be kept: callers check it before
    /// they build the text.
    #[inline]
    pub(super) fn tracing(&self, severity: Severity) -> bool {
        self.tracer.enabled(severity)
    }

    pub(super) fn trace(&mut self, severity: Severity, message: String) {
        self.tracer.push(severity, message, None);
    }

    /// The packet line for `packet`, `size` bytes on the wire.
    pub(super) fn trace_packet(&mut self, direction: Direction, packet: &Packet, size: usize) {
        let (line, fields) = packet_line(
            direction,
            packet,
            self.options.protocol,
            size,
            self.tracer.payloads,
        );
        self.tracer.push(Severity::Debug, line, Some(fields));
    }

    /// A connection attempt begins.
    pub(super) fn trace_connecting(&mut self, server: &ServerAddress) {
        if !self.tracing(Severity::Info) {
            return;
        }
        let attempt = self.reconnect_attempt();
        let mut line = cat(&["connecting to ", &server.url()]);
        if attempt > 0 && !self.connect_called {
            line.push_str(&cat(&[" (reconnect attempt ", &dec(attempt.into()), ")"]));
        }
        self.trace(Severity::Info, line);
    }

    pub(super) fn trace_connected(&mut self, connected: &Connected) {
        if !self.tracing(Severity::Info) {
            return;
        }
        let line = cat(&[
            "connected to ",
            &connected.server.url(),
            " (client id ",
            &quoted(&connected.client_id),
            if connected.session_present {
                ", session present"
            } else {
                ", new session"
            },
            ", keep alive ",
            &dec(connected.keep_alive_secs.into()),
            " s)",
        ]);
        self.trace(Severity::Info, line);
    }

    /// Pushes [`Event::Disconnected`], after its line: the cause, and when
    /// and for which attempt the client reconnects.
    pub(super) fn push_disconnected(
        &mut self,
        now: u64,
        error: ConnectionError,
        reconnect_at: Option<u64>,
    ) {
        // Asked for by the application: not a warning.
        let severity = if self.closed || self.paused || matches!(error, ConnectionError::Local) {
            Severity::Info
        } else {
            Severity::Warning
        };
        if self.tracing(severity) {
            let next = match reconnect_at {
                Some(at) if at <= now => String::from("reconnecting now"),
                Some(at) => cat(&[
                    "reconnecting in ",
                    &dec(at - now),
                    " ms (attempt ",
                    &dec(self.reconnect_attempt().into()),
                    ")",
                ]),
                None => String::from("not reconnecting"),
            };
            let line = match error {
                ConnectionError::Local => String::from("disconnected by the application"),
                _ => cat(&["disconnected: ", &error.describe(), "; ", &next]),
            };
            self.trace(severity, line);
        }
        self.last_disconnect = Some(error.clone());
        self.events.push_back(Event::Disconnected {
            error,
            reconnect_at,
        });
    }

    pub(super) fn trace_redirect(&mut self, redirect: &Redirect) {
        if !self.tracing(Severity::Info) {
            return;
        }
        let line = cat(&[
            "the server redirects (",
            &redirect.reason_code.describe(),
            ") to ",
            &quoted(&redirect.server_reference),
            if redirect.followed {
                ": following"
            } else {
                ": not followed"
            },
        ]);
        self.trace(Severity::Info, line);
    }

    pub(super) fn trace_restored(&mut self, results: &[(String, SubscribeResult)]) {
        let refused = results.iter().any(|(_, r)| r.is_err());
        let severity = if refused {
            Severity::Warning
        } else {
            Severity::Info
        };
        if !self.tracing(severity) {
            return;
        }
        let mut line = String::from("the broker had lost the session; subscriptions restored:");
        for (filter, result) in results {
            line.push(' ');
            line.push_str(&quoted(filter));
            match result {
                Ok(qos) => line.push_str(&cat(&["@", &dec((*qos as u8).into())])),
                Err(code) => line.push_str(&cat(&[" refused ", &code.describe()])),
            }
        }
        self.trace(severity, line);
    }

    pub(super) fn trace_store_failed(&mut self, error: &crate::session::StoreError) {
        if self.tracing(Severity::Warning) {
            let line = cat(&[
                &ConnectionError::Store(error.clone()).describe(),
                "; the connection closes and the next attempt writes the whole session again",
            ]);
            self.trace(Severity::Warning, line);
        }
    }

    /// A PUBLISH with a wildcard in its topic name (ActiveMQ sends its
    /// advisories so): dropped with this warning, acknowledged so that the
    /// server does not hold it in flight, and the link kept.
    pub(super) fn drop_wildcard_publish(&mut self, now: u64, dropped: WildcardPublish) {
        self.invalid_publishes_dropped += 1;
        if self.tracing(Severity::Warning) {
            let line = cat(&[
                "dropped a PUBLISH whose topic name has a wildcard (",
                &quoted(&dropped.topic),
                ", qos ",
                &dec((dropped.qos as u8).into()),
                "): topic names must not contain + or #; the connection stays up",
            ]);
            self.trace(Severity::Warning, line);
        }
        let v5 = self.options.protocol == ProtocolVersion::V5;
        let mut ack = PubResponse::new(dropped.packet_id);
        if v5 {
            ack.reason_code = ReasonCode::TopicNameInvalid;
        }
        match dropped.qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => self.send(now, &Packet::PubAck(ack)),
            // 5.0: a PUBREC error ends the exchange. 3.1.1 has no error:
            // the PUBREL that follows is answered with PUBCOMP as for any
            // id we do not hold.
            QoS::ExactlyOnce => self.send(now, &Packet::PubRec(ack)),
        }
    }

    pub(super) fn trace_unknown_ack(&mut self, packet: &'static str, id: u16) {
        if self.tracing(Severity::Warning) {
            let line = cat(&[
                "ignored ",
                packet,
                " id=",
                &dec(id.into()),
                ": no publish waits for it (the connection stays up)",
            ]);
            self.trace(Severity::Warning, line);
        }
    }

    pub(super) fn trace_overrun(&mut self, id: u16) {
        if self.tracing(Severity::Warning) {
            let line = cat(&[
                "the server sent PUBLISH id=",
                &dec(id.into()),
                " beyond our Receive Maximum of ",
                &dec(self.options.effective_receive_maximum().into()),
                if self.options.strict_receive_maximum {
                    "; disconnecting (strict_receive_maximum)"
                } else {
                    "; accepted"
                },
            ]);
            self.trace(Severity::Warning, line);
        }
    }
}
