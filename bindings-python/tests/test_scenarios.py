"""The shared lifecycle scenarios (tests/scenarios/lifecycle.tsv) through the
Python API. The Kotlin and npm suites run the same list; an id missing here
fails, so a runtime cannot quietly skip a row."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

import midge
from conftest import client_id, free_port

SCENARIOS = Path(__file__).resolve().parents[2] / "tests" / "scenarios" / "lifecycle.tsv"
RETRY = dict(reconnect_on_initial_failure=True, reconnect_min_delay=0.02, reconnect_max_delay=0.04)


def load() -> List[Tuple[str, str, str]]:
    rows = []
    for line in SCENARIOS.read_text().splitlines():
        if line and not line.startswith("#"):
            scenario_id, expected, description = line.split("\t")
            rows.append((scenario_id, expected, description))
    return rows


def outcome_of(e: BaseException) -> str:
    """The scenario vocabulary for what the application saw: interrupted
    work has its own type (InterruptedOperationError, a ClosedError); a
    closed client and a stopped connect are both ClosedError, told apart by
    the message (SEMANTICS.md)."""
    text = str(e)
    if isinstance(e, midge.InterruptedOperationError):
        return "interrupted"
    if isinstance(e, midge.ClosedError):
        if "is closed" in text:
            return "closed"
        if "disconnected by the client" in text:
            return "stopped"
    if isinstance(e, midge.TransportError):
        return "transport"
    return f"unexpected {type(e).__name__}: {text}"


def outcome(fn: Callable[[], object]) -> str:
    try:
        fn()
    except midge.MqttError as e:
        return outcome_of(e)
    return "ok"


def closed_client(broker) -> midge.Client:
    c = midge.Client(broker.url(), client_id=client_id("scn"))
    c.connect(timeout=5)
    c.disconnect()
    return c


def offline_client(**options) -> midge.Client:
    """A client whose broker is unreachable, retrying its first connection."""
    return midge.Client(f"mqtt://127.0.0.1:{free_port()}", client_id=client_id("scn"), **{**RETRY, **options})


async def nothing(c: midge.AsyncClient) -> None:
    return None


async def start_retrying(c: midge.AsyncClient) -> None:
    # The wait ends; the connection attempts go on (SEMANTICS.md: a timeout
    # of a wait cancels nothing).
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(c.connect(), 0.05)


def pending_then_disconnect(call: Callable[[midge.AsyncClient], Any], prepare: Callable[[midge.AsyncClient], Any] = nothing) -> str:
    """Start `call` on an AsyncClient whose broker is unreachable, then
    disconnect. The coroutine hands its command to the driver before its
    first await, so one pass of the loop puts it in flight: no sleeping."""

    async def run() -> str:
        c = midge.AsyncClient(f"mqtt://127.0.0.1:{free_port()}", client_id=client_id("scn"), **RETRY)
        await prepare(c)
        task = asyncio.ensure_future(call(c))
        await asyncio.sleep(0)
        await c.disconnect()
        try:
            await asyncio.wait_for(task, 10)
        except midge.MqttError as e:
            return outcome_of(e)
        return "ok"

    return asyncio.run(run())


def queued_publish() -> str:
    c = offline_client()
    with pytest.raises(midge.TimeoutError):
        c.connect(timeout=0.05)
    handle = c.publish("scn/q", b"x", qos=1, wait=False)
    c.disconnect()
    return outcome(lambda: handle.wait(5))


def publish_before_connect() -> str:
    c = offline_client()
    handle = c.publish("scn/q", b"x", qos=1, wait=False)
    c.disconnect()
    return outcome(lambda: handle.wait(5))


def queued_subscribe() -> str:
    return pending_then_disconnect(lambda c: c.subscribe("scn/#", qos=1), prepare=start_retrying)


def disconnect_while_retrying() -> str:
    return pending_then_disconnect(lambda c: c.connect())


def first_refused() -> str:
    c = midge.Client(f"mqtt://127.0.0.1:{free_port()}", client_id=client_id("scn"))
    return outcome(lambda: c.connect(timeout=5))


def retries_numbered() -> str:
    c = offline_client()
    events = c.events(timeout=10)
    with pytest.raises(midge.TimeoutError):
        c.connect(timeout=0.3)
    attempts = []
    for event in events:
        if isinstance(event, midge.DisconnectedEvent):
            attempts.append(event.attempt)
            if len(attempts) == 3:
                break
    c.disconnect()
    return "attempts:" + ",".join(map(str, attempts))


def graceful(broker) -> str:
    watcher = midge.Client(broker.url(), client_id=client_id("scn-watch"))
    watcher.connect(timeout=5)
    seen = watcher.messages("scn/graceful/#", timeout=5)
    watcher.subscribe("scn/graceful/#", qos=1)
    cid = client_id("scn-graceful")
    c = midge.Client(broker.url(), client_id=cid, will=midge.Will(f"scn/graceful/will/{cid}", b"gone", qos=1))
    c.connect(timeout=5)
    c.subscribe(f"scn/graceful/data/{cid}", qos=0)
    for i in range(4):
        c.publish(f"scn/graceful/data/{cid}", b"d%d" % i, qos=0, wait=False)
    c.disconnect()
    watcher.publish(f"scn/graceful/marker/{cid}", b"end", qos=1)
    delivered = will = 0
    for m in seen:
        if m.topic.endswith(f"marker/{cid}"):
            break
        delivered += m.topic == f"scn/graceful/data/{cid}"
        will += m.topic == f"scn/graceful/will/{cid}"
    watcher.disconnect()
    return f"delivered:{delivered},will:{will}"


RUNNERS: Dict[str, Callable[..., str]] = {
    "publish-qos0-after-disconnect": lambda b: outcome(lambda: closed_client(b).publish("scn/t", b"x", qos=0)),
    "publish-qos1-after-disconnect": lambda b: outcome(lambda: closed_client(b).publish("scn/t", b"x", qos=1)),
    "subscribe-after-disconnect": lambda b: outcome(lambda: closed_client(b).subscribe("scn/#", qos=1)),
    "queued-qos1-publish-at-disconnect": lambda b: queued_publish(),
    "queued-qos1-publish-before-connect": lambda b: publish_before_connect(),
    "queued-subscribe-at-disconnect": lambda b: queued_subscribe(),
    "disconnect-while-retrying-first-connection": lambda b: disconnect_while_retrying(),
    "first-connection-refused": lambda b: first_refused(),
    "retries-are-numbered": lambda b: retries_numbered(),
    "graceful-disconnect": graceful,
}


@pytest.mark.parametrize("scenario_id,expected,description", load(), ids=[r[0] for r in load()])
def test_scenario(broker, scenario_id: str, expected: str, description: str) -> None:
    assert scenario_id in RUNNERS, f"no Python implementation of scenario {scenario_id!r}: {description}"
    assert RUNNERS[scenario_id](broker) == expected, description


def test_every_implementation_is_in_the_list() -> None:
    assert sorted(RUNNERS) == sorted(r[0] for r in load())
