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
