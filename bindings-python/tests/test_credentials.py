"""A credentials provider called before every connection attempt: a broker
whose password changes between reconnects, async providers, a URL given
per attempt, and a provider that fails."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from typing import Dict, List

import pytest

import midge
from conftest import PASSWORD, USER, client_id, free_port

FAST = dict(reconnect_min_delay=0.05, reconnect_max_delay=0.2)


def test_a_password_that_changes_between_reconnects(own_broker):
    current = {"password": PASSWORD}
    calls: List[str] = []
    lock = threading.Lock()

    def credentials(server_url: str) -> midge.Credentials:
        with lock:
            calls.append(server_url)
            return {"username": USER, "password": current["password"]}

    c = midge.Client(own_broker.url("auth"), client_id=client_id("cred"), credentials=credentials, **FAST)
    c.connect(timeout=10)
    assert calls == [own_broker.url("auth")]

    # The broker restarts with a new password; the old one is refused from now on.
    own_broker.stop()
    passwd = own_broker.dir / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", str(passwd), USER, "rotated-secret"], check=True)
    with lock:
        current["password"] = "rotated-secret"
    own_broker.start()
    assert c.wait_connected(timeout=15)
    assert len(calls) >= 2
    c.publish("midge-test/cred", b"after rotation", qos=1, timeout=10)

    # The configured password alone no longer works: the provider was needed.
    stale = midge.Client(own_broker.url("auth"), username=USER, password=PASSWORD, reconnect=False)
    with pytest.raises(midge.ConnectionRefusedError):
        stale.connect(timeout=10)
    c.disconnect(timeout=10)


def test_an_async_provider_runs_on_the_clients_event_loop(broker):
    loops: List[asyncio.AbstractEventLoop] = []

    async def credentials(server_url: str) -> midge.Credentials:
        loops.append(asyncio.get_running_loop())
        await asyncio.sleep(0)
        return {"username": USER, "password": PASSWORD}

    async def main() -> None:
        async with midge.AsyncClient(broker.url("auth"), credentials=credentials) as c:
            await c.publish("midge-test/cred-async", b"x", qos=1)
            assert loops == [asyncio.get_running_loop()]

    asyncio.run(main())


def test_an_async_provider_with_the_blocking_client_is_an_error_that_says_so(broker):
    async def credentials(server_url: str) -> Dict[str, str]:
        return {}

    c = midge.Client(broker.url("auth"), credentials=credentials, reconnect=False)
    with pytest.raises(midge.TransportError, match="needs midge.AsyncClient"):
        c.connect(timeout=10)


def test_the_provider_can_give_the_url_of_this_attempt(broker):
    # A presigned WebSocket URL changes with each signature: the provider
    # gives the URL, the configured one is only the first guess.
    nothing_there = f"mqtt://127.0.0.1:{free_port()}"
    c = midge.Client(nothing_there, credentials=lambda url: {"url": broker.url("ws") + "/?sig=abc"}, reconnect=False)
    result = c.connect(timeout=10)
    assert result.session_present is False
    c.disconnect(timeout=10)


def test_a_failing_provider_fails_the_attempt_with_its_reason(broker):
    def credentials(server_url: str) -> midge.Credentials:
        raise RuntimeError("token service unreachable")

    c = midge.Client(broker.url(), credentials=credentials, reconnect=False)
    with pytest.raises(midge.TransportError, match="credentials provider failed: .*token service unreachable"):
        c.connect(timeout=10)
    bad = midge.Client(broker.url(), credentials=lambda url: {"passwd": "x"}, reconnect=False)
    with pytest.raises(midge.TransportError, match='unknown key "passwd"'):
        bad.connect(timeout=10)
    with pytest.raises(midge.InvalidArgumentError, match="credentials"):
        midge.Client(broker.url(), credentials="token")  # type: ignore[arg-type]
