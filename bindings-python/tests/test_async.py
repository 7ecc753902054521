"""The asyncio client."""

from __future__ import annotations

import asyncio

import pytest

import midge
from conftest import client_id


async def test_async_with_connects_and_disconnects(broker):
    async with midge.AsyncClient(broker.url(), client_id=client_id()) as c:
        assert c.status == "connected"
    assert c.status == "disconnected"


@pytest.mark.parametrize("qos", [0, 1, 2])
async def test_async_publish_subscribe(broker, topic, qos):
    async with midge.AsyncClient(broker.url(), client_id=client_id()) as c:
        granted = await c.subscribe(topic, qos=qos)
        assert granted[0].granted_qos == qos
        results = await asyncio.gather(*(c.publish(topic, f"{i}", qos=qos) for i in range(50)))
        assert all(r.reason_code == 0 for r in results)
        got = []
        async for m in c.messages():
            got.append(int(m.payload))
            if len(got) == 50:
                break
        assert sorted(got) == list(range(50))


async def test_async_does_not_block_the_loop(broker, topic):
    """The loop keeps running other tasks while midge waits on the network."""
    loop = asyncio.get_running_loop()
    lags = []

    async def ticker():
        last = loop.time()
        while True:
            await asyncio.sleep(0.001)
            now = loop.time()
            lags.append(now - last)
            last = now

    t = asyncio.create_task(ticker())
    async with midge.AsyncClient(broker.url(), client_id=client_id()) as c:
        msgs = c.messages(topic)
        await c.subscribe(topic, qos=2)
        await asyncio.gather(*(c.publish(topic, b"x", qos=2) for _ in range(200)))
        for _ in range(200):
            await msgs.__anext__()
    t.cancel()
    assert len(lags) > 0
    assert max(lags) < 0.5


async def test_async_connect_refused(broker):
    c = midge.AsyncClient(broker.url("auth"), client_id=client_id(), username="nobody", password="x")
    with pytest.raises(midge.ConnectionRefusedError) as info:
        await c.connect()
    assert info.value.reason_code in (0x86, 0x87)  # mosquitto: unknown user -> 0x87


async def test_async_unsubscribe_and_publish_nowait(broker, topic):
    async with midge.AsyncClient(broker.url(), client_id=client_id()) as c:
        await c.subscribe(topic, qos=1)
        handles = [c.publish_nowait(topic, b"n", qos=1) for _ in range(10)]
        for h in handles:
            assert (await h).reason_code == 0
        assert await c.unsubscribe(topic) == [0]


class _CountingLoop(asyncio.SelectorEventLoop):
    """A selector loop that records the descriptors midge asks it to watch."""

    def __init__(self) -> None:
        super().__init__()
        self.readers: list[int] = []

    def add_reader(self, fd, callback, *args):  # type: ignore[no-untyped-def]
        self.readers.append(fd)
        return super().add_reader(fd, callback, *args)


class _NoReaderLoop(asyncio.SelectorEventLoop):
    """A loop that cannot watch descriptors, as Windows' proactor loop."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    def add_reader(self, fd, callback, *args):  # type: ignore[no-untyped-def]
        self.refused += 1
        raise NotImplementedError


async def _round_trip(url: str, topic: str) -> list[int]:
    async with midge.AsyncClient(url, client_id=client_id()) as c:
        messages = c.messages(topic)
        await c.subscribe(topic, qos=1)
        results = await asyncio.gather(*(c.publish(topic, f"{i}", qos=1) for i in range(20)))
        assert all(r.reason_code == 0 for r in results)
        for i in range(20, 40):
            await c.publish_nowait(topic, f"{i}", qos=0)
        got = []
        while len(got) < 40:
            got.append(int((await asyncio.wait_for(messages.__anext__(), 10)).payload))
        return sorted(got)


def _run_on(loop: asyncio.AbstractEventLoop, coroutine):  # type: ignore[no-untyped-def]
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def test_async_results_reach_the_loop_through_one_watched_descriptor(broker, topic):
    """On a loop that watches descriptors, midge registers one wake-up
    descriptor for the loop, however many operations complete on it."""
    loop = _CountingLoop()
    assert _run_on(loop, _round_trip(broker.url(), topic)) == list(range(40))
    assert len(loop.readers) == 1


def test_async_works_on_a_loop_that_cannot_watch_descriptors(broker, topic):
    """A loop without add_reader (Windows' proactor) gets its results through
    call_soon_threadsafe; midge asks it once."""
    loop = _NoReaderLoop()
    assert _run_on(loop, _round_trip(broker.url(), topic)) == list(range(40))
    assert loop.refused == 1


def test_async_wake_descriptors_go_with_their_loops(broker, topic):
    """Each asyncio.run makes a new loop: the wake-up descriptors of the
    loops that are gone are closed, not piled up."""
    import gc
    import os

    def open_descriptors() -> int:
        return len(os.listdir("/proc/self/fd"))

    asyncio.run(_round_trip(broker.url(), topic))
    gc.collect()
    before = open_descriptors()
    for _ in range(15):
        asyncio.run(_round_trip(broker.url(), topic))
    gc.collect()
    assert open_descriptors() - before < 4


async def test_a_native_result_already_there_completes_the_awaitable_at_once(broker, topic):
    """The native layer's awaitables are polled once in the call that makes
    them: one whose result is there is done before it is awaited (no task
    started, no wake-up of the loop)."""
    async with midge.AsyncClient(broker.url(), client_id=client_id()) as c:
        pending = c._native.publish(topic, b"x", 1, False, None)
        pending.wait(10)  # blocks the loop for one round trip: this test only
        awaitable = pending.wait_async()
        assert awaitable.done()
        assert awaitable.result() is not None


async def test_a_cancelled_receive_loses_no_message(broker, topic):
    """Cancelling a receive that waits (asyncio.wait_for, a task cancelled)
    leaves the next message for the next receive."""
    async with midge.AsyncClient(broker.url(), client_id=client_id()) as c:
        messages = c.messages(topic)
        await c.subscribe(topic, qos=1)
        for i in range(20):
            waiting = asyncio.ensure_future(messages.__anext__())
            await asyncio.sleep(0)
            assert not waiting.done()
            waiting.cancel()
            await c.publish(topic, f"{i}", qos=1)
            got = await asyncio.wait_for(messages.__anext__(), 10)
            assert got.payload == f"{i}".encode()
            assert waiting.cancelled()


async def _collect(messages, count: int) -> list[int]:  # type: ignore[no-untyped-def]
    got = []
    while len(got) < count:
        got.append(int((await asyncio.wait_for(messages.__anext__(), 10)).payload))
    return got


async def test_a_burst_of_qos0_publishes_arrives_whole_and_in_order(broker, topic):
    """A burst of QoS 0 publishes made without yielding to the loop is
    written when the loop turns, in one write per turn and past 64 KiB in
    several: every message arrives, in order, without the keep-alive or
    another call having to push it out."""
    async with midge.AsyncClient(broker.url(), client_id=client_id()) as sub, midge.AsyncClient(
        broker.url(), client_id=client_id(), keep_alive=60
    ) as pub:
        messages = sub.messages(topic)
        await sub.subscribe(topic, qos=0)
        count = 3000
        for i in range(count):
            pub.publish_nowait(topic, f"{i:064d}", qos=0)
        assert await _collect(messages, count) == list(range(count))
        # A burst after a pause, then a lone publish: both go out.
        for i in range(count, count + 10):
            pub.publish_nowait(topic, f"{i}", qos=0)
        await asyncio.sleep(0.01)
        await pub.publish(topic, f"{count + 10}", qos=0)
        assert await _collect(messages, 11) == list(range(count, count + 11))


async def test_a_qos0_burst_goes_out_before_the_disconnect_that_follows_it(broker, topic):
    """Publishes still waiting for the loop's flush are written before a
    DISCONNECT asked for right after them, with no turn of the loop between."""
    async with midge.AsyncClient(broker.url(), client_id=client_id()) as sub:
        messages = sub.messages(topic)
        await sub.subscribe(topic, qos=0)
        pub = midge.AsyncClient(broker.url(), client_id=client_id(), keep_alive=60)
        await pub.connect()
        for i in range(500):
            pub.publish_nowait(topic, f"{i}", qos=0)
        await pub.disconnect()
        assert await _collect(messages, 500) == list(range(500))
