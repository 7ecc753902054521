"""Inline reads: the thread that waits for a stream (a blocking iterator,
an event loop) reads the socket itself while the client lets it (one stream
without a filter, nothing owed by the broker). What must hold: every
message arrives, in order, through the handovers to and from the client's
own thread (a publish that waits for its PUBACK, a subscribe), cancelled
receives and reconnects."""

from __future__ import annotations

import asyncio
import threading

import pytest

import midge
from conftest import client_id


class _WatchingLoop(asyncio.SelectorEventLoop):
    """Records the descriptors the loop was asked to watch."""

    def __init__(self) -> None:
        super().__init__()
        self.readers: set[int] = set()

    def add_reader(self, fd, callback, *args):  # type: ignore[no-untyped-def]
        self.readers.add(fd)
        return super().add_reader(fd, callback, *args)


async def _collect(messages, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    got = []
    while len(got) < count:
        got.append(int((await asyncio.wait_for(messages.__anext__(), 10)).payload))
    return got


async def _rounds(url: str, topic: str) -> None:
    async with midge.AsyncClient(url, client_id=client_id()) as sub, midge.AsyncClient(
        url, client_id=client_id()
    ) as pub:
        messages = sub.messages()
        await sub.subscribe(topic, qos=1)
        sent = 0
        for round_ in range(10):
            for _ in range(50):
                pub.publish_nowait(topic, f"{sent}", qos=1)
                sent += 1
            assert await _collect(messages, 50) == list(range(sent - 50, sent)), round_
            # Each needs the broker's answer: the client reads for it, then
            # hands the socket back.
            await sub.publish(f"{topic}/out", b"x", qos=1)
            await sub.subscribe(f"{topic}/other{round_}", qos=0)


def test_an_event_loop_reads_the_socket_and_loses_nothing(broker, topic):
    loop = _WatchingLoop()
    try:
        loop.run_until_complete(_rounds(broker.url(), topic))
    finally:
        loop.close()
    # The loop's wake-up pair, and the connection's socket for the reader.
    assert len(loop.readers) >= 2


@pytest.mark.parametrize("cancel_after_a_message", [False, True])
async def test_a_cancelled_receive_on_a_loop_reader_loses_no_message(broker, topic, cancel_after_a_message):
    async with midge.AsyncClient(broker.url(), client_id=client_id()) as c:
        messages = c.messages()
        await c.subscribe(topic, qos=1)
        for i in range(20):
            if cancel_after_a_message:
                await c.publish(topic, f"{i}", qos=1)
            waiting = asyncio.ensure_future(messages.__anext__())
            await asyncio.sleep(0)
            if not waiting.done():
                waiting.cancel()
            if not cancel_after_a_message:
                await c.publish(topic, f"{i}", qos=1)
            if waiting.done() and not waiting.cancelled():
                got = waiting.result()
            else:
                got = await asyncio.wait_for(messages.__anext__(), 10)
            assert got.payload == f"{i}".encode()


async def _restored(events) -> None:  # type: ignore[no-untyped-def]
    async for event in events:
        if isinstance(event, midge.SubscriptionsRestoredEvent):
            return


async def test_a_loop_reader_goes_on_after_broker_restarts(own_broker, topic):
    """Each restart ends the connection under the waiting reader; the new
    connection's socket is watched afresh (it may reuse the descriptor)."""
    async with midge.AsyncClient(own_broker.url(), client_id=client_id(), reconnect_min_delay=0.05, reconnect_max_delay=0.2) as sub:
        messages = sub.messages()
        events = sub.events()
        await sub.subscribe(topic, qos=1)
        for restart in range(3):
            async with midge.AsyncClient(own_broker.url(), client_id=client_id()) as pub:
                await pub.publish(topic, f"{restart}", qos=1)
            assert await _collect(messages, 1) == [restart]
            waiting = asyncio.ensure_future(messages.__anext__())
            own_broker.kill()
            own_broker.start()
            await asyncio.wait_for(_restored(events), 10)
            async with midge.AsyncClient(own_broker.url(), client_id=client_id()) as pub:
                await pub.publish(topic, f"{100 + restart}", qos=1)
            assert int((await asyncio.wait_for(waiting, 10)).payload) == 100 + restart


def test_a_blocking_reader_goes_on_after_broker_restarts(own_broker, topic):
    with midge.Client(own_broker.url(), client_id=client_id(), reconnect_min_delay=0.05, reconnect_max_delay=0.2) as sub:
        messages = sub.messages(timeout=10)
        events = sub.events(timeout=10)
        sub.subscribe(topic, qos=1)
        for restart in range(3):
            got: list[bytes] = []
            reader = threading.Thread(target=lambda: got.append(next(messages).payload))
            reader.start()
            own_broker.kill()
            own_broker.start()
            for event in events:
                if isinstance(event, midge.SubscriptionsRestoredEvent):
                    break
            with midge.Client(own_broker.url(), client_id=client_id()) as pub:
                pub.publish(topic, f"{restart}", qos=1)
            reader.join(10)
            assert got == [f"{restart}".encode()]


async def _disconnected(events) -> None:  # type: ignore[no-untyped-def]
    async for event in events:
        if isinstance(event, midge.DisconnectedEvent):
            return


async def _away_while_the_broker_goes(url: str, topic: str, broker, loop: _WatchingLoop) -> None:  # type: ignore[no-untyped-def]
    async with midge.AsyncClient(url, client_id=client_id(), keep_alive=60) as sub, midge.AsyncClient(
        url, client_id=client_id()
    ) as pub:
        messages = sub.messages()
        events = sub.events()
        await sub.subscribe(topic, qos=1)
        # Until the loop watches the connection's socket for the reader.
        sent = 0
        while len(loop.readers) < 2:
            assert sent < 100, "the client never handed the socket to the loop"
            await pub.publish(topic, f"{sent}", qos=1)
            assert (await asyncio.wait_for(messages.__anext__(), 10)).payload == f"{sent}".encode()
            sent += 1
        # The consumer does something else now (no receive waits), and the
        # broker goes away.
        broker.kill()
        await asyncio.wait_for(_disconnected(events), 5)


def test_a_loop_reader_that_is_away_does_not_hide_the_end_of_the_connection(own_broker, topic):
    """While the consumer is busy (no receive waits), the end of the
    connection is still seen at once, not at the next keep-alive."""
    loop = _WatchingLoop()
    try:
        loop.run_until_complete(_away_while_the_broker_goes(own_broker.url(), topic, own_broker, loop))
    finally:
        loop.close()


def test_a_blocking_reader_that_is_away_does_not_hide_the_end_of_the_connection(own_broker, topic):
    with midge.Client(own_broker.url(), client_id=client_id(), keep_alive=60) as sub, midge.Client(
        own_broker.url(), client_id=client_id()
    ) as pub:
        messages = sub.messages(timeout=10)
        events = sub.events(timeout=5)
        sub.subscribe(topic, qos=1)
        for i in range(5):
            pub.publish(topic, f"{i}", qos=1)
            assert next(messages).payload == f"{i}".encode()
        own_broker.kill()
        assert any(isinstance(event, midge.DisconnectedEvent) for event in events)
