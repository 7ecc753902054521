//! The outbound window: publishes, the queue behind the in-flight window,
//! and the PUBACK/PUBREC/PUBCOMP flows that complete them.

use super::*;

/// The reason string of a QoS 2 publish the server answered with PUBACK.
const QOS2_ANSWERED_WITH_PUBACK: &str = "the server answered this QoS 2 PUBLISH with PUBACK: \
     it does not support QoS 2 and may have delivered the message at QoS 1";

impl Client {
    /// Publish a message. The PUBLISH goes out at once when connected and the
    /// in-flight window has room; otherwise it waits in the offline queue.
    ///
    /// `publish.packet_id` and `publish.dup` are ignored (the session assigns
    /// them). QoS 1/2 publishes end with [`Event::PublishComplete`]; QoS 0 ones
    /// are done when accepted, and only a failure after acceptance is reported.
    pub fn publish(&mut self, now: u64, mut publish: Publish) -> Result<PublishToken, ClientError> {
        self.ensure_open("publish")?;
        self.validate_publish(&publish)?;
        publish.packet_id = 0;
        publish.dup = false;
        if self.state == State::Connected {
            self.check_publish_allowed(&publish).map_err(|e| match e {
                PublishError::PacketTooLarge { size, maximum } => {
                    ClientError::PacketTooLarge { size, maximum }
                }
                PublishError::NotAllowed {
                    reason_code: ReasonCode::RetainNotSupported,
                } => ClientError::RetainNotSupported,
                _ => ClientError::QoSNotSupported {
                    requested: publish.qos,
                    maximum: self.link.server_maximum_qos,
                },
            })?;
        }
        let token = PublishToken(self.next_token);
        let mut entry = OutboundPublish {
            token,
            stage: OutboundStage::Queued,
            publish,
        };
        let can_send_now = self.state == State::Connected
            && self.queue.is_empty()
            && (entry.publish.qos == QoS::AtMostOnce || self.inflight.len() < self.window());
        if can_send_now {
            if entry.publish.qos == QoS::AtMostOnce {
                self.next_token += 1;
                self.transmit_publish(now, &entry.publish);
                return Ok(token);
            }
            if let Some(id) = self.allocate_packet_id() {
                entry.publish.packet_id = id;
                entry.stage = stage_after_send(entry.publish.qos);
                self.record(SessionChange::OutboundStored(entry.clone()));
                self.next_token += 1;
                self.transmit_publish(now, &entry.publish);
                self.inflight.insert(id, entry);
                return Ok(token);
            }
        }
        if self.queue.len() >= self.options.max_queued_messages {
            return Err(ClientError::QueueFull {
                limit: self.options.max_queued_messages,
            });
        }
        self.record(SessionChange::OutboundStored(entry.clone()));
        self.next_token += 1;
        self.queue.push_back(entry);
        Ok(token)
    }

    pub(super) fn validate_publish(&self, publish: &Publish) -> Result<(), ClientError> {
        let v5 = self.options.protocol == ProtocolVersion::V5;
        let props = &publish.properties;
        if publish.topic.is_empty() {
            if !(v5 && props.topic_alias.is_some()) {
                return Err(ClientError::invalid(
                    "topic",
                    "must not be empty (an empty topic needs a 5.0 topic alias)",
                ));
            }
        } else {
            validate_topic_name(&publish.topic)
                .map_err(|e| ClientError::invalid("topic", e.message()))?;
        }
        if publish.payload.len() > 268_435_455 - 8 {
            return Err(ClientError::invalid(
                "payload",
                "must fit in one MQTT packet (at most 256 MiB)",
            ));
        }
        if !v5 {
            if !props.is_empty() {
                return Err(ClientError::invalid(
                    "properties",
                    "publish properties need MQTT 5.0",
                ));
            }
            return Ok(());
        }
        if props.topic_alias == Some(0) {
            return Err(ClientError::invalid(
                "properties.topic_alias",
                "must be at least 1",
            ));
        }
        if !props.subscription_identifiers.is_empty() {
            return Err(ClientError::invalid(
                "properties.subscription_identifiers",
                "only the server sets subscription identifiers",
            ));
        }
        if let Some(topic) = &props.response_topic {
            validate_topic_name(topic)
                .map_err(|e| ClientError::invalid("properties.response_topic", e.message()))?;
        }
        if let Some(content_type) = &props.content_type {
            check_string("properties.content_type", content_type)?;
        }
        if props
            .correlation_data
            .as_ref()
            .is_some_and(|d| d.len() > 65_535)
        {
            return Err(ClientError::invalid(
                "properties.correlation_data",
                "must be at most 65,535 bytes",
            ));
        }
        if props.payload_format_indicator == Some(true)
            && std::str::from_utf8(&publish.payload).is_err()
        {
            return Err(ClientError::invalid(
                "payload",
                "is not UTF-8 but payload_format_indicator says it is",
            ));
        }
        check_user_properties(&props.user_properties)
    }

    /// What the server we reached allows (CONNACK's maximum QoS, retain and
    /// maximum packet size).
    pub(super) fn check_publish_allowed(&self, publish: &Publish) -> Result<(), PublishError> {
        if publish.qos > self.link.server_maximum_qos {
            return Err(PublishError::NotAllowed {
                reason_code: ReasonCode::QoSNotSupported,
            });
        }
        if publish.retain && !self.link.retain_available {
            return Err(PublishError::NotAllowed {
                reason_code: ReasonCode::RetainNotSupported,
            });
        }
        if let Some(maximum) = self.link.server_maximum_packet_size {
            // Sized with its packet id counted, assigned or not.
            let size = publish_encoded_len(publish, self.options.protocol).unwrap_or(usize::MAX);
            if size > maximum as usize {
                return Err(PublishError::PacketTooLarge { size, maximum });
            }
        }
        Ok(())
    }

    /// Encode a PUBLISH, applying an outbound topic alias when enabled.
    pub(super) fn transmit_publish(&mut self, now: u64, publish: &Publish) {
        let mut aliased = None;
        if self.options.outbound_topic_aliases
            && self.options.protocol == ProtocolVersion::V5
            && self.link.server_topic_alias_maximum > 0
            && publish.properties.topic_alias.is_none()
        {
            let mut packet = publish.clone();
            if let Some(&alias) = self.link.outbound_aliases.get(&packet.topic) {
                packet.topic.clear();
                packet.properties.topic_alias = Some(alias);
            } else if self.link.next_outbound_alias <= self.link.server_topic_alias_maximum {
                let alias = self.link.next_outbound_alias;
                self.link.next_outbound_alias += 1;
                self.link
                    .outbound_aliases
                    .insert(packet.topic.clone(), alias);
                packet.properties.topic_alias = Some(alias);
            }
            aliased = Some(packet);
        }
        // Without an alias the stored publish is encoded in place: no clone
        // on the hot path. Validated input encodes; on the impossible error
        // nothing is sent.
        let publish = aliased.as_ref().unwrap_or(publish);
        let before = self.tx.len();
        if encode_publish(publish, self.options.protocol, &mut self.tx).is_ok() {
            self.link.last_sent = now;
            if self.tracer.enabled(Severity::Debug) {
                let size = self.tx.len() - before;
                self.trace_packet(Direction::Sent, &Packet::Publish(publish.clone()), size);
            }
        }
    }

    /// Move queued publishes into the in-flight window while it has room.
    pub(super) fn pump(&mut self, now: u64) {
        while self.state == State::Connected {
            let Some(front) = self.queue.front() else {
                return;
            };
            let qos = front.publish.qos;
            if qos != QoS::AtMostOnce && self.inflight.len() >= self.window() {
                return;
            }
            if let Err(error) = self.check_publish_allowed(&front.publish) {
                if let Some(entry) = self.queue.pop_front() {
                    self.record(SessionChange::OutboundRemoved(entry.token));
                    self.events.push_back(Event::PublishComplete {
                        token: entry.token,
                        result: Err(error),
                    });
                }
                continue;
            }
            if qos == QoS::AtMostOnce {
                if let Some(entry) = self.queue.pop_front() {
                    self.record(SessionChange::OutboundRemoved(entry.token));
                    self.transmit_publish(now, &entry.publish);
                }
                continue;
            }
            let Some(id) = self.allocate_packet_id() else {
                return;
            };
            let Some(mut entry) = self.queue.pop_front() else {
                return;
            };
            entry.publish.packet_id = id;
            entry.stage = stage_after_send(qos);
            self.record(SessionChange::OutboundStored(entry.clone()));
            self.transmit_publish(now, &entry.publish);
            self.inflight.insert(id, entry);
        }
    }

    pub(super) fn window(&self) -> usize {
        usize::from(
            self.link
                .server_receive_maximum
                .min(self.options.max_inflight),
        )
    }

    /// The server kept our session: resend what it has not acknowledged, in
    /// the order first sent.
    pub(super) fn resend_inflight(&mut self, now: u64) {
        for (_, id) in self.inflight_by_token() {
            let Some(stage) = self.inflight.get(&id).map(|e| e.stage) else {
                continue;
            };
            match stage {
                OutboundStage::AwaitingPubComp => {
                    self.send(now, &Packet::PubRel(PubResponse::new(id)));
                }
                _ => {
                    if let Some(entry) = self.inflight.get_mut(&id) {
                        entry.publish.dup = true;
                        let publish = entry.publish.clone();
                        self.transmit_publish(now, &publish);
                    }
                }
            }
        }
    }

    pub(super) fn on_puback(&mut self, now: u64, ack: PubResponse) {
        let id = ack.packet_id;
        let stage = self.inflight.get(&id).map(|e| e.stage);
        if stage == Some(OutboundStage::AwaitingPubRec) {
            // A server without QoS 2 (RabbitMQ 3.x) answers a QoS 2 PUBLISH
            // with PUBACK. No PUBREC will come: waiting would hang the
            // publish forever, so it ends now, refused with the reason.
            if let Some(entry) = self.inflight.remove(&id) {
                let properties = AckProperties {
                    reason_string: Some(QOS2_ANSWERED_WITH_PUBACK.to_owned()),
                    ..AckProperties::default()
                };
                self.complete(entry.token, ReasonCode::QoSNotSupported, properties);
            }
            self.pump(now);
            return;
        }
        if stage != Some(OutboundStage::AwaitingPubAck) {
            // Ignored and counted, the link kept: see `Client::unknown_acks`.
            self.unknown_acks += 1;
            self.trace_unknown_ack("PUBACK", id);
            return;
        }
        if let Some(entry) = self.inflight.remove(&id) {
            self.complete(entry.token, ack.reason_code, ack.properties);
        }
        self.pump(now);
    }

    pub(super) fn on_pubrec(&mut self, now: u64, rec: PubResponse) {
        let id = rec.packet_id;
        match self.inflight.get(&id).map(|e| e.stage) {
            Some(OutboundStage::AwaitingPubRec) => {
                if rec.reason_code.is_error() {
                    if let Some(entry) = self.inflight.remove(&id) {
                        self.complete(entry.token, rec.reason_code, rec.properties);
                    }
                    self.pump(now);
                    return;
                }
                if let Some(entry) = self.inflight.get_mut(&id) {
                    entry.stage = OutboundStage::AwaitingPubComp;
                }
                if let Some(entry) = self.inflight.get(&id) {
                    let entry = entry.clone();
                    self.record(SessionChange::OutboundStored(entry.clone()));
                }
                self.send(now, &Packet::PubRel(PubResponse::new(id)));
            }
            Some(OutboundStage::AwaitingPubComp) => {
                self.send(now, &Packet::PubRel(PubResponse::new(id)));
            }
            _ => {
                // Spec 4.3.3: answer an unknown PUBREC with PUBREL "Packet
                // Identifier not found" rather than closing.
                self.unknown_acks += 1;
                self.trace_unknown_ack("PUBREC", id);
                let mut rel = PubResponse::new(id);
                rel.reason_code = ReasonCode::PacketIdentifierNotFound;
                self.send(now, &Packet::PubRel(rel));
            }
        }
    }

    pub(super) fn on_pubcomp(&mut self, now: u64, comp: PubResponse) {
        let id = comp.packet_id;
        if self.inflight.get(&id).map(|e| e.stage) != Some(OutboundStage::AwaitingPubComp) {
            self.unknown_acks += 1;
            self.trace_unknown_ack("PUBCOMP", id);
            return;
        }
        if let Some(entry) = self.inflight.remove(&id) {
            self.complete(entry.token, comp.reason_code, comp.properties);
        }
        self.pump(now);
    }

    pub(super) fn complete(
        &mut self,
        token: PublishToken,
        reason_code: ReasonCode,
        properties: AckProperties,
    ) {
        self.record(SessionChange::OutboundRemoved(token));
        let result = if reason_code.is_error() {
            Err(PublishError::Rejected {
                reason_code,
                properties,
            })
        } else {
            Ok(PublishDone {
                reason_code,
                properties,
            })
        };
        self.events
            .push_back(Event::PublishComplete { token, result });
    }

    /// The in-flight publishes' `(token, packet id)`, in the order they were
    /// made. (One sort of plain pairs for every caller: sorting the entries
    /// themselves instantiated a stable sort per element type.)
    pub(super) fn inflight_by_token(&self) -> Vec<(PublishToken, u16)> {
        let mut order: Vec<(PublishToken, u16)> = self
            .inflight
            .values()
            .map(|e| (e.token, e.publish.packet_id))
            .collect();
        heap_sort(&mut order);
        order
    }

    pub(super) fn allocate_packet_id(&mut self) -> Option<u16> {
        let start = self.next_packet_id.max(1);
        let mut id = start;
        loop {
            if !self.inflight.contains_key(&id)
                && self
                    .requests
                    .binary_search_by_key(&id, |(id, _)| *id)
                    .is_err()
            {
                self.next_packet_id = next_packet_id_after(id);
                return Some(id);
            }
            id = next_packet_id_after(id);
            if id == start {
                return None;
            }
        }
    }
}
