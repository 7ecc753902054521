"""Lifecycle rules against a real mosquitto: handlers that publish do not
deadlock, no hidden receiver holds delivery back, every iterator gets every
message, calls after close fail at once, a graceful disconnect loses nothing
and fires no will, arguments are checked before anything leaves, publish
handles can be asked twice, and a timeout does not cancel.

Nothing here sleeps to wait for something it can observe: completion is
seen through Events, iterator timeouts and marker messages (mosquitto
forwards the messages of one connection in order, and a marker published by
a fresh client after another client's disconnect() returned reaches an
observer after everything that client published).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from typing import List, Optional

import pytest

import midge
from conftest import client_id

PROTOCOLS = [pytest.param("3.1.1", id="3.1.1"), pytest.param(5, id="5.0")]


def publish_marker(url: str, marker_topic: str, payload: bytes = b"marker") -> None:
    """Publish `payload` to `marker_topic` from a fresh connection (QoS 1, acknowledged)."""
    with midge.Client(url, client_id=client_id("marker")) as m:
        m.publish(marker_topic, payload, qos=1, timeout=5)


def read_until_marker(messages, marker_topic: str, payload: bytes = b"marker") -> List[midge.Message]:
    """Messages read from `messages` before the marker; fails if the marker never comes."""
    seen = []
    for m in messages:
        if m.topic == marker_topic and m.payload == payload:
            return seen
        seen.append(m)
    raise AssertionError(f"marker {payload!r} never arrived; got {[(x.topic, x.payload) for x in seen][:20]} "
                         f"({len(seen)} messages)")


# 1. An on_message handler that publishes and waits does not deadlock.


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_handler_that_publishes_and_waits_does_not_deadlock(broker, topic, protocol):
    handled = 0
    errors: List[BaseException] = []
    all_handled = threading.Event()
    c = midge.Client(broker.url(), client_id=client_id("handler"), protocol=protocol, message_buffer=10)

    def handler(message: midge.Message) -> None:
        nonlocal handled
        try:
            c.publish(f"{topic}/other", b"x", qos=1)  # waits for the PUBACK
        except BaseException as e:  # noqa: BLE001 - the dispatcher would swallow it
            errors.append(e)
        handled += 1
        if handled == 100:
            all_handled.set()

    c.on_message = handler
    c.connect(timeout=5)
    c.subscribe(topic, qos=1, timeout=5)
    with midge.Client(broker.url(), client_id=client_id("burst")) as pub:
        handles = [pub.publish(topic, f"{i}".encode(), qos=1, wait=False) for i in range(100)]
        for h in handles:
            h.wait(10)
    assert all_handled.wait(30), f"only {handled} of 100 messages handled (errors: {errors[:3]})"
    assert errors == []
    assert handled == 100

    started = time.monotonic()
    assert c.publish(f"{topic}/after", b"after", qos=1, timeout=5).reason_code in (0, 0x10)
    assert [r.granted_qos for r in c.subscribe(f"{topic}/after2", qos=1, timeout=5)] == [1]
    c.disconnect(timeout=5)
    elapsed = time.monotonic() - started
    assert c.status == "disconnected"
    assert elapsed < 5, f"publish + subscribe + disconnect after the burst took {elapsed:.2f} s"


def test_handler_that_publishes_survives_a_30000_message_qos0_burst(broker, topic):
    total = 30_000
    handled = 0
    errors: List[BaseException] = []
    all_handled = threading.Event()
    c = midge.Client(broker.url(), client_id=client_id("handler"))

    def handler(message: midge.Message) -> None:
        nonlocal handled
        try:
            c.publish(f"{topic}/other", b"x", qos=1)  # waits for the PUBACK
        except BaseException as e:  # noqa: BLE001 - the dispatcher would swallow it
            errors.append(e)
        handled += 1
        if handled == total:
            all_handled.set()

    c.on_message = handler
    c.connect(timeout=5)
    c.subscribe(topic, qos=0, timeout=5)
    started = time.monotonic()
    with midge.Client(broker.url(), client_id=client_id("burst")) as pub:
        last = None
        for i in range(total):
            last = pub.publish(topic, b"m", qos=0, wait=False)
        last.wait(30)
        pub.sync(30)
    assert all_handled.wait(90), f"only {handled} of {total} messages handled in 90 s (errors: {errors[:3]})"
    elapsed = time.monotonic() - started
    print(f"\n30,000 QoS 0 messages, each handled by a QoS 1 publish: {elapsed:.1f} s")
    assert errors == []
    assert handled == total
    c.disconnect(timeout=5)


# 2. A filtered iterator alone receives everything (no hidden receiver fills up).


def test_filtered_iterator_alone_gets_20000_messages(broker, topic):
    total = 20_000
    data = f"{topic}/data/#"
    c = midge.Client(broker.url(), client_id=client_id("filtered"))
    c.connect(timeout=5)
    only_data = c.messages(data, timeout=10)
    c.subscribe(data, qos=0, timeout=5)
    with midge.Client(broker.url(), client_id=client_id("burst")) as pub:
        for i in range(total):
            pub.publish(f"{topic}/data/{i % 7}", f"{i}".encode(), qos=0, wait=False)
        pub.sync(30)
    got = 0
    for m in only_data:
        assert m.payload == f"{got}".encode()
        got += 1
        if got == total:
            break
    assert got == total
    started = time.monotonic()
    c.disconnect(timeout=10)
    assert time.monotonic() - started < 5
    assert c.status == "disconnected"


async def test_async_filtered_iterator_alone_gets_20000_messages(broker, topic):
    total = 20_000
    data = f"{topic}/data/#"
    c = midge.AsyncClient(broker.url(), client_id=client_id("filtered"))
    await c.connect()
    only_data = c.messages(data)
    await c.subscribe(data, qos=0)
    got = 0

    async def read_all() -> None:
        nonlocal got
        async for m in only_data:
            assert m.payload == f"{got}".encode()
            got += 1
            if got == total:
                return

    async with midge.AsyncClient(broker.url(), client_id=client_id("burst")) as pub:
        last = None
        for i in range(total):
            last = pub.publish_nowait(f"{topic}/data/{i % 7}", f"{i}".encode(), qos=0)
        await asyncio.wait_for(last, 30)
    try:
        await asyncio.wait_for(read_all(), 60)
    except asyncio.TimeoutError:
        pytest.fail(f"only {got} of {total} messages arrived within 60 s")
    assert got == total
    await asyncio.wait_for(c.disconnect(), 5)
    assert c.status == "disconnected"


# 3. Two iterators without a filter each get every message, in order.


def test_two_unfiltered_iterators_each_get_every_message(broker, topic):
    total = 1_000
    with midge.Client(broker.url(), client_id=client_id("two")) as c:
        it1 = c.messages(timeout=5)
        it2 = c.messages(timeout=5)
        c.subscribe(topic, qos=1, timeout=5)
        handles = [c.publish(topic, f"{i}".encode(), qos=1, wait=False) for i in range(total)]
        for h in handles:
            h.wait(10)
        expected = [f"{i}".encode() for i in range(total)]
        for name, it in (("it1", it1), ("it2", it2)):
            got = []
            for m in it:
                got.append(m.payload)
                if len(got) == total:
                    break
            assert len(got) == total, f"{name} got {len(got)} of {total}"
            assert got == expected, f"{name} out of order or wrong"


# 4. After disconnect(), calls fail at once with ClosedError; connect() again works.


def _fails_closed_at_once(call) -> None:
    started = time.monotonic()
    with pytest.raises(midge.ClosedError):
        call()
    elapsed = time.monotonic() - started
    assert elapsed < 0.5, f"ClosedError took {elapsed:.2f} s"


def test_calls_after_disconnect_raise_closed_at_once(broker, topic):
    c = midge.Client(broker.url(), client_id=client_id("closed"))
    c.connect(timeout=5)
    c.disconnect(timeout=5)
    _fails_closed_at_once(lambda: c.publish(topic, b"x", qos=0))
    _fails_closed_at_once(lambda: c.publish(topic, b"x", qos=1))
    _fails_closed_at_once(lambda: c.subscribe(topic))
    _fails_closed_at_once(lambda: c.unsubscribe(topic))
    c.connect(timeout=5)
    try:
        messages = c.messages(timeout=5)
        c.subscribe(topic, qos=1, timeout=5)
        assert c.publish(topic, b"again", qos=1, timeout=5).reason_code == 0
        m = next(messages)
        assert (m.topic, m.payload) == (topic, b"again")
    finally:
        c.disconnect(timeout=5)


async def test_async_calls_after_disconnect_raise_closed_at_once(broker, topic):
    c = midge.AsyncClient(broker.url(), client_id=client_id("closed"))
    await c.connect()
    await c.disconnect()
    for make in (
        lambda: c.publish(topic, b"x", qos=0),
        lambda: c.publish(topic, b"x", qos=1),
        lambda: c.subscribe(topic),
        lambda: c.unsubscribe(topic),
    ):
        started = time.monotonic()
        with pytest.raises(midge.ClosedError):
            await asyncio.wait_for(make(), 5)
        elapsed = time.monotonic() - started
        assert elapsed < 0.5, f"ClosedError took {elapsed:.2f} s"
    await c.connect()
    try:
        messages = c.messages()
        await c.subscribe(topic, qos=1)
        assert (await c.publish(topic, b"again", qos=1)).reason_code == 0
        m = await asyncio.wait_for(messages.__anext__(), 5)
        assert (m.topic, m.payload) == (topic, b"again")
    finally:
        await c.disconnect()


# 5. A graceful disconnect loses nothing and does not fire the will.


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_graceful_disconnect_loses_nothing_and_fires_no_will(broker, topic, protocol):
    rounds = 20
    data_topic, will_topic, marker_topic = f"{topic}/data", f"{topic}/will", f"{topic}/marker"
    failures = []
    with midge.Client(broker.url(), client_id=client_id("observer")) as observer:
        seen = observer.messages(timeout=5)
        observer.subscribe([data_topic, will_topic, marker_topic], qos=0, timeout=5)
        for r in range(rounds):
            c = midge.Client(broker.url(), client_id=client_id("leaver"), protocol=protocol,
                             will=midge.Will(topic=will_topic, payload=b"died"))
            c.connect(timeout=5)
            c.subscribe(data_topic, qos=0, timeout=5)
            sent = [f"round {r} message {i}".encode() for i in range(4)]
            for payload in sent:
                c.publish(data_topic, payload, qos=0, wait=False)
            c.disconnect(timeout=5)
            marker = f"end of round {r}".encode()
            publish_marker(broker.url(), marker_topic, marker)
            got = read_until_marker(seen, marker_topic, marker)
            data = [m.payload for m in got if m.topic == data_topic]
            wills = [m.payload for m in got if m.topic == will_topic]
            if data != sent or wills:
                failures.append((r, data, wills))
    assert failures == [], f"{len(failures)} of {rounds} rounds lost messages or fired the will: {failures[:5]}"


# 6. Arguments are checked before the packet leaves.


def test_bad_timeout_is_refused_before_the_publish_leaves(broker, topic):
    marker_topic = f"{topic}/marker"
    with midge.Client(broker.url(), client_id=client_id("observer")) as observer:
        seen = observer.messages(timeout=5)
        observer.subscribe([topic, marker_topic], qos=1, timeout=5)
        with midge.Client(broker.url(), client_id=client_id("bad")) as c:
            with pytest.raises(midge.InvalidArgumentError) as info:
                c.publish(topic, b"x", qos=1, timeout=-1)
            assert info.value.argument == "timeout"
            with pytest.raises(midge.InvalidArgumentError):
                c.publish(topic, b"x", qos=0, timeout=-1, wait=False)
            # Anything the refused calls had sent would precede this on c's connection.
            c.publish(marker_topic, b"marker", qos=1, timeout=5)
        got = read_until_marker(seen, marker_topic)
        assert [(m.topic, m.payload) for m in got] == []


# 7. A publish handle can be asked twice.


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_handle_can_be_asked_twice(broker, topic, qos):
    with midge.Client(broker.url(), client_id=client_id("twice")) as c:
        h = c.publish(topic, b"x", qos=qos, wait=False)
        first = h.wait(5)
        second = h.wait(5)
        assert isinstance(first, midge.PublishResult)
        assert first == second
        assert h.done() is True
        assert h.done() is True
        assert h.wait(0) == first


@pytest.mark.parametrize("qos", [0, 1, 2])
async def test_async_publish_handle_can_be_awaited_twice(broker, topic, qos):
    async with midge.AsyncClient(broker.url(), client_id=client_id("twice")) as c:
        h = c.publish_nowait(topic, b"x", qos=qos)
        first = await asyncio.wait_for(h, 5)
        second = await asyncio.wait_for(h, 5)
        assert isinstance(first, midge.PublishResult)
        assert first == second
        assert h.done() is True
        assert h.done() is True


# 8. A timeout does not cancel the publish, and says so.


def test_timeout_does_not_cancel_the_publish(own_broker, topic):
    pid: Optional[int] = own_broker.pid
    with midge.Client(own_broker.url(), client_id=client_id("observer")) as observer:
        seen = observer.messages(timeout=10)
        observer.subscribe(topic, qos=1, timeout=5)
        c = midge.Client(own_broker.url(), client_id=client_id("slow"))
        c.connect(timeout=5)
        os.kill(pid, signal.SIGSTOP)
        try:
            with pytest.raises(midge.TimeoutError) as info:
                c.publish(topic, b"first", qos=1, timeout=0.5)
            assert "not cancelled" in str(info.value)
            assert isinstance(info.value, TimeoutError)  # the builtin too
            h = c.publish(topic, b"second", qos=1, wait=False)
            with pytest.raises(midge.TimeoutError) as info:
                h.wait(0.5)
            assert "not cancelled" in str(info.value)
            assert h.done() is False
        finally:
            os.kill(pid, signal.SIGCONT)
        result = h.wait(10)
        assert result.reason_code == 0
        assert h.done() is True
        assert h.wait(0) == result
        got = [next(seen).payload, next(seen).payload]
        assert got == [b"first", b"second"]
        c.disconnect(timeout=5)


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


def test_qos0_publishes_without_waiting_are_bounded(broker, topic):
    # Before the bound, 1,000,000 such calls added 317 MiB: every publish
    # waited in an unbounded queue in front of the driver.
    n = 300_000
    payload = b"x" * 64
    with midge.Client(broker.url(), client_id=client_id()) as c:
        for _ in range(2_000):  # warm up allocator and caches
            c.publish(f"{topic}/load", payload, wait=False)
        c.sync(timeout=30)
        before = _rss_kib()
        for _ in range(n):
            c.publish(f"{topic}/load", payload, wait=False)
        grown = _rss_kib() - before
        c.sync(timeout=60)
    print(f"RSS grew {grown} KiB over {n} QoS 0 publishes without waiting")
    # Unbounded, this grew 18.6 MiB here (debug build); bounded, 0 to a few MiB.
    assert grown < 8 * 1024, f"RSS grew {grown} KiB over {n} publishes"


# pause(): nothing in flight fails; resume() completes each publish exactly once.


def test_pause_keeps_200_qos2_publishes_pending_and_resume_completes_each_once(broker, topic):
    with midge.Client(broker.url(), client_id=client_id("watch")) as watcher:
        seen = watcher.messages(topic, timeout=10)
        watcher.subscribe(topic, qos=2, timeout=5)
        c = midge.Client(broker.url(), client_id=client_id("pausing"), clean_start=False, session_expiry=300)
        c.connect(timeout=5)
        handles = [c.publish(topic, b"p%d" % i, qos=2, wait=False) for i in range(200)]
        c.pause()
        c.resume()
        failures = []
        for h in handles:
            try:
                h.wait(10)
            except midge.MqttError as e:
                failures.append(repr(e))
        assert failures == []
        got = [next(seen).payload for _ in range(200)]
        assert sorted(got) == sorted(b"p%d" % i for i in range(200))
        # Exactly once: nothing more arrives before a marker.
        publish_marker(broker.url(), topic)
        assert read_until_marker(seen, topic) == []
        c.disconnect()
