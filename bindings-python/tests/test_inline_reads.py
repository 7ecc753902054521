"""Inline reads: the thread that waits for a stream (a blocking iterator,
an event loop) reads the socket itself while the client lets it (one stream
without a filter, nothing owed by the broker; for a loop, which reads
whenever the socket is readable, nothing but publish acknowledgements).
What must hold: every message arrives, in order, through the handovers to
and from the client's own thread (a publish that waits for its PUBACK, a
subscribe), cancelled receives and reconnects; a publish awaited while no
receive waits still completes."""

from __future__ import annotations

import asyncio
import threading

import pytest

import midge
from conftest import Broker, client_id, runtime_thread_switches


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


async def _serve_and_call(url: str, topic: str, count: int) -> None:
    async with midge.AsyncClient(url, client_id=client_id()) as service, midge.AsyncClient(
        url, client_id=client_id()
    ) as caller:
        requests = service.messages()
        await service.subscribe(f"{topic}/in", qos=1)
        replies = caller.messages()
        await caller.subscribe(f"{topic}/out", qos=1)

        async def serve() -> None:
            handled = 0
            async for request in requests:
                # Awaited in the loop's body: no receive of the stream waits
                # until the acknowledgement has been read.
                await asyncio.wait_for(service.publish(f"{topic}/out", request.payload, qos=1), 5)
                handled += 1
                if handled == count:
                    return

        server = asyncio.ensure_future(serve())
        for i in range(count):
            await asyncio.wait_for(caller.publish(f"{topic}/in", f"{i}", qos=1), 5)
            reply = await asyncio.wait_for(replies.__anext__(), 5)
            assert reply.payload == f"{i}".encode()
        await asyncio.wait_for(server, 5)


@pytest.fixture(scope="module")
def nodelay_broker(tmp_path_factory, certs):  # type: ignore[no-untyped-def]
    """A broker that writes each packet at once (no Nagle delay on its
    side): round trips of a few hundred microseconds, where the loop's
    handovers race the most."""
    b = Broker(tmp_path_factory.mktemp("nodelay"), certs, extra="set_tcp_nodelay true")
    yield b
    b.close()


def test_a_handler_that_awaits_its_publishes_gets_their_acknowledgements(nodelay_broker, topic):
    """Two clients that each receive and publish at QoS 1 on one loop, each
    awaiting a publish while no receive waits: the loop reads the
    acknowledgements for them (a loop that read only for a waiting receive,
    or that followed the client's handovers only through its receives, left
    such a publish waiting for good)."""
    asyncio.run(_serve_and_call(nodelay_broker.url(), topic, 2000))


async def _echo(url: str, topic: str, count: int, publish_first: bool) -> int:
    async with midge.AsyncClient(url, client_id=client_id()) as c:
        if publish_first:
            # The loop reads these acknowledgements (no stream yet): the
            # stream's reader must take the socket over from it.
            for i in range(10):
                await asyncio.wait_for(c.publish(f"{topic}/before", f"{i}", qos=1), 5)
        messages = c.messages()
        await c.subscribe(topic, qos=2)

        async def round_trip(i: int, qos: int) -> None:
            await asyncio.wait_for(c.publish(topic, f"{i}", qos=qos), 5)
            assert (await asyncio.wait_for(messages.__anext__(), 5)).payload == f"{i}".encode()

        # The first rounds hand the socket to the loop.
        for i in range(10):
            await round_trip(i, 1)
        before = runtime_thread_switches()
        for i in range(10, 10 + count):
            await round_trip(i, 1 if i % 2 else 2)
        return runtime_thread_switches() - before


@pytest.mark.parametrize("publish_first", [False, True])
def test_a_client_that_receives_and_publishes_reads_on_its_loop(broker, topic, publish_first):
    """One client subscribed to what it publishes, at QoS 1 and 2: its loop
    reads the messages and the acknowledgements (the runtime thread is not
    woken per message), also after it read acknowledgements alone."""
    woken = asyncio.run(_echo(broker.url(), topic, 290, publish_first))
    # A wake-up per acknowledgement would be 290 at least; the client's own
    # timers keep the count above zero.
    assert woken < 60, f"the runtime thread woke {woken} times for 290 round trips"


async def _receives_across_handovers(url: str, topic: str, rounds: int) -> None:
    async with midge.AsyncClient(url, client_id=client_id()) as c, midge.AsyncClient(
        url, client_id=client_id()
    ) as p:
        messages = c.messages()
        await c.subscribe(f"{topic}/in", qos=1)
        for round_ in range(rounds):
            waiting = asyncio.ensure_future(messages.__anext__())
            await asyncio.sleep(0)
            # The client takes the socket back for the SUBACK and may read
            # the message itself, handing the socket over again once the
            # SUBACK is in: the waiting receive then finds the message in
            # the stream, without reading.
            await asyncio.gather(
                c.subscribe(f"{topic}/other{round_}", qos=0),
                p.publish(f"{topic}/in", f"{round_}", qos=1),
            )
            assert (await asyncio.wait_for(waiting, 5)).payload == f"{round_}".encode()
            # No receive waits now: the loop must watch the socket it was
            # handed, or this acknowledgement stays unread.
            await asyncio.wait_for(c.publish(f"{topic}/out", b"x", qos=1), 5)


def test_a_loop_follows_handovers_its_receives_do_not_see(nodelay_broker, topic):
    asyncio.run(_receives_across_handovers(nodelay_broker.url(), topic, 200))


def test_a_publish_awaited_after_the_readers_loop_ended_completes(broker, topic):
    """The loop that read the stream has ended (`asyncio.run` returned)
    while the client lives on: a publish awaited on the next loop is not
    left to the ended one."""
    c = midge.AsyncClient(broker.url(), client_id=client_id())

    async def on_the_first_loop():  # type: ignore[no-untyped-def]
        await c.connect()
        messages = c.messages()
        await c.subscribe(topic, qos=1)
        for i in range(20):
            await asyncio.wait_for(c.publish(topic, f"{i}", qos=1), 5)
            assert (await asyncio.wait_for(messages.__anext__(), 5)).payload == f"{i}".encode()
        return messages

    async def on_the_second_loop() -> None:
        try:
            for i in range(5):
                await asyncio.wait_for(c.publish(f"{topic}/elsewhere", f"{i}", qos=1), 5)
        finally:
            await c.disconnect()

    messages = asyncio.run(on_the_first_loop())
    asyncio.run(on_the_second_loop())
    del messages
