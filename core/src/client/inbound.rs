//! Inbound messages: delivery, Receive Maximum, QoS 2 (PUBREL) and manual acks.

use super::*;

impl Client {
    pub(super) fn on_publish(&mut self, now: u64, mut publish: Publish) {
        if let Some(alias) = publish.properties.topic_alias {
            let maximum = self.options.effective_topic_alias_maximum();
            if alias == 0 || alias > maximum {
                self.violation(
                    now,
                    ProtocolViolation::TopicAliasInvalid {
                        alias,
                        rule: "must be between 1 and our topic alias maximum",
                    },
                );
                return;
            }
            if publish.topic.is_empty() {
                match self.link.inbound_aliases.get(&alias) {
                    Some(topic) => publish.topic = topic.clone(),
                    None => {
                        self.violation(now, ProtocolViolation::TopicAliasUnknown { alias });
                        return;
                    }
                }
            } else {
                self.link
                    .inbound_aliases
                    .insert(alias, publish.topic.clone());
            }
        } else if publish.topic.is_empty() {
            self.violation(now, ProtocolViolation::MissingTopic);
            return;
        }
        let id = publish.packet_id;
        let manual = self.options.manual_acks;
        match publish.qos {
            QoS::AtMostOnce => self.deliver(publish, None),
            QoS::AtLeastOnce => {
                if manual {
                    if !self.link.manual_qos1.contains(&id)
                        && !self.inbound_window_has_room()
                        && self.receive_maximum_exceeded(now, id)
                    {
                        return;
                    }
                    self.link.manual_qos1.insert(id);
                    let handle = self.ack_handle(id, QoS::AtLeastOnce);
                    self.deliver(publish, Some(handle));
                } else {
                    self.send(now, &Packet::PubAck(PubResponse::new(id)));
                    self.deliver(publish, None);
                }
            }
            QoS::ExactlyOnce => {
                if !self.link.inbound_qos2.contains(&id) {
                    // A resend of an earlier connection's message takes a
                    // place in this connection's window too.
                    if !self.inbound_window_has_room() && self.receive_maximum_exceeded(now, id) {
                        return;
                    }
                    self.link.inbound_qos2.insert(id);
                }
                if self.inbound_qos2.contains(&id) {
                    // A resend of a message already delivered: acknowledge again only.
                    self.send(now, &Packet::PubRec(PubResponse::new(id)));
                    return;
                }
                if self.manual_qos2.contains(&id) {
                    // Delivered, the application has not acknowledged it yet.
                    return;
                }
                if manual {
                    self.manual_qos2.insert(id);
                    let handle = self.ack_handle(id, QoS::ExactlyOnce);
                    self.deliver(publish, Some(handle));
                } else {
                    self.inbound_qos2.insert(id);
                    self.record(SessionChange::InboundQos2Added(id));
                    self.send(now, &Packet::PubRec(PubResponse::new(id)));
                    self.deliver(publish, None);
                }
            }
        }
    }

    pub(super) fn inbound_window_has_room(&self) -> bool {
        let unacked = self.link.manual_qos1.len() + self.link.inbound_qos2.len();
        unacked < usize::from(self.options.effective_receive_maximum())
    }

    /// The server sent one publish more than our Receive Maximum allows:
    /// counted, and with `strict_receive_maximum` the connection ends
    /// (returns `true`: drop the publish).
    pub(super) fn receive_maximum_exceeded(&mut self, now: u64, id: u16) -> bool {
        self.receive_maximum_overruns += 1;
        self.trace_overrun(id);
        if !self.options.strict_receive_maximum {
            return false;
        }
        let maximum = self.options.effective_receive_maximum();
        self.violation(now, ProtocolViolation::ReceiveMaximumExceeded { maximum });
        true
    }

    pub(super) fn ack_handle(&self, packet_id: u16, qos: QoS) -> AckHandle {
        AckHandle {
            packet_id,
            qos,
            connection: self.link.id,
        }
    }

    pub(super) fn deliver(&mut self, publish: Publish, ack: Option<AckHandle>) {
        self.events
            .push_back(Event::Message(Message { publish, ack }));
    }

    pub(super) fn on_pubrel(&mut self, now: u64, rel: PubResponse) {
        let id = rel.packet_id;
        self.link.inbound_qos2.remove(&id);
        if self.inbound_qos2.remove(&id) {
            self.record(SessionChange::InboundQos2Removed(id));
            self.send(now, &Packet::PubComp(PubResponse::new(id)));
        } else if self.manual_qos2.contains(&id) {
            self.violation(
                now,
                ProtocolViolation::UnexpectedPacket {
                    packet: "PUBREL",
                    context: "before our PUBREC",
                },
            );
        } else {
            let mut comp = PubResponse::new(id);
            comp.reason_code = ReasonCode::PacketIdentifierNotFound;
            self.send(now, &Packet::PubComp(comp));
        }
    }

    /// Acknowledge an inbound QoS 1/2 message in manual-ack mode.
    pub fn ack(&mut self, now: u64, handle: AckHandle) -> Result<(), ClientError> {
        self.ensure_open("acknowledge")?;
        let id = handle.packet_id;
        match handle.qos {
            QoS::AtLeastOnce => {
                if handle.connection != self.link.id || !self.link.manual_qos1.remove(&id) {
                    return Err(ClientError::AckNotPending { packet_id: id });
                }
                if self.state == State::Connected {
                    self.send(now, &Packet::PubAck(PubResponse::new(id)));
                }
            }
            QoS::ExactlyOnce => {
                if !self.manual_qos2.remove(&id) {
                    return Err(ClientError::AckNotPending { packet_id: id });
                }
                self.inbound_qos2.insert(id);
                self.record(SessionChange::InboundQos2Added(id));
                // Not connected: the server resends the PUBLISH after the
                // reconnect and finds the id acknowledged.
                if self.state == State::Connected {
                    self.send(now, &Packet::PubRec(PubResponse::new(id)));
                }
            }
            QoS::AtMostOnce => return Err(ClientError::AckNotPending { packet_id: id }),
        }
        Ok(())
    }
}
