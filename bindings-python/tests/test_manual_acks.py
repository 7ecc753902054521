"""Manual acknowledgement mode (``manual_acks=True``, ``client.ack(message)``)."""

from __future__ import annotations

import pytest

import midge
from conftest import client_id

FAST = dict(reconnect_min_delay=0.05, reconnect_max_delay=0.2)


def next_reconnect(events) -> midge.ConnectedEvent:
    """The ConnectedEvent of the next automatic reconnect."""
    for event in events:
        if isinstance(event, midge.ConnectedEvent) and event.result.reconnected:
            return event
    raise AssertionError("no reconnect within the timeout")


@pytest.mark.parametrize("qos, ack_packet", [(1, "PUBACK"), (2, "PUBREC")])
def test_the_acknowledgement_goes_out_only_on_ack(broker, topic, qos, ack_packet):
    cid = client_id("manual")
    # Receive Maximum 1: the broker sends the next QoS 1/2 message only once
    # the previous one is acknowledged, so the second one shows when the ack left.
    with midge.Client(broker.url(), client_id=cid, manual_acks=True, receive_maximum=1) as sub:
        messages = sub.messages(topic, timeout=10)
        peek = sub.messages(topic, timeout=0.3)  # sees the same messages
        sub.subscribe(topic, qos=qos)
        with midge.Client(broker.url(), client_id=client_id("pub")) as pub:
            pub.publish(topic, b"first", qos=qos)
            pub.publish(topic, b"second", qos=qos)
        first = next(messages)
        assert (first.payload, first.qos, first.needs_ack) == (b"first", qos, True)
        assert f"Received {ack_packet} from {cid}" not in broker.log_text()
        # Without the ack the broker holds the second message back.
        assert [m.payload for m in peek] == [b"first"]
        sub.ack(first)
        broker.wait_log(f"Received {ack_packet} from {cid}")
        second = next(messages)
        assert second.payload == b"second"
        sub.ack(second)
        with pytest.raises(midge.AckError, match="not awaiting an acknowledgement"):
            sub.ack(first)  # acknowledged already


def test_ack_argument_errors(broker, topic):
    with midge.Client(broker.url(), client_id=client_id(), manual_acks=True) as manual, midge.Client(
        broker.url(), client_id=client_id()
    ) as auto:
        manual_messages = manual.messages(topic, timeout=10)
        auto_messages = auto.messages(topic, timeout=10)
        manual.subscribe(topic, qos=1)
        auto.subscribe(topic, qos=1)
        manual.publish(topic, b"zero", qos=0)
        manual.publish(topic, b"one", qos=1)
        zero, one = next(manual_messages), next(manual_messages)
        auto_zero, auto_one = next(auto_messages), next(auto_messages)

        with pytest.raises(midge.InvalidArgumentError) as e:
            manual.ack(zero)
        assert e.value.argument == "message" and "QoS 0" in e.value.rule
        assert not zero.needs_ack
        with pytest.raises(midge.InvalidArgumentError) as e:
            auto.ack(auto_one)  # acknowledged by the client when it arrived
        assert e.value.argument == "message" and "manual_acks" in e.value.rule
        with pytest.raises(midge.InvalidArgumentError) as e:
            auto.ack(one)  # another client's message
        assert e.value.argument == "message" and "another client" in e.value.rule
        with pytest.raises(midge.InvalidArgumentError) as e:
            manual.ack("one")  # type: ignore[arg-type]
        assert e.value.argument == "message"
        with pytest.raises(midge.InvalidArgumentError) as e:
            midge.Client(broker.url(), manual_acks="yes")
        assert e.value.argument == "manual_acks"
        manual.ack(one)
        assert auto_zero.payload == b"zero"


async def test_async_manual_ack(broker, topic):
    cid = client_id("amanual")
    async with midge.AsyncClient(broker.url(), client_id=cid, manual_acks=True) as sub:
        messages = sub.messages(topic)
        await sub.subscribe(topic, qos=2)
        await sub.publish(topic, b"payload", qos=2)
        message = await messages.__anext__()
        assert message.needs_ack
        await sub.ack(message)
        broker.wait_log(f"Received PUBREC from {cid}")
        with pytest.raises(midge.AckError):
            await sub.ack(message)


def test_unacknowledged_messages_are_redelivered_after_the_connection_drops(broker, topic):
    """A persistent session in manual-ack mode: QoS 1 and 2 messages not yet
    acknowledged when the link drops are sent again by the broker (DUP); once
    acknowledged, nothing more comes, and the QoS 2 one reaches the
    application exactly once."""
    cid = client_id("redeliver")
    sub = midge.Client(broker.url(), client_id=cid, clean_start=False, session_expiry=300, manual_acks=True, **FAST)
    events = sub.events(timeout=15)
    sub.connect(timeout=5)
    messages = sub.messages(topic, timeout=10)
    sub.subscribe(topic, qos=2)
    pub = midge.Client(broker.url(), client_id=client_id("pub"))
    pub.connect(timeout=5)
    pub.publish(topic, b"one", qos=1)
    pub.publish(topic, b"two", qos=2)
    one, two = next(messages), next(messages)
    assert [(m.payload, m.qos, m.dup) for m in (one, two)] == [(b"one", 1, False), (b"two", 2, False)]

    sub._native.drop_transport()  # no DISCONNECT, no acknowledgement sent
    assert next_reconnect(events).result.session_present
    # The broker sends both again with DUP set ...
    log = broker.wait_log(f"Sending PUBLISH to {cid} (d1, q2")
    assert f"Sending PUBLISH to {cid} (d1, q1" in log
    # ... the QoS 1 copy reaches the application (a new delivery to acknowledge),
    again = next(messages)
    assert (again.payload, again.qos, again.dup) == (b"one", 1, True)
    with pytest.raises(midge.AckError):
        sub.ack(one)  # its connection is gone: the redelivered copy is the one to acknowledge
    sub.ack(again)
    broker.wait_log(f"Received PUBACK from {cid}")
    # ... while the QoS 2 copy is recognised as the message the application
    # holds: its acknowledgement is still wanted, and it is not delivered twice.
    sub.ack(two)
    broker.wait_log(f"Received PUBCOMP from {cid}")

    # Nothing is left to redeliver: after another drop, the next message is a new one.
    sub._native.drop_transport()
    assert next_reconnect(events).result.session_present
    pub.publish(topic, b"marker", qos=1)
    marker = next(messages)
    assert (marker.payload, marker.dup) == (b"marker", False)
    sub.ack(marker)
    sub.disconnect(properties={"session_expiry_interval": 0})
    pub.disconnect()


def test_unacknowledged_messages_reach_a_restarted_client(broker, topic):
    """The process dies before acknowledging: a new client on the same
    session gets both messages again (DUP), and after its acks nothing more."""
    cid = client_id("restart")
    options = dict(client_id=cid, clean_start=False, session_expiry=300, manual_acks=True)
    first = midge.Client(broker.url(), reconnect=False, **options)
    first.connect(timeout=5)
    messages = first.messages(topic, timeout=10)
    first.subscribe(topic, qos=2)
    with midge.Client(broker.url(), client_id=client_id("pub")) as pub:
        pub.publish(topic, b"one", qos=1)
        pub.publish(topic, b"two", qos=2)
    assert [m.payload for m in (next(messages), next(messages))] == [b"one", b"two"]
    first._native.drop_transport()  # as if the process were killed
    assert first._native.wait_status("disconnected", 10)
    del first, messages

    second = midge.Client(broker.url(), **options)
    messages = second.messages(topic, timeout=10)
    assert second.connect(timeout=5).session_present
    again = [next(messages), next(messages)]
    assert sorted((m.payload, m.qos, m.dup) for m in again) == [(b"one", 1, True), (b"two", 2, True)]
    for m in again:
        second.ack(m)
    with midge.Client(broker.url(), client_id=client_id("pub")) as pub:
        pub.publish(topic, b"marker", qos=1)
    marker = next(messages)
    assert (marker.payload, marker.dup) == (b"marker", False)
    second.ack(marker)
    second.disconnect(properties={"session_expiry_interval": 0})



def broker_outstanding_peak(log: str, cid: str) -> int:
    """Most QoS 1 PUBLISHes the broker's log shows sent to ``cid`` and not
    yet acknowledged at once: the broker's side of the Receive Maximum."""
    outstanding = peak = 0
    for line in log.splitlines():
        if f"Sending PUBLISH to {cid} (d0, q1" in line:
            outstanding += 1
            peak = max(peak, outstanding)
        elif f"Received PUBACK from {cid}" in line:
            outstanding -= 1
    return peak


def hold_ten_and_read_300(broker, topic, sub):
    """Hold the acks of 10 messages while 300 more are read and acknowledged
    one by one; returns (held, payloads read)."""
    held_back = sub.messages(f"{topic}/held", timeout=10)
    read = sub.messages(f"{topic}/read", timeout=10)
    sub.subscribe(f"{topic}/#", qos=1)
    with midge.Client(broker.url(), client_id=client_id("pub")) as pub:
        for i in range(10):
            pub.publish(f"{topic}/held", str(i).encode(), qos=1)
        held = [next(held_back) for _ in range(10)]
        for i in range(300):
            pub.publish(f"{topic}/read", str(i).encode(), qos=1)
    got = []
    for message in read:
        got.append(message.payload)
        sub.ack(message)
        if len(got) == 300:
            break
    return held, got


def test_a_broker_overrunning_receive_maximum_is_tolerated(broker, topic):
    """mosquitto 2.0.11 sends more unacknowledged QoS 1 messages than the
    client's Receive Maximum (100) while the application holds some acks (its
    own log shows it). By default the client accepts them and keeps the
    connection: every message once, no reconnect."""
    cid = client_id("tolerant")
    with midge.Client(broker.url(), client_id=cid, manual_acks=True) as sub:
        events = sub.events(timeout=0)
        held, got = hold_ten_and_read_300(broker, topic, sub)
        for message in held:
            sub.ack(message)
        seen = list(events)
        overruns = sub.receive_maximum_overruns
    assert broker_outstanding_peak(broker.log_text(), cid) > 100
    assert overruns > 0
    assert [m.payload for m in held] == [str(i).encode() for i in range(10)]
    assert got == [str(i).encode() for i in range(300)]
    assert not [e for e in seen if isinstance(e, midge.DisconnectedEvent)], seen


def test_strict_receive_maximum_disconnects_an_overrunning_broker(broker, topic):
    """``strict_receive_maximum=True``: the same overrun ends the connection
    with reason 0x93, and only once the broker has more than 100 outstanding."""
    cid = client_id("strict")
    with midge.Client(broker.url(), client_id=cid, manual_acks=True, strict_receive_maximum=True,
                      reconnect=False) as sub:
        events = sub.events(timeout=10)
        with pytest.raises((midge.AckError, midge.ClosedError)):
            hold_ten_and_read_300(broker, topic, sub)
        disconnected = next(e for e in events if isinstance(e, midge.DisconnectedEvent))
    assert "receive maximum" in str(disconnected.error)
    log = broker.log_text()
    before = log[: log.index(f"Received DISCONNECT from {cid}")]
    assert broker_outstanding_peak(before, cid) > 100
