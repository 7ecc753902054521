"""midge's lines in the standard logging module: the connection story on the
``midge`` logger, one DEBUG line per packet on ``midge.packets``, and never a
secret in either."""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import sys
import threading
from typing import Callable, Iterator, List

import pytest

import midge
from conftest import PASSWORD, USER, client_id, free_port

FAST = dict(reconnect_min_delay=0.05, reconnect_max_delay=0.2)


class Collect(logging.Handler):
    """Keeps every record; waits (on a condition, no polling) for one."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: List[logging.LogRecord] = []
        self._changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        with self._changed:
            self.records.append(record)
            self._changed.notify_all()

    def wait_for(self, what: Callable[[logging.LogRecord], bool], timeout: float = 10.0) -> logging.LogRecord:
        with self._changed:
            found: List[logging.LogRecord] = []

            def seen() -> bool:
                found[:] = [r for r in self.records if what(r)]
                return bool(found)

            if not self._changed.wait_for(seen, timeout):
                lines = "\n".join(f"{r.name} {r.levelname} {r.getMessage()}" for r in self.records)
                raise AssertionError(f"no such record in:\n{lines}")
            return found[0]

    def messages(self) -> List[str]:
        with self._changed:
            return [r.getMessage() for r in self.records]


@pytest.fixture
def logs() -> Iterator[Collect]:
    handler = Collect()
    root = logging.getLogger("midge")
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(logging.NOTSET)
    logging.getLogger("midge.packets").setLevel(logging.NOTSET)


def starts(prefix: str) -> Callable[[logging.LogRecord], bool]:
    return lambda r: r.getMessage().startswith(prefix)


def test_the_connection_story_at_info(own_broker, logs):
    logging.getLogger("midge").setLevel(logging.INFO)
    c = midge.Client(own_broker.url(), client_id=client_id("log"), **FAST)
    c.connect(timeout=10)
    connected = logs.wait_for(starts("connected to "))
    assert connected.name == "midge" and connected.levelno == logging.INFO
    assert re.fullmatch(
        r"connected to mqtt://127\.0\.0\.1:\d+ \(client id \"log-\w+\", new session, keep alive 60 s\)",
        connected.getMessage(),
    ), connected.getMessage()
    assert logs.messages()[0] == f"connecting to {own_broker.url()}"

    own_broker.kill()
    lost = logs.wait_for(starts("disconnected: "))
    assert lost.levelno == logging.WARNING
    assert re.fullmatch(
        r"disconnected: .+; reconnecting in \d+ ms \(attempt 1\)", lost.getMessage()
    ), lost.getMessage()
    logs.wait_for(starts(f"connecting to {own_broker.url()} (reconnect attempt "))
    own_broker.start()
    c.wait_connected(timeout=15)
    again = logs.wait_for(lambda r: r is not connected and r.getMessage().startswith("connected to "))
    assert again.levelno == logging.INFO

    c.disconnect(timeout=10)
    bye = logs.wait_for(starts("disconnected by the application"))
    assert bye.levelno == logging.INFO
    # No packet lines: midge.packets was not at DEBUG.
    assert not [r for r in logs.records if r.name == "midge.packets"]


def test_one_debug_line_per_packet_and_no_secret(broker, topic, logs):
    logging.getLogger("midge.packets").setLevel(logging.DEBUG)
    logging.getLogger("midge").setLevel(logging.INFO)
    c = midge.Client(broker.url("auth"), client_id=client_id("pkt"), username=USER, password=PASSWORD)
    c.connect(timeout=10)
    c.subscribe(topic, qos=1, timeout=10)
    c.publish(topic, b"payload-not-for-logs", qos=1, timeout=10)
    logs.wait_for(starts("received PUBACK id="))
    logs.wait_for(lambda r: r.getMessage().startswith("received PUBLISH") and topic in r.getMessage())
    c.disconnect(timeout=10)
    logs.wait_for(starts("disconnected by the application"))

    packets = [r for r in logs.records if r.name == "midge.packets"]
    assert packets and all(r.levelno == logging.DEBUG for r in packets)
    text = [r.getMessage() for r in packets]
    connect = next(m for m in text if m.startswith("sent CONNECT "))
    assert f'username="{USER}"' in connect and "password=<hidden>" in connect, connect
    assert any(re.fullmatch(rf'sent SUBSCRIBE id=\d+ filter="{topic}"@1 size=\d+B', m) for m in text), text
    assert any(
        re.fullmatch(rf'sent PUBLISH id=\d+ qos=1 topic="{topic}" payload=20B size=\d+B', m) for m in text
    ), text
    assert any(m.startswith("received SUBACK id=") and "granted=1" in m for m in text), text
    assert "sent DISCONNECT reason=Success (0x00) size=2B" in text or "sent DISCONNECT reason=Success (0x00) size=4B" in text, text
    for m in logs.messages():
        assert PASSWORD not in m and "payload-not-for-logs" not in m, m


def test_payload_bytes_only_when_asked(broker, topic, logs):
    logging.getLogger("midge.packets").setLevel(logging.DEBUG)
    c = midge.Client(broker.url(), client_id=client_id("pl"), log_payloads=True)
    c.connect(timeout=10)
    c.publish(topic, b"21.5", qos=1, timeout=10)
    c.publish(topic, b"\x00\xff", qos=1, timeout=10)
    sent = logs.wait_for(lambda r: r.getMessage().startswith("sent PUBLISH") and '"21.5"' in r.getMessage())
    assert 'payload=4B "21.5"' in sent.getMessage()
    logs.wait_for(lambda r: "payload=2B 0x00ff" in r.getMessage())
    c.disconnect(timeout=10)
    with pytest.raises(midge.InvalidArgumentError, match="log_payloads"):
        midge.Client(broker.url(), log_payloads="yes")  # type: ignore[arg-type]


def test_the_default_level_keeps_warnings_only(logs):
    # No logging configured: Python's default WARNING. Connecting to a port
    # nobody listens on gives the warning, and no INFO line comes before it
    # (the lines are relayed in order by one thread).
    assert midge._client._trace_level() == logging.WARNING
    c = midge.Client(f"mqtt://127.0.0.1:{free_port()}", client_id=client_id("w"), reconnect=False)
    with pytest.raises(midge.TransportError):
        c.connect(timeout=10)
    first = logs.wait_for(starts("disconnected: "))
    assert first.levelno == logging.WARNING
    assert first.getMessage().endswith("; not reconnecting")
    assert logs.records[0] is first


def test_async_client_logs_the_same_lines(broker, logs):
    logging.getLogger("midge").setLevel(logging.INFO)

    async def main() -> None:
        async with midge.AsyncClient(broker.url(), client_id=client_id("alog")) as c:
            await c.publish("midge-test/alog", b"x", qos=1)

    asyncio.run(main())
    logs.wait_for(starts("connected to "))
    logs.wait_for(starts("disconnected by the application"))


def test_the_last_lines_are_logged_before_the_process_exits(broker):
    # The lines are logged on midge's completion thread; the exit hook lets
    # it finish what it holds before the interpreter goes.
    script = f"""
import logging, midge
logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
c = midge.Client({broker.url()!r})
c.connect(timeout=10)
c.disconnect(timeout=10)
"""
    for _ in range(5):
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stderr.splitlines()[-1] == "midge disconnected by the application", result.stderr
