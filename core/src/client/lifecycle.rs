//! Connection lifecycle: `connect`, `disconnect` and `pause`, what stopping
//! does to pending work (core/SEMANTICS.md), and the reconnect policy.

use super::*;

impl Client {
    /// Start connecting (and keep the connection up per the reconnect policy).
    ///
    /// Errors when already connecting or connected.
    pub fn connect(&mut self, now: u64) -> Result<(), ClientError> {
        match self.state {
            State::Idle | State::Waiting { .. } => {
                self.connect_called = true;
                self.closed = false;
                self.paused = false;
                self.start_open(now);
                Ok(())
            }
            // disconnect()/pause() is still closing the link (a driver
            // lingers until the broker closes): open again once it has.
            // Refusing here lost a resume() that came right after pause().
            State::Closing { reconnect_at: None } => {
                self.connect_called = true;
                self.closed = false;
                self.paused = false;
                self.state = State::Closing {
                    reconnect_at: Some(now),
                };
                Ok(())
            }
            _ => Err(ClientError::InvalidState {
                operation: "connect",
                state: "already connecting or connected",
            }),
        }
    }

    /// Use `credentials` from the next CONNECT on: drivers with a
    /// credentials provider call it when a [`TransportCommand::Open`] comes
    /// (before every connection attempt, reconnects included) and set what
    /// it gave here before [`handle_transport_open`](Self::handle_transport_open).
    /// Checked as the options are (the error names the field); on an error
    /// nothing changes.
    ///
    /// ```
    /// use midge_core::{Client, ClientOptions};
    /// use midge_core::options::Credentials;
    /// let mut client = Client::new(ClientOptions::new("mqtt://127.0.0.1:1883")?)?;
    /// client.set_credentials(Credentials {
    ///     username: Some("meter-7".into()),
    ///     password: Some(b"token-that-expires".to_vec().into()),
    ///     ..Credentials::default()
    /// })?;
    /// assert_eq!(client.options().username.as_deref(), Some("meter-7"));
    /// let too_long = Credentials { username: Some("x".repeat(70_000)), ..Credentials::default() };
    /// assert!(client.set_credentials(too_long).unwrap_err().to_string().contains("username"));
    /// # Ok::<(), midge_core::ClientError>(())
    /// ```
    pub fn set_credentials(
        &mut self,
        credentials: crate::options::Credentials,
    ) -> Result<(), ClientError> {
        if let Some(username) = &credentials.username {
            check_string("username", username)?;
        }
        if credentials
            .password
            .as_ref()
            .is_some_and(|p| p.len() > usize::from(u16::MAX))
        {
            return Err(ClientError::invalid(
                "password",
                "must be at most 65,535 bytes",
            ));
        }
        if let Some(data) = &credentials.authentication_data {
            if data.len() > usize::from(u16::MAX) {
                return Err(ClientError::invalid(
                    "connect_properties.authentication_data",
                    "must be at most 65,535 bytes",
                ));
            }
            if self
                .options
                .connect_properties
                .authentication_method
                .is_none()
            {
                return Err(ClientError::invalid(
                    "connect_properties.authentication_data",
                    "needs an authentication_method",
                ));
            }
        }
        let o = &mut self.options;
        if credentials.username.is_some() {
            o.username = credentials.username;
        }
        if credentials.password.is_some() {
            o.password = credentials.password;
        }
        if credentials.authentication_data.is_some() {
            o.connect_properties.authentication_data = credentials.authentication_data;
        }
        Ok(())
    }

    /// Close the connection gracefully with DISCONNECT (5.0: with `reason_code`
    /// and `properties`) and stop reconnecting. The session stays; `connect`
    /// resumes it.
    pub fn disconnect(
        &mut self,
        now: u64,
        reason_code: ReasonCode,
        properties: DisconnectProperties,
    ) -> Result<(), ClientError> {
        if !(reason_code == ReasonCode::Success
            || reason_code == ReasonCode::DisconnectWithWillMessage
            || reason_code.is_error())
        {
            return Err(ClientError::invalid(
                "reason_code",
                crate::text::cat(&[
                    "0x",
                    &crate::text::hex(reason_code.code()),
                    " is not a DISCONNECT reason code",
                ]),
            ));
        }
        if properties.server_reference.is_some() {
            return Err(ClientError::invalid(
                "properties.server_reference",
                "only the server may send a server reference",
            ));
        }
        let connect_expiry = self
            .options
            .connect_properties
            .session_expiry_interval
            .unwrap_or(0);
        if connect_expiry == 0 && properties.session_expiry_interval.is_some_and(|e| e != 0) {
            return Err(ClientError::invalid(
                "properties.session_expiry_interval",
                "cannot be set above 0 when CONNECT had a session expiry of 0",
            ));
        }
        check_user_properties(&properties.user_properties)?;
        self.paused = false;
        self.stop(now, reason_code, properties);
        Ok(())
    }

    /// Close the connection like [`disconnect`](Self::disconnect) (DISCONNECT
    /// with reason Success) but keep every pending operation pending: nothing
    /// is interrupted, new commands are accepted and wait in the session, and
    /// [`connect`](Self::connect) resumes. For an app going to the background.
    pub fn pause(&mut self, now: u64) {
        self.paused = true;
        self.stop(now, ReasonCode::Success, DisconnectProperties::default());
    }

    pub(super) fn stop(
        &mut self,
        now: u64,
        reason_code: ReasonCode,
        properties: DisconnectProperties,
    ) {
        let had_link = match self.state {
            State::Connected => {
                let mut disconnect = Packet::Disconnect(Disconnect {
                    reason_code,
                    properties,
                });
                // [MQTT-3.14.2-3]: above the server's Maximum Packet Size,
                // leave out the reason string and user properties.
                if self.above_server_maximum(&disconnect).is_some() {
                    if let Packet::Disconnect(d) = &mut disconnect {
                        d.properties.reason_string = None;
                        d.properties.user_properties.clear();
                    }
                }
                self.send(now, &disconnect);
                self.transport.push_back(TransportCommand::Close);
                self.state = State::Closing { reconnect_at: None };
                true
            }
            State::Opening { .. } | State::Connecting { .. } => {
                self.transport.push_back(TransportCommand::Close);
                self.state = State::Closing { reconnect_at: None };
                true
            }
            State::Waiting { .. } => {
                self.state = State::Idle;
                true
            }
            State::Closing { .. } => {
                self.state = State::Closing { reconnect_at: None };
                false
            }
            State::Idle => false,
        };
        // The outcomes first, then the event that says the client stopped:
        // a driver that tears down on that event has relayed them all.
        if !self.paused && !self.closed {
            self.closed = true;
            self.interrupt_pending(None);
        }
        if had_link {
            self.push_disconnected(now, ConnectionError::Local, None);
        }
    }

    /// Refuse commands once the client is closed.
    pub(super) fn ensure_open(&self, operation: &'static str) -> Result<(), ClientError> {
        if self.closed {
            return Err(ClientError::Closed { operation });
        }
        Ok(())
    }

    /// The client stopped (until `connect`): every operation that waits for
    /// the broker ends now, with the outcome SEMANTICS.md gives. QoS 1/2
    /// publishes stay in the session (sent again on `connect`);
    /// SUBSCRIBE/UNSUBSCRIBE requests are dropped. `reason_code`: the
    /// server's, when it ended the connection (carried into each outcome).
    pub(super) fn interrupt_pending(&mut self, reason_code: Option<ReasonCode>) {
        for (token, _) in self.inflight_by_token() {
            self.events.push_back(Event::PublishComplete {
                token,
                result: Err(PublishError::Interrupted { reason_code }),
            });
        }
        for entry in &self.queue {
            if entry.publish.qos != QoS::AtMostOnce {
                self.events.push_back(Event::PublishComplete {
                    token: entry.token,
                    result: Err(PublishError::Interrupted { reason_code }),
                });
            }
        }
        for (_, request) in std::mem::take(&mut self.requests) {
            if request.kind != RequestKind::Restore {
                self.events.push_back(Event::RequestInterrupted {
                    token: request.token,
                    reason_code,
                });
            }
        }
    }

    /// True while the broker owes an answer the application may be waiting
    /// for (CONNACK, PUBACK/PUBREC/PUBCOMP, SUBACK/UNSUBACK, PINGRESP).
    ///
    /// The backpressure rule every driver follows: when a message consumer
    /// is behind, stop reading the transport, except while this is true,
    /// since the answer may be queued behind the unread messages and the
    /// consumer may be the one waiting for it (a handler that publishes).
    /// Drivers hold the messages read meanwhile, in order.
    pub fn awaiting_server(&self) -> bool {
        match self.state {
            State::Connecting { .. } => true,
            State::Connected => {
                self.inflight.len() != 0
                    || !self.requests.is_empty()
                    || self.link.ping_sent.is_some()
            }
            _ => false,
        }
    }

    /// True while the broker owes an answer other than a publish's
    /// acknowledgement: CONNACK, SUBACK/UNSUBACK or PINGRESP.
    ///
    /// A driver that lets the thread waiting for a publish's outcome read
    /// the connection (that thread completes it when the acknowledgement
    /// comes) still reads itself while this is true: nobody else waits for
    /// these answers, and a missed PINGRESP would end the connection.
    ///
    /// ```
    /// use midge_core::{Client, ClientOptions};
    /// let mut client = Client::new(ClientOptions::new("mqtt://broker.local").unwrap()).unwrap();
    /// assert!(!client.awaiting_non_publish_answer());
    /// client.connect(0).unwrap();
    /// client.handle_transport_open(0);
    /// assert!(client.awaiting_non_publish_answer(), "the CONNACK is owed");
    /// ```
    pub fn awaiting_non_publish_answer(&self) -> bool {
        match self.state {
            State::Connecting { .. } => true,
            State::Connected => !self.requests.is_empty() || self.link.ping_sent.is_some(),
            _ => false,
        }
    }

    /// The network changed (Wi-Fi to cellular, back online): when waiting to
    /// reconnect, try now instead of after the backoff delay; when connected,
    /// probe the link with a PINGREQ.
    pub fn network_changed(&mut self, now: u64) {
        match self.state {
            State::Waiting { .. } => self.start_open(now),
            State::Connected if self.link.ping_sent.is_none() => {
                self.send(now, &Packet::PingReq);
                self.link.ping_sent = Some(now);
            }
            _ => {}
        }
    }

    pub(super) fn start_open(&mut self, now: u64) {
        self.retry_store();
        self.state = State::Opening { since: now };
        let server = self.current_server();
        self.trace_connecting(&server);
        self.transport.push_back(TransportCommand::Open(server));
    }

    pub(super) fn current_server(&self) -> crate::server::ServerAddress {
        match &self.redirect {
            Some(target) => target.clone(),
            None => self.options.servers[self.server_index % self.options.servers.len()].clone(),
        }
    }

    /// The server broke the protocol: tell it why (5.0) and close.
    pub(super) fn violation(&mut self, now: u64, violation: ProtocolViolation) {
        let code = violation.reason_code();
        self.fail(now, ConnectionError::Protocol(violation), Some(code));
    }

    /// End the connection with `error`, sending DISCONNECT with `disconnect`
    /// first when the protocol allows it.
    pub(super) fn fail(
        &mut self,
        now: u64,
        error: ConnectionError,
        disconnect: Option<ReasonCode>,
    ) {
        if let Some(reason_code) = disconnect {
            if self.options.protocol == ProtocolVersion::V5
                && matches!(self.state, State::Connected | State::Connecting { .. })
            {
                self.send(
                    now,
                    &Packet::Disconnect(Disconnect {
                        reason_code,
                        properties: DisconnectProperties::default(),
                    }),
                );
            }
        }
        let reconnect_at = match self.redirection(&error) {
            Some(redirect) => {
                let followed = redirect.followed;
                self.trace_redirect(&redirect);
                self.events.push_back(Event::Redirected(redirect));
                if followed {
                    Some(now)
                } else {
                    self.schedule_reconnect(now, &error)
                }
            }
            None => self.schedule_reconnect(now, &error),
        };
        self.transport.push_back(TransportCommand::Close);
        self.state = State::Closing { reconnect_at };
        if reconnect_at.is_none() && !self.paused && !self.closed {
            self.interrupt_pending(error.server_reason_code());
        }
        self.push_disconnected(now, error, reconnect_at);
    }

    /// The redirection `error` carries (5.0 0x9C or 0x9D with a Server
    /// Reference), followed when the options and the state allow: the next
    /// attempt goes to its target.
    fn redirection(&mut self, error: &ConnectionError) -> Option<Redirect> {
        let (reason_code, reference) = match error {
            ConnectionError::Refused {
                reason_code,
                properties,
            } => (*reason_code, properties.server_reference.as_ref()?),
            ConnectionError::ServerDisconnect {
                reason_code,
                properties,
            } => (*reason_code, properties.server_reference.as_ref()?),
            _ => return None,
        };
        if !matches!(
            reason_code,
            ReasonCode::UseAnotherServer | ReasonCode::ServerMoved
        ) {
            return None;
        }
        let target = self.current_server().resolve_reference(reference);
        let followed = target.is_some()
            && self.options.follow_redirects
            && !self.closed
            && !self.paused
            && self.redirects_followed < MAX_REDIRECTS;
        if let (true, Some(to)) = (followed, &target) {
            self.redirects_followed += 1;
            if reason_code == ReasonCode::ServerMoved && self.redirect.is_none() {
                // Permanent: the target takes the configured server's place.
                let index = self.server_index % self.options.servers.len();
                self.options.servers[index] = to.clone();
            } else {
                self.redirect = Some(to.clone());
            }
        }
        Some(Redirect {
            reason_code,
            server_reference: reference.clone(),
            target,
            followed,
        })
    }

    /// When to try again after `error`, per the policy; moves to the next server.
    pub(super) fn schedule_reconnect(&mut self, now: u64, error: &ConnectionError) -> Option<u64> {
        // A temporary redirect lasts one connection.
        self.redirect = None;
        // The application stopped it (disconnect or pause).
        if self.closed
            || self.paused
            || error.is_permanent()
            || (!self.ever_connected && !self.options.reconnect_on_initial_failure)
        {
            return None;
        }
        if let ConnectionError::ServerDisconnect {
            reason_code: ReasonCode::SessionTakenOver,
            ..
        } = error
        {
            // Another client took the session over; fighting back would loop.
            return None;
        }
        let backoff = self.backoff.as_mut()?;
        if let Some(connected_at) = self.link.connected_at.take() {
            backoff.connection_stable(now.saturating_sub(connected_at));
        }
        let delay = backoff.next_delay_ms();
        self.server_index = (self.server_index + 1) % self.options.servers.len();
        Some(now.saturating_add(delay))
    }
}
