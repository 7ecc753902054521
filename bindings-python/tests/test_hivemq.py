"""The core round trip against HiveMQ CE, the second real broker of the
suite (the rest runs against mosquitto): connect, subscribe, publish at QoS
0, 1 and 2 and receive each, a retained message reaching a later
subscriber, disconnect; at MQTT 5.0 and 3.1.1, over TCP. One HiveMQ for the
session (the ``hivemq`` fixture in conftest.py)."""

from __future__ import annotations

import pytest

import midge
from conftest import client_id


@pytest.mark.parametrize("protocol", [5, "3.1.1"])
def test_core_round_trip_against_hivemq(hivemq, topic, protocol):
    with midge.Client(hivemq.url(), client_id=client_id("hivemq"), protocol=protocol) as c:
        assert c.status == "connected"
        granted = c.subscribe(f"{topic}/+", qos=2)
        assert [g.granted_qos for g in granted] == [2]
        for qos in (0, 1, 2):
            result = c.publish(f"{topic}/q{qos}", f"at qos {qos}".encode(), qos=qos)
            assert result.reason_code == 0
            m = next(iter(c.messages(timeout=10)))
            assert (m.topic, m.payload, m.qos, m.retain) == (f"{topic}/q{qos}", f"at qos {qos}".encode(), qos, False)

        # Retained: set by one client, delivered to a later subscriber with
        # RETAIN set, then cleared (an empty retained payload).
        retained = f"{topic}/retained"
        reply = c.publish(retained, b"last value", qos=1, retain=True)
        assert reply.reason_code == 0  # c's own subscription matches
        next(iter(c.messages(timeout=10)))  # c's live copy (RETAIN 0)
    assert c.status == "disconnected"

    with midge.Client(hivemq.url(), client_id=client_id("hivemq"), protocol=protocol) as later:
        later.subscribe(retained, qos=1)
        m = next(iter(later.messages(timeout=10)))
        assert (m.topic, m.payload, m.qos, m.retain) == (retained, b"last value", 1, True)
        later.publish(retained, b"", qos=1, retain=True)
    assert later.status == "disconnected"
