//! SUBSCRIBE/UNSUBSCRIBE requests and their answers, and restoring
//! subscriptions when the broker lost the session.

use super::*;

impl Client {
    /// Subscribe to one or more filters in one SUBSCRIBE. Answered by
    /// [`Event::Subscribed`]; made while disconnected, it is sent on connect.
    pub fn subscribe(
        &mut self,
        now: u64,
        filters: Vec<SubscribeFilter>,
        properties: SubscribeProperties,
    ) -> Result<RequestToken, ClientError> {
        self.ensure_open("subscribe")?;
        if filters.is_empty() {
            return Err(ClientError::invalid(
                "filters",
                "at least one filter is required",
            ));
        }
        for f in &filters {
            validate_topic_filter(&f.filter).map_err(|e| filter_error(&f.filter, &e.message()))?;
            if f.options.no_local && parse_shared(&f.filter).is_some() {
                return Err(filter_error(
                    &f.filter,
                    "no_local is not allowed on a shared subscription",
                ));
            }
        }
        if let Some(id) = properties.subscription_identifier {
            if self.options.protocol == ProtocolVersion::V311 {
                return Err(ClientError::invalid(
                    "subscription_identifier",
                    "subscription identifiers need MQTT 5.0",
                ));
            }
            if id == 0 || id > 268_435_455 {
                return Err(ClientError::invalid(
                    "subscription_identifier",
                    "must be between 1 and 268,435,455",
                ));
            }
        }
        check_user_properties(&properties.user_properties)?;
        let packet_id = self.allocate_packet_id().ok_or(ClientError::InvalidState {
            operation: "subscribe",
            state: "every packet id is in use",
        })?;
        let packet = Packet::Subscribe(Subscribe {
            packet_id,
            filters,
            properties,
        });
        // (The id is not recorded until add_request: refusing here leaks none.)
        self.check_server_maximum(&packet)?;
        Ok(self.add_request(now, packet_id, RequestKind::Subscribe, packet))
    }

    /// Unsubscribe from one or more filters in one UNSUBSCRIBE. Answered by
    /// [`Event::Unsubscribed`].
    pub fn unsubscribe(
        &mut self,
        now: u64,
        filters: Vec<String>,
        properties: UnsubscribeProperties,
    ) -> Result<RequestToken, ClientError> {
        self.ensure_open("unsubscribe")?;
        if filters.is_empty() {
            return Err(ClientError::invalid(
                "filters",
                "at least one filter is required",
            ));
        }
        for f in &filters {
            validate_topic_filter(f).map_err(|e| filter_error(f, &e.message()))?;
        }
        check_user_properties(&properties.user_properties)?;
        let packet_id = self.allocate_packet_id().ok_or(ClientError::InvalidState {
            operation: "unsubscribe",
            state: "every packet id is in use",
        })?;
        let packet = Packet::Unsubscribe(Unsubscribe {
            packet_id,
            filters,
            properties,
        });
        self.check_server_maximum(&packet)?;
        Ok(self.add_request(now, packet_id, RequestKind::Unsubscribe, packet))
    }

    pub(super) fn add_request(
        &mut self,
        now: u64,
        packet_id: u16,
        kind: RequestKind,
        packet: Packet,
    ) -> RequestToken {
        let token = RequestToken(self.next_request);
        self.next_request += 1;
        if self.state == State::Connected {
            self.send(now, &packet);
        }
        let request = Request {
            token,
            kind,
            packet,
        };
        match self
            .requests
            .binary_search_by_key(&packet_id, |(id, _)| *id)
        {
            Ok(i) => self.requests[i].1 = request,
            Err(i) => self.requests.insert(i, (packet_id, request)),
        }
        token
    }

    pub(super) fn on_suback(&mut self, now: u64, ack: SubAck) {
        let Some(request) = self.take_request(now, ack.packet_id, "SUBACK") else {
            return;
        };
        let Packet::Subscribe(subscribe) = request.packet else {
            self.violation(
                now,
                ProtocolViolation::UnexpectedPacket {
                    packet: "SUBACK",
                    context: "for an UNSUBSCRIBE",
                },
            );
            return;
        };
        if ack.reason_codes.len() != subscribe.filters.len() {
            self.violation(
                now,
                ProtocolViolation::SubAckCountMismatch {
                    expected: subscribe.filters.len(),
                    got: ack.reason_codes.len(),
                },
            );
            return;
        }
        // The results as each event wants them, built directly (mapping one
        // list into the other instantiated an iterator chain per element type).
        let restore = matches!(request.kind, RequestKind::Restore);
        let mut results: Vec<SubscribeResult> = Vec::new();
        let mut restored: Vec<(String, SubscribeResult)> = Vec::new();
        for (filter, code) in subscribe.filters.into_iter().zip(ack.reason_codes) {
            let result: SubscribeResult = code.granted_qos().ok_or(code);
            let name = if restore {
                filter.filter.clone()
            } else {
                String::new()
            };
            if result.is_ok() {
                let sub = StoredSubscription {
                    filter,
                    subscription_identifier: subscribe.properties.subscription_identifier,
                };
                self.record(SessionChange::SubscriptionStored(sub.clone()));
                match self
                    .subscriptions
                    .iter_mut()
                    .find(|s| s.filter.filter == sub.filter.filter)
                {
                    Some(existing) => *existing = sub,
                    None => self.subscriptions.push(sub),
                }
            }
            if restore {
                restored.push((name, result));
            } else {
                results.push(result);
            }
        }
        if restore {
            self.trace_restored(&restored);
            self.events
                .push_back(Event::SubscriptionsRestored { results: restored });
        } else {
            self.events.push_back(Event::Subscribed {
                token: request.token,
                results,
                properties: ack.properties,
            });
        }
    }

    pub(super) fn on_unsuback(&mut self, now: u64, ack: UnsubAck) {
        let Some(request) = self.take_request(now, ack.packet_id, "UNSUBACK") else {
            return;
        };
        let Packet::Unsubscribe(unsubscribe) = request.packet else {
            self.violation(
                now,
                ProtocolViolation::UnexpectedPacket {
                    packet: "UNSUBACK",
                    context: "for a SUBSCRIBE",
                },
            );
            return;
        };
        let results = if self.options.protocol == ProtocolVersion::V311 {
            vec![ReasonCode::Success; unsubscribe.filters.len()]
        } else {
            ack.reason_codes
        };
        if results.len() != unsubscribe.filters.len() {
            self.violation(
                now,
                ProtocolViolation::SubAckCountMismatch {
                    expected: unsubscribe.filters.len(),
                    got: results.len(),
                },
            );
            return;
        }
        for (filter, code) in unsubscribe.filters.iter().zip(&results) {
            if !code.is_error() {
                self.subscriptions.retain(|s| s.filter.filter != *filter);
                self.record(SessionChange::SubscriptionRemoved(filter.clone()));
            }
        }
        self.events.push_back(Event::Unsubscribed {
            token: request.token,
            results,
            properties: ack.properties,
        });
    }

    pub(super) fn take_request(
        &mut self,
        now: u64,
        packet_id: u16,
        packet: &'static str,
    ) -> Option<Request> {
        let request = self
            .requests
            .binary_search_by_key(&packet_id, |(id, _)| *id)
            .ok()
            .map(|i| self.requests.remove(i).1);
        if request.is_none() {
            self.violation(
                now,
                ProtocolViolation::UnknownPacketId { packet, packet_id },
            );
        }
        request
    }

    pub(super) fn restore_subscriptions(&mut self, now: u64) {
        // One SUBSCRIBE per subscription identifier: the property covers the
        // whole packet.
        // Sorted by identifier, as a sorted `Vec` (less code than a `BTreeMap`).
        let mut groups: Vec<(Option<u32>, Vec<SubscribeFilter>)> = Vec::new();
        for sub in &self.subscriptions {
            let key = sub.subscription_identifier;
            let i = match groups.binary_search_by_key(&key, |(k, _)| *k) {
                Ok(i) => i,
                Err(i) => {
                    groups.insert(i, (key, Vec::new()));
                    i
                }
            };
            groups[i].1.push(sub.filter.clone());
        }
        for (subscription_identifier, filters) in groups {
            let Some(packet_id) = self.allocate_packet_id() else {
                return;
            };
            let packet = Packet::Subscribe(Subscribe {
                packet_id,
                filters,
                properties: SubscribeProperties {
                    subscription_identifier,
                    user_properties: Vec::new(),
                },
            });
            self.add_request(now, packet_id, RequestKind::Restore, packet);
        }
    }

    /// The server has no session for us: nothing it owed us is pending, and
    /// what we sent but it never acknowledged goes again as new messages.
    pub(super) fn session_lost(&mut self) {
        for id in std::mem::take(&mut self.inbound_qos2) {
            self.record(SessionChange::InboundQos2Removed(id));
        }
        self.manual_qos2.clear();
        let order = self.inflight_by_token();
        // Taken out of slots (sorted by packet id, as the map) rather than
        // removed one by one: removing from the middle of the map would move
        // the entries after it. Newest first, each to the front of the queue.
        let mut slots: Vec<(u16, Option<OutboundPublish>)> = std::mem::take(&mut self.inflight)
            .0
            .into_iter()
            .map(|(id, entry)| (id, Some(entry)))
            .collect();
        for (_, id) in order.into_iter().rev() {
            let Ok(index) = slots.binary_search_by_key(&id, |(id, _)| *id) else {
                continue;
            };
            let Some(mut entry) = slots[index].1.take() else {
                continue;
            };
            if entry.stage == OutboundStage::AwaitingPubComp {
                // PUBREC came back: the server had taken ownership and delivered it.
                self.record(SessionChange::OutboundRemoved(entry.token));
                self.events.push_back(Event::PublishComplete {
                    token: entry.token,
                    result: Ok(PublishDone::default()),
                });
            } else {
                entry.stage = OutboundStage::Queued;
                entry.publish.packet_id = 0;
                entry.publish.dup = false;
                self.record(SessionChange::OutboundStored(entry.clone()));
                self.queue.push_front(entry);
            }
        }
    }
}
