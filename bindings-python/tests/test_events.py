"""Connection events: ``client.events()``, ``on_event``."""

from __future__ import annotations

import queue

import pytest

import midge
from conftest import client_id, free_port

FAST = dict(reconnect_min_delay=0.05, reconnect_max_delay=0.2)


def first_of(events, cls):
    for event in events:
        if isinstance(event, cls):
            return event
    raise AssertionError(f"no {cls.__name__} within the timeout")


def test_subscriptions_restored_when_the_broker_lost_the_session(broker, topic):
    # Session expiry 0 (the default): the broker forgets the session when the
    # link drops, so the client subscribes again after reconnecting.
    c = midge.Client(broker.url(), client_id=client_id("restore"), **FAST)
    events = c.events(timeout=15)
    assert not c.connect(timeout=5).session_present
    first = first_of(events, midge.ConnectedEvent)
    assert not first.result.reconnected
    c.subscribe([(f"{topic}/a", 1), (f"{topic}/b", 2)])
    messages = c.messages(f"{topic}/#", timeout=10)

    c._native.drop_transport()
    dropped = first_of(events, midge.DisconnectedEvent)
    assert dropped.reconnecting and isinstance(dropped.error, midge.TransportError)
    again = first_of(events, midge.ConnectedEvent)
    assert again.result.reconnected and not again.result.session_present
    restored = first_of(events, midge.SubscriptionsRestoredEvent)
    assert restored.ok
    assert sorted((r.filter, r.granted_qos) for r in restored.results) == [(f"{topic}/a", 1), (f"{topic}/b", 2)]
    c.publish(f"{topic}/b", b"after", qos=1)
    assert next(messages).payload == b"after"
    c.disconnect()
    gone = first_of(events, midge.DisconnectedEvent)
    assert not gone.reconnecting and isinstance(gone.error, midge.ClosedError)


def test_a_loop_left_early_loses_no_event_for_the_next(broker):
    """Every ``events()`` call shares one queue: events read ahead by a loop
    that stopped early go to the next loop (they used to be dropped with
    the first iterator's read-ahead)."""
    c = midge.Client(broker.url(), client_id=client_id("early"), **FAST)
    for _ in range(3):
        c.connect(timeout=5)
        c.disconnect(timeout=5)
    # All six events are queued now; each loop takes one and stops.
    kinds = []
    for _ in range(6):
        for event in c.events(timeout=10):
            kinds.append(type(event))
            break
    assert kinds == [midge.ConnectedEvent, midge.DisconnectedEvent] * 3


def test_on_event_callback_sees_the_events(broker, topic):
    seen: "queue.Queue[midge.Event]" = queue.Queue()
    c = midge.Client(broker.url(), client_id=client_id("cb"), on_event=seen.put, **FAST)
    c.connect(timeout=5)
    c.subscribe(topic, qos=1)
    c._native.drop_transport()
    kinds = []
    while midge.SubscriptionsRestoredEvent not in kinds:
        kinds.append(type(seen.get(timeout=15)))
    assert kinds == [
        midge.ConnectedEvent,
        midge.DisconnectedEvent,
        midge.ConnectedEvent,
        midge.SubscriptionsRestoredEvent,
    ]
    # events() is independent of the callback: it has them all too.
    assert [type(e) for e in c.events(timeout=0)] == kinds
    with pytest.raises(midge.InvalidArgumentError) as e:
        c.on_event = 42  # type: ignore[assignment]
    assert e.value.argument == "on_event"
    c.disconnect()


def test_store_failure_is_an_event_and_nothing_dependent_is_sent(broker, tmp_path):
    # The store cannot write: a directory holds the name of the temp file a
    # new log is written to. Loading finds no session (as on a first run),
    # but the first write (the new log, which the client starts as soon as it
    # is made) fails, so the CONNECT that waits for it never leaves, and
    # connect() fails with the store's error. (Removing the store's directory
    # after the client was made would race that first write.)
    store_dir = tmp_path / "unwritable-store"
    store_dir.mkdir()
    (store_dir / "session.log.tmp").mkdir()
    cid = client_id("store")
    c = midge.Client(broker.url(), client_id=cid, session_store=str(store_dir / "session.log"))
    with pytest.raises(midge.MqttError) as e:
        c.connect(timeout=5)
    assert "unwritable-store" in str(e.value)
    failed = first_of(c.events(timeout=10), midge.StoreFailedEvent)
    assert isinstance(failed.error, midge.MqttError)
    assert "unwritable-store" in str(failed.error)
    # The broker never saw its CONNECT (mosquitto logs every client id).
    assert cid not in broker.log_text()


async def test_async_events(broker, topic):
    c = midge.AsyncClient(broker.url(), client_id=client_id("aev"), **FAST)
    await c.connect()
    await c.subscribe(topic, qos=1)
    c._native.drop_transport()
    kinds = []
    async for event in c.events():
        kinds.append(type(event))
        if isinstance(event, midge.SubscriptionsRestoredEvent):
            assert [(r.filter, r.granted_qos) for r in event.results] == [(topic, 1)]
            break
    assert kinds == [
        midge.ConnectedEvent,
        midge.DisconnectedEvent,
        midge.ConnectedEvent,
        midge.SubscriptionsRestoredEvent,
    ]
    await c.disconnect()


def test_retries_of_the_first_connection_are_numbered_and_say_why():
    # Nothing listens on the port: every attempt is refused, and each event
    # carries the cause the driver gave the core, the delay and the core's
    # attempt number (npm's `offline` event counts the same way).
    port = free_port()
    c = midge.Client(f"mqtt://127.0.0.1:{port}", client_id=client_id("retry"), reconnect_on_initial_failure=True,
                     reconnect_min_delay=0.02, reconnect_max_delay=0.05)
    events = c.events(timeout=10)
    with pytest.raises(midge.TimeoutError):
        c.connect(timeout=0.3)
    dropped = [first_of(events, midge.DisconnectedEvent) for _ in range(3)]
    assert [d.attempt for d in dropped] == [1, 2, 3]
    for d in dropped:
        assert d.reconnecting and d.reconnect_in is not None and 0 <= d.reconnect_in <= 0.05
        assert isinstance(d.error, midge.TransportError)
        assert f"connecting to mqtt://127.0.0.1:{port} failed" in str(d.error)
        assert "refused" in str(d.error).lower()
    # disconnect() ends the retries at once; then every command is refused.
    c.disconnect()
    gone = first_of(events, midge.DisconnectedEvent)
    while gone.reconnecting:  # attempts that ended before the disconnect
        gone = first_of(events, midge.DisconnectedEvent)
    assert gone.attempt == 0 and gone.reconnect_in is None
    with pytest.raises(midge.ClosedError):
        c.publish("a/b", b"x", qos=1)
