"""Acknowledgements read where the publishes are waited for: while a client
without message streams waits for its QoS 1/2 publishes, the event loop
that awaits them (`AsyncClient`) or the thread that waits (`Client`) reads
the connection's socket and completes them itself (the runtime thread is
not woken per acknowledgement). What must hold: every publish completes,
once, through handovers to and from the client's own thread (a subscribe,
a stream made later, a second loop, several waiting threads), and the loop
stops watching when the client goes."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time

import pytest

import midge
from conftest import client_id, runtime_thread_switches


class _WatchingLoop(asyncio.SelectorEventLoop):
    """Records the descriptors the loop was asked to watch, and which it
    watches now."""

    def __init__(self) -> None:
        super().__init__()
        self.readers: set[int] = set()
        self.watching: set[int] = set()

    def add_reader(self, fd, callback, *args):  # type: ignore[no-untyped-def]
        self.readers.add(fd)
        self.watching.add(fd)
        return super().add_reader(fd, callback, *args)

    def remove_reader(self, fd):  # type: ignore[no-untyped-def]
        self.watching.discard(fd)
        return super().remove_reader(fd)


class _WakeCountingLoop(_WatchingLoop):
    """Counts how often midge's loop wake-up runs: the reader callback on
    the socket pair that other threads write a byte to."""

    def __init__(self) -> None:
        super().__init__()
        self.wakeups = 0

    def add_reader(self, fd, callback, *args):  # type: ignore[no-untyped-def]
        if type(callback).__name__ == "LoopDrain":
            drain = callback

            def counted(*a):  # type: ignore[no-untyped-def]
                self.wakeups += 1
                return drain(*a)

            callback = counted
        return super().add_reader(fd, callback, *args)


def _run(loop: _WatchingLoop, coroutine) -> None:  # type: ignore[no-untyped-def]
    _run_for(loop, coroutine)


def _run_for(loop: _WatchingLoop, coroutine):  # type: ignore[no-untyped-def]
    asyncio.set_event_loop(loop)
    try:
        return loop.run_until_complete(coroutine)
    finally:
        asyncio.set_event_loop(None)


async def _received(messages, count: int) -> list[bytes]:  # type: ignore[no-untyped-def]
    got = []
    while len(got) < count:
        got.append((await asyncio.wait_for(messages.__anext__(), 10)).payload)
    return got


async def _publish_and_check(url: str, topic: str, loop: _WatchingLoop) -> None:
    async with midge.AsyncClient(url, client_id=client_id()) as sub:
        messages = sub.messages()
        await sub.subscribe(topic, qos=2)
        before = set(loop.readers)
        async with midge.AsyncClient(url, client_id=client_id()) as pub:
            sent = []
            for qos in (1, 2):
                for batch in range(5):
                    payloads = [f"{qos}/{batch}/{i}".encode() for i in range(40)]
                    # A window of publishes in flight, then one at a time.
                    await asyncio.wait_for(asyncio.gather(*(pub.publish(topic, p, qos=qos) for p in payloads)), 10)
                    for p in payloads[:5]:
                        await asyncio.wait_for(pub.publish(topic, p, qos=qos), 10)
                    sent += payloads + payloads[:5]
            # The publisher's socket was watched by this loop.
            assert loop.readers - before, "the loop never watched the publisher's socket"
        assert await _received(messages, len(sent)) == sent


def test_a_publisher_loop_reads_its_acknowledgements_and_loses_nothing(broker, topic):
    loop = _WatchingLoop()
    try:
        _run(loop, _publish_and_check(broker.url(), topic, loop))
        # Once the clients are closed, the loop watches its own wake-up
        # socket pair only.
        assert len(loop.watching) <= 1, loop.watching
    finally:
        loop.close()


async def _publishes(client: midge.AsyncClient, topic: str, count: int) -> None:
    for i in range(count):
        await asyncio.wait_for(client.publish(topic, f"{i}", qos=1), 10)


def test_acknowledgements_read_on_the_loop_do_not_wake_it_again(broker, topic):
    """The loop reads each PUBACK in its reader callback and completes the
    publish there. The awaiting future runs as that callback returns; it
    used to be queued through the socket pair, and the loop woke itself
    once per publish."""
    count = 200
    loop = _WakeCountingLoop()
    try:
        client = midge.AsyncClient(broker.url(), client_id=client_id())
        _run(loop, client.connect())
        _run(loop, _publishes(client, topic, 20))
        before = loop.wakeups
        _run(loop, _publishes(client, topic, count))
        woken = loop.wakeups - before
        _run(loop, client.disconnect())
        assert len(loop.readers) >= 2, "the loop never watched the socket"
        assert woken < count // 20, f"{woken} loop wake-ups for {count} publishes"
    finally:
        loop.close()


async def _receives_and_publishes(url: str, topic: str, loop: _WakeCountingLoop, count: int) -> int:
    async with midge.AsyncClient(url, client_id=client_id()) as client:
        messages = client.messages()
        await client.subscribe(topic, qos=1)
        reader = asyncio.ensure_future(_received(messages, 20 + count))
        await _publishes(client, topic, 20)
        before = loop.wakeups
        await _publishes(client, topic, count)
        woken = loop.wakeups - before
        assert await asyncio.wait_for(reader, 10) == [f"{i}".encode() for i in range(20)] + [
            f"{i}".encode() for i in range(count)
        ]
    return woken


def test_a_client_that_receives_and_publishes_does_not_wake_its_loop_again(broker, topic):
    """The same for one client with an iterator: its loop reads the
    messages and the PUBACKs in the stream's reader callback."""
    count = 200
    loop = _WakeCountingLoop()
    try:
        woken = _run_for(loop, _receives_and_publishes(broker.url(), topic, loop, count))
        assert woken < count // 20, f"{woken} loop wake-ups for {count} publishes"
    finally:
        loop.close()


def test_a_publisher_moves_to_the_loop_that_awaits_it(broker, topic):
    """A client used on one loop, then on another: the second loop takes
    over the socket (the first one is closed and reads nothing)."""
    client = midge.AsyncClient(broker.url(), client_id=client_id())
    first, second = _WatchingLoop(), _WatchingLoop()
    try:
        _run(first, client.connect())
        _run(first, _publishes(client, topic, 20))
        assert len(first.readers) >= 2, "the first loop never watched the socket"
        first.close()
        _run(second, _publishes(client, topic, 20))
        assert len(second.readers) >= 2, "the second loop never watched the socket"
        _run(second, client.disconnect())
        assert len(second.watching) <= 1, second.watching
    finally:
        first.close()
        second.close()


async def _then_a_stream(url: str, topic: str, loop: _WatchingLoop) -> None:
    async with midge.AsyncClient(url, client_id=client_id()) as c:
        before = set(loop.watching)
        await _publishes(c, f"{topic}/elsewhere", 50)
        assert loop.watching - before, "the loop never watched the socket for acknowledgements"
        # A stream now: its reader is the only one to watch the socket (one
        # registration per descriptor), so the acknowledgements' watch ends
        # at once; the client reads the socket for the stream (or hands it
        # to the stream's reader), and the publishes still complete.
        messages = c.messages()
        assert not (loop.watching - before), loop.watching
        await c.subscribe(topic, qos=1)
        await _publishes(c, topic, 50)
        assert await _received(messages, 50) == [f"{i}".encode() for i in range(50)]
        await _publishes(c, f"{topic}/elsewhere", 50)


def test_a_stream_made_after_publishes_takes_the_socket_over(broker, topic):
    loop = _WatchingLoop()
    try:
        _run(loop, _then_a_stream(broker.url(), topic, loop))
    finally:
        loop.close()


async def _dropped(url: str, topic: str, loop: _WatchingLoop) -> None:
    client = midge.AsyncClient(url, client_id=client_id())
    await client.connect()
    # The loop's wake-up socket pair is watched from the connect on.
    before = set(loop.watching)
    await _publishes(client, topic, 10)
    watched = loop.watching - before
    assert watched, "the loop never watched the socket"
    del client
    gc.collect()
    # The removal is scheduled on the loop by whichever thread lets the
    # watch go last (the runtime thread may, once it gets the GIL): no
    # event to wait for, so look every few milliseconds, for 5 s at most.
    deadline = loop.time() + 5
    while loop.watching & watched:
        assert loop.time() < deadline, f"still watching {loop.watching & watched} after the client was dropped"
        await asyncio.sleep(0.005)


def test_a_publisher_dropped_without_disconnect_is_no_longer_watched(broker, topic):
    loop = _WatchingLoop()
    try:
        _run(loop, _dropped(broker.url(), topic, loop))
    finally:
        loop.close()


async def _broker_goes(url: str, topic: str, broker) -> None:  # type: ignore[no-untyped-def]
    async with midge.AsyncClient(url, client_id=client_id(), keep_alive=60, reconnect=False) as pub:
        events = pub.events()
        await _publishes(pub, topic, 10)
        broker.kill()
        async for event in events:
            if isinstance(event, midge.DisconnectedEvent):
                return


def test_the_end_of_the_connection_is_seen_while_the_loop_reads(own_broker, topic):
    """The loop that watches for acknowledgements also sees the connection
    end, at once, not at the next keep-alive a minute on."""
    asyncio.run(asyncio.wait_for(_broker_goes(own_broker.url(), topic, own_broker), 5))


def _consuming(sub: midge.Client, topic: str, count: int) -> tuple[threading.Thread, list[bytes]]:
    """Subscribes `sub` to `topic` (QoS 2) and starts a thread that takes
    `count` messages from its iterator (which waits meanwhile, and reads its
    socket itself: see test_inline_reads.py); their payloads, as they come."""
    messages = sub.messages(timeout=10)
    sub.subscribe(topic, qos=2)
    got: list[bytes] = []
    consumer = threading.Thread(target=lambda: got.extend(next(messages).payload for _ in range(count)))
    consumer.start()
    return consumer, got


def test_a_waiting_thread_reads_its_acknowledgements(broker, topic):
    """`Client.publish` waits for the acknowledgement on the calling thread,
    which reads it itself: the runtime thread is not woken per publish."""
    with midge.Client(broker.url(), client_id=client_id()) as sub, midge.Client(
        broker.url(), client_id=client_id()
    ) as pub:
        sent = [f"{i}".encode() for i in range(300)]
        consumer, got = _consuming(sub, topic, len(sent))
        # The first waits hand the socket over.
        for payload in sent[:10]:
            pub.publish(topic, payload, qos=1, timeout=10)
        before = runtime_thread_switches()
        for i, payload in enumerate(sent[10:]):
            pub.publish(topic, payload, qos=1 if i % 2 else 2, timeout=10)
        woken = runtime_thread_switches() - before
        consumer.join(10)
        assert got == sent
        # A wake-up per acknowledgement would be 290 at least; the client's
        # own timer (once a second) and the subscriber's keep the count low.
        assert woken < 60, f"the runtime thread woke {woken} times for 290 publishes"


@pytest.mark.parametrize("consumer_thread", [True, False])
def test_a_blocking_client_that_receives_and_publishes_reads_on_its_threads(broker, topic, consumer_thread):
    """One `Client` subscribed to what it publishes, waiting for each publish
    (QoS 1 and 2), with its iterator on another thread or on the same one (a
    handler that answers each message): the waiting threads read the
    messages and the acknowledgements between them, and the runtime thread
    is not woken per message."""
    with midge.Client(broker.url(), client_id=client_id()) as c:
        messages = c.messages(timeout=10)
        c.subscribe(topic, qos=2)
        sent = [f"{i}".encode() for i in range(300)]
        got: list[bytes] = []
        if consumer_thread:
            consumer = threading.Thread(target=lambda: got.extend(next(messages).payload for _ in sent))
            consumer.start()

        def round_trip(i: int, payload: bytes) -> None:
            c.publish(topic, payload, qos=1 if i % 2 else 2, timeout=10)
            if not consumer_thread:
                got.append(next(messages).payload)

        # The first waits hand the socket over.
        for i, payload in enumerate(sent[:10]):
            round_trip(i, payload)
        before = runtime_thread_switches()
        for i, payload in enumerate(sent[10:], 10):
            round_trip(i, payload)
        woken = runtime_thread_switches() - before
        if consumer_thread:
            consumer.join(10)
        assert got == sent
        # A wake-up per acknowledgement would be 290 at least; the client's
        # own timer (once a second) keeps the count above zero.
        assert woken < 60, f"the runtime thread woke {woken} times for 290 round trips"


def test_a_paced_publisher_that_collects_its_handles_later_reads_its_acknowledgements(broker, topic):
    """`Client.publish(wait=False)` at a steady pace (a device reporting at
    a fixed rate), the handles collected at the end: the publishing thread
    reads the acknowledgements that arrived right after each publish, so
    the runtime thread does not wake per publish (it did, once per
    acknowledgement, before: about 25 µs of its CPU per message at 2,000
    msg/s)."""
    with midge.Client(broker.url(), client_id=client_id()) as sub, midge.Client(
        broker.url(), client_id=client_id()
    ) as pub:
        sent = [f"{i}".encode() for i in range(300)]
        consumer, got = _consuming(sub, topic, len(sent))
        handles = []
        before = runtime_thread_switches()
        for i, payload in enumerate(sent):
            handles.append(pub.publish(topic, payload, qos=1 if i % 2 else 2, wait=False))
            # The pace of the publisher under test (a fixed rate), not a
            # wait for a condition.
            time.sleep(0.001)
        woken = runtime_thread_switches() - before
        for h in handles:
            h.wait(10)
        consumer.join(10)
        # In order within each QoS (the broker may pass a QoS 1 message
        # before an earlier QoS 2 one).
        for odd in (0, 1):
            assert [m for m in got if int(m) % 2 == odd] == [m for m in sent if int(m) % 2 == odd]
        assert len(got) == len(sent)
        # One wake-up per acknowledgement would be 300 at least; the
        # handover, the client's timer (once a second) and the
        # subscriber's keep the count above zero.
        assert woken < 60, f"the runtime thread woke {woken} times for 300 paced publishes"


def test_handles_nobody_waits_for_still_complete(broker, topic):
    with midge.Client(broker.url(), client_id=client_id()) as pub:
        pub.publish(topic, b"first", qos=1, timeout=10)
        handles = [pub.publish(topic, f"{i}", qos=1, wait=False) for i in range(20)]
        # done() reads what has arrived; without it the client reads within
        # about a second.
        deadline = time.monotonic() + 5
        while not all(h.done() for h in handles):
            assert time.monotonic() < deadline, "handles left pending"
        for h in handles:
            h.wait(0)


def test_several_threads_wait_for_their_publishes_on_one_client(broker, topic):
    errors: list[BaseException] = []
    with midge.Client(broker.url(), client_id=client_id()) as pub:

        def publish_many(n: int) -> None:
            try:
                for i in range(100):
                    pub.publish(f"{topic}/{n}", f"{i}", qos=1 + i % 2, timeout=10)
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=publish_many, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not any(t.is_alive() for t in threads), "a publishing thread hangs"
    assert errors == []


def test_a_burst_of_qos0_publishes_arrives_whole_and_in_order(broker, topic):
    """`Client.publish` at QoS 0 in a burst (a loop that publishes as fast
    as it can): the burst leaves in a few writes, its last publishes written
    within about 200 µs by midge's flusher thread, though nothing follows
    them; a QoS 1 publish made right after a burst arrives after it."""
    with midge.Client(broker.url(), client_id=client_id()) as sub, midge.Client(
        broker.url(), client_id=client_id()
    ) as pub:
        first = [f"a{i}".encode() for i in range(500)]
        second = [f"b{i}".encode() for i in range(500)] + [b"last"]
        messages = sub.messages(timeout=10)
        sub.subscribe(topic, qos=1)
        got: list[bytes] = []
        first_in = threading.Event()

        def consume() -> None:
            for message in messages:
                got.append(message.payload)
                if len(got) == len(first):
                    first_in.set()
                if len(got) == len(first) + len(second):
                    return

        consumer = threading.Thread(target=consume)
        consumer.start()
        for payload in first:
            pub.publish(topic, payload, qos=0)
        assert first_in.wait(10), f"{len(got)} of {len(first)} messages arrived"
        assert got == first
        for payload in second[:-1]:
            pub.publish(topic, payload, qos=0, wait=False)
        pub.publish(topic, second[-1], qos=1, timeout=10)
        consumer.join(10)
        assert got == first + second
