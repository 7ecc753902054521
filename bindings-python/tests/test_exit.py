"""The interpreter exits cleanly after asyncio use (issue item 7).

midge completes asyncio futures from its tokio threads. One that entered
Python while the interpreter finalized crashed the process after the
README's own asyncio quick start had printed the right output (SIGSEGV, or
SIGABRT with "Fatal Python error: PyGILState_Release ... finalizing"), in
about one run of five, more often after an automatic reconnect. Each run
here is a fresh interpreter (a subprocess) that must exit with code 0 and
print exactly what it should.
"""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import List

import pytest

from conftest import PACKAGE_DIR, Broker

RUN_TIMEOUT = 30
QUICK_START_RUNS = 20
RECONNECT_RUNS = 10

READMES = {
    "bindings-python/README.md": PACKAGE_DIR / "README.md",
    "README.md": PACKAGE_DIR.parent / "README.md",
}


def asyncio_quick_start(readme: Path) -> str:
    """The README's asyncio quick start: its one Python block that runs an AsyncClient."""
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), re.S)
    found = [b for b in blocks if "midge.AsyncClient(" in b and "asyncio.run(main())" in b]
    assert len(found) == 1, f"{readme}: expected one asyncio quick start, found {len(found)}"
    return found[0]


def run(script: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT, cwd=script.parent)


def check_exit(result: subprocess.CompletedProcess, what: str) -> None:
    assert result.returncode == 0, (
        f"{what}: exit code {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    assert result.stderr == "", f"{what}: printed to stderr:\n{result.stderr}"


@pytest.mark.parametrize("readme", list(READMES), ids=list(READMES))
def test_readme_asyncio_quick_start_exits_cleanly(own_broker: Broker, tmp_path: Path, readme: str) -> None:
    """20 runs of the quick start as printed (only the broker URL and, so
    that nothing else on the broker shows up, the topic root replaced); the
    broker restarts halfway, on the same port."""
    code = asyncio_quick_start(READMES[readme])
    assert '"mqtt://localhost:1883"' in code and '"greenhouse/' in code
    root = f"midge-exit-{uuid.uuid4().hex[:10]}"
    script = tmp_path / "quick_start.py"
    script.write_text(code.replace("mqtt://localhost:1883", own_broker.url()).replace('"greenhouse/', f'"{root}/'))
    for i in range(QUICK_START_RUNS):
        if i == QUICK_START_RUNS // 2:
            own_broker.stop()
            own_broker.start()
        result = run(script)
        check_exit(result, f"run {i + 1} of {QUICK_START_RUNS}")
        assert result.stdout == f"{root}/temp b'21.5'\n", f"run {i + 1}: {result.stdout!r}"


# Connects, then waits (printing "ready") for the test to restart the broker,
# until a second ConnectedEvent (an automatic reconnect); then round-trips a
# message and exits from inside `async with`. An awaitable left pending on a
# filter nothing matches is cancelled by asyncio.run at the end.
RECONNECT_SCRIPT = '''
import asyncio
import sys

import midge

URL, TOPIC = sys.argv[1], sys.argv[2]


async def main():
    async with midge.AsyncClient(URL, reconnect_min_delay=0.05, reconnect_max_delay=0.5) as client:
        await client.subscribe(TOPIC + "/#", qos=1)
        messages = client.messages(TOPIC + "/#")
        left_pending = asyncio.ensure_future(client.messages(TOPIC + "/never").__anext__())
        print("ready", flush=True)
        connected = []
        async for event in client.events():
            if isinstance(event, midge.ConnectedEvent):
                connected.append(event.result.reconnected)
                if len(connected) == 2:
                    break
        print("connected", connected, flush=True)
        await client.subscribe(TOPIC + "/#", qos=1)
        await client.publish(TOPIC + "/after", b"back", qos=1)
        async for message in messages:
            print(message.topic, message.payload, flush=True)
            break
        assert not left_pending.done()


asyncio.run(main())
'''


def test_exit_after_automatic_reconnect(own_broker: Broker, tmp_path: Path) -> None:
    script = tmp_path / "reconnect.py"
    script.write_text(RECONNECT_SCRIPT)
    for i in range(RECONNECT_RUNS):
        topic = f"midge-exit-{uuid.uuid4().hex[:10]}"
        proc = subprocess.Popen([sys.executable, str(script), own_broker.url(), topic], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=tmp_path)
        try:
            ready = proc.stdout.readline()
            assert ready == "ready\n", f"run {i + 1}: {ready!r} {proc.stderr.read() if proc.poll() is not None else ''}"
            own_broker.stop()
            own_broker.start()
            out, err = proc.communicate(timeout=RUN_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        lines: List[str] = (ready + out).splitlines()
        check_exit(subprocess.CompletedProcess(proc.args, proc.returncode, ready + out, err),
                   f"run {i + 1} of {RECONNECT_RUNS}")
        assert lines == ["ready", "connected [False, True]", f"{topic}/after b'back'"], f"run {i + 1}: {lines}"


# An atexit hook registered before `import midge` runs after midge's own
# (last-in first-out), when midge threads no longer enter Python: awaiting
# then fails at once instead of waiting forever.
LATE_SCRIPT = '''
import asyncio
import atexit
import sys


def late():
    async def connect():
        client = midge.AsyncClient(sys.argv[1])
        try:
            await client.connect()
        except midge.ClosedError as e:
            print("ClosedError:", e, flush=True)
    asyncio.run(connect())


atexit.register(late)
import midge  # noqa: E402
'''


def test_awaiting_in_a_later_atexit_hook_raises_closed(broker: Broker, tmp_path: Path) -> None:
    script = tmp_path / "late.py"
    script.write_text(LATE_SCRIPT)
    result = run(script, broker.url())
    check_exit(result, "late atexit hook")
    assert result.stdout.startswith("ClosedError: the interpreter is shutting down"), result.stdout
