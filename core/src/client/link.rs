//! The link: transport inputs from the driver, packet dispatch, CONNECT and
//! CONNACK (server limits), keep-alive and connect timers, AUTH.

use super::*;

impl Client {
    /// The transport asked for by [`TransportCommand::Open`] is open: CONNECT
    /// goes out.
    pub fn handle_transport_open(&mut self, now: u64) {
        if !matches!(self.state, State::Opening { .. }) {
            // Opened after the user gave up on it.
            self.transport.push_back(TransportCommand::Close);
            return;
        }
        self.clear_tx();
        self.decoder.clear();
        let id = self.link.id + 1;
        self.link = Link {
            id,
            server_receive_maximum: u16::MAX,
            server_maximum_qos: QoS::ExactlyOnce,
            retain_available: true,
            next_outbound_alias: 1,
            ..Link::default()
        };
        let connect = self.build_connect();
        self.send(now, &Packet::Connect(Box::new(connect)));
        self.state = State::Connecting { since: now };
    }

    /// The transport closed, or failed to open, and the driver cannot say
    /// why (as a browser's WebSocket cannot). Same as
    /// [`handle_transport_failed`](Self::handle_transport_failed) with
    /// [`TransportFailure::closed`].
    pub fn handle_transport_closed(&mut self, now: u64) {
        self.handle_transport_failed(now, TransportFailure::closed());
    }

    /// The transport closed, or failed to open, for the reason given: it is
    /// the error of the [`Event::Disconnected`] that follows, so the driver
    /// keeps nothing on the side. A [`TransportFailureKind::Config`](crate::error::TransportFailureKind::Config) failure
    /// is permanent (no reconnect).
    pub fn handle_transport_failed(&mut self, now: u64, failure: TransportFailure) {
        match self.state {
            State::Idle | State::Waiting { .. } => {}
            State::Closing { reconnect_at } => {
                self.state = match reconnect_at {
                    Some(at) => State::Waiting { at },
                    None => State::Idle,
                };
            }
            State::Opening { .. } | State::Connecting { .. } | State::Connected => {
                let error = ConnectionError::Transport(failure);
                let reconnect_at = self.schedule_reconnect(now, &error);
                self.state = match reconnect_at {
                    Some(at) => State::Waiting { at },
                    None => State::Idle,
                };
                if reconnect_at.is_none() {
                    self.interrupt_pending(None);
                }
                self.push_disconnected(now, error, reconnect_at);
            }
        }
        self.clear_tx();
        self.decoder.clear();
        self.link.ping_sent = None;
        self.link.manual_qos1.clear();
    }

    /// Bytes read from the transport, split anywhere.
    pub fn handle_bytes(&mut self, now: u64, bytes: &[u8]) {
        if !matches!(self.state, State::Connecting { .. } | State::Connected) {
            return;
        }
        self.decoder.feed(bytes);
        loop {
            let buffered = self.decoder.buffered_len();
            match self.decoder.next_server_packet() {
                Ok(Some(packet)) => {
                    if self.tracer.enabled(Severity::Debug) {
                        let size = buffered - self.decoder.buffered_len();
                        self.trace_packet(Direction::Received, &packet, size);
                    }
                    self.handle_packet(now, packet);
                    if !matches!(self.state, State::Connecting { .. } | State::Connected) {
                        return;
                    }
                }
                Ok(None) => return,
                Err(ServerPacketError::Decode(e)) => {
                    self.violation(now, ProtocolViolation::Decode(e));
                    return;
                }
                Err(ServerPacketError::ClientPacket(packet)) => {
                    self.client_packet(now, packet);
                    return;
                }
                Err(ServerPacketError::WildcardTopic(dropped)) => {
                    self.drop_wildcard_publish(now, dropped);
                }
            }
        }
    }

    /// The deadline from [`poll_timeout`](Self::poll_timeout) passed: send a
    /// PINGREQ, give up on a silent server, or start the next reconnect attempt.
    pub fn handle_timeout(&mut self, now: u64) {
        match self.state {
            State::Waiting { at } if now >= at => self.start_open(now),
            State::Opening { since } | State::Connecting { since }
                if now >= since.saturating_add(self.options.connect_timeout_ms) =>
            {
                self.fail(
                    now,
                    ConnectionError::ConnectTimeout {
                        timeout_ms: self.options.connect_timeout_ms,
                    },
                    None,
                );
            }
            State::Connected => match self.link.ping_sent {
                Some(sent) if now >= sent.saturating_add(self.options.ping_timeout_ms) => {
                    self.fail(
                        now,
                        ConnectionError::KeepAliveTimeout {
                            timeout_ms: self.options.ping_timeout_ms,
                        },
                        Some(ReasonCode::KeepAliveTimeout),
                    );
                }
                None if self.link.keep_alive_ms > 0
                    && now >= self.link.last_sent.saturating_add(self.link.keep_alive_ms) =>
                {
                    self.send(now, &Packet::PingReq);
                    self.link.ping_sent = Some(now);
                }
                _ => {}
            },
            _ => {}
        }
    }

    pub(super) fn handle_packet(&mut self, now: u64, packet: Packet) {
        let connecting = matches!(self.state, State::Connecting { .. });
        let v5 = self.options.protocol == ProtocolVersion::V5;
        match packet {
            Packet::ConnAck(ack) if connecting => self.on_connack(now, *ack),
            Packet::Auth(auth) if v5 => self.events.push_back(Event::Auth {
                reason_code: auth.reason_code,
                properties: auth.properties,
            }),
            Packet::Disconnect(d) if v5 => {
                let error = ConnectionError::ServerDisconnect {
                    reason_code: d.reason_code,
                    properties: Box::new(d.properties),
                };
                self.fail(now, error, None);
            }
            packet if connecting => self.client_packet(now, packet.name()),
            Packet::Publish(p) => self.on_publish(now, p),
            Packet::PubAck(ack) => self.on_puback(now, ack),
            Packet::PubRec(rec) => self.on_pubrec(now, rec),
            Packet::PubRel(rel) => self.on_pubrel(now, rel),
            Packet::PubComp(comp) => self.on_pubcomp(now, comp),
            Packet::SubAck(ack) => self.on_suback(now, ack),
            Packet::UnsubAck(ack) => self.on_unsuback(now, ack),
            Packet::PingResp => self.link.ping_sent = None,
            Packet::ConnAck(_) => self.violation(
                now,
                ProtocolViolation::UnexpectedPacket {
                    packet: "CONNACK",
                    context: "after the connection was accepted",
                },
            ),
            other => self.client_packet(now, other.name()),
        }
    }

    /// A packet only clients send (or not in this protocol version), or any
    /// packet but CONNACK, AUTH and DISCONNECT before CONNACK.
    pub(super) fn client_packet(&mut self, now: u64, packet: &'static str) {
        let context = if matches!(self.state, State::Connecting { .. }) {
            "before CONNACK"
        } else {
            "(only clients send it, or not in this protocol version)"
        };
        self.violation(now, ProtocolViolation::UnexpectedPacket { packet, context });
    }

    pub(super) fn on_connack(&mut self, now: u64, ack: ConnAck) {
        if ack.reason_code.is_error() {
            let error = ConnectionError::Refused {
                reason_code: ack.reason_code,
                properties: Box::new(ack.properties),
            };
            self.fail(now, error, None);
            return;
        }
        let p = &ack.properties;
        self.link.server_receive_maximum = p.receive_maximum.unwrap_or(u16::MAX);
        self.link.server_maximum_qos = p.maximum_qos.unwrap_or(QoS::ExactlyOnce);
        self.link.retain_available = p.retain_available.unwrap_or(true);
        self.link.server_maximum_packet_size = p.maximum_packet_size;
        self.link.server_topic_alias_maximum = p.topic_alias_maximum.unwrap_or(0);
        let keep_alive = p.server_keep_alive.unwrap_or(self.options.keep_alive_secs);
        self.link.keep_alive_ms = u64::from(keep_alive) * 1000;
        self.link.connected_at = Some(now);
        self.redirects_followed = 0;
        self.last_disconnect = None;
        if let Some(id) = &p.assigned_client_identifier {
            if *id != self.client_id {
                self.client_id = id.clone();
                self.record(SessionChange::ClientId(id.clone()));
            }
        }
        self.state = State::Connected;
        // An automatic reconnect, not a connection the application asked
        // for (an explicit connect() after disconnect() is not one).
        let reconnected = self.ever_connected && !self.connect_called;
        self.connect_called = false;
        self.ever_connected = true;
        let server = self.current_server();
        let connected = Connected {
            server,
            session_present: ack.session_present,
            reason_code: ack.reason_code,
            client_id: self.client_id.clone(),
            keep_alive_secs: keep_alive,
            properties: ack.properties,
            reconnected,
        };
        self.trace_connected(&connected);
        self.events.push_back(Event::Connected(Box::new(connected)));

        if ack.session_present {
            self.resend_inflight(now);
        } else {
            self.session_lost();
        }
        self.resend_requests(now);
        if !ack.session_present && !self.subscriptions.is_empty() {
            self.restore_subscriptions(now);
        }
        self.pump(now);
    }

    pub(super) fn build_connect(&self) -> Connect {
        let o = &self.options;
        // 5.0 reconnects resume the session; the expiry interval decides its life.
        let clean_start = if self.ever_connected && o.protocol == ProtocolVersion::V5 {
            false
        } else {
            o.clean_start
        };
        let mut properties = o.connect_properties.clone();
        if o.protocol == ProtocolVersion::V5 {
            let receive_maximum = o.effective_receive_maximum();
            if receive_maximum != u16::MAX {
                properties.receive_maximum = Some(receive_maximum);
            }
            // Only a limit the user set: a 5.0 server silently drops every
            // message above it for this client.
            let max_incoming = o.effective_max_incoming();
            if max_incoming < crate::options::MAX_PACKET_SIZE {
                properties.maximum_packet_size = Some(max_incoming);
            }
            let alias_max = o.effective_topic_alias_maximum();
            if alias_max > 0 {
                properties.topic_alias_maximum = Some(alias_max);
            }
        }
        Connect {
            protocol: o.protocol,
            client_id: self.client_id.clone(),
            clean_start,
            keep_alive: o.keep_alive_secs,
            username: o.username.clone(),
            password: o.password.clone(),
            will: o.will.clone(),
            properties,
        }
    }

    /// The encoded size of `packet` when it is above the Maximum Packet Size
    /// the server of this connection set ([MQTT-3.2.2-15]: the client must
    /// not send it); `None` when it fits or the server set none.
    pub(super) fn above_server_maximum(&self, packet: &Packet) -> Option<(usize, u32)> {
        let maximum = self.link.server_maximum_packet_size?;
        let mut scratch = Vec::new();
        let size = match encode_client_packet(packet, self.options.protocol, &mut scratch) {
            Ok(()) => scratch.len(),
            Err(_) => usize::MAX,
        };
        (size > maximum as usize).then_some((size, maximum))
    }

    /// SUBSCRIBE/UNSUBSCRIBE never acknowledged (or made while offline),
    /// after a CONNACK. One this server's Maximum Packet Size does not allow
    /// is answered here, each filter with 0x95 (Packet too large), as its
    /// SUBACK/UNSUBACK would have been: the client must not send it.
    fn resend_requests(&mut self, now: u64) {
        let mut too_large = Vec::new();
        for (id, request) in &self.requests {
            if self.above_server_maximum(&request.packet).is_some() {
                too_large.push(*id);
                continue;
            }
            // As `send`, encoded in place: cloning the packets first
            // instantiated `Packet::clone` here (2 KB of wasm).
            let before = self.tx.len();
            if encode_client_packet(&request.packet, self.options.protocol, &mut self.tx).is_ok() {
                self.link.last_sent = now;
                if self.tracer.enabled(Severity::Debug) {
                    // Field by field: `self.requests` is borrowed.
                    let (line, fields) = crate::trace::packet_line(
                        Direction::Sent,
                        &request.packet,
                        self.options.protocol,
                        self.tx.len() - before,
                        self.tracer.payloads,
                    );
                    self.tracer.push(Severity::Debug, line, Some(fields));
                }
            }
        }
        for id in too_large {
            let Ok(i) = self.requests.binary_search_by_key(&id, |(id, _)| *id) else {
                continue;
            };
            let (_, request) = self.requests.remove(i);
            let too_large = ReasonCode::PacketTooLarge;
            match request.packet {
                Packet::Subscribe(s) if request.kind == RequestKind::Subscribe => {
                    self.events.push_back(Event::Subscribed {
                        token: request.token,
                        results: s.filters.iter().map(|_| Err(too_large)).collect(),
                        properties: AckProperties::default(),
                    });
                }
                Packet::Unsubscribe(u) => {
                    self.events.push_back(Event::Unsubscribed {
                        token: request.token,
                        results: u.filters.iter().map(|_| too_large).collect(),
                        properties: AckProperties::default(),
                    });
                }
                // A restore of the session's subscriptions: nobody waits.
                _ => {}
            }
        }
    }

    /// Refuse a SUBSCRIBE or UNSUBSCRIBE the server's Maximum Packet Size
    /// does not allow (known once connected; a request made offline is sized
    /// against the next server when it goes out, see `resend_requests`).
    pub(super) fn check_server_maximum(&self, packet: &Packet) -> Result<(), ClientError> {
        match self.above_server_maximum(packet) {
            Some((size, maximum)) => Err(ClientError::PacketTooLarge { size, maximum }),
            None => Ok(()),
        }
    }

    pub(super) fn send(&mut self, now: u64, packet: &Packet) {
        // Packets built here come from validated input (the options in
        // `ClientOptions::validate`, the CONNECT encoded once in
        // `Client::with_session`, commands checked by their methods), so
        // encoding cannot fail; if it ever did, sending nothing is the safe
        // outcome, and a debug build stops here.
        let before = self.tx.len();
        let encoded = encode_client_packet(packet, self.options.protocol, &mut self.tx);
        debug_assert!(
            encoded.is_ok(),
            "{} did not encode: {encoded:?}",
            packet.name()
        );
        if encoded.is_ok() {
            self.link.last_sent = now;
            if self.tracer.enabled(Severity::Debug) {
                self.trace_packet(Direction::Sent, packet, self.tx.len() - before);
            }
        }
    }

    /// Answer a 5.0 AUTH challenge (reason Continue authentication).
    /// Without an `authentication_method`, the CONNECT's is used (the
    /// exchange must keep the method it started with).
    pub fn auth(&mut self, now: u64, properties: AuthProperties) -> Result<(), ClientError> {
        self.send_auth(now, ReasonCode::ContinueAuthentication, properties)
    }

    /// Start 5.0 re-authentication on the live connection.
    pub fn reauthenticate(
        &mut self,
        now: u64,
        properties: AuthProperties,
    ) -> Result<(), ClientError> {
        if self.state != State::Connected {
            return Err(ClientError::InvalidState {
                operation: "re-authenticate",
                state: "not connected",
            });
        }
        self.send_auth(now, ReasonCode::ReAuthenticate, properties)
    }

    pub(super) fn send_auth(
        &mut self,
        now: u64,
        reason_code: ReasonCode,
        mut properties: AuthProperties,
    ) -> Result<(), ClientError> {
        self.ensure_open("send AUTH")?;
        if self.options.protocol != ProtocolVersion::V5 {
            return Err(ClientError::invalid("protocol", "AUTH needs MQTT 5.0"));
        }
        if properties.authentication_method.is_none() {
            properties.authentication_method = self
                .options
                .connect_properties
                .authentication_method
                .clone();
        }
        if properties.authentication_method.is_none() {
            return Err(ClientError::invalid(
                "properties.authentication_method",
                "AUTH must name the authentication method (none given, none in the CONNECT)",
            ));
        }
        if !matches!(self.state, State::Connecting { .. } | State::Connected) {
            return Err(ClientError::InvalidState {
                operation: "send AUTH",
                state: "not connected",
            });
        }
        self.send(
            now,
            &Packet::Auth(Auth {
                reason_code,
                properties,
            }),
        );
        Ok(())
    }
}
