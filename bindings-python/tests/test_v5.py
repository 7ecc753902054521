"""MQTT 5.0 features: properties, aliases, session expiry, request/response,
subscription identifiers, shared subscriptions."""

from __future__ import annotations

import pytest

import midge
from conftest import client_id


def test_user_properties_round_trip(broker, topic):
    with midge.Client(broker.url(), client_id=client_id(), user_properties={"app": "tests"}) as c:
        c.subscribe(topic, qos=1, user_properties=[("k", "v")])
        c.publish(topic, b"p", qos=1, properties={"user_properties": [("a", "1"), ("a", "2"), ("b", "3")],
                                                  "content_type": "text/plain",
                                                  "message_expiry_interval": 60})
        m = next(iter(c.messages(timeout=5)))
        assert m.user_properties == [("a", "1"), ("a", "2"), ("b", "3")]
        assert m.content_type == "text/plain"
        assert m.properties["user_properties"] == m.user_properties
        assert 0 < m.message_expiry_interval <= 60


def test_outbound_topic_aliases(broker, topic):
    cid = client_id("alias")
    with midge.Client(broker.url(), client_id=client_id()) as sub:
        sub.subscribe(topic, qos=1)
        with midge.Client(broker.url(), client_id=cid, outbound_topic_aliases=True) as pub:
            for i in range(5):
                pub.publish(topic, str(i), qos=1)
        got = [m.payload for _, m in zip(range(5), sub.messages(timeout=5))]
        assert got == [b"0", b"1", b"2", b"3", b"4"]


def test_inbound_topic_alias_limit_is_announced(broker, topic):
    with midge.Client(broker.url(), client_id=client_id(), topic_alias_maximum=10) as c:
        c.subscribe(topic)
        c.publish(topic, b"a")
        assert next(iter(c.messages(timeout=5))).topic == topic


def test_session_expiry_set_at_disconnect(broker, topic):
    cid = client_id("expiry")
    c = midge.Client(broker.url(), client_id=cid, clean_start=False, session_expiry=300)
    assert c.connect(timeout=5).session_present is False
    c.subscribe(topic, qos=1)
    c.disconnect()
    c2 = midge.Client(broker.url(), client_id=cid, clean_start=False, session_expiry=300)
    assert c2.connect(timeout=5).session_present is True
    c2.disconnect(properties={"session_expiry_interval": 0})  # end the session now
    c3 = midge.Client(broker.url(), client_id=cid, clean_start=False, session_expiry=300)
    assert c3.connect(timeout=5).session_present is False
    c3.disconnect(properties={"session_expiry_interval": 0})


def test_disconnect_session_expiry_rule_is_checked_locally(broker):
    c = midge.Client(broker.url(), client_id=client_id())
    c.connect(timeout=5)
    try:
        c.disconnect(properties={"session_expiry_interval": 10})
        raise AssertionError("expected InvalidArgumentError")
    except midge.InvalidArgumentError as e:
        assert "session_expiry_interval" in e.argument
    c.disconnect()


def test_request_response(broker, topic):
    with midge.Client(broker.url(), client_id=client_id()) as responder, \
            midge.Client(broker.url(), client_id=client_id()) as requester:
        requests = responder.messages(f"{topic}/req")
        responder.subscribe(f"{topic}/req", qos=1)
        replies = requester.messages(f"{topic}/reply")
        requester.subscribe(f"{topic}/reply", qos=1)
        requester.publish(f"{topic}/req", b"2+2", qos=1,
                          properties={"response_topic": f"{topic}/reply", "correlation_data": b"id-7"})
        req = next(requests)
        responder.publish(req.response_topic, b"4", qos=1, properties={"correlation_data": req.correlation_data})
        reply = next(replies)
        assert (reply.payload, reply.correlation_data) == (b"4", b"id-7")


def test_subscription_identifiers(broker, topic):
    with midge.Client(broker.url(), client_id=client_id()) as c:
        c.subscribe(f"{topic}/#", qos=1, subscription_identifier=7)
        c.subscribe(f"{topic}/+/x", qos=1, subscription_identifier=9)
        c.publish(f"{topic}/a/x", b"x", qos=1)
        ids = set()
        for m in c.messages(timeout=5):
            ids.update(m.subscription_identifiers)
            if ids >= {7, 9}:
                break
        assert ids >= {7, 9}


def test_shared_subscription_splits_messages(broker, topic):
    group = f"$share/g{client_id()}/{topic}"
    with midge.Client(broker.url(), client_id=client_id()) as a, \
            midge.Client(broker.url(), client_id=client_id()) as b, \
            midge.Client(broker.url(), client_id=client_id()) as pub:
        assert a.subscribe(group, qos=1)[0].ok and b.subscribe(group, qos=1)[0].ok
        for i in range(40):
            pub.publish(topic, str(i), qos=1)
        got_a, got_b = [], []
        ia, ib = a.messages(timeout=0.5), b.messages(timeout=0.5)
        while len(got_a) + len(got_b) < 40:
            before = len(got_a) + len(got_b)
            got_a.extend(int(m.payload) for _, m in zip(range(40), ia))
            got_b.extend(int(m.payload) for _, m in zip(range(40), ib))
            assert len(got_a) + len(got_b) > before, "messages stopped arriving"
            ia, ib = a.messages(timeout=0.5), b.messages(timeout=0.5)
        assert sorted(got_a + got_b) == list(range(40))
        assert got_a and got_b  # mosquitto round-robins within the group


def test_protocol_311_works(broker, topic):
    with midge.Client(broker.url(), client_id=client_id(), protocol="3.1.1") as c:
        c.subscribe(topic, qos=2)
        c.publish(topic, b"old", qos=2)
        assert next(iter(c.messages(timeout=5))).payload == b"old"


def test_empty_client_id_for_a_persistent_5_0_session(broker):
    """MQTT 5.0 lets the server assign the id of a persistent session (the
    rule against it is 3.1.1's); the client then resumes under that id."""
    c = midge.Client(broker.url(), client_id="", clean_start=False, session_expiry=300)
    result = c.connect(timeout=5)
    assigned = result.assigned_client_identifier
    assert assigned and result.client_id == assigned
    c.disconnect(timeout=5)
    with pytest.raises(midge.InvalidArgumentError) as e:
        midge.Client(broker.url(), client_id="", clean_start=False, protocol="3.1.1")
    assert e.value.argument == "client_id"


def test_a_2_mib_message_arrives_with_the_default_packet_size(broker, topic):
    """The 5.0 CONNECT used to say Maximum Packet Size 1 MiB, and mosquitto
    then dropped every larger message for this client without a word. The
    default is now the protocol maximum, sent only when the user sets one."""
    payload = bytes(range(256)) * (8 * 1024)  # 2 MiB
    with midge.Client(broker.url(), client_id=client_id("big")) as c:
        messages = c.messages(timeout=10)
        c.subscribe(topic, qos=1)
        c.publish(topic, payload, qos=1)
        got = next(messages)
    assert got.payload == payload
    with midge.Client(broker.url(), client_id=client_id("small"), max_packet_size=64 * 1024) as c:
        messages = c.messages(timeout=1)
        c.subscribe(topic, qos=1)
        c.publish(topic, payload, qos=1)  # the broker drops it for this client, as 5.0 says
        c.publish(topic, b"small", qos=1)
        assert next(messages).payload == b"small"
